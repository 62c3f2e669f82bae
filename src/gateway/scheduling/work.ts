// Load measured in work: how many prompt tokens stand between a new request and its first token on a pod, and how
// fast the pod gets through them. Read by the TTFT scorer (ttft.ts); kept up by the exchange (http/exchange.ts).
//
// - Token counts come from the prompt's characters at the model's measured characters per token: every answered
//   request's usage.prompt_tokens (what the engine really prefilled, chat template included) against the characters
//   the gateway saw, as a moving average per model (4 until the first answer, the usual figure for English text with
//   Llama-3-class tokenizers). Tokenizing (and block-hashing) a new prompt on the request path measured ≈ 130 µs for
//   2 KB and ≈ 13 ms for 200 KB (gateway README, KV events); this costs one division, the characters being counted
//   while the prompt is hashed anyway. Pods with an exact KV-event index are scored on real token counts.
// - Each pod's pending prefill work is the sum of the uncached prompt tokens of the gateway's requests there that
//   have had no response byte yet (Endpoint.pendingPrefill, raised and lowered with `awaiting`).
// - Each pod's prefill rate is measured from those same requests: at a first byte, the work that was ahead of the
//   request when it was sent plus its own, over the time it took (decayed sums, so the rate follows the pod). Only
//   requests carrying at least MIN_SAMPLE_TOKENS count: below that the engine's fixed per-step cost dominates and
//   the ratio says little about throughput.

/** Characters per token assumed for a model before its first answer with usage. */
export const DEFAULT_CHARS_PER_TOKEN = 4;
const CALIBRATION_WEIGHT = 0.05;
const MIN_CHARS_PER_TOKEN = 1;
const MAX_CHARS_PER_TOKEN = 16;
/** Bounds the calibration map (one entry per model name clients ask for, LoRA adapters included). */
const MAX_MODELS = 4096;

const charsPerToken = new Map<string, number>();

/** The model's characters per token as measured so far. */
export function charsPerTokenOf(model: string): number {
  return charsPerToken.get(model) ?? DEFAULT_CHARS_PER_TOKEN;
}

/** Prompt tokens estimated from characters. */
export function estimateTokens(model: string, chars: number): number {
  return chars / charsPerTokenOf(model);
}

/** An answered request: `chars` prompt characters came to `tokens` prompt tokens on the engine. */
export function calibrateTokens(model: string, chars: number, tokens: number): void {
  if (!(chars > 0 && tokens > 0)) return;
  let ratio = chars / tokens;
  ratio = ratio < MIN_CHARS_PER_TOKEN ? MIN_CHARS_PER_TOKEN : ratio > MAX_CHARS_PER_TOKEN ? MAX_CHARS_PER_TOKEN : ratio;
  const old = charsPerToken.get(model);
  if (old === undefined && charsPerToken.size >= MAX_MODELS) charsPerToken.clear();
  charsPerToken.set(model, old === undefined ? ratio : old + CALIBRATION_WEIGHT * (ratio - old));
}

/** Forget every calibration (tests). */
export function resetTokenCalibration(): void {
  charsPerToken.clear();
}

/** Requests carrying fewer prompt tokens (with the work ahead of them) are no rate sample. */
export const MIN_SAMPLE_TOKENS = 256;
const RATE_DECAY = 0.9;
const MEAN_WORK_WEIGHT = 0.1;

/** One pod's prefill throughput and the mean work of a request sent to it. */
export class PrefillMeter {
  #tokens = 0;
  #ms = 0;
  #meanWork = 0;

  /** Prompt tokens per millisecond, NaN before the first sample. */
  get rate(): number {
    return this.#ms > 0 ? this.#tokens / this.#ms : NaN;
  }

  /** The decayed sums behind `rate` (pooled over pods by the TTFT scorer). */
  get tokens(): number {
    return this.#tokens;
  }
  get ms(): number {
    return this.#ms;
  }

  /** Moving mean of the uncached prompt tokens of requests sent here (prices other senders' queued requests). */
  get meanWork(): number {
    return this.#meanWork;
  }

  /** A request carrying `tokens` of prefill work was sent here. */
  sent(tokens: number): void {
    this.#meanWork = this.#meanWork === 0 ? tokens : this.#meanWork + MEAN_WORK_WEIGHT * (tokens - this.#meanWork);
  }

  /** A request's first byte came `ms` after it was sent, with `tokens` of work (its own and what was ahead of it). */
  observe(tokens: number, ms: number): void {
    if (tokens < MIN_SAMPLE_TOKENS || !(ms > 0)) return;
    this.#tokens = this.#tokens * RATE_DECAY + tokens;
    this.#ms = this.#ms * RATE_DECAY + ms;
  }
}
