// InferenceService → ModelRoute and status (pure): backends, gateway profile, cache weights, semantic cache, shadowing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InferenceCache, InferenceGateway, InferenceService, ModelRoute } from '../../api/kinds/index.ts';
import { computeInferenceServiceStatus, planInferenceService, semanticStore } from './inference-service.ts';
import { meta, model, route, served, service, world } from './fixtures.ts';

const GROUP = 'production-stack.vllm.ai/v1alpha1';
const isvc = (name: string, spec: InferenceService['spec']): InferenceService => ({ apiVersion: GROUP, kind: 'InferenceService', metadata: meta(name), spec });
const gateway = (name: string, spec: InferenceGateway['spec']): InferenceGateway => ({ apiVersion: GROUP, kind: 'InferenceGateway', metadata: meta(name), spec });
const cache = (name: string, spec: InferenceCache['spec']): InferenceCache => ({ apiVersion: GROUP, kind: 'InferenceCache', metadata: meta(name), spec });

const engine = served(model('llama3-engine'));
engine.modelServer.status = { readyEndpoints: 2, serviceEndpoint: 'http://llama3-engine.default:8080' };

test('a ModelServer backend: one owned route for modelName, with the gateway profile and the cache weights', () => {
  const chatbot = isvc('llama3-chatbot-service', { modelName: 'llama3-70b', backendRef: 'llama3-engine' });
  const gw = gateway('llm-gateway', { schedulingPolicy: 'gpu-load-aware', routeStrategy: 'PrefixHash', sessionAffinity: true, routes: [{ model: 'llama3-70b', inferenceServiceRef: 'llama3-chatbot-service' }] });
  const kv = cache('llama3-chatbot-cache', { modelName: 'llama3-70b', kvCacheTransferPolicy: { thresholdHitRate: 0.8, evictionThreshold: 0.9 } });
  const plan = planInferenceService(chatbot, { world: world(engine), services: [], gateways: [gw], caches: [kv] });
  assert.deepEqual(plan.problems, []);
  assert.equal(plan.gateway, gw);
  assert.equal(plan.cache, kv);
  assert.deepEqual(plan.route!.metadata, {
    name: 'llama3-chatbot-service',
    namespace: 'default',
    labels: { 'registry.matrixinfer.ai/managed-by': 'production-stack.vllm.ai', 'production-stack.vllm.ai/inference-service': 'llama3-chatbot-service' },
  });
  assert.equal(plan.route!.spec.modelName, 'llama3-70b');
  assert.deepEqual(plan.route!.spec.rules, [{ name: 'default', targetModels: [{ modelServerName: 'llama3-engine', weight: 100 }] }]);
  assert.deepEqual(plan.route!.spec.scheduling!.scorers!.map((s) => `${s.name}:${s.weight}`), ['prefix-cache:13', 'session-affinity:100', 'queue:10', 'kv-cache:14']);

  const written: ModelRoute = { ...plan.route!, metadata: { ...plan.route!.metadata, ...meta('llama3-chatbot-service') } };
  const status = computeInferenceServiceStatus(chatbot, plan, { route: written, routes: [engine.modelRoute, written] }, '2025-01-01T00:00:00Z');
  assert.deepEqual(
    status.conditions!.map((c) => [c.type, c.status, c.reason]),
    [
      ['ResolvedRefs', 'True', 'Resolved'],
      ['Programmed', 'True', 'RouteProgrammed'],
      ['Ready', 'True', 'Serving'],
    ],
  );
  assert.match(status.conditions![1]!.message!, /InferenceCache llama3-chatbot-cache: prefix affinity from a 77 % prefix match, load spread from 93 % KV usage/);
  assert.equal(status.readyBackends, 2);
  assert.equal(status.modelRoute, 'llama3-chatbot-service');
  assert.equal(status.inferenceGateway, 'llm-gateway');
  assert.equal(status.inferenceCache, 'llama3-chatbot-cache');
  assert.equal(status.endpoint, 'http://llama3-engine.default:8080');
  assert.equal(status.observedGeneration, 1);
});

