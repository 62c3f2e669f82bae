// The binding's status as a pure function of one sync's outcome: counts, mode, each metric against its target, the
// last decisions and the three HPA conditions. Condition reasons:
//  - AbleToScale: True ReadyForNewScale | SucceededRescale; False TargetNotFound | PolicyNotFound | InvalidSpec |
//    FailedUpdateScale.
//  - ScalingActive: True ValidMetricFound; False NoReadyPods | NoFreshMetrics | FailedGetMetrics (no metric readable,
//    the sources' reasons in the message) | InvalidSpec (the count is held).
//  - ScalingLimited: True TooFewReplicas | TooManyReplicas | ScaleUpLimit | ScaleDownLimit | PanicNoScaleDown |
//    PodsStarting | ScaleToZeroIdle | VariantsPending (spec.variants: the total cannot be placed, every variant with
//    room has pods not ready); False DesiredWithinRange.
//  - With spec.variants the counts are capacity units (variants.ts), and status.variants/costPerHour say where they are.
import type { AutoscalingPolicyBinding, AutoscalingPolicyBindingStatus, ScalingDecision } from '../../api/kinds/index.ts';
import { setConditions, type ConditionInput } from '../../kube/objects.ts';
import type { Decision } from './behavior.ts';
import type { Recommendation } from './recommend.ts';
import type { SignalValue } from './signals.ts';
import type { EffectiveBounds } from './schedule.ts';
import { formatCost } from './variants.ts';

/** The forecast at one sync: for the status, whether or not it was used. */
export interface ForecastOutcome {
  enabled: boolean;
  horizonMs: number;
  value: number | undefined;
  recommended: number | undefined;
  mape: number | undefined;
}

const HISTORY_LIMIT = 10;

/** Numbers in the status: short, no float noise. */
export function formatValue(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(4)));
}

export type SyncOutcome =
  | { kind: 'invalid'; reason: 'TargetNotFound' | 'PolicyNotFound' | 'InvalidSpec'; message: string }
  | {
      kind: 'decided';
      current: number;
      ready: number;
      decision: Decision;
      recommendation: Recommendation | undefined;
      /** Every metric of the policy as read this sync, usable or not (the status shows why not). */
      signals: SignalValue[];
      /** With spec.predictive. */
      forecast?: ForecastOutcome;
      /** With spec.schedules: the bounds in force and the open windows. */
      schedule?: EffectiveBounds;
      /** Set when writing the scale failed. */
      scaleError?: string;
      /** With spec.variants: the counts above are capacity units, and this is each variant and where it went. */
      variants?: VariantsOutcome;
    };

/** The cost distribution's result at one sync (variants.ts). */
export interface VariantsOutcome {
  rows: { name: string; current: number; ready: number; pending: number; desired: number; stuckUntil?: string; costPerReplica: string; capacityWeight: number }[];
  /** Capacity units after the writes that succeeded (may fall short of the decision). */
  reached: number;
  /** Units the decision asked for that no variant could take (pending or at max). */
  short: number;
  /** Σ cost × replicas after the writes, milli-units. */
  costMilli: number;
}

export function bindingStatus(binding: AutoscalingPolicyBinding, outcome: SyncOutcome, now: Date): AutoscalingPolicyBindingStatus {
  const previous = binding.status ?? {};
  const time = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const generation = binding.metadata.generation;
  if (outcome.kind === 'invalid') {
    const conditions = setConditions(
      previous.conditions,
      [
        { type: 'AbleToScale', status: 'False', reason: outcome.reason, message: outcome.message },
        { type: 'ScalingActive', status: 'False', reason: 'InvalidSpec', message: outcome.message },
      ],
      time,
      generation,
    );
    return { ...previous, ...(generation !== undefined ? { observedGeneration: generation } : {}), mode: 'Hold', conditions };
  }
  const { current, ready, decision, recommendation, variants } = outcome;
  // With variants the count reached is what the writes made, which pending variants can hold below the decision.
  const to = variants ? variants.reached : decision.replicas;
  const scaled = variants ? to !== current : decision.replicas !== current && !outcome.scaleError;
  const unreadable = outcome.signals.flatMap((s) => (s.error ? [`${s.name}: ${s.error}`] : []));
  const history: ScalingDecision[] = [...(previous.history ?? [])];
  if (scaled) history.push({ time, from: current, to, reason: decision.reason });
  const inputs: ConditionInput[] = [
    outcome.scaleError
      ? { type: 'AbleToScale', status: 'False', reason: 'FailedUpdateScale', message: outcome.scaleError }
      : { type: 'AbleToScale', status: 'True', reason: scaled ? 'SucceededRescale' : 'ReadyForNewScale', message: scaled ? `scaled from ${current} to ${to}` : '' },
    recommendation
      ? { type: 'ScalingActive', status: 'True', reason: 'ValidMetricFound', message: `${recommendation.winner.name} recommends ${recommendation.winner.recommended}` }
      : unreadable.length > 0 && ready > 0
      ? { type: 'ScalingActive', status: 'False', reason: 'FailedGetMetrics', message: `holding at ${decision.replicas}: ${unreadable.join('; ')}` }
      : { type: 'ScalingActive', status: 'False', reason: ready === 0 ? 'NoReadyPods' : 'NoFreshMetrics', message: `holding at ${decision.replicas}: ${decision.reason}` },
    variants && variants.short > 0
      ? { type: 'ScalingLimited', status: 'True', reason: 'VariantsPending', message: `${variants.short} capacity units short: every variant with room has pods not ready` }
      : decision.limit
      ? { type: 'ScalingLimited', status: 'True', reason: decision.limit, message: recommendation ? `recommended ${recommendation.replicas}, got ${decision.replicas}` : '' }
      : { type: 'ScalingLimited', status: 'False', reason: 'DesiredWithinRange', message: '' },
  ];
  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    currentReplicas: scaled ? to : current,
    readyReplicas: ready,
    desiredReplicas: decision.replicas,
    mode: decision.mode,
    ...(scaled ? { lastScaleTime: time } : previous.lastScaleTime ? { lastScaleTime: previous.lastScaleTime } : {}),
    currentMetrics: outcome.signals.map((s) => {
      const used = recommendation?.metrics.find((m) => m.name === s.name);
      return {
        name: s.name,
        ...(s.value !== undefined && Number.isFinite(s.value) ? { value: formatValue(s.value) } : {}),
        target: s.targetText,
        ...(used ? { recommended: used.recommended } : {}),
        ...(s.partial ? { partial: true } : {}),
        ...(s.error ? { error: s.error } : {}),
      };
    }),
    ...(outcome.forecast
      ? {
          forecast: {
            enabled: outcome.forecast.enabled,
            horizon: `${Math.round(outcome.forecast.horizonMs / 1000)}s`,
            ...(outcome.forecast.value !== undefined && Number.isFinite(outcome.forecast.value) ? { value: formatValue(outcome.forecast.value) } : {}),
            ...(outcome.forecast.recommended !== undefined ? { recommended: outcome.forecast.recommended } : {}),
            ...(outcome.forecast.mape !== undefined ? { mape: formatValue(outcome.forecast.mape) } : {}),
          },
        }
      : {}),
    ...(outcome.schedule ? { schedule: { active: outcome.schedule.active, effectiveMin: outcome.schedule.min, effectiveMax: outcome.schedule.max } } : {}),
    ...(variants ? { variants: variants.rows, costPerHour: formatCost(variants.costMilli) } : {}),
    history: history.slice(-HISTORY_LIMIT),
    conditions: setConditions(previous.conditions, inputs, time, generation),
  };
}
