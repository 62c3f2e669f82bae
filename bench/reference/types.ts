// Shapes of the published benchmark figures `npm run bench -- engine` prints beside the simulator's own.
// Every number in a Reference is copied from its source as published; nothing here is computed or estimated.

/** Where the figures were published and on what they were measured. */
export interface ReferenceSource {
  title: string;
  url: string;
  /** A second address holding the same text (e.g. the file in the publisher's repository). */
  mirror?: string;
  publisher: string;
  /** Date of the measurement or publication, as the source states it. */
  date: string;
  model: string;
  hardware: string;
  engine: string;
  /** Engine flags and client, as far as the source gives them. */
  setup: string;
}

/**
 * Closed loop: `concurrency` clients each send their next request as soon as the previous one finishes.
 * `promptSet` describes the prompts: `short-chat` = a small fixed set of one-sentence questions sent round robin as
 * one chat user message each (so the chat-template header and repeated prompts hit the prefix cache, as they did in
 * the source); `unique` = prompts of exactly `promptTokens` tokens that share nothing.
 */
export interface ClosedLoopWorkload {
  kind: 'closed-loop';
  api: 'chat' | 'completions';
  promptSet: { kind: 'short-chat'; distinct: number } | { kind: 'unique'; promptTokens: number };
  maxTokens: number;
  /** Whether the source forced exactly `maxTokens` output tokens. The bench always does (see `note`). */
  sourceIgnoreEos: boolean;
  concurrency: number[];
  /** Measurement length per level in the source. */
  sourceDurationS?: number;
}

/** Open loop: requests arrive as a Poisson process at `rate` per second, whatever the engine's progress. */
export interface PoissonWorkload {
  kind: 'poisson';
  api: 'chat' | 'completions';
  promptTokens: number;
  outputTokens: number;
  rates: number[];
  /** Requests the source sent per rate. */
  sourceRequests: number[];
}

export interface ReferencePoint {
  /** Concurrency (closed loop) or request rate in requests/s (Poisson). */
  level: number;
  /** Median time to first token, ms. */
  ttftP50Ms: number;
  /** Median over requests of time per output token after the first, ms (vLLM's "TPOT"). */
  tpotP50Ms: number;
  ttftP99Ms?: number;
  /** Output tokens per second over the whole level. */
  throughputTokS?: number;
  medianE2eMs?: number;
  /** Whether the profile's parameters were fitted to this point; when false, `why` says why not. */
  fitTtft: boolean;
  fitTpot: boolean;
  why?: string;
}

export interface Reference {
  /** The engine profile this calibrates (src/engine/profiles.ts). */
  profile: string;
  source: ReferenceSource;
  workload: ClosedLoopWorkload | PoissonWorkload;
  /** How the bench's workload differs from the source's, if at all. */
  deviations: string[];
  points: ReferencePoint[];
}
