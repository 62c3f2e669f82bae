// What the autoscaler reads → one value per metric of the policy. Pure: the controller hands in this sync's readings
// (signals-read.ts fetches them); nothing here knows about time or I/O.
//
// Supported metric names (the policy's `metricName`; engine names are mapped by src/api/engine-metrics/parse.ts, so
// a vLLM name also reads an SGLang pod and the other way round):
//
// | name                          | source and series                                                   | aggregate |
// |-------------------------------|---------------------------------------------------------------------|-----------|
// | num_requests_waiting          | engine: vllm:num_requests_waiting, sglang:num_queue_reqs            | sum       |
// | num_requests_running          | engine: vllm:num_requests_running, sglang:num_running_reqs          | sum       |
// | num_requests                  | engine: waiting + running                                           | sum       |
// | queued_prompt_tokens          | engine: matrixinfer_engine_queued_prompt_tokens (the simulated engine's; vLLM and SGLang export none) | sum |
// | kv_cache_usage (0..1)         | engine: vllm:kv_cache_usage_perc, vllm:gpu_cache_usage_perc, sglang:token_usage | average |
// | ttft_seconds_p50/p90/p95/p99  | engine: vllm:|sglang:time_to_first_token_seconds[:pNN] (p95)        | average   |
// | itl_seconds_p50/p90/p95/p99   | engine: vllm:|sglang:inter_token_latency_seconds[:pNN] (p95)        | average   |
// | gpu_utilization (0..100)      | engine pod: DCGM_FI_DEV_GPU_UTIL (the DCGM exporter's name)        | average   |
// | gateway_inflight_requests     | gateways: matrixinfer_gateway_endpoint_inflight                     | sum       |
// | gateway_awaiting_first_byte   | gateways: matrixinfer_gateway_endpoint_awaiting_first_byte          | sum       |
// | gateway_request_rate (req/s)  | gateways: rate of matrixinfer_gateway_endpoint_requests_total       | sum       |
// | cpu (cores)                   | metrics.k8s.io PodMetrics (metrics-server; the node agent locally)  | average   |
// | memory (bytes)                | metrics.k8s.io PodMetrics                                           | average   |
// | any name, with `prometheus`   | the metric's PromQL query (prometheus.ts)                           | as given  |
//
// Rules:
//  - Every value is over the target's READY pods only. A sum is the total (recommend.ts divides by the per-replica
//    target); an average is per pod (recommend.ts uses the HPA's ready × value / target). A latency percentile is read
//    from the ready pods' histograms added together, each the difference between this scrape and the previous one of
//    the same pod (so: over the last sync period); a window with no observations has no value (nothing was served).
//  - A reading that covers only some of the ready pods (a scrape stale, a gateway not answering, a pod without
//    usage yet) gives a `partial` value: recommend.ts lets it raise the count, never lower it — the load of a pod
//    nobody could read is unknown, and guessing it zero would scale down on garbage.
//  - A metric that cannot be read has `value: undefined` and, where there is one, an `error` for the status;
//    recommend.ts ignores it, and with no usable metric at all the controller holds.
import { parseEngineMetrics, QUEUED_PROMPT_TOKENS, type EngineKind } from '../../api/engine-metrics/parse.ts';
import { parseHistograms, delta, sum, quantile, type Histogram } from '../../api/engine-metrics/histogram.ts';
import { readSamples } from '../../api/engine-metrics/samples.ts';
import { parseQuantity } from '../../kube/units.ts';
import type { MetricTarget } from '../../api/kinds/index.ts';
import type { GatewayPodView } from './gateway-view.ts';

export type Aggregate = 'sum' | 'average';
export type Source = 'engine' | 'gateway' | 'resource' | 'prometheus';
type EngineField = 'waiting' | 'running' | 'requests' | 'queuedTokens' | 'kvUsage' | 'ttft' | 'itl' | 'gpuUtil';
type GatewayField = 'inflight' | 'awaiting' | 'rate';
type ResourceField = 'cpu' | 'memory';

export type SignalSpec =
  | { source: 'engine'; field: EngineField; aggregate: Aggregate; /** For latency: the quantile (0.5 … 0.99). */ quantile?: number }
  | { source: 'gateway'; field: GatewayField; aggregate: 'sum' }
  | { source: 'resource'; field: ResourceField; aggregate: 'average' }
  | { source: 'prometheus'; query: string; address?: string; aggregate: Aggregate };

