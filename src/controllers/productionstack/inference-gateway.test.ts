// InferenceGateway and InferenceCache status, read back from the InferenceServices that program them (pure).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InferenceCache, InferenceGateway, InferenceService, ModelRoute, PrefillDecodingDisaggregation, SpeculativeDecoding } from '../../api/kinds/index.ts';
import { computeInferenceCacheStatus } from './inference-cache.ts';
import { computeInferenceGatewayStatus } from './inference-gateway.ts';
import { meta } from './fixtures.ts';

const GROUP = 'production-stack.vllm.ai/v1alpha1';
const seedGateway = (name = 'llm-gateway'): InferenceGateway => ({
  apiVersion: GROUP,
  kind: 'InferenceGateway',
  metadata: meta(name),
  spec: {
    schedulingPolicy: 'gpu-load-aware',
    routeStrategy: 'PrefixHash',
    sessionAffinity: true,
    routes: [
      { model: 'llama3-70b', inferenceServiceRef: 'llama3-chatbot-service' },
      { model: 'mistral3', inferenceServiceRef: 'mistral-agent-service' },
    ],
  },
});
const programmedService = (name: string, modelName: string, gateway: string, extra: Partial<NonNullable<InferenceService['status']>> = {}): InferenceService => ({
  apiVersion: GROUP,
  kind: 'InferenceService',
  metadata: meta(name),
  spec: { modelName, backendRef: 'engine' },
  status: { observedGeneration: 1, inferenceGateway: gateway, modelRoute: name, readyBackends: 2, conditions: [{ type: 'Programmed', status: 'True', reason: 'RouteProgrammed' }], ...extra },
});

test("the seed's gateway: accepted with its profile; each route reports whether it carries it", () => {
  const gateway = seedGateway();
  const chatbot = programmedService('llama3-chatbot-service', 'llama3-70b', 'llm-gateway');
  const status = computeInferenceGatewayStatus(gateway, [chatbot], [gateway], '2025-01-01T00:00:00Z');
  assert.equal(status.profile, 'prefix-affinity: session-affinity 10, prefix-cache 3, queue 1, kv-cache 1 (session header x-session-id, cookie session_id)');
  assert.deepEqual(status.routes, [
    { model: 'llama3-70b', inferenceService: 'llama3-chatbot-service', modelRoute: 'llama3-chatbot-service', readyBackends: 2, programmed: true },
    { model: 'mistral3', inferenceService: 'mistral-agent-service', programmed: false, message: 'InferenceService mistral-agent-service not found' },
  ]);
  assert.deepEqual(status.conditions!.map((c) => [c.type, c.status, c.reason]), [
    ['Accepted', 'True', 'Accepted'],
    ['Programmed', 'False', 'PartiallyProgrammed'],
  ]);
  assert.equal(status.conditions![1]!.message, 'mistral3: InferenceService mistral-agent-service not found');

  const mistral = programmedService('mistral-agent-service', 'mistral3', 'llm-gateway');
  const all = computeInferenceGatewayStatus(gateway, [chatbot, mistral], [gateway]);
  assert.equal(all.conditions![1]!.status, 'True');
});

test('a model mismatch, an older gateway holding the service, a route not programmed yet', () => {
  const older = seedGateway('older');
  const gateway = seedGateway('llm-gateway');
  const wrongModel = programmedService('mistral-agent-service', 'mistral-7b', 'x');
  const held = programmedService('llama3-chatbot-service', 'llama3-70b', 'older');
  const routes = computeInferenceGatewayStatus(gateway, [held, wrongModel], [older, gateway]).routes!;
  assert.equal(routes[0]!.message, 'InferenceGateway older (older) lists it too; its profile applies');
  assert.equal(routes[1]!.message, 'InferenceService mistral-agent-service serves mistral-7b, not mistral3');
  const waiting = programmedService('llama3-chatbot-service', 'llama3-70b', 'llm-gateway', { observedGeneration: 0 });
  assert.equal(computeInferenceGatewayStatus(gateway, [waiting], [gateway]).routes![0]!.message, 'waiting for the InferenceService to program its route');
});

test("the seed's cache: its references, the routes carrying its weights, metrics said to be missing", () => {
  const cache: InferenceCache = {
    apiVersion: GROUP,
    kind: 'InferenceCache',
    metadata: meta('llama3-chatbot-cache'),
    spec: { modelName: 'llama3-70b', kvCacheTransferPolicy: { thresholdHitRate: 0.8, evictionThreshold: 0.9 }, pddRef: 'pdd-llama3-chatbot', sdRef: 'sd-llama3-chatbot' },
  };
  const none = computeInferenceCacheStatus(cache, { isvcs: [], routes: [], pdds: [], sds: [] });
  assert.deepEqual(none.conditions!.map((c) => [c.type, c.status, c.reason]), [
    ['ResolvedRefs', 'False', 'RefNotResolved'],
    ['Programmed', 'False', 'NoInferenceService'],
    ['MetricsObserved', 'Unknown', 'NotCollected'],
  ]);
  assert.equal(none.conditions![0]!.message, 'PrefillDecodingDisaggregation pdd-llama3-chatbot not found; SpeculativeDecoding sd-llama3-chatbot not found');

  const pdd: PrefillDecodingDisaggregation = { apiVersion: GROUP, kind: 'PrefillDecodingDisaggregation', metadata: meta('pdd-llama3-chatbot'), spec: { modelName: 'llama3-70b' } };
  const sd: SpeculativeDecoding = { apiVersion: GROUP, kind: 'SpeculativeDecoding', metadata: meta('sd-llama3-chatbot'), spec: { draftModel: 'llama3-1b', targetModel: 'llama3-8b' } };
  const chatbot = programmedService('llama3-chatbot-service', 'llama3-70b', 'llm-gateway', { inferenceCache: 'llama3-chatbot-cache' });
  const route: ModelRoute = {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelRoute',
    metadata: meta('llama3-chatbot-service'),
    spec: { modelName: 'llama3-70b', rules: [], scheduling: { scorers: [{ name: 'prefix-cache', weight: 13 }, { name: 'queue', weight: 10 }, { name: 'kv-cache', weight: 14 }] } },
  };
  const applied = computeInferenceCacheStatus(cache, { isvcs: [chatbot], routes: [route], pdds: [pdd], sds: [sd] });
  assert.equal(applied.conditions![0]!.message, 'SpeculativeDecoding sd-llama3-chatbot is for llama3-8b, not llama3-70b');
  assert.equal(applied.conditions![1]!.message, 'weights on ModelRoute llama3-chatbot-service');
  assert.deepEqual(applied.modelRoutes, ['llama3-chatbot-service']);
  assert.deepEqual(applied.weights, { prefixCache: 13, kvCache: 14, load: 10 });
});
