// `npm run fuzz -- http1 [--iterations N] [--seed S] [--seconds T] [--only I]`: the differential fuzzer of the
// gateway's HTTP/1.1 request framing against llhttp (node:http's parser). Each input is generated
// (http1/generate.ts), parsed by both (http1/ours.ts, http1/llhttp.ts), and judged (http1/compare.ts); the
// summary counts every verdict and lists where ours is deliberately stricter or more lenient, with the reasons.
// Exits 1 if any input failed: each is printed as a JSON string with its seed and iteration (--only reruns one).
import { compare, isFailure, type Verdict } from './http1/compare.ts';
import { generate } from './http1/generate.ts';
import { parseLlhttp } from './http1/llhttp.ts';
import { parseOurs } from './http1/ours.ts';
import { LENIENT, STRICTER } from './http1/reasons.ts';
import type { Trace } from './http1/trace.ts';

/** Failures printed in full; the rest are counted. */
const PRINT_FAILURES = 10;

interface Options {
  iterations: number;
  seed: number;
  seconds: number;
  only: number;
}

function options(argv: string[]): Options {
  const o: Options = { iterations: 100_000, seed: 1, seconds: Infinity, only: -1 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = Number(argv[i + 1]);
    const key = argv[i]?.replace(/^--/, '');
    if (!(key === 'iterations' || key === 'seed' || key === 'seconds' || key === 'only') || !Number.isFinite(v)) {
      throw new Error(`usage: npm run fuzz -- http1 [--iterations N] [--seed S] [--seconds T] [--only I] (got ${JSON.stringify(argv[i])})`);
    }
    o[key] = v;
  }
  return o;
}

/** One input through both parsers and the comparator. */
export function fuzzOne(seed: number, i: number): { input: Buffer; ours: Trace; theirs: Trace; verdict: Verdict } {
  const { input, pieces } = generate(seed, i);
  const ours = parseOurs(input, pieces);
  const theirs = parseLlhttp(input);
  return { input, ours, theirs, verdict: compare(input, ours, theirs, parseLlhttp) };
}

export interface Tally {
  tried: number;
  counts: Map<string, number>;
  stricter: Map<string, number>;
  lenient: Map<string, number>;
  failures: number;
}

export function newTally(): Tally {
  return { tried: 0, counts: new Map(), stricter: new Map(), lenient: new Map(), failures: 0 };
}

export function count(t: Tally, v: Verdict): void {
  const add = (m: Map<string, number>, k: string): void => void m.set(k, (m.get(k) ?? 0) + 1);
  t.tried++;
  add(t.counts, v.kind);
  if (v.kind === 'ours-stricter') add(t.stricter, v.category);
  if (v.kind === 'ours-lenient') for (const c of v.categories) add(t.lenient, c);
  if (isFailure(v)) t.failures++;
}

function summary(t: Tally, o: Options, seconds: number): string {
  const n = (k: string): number => t.counts.get(k) ?? 0;
  const lines = [
    `http1 differential fuzz: ${t.tried} inputs, seed ${o.seed}, ${seconds.toFixed(1)} s (${Math.round(t.tried / seconds)}/s)`,
    `  both accept, same framing      ${n('agree')}`,
    `  same up to an upgrade          ${n('upgrade')}  (llhttp hands Upgrade/CONNECT to another protocol; we never switch, RFC 9110 §7.8)`,
    `  both reject                    ${n('both-reject')}`,
    `  llhttp rejects first           ${n('llhttp-early')}  (inside a head ours had not finished: nothing delivered)`,
    `  ours stricter                  ${n('ours-stricter')}`,
  ];
  for (const s of STRICTER) if (t.stricter.has(s.category)) lines.push(`    ${String(t.stricter.get(s.category)).padStart(8)}  ${s.category}: ${s.rfc}`);
  lines.push(`  ours more lenient, verified    ${n('ours-lenient')}  (llhttp agrees once the refused bytes are rewritten to an equivalent)`);
  for (const [key, l] of Object.entries(LENIENT)) if (t.lenient.has(key)) lines.push(`    ${String(t.lenient.get(key)).padStart(8)}  ${l.category}: ${l.rfc}`);
  lines.push(`  FAILURES                       ${t.failures}`);
  return lines.join('\n');
}

export async function run(argv: string[]): Promise<void> {
  const o = options(argv);
  const started = performance.now();
  const t = newTally();
  const from = o.only >= 0 ? o.only : 0;
  const to = o.only >= 0 ? o.only + 1 : o.iterations;
  for (let i = from; i < to; i++) {
    const r = fuzzOne(o.seed, i);
    count(t, r.verdict);
    if (isFailure(r.verdict) && t.failures <= PRINT_FAILURES) {
      process.stdout.write(
        `FAIL seed ${o.seed} iteration ${i} (npm run fuzz -- http1 --seed ${o.seed} --only ${i}): ${JSON.stringify(r.verdict)}\n` +
          `  input  ${JSON.stringify(r.input.toString('latin1'))}\n  ours   ${JSON.stringify(r.ours)}\n  llhttp ${JSON.stringify(r.theirs)}\n`,
      );
    }
    if (o.only >= 0) process.stdout.write(`input  ${JSON.stringify(r.input.toString('latin1'))}\nverdict ${JSON.stringify(r.verdict)}\nours   ${JSON.stringify(r.ours)}\nllhttp ${JSON.stringify(r.theirs)}\n`);
    if ((i & 1023) === 0 && (performance.now() - started) / 1000 > o.seconds) break;
  }
  process.stdout.write(summary(t, o, (performance.now() - started) / 1000) + '\n');
  if (t.failures > 0) process.exitCode = 1;
}