/** A reading of one source this sync: a value (partial when it covers only some ready pods) or why there is none. */
export type Reading<T> = { ok: true; value: T; partial?: boolean } | { ok: false; error: string };

const HISTOGRAMS = {
  ttft: ['vllm:time_to_first_token_seconds', 'sglang:time_to_first_token_seconds'],
  itl: ['vllm:inter_token_latency_seconds', 'sglang:inter_token_latency_seconds'],
} as const;
const ALL_HISTOGRAMS = [...HISTOGRAMS.ttft, ...HISTOGRAMS.itl];
const GPU_UTIL = 'DCGM_FI_DEV_GPU_UTIL';

const NAMED: Record<string, SignalSpec> = {
  num_requests_waiting: { source: 'engine', field: 'waiting', aggregate: 'sum' },
  'vllm:num_requests_waiting': { source: 'engine', field: 'waiting', aggregate: 'sum' },
  'sglang:num_queue_reqs': { source: 'engine', field: 'waiting', aggregate: 'sum' },
  num_requests_running: { source: 'engine', field: 'running', aggregate: 'sum' },
  'vllm:num_requests_running': { source: 'engine', field: 'running', aggregate: 'sum' },
  'sglang:num_running_reqs': { source: 'engine', field: 'running', aggregate: 'sum' },
  num_requests: { source: 'engine', field: 'requests', aggregate: 'sum' },
  queued_prompt_tokens: { source: 'engine', field: 'queuedTokens', aggregate: 'sum' },
  [QUEUED_PROMPT_TOKENS]: { source: 'engine', field: 'queuedTokens', aggregate: 'sum' },
  kv_cache_usage: { source: 'engine', field: 'kvUsage', aggregate: 'average' },
  'vllm:kv_cache_usage_perc': { source: 'engine', field: 'kvUsage', aggregate: 'average' },
  'vllm:gpu_cache_usage_perc': { source: 'engine', field: 'kvUsage', aggregate: 'average' },
  'sglang:token_usage': { source: 'engine', field: 'kvUsage', aggregate: 'average' },
  gpu_utilization: { source: 'engine', field: 'gpuUtil', aggregate: 'average' },
  [GPU_UTIL]: { source: 'engine', field: 'gpuUtil', aggregate: 'average' },
  gateway_inflight_requests: { source: 'gateway', field: 'inflight', aggregate: 'sum' },
  gateway_awaiting_first_byte: { source: 'gateway', field: 'awaiting', aggregate: 'sum' },
  gateway_request_rate: { source: 'gateway', field: 'rate', aggregate: 'sum' },
  cpu: { source: 'resource', field: 'cpu', aggregate: 'average' },
  memory: { source: 'resource', field: 'memory', aggregate: 'average' },
};

const QUANTILES: Record<string, number> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };

/** What a policy's metric means, or undefined for a name the autoscaler cannot read (admission refuses it). */
export function resolveMetric(metric: MetricTarget | string): SignalSpec | undefined {
  if (typeof metric !== 'string' && metric.prometheus) {
    const { query, address, aggregate } = metric.prometheus;
    return { source: 'prometheus', query, ...(address ? { address } : {}), aggregate: aggregate === 'Sum' ? 'sum' : 'average' };
  }
  const name = typeof metric === 'string' ? metric : metric.metricName;
  const named = NAMED[name];
  if (named) return named;
  const canonical = /^(ttft|itl)_seconds_(p50|p90|p95|p99)$/.exec(name);
  if (canonical) return { source: 'engine', field: canonical[1] as 'ttft' | 'itl', aggregate: 'average', quantile: QUANTILES[canonical[2]!]! };
  const [base, suffix = 'p95'] = name.split(/:(?=p\d\d$)/);
  const q = QUANTILES[suffix];
  if (q === undefined) return undefined;
  for (const field of ['ttft', 'itl'] as const) if ((HISTOGRAMS[field] as readonly string[]).includes(base!)) return { source: 'engine', field, aggregate: 'average', quantile: q };
  return undefined;
}

