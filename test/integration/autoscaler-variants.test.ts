// Heterogeneous cost end to end on the embedded API server (or a real kube-apiserver: MATRIXINFER_TEST_APISERVER=real):
// one AutoscalingPolicyBinding over two ModelInfers of the same model, "cheap" and "dear", each behind its own
// ModelServer and one ModelRoute splitting the model's traffic between them. Load through the gateway grows the cheap
// variant to its max before the dear one grows; after the load the dear one shrinks first. Then a variant whose pods
// can never become ready (an image the node agent cannot run: hardware that is not there) stays pending and is never
// scaled further, while the next cheapest takes the load; past the binding's provisionTimeout it is released (back-off)
// and no longer holds the others' scale-down.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { AutoscalingPolicy, AutoscalingPolicyBinding, ServedModel as Model, ModelInfer, ModelRoute, ModelServer, ScalingVariant } from '../../src/api/kinds/index.ts';
import { desiredModelInfer, desiredModelRoute, desiredModelServer } from '../../src/controllers/model/desired.ts';
import { AUTOSCALING_POLICIES, AUTOSCALING_POLICY_BINDINGS, MODEL_INFERS, MODEL_ROUTES, MODEL_SERVERS, PODS } from '../../src/controllers/resources.ts';
import type { GatewayHandle } from '../../src/gateway/gateway.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { isPodReady } from '../../src/kube/objects.ts';
import { until } from '../../src/kube/testing/until.ts';
import { startInProcessPlatform, type InProcessPlatform } from '../support/inprocess.ts';
import { testModel } from '../support/models.ts';

const NS = 'default';
// As in autoscaler.test.ts: two sequences per engine, a 40-token request holds a slot for about 1.6 s.
const ENGINE_ARGS = ['--max-num-seqs', '2', '--time-to-first-token-ms', '20', '--inter-token-latency-ms', '40', '--inter-token-latency-per-seq-ms', '0'];

let client: KubeClient;
let gateway: GatewayHandle;

/** The model every variant serves; its ModelInfers, servers and route are made by hand (no Model object). */
const modelOf = (name: string): Model => testModel(name, NS, { runtime: { args: ENGINE_ARGS } });

/** A ModelInfer `name` running `model`, optionally on an image this node cannot run (its pods stay pending). */
async function createVariant(model: Model, name: string, unrunnable = false): Promise<void> {
  const mi = desiredModelInfer(model);
  mi.metadata = { ...mi.metadata, name };
  delete mi.metadata.ownerReferences;
  if (unrunnable) {
    const container = (mi.spec.roles[0]!.template as { spec: { containers: { image?: string; command?: string[] }[] } }).spec.containers[0]!;
    container.image = 'example.com/h100-only/engine:latest';
    container.command = ['/nonexistent/h100-engine'];
  }
  await client.create(MODEL_INFERS, mi);
}

async function createServer(model: Model, name: string): Promise<void> {
  const ms: ModelServer = desiredModelServer(model);
  ms.metadata = { ...ms.metadata, name };
  delete ms.metadata.ownerReferences;
  ms.spec.modelInferRef = { name };
  await client.create(MODEL_SERVERS, ms);
}

async function createRoute(model: Model, servers: string[]): Promise<void> {
  const route: ModelRoute = desiredModelRoute(model);
  delete route.metadata.ownerReferences;
  route.spec.rules = [{ name: 'default', targetModels: servers.map((modelServerName) => ({ modelServerName, weight: 50 })) }];
  await client.create(MODEL_ROUTES, route);
}

async function createBinding(name: string, variants: ScalingVariant[], minReplicas: number, maxReplicas: number): Promise<void> {
  const policy: AutoscalingPolicy = {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'AutoscalingPolicy',
    metadata: { name, namespace: NS },
    spec: {
      metrics: [{ metricName: 'num_requests', targetValue: 2 }],
      // Up 2 per second, down 1 per second after 1 s: slow enough that the order of the steps is visible.
      behavior: { scaleUp: { stablePolicy: { instances: 2, period: '1s' } }, scaleDown: { instances: 1, period: '1s', stabilizationWindow: '1s' } },
    },
  };
  await client.create(AUTOSCALING_POLICIES, policy);
  const binding: AutoscalingPolicyBinding = {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'AutoscalingPolicyBinding',
    metadata: { name, namespace: NS },
    spec: { policyRef: { name }, variants, minReplicas, maxReplicas },
  };
  await client.create(AUTOSCALING_POLICY_BINDINGS, binding);
}

