// A rollback under load loses nothing. The platform in-process (embedded API server with admission, controller
// manager, node agent running simulated engines, gateway) serves a Model with 2 replicas at 20 req/s through the
// gateway with the openai SDK (no client retries; every other request streamed) while
//   1. its runtime changes (new engine args): revision 2, both pods rolled to the new template, then
//   2. `matrixinfer rollout undo model/NAME` (the CLI's rolloutUndo): the spec of revision 1 goes back, the controller
//      reuses that revision as 3, and both pods roll back to the original template (the same pod-template hash).
// Every request must get its whole answer. About 60 s.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import type { Model } from '../../src/api/kinds/index.ts';
import { REVISION_LABEL } from '../../src/api/labels.ts';
import { rolloutUndo } from '../../src/cli/rollout.ts';
import { MODELS, PODS } from '../../src/controllers/resources.ts';
import { isDeleting, isPodReady } from '../../src/kube/objects.ts';
import { until } from '../../src/kube/testing/until.ts';
import { startInProcessPlatform, type InProcessPlatform } from '../support/inprocess.ts';
import { testModel } from '../support/models.ts';

const NS = 'default';
const NAME = 'rollback';
const RATE = 20;
// ≈ 20 tokens × 10 ms per request: several run on each engine whenever one is stopped.
const ENGINE_ARGS = ['--time-to-first-token-ms', '20', '--inter-token-latency-ms', '10', '--inter-token-latency-per-seq-ms', '0'];

let platform: InProcessPlatform;
let openai: OpenAI;

/** Two ready pods of one template revision and nothing else: that revision. */
async function settled(): Promise<string | false> {
  const list = await platform.client.list(PODS, { namespace: NS, labelSelector: `workload.matrixinfer.ai/modelinfer-name=${NAME}` });
  const revisions = new Set(list.items.map((p) => p.metadata.labels?.[REVISION_LABEL] ?? ''));
  const steady = list.items.length === 2 && list.items.every((p) => isPodReady(p) && !isDeleting(p)) && revisions.size === 1;
  return steady && [...revisions][0]!;
}

async function currentRevision(): Promise<number | undefined> {
  return (await platform.client.get<Model>(MODELS, NS, NAME))?.status?.currentRevision;
}

/** One request through the SDK; undefined when it got its whole answer, else what went wrong. */
async function request(i: number): Promise<string | undefined> {
  try {
    if (i % 2 === 0) {
      const stream = await openai.completions.create({ model: NAME, prompt: `request ${i}`, max_tokens: 20, stream: true, ignore_eos: true } as never);
      let chunks = 0;
      for await (const _chunk of stream as unknown as AsyncIterable<unknown>) chunks++;
      return chunks >= 20 ? undefined : `stream ${i}: ${chunks} chunks`;
    }
    const completion = await openai.completions.create({ model: NAME, prompt: `request ${i}`, max_tokens: 20, ignore_eos: true } as never);
    return (completion as { usage?: { completion_tokens?: number } }).usage?.completion_tokens === 20 ? undefined : `request ${i}: incomplete`;
  } catch (err) {
    return `request ${i}: ${(err as Error).message}`;
  }
}

before(async () => {
  platform = await startInProcessPlatform();
  openai = new OpenAI({ baseURL: `${platform.gateway.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 30_000 });
  await platform.client.create(MODELS, testModel(NAME, NS, { runtime: { replicas: 2, args: ENGINE_ARGS } }));
  await until('two ready engines', settled, 60_000, 100);
  await until('the gateway serving', async () => (await request(-1)) === undefined, 30_000, 100);
});

after(() => platform?.stop());

test('a runtime change and its rollout undo roll both pods twice under 20 req/s, losing no request', async (t) => {
  const original = (await settled()) as string;
  assert.equal(await currentRevision(), 1);
  const failures: string[] = [];
  let sent = 0;
  let done = false;
  const inflight: Promise<void>[] = [];
  const started = Date.now();
  const driver = (async () => {
    for (let i = 0; !done; i++) {
      const due = started + (i * 1000) / RATE;
      if (due > Date.now()) await sleep(due - Date.now());
      sent++;
      inflight.push(request(i).then((failure) => void (failure && failures.push(failure))));
    }
  })();

  await sleep(2000);
  await platform.client.mergePatch(MODELS, NS, NAME, { spec: { runtime: { args: [...ENGINE_ARGS, '--max-num-seqs', '128'] } } });
  const changed = await until('both pods on the new template', async () => {
    const rev = await settled();
    return rev !== original && rev;
  }, 60_000, 100);
  assert.equal(await currentRevision(), 2);
  const rolledOut = Date.now();

  const lines: string[] = [];
  await rolloutUndo({ kc: platform.cluster.kubeConfig, namespace: NS, resources: () => Promise.reject(new Error('unused')) }, NAME, {}, (line) => lines.push(line));
  assert.deepEqual(lines, [`model.registry.matrixinfer.ai/${NAME} rolled back (to revision 1)`]);
  const back = await until('both pods on the original template', async () => {
    const rev = await settled();
    return rev === original && rev;
  }, 60_000, 100);
  await until('revision 1 reused as 3', async () => (await currentRevision()) === 3, 10_000, 50);
  const rolledBack = Date.now();
  await sleep(2000);
  done = true;
  await driver;
  await Promise.all(inflight);

  t.diagnostic(`sent ${sent} in ${((Date.now() - started) / 1000).toFixed(1)} s; rollout ${((rolledOut - started) / 1000).toFixed(1)} s, ` +
    `rollback ${((rolledBack - rolledOut) / 1000).toFixed(1)} s; failed ${failures.length}`);
  for (const f of failures.slice(0, 10)) t.diagnostic(f);
  assert.notEqual(changed, original);
  assert.equal(back, original);
  assert.ok(sent >= RATE * 10, `${sent} requests`);
  assert.deepEqual(failures, []);
});
