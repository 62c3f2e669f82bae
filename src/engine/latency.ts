// The latency model of the simulated engine: how long one engine step takes, given what the step computes.
//
// The engine runs in steps like vLLM's V1 engine core: every step carries one token for each sequence that is
// decoding and a slice of prompt tokens ("prefill", chunked to the step's token budget) for sequences being admitted.
// A step's duration is
//
//   step_ms = max(P > 0 ? timeToFirstTokenMs : 0, D > 0 ? interTokenLatencyMs : 0)
//           + interTokenLatencyPerSeqMs × max(D − 1, 0)          per-sequence decode compute, sampling, output
//           + interTokenLatencyPerKvTokenMs × K                  attention reads the KV cache of every decoding token
//           + prefillTimePerTokenMs × P                          prefill GEMMs
//           + prefillAttentionTimeMs × A                         prefill attention (quadratic in context)
//           + interTokenLatencyPerSeqMs × V + S                  speculative decoding: V proposed tokens verified,
//                                                                S the drafter's steps (speculative.ts)
//
// scaled by (1 + jitter × u), u uniform in [−1, 1] from a seeded generator, where D is the number of decoding
// sequences in the step, K the sum of their context lengths, P the number of (uncached) prompt tokens it prefills and
// A = Σ over prefill chunks of chunk × (context before the chunk + chunk / 2), the token pairs causal attention
// computes. Consequences:
//   - a lone request sees TTFT = timeToFirstTokenMs + prefillTimePerTokenMs × uncached prompt (+ a small quadratic
//     term for long prompts) and ITL ≈ interTokenLatencyMs;
//   - ITL grows with the batch and with the batch's context (memory-bound decode reads the weights once per step,
//     plus every sequence's KV cache);
//   - a prefill admitted while others decode stretches that step for everybody, as in a real engine (the ITL spikes
//     that chunked prefill bounds with --max-num-batched-tokens).
// Values come from a named profile (profiles.ts); every one can be overridden by its flag.

export interface LatencyParams {
  /** Fixed cost (ms) of a step that prefills anything: the TTFT of a tiny prompt on an idle engine. */
  timeToFirstTokenMs: number;
  /** Cost (ms) per prompt token prefilled in a step. */
  prefillTimePerTokenMs: number;
  /** Cost (ms) per (prefilled token × context token) pair: prefill attention, significant beyond ~10k tokens. */
  prefillAttentionTimeMs: number;
  /** Duration (ms) of a decode step with one sequence: the ITL of a lone request. */
  interTokenLatencyMs: number;
  /** Extra duration (ms) per additional decoding sequence in the step. */
  interTokenLatencyPerSeqMs: number;
  /** Extra duration (ms) per context token of the decoding sequences (KV-cache reads). */
  interTokenLatencyPerKvTokenMs: number;
  /** Prefill/decode disaggregation: fixed cost (ms) of pulling a prompt's KV cache from the prefill engine. */
  kvTransferLatencyMs: number;
  /** ... plus this per transferred prompt token (ms). */
  kvTransferTimePerTokenMs: number;
  /** Relative step-time noise, 0 (deterministic, the default) to 0.5. */
  jitter: number;
}

/** What one engine step computes. */
export interface StepShape {
  /** Sequences producing their next token from a single new token (decode). */
  decodeSeqs: number;
  /** Prompt (or recomputed) tokens prefilled in this step. */
  prefillTokens: number;
  /** Sum of the context lengths of the decoding sequences. */
  decodeContextTokens?: number;
  /** Σ chunk × (context before the chunk + chunk / 2) over the prefill chunks of the step. */
  prefillAttentionPairs?: number;
  /** Speculative decoding: proposed tokens the target verifies besides each sequence's own next token. */
  verifyTokens?: number;
  /** Speculative decoding: the drafter's time before the target's pass (ms). */
  draftMs?: number;
}

/** Duration in milliseconds of a step of the given shape; `random` returns uniform [0, 1) for jitter. */
export function stepDurationMs(params: LatencyParams, shape: StepShape, random?: () => number): number {
  const { decodeSeqs: d, prefillTokens: p } = shape;
  if (d <= 0 && p <= 0) return 0;
  const fixed = Math.max(p > 0 ? params.timeToFirstTokenMs : 0, d > 0 ? params.interTokenLatencyMs : 0);
  let ms =
    fixed +
    params.interTokenLatencyPerSeqMs * (Math.max(d - 1, 0) + (shape.verifyTokens ?? 0)) +
    (d > 0 ? (shape.draftMs ?? 0) : 0) +
    params.interTokenLatencyPerKvTokenMs * (shape.decodeContextTokens ?? 0) +
    params.prefillTimePerTokenMs * p +
    params.prefillAttentionTimeMs * (shape.prefillAttentionPairs ?? 0);
  if (params.jitter > 0 && random) ms *= 1 + params.jitter * (2 * random() - 1);
  return ms > 0 ? ms : 0;
}

/** Time (ms) to pull `tokens` prompt tokens of KV cache from a prefill engine. */
export function kvTransferMs(params: LatencyParams, tokens: number): number {
  return params.kvTransferLatencyMs + params.kvTransferTimePerTokenMs * tokens;
}

/** Attention pairs of prefilling `chunk` tokens after `context` tokens already in the cache. */
export function attentionPairs(context: number, chunk: number): number {
  return chunk * (context + chunk / 2);
}

/** Small fast seeded PRNG (mulberry32); returns a function yielding uniform [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export { DEFAULT_LATENCY } from './profiles.ts';
