// filters → scorers (weighted sum) → picker, over a ModelServer's ready endpoints.
//
// The first filters of every decision are built in, before the profile's: the endpoints this request already tried
// and the circuit breaker's ejected ones (filters/circuit.ts `schedulableEndpoints`; no allocation when nothing is
// tried or tripped). Callers hand in the ready endpoints and call nothing else: a pinned pick (pin) obeys them too.
//
// Which filters, scorers and picker run is a `SchedulingProfile`, compiled from the ModelServer's (or the matched
// ModelRoute's) `scheduling` section when the routing table is built (profiles.ts). The scheduler itself keeps
// only scratch buffers, so a decision is synchronous arithmetic over in-memory state with no allocation on the
// common path. Each decision's duration goes to `observe` (the metrics hook), and each candidate's total score and
// the pick are recorded on the endpoints for the debug view and per-pod score metrics.
import { performance } from 'node:perf_hooks';
import type { Endpoint } from './endpoint.ts';
import type { Filter, Picker, Scorer, SchedulingRequest } from './types.ts';
import { LeastOutstandingScorer } from './least-outstanding.ts';
import { MaxScoreRoundRobinPicker } from './pickers.ts';
import { schedulableEndpoints } from './filters/circuit.ts';
import { decider, deciderId, PINNED, SINGLE } from './deciders.ts';

export interface SchedulerConfig {
  filters?: Filter[];
  scorers?: Scorer[];
  picker?: Picker;
}

/** A compiled scheduling policy. */
export interface SchedulingProfile {
  /** Policy name (a metric label). */
  readonly policy: string;
  readonly filters: readonly Filter[];
  readonly scorers: readonly Scorer[];
  readonly picker: Picker;
  /** Scorers with a `prepare` / `picked` hook. */
  readonly preparing: readonly Scorer[];
  readonly recording: readonly Scorer[];
  /** Each scorer's decider id and weight (deciders.ts), in `scorers` order. */
  readonly scorerIds: readonly number[];
  readonly weights: readonly number[];
}

export function makeProfile(policy: string, config: SchedulerConfig): SchedulingProfile {
  const scorers: Scorer[] = (config.scorers ?? [new LeastOutstandingScorer()]).filter((s) => s.weight > 0);
  return {
    policy,
    filters: config.filters ?? [],
    scorers,
    picker: config.picker ?? new MaxScoreRoundRobinPicker(),
    preparing: scorers.filter((s) => typeof s.prepare === 'function'),
    recording: scorers.filter((s) => typeof s.picked === 'function'),
    scorerIds: scorers.map((s) => deciderId(s.name)),
    weights: scorers.map((s) => s.weight),
  };
}

/** Per-ModelServer scheduling state, built with the routing table. */
export interface ServerScheduling {
  /** The ModelServer's profile (a matched route's profile overrides it). */
  profile: SchedulingProfile;
  /** All schedulable endpoints of the server (decode pods under P/D), the base of consistent-hash rings. */
  endpoints: readonly Endpoint[];
  /** Prefill/decode disaggregation, or null. */
  pd: PdState | null;
}

/** Prefill pods of a P/D ModelServer, by group label value. */
export interface PdState {
  prefillRole: string;
  decodeRole: string;
  groupLabel: string;
  prefillByGroup: Map<string, Endpoint[]>;
  /** Round-robin cursor for prefill picks. */
  prefillCursor: { rr: number };
}

/** Round-robin state of a ModelServer (its table entry), with its scheduling state when the table built one. */
export interface ScheduleCursor {
  rr: number;
  scheduling?: ServerScheduling;
}

/** Picks so far, process-wide: `Endpoint.pickSeq` orders pods by how recently they were picked. */
let pickSeq = 0;

export class Scheduler {
  /** Used when neither the route nor the server brings a profile. */
  readonly defaultProfile: SchedulingProfile;
  /** Called with every decision's policy and duration in seconds. */
  observe: ((policy: string, seconds: number) => void) | null = null;
  // Scratch buffers reused by every call (scheduling is synchronous, so one set is enough).
  #total = new Float64Array(64);
  #one = new Float64Array(64);
  /** Each scorer's scores side by side (scorer s at [s*n, s*n+n)), to name the pick's decider. */
  #perScorer = new Float64Array(256);
  // Endpoints pinned for a request's next decision (the decode pod of a prefill/decode pair).
  readonly #pinned = new WeakMap<object, Endpoint>();
  #pins = 0;

  constructor(config: SchedulerConfig | SchedulingProfile = {}) {
    this.defaultProfile = 'policy' in config ? config : makeProfile('least-request', config);
  }

