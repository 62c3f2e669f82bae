// Workloads of the routing benchmark (bench/routing.ts): deterministic (seeded) sessions of one or more turns that
// the load generator replays. Pure: no I/O here but reading the trace files.
//
//   shared     groups of requests sharing a long system prompt (`groups` of them, uniform popularity), 400-char
//              questions, a fixed output length
//   control    unique prompts of the same length (no sharing)
//   zipf       system prompts with Zipf(s) popularity over many distinct prefixes — more than the fleet's KV cache
//              holds — followed by a user part whose prompt and output token counts come from the Azure 2023 *code*
//              trace (long contexts, short outputs)
//   multiturn  conversations whose context grows turn by turn: a turn's prompt is the previous turn's prompt, the
//              engine's answer to it (the load generator appends the text it received) and a new user message;
//              exponential think time between turns. Turn 1's message and every turn's output length come from the
//              Azure 2023 *conversation* trace (turn 1 at most 8,000 tokens); a follow-up message has a quarter of a
//              trace record's prompt tokens; 2 to 2·meanTurns − 2 turns (uniform), fewer where the next turn would take
//              the context past 16,000 tokens (the engines hold 19,200 each). Conversations start at rate ÷ mean
//              turns, so requests arrive at about the step's rate.
//
// Rules: every random choice comes from a seeded generator (same seed, same sessions); a session's arrival time and
// think times are in benchmark time (already multiplied by the time scale); token counts become text at the
// measured characters per token of our word list under the engine's Llama-3 tokenizer.
//
// Trace lengths: read from ../shared/data/traces (relative to the repository) or `--traces DIR`. Where neither has the
// files, lengths come from log-normal distributions fitted (maximum likelihood: mean and standard deviation of
// ln tokens) to those same files, clipped to the trace's range — FITTED below — and the benchmark says so.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../src/engine/latency.ts';

export const WORKLOADS = ['shared', 'control', 'zipf', 'multiturn'] as const;
export type WorkloadName = (typeof WORKLOADS)[number];

/** Characters per Llama-3 token of `words()` text (measured: 6.49 over 100,000 characters). */
export const CHARS_PER_TOKEN = 6.5;

export interface Turn {
  /** Text appended to the context for this turn (turn 0: the whole prompt after the prefix). */
  user: string;
  /** max_tokens of this turn. */
  outTokens: number;
  /** Wait after the previous turn's answer before sending this one (0 for the first turn), ms. */
  thinkMs: number;
}

export interface Session {
  /** Start, ms after the load begins. */
  at: number;
  /** Rate step the session starts in. */
  step: number;
  /** Shared head of the first prompt (a system prompt), '' if none. */
  prefix: string;
  turns: Turn[];
}

export interface WorkloadOptions {
  seed: number;
  scale: number;
  /** Requests/s at scale 1 per step (a multi-turn workload starts conversations at rate / mean turns). */
  rates: number[];
  stepSeconds: number;
  groups: number;
  sysChars: number;
  questionChars: number;
  outTokens: number;
  /** zipf: distinct system prompts and the Zipf exponent of their popularity. */
  prefixes: number;
  zipfS: number;
  /** Trace output lengths are clipped to this. */
  maxOutputTokens: number;
  /** multiturn: turns per conversation are uniform in [2, 2·meanTurns − 2]; think time exponential (scale 1). */
  meanTurns: number;
  thinkSeconds: number;
}

// ---- token lengths ---------------------------------------------------------------------------------------------

export interface LengthPair {
  prompt: number;
  output: number;
}

export interface LengthSource {
  /** For the benchmark's header: where the lengths come from. */
  describe: string;
  sample(rng: () => number): LengthPair;
}

/** Log-normal fits of the Azure LLM inference traces 2023 (ln tokens: mean μ, standard deviation σ; range seen). */
export const FITTED = {
  conv: { prompt: { mu: 6.633, sigma: 0.985, min: 1, max: 14050 }, output: { mu: 5.019, sigma: 0.859, min: 1, max: 1000 } },
  code: { prompt: { mu: 6.999, sigma: 1.36, min: 1, max: 7437 }, output: { mu: 2.788, sigma: 0.847, min: 1, max: 1899 } },
} as const;
export type TraceName = keyof typeof FITTED;

