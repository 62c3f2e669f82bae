// Custom metrics from Prometheus: a policy metric with `prometheus.query` is read with one instant query per sync
// (GET <address>/api/v1/query), through Prometheus's documented HTTP API.
//
// Rules:
//  - The query may name the binding's objects: `$namespace`, `$target` (the ModelInfer, or the variants' names joined
//    by `|` for a regex match) and `$pods` (the ready pods' names joined by `|`). Nothing else is substituted.
//  - The answer must be one number: a scalar, or a vector of exactly one series (aggregate with sum(), avg(), max()).
//    An empty vector, several series, NaN or ±Inf, an HTTP or Prometheus error, or a timeout is an error the status
//    shows with Prometheus's own message; the metric is then unreadable and the autoscaler does not act on it.
import type { Reading } from './signals.ts';

export interface QueryContext {
  namespace: string;
  targets: readonly string[];
  pods: readonly string[];
}

/** The query with $namespace, $target and $pods filled in (whole words: `$targets` is left alone). */
export function expandQuery(query: string, ctx: QueryContext): string {
  return query.replace(/\$(namespace|target|pods)\b/g, (_, name: string) => (name === 'namespace' ? ctx.namespace : name === 'target' ? ctx.targets.join('|') : ctx.pods.join('|')));
}

interface PromAnswer {
  status?: string;
  error?: string;
  errorType?: string;
  data?: { resultType?: string; result?: unknown };
}

/** Prometheus's JSON answer → one number or why not. */
export function readAnswer(answer: PromAnswer): Reading<number> {
  if (answer.status !== 'success') return { ok: false, error: `prometheus: ${answer.errorType ?? 'error'}: ${answer.error ?? 'no reason given'}` };
  const { resultType, result } = answer.data ?? {};
  let text: unknown;
  if (resultType === 'scalar') text = (result as [number, string])[1];
  else if (resultType === 'vector') {
    const series = result as { value: [number, string] }[];
    if (series.length !== 1) return { ok: false, error: series.length === 0 ? 'the query returned no series' : `the query returned ${series.length} series; aggregate them to one (sum, avg, max)` };
    text = series[0]!.value[1];
  } else return { ok: false, error: `the query returned a ${resultType ?? 'missing'} result; an instant vector or scalar is needed` };
  const value = Number(text);
  return Number.isFinite(value) ? { ok: true, value } : { ok: false, error: `the query returned ${String(text)}` };
}

export async function queryPrometheus(address: string, query: string, timeoutMs: number): Promise<Reading<number>> {
  const url = `${address.replace(/\/+$/, '')}/api/v1/query`;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query, timeout: `${Math.max(1, Math.floor(timeoutMs / 1000))}s` }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = await res.text();
    let answer: PromAnswer;
    try {
      answer = JSON.parse(body) as PromAnswer;
    } catch {
      return { ok: false, error: `prometheus at ${address}: HTTP ${res.status}, not a Prometheus answer` };
    }
    return readAnswer(answer);
  } catch (err) {
    return { ok: false, error: `prometheus at ${address}: ${err instanceof Error ? err.message : String(err)}` };
  }
}
