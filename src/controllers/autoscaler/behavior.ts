// A recommendation + what happened before → the next replica count and the mode. Pure: time comes in as `now`
// (ms), and the state a target carries between syncs goes in and comes out (`ScalerState`); the controller keeps one
// per binding. Unit-tested in behavior.test.ts.
//
// Rules (defaults are the HPA's, and in the schema's descriptions, src/api/kinds/autoscaling-behavior.ts):
//  - No recommendation (no ready pod, no fresh metrics) → Hold: the count stays, only brought into [min, max]. A target
//    at 0 therefore stays at 0 until the gateway writes 1, and a target the gateway just took to 1 (its pod not yet
//    ready) is held at 1.
//  - Scale-up (recommendation above current): to the smallest recommendation of scaleUp.stablePolicy's
//    stabilizationWindow (default 0: at once), at most the rate allows: from the count at the start of the period
//    (period default 15s), `instances` more and/or `percent` more (of at least 1, so 0 can grow), selectPolicy Max
//    (default) taking the larger allowance, Min the smaller; neither given → 4 instances, 100 percent.
//  - Panic (only with scaleUp.panicPolicy): when the latest recommendation reaches panicThresholdPercent of the ready
//    replicas, panic lasts until panicModeHold after the last such sync. In panic, scale-up uses the panic rate
//    (percent, default 1000, per its period) with no window, and scale-down never happens.
//  - Scale-down: never while pods of the target are not ready (they are starting: their load is not yet visible, the
//    flapping users complain about), never in panic; else to the largest recommendation of scaleDown's
//    stabilizationWindow (default 300s), at most the rate allows: `instances` fewer and/or `percent` fewer of the
//    count at the start of the period, selectPolicy Max (default) allowing the larger cut; neither given → 100 percent.
//  - Zero: a scale-down stops at 1 (window and rates as above). Only the last step, 1 → 0, goes further, with
//    minReplicas 0, a recommendation of 0 and the target idle (no request running or waiting on any ready pod) for
//    scaleToZeroIdle (default: the scale-down window); N → 0 in one step never happens (KEDA's cooldown bypassing
//    the HPA's policy is a known complaint). The idle clock starts over whenever the target is busy, holds, or is
//    scaled up by anyone (the gateway's 0→1 included).
//  - The result is clamped to [minReplicas, maxReplicas]; the clamp is reported (ScalingLimited).
//  - A fresh state (controller restart, new binding) counts the current replicas as a recommendation made now, so a
//    restart never scales down before a full stabilization window of evidence (Knative's lesson: history is lost).
import type { AutoscalingBehavior, AutoscalingMode } from '../../api/kinds/index.ts';
import { parseDuration } from '../../kube/units.ts';

export interface ScalerState {
  /** Recommendations, oldest first (pruned to the longest window). */
  recommendations: { at: number; replicas: number; seed?: true }[];
  /** Scaling actions (by us or observed), oldest first, pruned to the longest period. */
  changes: { at: number; from: number; to: number }[];
  /** Panic lasts until this time (ms), 0 when not panicking. */
  panicUntil: number;
  /** When the target was last seen busy (or held, or scaled up); undefined until the first sync. */
  activeAt: number | undefined;
  /** The count seen at the previous sync, to notice others' writes. */
  lastSeen: number | undefined;
}

export function newState(): ScalerState {
  return { recommendations: [], changes: [], panicUntil: 0, activeAt: undefined, lastSeen: undefined };
}

export type Limit = 'TooFewReplicas' | 'TooManyReplicas' | 'ScaleUpLimit' | 'ScaleDownLimit' | 'PanicNoScaleDown' | 'PodsStarting' | 'ScaleToZeroIdle';

export interface Decision {
  replicas: number;
  mode: AutoscalingMode;
  /** Why, for the history and the Event. */
  reason: string;
  /** What held the count back from the recommendation, if anything. */
  limit?: Limit;
}

export interface DecideInput {
  now: number;
  /** spec.replicas of the target. */
  current: number;
  ready: number;
  min: number;
  max: number;
  /** The recommendation (recommend.ts), undefined to hold. */
  recommendation: number | undefined;
  /** What asked for it (the winning metric against its target), for the reason. */
  why?: string;
  /** Any request running or waiting on a ready pod. */
  busy: boolean;
  behavior: AutoscalingBehavior | undefined;
  /** The policy's scaleToZeroIdle, if set. */
  scaleToZeroIdle?: string;
}

