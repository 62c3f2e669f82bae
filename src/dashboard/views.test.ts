import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AutoscalingPolicyBinding, Model, ModelInfer } from '../api/kinds/index.ts';
import type { KubeObject } from '../api/admission.ts';
import { MODEL_NAME_LABEL, MODELINFER_NAME_LABEL, ROLE_LABEL } from '../api/labels.ts';
import { bindingOf, mergeDecisions, modelOfPods, modelSummaries, podSummaries, type Objects } from './views.ts';

const model = (name: string, status: Model['status'] = {}): Model =>
  ({ metadata: { name, namespace: 'ns', creationTimestamp: '2026-01-01T00:00:00Z' }, spec: { modelSpec: { modelId: name, framework: 'pytorch', version: '2.0', source: { uri: 'hf://a/b' } } }, status }) as Model;
const infer = (name: string, modelName: string, replicas: number): ModelInfer => ({ metadata: { name, namespace: 'ns', labels: { [MODEL_NAME_LABEL]: modelName } }, spec: { replicas } }) as unknown as ModelInfer;
const pod = (name: string, mi: string, ready: boolean, restarts = 0): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'ns', labels: { [MODELINFER_NAME_LABEL]: mi, [ROLE_LABEL]: 'server' } },
  spec: { nodeName: 'node-a' },
  status: { phase: 'Running', podIP: '10.0.0.1', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }], containerStatuses: [{ restartCount: restarts }] },
});
const binding = (name: string, target: string, history: { time: string; from: number; to: number; reason: string }[] = []): AutoscalingPolicyBinding =>
  ({ metadata: { name, namespace: 'ns' }, spec: { policyRef: { name: 'p' }, targetRef: { kind: 'ModelInfer', name: target }, maxReplicas: 3 }, status: { mode: 'Stable', history } }) as AutoscalingPolicyBinding;

const objects: Objects = {
  models: [model('llama', { phase: 'Ready', lifecycle: 'Validated', readyReplicas: 1, currentRevision: 2, download: { phase: 'Downloading', progress: '42%' } }), model('alpha')],
  modelInfers: [infer('llama', 'llama', 2), infer('alpha', 'alpha', 1)],
  pods: [pod('llama-0', 'llama', true, 2), pod('llama-1', 'llama', false), pod('alpha-0', 'alpha', true), pod('stray', 'nobody', true)],
  bindings: [binding('llama-scaler', 'llama')],
};

test('models: phase, lifecycle, version, ready/desired, download and autoscaler, sorted, with their live figures', () => {
  const rows = modelSummaries(objects, (key): Record<string, number> => (key === 'ns/llama' ? { rps: 3 } : {}));
  assert.deepEqual(
    rows.map((r) => r.name),
    ['alpha', 'llama'],
  );
  const llama = rows[1]!;
  assert.equal(llama.phase, 'Ready');
  assert.equal(llama.lifecycle, 'Validated');
  assert.equal(llama.version, '2.0');
  assert.equal(llama.revision, 2);
  assert.equal(llama.ready, 1);
  assert.equal(llama.desired, 2);
  assert.equal(llama.download, '42%');
  assert.equal(llama.downloadError, undefined);
  assert.deepEqual(llama.autoscaler, { binding: 'llama-scaler', mode: 'Stable' });
  assert.deepEqual(llama.live, { rps: 3 });
  assert.equal(rows[0]!.phase, 'Pending', 'no status yet');
  const failed = modelSummaries({ ...objects, models: [model('x', { download: { phase: 'Failed', progress: 'Failed', reason: 'NotFound', message: 'no such repo' } })] }, () => ({}));
  assert.equal(failed[0]!.downloadError, 'NotFound: no such repo');
  assert.equal(rows[0]!.autoscaler, undefined);
});

test("pods: the model's own, through their ModelInfer, with state and the latest per-pod figures", () => {
  assert.equal(modelOfPods(objects).get('ns/stray'), undefined);
  const pods = podSummaries(objects, 'ns/llama', { 'kv:llama-0': 0.5, 'pod_rps:llama-0': 4, 'kv:alpha-0': 0.9 });
  assert.deepEqual(
    pods.map((p) => [p.name, p.ready, p.restarts, p.role, p.node]),
    [
      ['llama-0', true, 2, 'server', 'node-a'],
      ['llama-1', false, 0, 'server', 'node-a'],
    ],
  );
  assert.deepEqual(pods[0]!.live, { kv: 0.5, rps: 4 });
  assert.deepEqual(pods[1]!.live, {});
  assert.equal(bindingOf(objects, 'ns/llama')?.metadata.name, 'llama-scaler');
  assert.equal(bindingOf(objects, 'ns/alpha'), undefined);
});

test("decisions: each kept once across status updates (the status holds 10), oldest first, the hour's only", () => {
  const d = (minute: number, from: number, to: number) => ({ time: `2026-01-01T00:${String(minute).padStart(2, '0')}:00Z`, from, to, reason: `r${minute}` });
  const at = (minute: number) => Date.parse(d(minute, 0, 0).time);
  let known = mergeDecisions([], [d(1, 1, 2), d(2, 2, 3)], 0);
  known = mergeDecisions(known, [d(2, 2, 3), d(3, 3, 1)], 0);
  assert.deepEqual(
    known.map((k) => [k.from, k.to, k.at]),
    [
      [1, 2, at(1)],
      [2, 3, at(2)],
      [3, 1, at(3)],
    ],
  );
  assert.deepEqual(
    mergeDecisions(known, [{ time: 'not a time', from: 1, to: 2, reason: 'x' }], at(2)).map((k) => k.reason),
    ['r2', 'r3'],
  );
});
