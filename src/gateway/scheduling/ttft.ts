// Expected time to first token: rank pods by how long a new request would wait for its first token there —
//
//   (prompt tokens queued ahead of it + its own uncached prompt tokens) / the pod's prefill rate
//
// (work.ts). The uncached part is the prompt minus the share the pod holds (prefix.ts: the pod's exact KV-event
// index when it publishes, else the approximate index of what the gateway sent it), so one number weighs cache
// affinity against load: a conversation's next turn goes back to the pod holding its history unless the work queued
// there outweighs the prefill it saves, and a hot prefix spills to a second pod once its pod's queue costs more
// than prefilling the prefix again (which then caches it there too). No separate load guard is needed.
//
// Rates: a pod not yet measured is taken at the candidates' mean measured rate (all unmeasured: equal rates, which
// cancel). Scores are min–max normalised, the quickest pod 100; equal estimates tie (the picker takes the least
// recently picked pod).
import type { Endpoint } from './endpoint.ts';
import { WeightedScorer, type SchedulingRequest } from './types.ts';
import { DEFAULT_PREFIX_CONFIG, PromptPrefix, type PrefixConfig } from './prefix.ts';
import { lowerIsBetter } from './scorers.ts';
import { estimateTokens } from './work.ts';

export class TtftScorer extends WeightedScorer {
  readonly name = 'ttft';
  readonly prompt: PromptPrefix;
  /** Prompt tokens of the request being scheduled, estimated from its characters. */
  #tokens = 0;

  constructor(weight: number, config: PrefixConfig = DEFAULT_PREFIX_CONFIG) {
    super(weight);
    this.prompt = new PromptPrefix(config);
  }

  prepare(req: SchedulingRequest): void {
    const prompt = this.prompt;
    prompt.prepare(req);
    req.promptChars = prompt.chars;
    this.#tokens = estimateTokens(req.model, prompt.chars);
  }

  /** Prompt tokens the pod would have to prefill for this request (at least one: the engine computes the last). */
  uncached(req: SchedulingRequest, ep: Endpoint): number {
    const exact = this.prompt.exactFor(ep) ? this.prompt.exactTokens(ep) : NaN;
    const tokens = Number.isNaN(exact) ? this.#tokens : exact;
    const u = tokens * (1 - this.prompt.share(req, ep));
    return u > 1 ? u : 1;
  }

  score(req: SchedulingRequest, candidates: readonly Endpoint[], out: Float64Array): void {
    const n = candidates.length;
    let rates = 0;
    let measured = 0;
    for (let i = 0; i < n; i++) {
      const r = candidates[i]!.prefill.rate;
      if (r > 0) {
        rates += r;
        measured++;
      }
    }
    const fallback = measured > 0 ? rates / measured : 1;
    for (let i = 0; i < n; i++) {
      const ep = candidates[i]!;
      const r = ep.prefill.rate;
      out[i] = (ep.queuedWork() + this.uncached(req, ep)) / (r > 0 ? r : fallback);
    }
    lowerIsBetter(out, n);
  }

  picked(req: SchedulingRequest, ep: Endpoint): void {
    req.work = Math.round(this.uncached(req, ep));
    this.prompt.record(req, ep);
  }
}
