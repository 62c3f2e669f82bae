// The production-stack.vllm.ai kinds (seed 004, issue 12) against the embedded API server (or a real kube-apiserver:
// MATRIXINFER_TEST_APISERVER=real, as test/cluster/production-stack.test.ts runs it) with the controller manager.
// Every seed example is applied unchanged, next to the objects it names (Models, Services), and the test checks what
// each kind did: the objects written, the engine arguments, the pods' roles, the routing profile, the status.
// No node agent runs here: the test writes pod status itself, as the agent would.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { KubeObject } from '../../src/api/admission.ts';
import type { InferenceGateway, InferenceService, Model, ModelRoute } from '../../src/api/kinds/index.ts';
import { readManifests } from '../../src/cli/manifests.ts';
import { KubeClient, type ResourceType } from '../../src/kube/client.ts';
import { createLogger } from '../../src/kube/log.ts';
import { startControllerManager, type ControllerManager } from '../../src/controllers/manager.ts';
import { INFERENCE_CACHES, INFERENCE_GATEWAYS, INFERENCE_SERVICES, MODELS, MODEL_ROUTES, PODS, SERVICES } from '../../src/controllers/resources.ts';
import { ALL_KINDS } from '../../src/api/kinds/index.ts';
import { resourceOf } from '../../src/kube/client.ts';
import { admissionPlugins } from '../../src/webhooks/plugins.ts';
import { until } from '../../src/kube/testing/until.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';

const NS = 'default';
const SEEDS = fileURLToPath(new URL('../../examples/seeds/', import.meta.url));

let cluster: TestCluster;
let client: KubeClient;
let manager: ControllerManager;

const get = <T extends KubeObject = KubeObject>(rt: ResourceType, name: string) => client.get<T>(rt, NS, name);
const condition = (object: KubeObject | undefined, type: string) => ((object?.status as { conditions?: { type: string; status: string; reason?: string; message?: string }[] } | undefined)?.conditions ?? []).find((c) => c.type === type);

/** Create every object of a seed file, unchanged. */
async function applySeed(file: string): Promise<KubeObject[]> {
  const created: KubeObject[] = [];
  for (const { object } of readManifests([SEEDS + file])) {
    const kind = ALL_KINDS.find((k) => `${k.group}/${k.version}` === object.apiVersion && k.kind === object.kind)!;
    created.push(await client.create(resourceOf(kind), { ...object, metadata: { ...object.metadata, namespace: object.metadata.namespace ?? NS } }));
  }
  return created;
}

function engineModel(name: string, uri: string): Model {
  return {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'Model',
    metadata: { name, namespace: NS },
    spec: { modelSpec: { modelId: name, framework: 'pytorch', version: '1', source: { uri } }, runtime: { image: 'vllm/vllm-openai:latest' } },
  };
}

/** What the node agent does for a running, ready pod. */
async function markReady(name: string, ip: string): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await client.mergePatchStatus(PODS, NS, name, {
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], startTime: now, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }] },
  });
}

before(async () => {
  cluster = await startTestCluster(undefined, { admission: admissionPlugins });
  client = new KubeClient(cluster.kubeConfig);
  for (const rt of [MODELS, INFERENCE_SERVICES]) await until(`${rt.plural} served`, async () => (await client.list(rt, { namespace: NS })) !== undefined);
  manager = await startControllerManager({ kubeConfig: cluster.kubeConfig, leaderElection: false, logger: createLogger('controller-manager', (process.env.MATRIXINFER_LOG_LEVEL as 'debug') ?? 'warn') });
});

after(async () => {
  await manager?.stop();
  await cluster?.stop();
});

