// Time series from Prometheus instead of the in-memory history (--dashboard-prometheus-url): one range query
// (GET /api/v1/query_range) per figure, answered in the history's shape ({t, columns}) so the page cannot tell.
// The figures are the gateway's and the autoscaler's own series (figures.ts names them); per-pod engine figures
// depend on how the cluster's Prometheus labels its targets and stay with the in-memory history.
// Rules: a query that fails or returns nothing leaves its column out (the page shows the others); label values are
// escaped as PromQL strings.
import type { Window } from './table.ts';
import { GATEWAY_SERIES, MODES } from './figures.ts';

const q = (text: string) => JSON.stringify(text);

/** The PromQL of each column for one model (and its binding, when it has one). */
export function queries(model: { namespace: string; name: string; binding: string | undefined }, rateWindow: string): Record<string, string> {
  const m = `model=${q(model.name)}`;
  const rate = (series: string, extra = '') => `sum(rate(${series}{${m}${extra}}[${rateWindow}]))`;
  const quantile = (p: number) => `histogram_quantile(${p}, sum by (le) (rate(${GATEWAY_SERIES.ttft}_bucket{${m}}[${rateWindow}])))`;
  const out: Record<string, string> = {
    rps: rate(GATEWAY_SERIES.requests),
    errors: rate(GATEWAY_SERIES.requests, ',code!~"2.."'),
    ttft_p50: quantile(0.5),
    ttft_p90: quantile(0.9),
    ttft_p99: quantile(0.99),
    tokens_in: rate(GATEWAY_SERIES.tokens, ',type="prompt"'),
    tokens_out: rate(GATEWAY_SERIES.tokens, ',type="completion"'),
    inflight: `sum(${GATEWAY_SERIES.inflight}{${m}})`,
  };
  if (model.binding) {
    const b = `namespace=${q(model.namespace)},binding=${q(model.binding)}`;
    for (const [column, series] of [['as_current', 'current_replicas'], ['as_desired', 'desired_replicas'], ['as_ready', 'ready_replicas'], ['as_min', 'min_replicas'], ['as_max', 'max_replicas']]) {
      out[column!] = `max(matrixinfer_autoscaler_${series}{${b}})`;
    }
    // The mode as its index in MODES: Σ index × (1 for the current mode).
    out.as_mode = MODES.map((mode, i) => `${i} * max(matrixinfer_autoscaler_mode{${b},mode=${q(mode)}})`).join(' + ');
    out.as_value = `max(matrixinfer_autoscaler_metric_value{${b}})`;
    out.as_forecast = `max(matrixinfer_autoscaler_forecast_value{${b}})`;
  }
  return out;
}

interface RangeAnswer {
  status?: string;
  data?: { resultType?: string; result?: { values?: [number, string][] }[] };
}

export async function prometheusTimeseries(
  address: string,
  model: { namespace: string; name: string; binding: string | undefined },
  windowMs: number,
  stepMs: number,
  options: { timeoutMs?: number; now?: number } = {},
): Promise<Window> {
  const stepS = Math.max(1, Math.round(stepMs / 1000));
  const end = Math.floor((options.now ?? Date.now()) / 1000 / stepS) * stepS;
  const start = end - Math.floor(windowMs / 1000 / stepS) * stepS;
  const t: number[] = [];
  for (let at = start; at <= end; at += stepS) t.push(at);
  const columns: Window['columns'] = {};
  const base = address.replace(/\/+$/, '');
  await Promise.all(
    Object.entries(queries(model, `${Math.max(4 * stepS, 60)}s`)).map(async ([column, query]) => {
      try {
        const url = `${base}/api/v1/query_range?${new URLSearchParams({ query, start: String(start), end: String(end), step: `${stepS}s` })}`;
        const res = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 5000) });
        const answer = (await res.json()) as RangeAnswer;
        const values = answer.status === 'success' && answer.data?.resultType === 'matrix' ? answer.data.result?.[0]?.values : undefined;
        if (!values?.length) return;
        const at = new Map(values.map(([time, value]) => [Math.round(time), Number(value)]));
        columns[column] = t.map((time) => {
          const v = at.get(time);
          return v !== undefined && Number.isFinite(v) ? v : null;
        });
      } catch {
        // Left out: the page shows the figures that answered.
      }
    }),
  );
  return { t, columns };
}
