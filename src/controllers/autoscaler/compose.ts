// Reactive recommendation + forecast floor + schedule bounds → one decision. Pure: the controller hands in the
// reactive recommendation (recommend.ts), the floor (forecast.ts `forecastFloor`, undefined while the forecast is
// off) and the bounds in force (schedule.ts `boundsAt`); behavior.ts shapes the result as any recommendation.
//
// Rules:
//  - The floor is a recommendation, not a bound: max(reactive, floor) goes into behavior.ts, so the scale-up rate,
//    the stabilization windows and panic apply to it as to the metrics. A forecast that jumps therefore ramps at the
//    configured rate, and when it falls the scale-down window keeps the count up. It can only raise: with no reactive
//    recommendation (no fresh metrics) the floor is used only when it is above the current count, else the count
//    holds (a floor below the count must not scale down on missing metrics).
//  - Schedule bounds are bounds: they replace minReplicas/maxReplicas while a window is open and apply at once,
//    not at the scale-up rate. As the HPA treats an edited minReplicas (its clamp comes after the rate limit), and
//    because a window is the operator's statement of when capacity must be there; the rates guard against noisy
//    metrics, not against it. (KEDA's cron scaler is a metric and so ramps through HPA behaviour; here, to ramp,
//    open the window earlier.) A lowered maxReplicas likewise takes the count down at the next sync.
//  - Mode: Schedule when an open window's bound decided the count (the clamp, at a bound a window set); else
//    Forecast when the floor was above the reactive recommendation and it was not panic (panic is the story then);
//    else behavior.ts's mode. The reason names the window or the forecast, for the history and the Event.
import type { AutoscalingPolicySpec } from '../../api/kinds/index.ts';
import { parseDuration } from '../../kube/units.ts';
import { decide, type DecideInput, type Decision, type ScalerState } from './behavior.ts';
import type { ForecasterOptions } from './forecast.ts';
import type { Bounds, EffectiveBounds } from './schedule.ts';
import type { SignalValue } from './signals.ts';

export interface ComposeInput extends Omit<DecideInput, 'recommendation' | 'min' | 'max'> {
  /** recommend.ts's count, undefined when it had no usable metric. */
  reactive: number | undefined;
  /** forecast.ts's floor, undefined while the forecast is off (disabled, warming up, error above the bound). */
  floor: number | undefined;
  /** The binding's own minReplicas/maxReplicas. */
  base: Bounds;
  /** The bounds in force now: `boundsAt(schedules, base, now)`. */
  bounds: EffectiveBounds;
}

export function compose(input: ComposeInput, previous: ScalerState): { decision: Decision; state: ScalerState } {
  const { reactive, floor, base, bounds, ...rest } = input;
  const floorDecides = floor !== undefined && (reactive === undefined ? floor > input.current : floor > reactive);
  const recommendation = floorDecides ? floor : reactive;
  const result = decide({ ...rest, min: bounds.min, max: bounds.max, recommendation }, previous);
  const d = result.decision;
  const windowMin = bounds.active.length > 0 && bounds.min !== base.min;
  const windowMax = bounds.active.length > 0 && bounds.max !== base.max;
  if ((d.limit === 'TooFewReplicas' && windowMin) || (d.limit === 'TooManyReplicas' && windowMax)) {
    const which = d.limit === 'TooFewReplicas' ? `min ${bounds.min}` : `max ${bounds.max}`;
    return { ...result, decision: { ...d, mode: 'Schedule', reason: `schedule ${bounds.active.join(', ')}: ${which}` } };
  }
  if (floorDecides && d.mode !== 'Panic') {
    return { ...result, decision: { ...d, mode: 'Forecast', reason: `forecast needs ${floor}${reactive === undefined ? '' : `, metrics ${reactive}`}` } };
  }
  return result;
}

/** The demand the forecaster sees: the metric's total over the ready pods it was measured on. */
export function demandOf(value: SignalValue | undefined, ready: number): number | undefined {
  if (value?.value === undefined || !Number.isFinite(value.value)) return undefined;
  return value.aggregate === 'sum' ? value.value : value.value * ready;
}

const DEFAULT_SEASON_MS = 24 * 3600_000;
/** The lead until the first scale-up is measured: a typical model load (8B on one GPU, engine README). */
export const DEFAULT_LEAD_MS = 120_000;

type Predictive = NonNullable<AutoscalingPolicySpec['predictive']>;

/**
 * The forecaster a policy asks for at this sync period. `key` changes exactly when the history no longer fits
 * (method, step or season changed): the controller then starts a new one. The error horizon follows a configured
 * lead; a measured lead moves, and rebuilding on it would throw the history away, so it stays at the default's.
 */
export function forecasterSpec(predictive: Predictive, periodMs: number): { key: string; options: ForecasterOptions } {
  const method = predictive.method ?? 'HoltWinters';
  const seasonMs = parseDuration(predictive.seasonLength ?? '') ?? DEFAULT_SEASON_MS;
  const seasonLength = Math.max(2, Math.round(seasonMs / periodMs));
  const seasons = predictive.seasons ?? 1;
  const leadMs = predictive.lead !== undefined ? parseDuration(predictive.lead) : undefined;
  const errorHorizon = Math.max(1, Math.ceil((leadMs ?? DEFAULT_LEAD_MS) / periodMs) + 1);
  return {
    key: [method, periodMs, seasonLength, seasons, errorHorizon].join('/'),
    options: { method, stepMs: periodMs, seasonLength, seasons, errorHorizon },
  };
}
