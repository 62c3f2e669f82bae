// The ModelInfer warm pool end to end on the embedded API server: controller manager + node agent (simulated engines
// as processes, `--startup-seconds 4`) + gateway. A ModelInfer with 1 replica and warmPool 1 runs 2 pods: the warm
// one sleeps (level 1) and gets no request through the gateway. Scaled to 2, the warm pod is woken and routed, and a
// new warm pod starts. The time from the scale write to the first request the new replica serves through the gateway
// is measured, and compared with the same scale-up of a ModelInfer without a warm pool (a cold start). Then the same
// from zero: the first request, held by the gateway while it writes 0 → 1, is answered by the claimed warm replica in
// a fraction of a cold start. ≈ 30 s.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../src/api/admission.ts';
import type { ServedModel as Model, ModelInfer } from '../../src/api/kinds/index.ts';
import { GROUP_INDEX_LABEL, MODELINFER_NAME_LABEL, SLEEP_LEVEL_ANNOTATION, WARM_LABEL } from '../../src/api/labels.ts';
import { desiredModelInfer, desiredModelRoute, desiredModelServer } from '../../src/controllers/model/desired.ts';
import { MODEL_INFERS, MODEL_ROUTES, MODEL_SERVERS, PODS } from '../../src/controllers/resources.ts';
import type { GatewayHandle } from '../../src/gateway/gateway.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { isDeleting, isPodReady } from '../../src/kube/objects.ts';
import { until } from '../../src/kube/testing/until.ts';
import { startInProcessPlatform, type InProcessPlatform } from '../support/inprocess.ts';

const NS = 'default';
const STARTUP_SECONDS = 4;
const ENGINE_ARGS = ['--startup-seconds', String(STARTUP_SECONDS), '--time-to-first-token-ms', '5', '--inter-token-latency-ms', '2', '--inter-token-latency-per-seq-ms', '0'];

let client: KubeClient;
let gateway: GatewayHandle;

let platform: InProcessPlatform;

before(async () => {
  platform = await startInProcessPlatform();
  ({ client, gateway } = platform);
});

after(() => platform?.stop());

/** ModelInfer, ModelServer and ModelRoute as a Model would generate them, created directly (no Model controller). */
async function deploy(name: string, warm: number, replicas = 1): Promise<void> {
  const model = {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'Model',
    metadata: { name, namespace: NS },
    spec: {
      modelSpec: { modelId: `${name}-v1`, framework: 'pytorch', version: '1.0.0', source: { uri: 'huggingface://meta-llama/Llama-2-7b-hf' } },
      runtime: { image: 'matrixinfer/pytorch-runtime:latest', replicas, args: ENGINE_ARGS },
    },
  } as Model;
  const bare = <T extends KubeObject>(o: T): T => ({ ...o, metadata: { name, namespace: NS } });
  const mi = bare(desiredModelInfer(model)) as ModelInfer;
  if (warm > 0) mi.spec.warmPool = { replicas: warm, sleepLevel: 1 };
  await client.create(MODEL_INFERS, mi);
  await client.create(MODEL_SERVERS, bare(desiredModelServer(model)));
  await client.create(MODEL_ROUTES, bare(desiredModelRoute(model)));
}

async function pods(name: string): Promise<KubeObject[]> {
  const list = await client.list(PODS, { namespace: NS, labelSelector: `${MODELINFER_NAME_LABEL}=${name}` });
  return list.items.filter((p) => !isDeleting(p));
}

const group = (p: KubeObject) => p.metadata.labels?.[GROUP_INDEX_LABEL];
const engineUrl = (p: KubeObject) =>
  `http://${(p.status as { podIP: string }).podIP}:${(p.spec as { containers: { ports: { containerPort: number }[] }[] }).containers[0]!.ports[0]!.containerPort}`;

async function served(p: KubeObject): Promise<number> {
  const text = await (await fetch(`${engineUrl(p)}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^vllm:request_success_total\{[^}]*\}\s+(\S+)/gm)) n += Number(m[1]);
  return n;
}

async function complete(model: string): Promise<number> {
  try {
    const res = await fetch(`${gateway.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, prompt: 'hello', max_tokens: 4 }),
    });
    await res.text();
    return res.status;
  } catch {
    return 0;
  }
}

