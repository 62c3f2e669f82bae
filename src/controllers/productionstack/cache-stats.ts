// An InferenceCache's cacheStats from its engines' own metrics (the one exception to "only through the API": reading
// metrics endpoints, as the autoscaler does). Every period (30 s by default) the collector scrapes `/metrics` of each
// ready, served engine pod of the model (the ModelInfers its name resolves to; warm-pool pods are left out) and keeps,
// per pod, the prefix-cache counters and the KV-cache usage; then it tells the controller (`onRound`), which writes:
//   - hitRate: prefix-cache hits over queries (tokens) during the window, summed over the pods
//     (vllm:prefix_cache_hits_total / vllm:prefix_cache_queries_total); SGLang exports a ratio since start
//     (sglang:cache_hit_rate), averaged instead. A window with no query keeps the last rate;
//   - kvCacheUsage: the pods' mean KV-cache usage now (vllm:kv_cache_usage_perc, sglang:token_usage; 0..1).
// Values are strings with three decimals, as the kind's status shows them. Pods that do not answer are left out;
// none answering is a False MetricsObserved with the reason.
import type { KubeObject } from '../../api/admission.ts';
import { parseEngineMetrics } from '../../api/engine-metrics/parse.ts';
import { readSamples } from '../../api/engine-metrics/samples.ts';
import { nowTime } from '../../kube/objects.ts';
import { KeyedRounds, type RoundTarget } from './rounds.ts';

/** One engine's cache counters at one scrape. */
export interface CacheSample {
  hits: number;
  queries: number;
  kvUsage: number;
  /** SGLang: its hit-rate gauge (a ratio since start) instead of counters. */
  hitRateGauge?: number;
}

/** The cache figures in one /metrics text, undefined when it has none. */
export function readCacheSample(text: string): CacheSample | undefined {
  const parsed = parseEngineMetrics(text, 'vllm');
  const samples = readSamples(text, ['vllm:prefix_cache_hits_total', 'vllm:prefix_cache_queries_total', 'sglang:cache_hit_rate']);
  const total = (name: string) => (samples.get(name) ?? []).reduce((n, s) => n + s.value, 0);
  const gauge = samples.get('sglang:cache_hit_rate')?.[0]?.value;
  if (!parsed && gauge === undefined && !samples.has('vllm:prefix_cache_queries_total')) return undefined;
  return {
    hits: total('vllm:prefix_cache_hits_total'),
    queries: total('vllm:prefix_cache_queries_total'),
    kvUsage: parsed && Number.isFinite(parsed.kvUsage) ? parsed.kvUsage : NaN,
    ...(gauge !== undefined ? { hitRateGauge: gauge } : {}),
  };
}

export interface CacheStats {
  hitRate?: number;
  kvCacheUsage?: number;
  pods: number;
  observedAt: string;
}

/** The window's figures from the previous and the current samples (by pod), and the last hit rate to keep. */
export function windowStats(previous: ReadonlyMap<string, CacheSample>, current: ReadonlyMap<string, CacheSample>, lastHitRate: number | undefined, now: string): CacheStats {
  let hits = 0;
  let queries = 0;
  const gauges: number[] = [];
  const usages: number[] = [];
  for (const [pod, sample] of current) {
    if (Number.isFinite(sample.kvUsage)) usages.push(sample.kvUsage);
    if (sample.hitRateGauge !== undefined) {
      gauges.push(sample.hitRateGauge);
      continue;
    }
    const before = previous.get(pod);
    // A pod seen for the first time, or restarted (counters went down), counts from zero.
    const fresh = !before || sample.queries < before.queries;
    hits += sample.hits - (fresh ? 0 : before.hits);
    queries += sample.queries - (fresh ? 0 : before.queries);
  }
  const mean = (xs: number[]) => (xs.length === 0 ? undefined : xs.reduce((a, b) => a + b, 0) / xs.length);
  const hitRate = queries > 0 ? hits / queries : (mean(gauges) ?? lastHitRate);
  const kvCacheUsage = mean(usages);
  return { ...(hitRate !== undefined ? { hitRate } : {}), ...(kvCacheUsage !== undefined ? { kvCacheUsage } : {}), pods: current.size, observedAt: now };
}

export type Scrape = (url: string, timeoutMs: number) => Promise<string | undefined>;

const scrapeMetrics: Scrape = async (url, timeoutMs) => {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    return res.ok ? text : undefined;
  } catch {
    return undefined;
  }
};

/** The /metrics URL of an engine pod (its first container's first port), undefined without an IP. */
export function metricsUrl(pod: KubeObject): string | undefined {
  const ip = (pod.status as { podIP?: string } | undefined)?.podIP;
  const port = (pod.spec as { containers?: { ports?: { containerPort?: number }[] }[] } | undefined)?.containers?.[0]?.ports?.[0]?.containerPort ?? 8000;
  return ip ? `http://${ip.includes(':') ? `[${ip}]` : ip}:${port}/metrics` : undefined;
}

interface Target extends RoundTarget {
  pods: () => KubeObject[];
  previous: Map<string, CacheSample>;
  stats?: CacheStats;
}

export class CacheStatsCollector extends KeyedRounds<Target> {
  private readonly periodMs: number;
  private readonly scrape: Scrape;

  constructor(onRound: (key: string) => void, options: { periodMs?: number; scrape?: Scrape } = {}) {
    super(onRound);
    this.periodMs = options.periodMs ?? 30_000;
    this.scrape = options.scrape ?? scrapeMetrics;
  }

  /** Collect for `key` from the pods `pods()` returns at each round (the first round at once). */
  ensure(key: string, pods: () => KubeObject[]): void {
    if (this.stopped) return;
    const existing = this.targets.get(key);
    if (existing) {
      existing.pods = pods;
      return;
    }
    this.start(key, { pods, previous: new Map() });
  }

  results(key: string): CacheStats | undefined {
    return this.targets.get(key)?.stats;
  }

  protected async round(key: string, target: Target): Promise<void> {
    const pods = target.pods().flatMap((pod) => {
      const url = metricsUrl(pod);
      return url ? [{ name: pod.metadata.name!, url }] : [];
    });
    const texts = await Promise.all(pods.map((p) => this.scrape(p.url, Math.min(5000, this.periodMs))));
    if (!this.current(key, target)) return;
    const current = new Map<string, CacheSample>();
    pods.forEach((p, i) => {
      const sample = texts[i] === undefined ? undefined : readCacheSample(texts[i]!);
      if (sample) current.set(p.name, sample);
    });
    target.stats = windowStats(target.previous, current, target.stats?.hitRate, nowTime());
    // A pod that did not answer keeps its last sample (its next window counts from there); gone pods are dropped.
    const live = new Set(pods.map((p) => p.name));
    target.previous = new Map([...[...target.previous].filter(([pod]) => live.has(pod)), ...current]);
    this.finish(key, target, this.periodMs);
  }
}
