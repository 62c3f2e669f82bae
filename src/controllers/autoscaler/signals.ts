// Scraped engine metrics → one value per metric of the policy. Pure: the controller hands in the text of each READY
// pod's latest successful scrape (and the previous one, for histogram windows); nothing here knows about time or I/O.
//
// Supported metric names (the policy's `metricName`; engine names are mapped by src/api/engine-metrics/parse.ts, so
// a vLLM name also reads an SGLang pod and the other way round):
//
// | name                                    | engine names                                              | aggregate |
// |-----------------------------------------|-----------------------------------------------------------|-----------|
// | num_requests_waiting                    | vllm:num_requests_waiting, sglang:num_queue_reqs           | sum       |
// | num_requests_running                    | vllm:num_requests_running, sglang:num_running_reqs         | sum       |
// | num_requests (waiting + running)        | –                                                          | sum       |
// | kv_cache_usage (0..1)                   | vllm:kv_cache_usage_perc, vllm:gpu_cache_usage_perc, sglang:token_usage | average |
// | ttft_seconds_p50/p90/p95/p99            | vllm:time_to_first_token_seconds[:pNN], sglang:…  (p95)    | average   |
// | itl_seconds_p50/p90/p95/p99             | vllm:inter_token_latency_seconds[:pNN], sglang:…  (p95)    | average   |
//
// Rules:
//  - A sum is the total over ready pods (recommend.ts divides by the per-replica target); an average is per pod
//    (recommend.ts uses the HPA's current × value / target). KV usage is the mean over pods; a latency percentile is
//    read from the ready pods' histograms added together, each the difference between this scrape and the previous
//    one of the same pod (so: over the last sync period). A pod without a previous scrape contributes nothing to a
//    latency window yet; a window with no observations has no value (nothing was served, so latency says nothing).
//  - A metric that cannot be read (unknown name, no pod exposes it) has `value: undefined`: recommend.ts ignores it,
//    and with no usable metric at all the controller holds.
import { parseEngineMetrics, type EngineKind } from '../../api/engine-metrics/parse.ts';
import { parseHistograms, delta, sum, quantile, type Histogram } from '../../api/engine-metrics/histogram.ts';
import { parseQuantity } from '../../kube/units.ts';
import type { MetricTarget } from '../../api/kinds/index.ts';

export type Aggregate = 'sum' | 'average';
type Field = 'waiting' | 'running' | 'requests' | 'kvUsage' | 'ttft' | 'itl';

export interface SignalSpec {
  field: Field;
  aggregate: Aggregate;
  /** For latency: the quantile (0.5 … 0.99). */
  quantile?: number;
}

const HISTOGRAMS = {
  ttft: ['vllm:time_to_first_token_seconds', 'sglang:time_to_first_token_seconds'],
  itl: ['vllm:inter_token_latency_seconds', 'sglang:inter_token_latency_seconds'],
} as const;
const ALL_HISTOGRAMS = [...HISTOGRAMS.ttft, ...HISTOGRAMS.itl];

const COUNTS: Record<string, SignalSpec> = {
  num_requests_waiting: { field: 'waiting', aggregate: 'sum' },
  'vllm:num_requests_waiting': { field: 'waiting', aggregate: 'sum' },
  'sglang:num_queue_reqs': { field: 'waiting', aggregate: 'sum' },
  num_requests_running: { field: 'running', aggregate: 'sum' },
  'vllm:num_requests_running': { field: 'running', aggregate: 'sum' },
  'sglang:num_running_reqs': { field: 'running', aggregate: 'sum' },
  num_requests: { field: 'requests', aggregate: 'sum' },
  kv_cache_usage: { field: 'kvUsage', aggregate: 'average' },
  'vllm:kv_cache_usage_perc': { field: 'kvUsage', aggregate: 'average' },
  'vllm:gpu_cache_usage_perc': { field: 'kvUsage', aggregate: 'average' },
  'sglang:token_usage': { field: 'kvUsage', aggregate: 'average' },
};

const QUANTILES: Record<string, number> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };

