// Response cache benchmark. Quality: the labelled pairs of bench/data/cache-pairs.tsv (paraphrases and
// near-duplicates that should hit; negations, antonyms, other numbers, units and entities that must not) go through
// the route cache itself (cache/cache.ts over the in-process store and the shipped static embedder): the first
// question is stored with its answer, the second looked up. Prints the hit rate (hits among should-hit pairs) and
// the false-hit rate (hits among must-not pairs) at the default threshold, per kind, with and without the guard,
// and a threshold sweep. A false-hit rate is never printed without the hit rate beside it, nor the other way round.
//
// Latency saved: the embedded API server, one simulated engine (its default latency profile) and a gateway in this
// process, a route with both tiers; for each should-hit pair, one at a time: the first question (a miss: the engine
// answers, the response is stored), the same again (exact hit) and the paraphrase (semantic hit, when it hits).
// Prints the client-side p50/p99 of each and the median latency a hit saves.
//
//   npm run bench -- cache [--smoke] [--threshold 0.85] [--thresholds 0.75,0.8,0.85,0.9,0.95] [--max-tokens 64]
//
// --smoke: 8 pairs for the latency part and 16 output tokens (the quality part is the same: about a second).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { startTestApiServer, projectCrds } from '../src/kube/testing/apiserver.ts';
import { startEngine } from '../src/engine/server.ts';
import { parseEngineArgs } from '../src/engine/options.ts';
import { startGateway } from '../src/gateway/gateway.ts';
import { until } from '../src/kube/testing/until.ts';
import { readyPod } from '../test/support/pods.ts';
import { RouteCache, type RouteCacheConfig } from '../src/gateway/cache/cache.ts';
import { MemoryStore } from '../src/gateway/cache/memory-store.ts';
import { cacheIdentity } from '../src/gateway/cache/request.ts';
import { entryFromJson } from '../src/gateway/cache/entry.ts';
import { parseCacheControl } from '../src/gateway/cache/eligibility.ts';
import { staticEmbedder } from '../src/gateway/cache/embedder/static.ts';
import { dot } from '../src/gateway/cache/embedder/embedder.ts';
import { DEFAULT_SEMANTIC_THRESHOLD } from '../src/gateway/cache/defaults.ts';

interface Pair {
  label: 'hit' | 'miss';
  kind: string;
  a: string;
  b: string;
}

export function readPairs(path = resolve(import.meta.dirname, 'data', 'cache-pairs.tsv')): Pair[] {
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  return lines.slice(1).map((l) => {
    const [label, kind, a, b] = l.split('\t') as [Pair['label'], string, string, string];
    return { label, kind, a, b };
  });
}

const NONE = parseCacheControl(undefined);
const ask = (q: string) => cacheIdentity('chat', { model: 'm', messages: [{ role: 'user', content: q }], temperature: 0 }, 'm', undefined);
const ANSWER = entryFromJson('chat', { model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'answer' }, finish_reason: 'stop' }] })!;

/** Does `b` hit after `a` was stored, through the route cache (semantic tier only, so exact repeats do not count)? */
async function served(pair: Pair, threshold: number, guard: boolean): Promise<boolean> {
  const embedder = staticEmbedder();
  if (!guard) return dot(embedder.embedSync(pair.a), embedder.embedSync(pair.b)) >= threshold;
  const config: RouteCacheConfig = { exact: { enabled: false, ttlMs: 0 }, semantic: { enabled: true, ttlMs: 60_000, threshold }, maxTemperature: 1, shared: true };
  const cache = new RouteCache(config, new MemoryStore(10), embedder);
  const first = ask(pair.a);
  const miss = await cache.lookup(first, 'm', NONE);
  await cache.save(first, 'm', ANSWER, miss.result === 'hit' ? undefined : miss.vector);
  return (await cache.lookup(ask(pair.b), 'm', NONE)).result === 'hit';
}

interface Rates {
  hitRate: number;
  falseHitRate: number;
  byKind: Map<string, { n: number; hits: number }>;
}

async function measure(pairs: Pair[], threshold: number, guard: boolean): Promise<Rates> {
  const byKind = new Map<string, { n: number; hits: number }>();
  let should = 0;
  let hits = 0;
  let mustNot = 0;
  let falseHits = 0;
  for (const p of pairs) {
    const hit = await served(p, threshold, guard);
    const k = byKind.get(p.kind) ?? { n: 0, hits: 0 };
    k.n++;
    if (hit) k.hits++;
    byKind.set(p.kind, k);
    if (p.label === 'hit') {
      should++;
      if (hit) hits++;
    } else {
      mustNot++;
      if (hit) falseHits++;
    }
  }
  return { hitRate: hits / should, falseHitRate: falseHits / mustNot, byKind };
}

const pct = (x: number) => (x * 100).toFixed(1) + ' %';

