// Predictive scaling, pure: a forecaster over one target's own demand history, the replica floor it implies, and
// the measured lead time (scale-up decision → new pods ready) the floor looks ahead by. No clock, no I/O: the
// controller passes every time in and keeps one forecaster per target.
//
// Rules:
//  - History is on a fixed step (`stepMs`, normally the decision period). Sample k covers [k·step, (k+1)·step);
//    a second observation in the same step replaces the first (the controller's sample is already a period
//    average), an observation older than the latest step is dropped, and skipped steps are marked missing (NaN).
//    A gap longer than one season resets the forecaster: the old shape no longer says anything about now, and
//    it goes back to warming up (PHPA's `resetDuration`, made automatic).
//  - Two methods behind one interface. SeasonalNaive: the value one season ago, or the mean of the last k seasons
//    at the same phase (missing ones skipped). HoltWinters: additive level + trend + season with FIXED smoothing
//    parameters (defaults below, overridable; no fitting). Fixed because the controller runs this every period for
//    every target: an update is O(1) and a forecast O(1), where a grid search would be O(grid × history) per fit,
//    and because a fit that changes under the operator makes the floor hard to explain. HW initialises from its
//    first full season (level = its mean, trend 0, season = deviations); a missing step advances the state by its
//    own forecast, which leaves level, trend and season unchanged apart from the trend step.
//  - Error: at every step each forecaster predicts `errorHorizon` steps ahead (set it to the lead the floor uses,
//    so the error measured is the error that matters); when that step's actual arrives the absolute percentage
//    error is recorded. `error()` is the MAPE in percent over the last `errorWindow` scored steps. Actuals at or
//    below max(`minActual`, 5 % of the mean actual in the history) are not scored: a percentage of almost nothing
//    is noise (an idle night would otherwise read as 1000 % error) and over-forecasting an idle target costs little.
//  - `enabled(bound)` is false until the history holds one season plus `minScored` steps AND at least `minScored`
//    errors are scored, and false while the MAPE is above the bound. It turns itself back on as soon as the window's
//    MAPE falls under the bound again (no hysteresis: the window already smooths).
//  - The floor is `ceil(forecast(now + lead) / capacityPerReplica)`, undefined while the forecaster is disabled. It
//    is a floor only: the controller takes max(reactive, floor), so a bad forecast can hold replicas up, never down.

export type ForecastMethod = 'SeasonalNaive' | 'HoltWinters';

export interface Forecaster {
  readonly method: ForecastMethod;
  /** Record the demand observed over the step containing time `t` (ms since epoch). */
  observe(t: number, value: number): void;
  /** Predicted demand `stepsAhead` (≥ 1) steps after the latest observed step; undefined while warming up. */
  forecast(stepsAhead: number): number | undefined;
  /** Rolling MAPE in percent of the `errorHorizon`-ahead forecasts; undefined until `minScored` errors exist. */
  error(): number | undefined;
  /** Share (percent) of scored steps in the window where the forecast was below the actual: the costly direction. */
  underForecastPercent(): number | undefined;
  /** True when there is enough history and the error is at most `maxErrorPercent`. */
  enabled(maxErrorPercent: number): boolean;
  /** Observed steps held (missing ones included), at most the capacity. */
  readonly size: number;
}

export interface ForecasterOptions {
  method: ForecastMethod;
  /** Step of the history in ms: one sample per decision period. */
  stepMs: number;
  /** Season length in steps, e.g. 1440 for a day of 1-minute steps. At least 2. */
  seasonLength: number;
  /** SeasonalNaive: mean over this many past seasons (default 1). The history keeps `seasons` seasons. */
  seasons?: number;
  /** HoltWinters smoothing parameters, each in (0, 1]. */
  alpha?: number;
  beta?: number;
  gamma?: number;
  /** Steps ahead at which the error is measured (default 1; use the floor's lead). */
  errorHorizon?: number;
  /** Scored steps the MAPE is taken over (default 60). */
  errorWindow?: number;
  /** Scored steps needed before `error()` has a value (default 10, at most errorWindow). */
  minScored?: number;
  /** Absolute floor under which actuals are not scored (default 0, so only the relative 5 % rule applies). */
  minActual?: number;
}

