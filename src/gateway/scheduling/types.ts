// The scheduling framework: filters narrow the candidates, scorers add weighted scores, a picker chooses.
// Everything runs synchronously on the request path, over data already in memory (the gateway's own counters
// now; scraped engine metrics, prefix indexes and LoRA state in later releases).
import type { IncomingHttpHeaders } from 'node:http';
import type { Endpoint } from './endpoint.ts';

/** What a plugin may look at. Fields are filled by the gateway before scheduling. */
export interface SchedulingRequest {
  /** Model name as requested. */
  model: string;
  /** The model name is a LoRA adapter (kept as requested, not rewritten to the base model). */
  lora?: boolean;
  /** Parsed request body (prompt-aware scorers read it). */
  body: Record<string, unknown> | undefined;
  headers: IncomingHttpHeaders;
  /** The matched route; its `scheduling` profile, when set, overrides the ModelServer's. */
  route?: { readonly scheduling?: unknown } | null;
  /** Attempts already made for this request (retries are scheduled with attempts > 0). */
  readonly attempts?: number;
  /** Endpoints this request already tried (a retry goes elsewhere); null or absent before the first retry. */
  readonly tried?: readonly Endpoint[] | null;
  /**
   * Prompt tokens the chosen pod is expected to prefill (the uncached part), written by the TTFT scorer at the pick
   * (0 otherwise); the exchange holds it on the pod as `Endpoint.pendingPrefill` until the first byte.
   */
  work?: number;
  /** Prompt characters, written by the TTFT scorer; the exchange calibrates the model's characters per token with it. */
  promptChars?: number;
}

export interface Filter {
  readonly name: string;
  /** Returns the surviving candidates (the input array itself when nothing is removed). */
  filter(req: SchedulingRequest, candidates: readonly Endpoint[]): readonly Endpoint[];
}

export interface Scorer {
  readonly name: string;
  readonly weight: number;
  /** Writes a score in [0, 100] for each candidate into `out` (same indexes), higher is better. */
  score(req: SchedulingRequest, candidates: readonly Endpoint[], out: Float64Array, all?: readonly Endpoint[]): void;
  /** Called once per decision before scoring (e.g. to hash the prompt). */
  prepare?(req: SchedulingRequest): void;
  /** Called with the chosen endpoint (e.g. to record the prompt's prefix there). */
  picked?(req: SchedulingRequest, ep: Endpoint): void;
}

/** The weight every scorer carries (a scorer's `score` is multiplied by it); default 1. */
export abstract class WeightedScorer implements Scorer {
  abstract readonly name: string;
  readonly weight: number;
  constructor(weight = 1) {
    this.weight = weight;
  }
  abstract score(req: SchedulingRequest, candidates: readonly Endpoint[], out: Float64Array, all?: readonly Endpoint[]): void;
}

export interface Picker {
  readonly name: string;
  /** Chooses among candidates by their total scores; `cursor` carries round-robin state between calls. */
  pick(candidates: readonly Endpoint[], scores: Float64Array, cursor: { rr: number }): Endpoint | undefined;
}
