import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, newState, resolveBehavior, type DecideInput, type ScalerState } from './behavior.ts';
import { bindingStatus } from './status.ts';
import type { AutoscalingBehavior, AutoscalingPolicyBinding } from '../../api/kinds/index.ts';

/** Runs syncs every `step` ms; each entry is [recommendation, ready?, busy?]; the target follows every decision. */
function run(input: Partial<DecideInput> & { start: number }, recs: (number | undefined | [number | undefined, number?, boolean?])[], stepMs = 15_000) {
  let state: ScalerState = newState();
  let current = input.start;
  const out: { replicas: number; mode: string; limit?: string }[] = [];
  recs.forEach((r, i) => {
    const [rec, ready, busy] = Array.isArray(r) ? r : [r];
    const result = decide({ now: i * stepMs, current, ready: ready ?? current, min: 1, max: 100, recommendation: rec, busy: busy ?? (rec ?? 0) > 0, behavior: undefined, ...input }, state);
    state = result.state;
    current = result.decision.replicas;
    out.push({ replicas: current, mode: result.decision.mode, ...(result.decision.limit ? { limit: result.decision.limit } : {}) });
  });
  return out;
}
const counts = (o: { replicas: number }[]) => o.map((x) => x.replicas);

test('defaults are the HPA\'s: up max(4 pods, 100 %) per 15 s, no window; down 100 % per 15 s after 300 s', () => {
  const b = resolveBehavior(undefined);
  assert.deepEqual(b.up, { instances: 4, percent: 100, selectPolicy: 'Max', periodMs: 15_000, windowMs: 0 });
  assert.deepEqual(b.down, { percent: 100, selectPolicy: 'Max', periodMs: 15_000, windowMs: 300_000 });
  assert.equal(b.panic, undefined);
  assert.deepEqual(resolveBehavior({ scaleUp: { panicPolicy: {} } }).panic, { thresholdPercent: 200, holdMs: 60_000, percent: 1000, periodMs: 15_000 });
  assert.deepEqual(resolveBehavior({ scaleUp: { stablePolicy: { instances: 1 } } }).up.percent, undefined);
});

test('scale-up at the rate per period: 1 → 5 (4 instances) → 10 (100 %) → 20 …, capped by the recommendation', () => {
  assert.deepEqual(counts(run({ start: 1 }, [23, 23, 23, 23])), [5, 10, 20, 23]);
  const minPolicy: AutoscalingBehavior = { scaleUp: { stablePolicy: { instances: 2, percent: 100, selectPolicy: 'Min' } } };
  assert.deepEqual(counts(run({ start: 1, behavior: minPolicy }, [23, 23, 23])), [2, 4, 6]);
  // Two syncs within one period share its allowance.
  assert.deepEqual(counts(run({ start: 1, behavior: { scaleUp: { stablePolicy: { instances: 2 } } } }, [23, 23, 23, 23], 7_500)), [3, 3, 5, 5]);
});

test('scale-up stabilization window: the smallest recommendation of the window', () => {
  const behavior: AutoscalingBehavior = { scaleUp: { stablePolicy: { instances: 100, stabilizationWindow: '30s' } } };
  assert.deepEqual(counts(run({ start: 2, behavior }, [8, 9, 9, 9])), [8, 8, 9, 9]);
});

test('scale-down: the largest recommendation of the window (300 s by default), then the rate', () => {
  const recs = Array.from({ length: 24 }, () => 2);
  const out = counts(run({ start: 10 }, [10, ...recs]));
  assert.equal(out.slice(0, 20).every((n) => n === 10), true, 'held through the window');
  assert.equal(out.at(-1), 2);
  const fast: AutoscalingBehavior = { scaleDown: { instances: 1, stabilizationWindow: '0s' } };
  assert.deepEqual(counts(run({ start: 5, behavior: fast }, [1, 1, 1, 1, 1])), [4, 3, 2, 1, 1]);
  const percent: AutoscalingBehavior = { scaleDown: { percent: 50, stabilizationWindow: '0s' } };
  assert.deepEqual(counts(run({ start: 8, behavior: percent }, [1, 1, 1, 1])), [4, 2, 1, 1]);
});