/**
 * Holt–Winters defaults, chosen on 1-minute demand with a daily season: alpha 0.2 follows a level shift within
 * about ten steps without chasing noise; beta 0.01 lets a trend build over hours, not minutes; gamma 0.3 is per
 * seasonal slot, which is updated only once a season, so it must be larger to adapt within a few days.
 */
const HOLT_WINTERS_DEFAULTS = { alpha: 0.2, beta: 0.01, gamma: 0.3 } as const;
const NEAR_ZERO_FRACTION = 0.05;

export function createForecaster(options: ForecasterOptions): Forecaster {
  const problems = checkOptions(options);
  if (problems.length > 0) throw new RangeError(`invalid forecaster options: ${problems.join('; ')}`);
  return options.method === 'HoltWinters' ? new HoltWinters(options) : new SeasonalNaive(options);
}

function checkOptions(o: ForecasterOptions): string[] {
  const out: string[] = [];
  if (!(o.stepMs > 0)) out.push('stepMs must be positive');
  if (!Number.isInteger(o.seasonLength) || o.seasonLength < 2) out.push('seasonLength must be an integer ≥ 2');
  for (const k of ['seasons', 'errorHorizon', 'errorWindow', 'minScored'] as const) {
    const v = o[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) out.push(`${k} must be an integer ≥ 1`);
  }
  for (const k of ['alpha', 'beta', 'gamma'] as const) {
    const v = o[k];
    if (v !== undefined && !(v > 0 && v <= 1)) out.push(`${k} must be in (0, 1]`);
  }
  return out;
}

/**
 * A bounded ring of one value per step, NaN where a step was missed. Keeps the running sum and count of the
 * values present so the near-zero threshold (a fraction of the mean) costs O(1).
 */
export class StepRing {
  readonly capacity: number;
  readonly #values: Float64Array;
  /** Step index of the newest value; -Infinity while empty. */
  #last = -Infinity;
  #size = 0;
  #sum = 0;
  #present = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.#values = new Float64Array(capacity);
  }

  get size(): number {
    return this.#size;
  }
  get lastStep(): number {
    return this.#last;
  }
  /** Mean of the values present, NaN when none. */
  get mean(): number {
    return this.#present === 0 ? NaN : this.#sum / this.#present;
  }

  /** The value at step `k`, NaN when missing or no longer held. */
  at(k: number): number {
    if (k > this.#last || k <= this.#last - this.#size) return NaN;
    return this.#values[k % this.capacity]!;
  }

  /** Append step `last + 1` (or set the first step). */
  push(k: number, value: number): void {
    const slot = k % this.capacity;
    if (this.#size === this.capacity) this.#forget(this.#values[slot]!);
    else this.#size++;
    this.#values[slot] = value;
    if (!Number.isNaN(value)) {
      this.#sum += value;
      this.#present++;
    }
    this.#last = k;
  }

  /** Replace the newest value (a second observation within the same step). */
  replaceLast(value: number): void {
    const slot = this.#last % this.capacity;
    this.#forget(this.#values[slot]!);
    this.#values[slot] = value;
    if (!Number.isNaN(value)) {
      this.#sum += value;
      this.#present++;
    }
  }

  clear(): void {
    this.#last = -Infinity;
    this.#size = 0;
    this.#sum = 0;
    this.#present = 0;
  }

  #forget(old: number): void {
    if (Number.isNaN(old)) return;
    this.#sum -= old;
    this.#present--;
  }
}

