// Prefill/decode disaggregation, the proxy half: one client request served in two phases on the pair of pods the
// scheduler picked in one decision (scheduling/pd.ts `schedulePair`, which also shapes both bodies).
//
//   1. prefill: the one-token request to the prefill pod, read whole;
//   2. decode: the original request plus the prefill's `kv_transfer_params`, pinned to the decode pod and sent
//      through the normal proxy path (streamed, retried elsewhere on failure like any request).
//
// Rules:
//  - The prefill is an attempt like any other as far as accounting goes: the exchange acquires the prefill pod
//    (its in-flight and awaiting-first-byte counters, the model's in-flight gauge) and releases it when the prefill
//    answers; the attempt metrics and the circuit breaker hear its outcome (a 5xx, a connection that fails, a
//    timeout) as they do for every attempt. It does not use up the request's retries, which are the decode's.
//  - An engine error from the prefill is relayed to the client as it is; a prefill that cannot be reached or times
//    out answers 502/504. The client disconnecting aborts it (counted `cancelled`).
//  - With tracing on, the prefill is a `prefill` span beside the decode's `attempt` (observability/tracing.ts), and
//    its context is the traceparent the prefill pod receives.
import type { Exchange, UpstreamCall } from '../http/exchange.ts';
import type { ServerEntry } from '../routing/table.ts';
import type { Endpoint } from '../scheduling/endpoint.ts';
import { decodeBody, prefillBody } from '../scheduling/pd.ts';
import { BODY_TIMEOUT, CONNECT_TIMEOUT } from '../http1/client.ts';
import { upstreamRequestLines } from './headers.ts';
import { attempt, currentServer } from './upstream.ts';
import { endAttempt, traceparentOf } from '../observability/tracing.ts';
import type { Span } from '../../kube/tracing.ts';

class PrefillCall implements UpstreamCall {
  readonly ac = new AbortController();
  readonly ex: Exchange;
  /** The prefill's span; null when tracing is off. */
  span: Span | null = null;
  constructor(ex: Exchange) {
    this.ex = ex;
  }
  abortByClient(): void {
    this.ex.modelMetrics.attempt('cancelled');
    if (this.span !== null) endAttempt(this.span, 'cancelled', 0);
    this.ac.abort();
  }
  resume(): void {}
}

/** Serve a request on the pair the pipeline's `schedule` stage chose (scheduling/pd.ts `schedulePair`). */
export function proxyPrefillDecode(ex: Exchange, prefill: Endpoint, decode: Endpoint): void {
  const server = ex.server!;
  const body = ex.body!;
  const path = ex.upstreamPath;
  // Both phases' bodies come from the object; the usage the gateway asked for (accounting/usage.ts) goes in it.
  if (ex.usageInjected) body.stream_options = { ...(body.stream_options as object | undefined), include_usage: true };
  const core = ex.core;
  const raw = Buffer.from(JSON.stringify(prefillBody(body)));
  const call = new PrefillCall(ex);
  let traceparent = ex.traceparent;
  if (ex.trace !== null) traceparent = traceparentOf((call.span = ex.trace.startAttempt('prefill', prefill, 0)));
  const headers = upstreamRequestLines(ex.headers, ex.requestId, raw.length, traceparent, true);
  ex.upstream = call;
  ex.acquire(prefill);
  const timeoutMs = server.timeoutMs ?? core.defaultTimeoutMs;
  core.pools
    .get(prefill.origin)
    .request({ path, method: 'POST', headers, body: raw, timeoutMs, signal: call.ac.signal, maxBytes: core.maxResponseBytes })
    .then((res) => {
      if (ex.upstream !== call) return; // the client left: accounted and counted already
      ex.upstream = null;
      ex.releaseEndpoint();
      const mm = ex.modelMetrics;
      if (call.span !== null) endAttempt(call.span, res.status >= 500 ? 'status' : 'success', res.status);
      if (res.status >= 500) {
        mm.attempt('status');
        core.breakers.failure(prefill, server.circuit, `HTTP ${res.status}`);
      } else {
        mm.attempt('success');
        core.breakers.success(prefill);
      }
      if (ex.done) return;
      const text = res.body.toString('utf8');
      if (res.status < 200 || res.status >= 300) {
        ex.upstreamStatus = res.status;
        ex.sendJson(res.status, text);
        return;
      }
      let kv: unknown;
      try {
        kv = (JSON.parse(text) as { kv_transfer_params?: unknown }).kv_transfer_params;
      } catch {
        ex.fail('upstream_error', `The prefill pod ${prefill.podKey} answered with a body that is not JSON.`);
        return;
      }
      core.scheduler.pin(ex, decode);
      ex.payload = Buffer.from(JSON.stringify(decodeBody(body, kv, prefill)));
      attempt(ex, currentServer(core, server), null);
    })
    .catch((err: unknown) => {
      if (ex.upstream !== call) return;
      ex.upstream = null;
      ex.releaseEndpoint();
      prefillFailed(ex, server, prefill, err, call.span);
    });
}

/** A prefill that never answered: the attempt metrics, the breaker, then 504 or 502. */
function prefillFailed(ex: Exchange, server: ServerEntry, prefill: Endpoint, err: unknown, span: Span | null): void {
  const code = (err as { code?: string }).code ?? '';
  const kind = code === BODY_TIMEOUT ? 'timeout' : code === 'ECONNREFUSED' || code === CONNECT_TIMEOUT ? 'connect' : 'reset';
  const message = `The prefill request to ${prefill.podKey} failed: ${code || (err as Error).message}.`;
  const mm = ex.modelMetrics;
  mm.upstreamError(kind);
  mm.attempt(kind);
  if (span !== null) endAttempt(span, kind, 0);
  ex.core.breakers.failure(prefill, server.circuit, message);
  if (ex.done) return;
  if (kind === 'timeout') ex.fail('upstream_timeout', message);
  else if (kind === 'connect') ex.fail('upstream_connect_error', message);
  else ex.fail('upstream_error', message);
}
