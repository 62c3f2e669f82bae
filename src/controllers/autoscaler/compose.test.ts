import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AutoscalingBehavior, AutoscalingPolicyBinding } from '../../api/kinds/index.ts';
import { newState, type ScalerState } from './behavior.ts';
import { compose, demandOf, forecasterSpec, type ComposeInput } from './compose.ts';
import { createForecaster, forecastFloor } from './forecast.ts';
import { boundsAt, type ScheduleEntry } from './schedule.ts';
import { bindingStatus } from './status.ts';

const OPEN: ScheduleEntry = { name: 'business-hours', cron: '* * * * *', duration: '1h', minReplicas: 4 };
const NIGHT: ScheduleEntry = { name: 'night', cron: '* * * * *', duration: '1h', maxReplicas: 2 };
const ONE_UP: AutoscalingBehavior = { scaleUp: { stablePolicy: { instances: 1, period: '15s' } }, scaleDown: { stabilizationWindow: '60s' } };

/** One sync at `now` with bounds from `schedules` over base 1..10. */
function input(over: Partial<ComposeInput> & { schedules?: ScheduleEntry[] }): ComposeInput {
  const { schedules = [], ...rest } = over;
  const base = { min: 1, max: 10 };
  const now = rest.now ?? Date.UTC(2025, 0, 6, 10, 0, 30);
  return { now, current: 2, ready: 2, busy: true, behavior: undefined, reactive: 2, floor: undefined, base, bounds: boundsAt(schedules, base, new Date(now)), ...rest };
}

test('an open window raises min at once, past the scale-up rate (HPA clamp semantics), mode Schedule naming it', () => {
  const { decision } = compose(input({ schedules: [OPEN], behavior: ONE_UP, reactive: 2 }), newState());
  assert.deepEqual([decision.replicas, decision.mode, decision.limit], [4, 'Schedule', 'TooFewReplicas']);
  assert.match(decision.reason, /business-hours: min 4/);
});

test("a window's max takes the count down at once, mode Schedule", () => {
  const { decision } = compose(input({ schedules: [NIGHT], current: 5, ready: 5, reactive: 5 }), newState());
  assert.deepEqual([decision.replicas, decision.mode], [2, 'Schedule']);
  assert.match(decision.reason, /night: max 2/);
});

test('the base bounds clamping is not Schedule (no window set them)', () => {
  const { decision } = compose(input({ reactive: 20, current: 10, ready: 10 }), newState());
  assert.deepEqual([decision.replicas, decision.mode, decision.limit], [10, 'Stable', 'TooManyReplicas']);
});

test('the floor is a recommendation: it goes through the scale-up rate, mode Forecast', () => {
  const { decision } = compose(input({ behavior: ONE_UP, reactive: 2, floor: 6 }), newState());
  assert.deepEqual([decision.replicas, decision.mode, decision.limit], [3, 'Forecast', 'ScaleUpLimit']);
  assert.match(decision.reason, /forecast needs 6, metrics 2/);
});

test('a floor at or below the reactive count changes nothing', () => {
  const { decision } = compose(input({ reactive: 5, floor: 3, current: 3, ready: 3 }), newState());
  assert.deepEqual([decision.replicas, decision.mode], [5, 'Stable']);
});

test('without metrics the floor may only raise: below the count it holds', () => {
  assert.deepEqual(
    (({ decision }) => [decision.replicas, decision.mode])(compose(input({ reactive: undefined, floor: 1, current: 3, ready: 3 }), newState())),
    [3, 'Hold'],
  );
  assert.deepEqual(
    (({ decision }) => [decision.replicas, decision.mode])(compose(input({ reactive: undefined, floor: 4, current: 2, ready: 2 }), newState())),
    [4, 'Forecast'],
  );
});

test('a falling forecast is held up by the scale-down window', () => {
  let state: ScalerState = newState();
  let current = 2;
  const out: number[] = [];
  for (const [i, floor] of [5, 5, 1, 1, 1, 1, 1].entries()) {
    const r = compose(input({ now: i * 15_000, behavior: ONE_UP, current, ready: current, reactive: 1, floor }), state);
    state = r.state;
    current = r.decision.replicas;
    out.push(current);
  }
  // Up one per period to 4 (the rate), then held while the last 5 (at 15 s) is inside the 60 s window, then down.
  assert.deepEqual(out, [3, 4, 4, 4, 4, 1, 1]);
});