test("the seed's basic-inference: a Service backend, a missing cache and store are conditions, not errors", () => {
  const basic = isvc('basic-inference', {
    modelName: 'meta-llama/Llama-2-70b-chat-hf',
    backendRef: 'llama2-service-backend',
    inferenceCacheRef: 'llama2-cache',
    nlpFilters: { semanticCache: { storeRef: 'redis-nlp-cache', threshold: 0.85, ttlSeconds: 3600 } },
  });
  const backend = service('llama2-service-backend', { 'registry.matrixinfer.ai/model-name': 'llama3-engine' });
  const plan = planInferenceService(basic, { world: world(engine), services: [backend], gateways: [], caches: [] });
  assert.equal(plan.server, engine.modelServer);
  assert.equal(plan.route!.spec.cache, undefined);
  assert.deepEqual(plan.problems.map((p) => p.reason), ['InferenceCacheNotFound', 'StoreNotFound']);
  const status = computeInferenceServiceStatus(basic, plan, { route: plan.route!, routes: [] });
  assert.equal(status.conditions![0]!.reason, 'InferenceCacheNotFound');
  assert.match(status.conditions![0]!.message!, /InferenceCache llama2-cache not found.*; Service redis-nlp-cache .* not found: the semantic cache is off/);
  assert.equal(status.conditions![1]!.status, 'True');

  const redis = { ...service('redis-nlp-cache'), spec: { ports: [{ name: 'redis', port: 6380 }] } };
  const withStore = planInferenceService(basic, { world: world(engine), services: [backend, redis], gateways: [], caches: [cache('llama2-cache', { modelName: 'meta-llama/Llama-2-70b-chat-hf' })] });
  assert.deepEqual(withStore.problems, []);
  assert.deepEqual(withStore.route!.spec.cache, { semantic: { enabled: true, threshold: 0.85, ttl: '3600s' }, store: { type: 'redis', redis: { address: 'redis-nlp-cache.default.svc:6380' } } });
});

test('no backend: no route, and why', () => {
  const lost = isvc('lost', { modelName: 'm', backendRef: 'nowhere' });
  const plan = planInferenceService(lost, { world: world(engine), services: [], gateways: [], caches: [] });
  assert.equal(plan.route, undefined);
  const status = computeInferenceServiceStatus(lost, plan, { routes: [] });
  assert.deepEqual(status.conditions!.map((c) => [c.type, c.status, c.reason]), [
    ['ResolvedRefs', 'False', 'BackendNotFound'],
    ['Programmed', 'False', 'NoBackend'],
    ['Ready', 'False', 'NotProgrammed'],
  ]);
  assert.equal(status.modelRoute, undefined);
});

test('an older route for the same model name shadows ours; a cache for another model is not applied', () => {
  const same = isvc('same-name', { modelName: 'llama3-engine', backendRef: 'llama3-engine', inferenceCacheRef: 'other' });
  const plan = planInferenceService(same, { world: world(engine), services: [], gateways: [], caches: [cache('other', { modelName: 'x' })] });
  assert.equal(plan.problems[0]!.reason, 'InferenceCacheModelMismatch');
  const written = route('same-name', 'llama3-engine', 'llama3-engine');
  const status = computeInferenceServiceStatus(same, plan, { route: written, routes: [engine.modelRoute, written] });
  const ready = status.conditions!.find((c) => c.type === 'Ready')!;
  assert.equal(ready.reason, 'Shadowed');
  assert.match(ready.message!, /ModelRoute llama3-engine is older/);
});

test('semantic store: memory, a Redis Service, an ExternalName', () => {
  assert.deepEqual(semanticStore('memory', 'ns', []), { store: { type: 'memory' } });
  assert.deepEqual(semanticStore('r', 'ns', [{ ...service('r'), spec: { ports: [{ port: 7000 }, { port: 6379 }] } }]), { store: { type: 'redis', redis: { address: 'r.ns.svc:6379' } } });
  assert.deepEqual(semanticStore('r', 'ns', [{ ...service('r'), spec: { type: 'ExternalName', externalName: 'redis.example.com' } }]), {
    store: { type: 'redis', redis: { address: 'redis.example.com:6379' } },
  });
});