const ms = (text: string | undefined, fallback: number): number => (text === undefined ? fallback : parseDuration(text) ?? fallback);

export interface Rate {
  instances?: number;
  percent?: number;
  selectPolicy: 'Max' | 'Min';
  periodMs: number;
  windowMs: number;
}

/** The rate's instances and/or percent as given, or the defaults when neither is. */
function amounts(given: { instances?: number; percent?: number } | undefined, defaults: Pick<Rate, 'instances' | 'percent'>): Pick<Rate, 'instances' | 'percent'> {
  if (given?.instances === undefined && given?.percent === undefined) return defaults;
  return { ...(given.instances !== undefined ? { instances: given.instances } : {}), ...(given.percent !== undefined ? { percent: given.percent } : {}) };
}

/** The behaviour with every default filled in. */
export function resolveBehavior(behavior: AutoscalingBehavior | undefined): { up: Rate; down: Rate; panic?: { thresholdPercent: number; holdMs: number; percent: number; periodMs: number } } {
  const up = behavior?.scaleUp?.stablePolicy;
  const down = behavior?.scaleDown;
  const panic = behavior?.scaleUp?.panicPolicy;
  return {
    up: {
      ...amounts(up, { instances: 4, percent: 100 }),
      selectPolicy: up?.selectPolicy ?? 'Max',
      periodMs: ms(up?.period, 15_000),
      windowMs: ms(up?.stabilizationWindow, 0),
    },
    down: {
      ...amounts(down, { percent: 100 }),
      selectPolicy: down?.selectPolicy ?? 'Max',
      periodMs: ms(down?.period, 15_000),
      windowMs: ms(down?.stabilizationWindow, 300_000),
    },
    ...(panic
      ? { panic: { thresholdPercent: panic.panicThresholdPercent ?? 200, holdMs: ms(panic.panicModeHold, 60_000), percent: panic.percent ?? 1000, periodMs: ms(panic.period, 15_000) } }
      : {}),
  };
}

/** The count at the start of the period: current minus every change made within it. */
function countAtPeriodStart(state: ScalerState, now: number, periodMs: number, current: number): number {
  let count = current;
  for (let i = state.changes.length - 1; i >= 0; i--) {
    const c = state.changes[i]!;
    if (c.at <= now - periodMs) break;
    count -= c.to - c.from;
  }
  return Math.max(0, count);
}

function upLimit(rate: Pick<Rate, 'instances' | 'percent' | 'selectPolicy'>, base: number): number {
  const limits: number[] = [];
  if (rate.instances !== undefined) limits.push(base + rate.instances);
  if (rate.percent !== undefined) limits.push(base + Math.ceil((Math.max(1, base) * rate.percent) / 100));
  if (limits.length === 0) return Infinity;
  return rate.selectPolicy === 'Min' ? Math.min(...limits) : Math.max(...limits);
}

function downLimit(rate: Rate, base: number): number {
  const limits: number[] = [];
  if (rate.instances !== undefined) limits.push(base - rate.instances);
  if (rate.percent !== undefined) limits.push(base - Math.floor((base * rate.percent) / 100));
  if (limits.length === 0) return 0;
  return Math.max(0, rate.selectPolicy === 'Min' ? Math.max(...limits) : Math.min(...limits));
}