test('panic keeps its mode even when the floor is higher', () => {
  const behavior: AutoscalingBehavior = { scaleUp: { panicPolicy: { panicThresholdPercent: 200 } } };
  const { decision } = compose(input({ behavior, reactive: 4, floor: 6 }), newState());
  assert.equal(decision.mode, 'Panic');
  assert.equal(decision.replicas, 6);
});

test('end to end with a real forecaster: a learned daily peak raises replicas before the load arrives', () => {
  const stepMs = 15_000;
  const season = 20;
  const f = createForecaster({ method: 'SeasonalNaive', stepMs, seasonLength: season, errorHorizon: 2 });
  const demand = (k: number) => (k % season >= 10 && k % season < 15 ? 40 : 8); // requests; target 4 per replica
  let k = 0;
  for (; k < season * 3 + 8; k++) f.observe(k * stepMs, demand(k));
  // Now at phase 7 with demand 8 (2 replicas); two steps ahead is phase 9 (still low), three is the peak.
  const floor = forecastFloor({ forecaster: f, leadSteps: 3, capacityPerReplica: 4, maxErrorPercent: 30 });
  assert.equal(floor, 10);
  const { decision } = compose(input({ reactive: 2, floor, current: 2, ready: 2 }), newState());
  assert.deepEqual([decision.replicas, decision.mode], [6, 'Forecast'], 'at the default rate (max of +4 and +100 %) toward 10');
});

test('demand is the total over ready pods; the forecaster key follows method, period and season', () => {
  assert.equal(demandOf({ name: 'num_requests', aggregate: 'sum', value: 12, target: 4, targetText: '4' }, 3), 12);
  assert.equal(demandOf({ name: 'kv_cache_usage', aggregate: 'average', value: 0.5, target: 0.8, targetText: '800m' }, 4), 2);
  assert.equal(demandOf({ name: 'x', aggregate: 'sum', value: undefined, target: 1, targetText: '1' }, 4), undefined);
  const a = forecasterSpec({ seasonLength: '200s' }, 20_000);
  assert.deepEqual(a.options, { method: 'HoltWinters', stepMs: 20_000, seasonLength: 10, seasons: 1, errorHorizon: 7 });
  assert.equal(forecasterSpec({ seasonLength: '200s', maxErrorPercent: 10, enabled: true }, 20_000).key, a.key, 'the bound and the switch keep the history');
  assert.notEqual(forecasterSpec({ seasonLength: '200s', method: 'SeasonalNaive' }, 20_000).key, a.key);
  assert.equal(forecasterSpec({ seasonLength: '1s' }, 20_000).options.seasonLength, 2, 'at least two steps');
});

test('status: the forecast (horizon, value, floor, error) and the bounds in force', () => {
  const binding = { apiVersion: 'registry.matrixinfer.ai/v1alpha1', kind: 'AutoscalingPolicyBinding', metadata: { name: 'b', generation: 1 }, spec: { policyRef: { name: 'p' }, targetRef: { name: 't' }, maxReplicas: 5 } } as AutoscalingPolicyBinding;
  const status = bindingStatus(
    binding,
    {
      kind: 'decided',
      current: 2,
      ready: 2,
      decision: { replicas: 3, mode: 'Forecast', reason: 'forecast needs 3, metrics 2' },
      recommendation: undefined,
      signals: [],
      forecast: { enabled: true, horizonMs: 135_000, value: 10.123456, recommended: 3, mape: 12.5 },
      schedule: { min: 1, max: 5, active: [] },
    },
    new Date(0),
  );
  assert.deepEqual(status.forecast, { enabled: true, horizon: '135s', value: '10.12', recommended: 3, mape: '12.5' });
  assert.deepEqual(status.schedule, { active: [], effectiveMin: 1, effectiveMax: 5 });
  assert.equal(status.mode, 'Forecast');
  assert.equal(status.history?.at(-1)?.reason, 'forecast needs 3, metrics 2');
});