test('no scale-down while pods are starting; no metrics holds (and clamps into the bounds)', () => {
  const fast: AutoscalingBehavior = { scaleDown: { stabilizationWindow: '0s' } };
  assert.deepEqual(run({ start: 4, behavior: fast }, [[1, 2]]), [{ replicas: 4, mode: 'Stable', limit: 'PodsStarting' }]);
  assert.deepEqual(run({ start: 3 }, [undefined, undefined]), [{ replicas: 3, mode: 'Hold' }, { replicas: 3, mode: 'Hold' }]);
  assert.deepEqual(run({ start: 7, max: 5 }, [undefined]), [{ replicas: 5, mode: 'Hold', limit: 'TooManyReplicas' }]);
  assert.deepEqual(run({ start: 1, min: 2 }, [1]), [{ replicas: 2, mode: 'Stable', limit: 'TooFewReplicas' }]);
  assert.deepEqual(run({ start: 3, max: 4 }, [50]), [{ replicas: 4, mode: 'Stable', limit: 'TooManyReplicas' }]);
});

test('panic: enters at the threshold, scales at the panic rate, never down while held, exits after the hold', () => {
  const behavior: AutoscalingBehavior = { scaleUp: { stablePolicy: { instances: 1 }, panicPolicy: { panicModeHold: '30s', percent: 200 } }, scaleDown: { stabilizationWindow: '0s' } };
  const out = run({ start: 1, behavior }, [1, 40, 40, 1, 1, 1, 1, 1]);
  assert.deepEqual(out.map((o) => o.mode), ['Stable', 'Panic', 'Panic', 'Panic', 'Stable', 'Stable', 'Stable', 'Stable']);
  // 1 → 3 (200 % of 1) → 9 (200 % of 3); held at 9 until 30 s after the last burst sync; then down at the stable
  // rate (100 %: to the recommendation).
  assert.deepEqual(counts(out), [1, 3, 9, 9, 1, 1, 1, 1]);
  assert.equal(out[3]!.limit, 'PanicNoScaleDown');
  // Below the threshold (recommendation < 2 × ready) is no panic: the stable rate applies.
  assert.deepEqual(run({ start: 2, behavior }, [3]).map((o) => [o.replicas, o.mode]), [[3, 'Stable']]);
  // Without panicPolicy there is never panic.
  assert.equal(run({ start: 1 }, [40]).at(0)!.mode, 'Stable');
});

test('scale to zero: only 1 → 0, only with min 0, after the idle window; held at 0 and at the gateway\'s 1 without pods', () => {
  const behavior: AutoscalingBehavior = { scaleDown: { stabilizationWindow: '30s' } };
  const idle = Array.from({ length: 6 }, () => 0);
  assert.deepEqual(counts(run({ start: 1, min: 0, behavior }, [1, ...idle])), [1, 1, 0, 0, 0, 0, 0]);
  assert.deepEqual(counts(run({ start: 1, min: 1, behavior }, idle)), [1, 1, 1, 1, 1, 1]);
  assert.deepEqual(counts(run({ start: 1, min: 0, behavior, scaleToZeroIdle: '60s' }, [1, ...idle])), [1, 1, 1, 1, 0, 0, 0]);
  // Several replicas go to 1 by the stable policy first.
  assert.deepEqual(counts(run({ start: 4, min: 0, behavior: { scaleDown: { stabilizationWindow: '0s' } }, scaleToZeroIdle: '15s' }, [0, 0, 0])), [1, 0, 0]);
  // At 0 with no pods: hold at 0. The gateway's 0 → 1 with the pod not ready: hold at 1.
  assert.deepEqual(run({ start: 0, min: 0 }, [[undefined, 0]]), [{ replicas: 0, mode: 'Hold' }]);
  let state = decide({ now: 0, current: 0, ready: 0, min: 0, max: 3, recommendation: undefined, busy: false, behavior }, newState()).state;
  const gateway = decide({ now: 15_000, current: 1, ready: 0, min: 0, max: 3, recommendation: undefined, busy: false, behavior }, state);
  assert.equal(gateway.decision.replicas, 1);
  state = gateway.state;
  // Its pod turns ready and served a short request already: the idle clock started at the gateway's write.
  const next = decide({ now: 30_000, current: 1, ready: 1, min: 0, max: 3, recommendation: 0, busy: false, behavior }, state);
  assert.equal(next.decision.replicas, 1);
});

