import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, formatRecord, lineLogger } from './log.ts';

test('one JSON line per record with the same fields everywhere: time, level, component, msg, then the fields', () => {
  const line = formatRecord('warn', 'controller-manager/autoscaler', 'scale failed', { binding: 'default/b', error: new Error('conflict'), skip: undefined, msg: 'not overwritten' }, new Date('2026-12-02T14:00:00Z'));
  assert.equal(line, '{"time":"2026-12-02T14:00:00.000Z","level":"warn","component":"controller-manager/autoscaler","msg":"scale failed","binding":"default/b","error":"conflict"}');
});

test('createLogger: the level filters, children extend the component, base fields ride along', (t) => {
  const lines: string[] = [];
  t.mock.method(process.stderr, 'write', (chunk: string) => {
    lines.push(chunk);
    return true;
  });
  const log = createLogger('agent', 'info', { node: 'n1' });
  log.debug('hidden');
  log.info('pod started', { pod: 'default/p' });
  log.child('kube').error('watch failed');
  const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    records.map(({ time, ...r }) => (assert.match(String(time), /^\d{4}-\d\d-\d\dT/), r)),
    [
      { level: 'info', component: 'agent', msg: 'pod started', node: 'n1', pod: 'default/p' },
      { level: 'error', component: 'agent/kube', msg: 'watch failed', node: 'n1' },
    ],
  );
});

test('lineLogger: one line per record for a narrower sink, fields after the message, children extend the component', () => {
  const lines: string[] = [];
  const log = lineLogger('gateway', (level, line) => lines.push(`${level} ${line}`));
  log.child('pods').debug('list/watch failed, restarting', { error: new Error('ECONNREFUSED'), retryInMs: 50, skip: undefined });
  log.warn('plain');
  assert.deepEqual(lines, ['debug gateway/pods: list/watch failed, restarting (error=ECONNREFUSED, retryInMs=50)', 'warn gateway: plain']);
});