  get filters(): readonly Filter[] {
    return this.defaultProfile.filters;
  }
  get scorers(): readonly Scorer[] {
    return this.defaultProfile.scorers;
  }

  /** The next `schedule` for this request returns `ep` (unless excluded or gone). */
  pin(req: SchedulingRequest, ep: Endpoint): void {
    if (!this.#pinned.has(req)) this.#pins++;
    this.#pinned.set(req, ep);
  }

  /** The profile for this request: the matched route's, else the server's, else the default. */
  profileFor(req: SchedulingRequest, cursor: ScheduleCursor): SchedulingProfile {
    const routeProfile = req.route?.scheduling as SchedulingProfile | undefined;
    return routeProfile ?? cursor.scheduling?.profile ?? this.defaultProfile;
  }

  /** The chosen endpoint, or undefined when none is left. */
  schedule(req: SchedulingRequest, ready: readonly Endpoint[], cursor: ScheduleCursor, profile?: SchedulingProfile): Endpoint | undefined {
    const endpoints = schedulableEndpoints(ready, req.tried ?? null);
    req.work = 0; // until a scorer estimates it for the pick
    if (this.#pins > 0) {
      const p = this.#pinned.get(req);
      if (p !== undefined) {
        this.#pinned.delete(req);
        this.#pins--;
        if (p.active && endpoints.includes(p)) {
          p.sent(++pickSeq);
          p.decided(PINNED);
          return p;
        }
      }
    }
    const t0 = performance.now();
    const prof = profile ?? this.profileFor(req, cursor);
    const all = cursor.scheduling?.endpoints ?? endpoints;
    let candidates = endpoints;
    const filters = prof.filters;
    for (let i = 0; i < filters.length && candidates.length > 0; i++) candidates = filters[i]!.filter(req, candidates);
    const n = candidates.length;
    let chosen: Endpoint | undefined;
    if (n === 0) {
      chosen = undefined;
    } else if (n === 1) {
      chosen = candidates[0]!;
      chosen.decided(SINGLE);
      const rec = prof.recording;
      if (rec.length > 0) {
        const prep = prof.preparing;
        for (let s = 0; s < prep.length; s++) prep[s]!.prepare!(req);
        for (let s = 0; s < rec.length; s++) rec[s]!.picked!(req, chosen);
      }
      chosen.lastScoredAt = t0;
    } else {
      if (this.#total.length < n) {
        this.#total = new Float64Array(n * 2);
        this.#one = new Float64Array(n * 2);
      }
      const total = this.#total;
      const one = this.#one;
      total.fill(0, 0, n);
      const prep = prof.preparing;
      for (let s = 0; s < prep.length; s++) prep[s]!.prepare!(req);
      const scorers = prof.scorers;
      const S = scorers.length;
      if (this.#perScorer.length < n * S) this.#perScorer = new Float64Array(n * S * 2);
      const perScorer = this.#perScorer;
      if (S === 1 && scorers[0]!.weight === 1) {
        scorers[0]!.score(req, candidates, total, all);
      } else {
        for (let s = 0; s < S; s++) {
          const scorer = scorers[s]!;
          scorer.score(req, candidates, one, all);
          const w = scorer.weight;
          const base = s * n;
          for (let i = 0; i < n; i++) {
            const v = one[i]!;
            perScorer[base + i] = v;
            total[i] = total[i]! + w * v;
          }
        }
      }
      chosen = prof.picker.pick(candidates, total, cursor);
      let chosenIndex = -1;
      for (let i = 0; i < n; i++) {
        const ep = candidates[i]!;
        ep.lastScore = total[i]!;
        ep.lastScoredAt = t0;
        if (ep === chosen) chosenIndex = i;
      }
      if (chosen !== undefined) {
        chosen.decided(decider(total, perScorer, prof.weights, prof.scorerIds, n, chosenIndex));
        const rec = prof.recording;
        for (let s = 0; s < rec.length; s++) rec[s]!.picked!(req, chosen);
      }
    }
    if (chosen !== undefined) {
      // A retry does not count as the pod's turn: otherwise a pod failing fast would be the least recently
      // picked one again at once (its good neighbour just took the retry) and get every first attempt.
      const retry = (req.attempts ?? 0) > 0;
      chosen.sent(retry && chosen.pickSeq > 0 ? chosen.pickSeq : ++pickSeq);
      chosen.lastPickedAt = t0;
    }
    const observe = this.observe;
    if (observe !== null) observe(prof.policy, (performance.now() - t0) / 1000);
    return chosen;
  }
}
