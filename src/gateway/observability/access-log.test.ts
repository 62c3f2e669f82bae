// Access-log batching: lines of one event-loop turn go out in one write, in order, on the next turn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { AccessLog, type AccessLogRecord } from './access-log.ts';

function record(i: number): AccessLogRecord {
  return {
    time: new Date(0).toISOString(), level: 'info', component: 'gateway/access', msg: 'request', request_id: `r${i}`, trace_id: 't', user: null, method: 'POST', path: '/v1/completions',
    model: 'm', route: null, server: null, pod: null, status: 200, duration_ms: 1, ttfb_ms: null, upstream_status: 200,
    attempts: 1, wait_ms: null, prompt_tokens: null, completion_tokens: null, error: null,
  };
}

function sink(): { stream: Writable; writes: string[] } {
  const writes: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      writes.push(chunk.toString());
      cb();
    },
  });
  return { stream, writes };
}

test('batched access log: one write per event-loop turn, lines in order', async () => {
  const { stream, writes } = sink();
  const log = new AccessLog(stream, true);
  for (let i = 0; i < 3; i++) log.write(record(i));
  assert.equal(writes.length, 0);
  await new Promise((r) => setImmediate(r));
  assert.equal(writes.length, 1);
  assert.deepEqual(writes[0]!.trimEnd().split('\n').map((l) => (JSON.parse(l) as AccessLogRecord).request_id), ['r0', 'r1', 'r2']);
  log.write(record(3));
  log.flush();
  assert.equal(writes.length, 2);
});

test('a caller-supplied stream gets each line at once', () => {
  const { stream, writes } = sink();
  const log = new AccessLog(stream);
  log.write(record(0));
  log.write(record(1));
  assert.equal(writes.length, 2);
});
