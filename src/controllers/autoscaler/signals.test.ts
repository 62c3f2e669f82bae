import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readPod, resolveMetric, signalValues, busy, type PodSample } from './signals.ts';
import { recommend } from './recommend.ts';
import { quantile, parseHistograms, delta } from '../../api/engine-metrics/histogram.ts';

const vllm = (waiting: number, running: number, kv: number, ttft: [number, number][] = []) =>
  [
    `vllm:num_requests_waiting{model_name="m"} ${waiting}`,
    `vllm:num_requests_running{model_name="m"} ${running}`,
    `vllm:kv_cache_usage_perc{model_name="m"} ${kv}`,
    ...ttft.map(([le, c]) => `vllm:time_to_first_token_seconds_bucket{le="${le === Infinity ? '+Inf' : le}",model_name="m"} ${c}`),
  ].join('\n') + '\n';

test('metric names: canonical, vLLM and SGLang names, percentiles; unknown names are undefined', () => {
  assert.deepEqual(resolveMetric('vllm:num_requests_waiting'), { field: 'waiting', aggregate: 'sum' });
  assert.deepEqual(resolveMetric('sglang:num_queue_reqs'), { field: 'waiting', aggregate: 'sum' });
  assert.equal(resolveMetric('kv_cache_usage')!.aggregate, 'average');
  assert.deepEqual(resolveMetric('ttft_seconds_p99'), { field: 'ttft', aggregate: 'average', quantile: 0.99 });
  assert.deepEqual(resolveMetric('vllm:time_to_first_token_seconds'), { field: 'ttft', aggregate: 'average', quantile: 0.95 });
  assert.deepEqual(resolveMetric('sglang:inter_token_latency_seconds:p50'), { field: 'itl', aggregate: 'average', quantile: 0.5 });
  assert.equal(resolveMetric('cpu'), undefined);
  assert.equal(resolveMetric('vllm:time_to_first_token_seconds:p42'), undefined);
});

test('sums over ready pods, KV usage averaged, latency from histogram deltas; garbage is no sample', () => {
  const a = readPod(vllm(3, 2, 0.5, [[0.1, 10], [1, 20], [Infinity, 20]]), 'vllm')!;
  const b = readPod(vllm(1, 4, 0.9), 'sglang')!; // wrong engine configured: the mapping still finds vLLM names
  assert.equal(readPod('garbage\n', 'vllm'), null);
  const current = new Map<string, PodSample>([['a', a], ['b', b]]);
  const previous = new Map<string, PodSample>([['a', readPod(vllm(0, 0, 0, [[0.1, 10], [1, 10], [Infinity, 10]]), 'vllm')!]]);
  const values = signalValues(
    [
      { metricName: 'vllm:num_requests_waiting', targetValue: 2 },
      { metricName: 'num_requests', targetValue: '5' },
      { metricName: 'kv_cache_usage', targetValue: '800m' },
      { metricName: 'ttft_seconds_p50', targetValue: '0.5' },
      { metricName: 'nonsense', targetValue: 1 },
    ],
    current,
    previous,
  );
  assert.deepEqual(values.map((v) => v.value && Number(v.value.toFixed(3))), [4, 10, 0.7, 0.55, undefined]);
  assert.equal(values[2]!.target, 0.8);
  assert.equal(busy(current), true);
  assert.equal(busy(new Map([['a', readPod(vllm(0, 0, 0), 'vllm')!]])), false);
  assert.deepEqual(signalValues([{ metricName: 'num_requests', targetValue: 1 }], new Map(), new Map())[0]!.value, undefined);
});

test('histograms: a counter that went down is a restart (the new scrape alone); quantile interpolates; empty has none', () => {
  const h = (c: number[]) => parseHistograms(c.map((n, i) => `x_bucket{le="${[1, 2, '+Inf'][i]}"} ${n}`).join('\n'), ['x']).get('x')!;
  assert.deepEqual(delta(h([5, 5, 5]), h([9, 9, 9])).counts, [5, 5, 5]);
  assert.deepEqual(delta(h([5, 8, 8]), h([1, 1, 1])).counts, [4, 7, 7]);
  assert.equal(quantile(h([0, 10, 10]), 0.5), 1.5);
  assert.equal(quantile(h([0, 0, 4]), 0.9), 2);
  assert.equal(quantile(h([0, 0, 0]), 0.9), undefined);
});

const v = (name: string, value: number | undefined, target: number, aggregate: 'sum' | 'average' = 'sum') => ({ name, value, target, targetText: String(target), aggregate });

test('recommend: ceil(sum/target), HPA formula for averages, tolerance keeps current, the largest wins', () => {
  assert.equal(recommend([v('w', 23, 1)], 1, 1, 10)!.replicas, 23);
  assert.equal(recommend([v('w', 10.5, 10)], 1, 1, 10)!.replicas, 1); // within 10 %
  assert.equal(recommend([v('w', 12, 10)], 1, 1, 10)!.replicas, 2);
  assert.equal(recommend([v('w', 12, 10)], 1, 1, 25)!.replicas, 1);
  assert.equal(recommend([v('kv', 0.9, 0.5, 'average')], 2, 2, 10)!.replicas, 4); // ceil(2 × 0.9/0.5)
  const r = recommend([v('w', 3, 1), v('kv', 0.95, 0.2, 'average'), v('x', undefined, 1)], 1, 1, 0)!;
  assert.equal(r.replicas, 5);
  assert.equal(r.winner.name, 'kv');
  assert.equal(r.metrics.length, 2);
  assert.equal(recommend([v('w', 0, 1)], 3, 3, 10)!.replicas, 0);
  assert.equal(recommend([v('w', undefined, 1)], 1, 1, 10), undefined);
  assert.equal(recommend([v('w', 5, 0)], 1, 1, 10), undefined); // a zero target never divides
  assert.equal(recommend([v('w', 5, 1)], 0, 1, 10), undefined); // no ready pod: hold
});