/** One ready pod's scrape, reduced to what the signals need. */
export interface PodSample {
  waiting: number;
  running: number;
  kvUsage: number;
  ttft?: Histogram;
  itl?: Histogram;
  /** DCGM_FI_DEV_GPU_UTIL averaged over the pod's GPUs, 0..100, when the pod exports it. */
  gpuUtil?: number;
  /** Prompt tokens queued for prefill, when the engine exports them. */
  queuedTokens?: number;
}

/** A scrape's text → PodSample; null when it holds no engine metrics (a scrape failure, as far as scaling goes). */
export function readPod(text: string, engine: EngineKind): PodSample | null {
  const parsed = parseEngineMetrics(text, engine);
  if (!parsed) return null;
  const histograms = parseHistograms(text, ALL_HISTOGRAMS);
  const pick = (names: readonly string[]) => histograms.get(names[parsed.engine === 'sglang' ? 1 : 0]!) ?? histograms.get(names[parsed.engine === 'sglang' ? 0 : 1]!);
  const ttft = pick(HISTOGRAMS.ttft);
  const itl = pick(HISTOGRAMS.itl);
  const gpus = readSamples(text, [GPU_UTIL]).get(GPU_UTIL);
  const gpuUtil = gpus ? gpus.reduce((s, g) => s + g.value, 0) / gpus.length : undefined;
  const queuedTokens = Number.isNaN(parsed.queuedTokens) ? undefined : parsed.queuedTokens;
  return {
    waiting: parsed.waiting,
    running: parsed.running,
    kvUsage: parsed.kvUsage,
    ...(ttft ? { ttft } : {}),
    ...(itl ? { itl } : {}),
    ...(gpuUtil !== undefined ? { gpuUtil } : {}),
    ...(queuedTokens !== undefined ? { queuedTokens } : {}),
  };
}

/** CPU and memory of one pod (metrics.k8s.io, summed over its containers). */
export interface PodResources {
  cpuCores: number;
  memoryBytes: number;
}

/** This sync's readings, each over the ready pods (by name) that the controller could read. */
export interface SignalInputs {
  /** Names of the target's ready pods: what a complete reading covers. */
  ready: readonly string[];
  /** Each ready pod's fresh engine sample, and its sample of the sync before (latency windows). */
  engine: ReadonlyMap<string, PodSample>;
  previous: ReadonlyMap<string, PodSample>;
  /** Per pod name, summed over the gateways; absent when no metric needs it. */
  gateway?: Reading<ReadonlyMap<string, GatewayPodView>>;
  resources?: Reading<ReadonlyMap<string, PodResources>>;
  /** Per metricName of a `prometheus` metric. */
  queries?: ReadonlyMap<string, Reading<number>>;
}

export interface SignalValue {
  name: string;
  aggregate: Aggregate;
  /** Undefined: unreadable this round. */
  value: number | undefined;
  /** Why it is unreadable, where that is known (a source's error). */
  error?: string;
  /** The value covers only some ready pods: it may raise the count, never lower it. */
  partial?: boolean;
  target: number;
  /** The target as written in the policy, for the status. */
  targetText: string;
}

/** Which sources the policy's metrics read (the controller fetches only these). */
export function sourcesOf(metrics: readonly MetricTarget[]): Set<Source> {
  const out = new Set<Source>();
  for (const m of metrics) {
    const spec = resolveMetric(m);
    if (spec) out.add(spec.source);
  }
  return out;
}

/** Each metric's value over this sync's readings. */
export function signalValues(metrics: readonly MetricTarget[], inputs: SignalInputs): SignalValue[] {
  return metrics.map((metric) => {
    const spec = resolveMetric(metric);
    const target = parseQuantity(metric.targetValue) ?? NaN;
    const base = { name: metric.metricName, aggregate: spec?.aggregate ?? ('sum' as const), target, targetText: String(metric.targetValue) };
    if (!spec) return { ...base, value: undefined, error: `unknown metric ${metric.metricName}` };
    if (inputs.ready.length === 0) return { ...base, value: undefined };
    return { ...base, ...valueOf(spec, metric.metricName, inputs) };
  });
}

type Valued = { value: number | undefined; error?: string; partial?: boolean };

