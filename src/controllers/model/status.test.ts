import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Model, ModelInfer } from '../../api/kinds/index.ts';
import { computeModelStatus } from './status.ts';

const model: Model = {
  apiVersion: 'registry.matrixinfer.ai/v1alpha1',
  kind: 'Model',
  metadata: { name: 'm', namespace: 'default', generation: 3, uid: 'u' },
  spec: { modelSpec: { modelId: 'x', framework: 'pytorch', version: '1', source: { uri: 'hf://a/b' } }, runtime: { image: 'img' } },
};

function mi(status: ModelInfer['status'], replicas = 1): ModelInfer {
  return { apiVersion: 'workload.matrixinfer.ai/v1alpha1', kind: 'ModelInfer', metadata: { name: 'm' }, spec: { replicas, roles: [] }, status };
}

test('Pending while the ModelInfer is missing or has no ready replica', () => {
  let s = computeModelStatus(model, { childErrors: [], modelInfer: undefined }, 't0');
  assert.equal(s.phase, 'Pending');
  assert.equal(s.observedGeneration, 3);
  assert.equal(s.replicas, 0);
  assert.equal(s.conditions?.find((c) => c.type === 'ChildrenSynced')?.status, 'True');
  assert.equal(s.conditions?.find((c) => c.type === 'Ready')?.reason, 'ModelInferMissing');
  s = computeModelStatus(model, { childErrors: [], modelInfer: mi({ replicas: 1, readyReplicas: 0 }) }, 't0');
  assert.equal(s.phase, 'Pending');
  assert.equal(s.conditions?.find((c) => c.type === 'Ready')?.reason, 'ReplicasNotReady');
});

test('Ready with at least one ready replica; conditions carry observedGeneration', () => {
  const s = computeModelStatus(model, { childErrors: [], modelInfer: mi({ replicas: 2, readyReplicas: 1 }, 2) }, 't1');
  assert.equal(s.phase, 'Ready');
  assert.equal(s.replicas, 2);
  assert.equal(s.readyReplicas, 1);
  const ready = s.conditions?.find((c) => c.type === 'Ready');
  assert.deepEqual(ready, { type: 'Ready', status: 'True', reason: 'ModelReady', message: '1/2 replicas ready', lastTransitionTime: 't1', observedGeneration: 3 });
});

test('Failed on a permanent child error, even with ready replicas', () => {
  const s = computeModelStatus(model, { childErrors: [{ kind: 'ModelRoute', message: '422: invalid', permanent: true }], modelInfer: mi({ readyReplicas: 1 }) }, 't');
  assert.equal(s.phase, 'Failed');
  const synced = s.conditions?.find((c) => c.type === 'ChildrenSynced');
  assert.equal(synced?.status, 'False');
  assert.equal(synced?.reason, 'SyncFailed');
  assert.match(synced?.message ?? '', /ModelRoute: 422: invalid/);
});

test('transient child errors keep the phase but mark ChildrenSynced False', () => {
  const s = computeModelStatus(model, { childErrors: [{ kind: 'ModelServer', message: '500', permanent: false }], modelInfer: mi({ readyReplicas: 1 }) }, 't');
  assert.equal(s.phase, 'Ready');
  assert.equal(s.conditions?.find((c) => c.type === 'ChildrenSynced')?.reason, 'SyncRetrying');
});

test('Failed when the workload fails with no ready replica', () => {
  const failing = mi({ readyReplicas: 0, conditions: [{ type: 'ReplicaFailure', status: 'True', reason: 'PodFailing', message: 'm-0-server-0: engine: CrashLoopBackOff' }] });
  const s = computeModelStatus(model, { childErrors: [], modelInfer: failing }, 't');
  assert.equal(s.phase, 'Failed');
  assert.equal(s.conditions?.find((c) => c.type === 'Ready')?.reason, 'WorkloadFailed');
});

test('lastTransitionTime is kept while Ready stays False', () => {
  const first = computeModelStatus(model, { childErrors: [], modelInfer: undefined }, 't0');
  const second = computeModelStatus({ ...model, status: first }, { childErrors: [], modelInfer: mi({ readyReplicas: 0 }) }, 't5');
  assert.equal(second.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime, 't0');
  const third = computeModelStatus({ ...model, status: second }, { childErrors: [], modelInfer: mi({ readyReplicas: 1 }) }, 't9');
  assert.equal(third.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime, 't9');
});