/** The step bookkeeping and error tracking both methods share; subclasses say how to learn and predict. */
abstract class BaseForecaster implements Forecaster {
  abstract readonly method: ForecastMethod;
  protected readonly season: number;
  protected readonly history: StepRing;
  readonly #stepMs: number;
  readonly #horizon: number;
  readonly #window: number;
  readonly #minScored: number;
  readonly #minActual: number;
  /** Forecast made for step k, at slot k % (horizon + 1); `#pendingStep` says which step a slot is for. */
  readonly #pending: Float64Array;
  readonly #pendingStep: Float64Array;
  /** The last `window` scored errors: absolute percentage error and whether the forecast was under. */
  readonly #ape: Float64Array;
  readonly #under: Uint8Array;
  #scored = 0;
  #scoredNext = 0;

  constructor(o: ForecasterOptions, historySteps: number) {
    this.season = o.seasonLength;
    this.#stepMs = o.stepMs;
    this.history = new StepRing(historySteps);
    this.#horizon = o.errorHorizon ?? 1;
    this.#window = o.errorWindow ?? 60;
    this.#minScored = Math.min(o.minScored ?? 10, this.#window);
    this.#minActual = o.minActual ?? 0;
    this.#pending = new Float64Array(this.#horizon + 1).fill(NaN);
    this.#pendingStep = new Float64Array(this.#horizon + 1).fill(-1);
    this.#ape = new Float64Array(this.#window);
    this.#under = new Uint8Array(this.#window);
  }

  get size(): number {
    return this.history.size;
  }