test('a restart does not scale down before a window of evidence', () => {
  assert.deepEqual(counts(run({ start: 6 }, [1, 1, 1])), [6, 6, 6]);
});

test('status: counts, mode, metrics against targets, history of 10, conditions', () => {
  const binding = { metadata: { name: 'b', namespace: 'ns', generation: 3 }, spec: { policyRef: { name: 'p' }, targetRef: { name: 't' }, maxReplicas: 5 } } as AutoscalingPolicyBinding;
  const metric = { name: 'vllm:num_requests_waiting', value: 23, target: 1, targetText: '1', recommended: 23 };
  const now = new Date('2025-01-01T00:00:00.123Z');
  const s = bindingStatus(binding, { kind: 'decided', current: 1, ready: 1, decision: { replicas: 5, mode: 'Stable', reason: 'recommended 23', limit: 'TooManyReplicas' }, recommendation: { replicas: 23, winner: metric, metrics: [metric] }, signals: [{ name: 'vllm:num_requests_waiting', aggregate: 'sum', value: 23, target: 1, targetText: '1' }] }, now);
  assert.equal(s.observedGeneration, 3);
  assert.deepEqual([s.currentReplicas, s.desiredReplicas, s.readyReplicas, s.mode, s.lastScaleTime], [5, 5, 1, 'Stable', '2025-01-01T00:00:00Z']);
  assert.deepEqual(s.currentMetrics, [{ name: 'vllm:num_requests_waiting', value: '23', target: '1', recommended: 23 }]);
  assert.deepEqual(s.history, [{ time: '2025-01-01T00:00:00Z', from: 1, to: 5, reason: 'recommended 23' }]);
  assert.deepEqual(s.conditions!.map((c) => [c.type, c.status, c.reason]), [['AbleToScale', 'True', 'SucceededRescale'], ['ScalingActive', 'True', 'ValidMetricFound'], ['ScalingLimited', 'True', 'TooManyReplicas']]);
  const many = { ...binding, status: { history: Array.from({ length: 10 }, (_, i) => ({ time: 't', from: i, to: i + 1, reason: 'r' })) } };
  assert.equal(bindingStatus(many, { kind: 'decided', current: 1, ready: 1, decision: { replicas: 2, mode: 'Stable', reason: 'x' }, recommendation: undefined, signals: [] }, now).history!.length, 10);
  const hold = bindingStatus(binding, { kind: 'decided', current: 1, ready: 0, decision: { replicas: 1, mode: 'Hold', reason: 'no ready pods' }, recommendation: undefined, signals: [] }, now);
  assert.deepEqual(hold.conditions!.map((c) => c.reason), ['ReadyForNewScale', 'NoReadyPods', 'DesiredWithinRange']);
  const failed = bindingStatus(binding, { kind: 'invalid', reason: 'PolicyNotFound', message: 'AutoscalingPolicy p not found' }, now);
  assert.deepEqual(failed.conditions!.map((c) => [c.status, c.reason]), [['False', 'PolicyNotFound'], ['False', 'InvalidSpec']]);
});
