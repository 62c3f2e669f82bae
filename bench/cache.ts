// Response cache benchmark. Quality: the labelled pairs of bench/data/cache-pairs.tsv (paraphrases and
// near-duplicates that should hit; negations, antonyms, other numbers, units and entities that must not) go through
// the route cache itself (cache/cache.ts over the in-process store and the shipped static embedder): the first
// question is stored with its answer, the second looked up. Prints the hit rate (hits among should-hit pairs) and
// the false-hit rate (hits among must-not pairs) at the default threshold, per kind, with and without the guard,
// and a threshold sweep. A false-hit rate is never printed without the hit rate beside it, nor the other way round.
//
//   npm run bench -- cache [--smoke] [--threshold 0.85] [--thresholds 0.75,0.8,0.85,0.9,0.95]
//
// --smoke runs the same (it takes about a second).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
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

export async function run(argv: string[]): Promise<void> {
  const value = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const threshold = Number(value('--threshold') ?? DEFAULT_SEMANTIC_THRESHOLD);
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
}
