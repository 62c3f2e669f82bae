import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AutoscalingPolicyBinding } from '../api/kinds/index.ts';
import { ENGINE_SPEC, GATEWAY_SPEC, autoscalerFigures, modelRow } from './figures.ts';
import { readExposition, windowOf } from './readings.ts';

const gateway = (n: number) =>
  [
    `matrixinfer_gateway_requests_total{model="m",code="200"} ${10 * n}`,
    `matrixinfer_gateway_requests_total{model="m",code="503"} ${n}`,
    `matrixinfer_gateway_requests_total{model="other",code="200"} ${100 * n}`,
    `matrixinfer_gateway_tokens_total{model="m",type="prompt"} ${20 * n}`,
    `matrixinfer_gateway_tokens_total{model="m",type="completion"} ${200 * n}`,
    `matrixinfer_gateway_inflight_requests{model="m"} 3`,
    `matrixinfer_gateway_time_to_first_token_seconds_bucket{model="m",le="0.05"} ${10 * n}`,
    `matrixinfer_gateway_time_to_first_token_seconds_bucket{model="m",le="+Inf"} ${10 * n}`,
    `matrixinfer_gateway_endpoint_requests_total{namespace="ns",pod="p0",address="10.0.0.1:8000"} ${6 * n}`,
    `matrixinfer_gateway_endpoint_requests_total{namespace="ns",pod="p1",address="10.0.0.2:8000"} ${4 * n}`,
    `matrixinfer_gateway_routing_decisions_total{namespace="ns",pod="p0",address="10.0.0.1:8000",scorer="prefix-cache"} ${5 * n}`,
    `matrixinfer_gateway_routing_decisions_total{namespace="ns",pod="p0",address="10.0.0.1:8000",scorer="least-request"} ${n}`,
  ].join('\n');

const engine = (n: number, kv: number) =>
  [
    `vllm:kv_cache_usage_perc{model_name="m"} ${kv}`,
    `vllm:num_requests_running{model_name="m"} 2`,
    `vllm:num_requests_waiting{model_name="m"} 1`,
    `vllm:prefix_cache_queries_total{model_name="m"} ${100 * n}`,
    `vllm:prefix_cache_hits_total{model_name="m"} ${25 * n}`,
    `vllm:inter_token_latency_seconds_bucket{model_name="m",le="0.01"} 0`,
    `vllm:inter_token_latency_seconds_bucket{model_name="m",le="0.02"} ${50 * n}`,
    `vllm:inter_token_latency_seconds_bucket{model_name="m",le="0.1"} ${60 * n}`,
    `vllm:inter_token_latency_seconds_bucket{model_name="m",le="+Inf"} ${60 * n}`,
  ].join('\n');

const win = (text: (n: number) => string, spec = GATEWAY_SPEC) => windowOf(readExposition(text(2), spec, 2000), readExposition(text(1), spec, 1000))!;

test("a model's row: its gateway figures (not another model's), per-pod figures, ITL over all its pods", () => {
  const row = modelRow({
    namespace: 'ns',
    name: 'm',
    gateway: win(gateway),
    pods: new Map([
      ['p0', win((n) => engine(n, 0.5), ENGINE_SPEC)],
      ['p1', win((n) => engine(n, 0.25), ENGINE_SPEC)],
    ]),
    binding: undefined,
  });
  assert.equal(row.rps, 11);
  assert.equal(row.errors, 1);
  assert.equal(row.tokens_in, 20);
  assert.equal(row.tokens_out, 200);
  assert.equal(row.inflight, 3);
  assert.equal(row.ttft_p99, 0.0495);
  assert.equal(row['pod_rps:p0'], 6);
  assert.equal(row['pod_rps:p1'], 4);
  assert.equal(row['route:p0:prefix-cache'], 5);
  assert.equal(row['route:p0:least-request'], 1);
  assert.equal(row['kv:p0'], 0.5);
  assert.equal(row['kv:p1'], 0.25);
  assert.equal(row['prefix:p0'], 0.25);
  assert.equal(row['running:p1'], 2);
  // 120 observations over both pods, 100 of them in (0.01, 0.02]: p50 there, p99 in (0.02, 0.1].
  assert.ok(row.itl_p50! > 0.01 && row.itl_p50! <= 0.02, String(row.itl_p50));
  assert.ok(row.itl_p99! > 0.02 && row.itl_p99! <= 0.1, String(row.itl_p99));
  assert.equal(row.as_current, undefined, 'no binding, no autoscaler figures');
});

test('before a second scrape a row has gauges but no rates; a pod without a window has no figures', () => {
  assert.deepEqual(modelRow({ namespace: 'ns', name: 'm', gateway: undefined, pods: new Map([['p0', undefined]]), binding: undefined }), {});
  const first = readExposition(gateway(1), GATEWAY_SPEC, 1000);
  const row = modelRow({ namespace: 'ns', name: 'm', gateway: { seconds: 0, rates: new Map(), increases: new Map(), gauges: first.gauges, histograms: new Map() }, pods: new Map(), binding: undefined });
  assert.deepEqual(row, { inflight: 3 });
});

test("the autoscaler's status as numbers: a summed metric's target scaled by ready replicas, the mode as its index", () => {
  const binding = {
    metadata: { name: 'm', namespace: 'ns' },
    spec: { policyRef: { name: 'p' }, minReplicas: 1, maxReplicas: 4 },
    status: {
      currentReplicas: 3,
      desiredReplicas: 4,
      readyReplicas: 2,
      mode: 'Panic',
      currentMetrics: [{ name: 'num_requests', value: '9', target: '2' }],
      forecast: { enabled: true, horizon: '30s', value: '11.5' },
    },
  } as AutoscalingPolicyBinding;
  assert.deepEqual(autoscalerFigures(binding), { as_current: 3, as_desired: 4, as_ready: 2, as_min: 1, as_max: 4, as_mode: 2, as_value: 9, as_target: 4, as_forecast: 11.5 });
  const averaged = { ...binding, status: { ...binding.status, mode: undefined, currentMetrics: [{ name: 'kv_cache_usage', target: '0.8' }], forecast: undefined } } as AutoscalingPolicyBinding;
  const row = autoscalerFigures(averaged);
  assert.equal(row.as_target, 0.8, 'an averaged metric: the target as it is');
  assert.equal(row.as_value, undefined);
  assert.equal(row.as_mode, undefined);
  assert.deepEqual(autoscalerFigures(undefined), {});
});
