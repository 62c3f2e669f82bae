// The production-stack.vllm.ai kinds (seed 004, issue 12) against the embedded API server (or a real kube-apiserver:
// MATRIXINFER_TEST_APISERVER=real, as test/cluster/production-stack.test.ts runs it) with the controller manager.
// Every seed example is applied unchanged, next to the objects it names (Models, Services), and the test checks what
// each kind did: the objects written, the engine arguments, the pods' roles, the routing profile, the status.
// No node agent runs here: the test writes pod status itself, as the agent would.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { KubeObject } from '../../src/api/admission.ts';
import type { InferenceCache, InferenceGateway, InferenceService, Model, ModelInfer, ModelRoute, ModelServer, PrefillDecodingDisaggregation, SpeculativeDecoding, StaticRoute } from '../../src/api/kinds/index.ts';
import { startEngine } from '../../src/engine/server.ts';
import { parseEngineArgs } from '../../src/engine/options.ts';
import { readManifests } from '../../src/cli/manifests.ts';
import { KubeClient, type ResourceType } from '../../src/kube/client.ts';
import { createLogger } from '../../src/kube/log.ts';
import { startControllerManager, type ControllerManager } from '../../src/controllers/manager.ts';
import {
  CONFIG_MAPS,
  STATIC_ROUTES,
  INFERENCE_CACHES,
  INFERENCE_GATEWAYS,
  INFERENCE_SERVICES,
  MODEL_INFERS,
  MODEL_ROUTES,
  MODEL_SERVERS,
  MODELS,
  PD_DISAGGREGATIONS,
  PODS,
  SERVICES,
  SPECULATIVE_DECODINGS,
} from '../../src/controllers/resources.ts';
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
  manager = await startControllerManager({ kubeConfig: cluster.kubeConfig, leaderElection: false, productionStack: { cacheStatsPeriodMs: 300 }, logger: createLogger('controller-manager', (process.env.MATRIXINFER_LOG_LEVEL as 'debug') ?? 'warn') });
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
    sessionAffinity: { header: 'x-session-id', cookie: 'session_id' },
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

/** A pod deleted gracefully is finished off, as the node agent does once its containers stopped. */
async function finishTerminating(name: string): Promise<void> {
  const pod = await get(PODS, name);
  if (pod?.metadata.deletionTimestamp) await client.delete(PODS, NS, name, { gracePeriodSeconds: 0 });
}

/** Plays the node agent for a ModelInfer's pods until `done`: ready pods get IPs, terminating ones go. */
async function runPods(modelInfer: string, done: () => Promise<boolean>, what: string): Promise<void> {
  let ip = 20;
  await until(what, async () => {
    const pods = (await client.list(PODS, { namespace: NS, labelSelector: `workload.matrixinfer.ai/modelinfer-name=${modelInfer}` })).items;
    for (const pod of pods) {
      if (pod.metadata.deletionTimestamp) await finishTerminating(pod.metadata.name!);
      else if ((pod.status as { phase?: string } | undefined)?.phase !== 'Running') await markReady(pod.metadata.name!, `127.0.3.${ip++}`);
    }
    return done();
  }, 30_000);
}

