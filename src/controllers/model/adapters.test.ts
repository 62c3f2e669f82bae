import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../api/admission.ts';
import type { AdapterModel, Model } from '../../api/kinds/index.ts';
import { MODEL_NAME_LABEL, WARM_LABEL } from '../../api/labels.ts';
import { LORA_ADAPTERS_ANNOTATION, LORA_BASE_LABEL, LORA_RESTARTS_ANNOTATION } from '../../api/lora-adapters.ts';
import { adapterArtifacts, adaptersOf, computeAdapterStatus, countBasePods, desiredAdapterRoute } from './adapters.ts';

function adapter(name = 'sql', uri = 'hf://org/sql-lora', base = 'llama'): AdapterModel {
  return {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'Model',
    metadata: { name, namespace: 'ns', generation: 2, uid: `u-${name}` },
    spec: { modelSpec: { modelId: name, framework: 'pytorch', version: '1', source: { uri }, baseModelRef: { name: base } } },
  };
}

function base(phase?: 'Pending' | 'Ready' | 'Failed', name = 'llama'): Model {
  return {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'Model',
    metadata: { name, namespace: 'ns', uid: 'u-base' },
    spec: { modelSpec: { modelId: name, framework: 'pytorch', version: '1', source: { uri: 'hf://org/llama' } }, runtime: { image: 'img' } },
    ...(phase ? { status: { phase } } : {}),
  };
}

function pod(name: string, options: { model?: string; ready?: boolean; adapters?: string; recordedAt?: number; restarts?: number; warm?: boolean } = {}): KubeObject {
  const { model = 'llama', ready = true, adapters, recordedAt = 0, restarts = 0, warm = false } = options;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'ns',
      labels: { [MODEL_NAME_LABEL]: model, ...(warm ? { [WARM_LABEL]: 'true' } : {}) },
      ...(adapters !== undefined ? { annotations: { [LORA_ADAPTERS_ANNOTATION]: adapters, [LORA_RESTARTS_ANNOTATION]: String(recordedAt) } } : {}),
    },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
      containerStatuses: [{ name: 'engine', restartCount: restarts }],
    },
  };
}

const cond = (s: ReturnType<typeof computeAdapterStatus>, type: string) => s.conditions?.find((c) => c.type === type);
const none = { ready: 0, loaded: 0 };

test('lora_path: a Hub repo id as is, a pvc or node path where the engine sees it; object stores refused with a reason', () => {
  assert.deepEqual(adapterArtifacts(adapter('a', 'huggingface://org/sql-lora')), { ok: true, path: 'org/sql-lora' });
  assert.deepEqual(adapterArtifacts(adapter('a', 'pvc://loras/sql')), { ok: true, path: '/mnt/models/loras/sql' });
  assert.deepEqual(adapterArtifacts(adapter('a', '/data/loras/sql')), { ok: true, path: '/data/loras/sql' });
  for (const uri of ['s3://bucket/sql', 'gs://bucket/sql', 'az://loras/sql', 'https://example.com/sql.safetensors']) {
    const a = adapterArtifacts(adapter('a', uri));
    assert.equal(a.ok, false, uri);
    assert.equal(!a.ok && a.reason, 'UnsupportedAdapterSource', uri);
    assert.match(!a.ok ? a.message : '', /^spec\.modelSpec\.source\.uri: .* not fetched for LoRA adapters/);
  }
  const bad = adapterArtifacts(adapter('a', 'ftp://x/y'));
  assert.equal(!bad.ok && bad.reason, 'InvalidSource');
});

test('the adapter\'s ModelRoute lists it as a LoRA name on the base\'s ModelServer, labelled with the base', () => {
  const route = desiredAdapterRoute(adapter());
  assert.equal(route.metadata.name, 'sql');
  assert.equal(route.metadata.namespace, 'ns');
  assert.equal(route.metadata.labels?.[LORA_BASE_LABEL], 'llama');
  assert.equal(route.metadata.labels?.[MODEL_NAME_LABEL], 'sql');
  assert.equal(route.spec.modelName, undefined, 'a modelName would have the gateway rewrite the request to the base');
  assert.deepEqual(route.spec.loraAdapters, ['sql']);
  assert.deepEqual(route.spec.rules, [{ name: 'default', targetModels: [{ modelServerName: 'llama', weight: 100 }] }]);
});

test('no base: Pending, DependenciesReady False BaseModelNotFound naming the missing Model', () => {
  const s = computeAdapterStatus(adapter(), { base: undefined, pods: none, childErrors: [] }, 't');
  assert.equal(s.phase, 'Pending');
  assert.equal(s.lifecycle, 'Registered');
  const deps = cond(s, 'DependenciesReady');
  assert.equal(deps?.status, 'False');
  assert.equal(deps?.reason, 'BaseModelNotFound');
  assert.match(deps?.message ?? '', /"llama" not found in namespace ns/);
  assert.equal(cond(s, 'Ready')?.reason, 'DependenciesNotReady');
  assert.equal(deps?.observedGeneration, 2);
  // A base being deleted counts as gone.
  const deleting = { ...base('Ready'), metadata: { ...base().metadata, deletionTimestamp: 't' } };
  assert.equal(cond(computeAdapterStatus(adapter(), { base: deleting, pods: none, childErrors: [] }, 't'), 'DependenciesReady')?.reason, 'BaseModelNotFound');
});

test('base not Ready: Pending with BaseModelNotReady and its phase', () => {
  const s = computeAdapterStatus(adapter(), { base: base('Pending'), pods: none, childErrors: [] }, 't');
  assert.equal(s.phase, 'Pending');
  assert.equal(cond(s, 'DependenciesReady')?.reason, 'BaseModelNotReady');
  assert.match(cond(s, 'DependenciesReady')?.message ?? '', /is Pending/);
});

