// The figures the dashboard plots, as pure functions of one scrape period: which series it reads from the gateways
// and the engine pods, and each model's row of the history (table.ts) from those windows and the autoscaler's
// status. Column names are the JSON API's and the page's (static/app.js):
//   rps, errors                 gateway responses per second, all and not 2xx
//   ttft_p50/_p90/_p99          gateway time to first token, s (streaming requests), over the period
//   itl_p50/_p99                engines' inter-token latency, s, over the model's pods
//   tokens_in, tokens_out       prompt and completion tokens per second (the gateway's count from the engines' usage)
//   inflight                    requests being served by the gateways
//   pod_rps:<pod> kv:<pod> prefix:<pod> running:<pod> waiting:<pod>   per engine pod (kv, prefix: 0..1)
//   route:<pod>:<scorer>        the gateways' picks of the pod per second, by the scorer that decided
//   as_current/_desired/_ready/_min/_max, as_mode (index in MODES), as_value, as_target, as_forecast
//                               the AutoscalingPolicyBinding's status at the sample (its first metric: value against
//                               its target; a summed metric's target is per replica, so as_target is target × ready
//                               replicas, the load the ready replicas are sized for)
// Rules: a model matches the gateway's `model` label by its name (the served model name); a figure with no data in
// the period is absent, not zero (no TTFT without streaming requests), but a rate with its counter present is 0.
import type { AutoscalingPolicyBinding } from '../api/kinds/index.ts';
import { resolveMetric } from '../controllers/autoscaler/signals.ts';
import { quantile, sum, type Histogram } from '../api/engine-metrics/histogram.ts';
import { quantileOf, total, type ReadSpec, type ReadingWindow } from './readings.ts';

export const GATEWAY_SERIES = {
  requests: 'matrixinfer_gateway_requests_total',
  ttft: 'matrixinfer_gateway_time_to_first_token_seconds',
  tokens: 'matrixinfer_gateway_tokens_total',
  upstreamErrors: 'matrixinfer_gateway_upstream_errors_total',
  inflight: 'matrixinfer_gateway_inflight_requests',
  endpointRequests: 'matrixinfer_gateway_endpoint_requests_total',
  routing: 'matrixinfer_gateway_routing_decisions_total',
} as const;

export const GATEWAY_SPEC: ReadSpec = {
  counters: {
    [GATEWAY_SERIES.requests]: ['model', 'code'],
    [GATEWAY_SERIES.tokens]: ['model', 'type'],
    [GATEWAY_SERIES.upstreamErrors]: ['model'],
    [GATEWAY_SERIES.endpointRequests]: ['namespace', 'pod'],
    [GATEWAY_SERIES.routing]: ['namespace', 'pod', 'scorer'],
  },
  gauges: { [GATEWAY_SERIES.inflight]: ['model'] },
  histograms: { [GATEWAY_SERIES.ttft]: ['model'] },
};

export const ENGINE_SERIES = {
  kv: 'vllm:kv_cache_usage_perc',
  running: 'vllm:num_requests_running',
  waiting: 'vllm:num_requests_waiting',
  prefixHits: 'vllm:prefix_cache_hits_total',
  prefixQueries: 'vllm:prefix_cache_queries_total',
  itl: 'vllm:inter_token_latency_seconds',
} as const;

export const ENGINE_SPEC: ReadSpec = {
  gauges: { [ENGINE_SERIES.kv]: [], [ENGINE_SERIES.running]: [], [ENGINE_SERIES.waiting]: [] },
  counters: { [ENGINE_SERIES.prefixHits]: [], [ENGINE_SERIES.prefixQueries]: [] },
  histograms: { [ENGINE_SERIES.itl]: [] },
};

/** The autoscaler's modes in the order as_mode indexes them. */
export const MODES = ['Hold', 'Stable', 'Panic', 'Forecast', 'Schedule'] as const;

export interface ModelInputs {
  namespace: string;
  name: string;
  /** The gateways' window, added up over the gateways; undefined before the second scrape. */
  gateway: ReadingWindow | undefined;
  /** The model's engine pods (names in its namespace) with their window, or their gauges alone before a second scrape. */
  pods: Map<string, ReadingWindow | undefined>;
  binding: AutoscalingPolicyBinding | undefined;
}

