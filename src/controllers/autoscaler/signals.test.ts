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
  assert.deepEqual(resolveMetric('sglang:num_queue_reqs'), { source: 'engine', field: 'waiting', aggregate: 'sum' });
  assert.equal(resolveMetric('kv_cache_usage')!.aggregate, 'average');
  assert.deepEqual(resolveMetric('ttft_seconds_p99'), { source: 'engine', field: 'ttft', aggregate: 'average', quantile: 0.99 });
  assert.deepEqual(resolveMetric('vllm:time_to_first_token_seconds'), { source: 'engine', field: 'ttft', aggregate: 'average', quantile: 0.95 });
  assert.deepEqual(resolveMetric('sglang:inter_token_latency_seconds:p50'), { source: 'engine', field: 'itl', aggregate: 'average', quantile: 0.5 });
  assert.deepEqual(resolveMetric('cpu'), { source: 'resource', field: 'cpu', aggregate: 'average' });
  assert.deepEqual(resolveMetric('gateway_request_rate'), { source: 'gateway', field: 'rate', aggregate: 'sum' });
  assert.deepEqual(resolveMetric('DCGM_FI_DEV_GPU_UTIL'), resolveMetric('gpu_utilization'));
  assert.deepEqual(resolveMetric({ metricName: 'latency', targetValue: 1, prometheus: { query: 'q' } }), { source: 'prometheus', query: 'q', aggregate: 'average' });
  assert.equal(resolveMetric('latency'), undefined);
  assert.equal(resolveMetric('vllm:num_requests_waiting')!.source, 'engine');
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
    { ready: ['a', 'b'], engine: current, previous },
  );
  assert.deepEqual(values.map((v) => v.value && Number(v.value.toFixed(3))), [4, 10, 0.7, 0.55, undefined]);
  assert.equal(values[4]!.error, 'unknown metric nonsense');
  assert.ok(values.every((v) => !v.partial));
  assert.equal(values[2]!.target, 0.8);
  assert.equal(busy({ ready: ['a', 'b'], engine: current, previous }), true);
  assert.equal(busy({ ready: ['a'], engine: new Map([['a', readPod(vllm(0, 0, 0), 'vllm')!]]), previous }), false);
  assert.deepEqual(signalValues([{ metricName: 'num_requests', targetValue: 1 }], { ready: [], engine: new Map(), previous: new Map() })[0]!.value, undefined);
  // A ready pod without a fresh scrape: the sum covers only the others, so it is partial.
  const stale = signalValues([{ metricName: 'num_requests', targetValue: 1 }], { ready: ['a', 'b', 'c'], engine: current, previous });
  assert.deepEqual([stale[0]!.value, stale[0]!.partial], [10, true]);
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

test('gateway, resource, GPU and Prometheus sources: over the ready pods, partial when some are missing, errors kept', () => {
  const gpuPod = (util: number) => readPod(vllm(0, 1, 0.1) + `DCGM_FI_DEV_GPU_UTIL{gpu="0",pod="x"} ${util}\n`, 'vllm')!;
  const engine = new Map<string, PodSample>([['a', gpuPod(80)], ['b', gpuPod(40)]]);
  const gateway = { ok: true as const, value: new Map([['a', { inflight: 3, awaiting: 1, rate: 2.5 }], ['b', { inflight: 1, awaiting: 0, rate: undefined }], ['gone', { inflight: 9, awaiting: 9, rate: 9 }]]) };
  const resources = { ok: true as const, value: new Map([['a', { cpuCores: 1.5, memoryBytes: 4e9 }], ['b', { cpuCores: 0.5, memoryBytes: 2e9 }]]) };
  const queries = new Map([['p95', { ok: true as const, value: 0.42 }], ['broken', { ok: false as const, error: 'prometheus: bad_data: parse error' }]]);
  const metrics = [
    { metricName: 'gpu_utilization', targetValue: 60 },
    { metricName: 'gateway_inflight_requests', targetValue: 2 },
    { metricName: 'gateway_awaiting_first_byte', targetValue: 1 },
    { metricName: 'gateway_request_rate', targetValue: 1 },
    { metricName: 'cpu', targetValue: '500m' },
    { metricName: 'memory', targetValue: '2Gi' },
    { metricName: 'p95', targetValue: '0.3', prometheus: { query: 'x' } },
    { metricName: 'broken', targetValue: '1', prometheus: { query: 'y' } },
  ];
  const values = signalValues(metrics, { ready: ['a', 'b'], engine, previous: new Map(), gateway, resources, queries });
  const queued = signalValues([{ metricName: 'queued_prompt_tokens', targetValue: 4096 }], {
    ready: ['a', 'b'],
    engine: new Map([['a', readPod(vllm(2, 1, 0.1) + 'matrixinfer_engine_queued_prompt_tokens{model_name="m"} 5000\n', 'vllm')!], ['b', readPod(vllm(0, 0, 0), 'vllm')!]]),
    previous: new Map(),
  });
  assert.deepEqual([queued[0]!.value, queued[0]!.partial], [5000, true]); // b exports none (a real vLLM): partial
  assert.match(signalValues([{ metricName: 'queued_prompt_tokens', targetValue: 1 }], { ready: ['b'], engine: new Map([['b', readPod(vllm(0, 0, 0), 'vllm')!]]), previous: new Map() })[0]!.error!, /vLLM and SGLang count queued requests/);
  assert.deepEqual(values.map((v) => v.value), [60, 4, 1, 2.5, 1, 3e9, 0.42, undefined]);
  // Only the rate lacks pod b (one scrape of its gateway so far): partial, so it may not lower the count.
  assert.deepEqual(values.map((v) => v.partial ?? false), [false, false, false, true, false, false, false, false]);
  assert.equal(values[7]!.error, 'prometheus: bad_data: parse error');
  assert.equal(values[4]!.target, 0.5);
  assert.equal(values[5]!.target, 2 * 1024 ** 3);
  // A source that failed: every metric of it unreadable, with the reason.
  const down = signalValues(metrics.slice(1, 2), { ready: ['a'], engine, previous: new Map(), gateway: { ok: false, error: 'no gateway answered' } });
  assert.deepEqual([down[0]!.value, down[0]!.error], [undefined, 'no gateway answered']);
  // A pod without DCGM series: the GPU metric says where to get it.
  const plain = signalValues(metrics.slice(0, 1), { ready: ['a'], engine: new Map([['a', readPod(vllm(0, 0, 0), 'vllm')!]]), previous: new Map() });
  assert.match(plain[0]!.error!, /DCGM_FI_DEV_GPU_UTIL/);
  // The gateway's in-flight count keeps a target from idling to zero even when the engines show nothing yet.
  const idleEngines = new Map([['a', readPod(vllm(0, 0, 0), 'vllm')!]]);
  assert.equal(busy({ ready: ['a'], engine: idleEngines, previous: new Map(), gateway }), true);
  assert.equal(busy({ ready: ['a'], engine: idleEngines, previous: new Map() }), false);
});

test('recommend: a partial value raises the count but never lowers it', () => {
  const partial = (value: number) => ({ name: 'w', value, target: 1, targetText: '1', aggregate: 'sum' as const, partial: true });
  assert.equal(recommend([partial(1)], 4, 4, 0)!.replicas, 4);
  assert.equal(recommend([partial(7)], 4, 4, 0)!.replicas, 7);
  assert.equal(recommend([{ ...partial(1), partial: false }], 4, 4, 0)!.replicas, 1);
});