let platform: InProcessPlatform;

before(async () => {
  platform = await startInProcessPlatform({ autoscaler: { syncPeriodMs: 500 } });
  ({ client, gateway } = platform);
});

after(() => platform?.stop());

async function readyPods(name: string): Promise<number> {
  const list = await client.list(PODS, { namespace: NS, labelSelector: `workload.matrixinfer.ai/modelinfer-name=${name}` });
  return list.items.filter(isPodReady).length;
}

const replicas = async (name: string) => (await client.get<ModelInfer>(MODEL_INFERS, NS, name))?.spec.replicas ?? 0;
const status = async (name: string) => (await client.get<AutoscalingPolicyBinding>(AUTOSCALING_POLICY_BINDINGS, NS, name))?.status;

async function complete(model: string, i: number): Promise<boolean> {
  try {
    const res = await fetch(`${gateway.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, prompt: `request ${i}`, max_tokens: 40, ignore_eos: true, stream: true }),
    });
    return res.status === 200 && (await res.text()).includes('[DONE]');
  } catch {
    return false;
  }
}

/** `clients` concurrent streams for `model` until `stop()`. */
function load(model: string, clients: number): { stop: () => Promise<number> } {
  let stopped = false;
  let ok = 0;
  const running = Array.from({ length: clients }, async (_, c) => {
    for (let i = 0; !stopped; i++) if (await complete(model, c * 1000 + i)) ok++;
  });
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(running);
      return ok;
    },
  };
}

/** Samples [cheap, dear] replicas every 100 ms, keeping the distinct states in order. */
function sampler(names: string[]): { states: number[][]; stop: () => void } {
  const states: number[][] = [];
  const timer = setInterval(async () => {
    const now = await Promise.all(names.map(replicas));
    if (states.at(-1)?.join() !== now.join()) states.push(now);
  }, 100);
  return { states, stop: () => clearInterval(timer) };
}

test('cheapest capacity added first, up to its max; the most expensive removed first', async (t) => {
  const model = modelOf('hetero');
  await createVariant(model, 'cheap');
  await createVariant(model, 'dear');
  await createServer(model, 'cheap');
  await createServer(model, 'dear');
  await createRoute(model, ['cheap', 'dear']);
  await until('one ready engine per variant', async () => (await readyPods('cheap')) === 1 && (await readyPods('dear')) === 1, 60_000, 100);
  await until('the gateway serving', () => complete('hetero', -1), 30_000, 100);
  await createBinding(
    'hetero',
    [
      { targetRef: { kind: 'ModelInfer', name: 'cheap' }, costPerReplica: '1.2', minReplicas: 1, maxReplicas: 3 },
      { targetRef: { kind: 'ModelInfer', name: 'dear' }, costPerReplica: '4', minReplicas: 1, maxReplicas: 3 },
    ],
    2,
    6,
  );

  const seen = sampler(['cheap', 'dear']);
  try {
    const traffic = load('hetero', 12);
    await until('the dear variant grows too', async () => (await replicas('dear')) >= 2, 20_000, 100);
    t.diagnostic(`load: ${await traffic.stop()} requests ok`);
    await until('back to one replica each', async () => (await replicas('cheap')) === 1 && (await replicas('dear')) === 1, 30_000, 100);
  } finally {
    seen.stop();
    t.diagnostic(`[cheap, dear] over time: ${seen.states.map((s) => `[${s.join(',')}]`).join(' ')}`);
  }
  const peak = seen.states.findIndex(([, dear]) => dear! >= 2);
  // Up: the dear variant grew only once the cheap one was at its max.
  for (const [cheap, dear] of seen.states.slice(0, peak + 1)) assert.ok(dear === 1 || cheap === 3, JSON.stringify(seen.states));
  // Down: the cheap variant shrank only once the dear one was back at its min.
  const top = seen.states.findIndex(([cheap, dear], i) => i > peak && cheap! + dear! < seen.states[i - 1]![0]! + seen.states[i - 1]![1]!);
  for (const [cheap, dear] of seen.states.slice(top)) assert.ok(cheap === 3 || dear === 1, JSON.stringify(seen.states));

  const s = (await status('hetero'))!;
  assert.deepEqual(
    s.variants?.map((v) => [v.name, v.current, v.costPerReplica]),
    [
      ['cheap', 1, '1.2'],
      ['dear', 1, '4'],
    ],
  );
  assert.equal(s.costPerHour, '5.2');
  assert.equal(s.currentReplicas, 2);
  assert.ok((s.history ?? []).some((h) => h.to > h.from) && (s.history ?? []).some((h) => h.to < h.from), JSON.stringify(s.history));
});

test('a variant whose pods never become ready is never scaled further; the next cheapest takes the load', async (t) => {
  const model = modelOf('stuck');
  await createVariant(model, 'stuck-h100', true);
  await createVariant(model, 'stuck-a100');
  await createServer(model, 'stuck-a100');
  await createRoute(model, ['stuck-a100']);
  await until('the a100 engine ready', async () => (await readyPods('stuck-a100')) === 1, 60_000, 100);
  await until('the gateway serving', () => complete('stuck', -1), 30_000, 100);
  await createBinding(
    'stuck',
    [
      { targetRef: { kind: 'ModelInfer', name: 'stuck-h100' }, costPerReplica: '0.5', maxReplicas: 4 },
      { targetRef: { kind: 'ModelInfer', name: 'stuck-a100' }, costPerReplica: '3', maxReplicas: 4 },
    ],
    1,
    6,
  );
  const seen = sampler(['stuck-h100', 'stuck-a100']);
  try {
    const traffic = load('stuck', 8);
    await until('the a100 variant takes the load', async () => (await replicas('stuck-a100')) >= 3, 20_000, 100);
    t.diagnostic(`load: ${await traffic.stop()} requests ok`);
  } finally {
    seen.stop();
    t.diagnostic(`[h100, a100] over time: ${seen.states.map((s) => `[${s.join(',')}]`).join(' ')}`);
  }
  assert.ok(seen.states.every(([h100]) => h100 === 1), JSON.stringify(seen.states));
  const s = (await status('stuck'))!;
  const h100 = s.variants?.find((v) => v.name === 'stuck-h100');
  assert.deepEqual([h100?.current, h100?.ready, h100?.pending], [1, 0, 1]);

  // Its pending replica would hold every scale-down of the binding (pods not ready: PodsStarting). Past the
  // provision timeout the variant is stuck: the replica is released, a back-off starts, and the a100s scale in.
  await client.mergePatch(AUTOSCALING_POLICY_BINDINGS, NS, 'stuck', { spec: { provisionTimeout: '2s' } });
  await until('the stuck variant released', async () => (await replicas('stuck-h100')) === 0, 20_000, 100);
  const released = (await status('stuck'))!.variants!.find((v) => v.name === 'stuck-h100')!;
  assert.ok(released.stuckUntil && Date.parse(released.stuckUntil) > Date.now() - 2_000, JSON.stringify(released));
  const events = await client.core.listNamespacedEvent({ namespace: NS });
  assert.ok(events.items.some((e) => e.reason === 'VariantStuck' && /stuck-h100: 1 replicas not ready/.test(e.message ?? '')), 'a VariantStuck Event');
  await until('the a100s scale in once idle', async () => (await replicas('stuck-a100')) === 1, 30_000, 200).catch(async (err: unknown) => {
    const pods = (await client.list(PODS, { namespace: NS })).items.map((p) => `${p.metadata.name}:${isPodReady(p)}:${(p.status as { phase?: string })?.phase}:${p.metadata.deletionTimestamp ?? ''}`);
    const mis = (await client.list(MODEL_INFERS, { namespace: NS })).items.map((m) => `${m.metadata.name}:${JSON.stringify((m as ModelInfer).spec.replicas)}:${JSON.stringify((m as ModelInfer).status)}`);
    throw new Error(`${(err as Error).message}; modelinfers ${mis.join(' ')}; binding status: ${JSON.stringify(await status('stuck'))}; pods ${pods.join(' ')}`);
  });
});
