import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../api/admission.ts';
import type { ModelInfer, ModelRoute, ModelServer } from '../../api/kinds/index.ts';
import { computeModelRouteStatus, computeModelServerStatus, pathOwner, readyEndpoints, serviceEndpoint } from './status.ts';

const ms: ModelServer = {
  apiVersion: 'networking.matrixinfer.ai/v1alpha1',
  kind: 'ModelServer',
  metadata: { name: 'llama', namespace: 'ns', generation: 2, uid: 'u' },
  spec: { modelInferRef: { name: 'llama-mi' }, service: { port: 8080, targetPort: 8000 }, routing: { path: '/v1/models/llama' } },
};
const mi: ModelInfer = { apiVersion: 'workload.matrixinfer.ai/v1alpha1', kind: 'ModelInfer', metadata: { name: 'llama-mi', namespace: 'ns' }, spec: { roles: [] } };

function pod(name: string, opts: { ready?: boolean; ip?: string; mi?: string; ns?: string; deleting?: boolean } = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: opts.ns ?? 'ns',
      labels: { 'workload.matrixinfer.ai/modelinfer-name': opts.mi ?? 'llama-mi' },
      ...(opts.deleting ? { deletionTimestamp: '2025-01-01T00:00:00Z' } : {}),
    },
    status: { phase: 'Running', ...(opts.ip === '' ? {} : { podIP: opts.ip ?? '127.0.1.1' }), conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] },
  };
}

test('service endpoint is the in-cluster Service address plus the routing path', () => {
  assert.equal(serviceEndpoint(ms), 'http://llama.ns.svc:8080/v1/models/llama');
});

test('ready endpoints: ready, addressed, live pods of the referenced ModelInfer only', () => {
  const pods = [
    pod('a'),
    pod('b', { ready: false }),
    pod('c', { ip: '' }),
    pod('d', { mi: 'other' }),
    pod('e', { ns: 'elsewhere' }),
    pod('f', { deleting: true }),
    pod('g'),
  ];
  assert.deepEqual(readyEndpoints(ms, pods).map((p) => p.metadata.name), ['a', 'g']);
});

test('ModelServer phases', () => {
  let s = computeModelServerStatus(ms, { modelInfer: undefined, pods: [pod('a')] }, 't');
  assert.equal(s.phase, 'Failed');
  assert.equal(s.readyEndpoints, 0);
  assert.equal(s.conditions?.find((c) => c.type === 'Ready')?.reason, 'ModelInferNotFound');
  s = computeModelServerStatus(ms, { modelInfer: mi, pods: [pod('a', { ready: false })] }, 't');
  assert.equal(s.phase, 'Pending');
  s = computeModelServerStatus(ms, { modelInfer: mi, pods: [pod('a'), pod('b')] }, 't');
  assert.equal(s.phase, 'Ready');
  assert.equal(s.readyEndpoints, 2);
  assert.equal(s.observedGeneration, 2);
  assert.equal(s.serviceEndpoint, 'http://llama.ns.svc:8080/v1/models/llama');
  assert.equal(s.conditions?.find((c) => c.type === 'ServiceSynced')?.status, 'True');
  s = computeModelServerStatus(ms, { modelInfer: mi, pods: [], serviceError: 'boom' }, 't');
  assert.equal(s.conditions?.find((c) => c.type === 'ServiceSynced')?.message, 'boom');
});

test('ModelRoute phases name the missing servers', () => {
  const route: ModelRoute = {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelRoute',
    metadata: { name: 'r', namespace: 'ns', generation: 1 },
    spec: { modelName: 'llama', rules: [{ targetModels: [{ modelServerName: 'a' }, { modelServerName: 'b' }] }, { targetModels: [{ modelServerName: 'a' }] }] },
  };
  const server = (name: string, phase?: 'Failed' | 'Ready'): [string, ModelServer] => [name, { ...ms, metadata: { name }, ...(phase ? { status: { phase } } : {}) }];
  let s = computeModelRouteStatus(route, new Map([server('a')]), 't');
  assert.equal(s.phase, 'Pending');
  assert.equal(s.conditions?.[0]?.reason, 'ModelServerNotFound');
  assert.equal(s.conditions?.[0]?.message, 'ModelServer not found: b');
  s = computeModelRouteStatus(route, new Map([server('a'), server('b', 'Ready')]), 't');
  assert.equal(s.phase, 'Ready');
  assert.equal(s.observedGeneration, 1);
  s = computeModelRouteStatus(route, new Map([server('a', 'Failed'), server('b', 'Failed')]), 't');
  assert.equal(s.phase, 'Failed');
});

test('PathConflict: a ModelServer whose routing.path an older one already sets names that one', () => {
  const at = (name: string, created: string, path = '/v1/models/llama', namespace = 'ns'): ModelServer => ({
    ...ms,
    metadata: { ...ms.metadata, name, namespace, creationTimestamp: created },
    spec: { ...ms.spec, routing: { path } },
  });
  const first = at('first', '2025-01-01T00:00:00Z');
  const second = at('second', '2025-01-02T00:00:00Z', '/v1/models/llama/');
  const elsewhere = at('elsewhere', '2024-12-01T00:00:00Z', '/v1/models/other');
  const all = [second, elsewhere, first];
  assert.equal(pathOwner(first, all), undefined);
  assert.equal(pathOwner(second, all)?.metadata.name, 'first');
  assert.equal(pathOwner(elsewhere, all), undefined);
  const conflict = (s: ModelServer) => computeModelServerStatus(s, { modelInfer: mi, pods: [], pathOwner: pathOwner(s, all) }, 't').conditions?.find((c) => c.type === 'PathConflict');
  assert.deepEqual(
    { status: conflict(second)?.status, reason: conflict(second)?.reason, message: conflict(second)?.message },
    { status: 'True', reason: 'PathInUse', message: 'routing.path /v1/models/llama is already used by the older ModelServer ns/first: the gateway does not route it to this one' },
  );
  assert.equal(conflict(first)?.status, 'False');
  assert.equal(conflict(first)?.message, 'routing.path /v1/models/llama is routed to this ModelServer');
  // The owner deleted: the path passes to the next oldest.
  assert.equal(pathOwner(second, [second, { ...first, metadata: { ...first.metadata, deletionTimestamp: 't' } }]), undefined);
});
