import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createForecaster,
  forecastFloor,
  recordScaleUp,
  recordScaleDown,
  recordReady,
  medianLead,
  leadSteps,
  StepRing,
  EMPTY_LEAD,
  MAX_LEAD_SAMPLES,
  type ForecastMethod,
  type Forecaster,
} from './forecast.ts';

const STEP = 60_000;
const SEASON = 144; // a short "day" keeps the tests fast; the cost test uses a real one (1440 one-minute steps)

/** Deterministic noise: a seeded LCG and Box–Muller. */
function noise(seed: number) {
  let s = seed;
  const uniform = () => ((s = (s * 1103515245 + 12345) % 2147483648) + 1) / 2147483649;
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

const daily = (k: number) => 1000 + 500 * Math.sin((2 * Math.PI * k) / SEASON);

function feed(f: Forecaster, from: number, to: number, series: (k: number) => number): void {
  for (let k = from; k < to; k++) f.observe(k * STEP, series(k));
}

const both: ForecastMethod[] = ['SeasonalNaive', 'HoltWinters'];

for (const method of both) {
  test(`${method}: a daily sine with 3 % noise is forecast closely, MAPE small, enabled`, () => {
    const n = noise(1);
    const f = createForecaster({ method, stepMs: STEP, seasonLength: SEASON, errorHorizon: 3 });
    feed(f, 0, SEASON, (k) => daily(k) * (1 + 0.03 * n()));
    assert.equal(f.enabled(30), false, 'one season is not enough: no error measured yet');
    feed(f, SEASON, 4 * SEASON, (k) => daily(k) * (1 + 0.03 * n()));
    const mape = f.error()!;
    assert.ok(mape < 8, `MAPE ${mape}`);
    assert.equal(f.enabled(30), true);
    const ahead = f.forecast(3)!;
    const truth = daily(4 * SEASON - 1 + 3);
    assert.ok(Math.abs(ahead - truth) / truth < 0.1, `forecast ${ahead} vs ${truth}`);
    const under = f.underForecastPercent()!;
    assert.ok(under > 10 && under < 90, `unbiased: under-forecast ${under} %`);
  });
}

test('step change: seasonal-naive MAPE rises and it disables itself, then recovers one season later', () => {
  const n = noise(2);
  const f = createForecaster({ method: 'SeasonalNaive', stepMs: STEP, seasonLength: SEASON, errorHorizon: 3 });
  const level = (k: number) => (k >= 3 * SEASON ? 2.5 : 1);
  const series = (k: number) => level(k) * daily(k) * (1 + 0.03 * n());
  feed(f, 0, 3 * SEASON, series);
  assert.equal(f.enabled(25), true);
  feed(f, 3 * SEASON, 3 * SEASON + 40, series);
  assert.ok(f.error()! > 25, `after the step MAPE is ${f.error()}`);
  assert.equal(f.enabled(25), false);
  feed(f, 3 * SEASON + 40, 4 * SEASON + 70, series);
  assert.ok(f.error()! < 10, `one season after the step MAPE is ${f.error()}`);
  assert.equal(f.enabled(25), true);
});

test('step change: Holt–Winters absorbs it through its level; the error rises and falls back under the bound', () => {
  const n = noise(2);
  const f = createForecaster({ method: 'HoltWinters', stepMs: STEP, seasonLength: SEASON, errorHorizon: 3, errorWindow: 15 });
  const series = (k: number) => (k >= 3 * SEASON ? 2.5 : 1) * daily(k) * (1 + 0.03 * n());
  feed(f, 0, 3 * SEASON, series);
  const before = f.error()!;
  feed(f, 3 * SEASON, 3 * SEASON + 8, series);
  const during = f.error()!;
  assert.ok(during > 3 * before, `error ${before} → ${during}`);
  assert.equal(f.enabled(10), false, 'a tight bound turns it off');
  feed(f, 3 * SEASON + 8, 3 * SEASON + 60, series);
  assert.ok(f.error()! < 10, `recovered to ${f.error()}`);
  assert.equal(f.enabled(10), true);
});

for (const method of both) {
  test(`${method}: random noise (lognormal, no season) keeps it disabled`, () => {
    const n = noise(3);
    const f = createForecaster({ method, stepMs: STEP, seasonLength: SEASON });
    for (let k = 0; k < 5 * SEASON; k++) {
      f.observe(k * STEP, 100 * Math.exp(1.5 * n()));
      if (k > 2 * SEASON) assert.equal(f.enabled(30), false, `enabled at step ${k} with MAPE ${f.error()}`);
    }
    assert.ok(f.error()! > 100);
  });
}

test('trend + season: Holt–Winters beats seasonal-naive', () => {
  const errors: Record<string, number> = {};
  for (const method of both) {
    const n = noise(4);
    const f = createForecaster({ method, stepMs: STEP, seasonLength: SEASON, errorHorizon: 3 });
    feed(f, 0, 6 * SEASON, (k) => 1000 + 3 * k + 300 * Math.sin((2 * Math.PI * k) / SEASON) + 20 * n());
    errors[method] = f.error()!;
  }
  assert.ok(errors.HoltWinters! < errors.SeasonalNaive! / 3, JSON.stringify(errors));
  assert.ok(errors.HoltWinters! < 3, JSON.stringify(errors));
});

test('seasonal-naive averaged over k seasons smooths noise at the same phase', () => {
  const errorOf = (seasons: number) => {
    const n = noise(5);
    const f = createForecaster({ method: 'SeasonalNaive', stepMs: STEP, seasonLength: SEASON, seasons, errorWindow: 200 });
    feed(f, 0, 8 * SEASON, (k) => daily(k) * (1 + 0.1 * n()));
    return f.error()!;
  };
  assert.ok(errorOf(4) < errorOf(1), `${errorOf(4)} vs ${errorOf(1)}`);
});

test('near-zero actuals are not scored: an idle night does not blow up the MAPE', () => {
  const n = noise(6);
  // Busy for half the season, (almost) idle for the other half.
  const series = (k: number) => ((k % SEASON) < SEASON / 2 ? daily(k) * (1 + 0.03 * n()) : 0.01 * Math.abs(n()));
  const f = createForecaster({ method: 'SeasonalNaive', stepMs: STEP, seasonLength: SEASON, errorWindow: 200 });
  feed(f, 0, 3 * SEASON + SEASON / 2 + 10, series);
  assert.ok(f.error()! < 10, `MAPE ${f.error()}`);
  const idle = createForecaster({ method: 'HoltWinters', stepMs: STEP, seasonLength: SEASON });
  feed(idle, 0, 3 * SEASON, () => 0);
  assert.equal(idle.error(), undefined, 'all zero: nothing scored');
  assert.equal(idle.enabled(30), false);
});

test('the ring buffer is bounded and marks missing steps', () => {
  const ring = new StepRing(4);
  for (let k = 10; k < 20; k++) ring.push(k, k);
  assert.equal(ring.size, 4);
  assert.deepEqual([15, 16, 17, 18, 19].map((k) => ring.at(k)), [NaN, 16, 17, 18, 19]);
  assert.equal(ring.mean, 17.5);
  ring.push(20, NaN);
  assert.equal(ring.mean, 18, 'the missing step is not in the mean; 16 fell out');
  ring.replaceLast(30);
  assert.equal(ring.at(20), 30);
  assert.equal(ring.mean, 21);

  const f = createForecaster({ method: 'SeasonalNaive', stepMs: STEP, seasonLength: SEASON, seasons: 2 });
  feed(f, 0, 10 * SEASON, daily);
  assert.equal(f.size, 2 * SEASON, 'seasonal-naive keeps k seasons');
  const hw = createForecaster({ method: 'HoltWinters', stepMs: STEP, seasonLength: SEASON });
  feed(hw, 0, 10 * SEASON, daily);
  assert.equal(hw.size, SEASON, 'Holt–Winters keeps one season');
});

test('observations: same step replaces, older is dropped, a short gap is filled, a gap over a season resets', () => {
  const f = createForecaster({ method: 'SeasonalNaive', stepMs: STEP, seasonLength: SEASON });
  feed(f, 0, 3 * SEASON, daily);
  const size = f.size;
  f.observe(3 * SEASON * STEP, 1);
  f.observe(3 * SEASON * STEP + 30_000, daily(3 * SEASON)); // same step: replaces the 1
  f.observe(0, 5); // older: dropped
  assert.equal(f.size, size);
  assert.ok(Math.abs(f.forecast(SEASON)! - daily(3 * SEASON)) < 1e-9, 'the replaced value is what a season later forecasts');
  f.observe((3 * SEASON + 5) * STEP, daily(3 * SEASON + 5)); // 4 missing steps in between
  assert.equal(f.enabled(30), true, 'a short gap keeps it running');
  f.observe((5 * SEASON) * STEP, 1000); // more than a season later
  assert.equal(f.size, 1);
  assert.equal(f.enabled(30), false);
  assert.equal(f.forecast(1), undefined);
});

test('Holt–Winters keeps forecasting through missing steps', () => {
  const f = createForecaster({ method: 'HoltWinters', stepMs: STEP, seasonLength: SEASON });
  feed(f, 0, 3 * SEASON, daily);
  f.observe((3 * SEASON + 20) * STEP, daily(3 * SEASON + 20));
  const ahead = f.forecast(1)!;
  assert.ok(Math.abs(ahead - daily(3 * SEASON + 21)) < 30, `${ahead}`);
});

test('invalid options throw; forecast before warm-up is undefined', () => {
  assert.throws(() => createForecaster({ method: 'HoltWinters', stepMs: 0, seasonLength: 10 }), /stepMs/);
  assert.throws(() => createForecaster({ method: 'HoltWinters', stepMs: 1, seasonLength: 1 }), /seasonLength/);
  assert.throws(() => createForecaster({ method: 'HoltWinters', stepMs: 1, seasonLength: 10, alpha: 0 }), /alpha/);
  const f = createForecaster({ method: 'HoltWinters', stepMs: STEP, seasonLength: SEASON });
  f.observe(0, 10);
  assert.equal(f.forecast(1), undefined);
  assert.equal(f.error(), undefined);
});

test('forecastFloor: ceil(forecast / capacity) while enabled, undefined otherwise', () => {
  const f = createForecaster({ method: 'SeasonalNaive', stepMs: STEP, seasonLength: SEASON });
  assert.equal(forecastFloor({ forecaster: f, leadSteps: 3, capacityPerReplica: 100 }), undefined, 'no history');
  feed(f, 0, 3 * SEASON, daily);
  const demand = f.forecast(3)!;
  assert.equal(forecastFloor({ forecaster: f, leadSteps: 3, capacityPerReplica: 100 }), Math.ceil(demand / 100));
  assert.equal(forecastFloor({ forecaster: f, leadSteps: 3, capacityPerReplica: 0 }), undefined);
  const exact = createForecaster({ method: 'SeasonalNaive', stepMs: STEP, seasonLength: SEASON });
  feed(exact, 0, 3 * SEASON, () => 400.00000000001);
  assert.equal(exact.error(), 0);
  assert.equal(forecastFloor({ forecaster: exact, leadSteps: 2, capacityPerReplica: 100 }), 4, 'float noise on an exact multiple');
  const noisy = createForecaster({ method: 'SeasonalNaive', stepMs: STEP, seasonLength: SEASON });
  const n = noise(7);
  feed(noisy, 0, 3 * SEASON, () => 100 * Math.exp(n()));
  assert.equal(forecastFloor({ forecaster: noisy, leadSteps: 2, capacityPerReplica: 10, maxErrorPercent: 30 }), undefined);
});

test('lead: scale-ups are matched to the ready count, the median is taken, the period is added', () => {
  let s = EMPTY_LEAD;
  s = recordScaleUp(s, 0, 3);
  s = recordScaleUp(s, 10_000, 5);
  s = recordReady(s, 50_000, 2);
  assert.equal(medianLead(s), undefined, 'not there yet');
  s = recordReady(s, 90_000, 3);
  assert.deepEqual(s.samples, [90_000]);
  s = recordReady(s, 130_000, 5);
  assert.deepEqual(s.samples, [90_000, 120_000]);
  assert.equal(medianLead(s), 105_000);
  s = recordScaleUp(s, 200_000, 8);
  s = recordScaleDown(s, 6);
  s = recordReady(s, 900_000, 8);
  assert.deepEqual(s.samples, [90_000, 120_000], 'a scale-up overtaken by a scale-down is not a lead');
  s = recordScaleUp(s, 1_000_000, 9);
  s = recordReady(s, 1_600_000, 9); // one slow image pull
  assert.equal(medianLead(s), 120_000, 'the median ignores the outlier');
  for (let i = 0; i < 20; i++) s = recordReady(recordScaleUp(s, i, 1), i + 60_000, 1);
  assert.equal(s.samples.length, MAX_LEAD_SAMPLES);
  assert.equal(medianLead(s), 60_000);
  assert.equal(leadSteps(90_000, 120_000, 15_000), 7, '90 s of lead at 15 s steps, plus one period');
  assert.equal(leadSteps(undefined, 120_000, 60_000), 3, 'the fallback before the first measurement');
});

test('cost: 1000 targets × one day of 1-minute samples (prints, does not assert timings)', () => {
  const targets = 1000;
  const season = 1440;
  const report: string[] = [];
  for (const method of both) {
    const n = noise(8);
    const forecasters = Array.from({ length: targets }, () => createForecaster({ method, stepMs: STEP, seasonLength: season, errorHorizon: 3 }));
    let started = performance.now();
    for (let k = 0; k < season + 60; k++) for (const f of forecasters) f.observe(k * STEP, 1000 + 500 * Math.sin((2 * Math.PI * k) / season) + 20 * n());
    const warm = performance.now() - started;
    // One decision period: every target observes once and the floor is computed.
    const periods = 20;
    started = performance.now();
    let sum = 0;
    for (let p = 0; p < periods; p++) {
      const k = season + 60 + p;
      for (const f of forecasters) {
        f.observe(k * STEP, 1000 + 500 * Math.sin((2 * Math.PI * k) / season) + 20 * n());
        sum += forecastFloor({ forecaster: f, leadSteps: 3, capacityPerReplica: 100 }) ?? 0;
      }
    }
    const perPeriod = (performance.now() - started) / periods;
    // What each target holds: its ring (and HW's seasonal array) of float64s; the rest is a few scalars.
    const bytes = targets * 8 * (method === 'HoltWinters' ? 2 * season : season);
    assert.ok(sum > 0);
    report.push(`${method}: one period for ${targets} targets ${perPeriod.toFixed(2)} ms; warm-up of ${season + 60} steps × ${targets} ${warm.toFixed(0)} ms; ~${(bytes / 1048576).toFixed(1)} MiB of arrays`);
  }
  console.log(report.join('\n'));
});