test('InferenceCache, SpeculativeDecoding and PrefillDecodingDisaggregation (seed): cache weights on the route, prefill/decode roles with the hint, speculative decoding on decode, rolled out; removing the PDD rolls back', async () => {
  // The gateway test's Model serves llama3-70b through InferenceService llama3-chatbot-service; its pod is ready.
  await runPods('llama3-engine', async () => (await get<ModelInfer>(MODEL_INFERS, 'llama3-engine'))?.status?.readyReplicas === 1, 'llama3-engine ready');
  await applySeed('production-stack-cache-pdd-sd.yaml');

  // The cache's weights on top of the gateway's profile.
  const route = await until('route with cache weights', async () => {
    const r = await get<ModelRoute>(MODEL_ROUTES, 'llama3-chatbot-service');
    return r?.spec.scheduling?.scorers?.[0]?.weight === 13 ? r : undefined;
  });
  assert.deepEqual(route.spec.scheduling?.scorers?.map((s) => `${s.name}:${s.weight}`), ['prefix-cache:13', 'session-affinity:100', 'queue:10', 'kv-cache:14']);

  // The workload: prefill and decode roles on the hinted nodes, NIXL KV transfer, speculative decoding on decode.
  const mi = await until('ModelInfer split', async () => {
    const m = await get<ModelInfer>(MODEL_INFERS, 'llama3-engine');
    return m?.spec.roles.length === 2 ? m : undefined;
  });
  assert.equal(mi.metadata.annotations?.['registry.matrixinfer.ai/amended-by'], 'PrefillDecodingDisaggregation/pdd-llama3-chatbot,SpeculativeDecoding/sd-llama3-chatbot');
  const [prefill, decode] = mi.spec.roles.map((r) => r.template.spec as { nodeSelector: Record<string, string>; containers: { args: string[] }[] });
  assert.deepEqual(mi.spec.roles.map((r) => r.name), ['prefill', 'decode']);
  for (const spec of [prefill!, decode!]) assert.deepEqual(spec.nodeSelector, { gpuType: 'NVIDIA-A100', zone: 'rack1' });
  assert.deepEqual(prefill!.containers[0]!.args.slice(-2), ['--kv-transfer-config', '{"kv_connector":"NixlConnector","kv_role":"kv_both"}']);
  assert.deepEqual(decode!.containers[0]!.args.slice(-4), [
    '--kv-transfer-config', '{"kv_connector":"NixlConnector","kv_role":"kv_both"}',
    '--speculative-config', '{"method":"draft_model","model":"llama3-1b","num_speculative_tokens":5}',
  ]);

  // The rollout: a prefill/decode surge group, then the ModelServer routes pairs, the old server pod goes.
  await runPods('llama3-engine', async () => {
    const ms = await get<ModelServer>(MODEL_SERVERS, 'llama3-engine');
    const m = await get<ModelInfer>(MODEL_INFERS, 'llama3-engine');
    return !!ms?.spec.pdDisaggregation && m?.status?.conditions?.find((c) => c.type === 'Progressing')?.reason === 'RolloutComplete';
  }, 'rollout to prefill/decode');
  const pods = (await client.list(PODS, { namespace: NS, labelSelector: 'workload.matrixinfer.ai/modelinfer-name=llama3-engine' })).items.filter((p) => !p.metadata.deletionTimestamp);
  assert.deepEqual(pods.map((p) => p.metadata.name).sort(), ['llama3-engine-0-decode-0', 'llama3-engine-0-prefill-0']);
  assert.deepEqual((pods[0]!.spec as { nodeSelector: unknown }).nodeSelector, { gpuType: 'NVIDIA-A100', zone: 'rack1' });

  const pdd = await until('PDD Ready', async () => {
    const p = await get<PrefillDecodingDisaggregation>(PD_DISAGGREGATIONS, 'pdd-llama3-chatbot');
    return condition(p, 'Ready')?.status === 'True' && p?.status?.prefill?.replicas === 1 ? p : undefined;
  });
  assert.deepEqual([pdd.status?.modelInfer, pdd.status?.prefill, pdd.status?.decode, pdd.status?.readyPairs], ['llama3-engine', { replicas: 1, readyReplicas: 1 }, { replicas: 1, readyReplicas: 1 }, 1]);
  const sd = await until('SD Ready', async () => {
    const s = await get<SpeculativeDecoding>(SPECULATIVE_DECODINGS, 'sd-llama3-chatbot');
    return condition(s, 'Ready')?.status === 'True' ? s : undefined;
  });
  assert.equal(condition(sd, 'Applied')?.reason, 'Applied');
  assert.deepEqual(sd.status?.workloads?.map((w) => [w.modelInfer, w.model, w.engine, w.applied, w.updatedReplicas, w.replicas]), [['llama3-engine', 'llama3-engine', 'vLLM', true, 1, 1]]);
  const cache = await until('cache Programmed', async () => {
    const c = await get<InferenceCache>(INFERENCE_CACHES, 'llama3-chatbot-cache');
    return condition(c, 'Programmed')?.status === 'True' && condition(c, 'ResolvedRefs')?.status === 'True' ? c : undefined;
  });
  assert.deepEqual(cache.status?.weights, { prefixCache: 13, kvCache: 14, load: 10 });
  assert.deepEqual(cache.status?.modelRoutes, ['llama3-chatbot-service']);
  // cacheStats from the engines: simulated engines on the pods' addresses, as the node agent would run them.
  const engines = await Promise.all(
    pods.map((p) => startEngine(parseEngineArgs(['llama3-70b', '--host', (p.status as { podIP: string }).podIP, '--port', '8000'], { warn: () => {} }))),
  );
  try {
    const prompt = 'A long system prompt that every request of the chatbot shares, so the engines find it cached. '.repeat(12);
    for (const e of engines) {
      for (let i = 0; i < 2; i++) await fetch(`${e.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'llama3-70b', prompt, max_tokens: 1 }) });
    }
    const observed = await until('cacheStats from the engines', async () => {
      const c = await get<InferenceCache>(INFERENCE_CACHES, 'llama3-chatbot-cache');
      // A reading taken before both requests reached the engines says 0.000: wait for one taken after them.
      return condition(c, 'MetricsObserved')?.status === 'True' && Number(c?.status?.cacheStats?.hitRate) > 0.3 ? c : undefined;
    });
    assert.match(condition(observed, 'MetricsObserved')!.message!, /^2 engine pods: prefix-cache hit rate 0\.\d{3} \(threshold 0\.8\), KV-cache usage 0\.000/);
    assert.ok(Number(observed.status!.cacheStats!.hitRate) > 0.3, observed.status!.cacheStats!.hitRate);
  } finally {
    await Promise.all(engines.map((e) => e.close()));
  }

  // A second PDD for the same model: refused as a condition, nothing changes.
  await client.create(PD_DISAGGREGATIONS, { apiVersion: 'production-stack.vllm.ai/v1alpha1', kind: 'PrefillDecodingDisaggregation', metadata: { name: 'pdd-again', namespace: NS }, spec: { modelName: 'llama3-70b' } });
  const again = await until('second PDD refused', async () => {
    const p = await get<PrefillDecodingDisaggregation>(PD_DISAGGREGATIONS, 'pdd-again');
    return condition(p, 'Applied')?.reason === 'AlreadyDisaggregated' ? p : undefined;
  });
  assert.match(condition(again, 'Applied')!.message!, /already split by PrefillDecodingDisaggregation pdd-llama3-chatbot/);
  await client.delete(PD_DISAGGREGATIONS, NS, 'pdd-again');

  // Removing the PDD: back to one server role (speculative decoding kept), plain routing at once.
  await client.delete(PD_DISAGGREGATIONS, NS, 'pdd-llama3-chatbot');
  await runPods('llama3-engine', async () => {
    const ms = await get<ModelServer>(MODEL_SERVERS, 'llama3-engine');
    const m = await get<ModelInfer>(MODEL_INFERS, 'llama3-engine');
    return !ms?.spec.pdDisaggregation && m?.spec.roles.map((r) => r.name).join() === 'server' && m.status?.conditions?.find((c) => c.type === 'Progressing')?.reason === 'RolloutComplete';
  }, 'rollback to one server role');
  const back = (await get<ModelInfer>(MODEL_INFERS, 'llama3-engine'))!;
  assert.equal(back.metadata.annotations?.['registry.matrixinfer.ai/amended-by'], 'SpeculativeDecoding/sd-llama3-chatbot');
  assert.equal((back.spec.roles[0]!.template.spec as { nodeSelector?: unknown }).nodeSelector, undefined);
  assert.deepEqual((back.spec.roles[0]!.template.spec as { containers: { args: string[] }[] }).containers[0]!.args.slice(-2), [
    '--speculative-config', '{"method":"draft_model","model":"llama3-1b","num_speculative_tokens":5}',
  ]);
});

test('StaticRoute (seed): ConfigMap vllm-router-config with static_config.json, every backend probed, status', async (t) => {
  // An engine the platform does not manage, on the seed's first backend (when the port is free here).
  let engine: Awaited<ReturnType<typeof startEngine>> | undefined;
  try {
    engine = await startEngine(parseEngineArgs(['facebook/opt-125m', '--host', '127.0.0.1', '--port', '9001'], { warn: () => {} }));
    t.after(() => engine?.close());
  } catch {
    t.diagnostic('port 9001 is taken here: every backend is expected unhealthy');
  }
  const [route] = await applySeed('production-stack-staticroute.yaml');
  const cm = await until('ConfigMap vllm-router-config', () => get(CONFIG_MAPS, 'vllm-router-config'));
  assert.equal(cm.metadata.ownerReferences?.[0]?.uid, route!.metadata.uid);
  assert.deepEqual(JSON.parse((cm.data as Record<string, string>)['static_config.json']!), {
    service_discovery: 'static',
    routing_logic: 'roundrobin',
    static_backends: 'http://localhost:9001,http://localhost:9002,http://localhost:9003',
    static_models: 'facebook/opt-125m,meta-llama/Llama-3.1-8B-Instruct,facebook/opt-125m',
  });
  const status = await until('backends probed', async () => {
    const r = await get<StaticRoute>(STATIC_ROUTES, 'staticroute-sample');
    return r?.status?.backends?.every((b) => b.lastChecked) ? r : undefined;
  });
  assert.equal(status.status?.configMapRef, 'vllm-router-config');
  assert.ok(status.status?.lastAppliedTime);
  assert.deepEqual(status.status?.backends?.map((b) => [b.url, b.model, b.healthy]), [
    ['http://localhost:9001', 'facebook/opt-125m', engine !== undefined],
    ['http://localhost:9002', 'meta-llama/Llama-3.1-8B-Instruct', false],
    ['http://localhost:9003', 'facebook/opt-125m', false],
  ]);
  assert.match(status.status!.backends![1]!.message!, /GET \/health: ECONNREFUSED; GET \/v1\/models: ECONNREFUSED/);
  assert.equal(condition(status, 'Programmed')?.status, 'True');
  assert.equal(condition(status, 'BackendsHealthy')?.status, 'False');
  assert.equal(condition(status, 'ResolvedRefs')?.reason, 'RouterNotFound');
  assert.equal(condition(status, 'Ready')?.status, engine ? 'True' : 'False');
  assert.equal(status.status?.observedGeneration, status.metadata.generation);

  // A content change rewrites the ConfigMap and moves lastAppliedTime; the router Service appearing resolves routerRef.
  await client.create(SERVICES, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'vllm-router', namespace: NS }, spec: { ports: [{ port: 80 }] } });
  await new Promise((r) => setTimeout(r, 1100));
  await client.mergePatch(STATIC_ROUTES, NS, 'staticroute-sample', { spec: { staticBackends: 'http://localhost:9001,http://localhost:9002', staticModels: 'facebook/opt-125m,meta-llama/Llama-3.1-8B-Instruct' } });
  const updated = await until('updated', async () => {
    const r = await get<StaticRoute>(STATIC_ROUTES, 'staticroute-sample');
    return r?.status?.backends?.length === 2 && condition(r, 'ResolvedRefs')?.status === 'True' && r.status.lastAppliedTime !== status.status?.lastAppliedTime ? r : undefined;
  });
  assert.ok(updated.status!.lastAppliedTime! > status.status!.lastAppliedTime!);
  const cm2 = await get(CONFIG_MAPS, 'vllm-router-config');
  assert.equal(JSON.parse((cm2!.data as Record<string, string>)['static_config.json']!).static_backends, 'http://localhost:9001,http://localhost:9002');
  // A backend list whose models do not match is refused at admission, with the field (the embedded server runs our
  // admission inline; on the real one the webhook server does, test/cluster/webhooks.test.ts).
  if (cluster.backend === 'embedded') await assert.rejects(client.mergePatch(STATIC_ROUTES, NS, 'staticroute-sample', { spec: { staticModels: 'facebook/opt-125m' } }), /spec\.staticModels: Invalid value.*1 model for 2 backends/);
});

test('kubectl get: the printer columns of the six kinds, conditions included', async () => {
  const table = async (plural: string) => {
    const res = await cluster.request('GET', `/apis/production-stack.vllm.ai/v1alpha1/namespaces/${NS}/${plural}`, undefined, { headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const body = res.body as { columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] };
    return { columns: body.columnDefinitions.map((c) => c.name), rows: body.rows.map((r) => r.cells) };
  };
  const isvc = await table('inferenceservices');
  assert.deepEqual(isvc.columns, ['Name', 'Model', 'Backend', 'Route', 'Backends', 'Ready', 'Cache', 'Gateway', 'Age']);
  assert.deepEqual(isvc.rows.find((r) => r[0] === 'basic-inference')!.slice(1, 6), ['meta-llama/Llama-2-70b-chat-hf', 'llama2-service-backend', 'basic-inference', 1, 'True']);
  const gw = await table('inferencegateways');
  assert.deepEqual(gw.rows[0]!.slice(0, 6), ['llm-gateway', 'gpu-load-aware', 'PrefixHash', true, 'True', 'True']);
  // Ready follows the workload's rollout and its pods' readiness. Nothing runs pods in this suite but the tests, so
  // play the kubelet for the ModelInfer's pods while waiting (bounded), and say what the status was if it never came.
  let sd = await table('speculativedecodings');
  await runPods('llama3-engine', async () => (sd = await table('speculativedecodings')).rows[0]![4] === 'True', 'the SpeculativeDecoding row Ready').catch(async (err: Error) => {
    const s = await get<SpeculativeDecoding>(SPECULATIVE_DECODINGS, 'sd-llama3-chatbot');
    const m = await get<ModelInfer>(MODEL_INFERS, 'llama3-engine');
    assert.fail(`${err.message}: SpeculativeDecoding conditions ${JSON.stringify(s?.status?.conditions)}; ModelInfer generation ${m?.metadata.generation}, status ${JSON.stringify(m?.status)}`);
  });
  assert.deepEqual(sd.rows[0]!.slice(0, 5), ['sd-llama3-chatbot', 'llama3-1b', 'llama3-70b', 'True', 'True']);
  const sr = await table('staticroutes');
  assert.deepEqual(sr.rows[0]!.slice(0, 3), ['staticroute-sample', 'roundrobin', 'vllm-router-config']);
  assert.deepEqual((await table('inferencecaches')).rows.find((r) => r[0] === 'llama3-chatbot-cache')!.slice(0, 5), ['llama3-chatbot-cache', 'llama3-70b', 0.8, 0.9, 'True']);
  // And the controller manager's /metrics series.
  const metrics = await manager.registry.metrics();
  assert.match(metrics, /matrixinfer_production_stack_reconciles_total\{controller="inferenceservice",result="success"\} [1-9]/);
  assert.match(metrics, /matrixinfer_production_stack_condition\{kind="InferenceGateway",namespace="default",name="llm-gateway",condition="Programmed",status="True"\} 1/);
  assert.match(metrics, /matrixinfer_production_stack_ready_backends\{namespace="default",name="basic-inference"\} 1/);
});
