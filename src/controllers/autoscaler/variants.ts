// Heterogeneous cost: one binding over several ModelInfers of the same model on different hardware (binding
// spec.variants). Pure: the controller hands in the total the usual pipeline decided (signals → recommend → compose →
// behavior, over ALL variants' ready pods together) and each variant's counts; this file says how many replicas each
// variant gets. The design is WVA's incremental rule over static costs (reference A.9 designs 1+2), not an optimiser.
//
// Units. Everything the pipeline sees is in capacity units: a variant's replica is worth `capacityWeight` units
// (default 1), so the binding's current count is Σ weight × replicas and its min/maxReplicas bound that sum. The
// policy's targets are per unit: a sum metric (requests) gives ceil(total / target) units directly, since the
// requests are shared by all the variants' pods; an average (KV usage, latency) is taken over pods and multiplied
// by the fresh pods' capacity, i.e. a unit-weighted HPA formula. With all weights 1 this is exactly the single-target
// autoscaler (units = replicas).
//
// Rules:
//  - Per-variant bounds first: each variant is brought into [its minReplicas, its maxReplicas] at once (they are the
//    operator's quota, like schedule bounds), pending pods or not.
//  - Scale up (capacity below the total): add replicas to the variant with the lowest cost per unit (costPerReplica /
//    capacityWeight, compared exactly in milli-units), up to its max, then the next cheapest, until the total is
//    reached. A variant with pending pods (replicas not ready: starting, or stuck because its hardware is not there)
//    is never scaled further; the next cheapest takes the load. The last replica added may overshoot the total by
//    less than its weight (replicas are whole). What no variant can take is reported as `short`.
//  - Scale down (capacity above the total): remove replicas from the variant with the highest cost per unit, down to
//    its min, then the next most expensive; a replica is removed only when the capacity stays at or above the total
//    (so an overshoot from a heavy replica is not taken back and put on again next sync: no flapping).
//  - Stuck variants (replicas not ready for the binding's provisionTimeout, then a back-off as long): the controller
//    hands them in through `stuck`, which caps them at what is ready (not below their min), so the distribution's
//    bounds step releases their pending replicas at once and the next cheapest takes the load.
//  - Ties in cost per unit, deterministic by name: scale-up fills the first name first, scale-down empties the last
//    name first (the mirror image, so a scale-down undoes the most recent scale-ups).
//  - The total at constant capacity is not rebalanced (moving load from dear to cheap hardware means a start and a
//    stop; left to scale-down after the next scale-up).
import type { AutoscalingPolicyBindingSpec, ScalingVariant } from '../../api/kinds/index.ts';

/** One variant as the distribution sees it. */
export interface VariantState {
  /** The ModelInfer's name; unique in the binding. */
  name: string;
  /** Cost of one replica, integer milli-units (parseCost). */
  costMilli: number;
  /** Capacity units per replica, ≥ 1. */
  weight: number;
  min: number;
  /** Infinity when only the total bounds it. */
  max: number;
  /** spec.replicas now. */
  current: number;
  /** Replicas not ready now (current − ready, at least 0). */
  pending: number;
}

export interface Distribution {
  /** Replicas per variant, in input order. */
  desired: number[];
  /** Σ weight × desired. */
  capacity: number;
  /** Units the total asked for that no variant could take (all at max or pending); 0 when reached. */
  short: number;
}

/** What a binding targets: exactly one form, as admission enforces (a binding with neither cannot reach here). */
export type Targets = { kind: 'single'; name: string } | { kind: 'variants'; variants: readonly ScalingVariant[] };

export function targetsOf(spec: AutoscalingPolicyBindingSpec): Targets | undefined {
  if (spec.variants && spec.variants.length > 0 && !spec.targetRef) return { kind: 'variants', variants: spec.variants };
  if (spec.targetRef && !spec.variants) return { kind: 'single', name: spec.targetRef.name };
  return undefined;
}

/** "2.49" → 2490; undefined for anything but a non-negative decimal with at most three decimals (the CRD's pattern). */
export function parseCost(text: string): number | undefined {
  const m = /^(0|[1-9][0-9]{0,8})(?:\.([0-9]{1,3}))?$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * 1000 + Number((m[2] ?? '').padEnd(3, '0'));
}

/** Milli-units back to the decimal text the status shows: 2490 → "2.49", 3000 → "3". */
export function formatCost(milli: number): string {
  const whole = Math.floor(milli / 1000);
  const frac = String(milli % 1000).padStart(3, '0').replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : String(whole);
}

/** Cheaper per capacity unit first (cost_a / w_a < cost_b / w_b, cross-multiplied to stay exact), then by name. */
function cheaperFirst(a: VariantState, b: VariantState): number {
  const d = a.costMilli * b.weight - b.costMilli * a.weight;
  return d !== 0 ? d : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export function capacityOf(variants: readonly VariantState[], counts: readonly number[] = variants.map((v) => v.current)): number {
  return variants.reduce((sum, v, i) => sum + v.weight * counts[i]!, 0);
}

export function distribute(total: number, variants: readonly VariantState[]): Distribution {
  const desired = variants.map((v) => Math.min(Math.max(v.current, v.min), v.max));
  let capacity = capacityOf(variants, desired);
  const order = variants.map((_, i) => i).sort((a, b) => cheaperFirst(variants[a]!, variants[b]!));
  if (capacity < total) {
    for (const i of order) {
      if (capacity >= total) break;
      const v = variants[i]!;
      if (v.pending > 0) continue;
      const add = Math.min(v.max - desired[i]!, Math.ceil((total - capacity) / v.weight));
      if (add <= 0) continue;
      desired[i]! += add;
      capacity += add * v.weight;
    }
  } else if (capacity > total) {
    for (const i of [...order].reverse()) {
      const v = variants[i]!;
      const remove = Math.min(desired[i]! - v.min, Math.floor((capacity - total) / v.weight));
      if (remove <= 0) continue;
      desired[i]! -= remove;
      capacity -= remove * v.weight;
    }
  }
  return { desired, capacity, short: Math.max(0, total - capacity) };
}

/** A stuck variant: capped at its ready replicas (not below its min), so its pending ones go and none are added. */
export function stuck(v: VariantState): VariantState {
  const ready = v.current - v.pending;
  return { ...v, max: Math.max(v.min, Math.min(v.max, ready)) };
}

/** The total cost per hour of the given counts, milli-units. */
export function costOf(variants: readonly VariantState[], counts: readonly number[]): number {
  return variants.reduce((sum, v, i) => sum + v.costMilli * counts[i]!, 0);
}
