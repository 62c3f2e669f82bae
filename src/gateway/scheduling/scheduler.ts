// filters → scorers (weighted sum) → picker, over a ModelServer's ready endpoints.
import type { Endpoint } from './endpoint.ts';
import type { Filter, Picker, Scorer, SchedulingRequest } from './types.ts';
import { LeastOutstandingScorer } from './least-outstanding.ts';
import { MaxScoreRoundRobinPicker } from './pickers.ts';

export interface SchedulerConfig {
  filters?: Filter[];
  scorers?: Scorer[];
  picker?: Picker;
}

export class Scheduler {
  readonly filters: readonly Filter[];
  readonly scorers: readonly Scorer[];
  readonly picker: Picker;
  // Scratch buffers reused by every call (scheduling is synchronous, so one set is enough).
  #total = new Float64Array(64);
  #one = new Float64Array(64);

  constructor(config: SchedulerConfig = {}) {
    this.filters = config.filters ?? [];
    this.scorers = config.scorers ?? [new LeastOutstandingScorer()];
    this.picker = config.picker ?? new MaxScoreRoundRobinPicker();
  }

  /** The chosen endpoint, or undefined when none is left. */
  schedule(req: SchedulingRequest, endpoints: readonly Endpoint[], cursor: { rr: number }): Endpoint | undefined {
    let candidates = endpoints;
    if (req.exclude !== undefined) candidates = candidates.filter((e) => e !== req.exclude);
    for (let i = 0; i < this.filters.length && candidates.length > 0; i++) candidates = this.filters[i]!.filter(req, candidates);
    const n = candidates.length;
    if (n === 0) return undefined;
    if (n === 1) return candidates[0];
    if (this.#total.length < n) {
      this.#total = new Float64Array(n * 2);
      this.#one = new Float64Array(n * 2);
    }
    const total = this.#total;
    const one = this.#one;
    total.fill(0, 0, n);
    const scorers = this.scorers;
    if (scorers.length === 1 && scorers[0]!.weight === 1) {
      scorers[0]!.score(req, candidates, total);
    } else {
      for (let s = 0; s < scorers.length; s++) {
        const scorer = scorers[s]!;
        if (!(scorer.weight > 0)) continue;
        scorer.score(req, candidates, one);
        const w = scorer.weight;
        for (let i = 0; i < n; i++) total[i] = total[i]! + w * one[i]!;
      }
    }
    return this.picker.pick(candidates, total, cursor);
  }
}
