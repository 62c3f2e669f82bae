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

test('download and lifecycle: Registered until the artifacts are fetched and scanned, then Validated; Deprecated while deprecated', () => {
  const downloading = { phase: 'Downloading' as const, bytesDone: 42, bytesTotal: 100, filesDone: 1, filesTotal: 3 };
  let s = computeModelStatus(model, { childErrors: [], modelInfer: mi({ readyReplicas: 0 }), download: downloading }, 't');
  assert.equal(s.lifecycle, 'Registered');
  assert.deepEqual(s.download, { ...downloading, progress: '42%' });
  const cond = s.conditions?.find((c) => c.type === 'Downloaded');
  assert.equal(cond?.status, 'False');
  assert.equal(cond?.message, '42%, 1/3 files');
  s = computeModelStatus(model, { childErrors: [], modelInfer: mi({ readyReplicas: 1 }), download: { phase: 'Complete', path: '/p' } }, 't');
  assert.equal(s.lifecycle, 'Validated');
  assert.equal(s.conditions?.find((c) => c.type === 'Downloaded')?.status, 'True');
  const deprecated = { ...model, spec: { ...model.spec, deprecated: true, deprecation: { replacement: 'm2', message: 'retired on 2027-01-31' } } };
  s = computeModelStatus(deprecated, { childErrors: [], modelInfer: mi({ readyReplicas: 1 }), download: { phase: 'Complete' } }, 't');
  assert.equal(s.lifecycle, 'Deprecated');
  assert.equal(s.phase, 'Ready', 'a deprecated model still serves');
  assert.equal(s.conditions?.find((c) => c.type === 'Deprecated')?.message, 'retired on 2027-01-31; use m2 instead');
  const undeprecated = computeModelStatus({ ...model, status: s }, { childErrors: [], modelInfer: mi({ readyReplicas: 1 }), download: { phase: 'Complete' } }, 't');
  assert.equal(undeprecated.lifecycle, 'Validated');
  assert.equal(undeprecated.conditions?.find((c) => c.type === 'Deprecated'), undefined, 'the condition goes with the flag');
});

test('a failed scan fails the Model even while an engine serves; a failed fetch only when nothing serves', () => {
  const unsafe = { phase: 'Failed' as const, reason: 'UnsafeArtifact', message: 'pytorch_model.bin: global os.system is not allowed' };
  let s = computeModelStatus(model, { childErrors: [], modelInfer: mi({ readyReplicas: 1 }), download: unsafe }, 't');
  assert.equal(s.phase, 'Failed');
  assert.deepEqual([s.conditions?.find((c) => c.type === 'Ready')?.reason, s.conditions?.find((c) => c.type === 'Downloaded')?.reason], ['UnsafeArtifact', 'UnsafeArtifact']);
  const unreachable = { phase: 'Failed' as const, reason: 'StoreUnreachable', message: 'huggingface.co: getaddrinfo ENOTFOUND' };
  s = computeModelStatus(model, { childErrors: [], modelInfer: mi({ readyReplicas: 1 }), download: unreachable }, 't');
  assert.equal(s.phase, 'Ready', 'the simulated engine needs no weights and serves');
  assert.equal(s.lifecycle, 'Registered');
  assert.equal(s.conditions?.find((c) => c.type === 'Downloaded')?.reason, 'StoreUnreachable');
  s = computeModelStatus(model, { childErrors: [], modelInfer: mi({ readyReplicas: 0 }), download: unreachable }, 't');
  assert.equal(s.phase, 'Failed');
  assert.equal(s.conditions?.find((c) => c.type === 'Ready')?.message, 'huggingface.co: getaddrinfo ENOTFOUND');
});