  observe(t: number, value: number): void {
    if (!Number.isFinite(t) || !Number.isFinite(value)) return;
    const k = Math.floor(t / this.#stepMs);
    const last = this.history.lastStep;
    if (k < last) return;
    if (k === last) {
      // The same step again: the newer value wins. Learning already happened for this step, so only the stored
      // value changes; the next step learns from it through the history (seasonal-naive) or not at all (HW).
      this.history.replaceLast(value);
      return;
    }
    if (last !== -Infinity && k - last > this.season) this.reset();
    const from = this.history.lastStep === -Infinity ? k : this.history.lastStep + 1;
    for (let s = from; s < k; s++) this.#step(s, NaN);
    this.#step(k, value);
  }

  #step(k: number, value: number): void {
    this.#score(k, value);
    this.history.push(k, value);
    this.learn(k, value);
    const ahead = this.forecast(this.#horizon);
    const target = k + this.#horizon;
    const slot = target % this.#pending.length;
    this.#pending[slot] = ahead ?? NaN;
    this.#pendingStep[slot] = target;
  }

  #score(k: number, actual: number): void {
    const slot = k % this.#pending.length;
    if (this.#pendingStep[slot] !== k) return;
    const predicted = this.#pending[slot]!;
    this.#pendingStep[slot] = -1;
    if (Number.isNaN(predicted) || Number.isNaN(actual)) return;
    const mean = this.history.mean;
    const threshold = Math.max(this.#minActual, Number.isNaN(mean) ? 0 : NEAR_ZERO_FRACTION * Math.abs(mean));
    if (Math.abs(actual) <= threshold) return;
    const i = this.#scoredNext;
    this.#ape[i] = Math.abs(actual - predicted) / Math.abs(actual);
    this.#under[i] = predicted < actual ? 1 : 0;
    this.#scoredNext = (i + 1) % this.#window;
    if (this.#scored < this.#window) this.#scored++;
  }

  error(): number | undefined {
    if (this.#scored < this.#minScored) return undefined;
    let sum = 0;
    for (let i = 0; i < this.#scored; i++) sum += this.#ape[i]!;
    return (100 * sum) / this.#scored;
  }

  underForecastPercent(): number | undefined {
    if (this.#scored < this.#minScored) return undefined;
    let under = 0;
    for (let i = 0; i < this.#scored; i++) under += this.#under[i]!;
    return (100 * under) / this.#scored;
  }

  enabled(maxErrorPercent: number): boolean {
    if (this.history.size < Math.min(this.history.capacity, this.season + this.#minScored)) return false;
    const e = this.error();
    return e !== undefined && e <= maxErrorPercent;
  }

  protected reset(): void {
    this.history.clear();
    this.#pending.fill(NaN);
    this.#pendingStep.fill(-1);
    this.#scored = 0;
    this.#scoredNext = 0;
    this.resetModel();
  }

  abstract forecast(stepsAhead: number): number | undefined;
  /** Learn from step k (value NaN when the step was missed). Called after the value is in `history`. */
  protected abstract learn(k: number, value: number): void;
  protected abstract resetModel(): void;
}

/** The value at the same phase one season ago, or the mean over the last `seasons` seasons (missing ones skipped). */
class SeasonalNaive extends BaseForecaster {
  readonly method = 'SeasonalNaive';
  readonly #seasons: number;

  constructor(o: ForecasterOptions) {
    const seasons = o.seasons ?? 1;
    super(o, seasons * o.seasonLength);
    this.#seasons = seasons;
  }

  forecast(stepsAhead: number): number | undefined {
    if (!(stepsAhead >= 1) || this.history.size < this.season) return undefined;
    const target = this.history.lastStep + Math.floor(stepsAhead);
    // The first season boundary at or before the newest step: a lead longer than a season looks back further.
    let back = Math.ceil((target - this.history.lastStep) / this.season) * this.season;
    let sum = 0;
    let n = 0;
    for (let j = 0; j < this.#seasons; j++, back += this.season) {
      const v = this.history.at(target - back);
      if (!Number.isNaN(v)) {
        sum += v;
        n++;
      }
    }
    return n === 0 ? undefined : sum / n;
  }

  protected learn(): void {}
  protected resetModel(): void {}
}

/** Additive Holt–Winters with fixed alpha, beta, gamma; initialised from the first full season. */
class HoltWinters extends BaseForecaster {
  readonly method = 'HoltWinters';
  readonly #alpha: number;
  readonly #beta: number;
  readonly #gamma: number;
  /** Seasonal component by phase (step % season). */
  readonly #seasonal: Float64Array;
  #level = NaN;
  #trend = 0;
  #lastStep = -1;

  constructor(o: ForecasterOptions) {
    // HW keeps its own state; the history holds one season for the initial fit and the near-zero threshold.
    super(o, o.seasonLength);
    this.#alpha = o.alpha ?? HOLT_WINTERS_DEFAULTS.alpha;
    this.#beta = o.beta ?? HOLT_WINTERS_DEFAULTS.beta;
    this.#gamma = o.gamma ?? HOLT_WINTERS_DEFAULTS.gamma;
    this.#seasonal = new Float64Array(o.seasonLength);
  }

  forecast(stepsAhead: number): number | undefined {
    if (!(stepsAhead >= 1) || Number.isNaN(this.#level)) return undefined;
    const h = Math.floor(stepsAhead);
    return this.#level + h * this.#trend + this.#seasonal[(this.#lastStep + h) % this.season]!;
  }

  protected learn(k: number, y: number): void {
    this.#lastStep = k;
    if (Number.isNaN(this.#level)) {
      if (this.history.size === this.season) this.#initialise(k);
      return;
    }
    const phase = k % this.season;
    if (Number.isNaN(y)) {
      // Learning from our own forecast: level and season stay, the trend carries the level one step on.
      this.#level += this.#trend;
      return;
    }
    const s = this.#seasonal[phase]!;
    const previous = this.#level;
    this.#level = this.#alpha * (y - s) + (1 - this.#alpha) * (previous + this.#trend);
    this.#trend = this.#beta * (this.#level - previous) + (1 - this.#beta) * this.#trend;
    this.#seasonal[phase] = this.#gamma * (y - this.#level) + (1 - this.#gamma) * s;
  }

  /** Level = mean of the season's present values, trend 0, season = deviations (0 where a step was missed). */
  #initialise(k: number): void {
    let sum = 0;
    let n = 0;
    for (let s = k - this.season + 1; s <= k; s++) {
      const v = this.history.at(s);
      if (!Number.isNaN(v)) {
        sum += v;
        n++;
      }
    }
    if (n < this.season / 2) return; // mostly gaps: wait for a better season (the ring keeps rolling)
    const level = sum / n;
    for (let s = k - this.season + 1; s <= k; s++) {
      const v = this.history.at(s);
      this.#seasonal[s % this.season] = Number.isNaN(v) ? 0 : v - level;
    }
    this.#level = level;
    this.#trend = 0;
  }

  protected resetModel(): void {
    this.#level = NaN;
    this.#trend = 0;
    this.#lastStep = -1;
    this.#seasonal.fill(0);
  }
}

// ---- The floor ----------------------------------------------------------------------------------------------

export interface FloorInput {
  forecaster: Forecaster;
  /** Steps ahead to look: `leadSteps(...)`. */
  leadSteps: number;
  /** Demand one replica serves at its target (same unit as the observed values, e.g. tokens/s). */
  capacityPerReplica: number;
  /** The error bound above which the forecast is ignored (default 30). */
  maxErrorPercent?: number;
}

/** Replicas the forecast demand at now + lead needs, or undefined when the forecaster is disabled. */
export function forecastFloor({ forecaster, leadSteps, capacityPerReplica, maxErrorPercent = 30 }: FloorInput): number | undefined {
  if (!(capacityPerReplica > 0) || !forecaster.enabled(maxErrorPercent)) return undefined;
  const demand = forecaster.forecast(Math.max(1, Math.ceil(leadSteps)));
  if (demand === undefined || !Number.isFinite(demand)) return undefined;
  // The relative epsilon keeps 4.0000000001 (float noise on an exact multiple) from asking for a fifth replica.
  return Math.max(0, Math.ceil(demand / capacityPerReplica - 1e-9));
}

// ---- Lead time ------------------------------------------------------------------------------------------------
// The lead is measured, not configured: from the moment the controller raises replicas to the moment the ready
// count reaches the new value. State is a plain value (it can live in status) and every function returns a new one.

export interface LeadState {
  /** Scale-ups still waiting for their pods, oldest first: decision time and the replica count asked for. */
  pending: readonly { at: number; to: number }[];
  /** Measured leads in ms, newest last, at most MAX_LEAD_SAMPLES. */
  samples: readonly number[];
}

export const MAX_LEAD_SAMPLES = 9;
const MAX_PENDING = 16;
export const EMPTY_LEAD: LeadState = { pending: [], samples: [] };

/** The controller raised replicas to `to` at time `at`. */
export function recordScaleUp(state: LeadState, at: number, to: number): LeadState {
  const pending = [...state.pending, { at, to }];
  return { ...state, pending: pending.slice(-MAX_PENDING) };
}

/**
 * The controller lowered replicas to `to`: scale-ups asking for more can never complete as measured, so they are
 * dropped (their lead would include the scale-down, not a cold start).
 */
export function recordScaleDown(state: LeadState, to: number): LeadState {
  return { ...state, pending: state.pending.filter((p) => p.to <= to) };
}

/** `ready` replicas were ready at time `at`: every pending scale-up asking for at most that many is done. */
export function recordReady(state: LeadState, at: number, ready: number): LeadState {
  const done = state.pending.filter((p) => p.to <= ready && at >= p.at);
  if (done.length === 0) return state;
  const samples = [...state.samples, ...done.map((p) => at - p.at)].slice(-MAX_LEAD_SAMPLES);
  return { pending: state.pending.filter((p) => !done.includes(p)), samples };
}

/** Median of the measured leads in ms, undefined before the first. The median: one stuck image pull is not the norm. */
export function medianLead(state: LeadState): number | undefined {
  const n = state.samples.length;
  if (n === 0) return undefined;
  const sorted = [...state.samples].sort((a, b) => a - b);
  return n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}

/**
 * Steps the floor looks ahead: the lead (measured median, else `fallbackMs`, e.g. spec.predictive.leadSeconds or
 * a cold-start default) rounded up to whole steps, plus one step for the decision period itself.
 */
export function leadSteps(leadMs: number | undefined, fallbackMs: number, stepMs: number): number {
  const lead = leadMs ?? fallbackMs;
  return Math.max(0, Math.ceil(lead / stepMs)) + 1;
}
