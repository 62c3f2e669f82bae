// Prefill/decode disaggregation, the scheduling half: one decision picks both pods of vLLM's NIXL-style two-phase
// request — a decode pod (the ModelServer's profile over its decode pods), then a prefill pod of the same group
// (label `workload.matrixinfer.ai/group-index` by default) with the same profile — and the two bodies:
//   - prefill: the request with `max_tokens: 1` (and `max_completion_tokens: 1` when given), `stream: false`, no
//     `stream_options`, and `kv_transfer_params: {do_remote_decode: true, do_remote_prefill: false, remote_*: null}`;
//   - decode: the original request plus the `kv_transfer_params` the prefill returned (`remote_host` filled in with
//     the prefill pod's IP when the engine left it empty).
// The orchestration (send, read, hand over to the decode pod) is the proxy's: proxy/prefill-decode.ts.
import type { Exchange } from '../http/exchange.ts';
import { servingEndpoints, type ServerEntry } from '../routing/table.ts';
import type { Endpoint } from './endpoint.ts';

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

/** Paths that run two-phase; anything else goes to a decode pod directly. */
const TWO_PHASE_PATHS = new Set(['/v1/completions', '/v1/chat/completions']);

/** The request runs in two phases on a P/D ModelServer (a completion the client did not already prefill). */
export function twoPhase(ex: Exchange): boolean {
  return TWO_PHASE_PATHS.has(ex.path) && ex.body?.kv_transfer_params === undefined;
}

/** Both pods of a two-phase request, or which one is missing. */
export type PairDecision = { kind: 'pair'; decode: Endpoint; prefill: Endpoint } | { kind: 'no-decode' } | { kind: 'no-prefill'; group: string };

/** One decision for a P/D ModelServer: a decode pod, then a prefill pod of its group, under one profile. */
export function schedulePair(ex: Exchange, server: ServerEntry): PairDecision {
  const scheduler = ex.core.scheduler;
  const pd = server.scheduling.pd!;
  const profile = scheduler.profileFor(ex, server);
  const decode = scheduler.schedule(ex, servingEndpoints(server, ex.model, ex.lora), server, profile);
  if (decode === undefined) return { kind: 'no-decode' };
  const prefill = scheduler.schedule(ex, pd.prefillByGroup.get(decode.group) ?? [], pd.prefillCursor, profile);
  return prefill === undefined ? { kind: 'no-prefill', group: decode.group } : { kind: 'pair', decode, prefill };
}