/** Parses `TIMESTAMP,ContextTokens,GeneratedTokens` rows (header skipped) into token pairs. */
export function parseTraceLengths(text: string): LengthPair[] {
  const out: LengthPair[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(',');
    if (f.length < 3) continue;
    const prompt = Number(f[1]);
    const output = Number(f[2]);
    if (Number.isInteger(prompt) && Number.isInteger(output) && prompt > 0 && output > 0) out.push({ prompt, output });
  }
  return out;
}

function normal(rng: () => number): number {
  // Box–Muller; 1 − u keeps log away from 0.
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

function logNormal(rng: () => number, d: { mu: number; sigma: number; min: number; max: number }): number {
  return Math.min(d.max, Math.max(d.min, Math.round(Math.exp(d.mu + d.sigma * normal(rng)))));
}

/** The trace directory to read: `--traces DIR` if given, else ../shared/data/traces beside the repository, if there. */
export function traceDir(given: string | undefined): string | undefined {
  if (given !== undefined) return given;
  const dir = fileURLToPath(new URL('../../shared/data/traces/', import.meta.url));
  return existsSync(dir) ? dir : undefined;
}

/** Lengths from `azure-llm-2023-<name>.csv` in `dir`, or from the fitted log-normals when it is not there. */
export function lengthSource(name: TraceName, dir: string | undefined): LengthSource {
  const file = dir === undefined ? undefined : join(dir, `azure-llm-2023-${name}.csv`);
  if (file !== undefined && existsSync(file)) {
    const pairs = parseTraceLengths(readFileSync(file, 'utf8'));
    if (pairs.length > 0) return { describe: `${file} (${pairs.length} requests, sampled uniformly)`, sample: (rng) => pairs[Math.floor(rng() * pairs.length)]! };
  }
  const f = FITTED[name];
  return {
    describe:
      `no azure-llm-2023-${name}.csv (${dir === undefined ? 'no ../shared/data/traces and no --traces DIR' : `not in ${dir}`}): ` +
      `log-normal fitted to it, ln prompt tokens μ ${f.prompt.mu} σ ${f.prompt.sigma} (clipped ${f.prompt.min}–${f.prompt.max}), ` +
      `ln output tokens μ ${f.output.mu} σ ${f.output.sigma} (clipped ${f.output.min}–${f.output.max})`,
    sample: (rng) => ({ prompt: logNormal(rng, f.prompt), output: logNormal(rng, f.output) }),
  };
}

// ---- text ----------------------------------------------------------------------------------------------------------

const WORDS =
  'the model answers questions about routing caching engines tokens latency queues batches prompts groups users systems policy rules context memory blocks schedule decode prefill cluster gateway kernel tensor weight layer attention vector matrix stream request response metric label pod node service route server adapter session header value budget quota limit'.split(
    ' ',
  );

export function words(rng: () => number, chars: number): string {
  let s = '';
  while (s.length < chars) s += WORDS[Math.floor(rng() * WORDS.length)] + (rng() < 0.1 ? '. ' : ' ');
  return s.slice(0, chars);
}

/** Cumulative Zipf(s) weights over ranks 1..n, normalised to 1. */
export function zipfCdf(n: number, s: number): Float64Array {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) cdf[k] = total += 1 / Math.pow(k + 1, s);
  for (let k = 0; k < n; k++) cdf[k]! /= total;
  return cdf;
}

/** The rank (0-based) a uniform draw falls on. */
export function zipfPick(cdf: Float64Array, u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid]! < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ---- sessions --------------------------------------------------------------------------------------------------

const SEED_OF: Record<WorkloadName, number> = { shared: 1, control: 2, zipf: 3, multiturn: 4 };

/**
 * Poisson session starts at `rate / perSession` per step (rates at scale 1, divided by the time scale); `make` draws
 * each session's content right after its start time, from the same generator (the order the first two workloads
 * have always drawn in, so their sessions are unchanged).
 */