function valueOf(spec: SignalSpec, name: string, inputs: SignalInputs): Valued {
  switch (spec.source) {
    case 'engine':
      return engineValue(spec.field, spec.quantile, inputs);
    case 'gateway':
      return perPod(inputs.gateway, inputs.ready, (v) => v[spec.field], 'sum');
    case 'resource':
      return perPod(inputs.resources, inputs.ready, (v) => (spec.field === 'cpu' ? v.cpuCores : v.memoryBytes), 'average');
    case 'prometheus': {
      const reading = inputs.queries?.get(name);
      if (!reading) return { value: undefined };
      return reading.ok ? { value: reading.value } : { value: undefined, error: reading.error };
    }
  }
}

/** Sum or average of a per-pod reading over the ready pods it has a value for. */
function perPod<T>(reading: Reading<ReadonlyMap<string, T>> | undefined, ready: readonly string[], pick: (v: T) => number | undefined, aggregate: Aggregate): Valued {
  if (!reading) return { value: undefined };
  if (!reading.ok) return { value: undefined, error: reading.error };
  let total = 0;
  let counted = 0;
  for (const pod of ready) {
    const entry = reading.value.get(pod);
    const v = entry === undefined ? undefined : pick(entry);
    if (v === undefined || !Number.isFinite(v)) continue;
    total += v;
    counted++;
  }
  if (counted === 0) return { value: undefined, error: 'no ready pod has a value yet' };
  const partial = reading.partial === true || counted < ready.length;
  return { value: aggregate === 'sum' ? total : total / counted, ...(partial ? { partial } : {}) };
}

function engineValue(field: EngineField, q: number | undefined, inputs: SignalInputs): Valued {
  const pods = [...inputs.engine.entries()];
  if (pods.length === 0) return { value: undefined, error: 'no fresh engine scrape' };
  const partial = pods.length < inputs.ready.length ? { partial: true } : {};
  const total = (pick: (p: PodSample) => number) => pods.reduce((s, [, p]) => s + pick(p), 0);
  const mean = (pick: (p: PodSample) => number | undefined): Valued => {
    const known = pods.map(([, p]) => pick(p)).filter((v): v is number => v !== undefined && Number.isFinite(v));
    return known.length === 0 ? { value: undefined } : { value: known.reduce((a, b) => a + b, 0) / known.length, ...partial };
  };
  switch (field) {
    case 'waiting':
      return { value: total((p) => p.waiting), ...partial };
    case 'running':
      return { value: total((p) => p.running), ...partial };
    case 'requests':
      return { value: total((p) => p.waiting + p.running), ...partial };
    case 'queuedTokens': {
      const known = pods.filter(([, p]) => p.queuedTokens !== undefined);
      if (known.length === 0) return { value: undefined, error: `no ready pod exports ${QUEUED_PROMPT_TOKENS} (vLLM and SGLang count queued requests, not tokens: use num_requests_waiting or gateway_awaiting_first_byte)` };
      const value = known.reduce((s, [, p]) => s + p.queuedTokens!, 0);
      return { value, ...(known.length < inputs.ready.length ? { partial: true } : {}) };
    }
    case 'kvUsage':
      return mean((p) => p.kvUsage);
    case 'gpuUtil': {
      const v = mean((p) => p.gpuUtil);
      return v.value === undefined ? { value: undefined, error: `no ready pod exports ${GPU_UTIL}; on a cluster read the DCGM exporter through a prometheus query` } : v;
    }
    case 'ttft':
    case 'itl': {
      const windows = pods.flatMap(([name, p]) => {
        const now = p[field];
        const before = inputs.previous.get(name)?.[field];
        return now && before ? [delta(now, before)] : [];
      });
      const all = sum(windows);
      const value = all ? quantile(all, q ?? 0.95) : undefined;
      return value === undefined ? { value: undefined } : { value, ...partial };
    }
  }
}

/** Whether any ready pod has a request running or waiting, or a gateway has one in flight to it: the scale-to-zero idle signal. */
export function busy(inputs: SignalInputs): boolean {
  for (const p of inputs.engine.values()) if (p.waiting > 0 || p.running > 0) return true;
  if (inputs.gateway?.ok) for (const pod of inputs.ready) if ((inputs.gateway.value.get(pod)?.inflight ?? 0) > 0) return true;
  return false;
}