const NET = '/apis/networking.matrixinfer.ai/v1alpha1/namespaces/default';
const ENGINE_IP = '127.0.0.81';

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** Miss, exact-hit and semantic-hit latencies through a real gateway and simulated engine. */
async function latency(pairs: Pair[], threshold: number, maxTokens: number): Promise<void> {
  const api = await startTestApiServer();
  const engine = await startEngine(parseEngineArgs(['sim-model', '--host', ENGINE_IP, '--port', '0'], { warn: () => {} }));
  const gw = await startGateway({ kubeConfig: api.kubeConfig, port: 0, accessLog: new PassThrough().resume(), log: () => {}, scrapeIntervalMs: 0 });
  try {
    await api.installCrds(projectCrds());
    await gw.ready;
    await readyPod(api, 'sim-0', 'sim', ENGINE_IP);
    await api.call('POST', `${NET}/modelservers`, {
      apiVersion: 'networking.matrixinfer.ai/v1alpha1',
      kind: 'ModelServer',
      metadata: { name: 'sim' },
      spec: { modelInferRef: { name: 'sim' }, model: 'sim-model', service: { port: engine.port } },
    });
    await api.call('POST', `${NET}/modelroutes`, {
      apiVersion: 'networking.matrixinfer.ai/v1alpha1',
      kind: 'ModelRoute',
      metadata: { name: 'cached' },
      spec: { modelName: 'cached', rules: [{ targetModels: [{ modelServerName: 'sim' }] }], cache: { exact: {}, semantic: { threshold } } },
    });
    const ask = async (question: string): Promise<{ ms: number; cache: string | null }> => {
      const t0 = performance.now();
      const res = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'cached', messages: [{ role: 'user', content: question }], max_tokens: maxTokens, temperature: 0 }),
      });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      return { ms: performance.now() - t0, cache: res.headers.get('x-matrixinfer-cache') };
    };
    await until('the route served', async () => (await ask('warm up')).cache !== null);
    const miss: number[] = [];
    const exact: number[] = [];
    const semantic: number[] = [];
    for (const p of pairs) {
      const m = await ask(p.a);
      if (m.cache !== 'miss') continue;
      miss.push(m.ms);
      await new Promise((r) => setTimeout(r, 5)); // the store happens as the response ends
      const e = await ask(p.a);
      if (e.cache === 'hit') exact.push(e.ms);
      const s = await ask(p.b);
      if (s.cache === 'hit') semantic.push(s.ms);
    }
    const row = (name: string, xs: number[]) => `| ${name} | ${xs.length} | ${quantile(xs, 0.5).toFixed(2)} | ${quantile(xs, 0.99).toFixed(2)} |`;
    console.log(`\nlatency through the gateway (simulated engine, default profile, ${maxTokens} output tokens, one request at a time):`);
    console.log('| request | n | p50 ms | p99 ms |');
    console.log('|---|---|---|---|');
    console.log(row('miss (engine)', miss));
    console.log(row('exact hit', exact));
    console.log(row('semantic hit', semantic));
    const saved = quantile(miss, 0.5) - quantile(exact, 0.5);
    console.log(`\nlatency saved by a hit (median): ${saved.toFixed(1)} ms exact, ${(quantile(miss, 0.5) - quantile(semantic, 0.5)).toFixed(1)} ms semantic (miss ${(quantile(miss, 0.5) / quantile(exact, 0.5)).toFixed(0)}× an exact hit)`);
  } finally {
    await gw.close();
    await engine.close();
    await api.close();
  }
}

export async function run(argv: string[]): Promise<void> {
  const value = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const smoke = argv.includes('--smoke');
  const threshold = Number(value('--threshold') ?? DEFAULT_SEMANTIC_THRESHOLD);
  const maxTokens = Number(value('--max-tokens') ?? (smoke ? 16 : 64));
  const sweep = (value('--thresholds') ?? '0.75,0.8,0.85,0.9,0.95').split(',').map(Number);
  const pairs = readPairs();
  const should = pairs.filter((p) => p.label === 'hit').length;
  console.log(`cache quality: ${pairs.length} labelled pairs (${should} should hit, ${pairs.length - should} must not), embedder ${staticEmbedder().id}, semantic tier\n`);

  const withGuard = await measure(pairs, threshold, true);
  const noGuard = await measure(pairs, threshold, false);
  console.log(`threshold ${threshold}:`);
  console.log('| kind | label | pairs | served (guard) | served (similarity only) |');
  console.log('|---|---|---|---|---|');
  for (const [kind, k] of withGuard.byKind) {
    const label = pairs.find((p) => p.kind === kind)!.label;
    const n = noGuard.byKind.get(kind)!;
    console.log(`| ${kind} | ${label} | ${k.n} | ${k.hits} (${pct(k.hits / k.n)}) | ${n.hits} (${pct(n.hits / n.n)}) |`);
  }
  console.log(`\nhit rate ${pct(withGuard.hitRate)}, false-hit rate ${pct(withGuard.falseHitRate)} (similarity alone: ${pct(noGuard.hitRate)}, ${pct(noGuard.falseHitRate)})\n`);

  console.log('| threshold | hit rate | false-hit rate | similarity alone: hit rate | false-hit rate |');
  console.log('|---|---|---|---|---|');
  for (const t of sweep) {
    const g = await measure(pairs, t, true);
    const s = await measure(pairs, t, false);
    console.log(`| ${t} | ${pct(g.hitRate)} | ${pct(g.falseHitRate)} | ${pct(s.hitRate)} | ${pct(s.falseHitRate)} |`);
  }

  const hitPairs = pairs.filter((p) => p.label === 'hit');
  await latency(smoke ? hitPairs.slice(0, 8) : hitPairs, threshold, maxTokens);
}
