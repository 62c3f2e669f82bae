// Per-metric values → one recommended replica count. Pure.
//
// Rules:
//  - A sum (requests waiting or running: work that any replica could take) asks for ceil(total / target) replicas.
//    An average (KV usage, latency percentiles: per-replica states that more replicas dilute) asks for
//    ceil(ready × value / target), the HPA's formula on the ready pods the value was measured on.
//  - Tolerance as the HPA's: when a metric's ratio to its target per ready replica is within tolerancePercent of 1,
//    that metric asks for the current count (no churn around the target).
//  - A partial value (it covers only some ready pods: signals.ts) may raise the count, never lower it.
//  - The largest recommendation wins (a replica short on any resource is short). Metrics without a value or with a
//    non-positive target are ignored; with none usable the result is undefined and the controller holds.
import type { SignalValue } from './signals.ts';

export interface MetricRecommendation {
  name: string;
  value: number;
  target: number;
  targetText: string;
  recommended: number;
  /** The value covered only some ready pods, so the recommendation was not allowed below the current count. */
  partial?: boolean;
}

export interface Recommendation {
  replicas: number;
  /** The metric that asked for the most (the reason a user reads). */
  winner: MetricRecommendation;
  metrics: MetricRecommendation[];
}

export function recommend(values: readonly SignalValue[], ready: number, current: number, tolerancePercent: number): Recommendation | undefined {
  if (ready <= 0) return undefined;
  const tolerance = Math.max(0, tolerancePercent) / 100;
  const metrics: MetricRecommendation[] = [];
  for (const v of values) {
    if (v.value === undefined || !Number.isFinite(v.value) || !(v.target > 0)) continue;
    const raw = v.aggregate === 'sum' ? v.value / v.target : (ready * v.value) / v.target;
    const ratio = raw / ready;
    const within = Math.abs(ratio - 1) <= tolerance ? current : Math.ceil(raw - 1e-9);
    const recommended = v.partial ? Math.max(within, current) : within;
    metrics.push({ name: v.name, value: v.value, target: v.target, targetText: v.targetText, recommended: Math.max(0, recommended), ...(v.partial ? { partial: true } : {}) });
  }
  if (metrics.length === 0) return undefined;
  const winner = metrics.reduce((a, b) => (b.recommended > a.recommended ? b : a));
  return { replicas: winner.recommended, winner, metrics };
}
