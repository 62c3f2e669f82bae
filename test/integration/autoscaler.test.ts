// The autoscaler end to end on the embedded API server (or a real kube-apiserver: MATRIXINFER_TEST_APISERVER=real):
// controller manager (autoscaler syncing every 500 ms) + node agent + simulated engines + gateway. Concurrent
// streaming requests through the gateway drive requests above the target, so the binding enters Panic and the
// ModelInfer scales out through its scale subresource; once the load stops it scales back in to minReplicas.
// Then a schedule window: a hand-made policy and binding on a second ModelInfer, a window open now raises the
// count to its minReplicas (mode Schedule), and once the window is no longer open it falls back to the reactive count.
// Last, scale to zero: minReplicas 0 and a 3 s idle window take an idle Model to 0; the next request is held by the
// gateway while it writes 0 → 1 and is answered by the new replica.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AutoscalingPolicy, AutoscalingPolicyBinding, ServedModel as Model, ModelInfer } from '../../src/api/kinds/index.ts';
import { desiredModelInfer } from '../../src/controllers/model/desired.ts';
import { AUTOSCALING_POLICIES, AUTOSCALING_POLICY_BINDINGS, MODELS, MODEL_INFERS, PODS } from '../../src/controllers/resources.ts';
import type { GatewayHandle } from '../../src/gateway/gateway.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { isPodReady } from '../../src/kube/objects.ts';
import { until } from '../../src/kube/testing/until.ts';
import { startInProcessPlatform, type InProcessPlatform } from '../support/inprocess.ts';

const NS = 'default';
const NAME = 'scaler';
// Two sequences per engine, 40 ms per token: a 40-token request holds a slot for about 1.6 s, so 12 concurrent
// clients keep about 12 requests running or waiting.
const ENGINE_ARGS = ['--max-num-seqs', '2', '--time-to-first-token-ms', '20', '--inter-token-latency-ms', '40', '--inter-token-latency-per-seq-ms', '0'];

let client: KubeClient;
let gateway: GatewayHandle;

const model: Model = {
  apiVersion: 'registry.matrixinfer.ai/v1alpha1',
  kind: 'Model',
  metadata: { name: NAME, namespace: NS },
  spec: {
    modelSpec: { modelId: 'scaler-v1', framework: 'pytorch', version: '1.0.0', source: { uri: 'huggingface://meta-llama/Llama-2-7b-hf' } },
    runtime: { image: 'matrixinfer/pytorch-runtime:latest', args: ENGINE_ARGS },
    autoscaling: {
      minReplicas: 1,
      maxReplicas: 4,
      metrics: [{ metricName: 'num_requests', targetValue: 2 }],
      behavior: {
        scaleUp: { stablePolicy: { instances: 1, period: '1s' }, panicPolicy: { panicThresholdPercent: 200, panicModeHold: '3s', percent: 100, period: '1s' } },
        scaleDown: { percent: 100, period: '1s', stabilizationWindow: '2s' },
      },
    },
  },
} as Model;

let platform: InProcessPlatform;

before(async () => {
  platform = await startInProcessPlatform({ autoscaler: { syncPeriodMs: 500 } });
  ({ client, gateway } = platform);
});

after(() => platform?.stop());

async function readyPods(name = NAME): Promise<number> {
  const list = await client.list(PODS, { namespace: NS, labelSelector: `workload.matrixinfer.ai/modelinfer-name=${name}` });
  return list.items.filter(isPodReady).length;
}

