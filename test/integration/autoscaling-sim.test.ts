// The autoscaling benchmark's fleet simulation (bench/autoscaling-sim.ts): conservation, an undersized fixed fleet
// missing the SLO, and the HPA-style baseline's scale-up under a step and its 300 s scale-down window.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_LATENCY } from '../../src/engine/profiles.ts';
import {
  fixedScaler, hpaScaler, poissonWorkload, simulate, summarize, type EngineModel, type Scaler, type Trace, type Workload,
} from '../../bench/autoscaling-sim.ts';

const TRACE: Trace = {
  gaps: Float64Array.from([0, 0.5, 0.5, 0.5]),
  prompt: Int32Array.from([1000, 2000, 500, 1500]),
  output: Int32Array.from([100, 20, 200, 1]),
  rate: 2,
};
const MODEL: EngineModel = { latency: DEFAULT_LATENCY, maxNumSeqs: 64, maxBatchedTokens: 8192, kvTokens: 400_000, maxWaiting: 1000, coldStartSeconds: 60 };
const SLO = { ttftSeconds: 2, tpotSeconds: 0.1 };

function concat(a: Workload, b: Workload, offset: number): Workload {
  return {
    arrival: Float64Array.from([...a.arrival, ...Array.from(b.arrival, (t) => t + offset)]),
    prompt: Int32Array.from([...a.prompt, ...b.prompt]),
    output: Int32Array.from([...a.output, ...b.output]),
    end: offset + b.end,
  };
}

test('every request finishes or fails, exactly once', () => {
  const w = poissonWorkload(TRACE, 30, 120, 1);
  const r = simulate(w, { model: MODEL, scaler: fixedScaler(2), initialReplicas: 2, measureFrom: 0, measureTo: 120, maxWaitSeconds: 30, gatewayQueue: 100 });
  const s = summarize(r, SLO);
  assert.equal(s.requests, w.arrival.length);
  assert.equal(s.finished + s.failed, s.requests);
  for (let k = 0; k < w.arrival.length; k++) assert.ok(r.outcomes.state[k] === 1 || r.outcomes.state[k] === 2);
  assert.ok(s.finished > 0);
  assert.equal(r.replicaSeconds, 240);
});

test('a fixed fleet with too little capacity misses the SLO; a large enough one meets it', () => {
  const w = poissonWorkload(TRACE, 40, 120, 2);
  const run = (n: number) => summarize(simulate(w, { model: MODEL, scaler: fixedScaler(n), initialReplicas: n, measureFrom: 20, measureTo: 120, maxWaitSeconds: 30, gatewayQueue: 100 }), SLO);
  const small = run(1);
  const large = run(8);
  assert.ok(small.attainment < 0.5, `1 replica: ${small.attainment}`);
  assert.ok(small.failed > 0);
  assert.ok(large.attainment > 0.99, `8 replicas: ${large.attainment}`);
  assert.equal(large.failed, 0);
});

test('HPA-style scales up under a step load and waits its 300 s window before scaling down', () => {
  // 2 req/s for 120 s, 60 req/s for 300 s, then 2 req/s for 600 s.
  const w = concat(concat(poissonWorkload(TRACE, 2, 120, 3), poissonWorkload(TRACE, 60, 300, 4), 120), poissonWorkload(TRACE, 2, 600, 5), 420);
  const hpa = hpaScaler({ targetWaiting: 5, tolerance: 0.1, periodSeconds: 15, downWindowSeconds: 300, min: 1, max: 20 });
  const r = simulate(w, { model: MODEL, scaler: hpa, initialReplicas: 1, measureFrom: 0, measureTo: 1020, maxWaitSeconds: 60, gatewayQueue: 1000 });
  const ups = r.actions.filter((a) => a.to > a.from);
  const downs = r.actions.filter((a) => a.to < a.from);
  assert.ok(ups.length > 0 && ups[0]!.at >= 120 && ups[0]!.at <= 150, `first scale-up at ${ups[0]?.at}`);
  assert.ok(r.maxReplicas > 1);
  // The first step up is bounded by max(+4, +100 %) per 15 s.
  assert.ok(ups[0]!.to <= 5);
  assert.ok(downs.length > 0, 'scaled down after the step');
  // The scale-up's recommendation stays in the 300 s window: the first scale-down comes at least 300 s after it.
  const firstDown = downs[0]!;
  const lastUp = ups.filter((u) => u.at < firstDown.at).at(-1)!;
  assert.ok(firstDown.at - lastUp.at >= 300, `scale-up at ${lastUp.at}, first scale-down at ${firstDown.at}`);
  assert.ok(downs.every((d) => d.at > 420), 'no scale-down during the step');
});