function poisson(o: WorkloadOptions, rng: () => number, perSession: number, make: (at: number, step: number, i: number) => Session): Session[] {
  const out: Session[] = [];
  let t = 0;
  o.rates.forEach((rate, step) => {
    const r = rate / o.scale / perSession;
    const end = (step + 1) * o.stepSeconds;
    for (;;) {
      t += -Math.log(1 - rng()) / r;
      if (t >= end) {
        t = end;
        break;
      }
      out.push(make(t * 1000, step, out.length));
    }
  });
  return out;
}

const tokensToChars = (tokens: number): number => Math.max(1, Math.round(tokens * CHARS_PER_TOKEN));

/** A conversation ends before a turn that would take its context past this (the engines hold 19,200 tokens each). */
export const MAX_CONTEXT_TOKENS = 16_000;

/** The sessions of `workload` (same options and seed, same sessions). `lengths` is needed for zipf and multiturn. */
export function buildSessions(o: WorkloadOptions, workload: WorkloadName, lengths?: LengthSource): Session[] {
  const rng = seededRandom(o.seed * 7919 + SEED_OF[workload]);
  const need = (): LengthSource => {
    if (lengths === undefined) throw new Error(`workload ${workload} needs a length source`);
    return lengths;
  };
  switch (workload) {
    case 'shared':
    case 'control': {
      const systems = Array.from({ length: o.groups }, (_, g) => `System prompt of group ${g}. ` + words(seededRandom(o.seed * 31 + g), o.sysChars));
      return poisson(o, rng, 1, (at, step, i) => {
        const question = words(rng, o.questionChars);
        return workload === 'shared'
          ? { at, step, prefix: systems[Math.floor(rng() * o.groups)]!, turns: [{ user: `\nQuestion: ${question}`, outTokens: o.outTokens, thinkMs: 0 }] }
          : { at, step, prefix: '', turns: [{ user: `Request ${i}: ${words(rng, o.sysChars)}\nQuestion: ${question}`, outTokens: o.outTokens, thinkMs: 0 }] };
      });
    }
    case 'zipf': {
      const src = need();
      const cdf = zipfCdf(o.prefixes, o.zipfS);
      // Built lazily: only the prefixes drawn are ever materialised.
      const systems = new Map<number, string>();
      const system = (k: number): string => {
        let s = systems.get(k);
        if (s === undefined) systems.set(k, (s = `System prompt ${k}. ` + words(seededRandom(o.seed * 131 + k), o.sysChars)));
        return s;
      };
      return poisson(o, rng, 1, (at, step, i) => {
        const k = zipfPick(cdf, rng());
        const len = src.sample(rng);
        return { at, step, prefix: system(k), turns: [{ user: `\nRequest ${i}: ${words(rng, tokensToChars(len.prompt))}`, outTokens: Math.min(o.maxOutputTokens, len.output), thinkMs: 0 }] };
      });
    }
    case 'multiturn': {
      const src = need();
      const maxTurns = Math.max(2, 2 * o.meanTurns - 2);
      return poisson(o, rng, (2 + maxTurns) / 2, (at, step, c) => {
        const n = 2 + Math.floor(rng() * (maxTurns - 1));
        const turns: Turn[] = [];
        let context = 0;
        for (let t = 0; t < n; t++) {
          const len = src.sample(rng);
          const tokens = t === 0 ? Math.min(len.prompt, MAX_CONTEXT_TOKENS / 2) : Math.max(1, Math.round(len.prompt / 4));
          const outTokens = Math.min(o.maxOutputTokens, len.output);
          const thinkMs = t === 0 ? 0 : -Math.log(1 - rng()) * o.thinkSeconds * o.scale * 1000;
          const user = words(rng, tokensToChars(tokens));
          if (context + tokens + outTokens > MAX_CONTEXT_TOKENS) break;
          context += tokens + outTokens;
          turns.push({ user: `${t === 0 ? `Conversation ${c}.` : ''}\nUser: ${user}\nAssistant:`, outTokens, thinkMs });
        }
        return { at, step, prefix: '', turns };
      });
    }
  }
}

/** Requests in `sessions` (turns summed). */
export const requestCount = (sessions: readonly Session[]): number => sessions.reduce((n, s) => n + s.turns.length, 0);