async function complete(i: number): Promise<boolean> {
  try {
    const res = await fetch(`${gateway.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: NAME, prompt: `request ${i}`, max_tokens: 40, ignore_eos: true, stream: true }),
    });
    return res.status === 200 && (await res.text()).includes('[DONE]');
  } catch {
    return false;
  }
}

test('scale-out under load (Panic on the burst), scale-in after it, through the scale subresource', async (t) => {
  await client.create(MODELS, model);
  await until('one ready engine', async () => (await readyPods()) === 1, 60_000, 100);
  await until('the gateway serving', () => complete(-1), 30_000, 100);

  const timeline: string[] = [];
  const started = Date.now();
  const modes = new Set<string>();
  let peak = 0;
  const watch = setInterval(async () => {
    const [mi, binding] = await Promise.all([client.get<ModelInfer>(MODEL_INFERS, NS, NAME), client.get<AutoscalingPolicyBinding>(AUTOSCALING_POLICY_BINDINGS, NS, NAME)]);
    const replicas = mi?.spec.replicas ?? 0;
    peak = Math.max(peak, replicas);
    if (binding?.status?.mode) modes.add(binding.status.mode);
    const line = `${replicas} replicas, ${binding?.status?.readyReplicas ?? '?'} ready, ${binding?.status?.mode ?? '-'}, ${binding?.status?.currentMetrics?.map((m) => `${m.name}=${m.value}`).join(' ') ?? ''}`;
    if (timeline.at(-1)?.slice(timeline.at(-1)!.indexOf(' ') + 1) !== line) timeline.push(`${((Date.now() - started) / 1000).toFixed(1)}s ${line}`);
  }, 250);

  try {
    // Load: 12 clients, each sending one streamed request after another, for 8 s.
    let stop = false;
    let ok = 0;
    let failed = 0;
    const clients = Array.from({ length: 12 }, async (_, c) => {
      for (let i = 0; !stop; i++) (await complete(c * 1000 + i)) ? ok++ : failed++;
    });
    await until('scaled out to 4', async () => peak >= 4, 20_000, 100);
    await sleep(2_000);
    stop = true;
    await Promise.all(clients);
    t.diagnostic(`load: ${ok} requests ok, ${failed} failed`);
    assert.ok(modes.has('Panic'), `mode reached Panic: ${[...modes].join(',')}`);

    // The scale write comes before the status patch of the same sync: wait for both.
    const status = await until(
      'scaled back in to 1, and the status written',
      async () => {
        const scaled = (await client.get<ModelInfer>(MODEL_INFERS, NS, NAME))?.spec.replicas === 1;
        const s = (await client.get<AutoscalingPolicyBinding>(AUTOSCALING_POLICY_BINDINGS, NS, NAME))?.status;
        return scaled && s?.desiredReplicas === 1 ? s : undefined;
      },
      30_000,
      250,
    );
    assert.equal(status.desiredReplicas, 1);
    assert.ok(status.lastScaleTime);
    assert.ok((status.history ?? []).some((h) => h.from === 1 && h.to > 1), JSON.stringify(status.history));
    assert.ok((status.history ?? []).some((h) => h.to < h.from), JSON.stringify(status.history));
    assert.deepEqual(status.currentMetrics?.map((m) => [m.name, m.target]), [['num_requests', '2']]);
    assert.equal(status.conditions?.find((c) => c.type === 'ScalingActive')?.status, 'True');
  } finally {
    clearInterval(watch);
    t.diagnostic(`replicas over time:\n${timeline.join('\n')}`);
  }
});

test('a schedule window open now raises replicas to its min (mode Schedule); closed, back to the reactive count', async () => {
  const name = 'windowed';
  // A ModelInfer as a Model would make it, but created by hand: the Model controller then owns no binding for it.
  const mi = desiredModelInfer({ ...model, metadata: { name, namespace: NS }, spec: { ...model.spec, autoscaling: undefined } } as Model);
  delete mi.metadata.ownerReferences;
  await client.create(MODEL_INFERS, mi);
  const policy: AutoscalingPolicy = {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'AutoscalingPolicy',
    metadata: { name, namespace: NS },
    spec: { metrics: [{ metricName: 'num_requests', targetValue: 2 }], behavior: { scaleDown: { period: '1s', stabilizationWindow: '1s' } } },
  };
  await client.create(AUTOSCALING_POLICIES, policy);
  const binding: AutoscalingPolicyBinding = {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'AutoscalingPolicyBinding',
    metadata: { name, namespace: NS },
    spec: {
      policyRef: { name },
      targetRef: { kind: 'ModelInfer', name },
      minReplicas: 1,
      maxReplicas: 3,
      // Opens every minute and stays open an hour: open whenever the test runs.
      schedules: [{ name: 'business-hours', cron: '* * * * *', duration: '1h', minReplicas: 2 }],
    },
  };
  await client.create(AUTOSCALING_POLICY_BINDINGS, binding);
  const status = async () => (await client.get<AutoscalingPolicyBinding>(AUTOSCALING_POLICY_BINDINGS, NS, name))?.status;
  const replicas = async () => (await client.get<ModelInfer>(MODEL_INFERS, NS, name))?.spec.replicas;

  await until('the window raises the ModelInfer to 2', async () => (await replicas()) === 2 && (await status())?.mode === 'Schedule', 30_000, 100);
  const open = (await status())!;
  assert.deepEqual(open.schedule, { active: ['business-hours'], effectiveMin: 2, effectiveMax: 3 });
  assert.equal(open.desiredReplicas, 2);
  assert.match(open.history?.at(-1)?.reason ?? '', /schedule business-hours: min 2/);
  await until('two ready engines', async () => (await readyPods(name)) === 2, 60_000, 100);

  // The same window name, now opening on New Year's midnight only: closed (unless the test runs in that minute).
  await client.mergePatch(AUTOSCALING_POLICY_BINDINGS, NS, name, { spec: { schedules: [{ name: 'business-hours', cron: '0 0 1 1 *', duration: '1m', minReplicas: 2 }] } });
  await until('back to the reactive count, 1', async () => (await replicas()) === 1, 30_000, 100);
  const closed = (await status())!;
  assert.deepEqual(closed.schedule, { active: [], effectiveMin: 1, effectiveMax: 3 });
  assert.notEqual(closed.mode, 'Schedule');
});

test('scale to zero after the idle window, and back: the first request at zero is held, the gateway starts one replica, it is answered', async () => {
  const name = 'sleepy';
  const sleepy = {
    ...model,
    metadata: { name, namespace: NS },
    spec: {
      ...model.spec,
      modelSpec: { ...model.spec.modelSpec, modelId: `${name}-v1` },
      autoscaling: { ...model.spec.autoscaling!, minReplicas: 0, maxReplicas: 2, scaleToZeroIdle: '3s' },
    },
  } as Model;
  await client.create(MODELS, sleepy);
  const replicas = async () => (await client.get<ModelInfer>(MODEL_INFERS, NS, name))?.spec.replicas;
  const ask = async () => {
    const res = await fetch(`${gateway.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: name, prompt: 'hello', max_tokens: 4 }),
    });
    return { status: res.status, body: await res.text() };
  };
  // Whatever the first count, a request is answered (held while a replica starts, if at zero).
  await until('the route in the gateway', async () => (await ask()).status === 200, 60_000, 200);
  await until('scaled to zero after 3 s idle', async () => (await replicas()) === 0 && (await readyPods(name)) === 0, 30_000, 200);
  const binding = await client.get<AutoscalingPolicyBinding>(AUTOSCALING_POLICY_BINDINGS, NS, name);
  assert.match(binding!.status!.history!.at(-1)!.reason, /idle for \d+s/);
  assert.equal(binding!.status!.history!.at(-1)!.to, 0);

  // At zero: the first request waits while the gateway writes 0 → 1, then is answered by the new replica.
  const started = performance.now();
  const first = await ask();
  const waitedMs = performance.now() - started;
  assert.equal(first.status, 200, first.body);
  assert.ok(JSON.parse(first.body).choices[0].text !== undefined);
  assert.equal(await replicas(), 1);
  console.log(`# from zero: first request answered after ${waitedMs.toFixed(0)} ms (hold, 0 → 1, engine start, dispatch)`);
});
