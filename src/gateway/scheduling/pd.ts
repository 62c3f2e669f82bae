// Prefill/decode disaggregation, vLLM's NIXL-style two-phase request, orchestrated by the gateway for one client
// request:
//
//   1. pick a decode pod (the ModelServer's profile over its decode pods not ejected by the circuit breaker), then a
//      prefill pod of the same group (label `workload.matrixinfer.ai/group-index` by default) with the same profile;
//   2. prefill: the request with `max_tokens: 1` (and `max_completion_tokens: 1` when given), `stream: false`, no
//      `stream_options`, and `kv_transfer_params: {do_remote_decode: true, do_remote_prefill: false, remote_*: null}`;
//      the response is read whole;
//   3. decode: the original request plus the `kv_transfer_params` the prefill returned (`remote_host` filled in with
//      the prefill pod's IP when the engine left it empty), sent to the decode pod through the normal proxy path
//      (streamed, retried elsewhere on failure like any request).
//
// An engine error from the prefill is relayed to the client as it is; a prefill that cannot be reached or times
// out answers 502/504. The prefill pod's in-flight counter covers the prefill phase; the client disconnecting
// aborts it.
import type { Exchange, UpstreamCall } from '../http/exchange.ts';
import type { ServerEntry } from '../routing/table.ts';
import { proxyRequest } from '../proxy/upstream.ts';
import { upstreamRequestLines } from '../proxy/headers.ts';
import { BODY_TIMEOUT, CONNECT_TIMEOUT } from '../http1/client.ts';
import type { Endpoint } from './endpoint.ts';

/** Paths that run two-phase; anything else goes to a decode pod directly. */
const TWO_PHASE_PATHS = new Set(['/v1/completions', '/v1/chat/completions']);

export function prefillBody(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  out.stream = false;
  delete out.stream_options;
  out.max_tokens = 1;
  if (out.max_completion_tokens !== undefined) out.max_completion_tokens = 1;
  out.kv_transfer_params = {
    do_remote_decode: true,
    do_remote_prefill: false,
    remote_engine_id: null,
    remote_block_ids: null,
    remote_host: null,
    remote_port: null,
  };
  return out;
}

export function decodeBody(body: Record<string, unknown>, kv: unknown, prefill: Endpoint): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  if (kv !== null && typeof kv === 'object' && !Array.isArray(kv)) {
    const params = { ...(kv as Record<string, unknown>) };
    if (params.remote_host === undefined || params.remote_host === null) params.remote_host = prefill.ip;
    out.kv_transfer_params = params;
  } else {
    delete out.kv_transfer_params;
  }
  return out;
}

class PrefillCall implements UpstreamCall {
  readonly ac = new AbortController();
  abortByClient(): void {
    this.ac.abort();
  }
  resume(): void {}
}

/** Serve an OpenAI request on a P/D ModelServer; `payload` is the body as it would be sent in one phase. */
export function proxyPrefillDecode(ex: Exchange, server: ServerEntry, path: string, body: Record<string, unknown>, payload: Buffer): void {
  const core = ex.core;
  const pd = server.scheduling.pd!;
  const pathOnly = path.indexOf('?') < 0 ? path : path.slice(0, path.indexOf('?'));
  if (!TWO_PHASE_PATHS.has(pathOnly) || body.kv_transfer_params !== undefined) {
    proxyRequest(ex, server, path, payload);
    return;
  }
  const scheduler = core.scheduler;
  const profile = scheduler.profileFor(ex, server);
  const decode = scheduler.schedule(ex, server.endpoints, server, profile);
  if (decode === undefined) {
    ex.fail('no_healthy_upstream', `ModelServer ${server.key} has no ready decode pod with a prefill pod.`, { retryAfter: 1 });
    return;
  }
  const prefill = scheduler.schedule(ex, pd.prefillByGroup.get(decode.group) ?? [], pd.prefillCursor, profile);
  if (prefill === undefined) {
    ex.fail('no_healthy_upstream', `ModelServer ${server.key} has no ready prefill pod in group '${decode.group}'.`, { retryAfter: 1 });
    return;
  }
  const raw = Buffer.from(JSON.stringify(prefillBody(body)));
  const headers = upstreamRequestLines(ex.headers, ex.requestId, raw.length, ex.traceparent, true);
  const call = new PrefillCall();
  ex.upstream = call;
  prefill.inflight++;
  prefill.awaiting++;
  prefill.served++;
  let held = true;
  const release = (): void => {
    if (held) {
      held = false;
      prefill.inflight--;
      prefill.awaiting--;
    }
  };
  const timeoutMs = server.timeoutMs ?? core.defaultTimeoutMs;
  core.pools
    .get(prefill.origin)
    .request({ path, method: 'POST', headers, body: raw, timeoutMs, signal: call.ac.signal, maxBytes: core.maxResponseBytes })
    .then((res) => {
      const text = res.body.toString('utf8');
      release();
      if (ex.done || ex.upstream !== call) return;
      ex.upstream = null;
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
      scheduler.pin(ex, decode);
      proxyRequest(ex, server, path, Buffer.from(JSON.stringify(decodeBody(body, kv, prefill))));
    })
    .catch((err: unknown) => {
      release();
      if (ex.done || ex.upstream !== call) return;
      ex.upstream = null;
      const code = (err as { code?: string }).code ?? '';
      const message = `The prefill request to ${prefill.podKey} failed: ${code || (err as Error).message}.`;
      if (code === BODY_TIMEOUT) ex.fail('upstream_timeout', message);
      else if (code === 'ECONNREFUSED' || code === CONNECT_TIMEOUT) ex.fail('upstream_connect_error', message);
      else ex.fail('upstream_error', message);
    });
}
