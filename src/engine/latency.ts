// The latency model of the simulated engine: how long one engine step takes, given what the step computes.
//
// The engine runs in steps like vLLM's V1 engine core: every step carries one token for each sequence that is
// decoding and a slice of prompt tokens ("prefill", chunked to the step's token budget) for sequences being admitted.
// A step's duration is
//
//   step_ms = max(P > 0 ? timeToFirstTokenMs : 0, D > 0 ? interTokenLatencyMs : 0)
//           + interTokenLatencyPerSeqMs × max(D − 1, 0)
//           + prefillTimePerTokenMs × P
//
// scaled by (1 + jitter × u), u uniform in [−1, 1], where D is the number of decoding sequences in the step and P the
// number of prompt tokens it prefills (uncached tokens only, once prefix caching exists). Consequences:
//   - a lone request sees TTFT = timeToFirstTokenMs + prefillTimePerTokenMs × prompt_tokens and ITL =
//     interTokenLatencyMs;
//   - ITL grows linearly with the batch (memory-bound decode reads the weights once per step, plus per-sequence
//     attention and KV reads);
//   - a prefill admitted while others decode stretches that step for everybody, as in a real engine (the ITL spikes
//     that chunked prefill bounds with --max-num-batched-tokens).
//
// Defaults model Llama-3.1-8B-Instruct in bf16 on one H100-80GB SXM under vLLM V1 (see README.md for the sources):
//   interTokenLatencyMs 7       weights (16 GB) / HBM3 bandwidth (3.35 TB/s) ≈ 4.8 ms plus kernel and sampling
//                               overhead; published single-stream TPOT for this pair is 6-8 ms.
//   interTokenLatencyPerSeqMs 0.12  published TPOT ≈ 14-15 ms at 64 concurrent streams and ≈ 35-40 ms at 256.
//   prefillTimePerTokenMs 0.04  2 × 8e9 FLOPs per token at ≈ 40 % of the 989 TFLOPS bf16 peak: ≈ 25k prompt tokens/s.
//   timeToFirstTokenMs 15       one forward pass plus scheduling, tokenization and detokenization overhead; idle
//                               TTFT for short prompts is 12-20 ms in public measurements.

export interface LatencyParams {
  /** Fixed cost (ms) of a step that prefills anything: the TTFT of a tiny prompt on an idle engine. */
  timeToFirstTokenMs: number;
  /** Cost (ms) per prompt token prefilled in a step. */
  prefillTimePerTokenMs: number;
  /** Duration (ms) of a decode step with one sequence: the ITL of a lone request. */
  interTokenLatencyMs: number;
  /** Extra duration (ms) per additional decoding sequence in the step. */
  interTokenLatencyPerSeqMs: number;
  /** Relative step-time noise, 0 (deterministic, the default) to 0.5. */
  jitter: number;
}

export const DEFAULT_LATENCY: Readonly<LatencyParams> = Object.freeze({
  timeToFirstTokenMs: 15,
  prefillTimePerTokenMs: 0.04,
  interTokenLatencyMs: 7,
  interTokenLatencyPerSeqMs: 0.12,
  jitter: 0,
});

/** What one engine step computes. */
export interface StepShape {
  /** Sequences producing their next token from a single new token (decode). */
  decodeSeqs: number;
  /** Prompt (or recomputed) tokens prefilled in this step. */
  prefillTokens: number;
}

/** Duration in milliseconds of a step of the given shape; `random` returns uniform [0, 1) for jitter. */
export function stepDurationMs(params: LatencyParams, shape: StepShape, random?: () => number): number {
  const { decodeSeqs: d, prefillTokens: p } = shape;
  if (d <= 0 && p <= 0) return 0;
  const fixed = Math.max(p > 0 ? params.timeToFirstTokenMs : 0, d > 0 ? params.interTokenLatencyMs : 0);
  let ms = fixed + params.interTokenLatencyPerSeqMs * Math.max(d - 1, 0) + params.prefillTimePerTokenMs * p;
  if (params.jitter > 0 && random) ms *= 1 + params.jitter * (2 * random() - 1);
  return ms > 0 ? ms : 0;
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