/** What a policy's metric name means, or undefined for a name the autoscaler cannot read (admission refuses it). */
export function resolveMetric(name: string): SignalSpec | undefined {
  const count = COUNTS[name];
  if (count) return count;
  const canonical = /^(ttft|itl)_seconds_(p50|p90|p95|p99)$/.exec(name);
  if (canonical) return { field: canonical[1] as 'ttft' | 'itl', aggregate: 'average', quantile: QUANTILES[canonical[2]!]! };
  const [base, suffix = 'p95'] = name.split(/:(?=p\d\d$)/);
  const q = QUANTILES[suffix];
  if (q === undefined) return undefined;
  for (const field of ['ttft', 'itl'] as const) if ((HISTOGRAMS[field] as readonly string[]).includes(base!)) return { field, aggregate: 'average', quantile: q };
  return undefined;
}

/** One ready pod's scrape, reduced to what the signals need. */
export interface PodSample {
  waiting: number;
  running: number;
  kvUsage: number;
  ttft?: Histogram;
  itl?: Histogram;
}

/** A scrape's text → PodSample; null when it holds no engine metrics (a scrape failure, as far as scaling goes). */
export function readPod(text: string, engine: EngineKind): PodSample | null {
  const parsed = parseEngineMetrics(text, engine);
  if (!parsed) return null;
  const histograms = parseHistograms(text, ALL_HISTOGRAMS);
  const pick = (names: readonly string[]) => histograms.get(names[parsed.engine === 'sglang' ? 1 : 0]!) ?? histograms.get(names[parsed.engine === 'sglang' ? 0 : 1]!);
  const ttft = pick(HISTOGRAMS.ttft);
  const itl = pick(HISTOGRAMS.itl);
  return { waiting: parsed.waiting, running: parsed.running, kvUsage: parsed.kvUsage, ...(ttft ? { ttft } : {}), ...(itl ? { itl } : {}) };
}

export interface SignalValue {
  name: string;
  aggregate: Aggregate;
  /** Undefined: unreadable this round. */
  value: number | undefined;
  target: number;
  /** The target as written in the policy, for the status. */
  targetText: string;
}

/**
 * Each metric's value over the ready pods' samples. `previous` holds each pod's sample from the sync before (for
 * latency windows); pods missing from `current` are simply not counted.
 */
export function signalValues(metrics: readonly MetricTarget[], current: ReadonlyMap<string, PodSample>, previous: ReadonlyMap<string, PodSample>): SignalValue[] {
  const pods = [...current.entries()];
  return metrics.map((metric) => {
    const spec = resolveMetric(metric.metricName);
    const target = parseQuantity(metric.targetValue) ?? NaN;
    const base = { name: metric.metricName, aggregate: spec?.aggregate ?? ('sum' as const), target, targetText: String(metric.targetValue) };
    if (!spec || pods.length === 0) return { ...base, value: undefined };
    return { ...base, value: valueOf(spec, pods, previous) };
  });
}

function valueOf(spec: SignalSpec, pods: [string, PodSample][], previous: ReadonlyMap<string, PodSample>): number | undefined {
  switch (spec.field) {
    case 'waiting':
      return pods.reduce((s, [, p]) => s + p.waiting, 0);
    case 'running':
      return pods.reduce((s, [, p]) => s + p.running, 0);
    case 'requests':
      return pods.reduce((s, [, p]) => s + p.waiting + p.running, 0);
    case 'kvUsage': {
      const known = pods.map(([, p]) => p.kvUsage).filter((v) => Number.isFinite(v));
      return known.length === 0 ? undefined : known.reduce((a, b) => a + b, 0) / known.length;
    }
    case 'ttft':
    case 'itl': {
      const field = spec.field;
      const windows = pods.flatMap(([name, p]) => {
        const now = p[field];
        const before = previous.get(name)?.[field];
        return now && before ? [delta(now, before)] : [];
      });
      const total = sum(windows);
      return total ? quantile(total, spec.quantile ?? 0.95) : undefined;
    }
  }
}

/** Whether any ready pod has a request running or waiting (the scale-to-zero idle signal; only pods count, never probes). */
export function busy(current: ReadonlyMap<string, PodSample>): boolean {
  for (const p of current.values()) if (p.waiting > 0 || p.running > 0) return true;
  return false;
}
