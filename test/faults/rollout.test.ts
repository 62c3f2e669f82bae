// Rolling updates and pod deaths under load lose nothing. The platform in-process — embedded API server with the
// project's admission, controllers, the node agent running simulated engines as processes on their own pod IPs,
// the gateway — serves a Model with 2 replicas at 30 req/s for 30 s while
//   1. its runtime changes (new engine args: the ModelInfer controller starts a surge pod, then replaces both pods
//      one at a time, each once the others are ready; each old engine gets SIGTERM, drains, exits), and
//   2. one engine is SIGKILLed mid-run.
// Every request must get its 200 and whole body; in the second run a stream the dead engine had already started may
// instead end with the SSE error event (the client saw bytes, nothing can be retried). Then a Model with a single
// replica changes its runtime under 25 req/s for 15 s: the default maxSurge (25%, rounded up: 1) starts a surge
// engine before the only old one goes, so not one request finds no pod. Also: an engine's error reaches the client
// in the OpenAI shape. About 85 s in all.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Model } from '../../src/api/kinds/index.ts';
import { REVISION_LABEL } from '../../src/api/labels.ts';
import { MODELS, PODS } from '../../src/controllers/resources.ts';
import type { GatewayHandle } from '../../src/gateway/gateway.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { isDeleting, isPodReady } from '../../src/kube/objects.ts';
import { until } from '../../src/kube/testing/until.ts';
import { startInProcessPlatform, type InProcessPlatform } from '../support/inprocess.ts';

const NS = 'default';
const NAME = 'roll';
const SOLO = 'solo';
const RATE = 30;
const DURATION_MS = 30_000;
// Requests of ≈ 20 tokens × 10 ms: several are running on each engine whenever one is stopped.
const ENGINE_ARGS = ['--time-to-first-token-ms', '20', '--inter-token-latency-ms', '10', '--inter-token-latency-per-seq-ms', '0'];

const agentLog: string[] = [];
let platform: InProcessPlatform;
let client: KubeClient;
let gateway: GatewayHandle;
const accessLog: Array<Record<string, unknown>> = [];

function model(args: string[], name = NAME, replicas = 2): Model {
  return {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'Model',
    metadata: { name, namespace: NS },
    spec: {
      modelSpec: { modelId: 'roll-v1', framework: 'pytorch', version: '1.0.0', source: { uri: 'huggingface://meta-llama/Llama-2-7b-hf' } },
      runtime: { image: 'matrixinfer/pytorch-runtime:latest', replicas, args },
    },
  } as Model;
}

interface PodView {
  name: string;
  revision: string;
  ready: boolean;
  deleting: boolean;
}

async function pods(name = NAME): Promise<PodView[]> {
  const list = await client.list(PODS, { namespace: NS, labelSelector: `workload.matrixinfer.ai/modelinfer-name=${name}` });
  return list.items.map((p) => ({ name: p.metadata.name!, revision: p.metadata.labels?.[REVISION_LABEL] ?? '', ready: isPodReady(p), deleting: isDeleting(p) }));
}

/** `count` ready pods of one revision and nothing else; that revision. */
async function settled(name = NAME, count = 2): Promise<string | false> {
  const all = await pods(name);
  const revisions = new Set(all.map((p) => p.revision));
  return all.length === count && all.every((p) => p.ready && !p.deleting) && revisions.size === 1 && [...revisions][0]!;
}

type Outcome = 'ok' | 'sse_error' | 'lost';

interface Tally {
  sent: number;
  ok: number;
  sseError: number;
  lost: number;
  failures: string[];
}