test('an adapter of an adapter is refused: Failed, BaseIsAdapter', () => {
  const s = computeAdapterStatus(adapter('b', 'hf://o/b', 'sql'), { base: adapter(), pods: none, childErrors: [] }, 't');
  assert.equal(s.phase, 'Failed');
  assert.equal(cond(s, 'DependenciesReady')?.reason, 'BaseIsAdapter');
  assert.equal(cond(s, 'Ready')?.reason, 'BaseIsAdapter');
  assert.match(cond(s, 'Ready')?.message ?? '', /itself a LoRA adapter \(of "llama"\)/);
});

test('base Ready: DependenciesReady True; Ready once loaded on a pod, readyReplicas counts those pods', () => {
  let s = computeAdapterStatus(adapter(), { base: base('Ready'), pods: { ready: 2, loaded: 0 }, childErrors: [] }, 't');
  assert.equal(s.phase, 'Pending');
  assert.equal(s.lifecycle, 'Validated');
  assert.equal(cond(s, 'DependenciesReady')?.status, 'True');
  assert.equal(cond(s, 'Ready')?.reason, 'AdapterNotLoaded');
  assert.deepEqual([s.replicas, s.readyReplicas], [2, 0]);
  s = computeAdapterStatus(adapter(), { base: base('Ready'), pods: { ready: 2, loaded: 1 }, childErrors: [] }, 't');
  assert.equal(s.phase, 'Ready');
  assert.equal(cond(s, 'Ready')?.status, 'True');
  assert.equal(cond(s, 'Ready')?.message, 'loaded on 1/2 ready engine pods of llama');
  assert.deepEqual([s.replicas, s.readyReplicas], [2, 1]);
});

test('an object-store adapter fails with UnsupportedAdapterSource even with its base Ready; deprecated shows in lifecycle', () => {
  const a = adapter('s', 's3://bucket/lora');
  a.spec.deprecated = true;
  const s = computeAdapterStatus(a, { base: base('Ready'), pods: { ready: 1, loaded: 0 }, childErrors: [] }, 't');
  assert.equal(s.phase, 'Failed');
  assert.equal(cond(s, 'Ready')?.reason, 'UnsupportedAdapterSource');
  assert.equal(s.lifecycle, 'Deprecated');
});

test('a permanent ModelRoute error fails the adapter; a transient one only marks ChildrenSynced', () => {
  let s = computeAdapterStatus(adapter(), { base: base('Ready'), pods: { ready: 1, loaded: 1 }, childErrors: [{ kind: 'ModelRoute', message: 'owned by someone else', permanent: true }] }, 't');
  assert.equal(s.phase, 'Failed');
  assert.equal(cond(s, 'ChildrenSynced')?.reason, 'SyncFailed');
  s = computeAdapterStatus(adapter(), { base: base('Ready'), pods: { ready: 1, loaded: 1 }, childErrors: [{ kind: 'ModelRoute', message: '500', permanent: false }] }, 't');
  assert.equal(s.phase, 'Ready');
  assert.equal(cond(s, 'ChildrenSynced')?.reason, 'SyncRetrying');
});

test('base pods: ready ones of the base count; loaded ones need a record newer than the last restart', () => {
  const pods = [
    pod('p0', { adapters: 'chat,sql' }),
    pod('p1', { adapters: 'sql', recordedAt: 0, restarts: 1 }), // restarted since: stale
    pod('p2', { adapters: 'chat' }),
    pod('p3', { adapters: 'sql', ready: false }),
    pod('p4', { adapters: 'sql', warm: true }),
    pod('p5', { adapters: 'sql', model: 'other' }),
    pod('p6'),
  ];
  assert.deepEqual(countBasePods(pods, 'llama', 'sql'), { ready: 4, loaded: 1 });
  assert.deepEqual(countBasePods(pods, 'llama', 'chat'), { ready: 4, loaded: 2 });
});

test('adaptersOf: the base\'s existing, not-deleting adapters', () => {
  const gone = adapter('gone');
  gone.metadata.deletionTimestamp = 't';
  const models = [base('Ready'), adapter('sql'), adapter('chat'), adapter('x', 'hf://o/x', 'other'), gone];
  assert.deepEqual(adaptersOf(models, 'llama').map((m) => m.metadata.name), ['sql', 'chat']);
});

test('a deprecated adapter: its route carries spec.deprecation, its status the Deprecated condition (gone once undeprecated)', () => {
  const a = adapter();
  a.metadata.creationTimestamp = '2026-01-01T00:00:00Z';
  a.spec.deprecated = true;
  a.spec.deprecation = { replacement: 'sql-v2', message: 'retired in March' };
  assert.deepEqual(desiredAdapterRoute(a).spec.deprecation, { since: '2026-01-01T00:00:00Z', successor: 'sql-v2', message: 'retired in March' });
  const s = computeAdapterStatus(a, { base: base('Ready'), pods: { ready: 1, loaded: 1 }, childErrors: [] }, 't');
  assert.equal(s.phase, 'Ready', 'a deprecated adapter still serves');
  assert.equal(s.lifecycle, 'Deprecated');
  assert.equal(cond(s, 'Deprecated')?.message, 'retired in March; use sql-v2 instead');
  // The route's `since` is when the condition turned true.
  a.status = s;
  assert.equal(desiredAdapterRoute(a).spec.deprecation?.since, 't');
  a.spec.deprecated = false;
  assert.equal(desiredAdapterRoute(a).spec.deprecation, undefined);
  assert.equal(cond(computeAdapterStatus(a, { base: base('Ready'), pods: { ready: 1, loaded: 1 }, childErrors: [] }, 't2'), 'Deprecated'), undefined);
});