type Row = Record<string, number | undefined>;

export function modelRow(inputs: ModelInputs): Row {
  const row: Row = {};
  const g = inputs.gateway;
  const mine = (labels: string[]) => labels[0] === inputs.name;
  // On the gateways' first scrape there are gauges but no window yet: no rates rather than zeros.
  if (g) row.inflight = total(g.gauges, GATEWAY_SERIES.inflight, mine) ?? 0;
  if (g && g.seconds > 0) {
    row.rps = total(g.rates, GATEWAY_SERIES.requests, mine) ?? 0;
    row.errors = total(g.rates, GATEWAY_SERIES.requests, (l) => mine(l) && !l[1]!.startsWith('2')) ?? 0;
    row.ttft_p50 = quantileOf(g.histograms, GATEWAY_SERIES.ttft, 0.5, mine);
    row.ttft_p90 = quantileOf(g.histograms, GATEWAY_SERIES.ttft, 0.9, mine);
    row.ttft_p99 = quantileOf(g.histograms, GATEWAY_SERIES.ttft, 0.99, mine);
    row.tokens_in = total(g.rates, GATEWAY_SERIES.tokens, (l) => mine(l) && l[1] === 'prompt') ?? 0;
    row.tokens_out = total(g.rates, GATEWAY_SERIES.tokens, (l) => mine(l) && l[1] === 'completion') ?? 0;
    for (const pod of inputs.pods.keys()) {
      const its = (labels: string[]) => labels[0] === inputs.namespace && labels[1] === pod;
      row[`pod_rps:${pod}`] = total(g.rates, GATEWAY_SERIES.endpointRequests, its) ?? 0;
      for (const [k, rate] of g.rates) {
        const [name, namespace, p, scorer] = k.split('\u0000');
        if (name === GATEWAY_SERIES.routing && namespace === inputs.namespace && p === pod) row[`route:${pod}:${scorer || 'unknown'}`] = rate;
      }
    }
  }
  const itl: Histogram[] = [];
  for (const [pod, w] of inputs.pods) {
    if (!w) continue;
    row[`kv:${pod}`] = total(w.gauges, ENGINE_SERIES.kv);
    row[`running:${pod}`] = total(w.gauges, ENGINE_SERIES.running);
    row[`waiting:${pod}`] = total(w.gauges, ENGINE_SERIES.waiting);
    const queries = total(w.increases, ENGINE_SERIES.prefixQueries);
    const hits = total(w.increases, ENGINE_SERIES.prefixHits);
    if (queries !== undefined && queries > 0 && hits !== undefined) row[`prefix:${pod}`] = hits / queries;
    const h = w.histograms.get(ENGINE_SERIES.itl);
    if (h) itl.push(h);
  }
  // Every pod's observations together: the model's quantile, not an average of the pods'.
  const merged = sum(itl);
  if (merged) {
    row.itl_p50 = quantile(merged, 0.5);
    row.itl_p99 = quantile(merged, 0.99);
  }
  Object.assign(row, autoscalerFigures(inputs.binding));
  return row;
}

/** The binding's status as numbers (see the header). */
export function autoscalerFigures(binding: AutoscalingPolicyBinding | undefined): Row {
  const s = binding?.status;
  if (!s) return {};
  const row: Row = {
    as_current: s.currentReplicas,
    as_desired: s.desiredReplicas,
    as_ready: s.readyReplicas,
    as_min: s.schedule?.effectiveMin ?? binding!.spec.minReplicas ?? 1,
    as_max: s.schedule?.effectiveMax ?? binding!.spec.maxReplicas,
  };
  const mode = s.mode ? MODES.indexOf(s.mode) : -1;
  if (mode >= 0) row.as_mode = mode;
  const metric = s.currentMetrics?.[0];
  if (metric) {
    const value = numberOf(metric.value);
    const target = numberOf(metric.target);
    const summed = resolveMetric(metric.name)?.aggregate === 'sum';
    row.as_value = value;
    row.as_target = target === undefined ? undefined : summed ? target * Math.max(1, s.readyReplicas ?? 0) : target;
  }
  row.as_forecast = numberOf(s.forecast?.value);
  return row;
}

function numberOf(text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}