test("InferenceService (seed): a ModelRoute for modelName to the ModelServer behind backendRef's Service; missing refs are conditions", async () => {
  await client.create(MODELS, engineModel('llama2', 'hf://meta-llama/Llama-2-70b-chat-hf'));
  // backendRef names a Service in front of the Model's engine pods (as a production-stack user has one).
  await client.create(SERVICES, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'llama2-service-backend', namespace: NS },
    spec: { selector: { 'registry.matrixinfer.ai/model-name': 'llama2' }, ports: [{ port: 8000 }] },
  });
  const [isvc] = await applySeed('production-stack-inference-service.yaml');

  const route = await until('ModelRoute basic-inference', () => get<ModelRoute>(MODEL_ROUTES, 'basic-inference'));
  assert.equal(route.spec.modelName, 'meta-llama/Llama-2-70b-chat-hf');
  assert.deepEqual(route.spec.rules, [{ name: 'default', targetModels: [{ modelServerName: 'llama2', weight: 100 }] }]);
  assert.equal(route.metadata.ownerReferences?.[0]?.uid, isvc!.metadata.uid);
  assert.equal(route.metadata.ownerReferences?.[0]?.kind, 'InferenceService');
  assert.equal(route.spec.cache, undefined, 'no semantic cache while its store is missing');

  // The InferenceCache and the Redis Service it names are not there yet: said in ResolvedRefs, the route is written.
  let status = await until('InferenceService status', async () => {
    const s = await get<InferenceService>(INFERENCE_SERVICES, 'basic-inference');
    return condition(s, 'Programmed')?.status === 'True' ? s : undefined;
  });
  assert.equal(condition(status, 'ResolvedRefs')?.reason, 'InferenceCacheNotFound');
  assert.match(condition(status, 'ResolvedRefs')!.message!, /InferenceCache llama2-cache not found.*Service redis-nlp-cache/);
  assert.match(condition(status, 'Programmed')!.message!, /ModelRoute basic-inference routes meta-llama\/Llama-2-70b-chat-hf to ModelServer llama2/);
  assert.equal(condition(status, 'Ready')?.reason, 'NoReadyBackends');
  assert.equal(status.status?.modelRoute, 'basic-inference');
  assert.equal(status.status?.modelServer, 'llama2');
  assert.equal(status.status?.observedGeneration, status.metadata.generation);

  // Both appear: the route gets the cache's weights and the semantic cache on the Redis Service.
  await client.create(INFERENCE_CACHES, {
    apiVersion: 'production-stack.vllm.ai/v1alpha1',
    kind: 'InferenceCache',
    metadata: { name: 'llama2-cache', namespace: NS },
    spec: { modelName: 'meta-llama/Llama-2-70b-chat-hf', kvCacheTransferPolicy: { thresholdHitRate: 0.5, evictionThreshold: 0.8 } },
  });
  await client.create(SERVICES, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'redis-nlp-cache', namespace: NS }, spec: { ports: [{ name: 'redis', port: 6379 }] } });
  const tuned = await until('route with cache weights and semantic cache', async () => {
    const r = await get<ModelRoute>(MODEL_ROUTES, 'basic-inference');
    return r?.spec.cache && r.spec.scheduling ? r : undefined;
  });
  assert.deepEqual(tuned.spec.cache, { semantic: { enabled: true, threshold: 0.85, ttl: '3600s' }, store: { type: 'redis', redis: { address: 'redis-nlp-cache.default.svc:6379' } }, shared: false });
  assert.deepEqual(tuned.spec.scheduling?.scorers?.map((s) => `${s.name}:${s.weight}`), ['prefix-cache:20', 'queue:10', 'lora-affinity:20', 'kv-cache:25']);

  // A ready engine pod: Ready, with the backend count.
  const pod = await until('engine pod', () => get(PODS, 'llama2-0-server-0'));
  await markReady(pod.metadata.name!, '127.0.2.10');
  status = await until('InferenceService Ready', async () => {
    const s = await get<InferenceService>(INFERENCE_SERVICES, 'basic-inference');
    return condition(s, 'Ready')?.status === 'True' ? s : undefined;
  });
  assert.equal(condition(status, 'ResolvedRefs')?.status, 'True');
  assert.equal(status.status?.readyBackends, 1);
  assert.equal(status.status?.inferenceCache, 'llama2-cache');
  const events = await client.core.listNamespacedEvent({ namespace: NS });
  assert.ok(events.items.some((e) => e.involvedObject.kind === 'InferenceService' && e.reason === 'RouteCreated'), 'RouteCreated event');
});

test('InferenceGateway (seed): its profile on the listed InferenceServices\' routes; Accepted, Programmed and routes[] say which carry it', async () => {
  await client.create(MODELS, engineModel('llama3-engine', 'hf://meta-llama/Meta-Llama-3-70B-Instruct'));
  const isvc = (name: string, modelName: string): InferenceService => ({
    apiVersion: 'production-stack.vllm.ai/v1alpha1',
    kind: 'InferenceService',
    metadata: { name, namespace: NS },
    spec: { modelName, backendRef: 'llama3-engine' },
  });
  await client.create(INFERENCE_SERVICES, isvc('llama3-chatbot-service', 'llama3-70b'));
  await applySeed('production-stack-gateway.yaml');

  const route = await until('the chatbot route carries the gateway profile', async () => {
    const r = await get<ModelRoute>(MODEL_ROUTES, 'llama3-chatbot-service');
    return r?.spec.scheduling?.sessionAffinity ? r : undefined;
  });
  assert.deepEqual(route.spec.scheduling, {
    policy: 'prefix-affinity',
    scorers: [
      { name: 'session-affinity', weight: 10 },
      { name: 'prefix-cache', weight: 3 },
      { name: 'queue', weight: 1 },
      { name: 'kv-cache', weight: 1 },
    ],
    sessionAffinity: { header: 'x-session-id' },
  });
  let gateway = await until('gateway: one route programmed, mistral3 not', async () => {
    const g = await get<InferenceGateway>(INFERENCE_GATEWAYS, 'llm-gateway');
    return g?.status?.routes?.[0]?.programmed ? g : undefined;
  });
  assert.equal(condition(gateway, 'Accepted')?.status, 'True');
  assert.equal(condition(gateway, 'Programmed')?.reason, 'PartiallyProgrammed');
  assert.equal(gateway.status?.routes?.[1]?.message, 'InferenceService mistral-agent-service not found');

  await client.create(INFERENCE_SERVICES, isvc('mistral-agent-service', 'mistral3'));
  gateway = await until('gateway Programmed', async () => {
    const g = await get<InferenceGateway>(INFERENCE_GATEWAYS, 'llm-gateway');
    return condition(g, 'Programmed')?.status === 'True' ? g : undefined;
  });
  assert.deepEqual(gateway.status?.routes?.map((r) => [r.model, r.modelRoute, r.programmed]), [
    ['llama3-70b', 'llama3-chatbot-service', true],
    ['mistral3', 'mistral-agent-service', true],
  ]);
  assert.equal(gateway.status?.observedGeneration, gateway.metadata.generation);
  const chatbot = await get<InferenceService>(INFERENCE_SERVICES, 'llama3-chatbot-service');
  assert.equal(chatbot?.status?.inferenceGateway, 'llm-gateway');
});
