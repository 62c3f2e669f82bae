// Admission checks of the scheduling sections (src/webhooks/plugins.ts) that the CRD schema cannot express.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatFieldError, type FieldError, type KubeObject } from '../../api/admission.ts';
import { admissionPlugins } from '../../webhooks/plugins.ts';

function validate(kind: string, spec: Record<string, unknown>): string[] {
  const plugin = admissionPlugins.find((p) => p.kind === kind)!;
  const object: KubeObject = { apiVersion: `${plugin.group}/v1alpha1`, kind, metadata: { name: 'x', namespace: 'default' }, spec };
  const errors: FieldError[] = plugin.validate!({ operation: 'CREATE', group: plugin.group, version: 'v1alpha1', kind, resource: kind.toLowerCase() + 's', name: 'x', object });
  return errors.map(formatFieldError);
}

const server = { modelInferRef: { name: 'mi' }, service: { port: 8080 } };
const route = { modelName: 'm', rules: [{ targetModels: [{ modelServerName: 's' }] }] };

test('scheduling: valid sections pass; duplicate scorers, bad header names and equal P/D roles are rejected', () => {
  const good = {
    policy: 'default',
    scorers: [{ name: 'prefix-cache', weight: 3 }, { name: 'queue' }],
    prefixCache: { blockChars: 64, maxBlocks: 64, loadGuard: { absolute: 8, relative: 0.25 } },
    sessionAffinity: { header: 'x-session-id', cookie: 'session_id' },
  };
  assert.deepEqual(validate('ModelServer', { ...server, scheduling: good, pdDisaggregation: {} }), []);
  assert.deepEqual(validate('ModelRoute', { ...route, scheduling: { policy: 'round-robin' } }), []);
  const bad = validate('ModelServer', {
    ...server,
    scheduling: { scorers: [{ name: 'queue' }, { name: 'queue', weight: 2 }], sessionAffinity: { header: 'x session', cookie: 'a b' } },
    pdDisaggregation: { prefillRole: 'both', decodeRole: 'both' },
  });
  assert.equal(bad.length, 4, bad.join('\n'));
  assert.match(bad[0]!, /spec\.scheduling\.scorers\[1\]\.name/);
  assert.match(bad[1]!, /sessionAffinity\.header/);
  assert.match(bad[2]!, /sessionAffinity\.cookie/);
  assert.match(bad[3]!, /pdDisaggregation\.decodeRole/);
  assert.equal(validate('ModelRoute', { ...route, scheduling: { scorers: [{ name: 'kv-cache' }, { name: 'kv-cache' }] } }).length, 1);
});
