// Model names, backendRefs and claims resolved over one namespace's objects (pure).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SpeculativeDecoding } from '../../api/kinds/index.ts';
import { claimWorkloads, resolveBackend, workloadsServing } from './resolve.ts';
import { meta, model, route, served, service, world } from './fixtures.ts';

test('a model name leads through its routes to the ModelInfers serving it, and their Models', () => {
  const engine = served(model('llama3-70b-engine'));
  const alias = route('chatbot', 'llama3-70b', 'llama3-70b-engine');
  const w = world(engine, alias);
  assert.deepEqual(workloadsServing('llama3-70b', w), [{ modelInfer: 'llama3-70b-engine', modelServer: 'llama3-70b-engine', model: 'llama3-70b-engine' }]);
  assert.deepEqual(workloadsServing('llama3-70b-engine', w), [{ modelInfer: 'llama3-70b-engine', modelServer: 'llama3-70b-engine', model: 'llama3-70b-engine' }]);
  assert.deepEqual(workloadsServing('mistral3', w), []);
  // A hand-written ModelInfer has no Model.
  const handMi = { ...engine.modelInfer, metadata: meta('hand') };
  const handMs = { ...engine.modelServer, metadata: meta('hand'), spec: { ...engine.modelServer.spec, modelInferRef: { name: 'hand' } } };
  assert.deepEqual(workloadsServing('h', world(handMi, handMs, route('h', 'h', 'hand'))), [{ modelInfer: 'hand', modelServer: 'hand' }]);
});

test('backendRef: a ModelServer, a Service selecting a ModelInfer\'s pods, or not ours', () => {
  const engine = served(model('llama2'));
  const w = world(engine);
  const services = [service('llama2-service-backend', { 'registry.matrixinfer.ai/model-name': 'llama2' }), service('external', { app: 'vllm' }), service('headless')];
  assert.deepEqual(resolveBackend('llama2', w, services), { kind: 'server', server: engine.modelServer });
  const viaService = resolveBackend('llama2-service-backend', w, services);
  assert.equal(viaService.kind === 'server' && viaService.server.metadata.name, 'llama2');
  assert.equal(viaService.kind === 'server' && viaService.via, 'Service llama2-service-backend selects the pods of ModelInfer llama2');
  assert.deepEqual(resolveBackend('external', w, services), {
    kind: 'missing',
    reason: 'UnmanagedBackend',
    message: 'Service external selects no pods MatrixInfer runs; the gateway routes only to ModelServers (for engines MatrixInfer does not run, use a StaticRoute)',
  });
  assert.equal((resolveBackend('headless', w, services) as { reason: string }).reason, 'UnmanagedBackend');
  assert.deepEqual(resolveBackend('nothing', w, services), { kind: 'missing', reason: 'BackendNotFound', message: 'no ModelServer or Service named nothing' });
});

test('claims: the oldest object holds a workload, the others see who does', () => {
  const engine = served(model('llama3-70b'));
  const sd = (name: string): SpeculativeDecoding => ({ apiVersion: 'production-stack.vllm.ai/v1alpha1', kind: 'SpeculativeDecoding', metadata: meta(name), spec: { draftModel: 'llama3-1b', targetModel: 'llama3-70b' } });
  const first = sd('first');
  const second = sd('second');
  const claims = claimWorkloads([second, first], (o) => o.spec.targetModel, world(engine));
  assert.deepEqual(claims.won.get('first')!.map((w) => w.modelInfer), ['llama3-70b']);
  assert.deepEqual(claims.won.get('second'), []);
  assert.deepEqual(claims.lost.get('second')!.map((l) => l.holder), ['first']);
  assert.equal(claims.holders.get('llama3-70b'), first);
  // The one already applied keeps the workload, whatever the ages.
  const applied = { ...engine.modelInfer, metadata: { ...engine.modelInfer.metadata, annotations: { 'registry.matrixinfer.ai/amended-by': 'SpeculativeDecoding/second' } } };
  const kept = claimWorkloads([first, second], (o) => o.spec.targetModel, { ...world(engine), modelInfers: [applied] });
  assert.equal(kept.holders.get('llama3-70b'), second);
  assert.deepEqual(kept.lost.get('first')!.map((l) => l.holder), ['second']);
});