/** Scale to 2 and measure the time until group 1's engine has served a request sent through the gateway. */
async function scaleUpAndMeasure(name: string): Promise<number> {
  const start = performance.now();
  await client.patchScale(MODEL_INFERS, NS, name, 2);
  for (;;) {
    assert.ok(performance.now() - start < 20_000, 'the new replica serves within 20 s');
    assert.equal(await complete(name), 200);
    const second = (await pods(name)).find((p) => group(p) === '1' && isPodReady(p) && p.metadata.labels?.[WARM_LABEL] !== 'true');
    if (second && (await served(second)) > 0) return performance.now() - start;
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('warm pool: the warm replica sleeps unrouted; a scale-up claims it in a fraction of a cold start', async (t) => {
  await Promise.all([deploy('warm', 1), deploy('cold', 0)]);
  await until('warm: 2 ready pods, group 1 warm and asleep', async () => {
    const list = await pods('warm');
    const warm = list.find((p) => group(p) === '1');
    return list.filter(isPodReady).length === 2 && warm?.metadata.labels?.[WARM_LABEL] === 'true' && warm.metadata.annotations?.[SLEEP_LEVEL_ANNOTATION] === '1';
  }, 30_000);
  await until('cold: 1 ready pod', async () => (await pods('cold')).filter(isPodReady).length === 1, 30_000);

  // Asleep and not routed: every request goes to group 0.
  for (let i = 0; i < 6; i++) assert.equal(await complete('warm'), 200);
  const warmPod = (await pods('warm')).find((p) => group(p) === '1')!;
  assert.deepEqual(await (await fetch(`${engineUrl(warmPod)}/is_sleeping`)).json(), { is_sleeping: true });
  assert.equal(await served(warmPod), 0, 'the warm pod served nothing');
  const status = (await client.get<ModelInfer>(MODEL_INFERS, NS, 'warm'))!.status!;
  assert.deepEqual([status.replicas, status.readyReplicas, status.warmReplicas], [1, 1, 1]);

  const warmMs = await scaleUpAndMeasure('warm');
  const coldMs = await scaleUpAndMeasure('cold');
  t.diagnostic(`scale 1 → 2, time from the scale write to the new replica's first request through the gateway: warm pool (sleep level 1) ${warmMs.toFixed(0)} ms, cold start (--startup-seconds ${STARTUP_SECONDS}) ${coldMs.toFixed(0)} ms`);
  assert.ok(warmMs < coldMs / 2, `warm ${warmMs} ms is well under cold ${coldMs} ms`);

  // The pool is refilled: group 2 starts warm and goes to sleep.
  await until('warm: group 2 warm and asleep', async () => {
    const g2 = (await pods('warm')).find((p) => group(p) === '2');
    return !!g2 && isPodReady(g2) && g2.metadata.labels?.[WARM_LABEL] === 'true' && g2.metadata.annotations?.[SLEEP_LEVEL_ANNOTATION] === '1';
  }, 30_000);
  const after = (await client.get<ModelInfer>(MODEL_INFERS, NS, 'warm'))!.status!;
  assert.deepEqual([after.readyReplicas, after.warmReplicas], [2, 1]);
});

test('at zero with a warm pool: the held first request is answered once the gateway\'s 0 → 1 claims the warm replica', async (t) => {
  await Promise.all([deploy('zero-warm', 1, 0), deploy('zero-cold', 0, 0)]);
  await until('zero-warm: its one pod warm, ready and asleep', async () => {
    const list = await pods('zero-warm');
    return list.length === 1 && isPodReady(list[0]!) && list[0]!.metadata.labels?.[WARM_LABEL] === 'true' && list[0]!.metadata.annotations?.[SLEEP_LEVEL_ANNOTATION] === '1';
  }, 30_000);
  assert.equal((await pods('zero-cold')).length, 0);
  const firstRequest = async (name: string) => {
    const start = performance.now();
    assert.equal(await complete(name), 200);
    return performance.now() - start;
  };
  const warmMs = await firstRequest('zero-warm');
  const coldMs = await firstRequest('zero-cold');
  t.diagnostic(`first request at zero replicas, arrival → answer through the gateway (hold, 0 → 1 write, start): warm pool (sleep level 1) ${warmMs.toFixed(0)} ms, cold start (--startup-seconds ${STARTUP_SECONDS}) ${coldMs.toFixed(0)} ms`);
  assert.ok(warmMs < coldMs / 2, `warm ${warmMs} ms is well under cold ${coldMs} ms`);
  assert.equal((await client.get<ModelInfer>(MODEL_INFERS, NS, 'zero-warm'))!.spec.replicas, 1, 'the gateway wrote 0 → 1');
  const claimed = (await pods('zero-warm')).find((p) => group(p) === '0')!;
  assert.notEqual(claimed.metadata.labels?.[WARM_LABEL], 'true', 'the warm replica was claimed');
  assert.ok((await served(claimed)) >= 1, 'the claimed replica served the held request');
});