export function decide(input: DecideInput, previous: ScalerState): { decision: Decision; state: ScalerState } {
  const { now, current, ready, min, max } = input;
  const by = input.why ? ` by ${input.why}` : '';
  const b = resolveBehavior(input.behavior);
  const state: ScalerState = { ...previous, recommendations: [...previous.recommendations], changes: [...previous.changes] };
  const keepMs = Math.max(b.up.windowMs, b.down.windowMs, b.up.periodMs, b.down.periodMs, b.panic?.periodMs ?? 0);

  // Others' writes (the gateway's 0→1, a user's kubectl scale) are changes too: they count against the rate.
  if (state.lastSeen !== undefined && state.lastSeen !== current) state.changes.push({ at: now, from: state.lastSeen, to: current });
  if (state.activeAt === undefined || (state.lastSeen !== undefined && current > state.lastSeen)) state.activeAt = now;
  // The seed counts in scale-down windows only (it is evidence against shrinking, not for growing).
  if (state.recommendations.length === 0 && current > 0) state.recommendations.push({ at: now, replicas: current, seed: true });
  state.lastSeen = current;
  const prune = () => {
    state.recommendations = state.recommendations.filter((r) => r.at > now - keepMs || r.at === now);
    state.changes = state.changes.filter((c) => c.at > now - keepMs);
  };
  const clamp = (n: number, d: Omit<Decision, 'replicas'>): Decision => {
    if (n < min) return { ...d, replicas: min, limit: 'TooFewReplicas' };
    if (n > max) return { ...d, replicas: max, limit: 'TooManyReplicas' };
    return { ...d, replicas: n };
  };
  const finish = (decision: Decision) => {
    if (decision.replicas !== current) {
      state.changes.push({ at: now, from: current, to: decision.replicas });
      state.lastSeen = decision.replicas;
    }
    prune();
    return { decision, state };
  };

  if (input.recommendation === undefined) {
    state.activeAt = now;
    return finish(clamp(current, { mode: 'Hold', reason: ready === 0 ? 'no ready pods' : 'no fresh metrics' }));
  }
  const rec = input.recommendation;
  state.recommendations.push({ at: now, replicas: rec });
  if (input.busy) state.activeAt = now;

  if (b.panic && ready > 0 && rec * 100 >= ready * b.panic.thresholdPercent) state.panicUntil = now + b.panic.holdMs;
  const panic = b.panic !== undefined && state.panicUntil > now;
  if (!panic) state.panicUntil = 0;
  const mode: AutoscalingMode = panic ? 'Panic' : 'Stable';

  if (rec > current) {
    if (panic) {
      const base = countAtPeriodStart(state, now, b.panic!.periodMs, current);
      const limit = upLimit({ percent: b.panic!.percent, selectPolicy: 'Max' }, base);
      const to = Math.max(current, Math.min(rec, limit));
      return finish(clamp(to, { mode, reason: `panic: recommended ${rec} for ${ready} ready${by}`, ...(to < rec ? { limit: 'ScaleUpLimit' as const } : {}) }));
    }
    const windowed = Math.min(...state.recommendations.filter((r) => !r.seed && (r.at > now - b.up.windowMs || r.at === now)).map((r) => r.replicas));
    const base = countAtPeriodStart(state, now, b.up.periodMs, current);
    const to = Math.max(current, Math.min(windowed, upLimit(b.up, base)));
    return finish(clamp(to, { mode, reason: `recommended ${rec}${by}`, ...(to < rec ? { limit: 'ScaleUpLimit' as const } : {}) }));
  }

  if (rec < current) {
    if (panic) return finish(clamp(current, { mode, reason: 'panic: no scale-down', limit: 'PanicNoScaleDown' }));
    if (ready < current) return finish(clamp(current, { mode, reason: `${current - ready} pods not ready`, limit: 'PodsStarting' }));
    const windowed = Math.max(...state.recommendations.filter((r) => r.at > now - b.down.windowMs || (r.at === now && !r.seed)).map((r) => r.replicas));
    const base = countAtPeriodStart(state, now, b.down.periodMs, current);
    let to = Math.min(current, Math.max(1, windowed, downLimit(b.down, base)));
    let limit: Limit | undefined = to > Math.max(1, rec) ? 'ScaleDownLimit' : undefined;
    // The last step, 1 → 0, is the idle clock's alone: the window and rates took the count down to 1 as any other.
    const idleFor = now - (state.activeAt ?? now);
    if (current === 1 && to === 1 && rec === 0 && min === 0) {
      if (idleFor >= ms(input.scaleToZeroIdle, b.down.windowMs)) to = 0;
      else limit = 'ScaleToZeroIdle';
    }
    const reason = to === 0 ? `idle for ${Math.round(idleFor / 1000)}s` : `recommended ${rec}${by}`;
    return finish(clamp(to, { mode, reason, ...(limit ? { limit } : {}) }));
  }
  return finish(clamp(current, { mode, reason: `recommended ${rec}${by}` }));
}