/** One request, streamed or not; 'ok' only for a 200 with the whole body. */
async function request(i: number, name = NAME): Promise<{ outcome: Outcome; detail: string }> {
  const stream = i % 2 === 0;
  try {
    const res = await fetch(`${gateway.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': `load-${i}` },
      body: JSON.stringify({ model: name, prompt: `request ${i} says hello`, max_tokens: 20, ignore_eos: true, stream }),
    });
    const text = await res.text();
    if (res.status !== 200) return { outcome: 'lost', detail: `${res.status} ${text.slice(0, 300)}` };
    if (!stream) {
      const body = JSON.parse(text) as { usage?: { completion_tokens?: number } };
      return body.usage?.completion_tokens === 20 ? { outcome: 'ok', detail: '' } : { outcome: 'lost', detail: `incomplete ${text.slice(0, 300)}` };
    }
    if (text.trimEnd().endsWith('data: [DONE]')) return { outcome: 'ok', detail: '' };
    if (/data: \{"error":\{[^\n]*"code":"upstream_error"/.test(text)) return { outcome: 'sse_error', detail: text.slice(-300) };
    return { outcome: 'lost', detail: `stream cut: ${text.slice(-300)}` };
  } catch (err) {
    return { outcome: 'lost', detail: `fetch failed: ${String((err as Error).cause ?? err)}` };
  }
}

/** `rate` req/s for `durationMs` (open loop: a slow answer does not slow the sending); `during` runs alongside. */
async function load(during: () => Promise<void>, { rate = RATE, durationMs = DURATION_MS, name = NAME } = {}): Promise<Tally> {
  const tally: Tally = { sent: 0, ok: 0, sseError: 0, lost: 0, failures: [] };
  const inflight: Promise<void>[] = [];
  const start = Date.now();
  const sideline = during();
  for (let i = 0; Date.now() - start < durationMs; i++) {
    const due = start + (i * 1000) / rate;
    if (due > Date.now()) await sleep(due - Date.now());
    tally.sent++;
    inflight.push(
      request(i, name).then(({ outcome, detail }) => {
        if (outcome === 'ok') tally.ok++;
        else if (outcome === 'sse_error') tally.sseError++;
        else tally.lost++;
        if (outcome !== 'ok') tally.failures.push(`load-${i}: ${outcome} ${detail}`);
      }),
    );
  }
  await Promise.all(inflight);
  await sideline;
  return tally;
}

before(async () => {
  const out = new PassThrough();
  out.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line) accessLog.push(JSON.parse(line) as Record<string, unknown>);
  });
  platform = await startInProcessPlatform({ backend: 'embedded', agentLog, accessLog: out });
  ({ client, gateway } = platform);
  await client.create(MODELS, model(ENGINE_ARGS));
  await until('two ready engines', settled, 60_000, 100);
  await until('the gateway serving', async () => (await request(-1)).outcome === 'ok', 30_000, 100);
});

after(() => platform?.stop());

function report(t: { diagnostic(message: string): void }, name: string, tally: Tally, startedMs: number): void {
  const retried = accessLog.filter((l) => Number(l.attempts) > 1).length;
  t.diagnostic(`${name}: sent ${tally.sent}, ok ${tally.ok}, sse error events ${tally.sseError}, lost ${tally.lost}; ` +
    `${retried} retried by the gateway; ${((Date.now() - startedMs) / 1000).toFixed(1)} s`);
  for (const f of tally.failures.slice(0, 10)) t.diagnostic(f.replaceAll('\n', '\\n'));
}

test('a runtime change rolls both pods under 30 req/s and loses no request', async (t) => {
  const started = Date.now();
  accessLog.length = 0;
  const before = await settled();
  assert.ok(before);
  let after: string | false = false;
  const tally = await load(async () => {
    await sleep(3000);
    await client.mergePatch(MODELS, NS, NAME, { spec: { runtime: { args: [...ENGINE_ARGS, '--max-num-seqs', '128'] } } });
    after = await until('both pods replaced', async () => {
      const rev = await settled();
      return rev !== before && rev;
    }, DURATION_MS - 4000, 100);
  });
  report(t, 'rollout', tally, started);
  assert.ok(after && after !== before, 'the rollout completed while the load ran');
  assert.equal(tally.sent, tally.ok, tally.failures.join('\n'));
  assert.equal(tally.lost + tally.sseError, 0);
});

test('an engine SIGKILLed under 30 req/s: nothing is lost but streams it had started', async (t) => {
  const started = Date.now();
  accessLog.length = 0;
  let killed = '';
  const tally = await load(async () => {
    await sleep(5000);
    const victim = (await pods()).find((p) => p.ready)!;
    const pid = platform.agent.inspect(NS, victim.name)?.pids.engine;
    assert.ok(pid, `pid of ${victim.name}`);
    process.kill(pid, 'SIGKILL');
    killed = victim.name;
    // The agent restarts the container (restartPolicy Always) and the pod comes back.
    await until('the killed pod ready again', async () => (await settled()) !== false, DURATION_MS - 6000, 100);
  });
  report(t, `SIGKILL of ${killed}`, tally, started);
  assert.equal(tally.lost, 0, tally.failures.join('\n'));
  assert.equal(tally.ok + tally.sseError, tally.sent);
  // A few streams at most were running on the victim when it died (≈ 30 req/s × 0.25 s / 2 pods / 2 for streams).
  assert.ok(tally.sseError <= 10, `${tally.sseError} streams broken`);
});

test('a single-replica Model changes its runtime under 25 req/s: a surge engine serves during the swap, no request is lost', async (t) => {
  const SOLO_MS = 15_000;
  await client.create(MODELS, model(ENGINE_ARGS, SOLO, 1));
  const before = await until('one ready engine', () => settled(SOLO, 1), 60_000, 100);
  await until('the gateway serving it', async () => (await request(-1, SOLO)).outcome === 'ok', 30_000, 100);
  const started = Date.now();
  accessLog.length = 0;
  let after: string | false = false;
  let most = 0;
  const tally = await load(async () => {
    await sleep(2000);
    await client.mergePatch(MODELS, NS, SOLO, { spec: { runtime: { args: [...ENGINE_ARGS, '--max-num-seqs', '128'] } } });
    after = await until('the pod replaced', async () => {
      const all = await pods(SOLO);
      most = Math.max(most, all.filter((p) => !p.deleting).length);
      const rev = await settled(SOLO, 1);
      return rev !== before && rev;
    }, SOLO_MS - 3000, 100);
  }, { rate: 25, durationMs: SOLO_MS, name: SOLO });
  report(t, 'single-replica rollout', tally, started);
  t.diagnostic(`at most ${most} pods at once during the rollout`);
  assert.ok(after && after !== before, 'the rollout completed while the load ran');
  assert.equal(tally.sent, tally.ok, tally.failures.join('\n'));
  assert.equal(tally.lost + tally.sseError, 0);
  assert.equal(most, 2, 'one surge pod');
});

test("an engine's error reaches the client in the OpenAI shape with the engine's status and message", async () => {
  const res = await fetch(`${gateway.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: NAME, prompt: 'hello', max_tokens: 1_000_000 }),
  });
  assert.equal(res.status, 400);
  const body = (await res.json()) as { error: { message: string; type: string; code: unknown } };
  assert.match(body.error.message, /maximum context length/i);
  assert.equal(typeof body.error.type, 'string');
  assert.ok(body.error.code !== undefined);
});
