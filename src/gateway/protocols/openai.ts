// The OpenAI-compatible API: POST /v1/chat/completions, /v1/completions and any other /v1/* POST carrying a
// `model` (relayed to the same path on the engine), GET /v1/models and GET /v1/models/{id}.
import type { Exchange } from '../http/exchange.ts';
import { selectIdle, selectRoute } from '../routing/select.ts';
import { proxyRequest } from '../proxy/upstream.ts';
import { proxyPrefillDecode } from '../proxy/prefill-decode.ts';
import type { ModelEntry, ServerEntry } from '../routing/table.ts';
import { admit } from '../policy/traffic.ts';
import { requestUsage } from '../accounting/usage.ts';

/** A client-supplied name for an error message, bounded in length. */
export function shown(name: string): string {
  return name.length > 200 ? `${name.slice(0, 200)}…` : name;
}

/** The body as a JSON object, or undefined after answering 400. */
export function parseJsonObject(ex: Exchange, raw: Buffer): Record<string, unknown> | undefined {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    ex.fail('invalid_json', `The request body is not valid JSON: ${(err as Error).message}`);
    return undefined;
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    ex.fail('invalid_request', 'The request body must be a JSON object.');
    return undefined;
  }
  return body as Record<string, unknown>;
}

export function handleOpenAIBody(ex: Exchange, raw: Buffer): void {
  const core = ex.core;
  if (!core.synced) {
    ex.fail('gateway_not_ready', 'The gateway has not synced its routing table yet.', { retryAfter: 1 });
    return;
  }
  const body = parseJsonObject(ex, raw);
  if (body === undefined) return;
  const model = body.model;
  if (typeof model !== 'string' || model === '') {
    ex.fail('missing_model', 'The request body must carry a non-empty string `model`.', { param: 'model' });
    return;
  }
  ex.body = body;
  const entry = core.table.models.get(model);
  if (entry === undefined) {
    ex.fail('model_not_found', `The model '${shown(model)}' does not exist.`, { param: 'model' });
    return;
  }
  ex.model = model;
  ex.lora = entry.lora;
  ex.modelMetrics = core.metrics.forModel(model);
  let sel = selectRoute(entry, ex.headers, ex.path);
  if (sel === 'no_rule') {
    ex.fail('route_not_found', `No rule of the routes for model '${shown(model)}' matches this request.`, { param: 'model' });
    return;
  }
  if (sel === 'no_upstream') {
    // A target at zero replicas may start for this request: it goes on, and waits in proxy/upstream.ts.
    const idle = selectIdle(entry, ex.headers, ex.path);
    if (idle === undefined || !core.holds.canHold(idle.server)) {
      ex.fail('no_healthy_upstream', `No ready engine serves model '${shown(model)}' right now.`, { retryAfter: 1 });
      return;
    }
    sel = idle;
  }
  ex.route = sel.route;
  const server = sel.server;
  ex.server = server;
  let payload = raw;
  if (!entry.lora && server.model !== undefined && server.model !== model) {
    body.model = server.model;
    payload = Buffer.from(JSON.stringify(body));
  }
  // Token accounting: ask a streaming engine for usage even when the client did not (accounting/usage.ts).
  payload = requestUsage(ex, body, payload);
  // Authentication and rate limits of the ModelServer and route (policy/traffic.ts), then forwardOpenAI.
  admit(ex, server, ex.url, payload, forwardOpenAI);
}

function forwardOpenAI(ex: Exchange, server: ServerEntry, path: string, payload: Buffer): void {
  if (server.scheduling.pd !== null) {
    const body = ex.body!;
    if (ex.usageInjected) body.stream_options = { ...(body.stream_options as object | undefined), include_usage: true };
    proxyPrefillDecode(ex, server, path, body, payload);
  } else proxyRequest(ex, server, path, payload);
}

function modelObject(m: ModelEntry): { id: string; object: 'model'; created: number; owned_by: 'matrixinfer' } {
  return { id: m.name, object: 'model', created: Math.floor(m.created / 1000), owned_by: 'matrixinfer' };
}

export function handleListModels(ex: Exchange): void {
  ex.sendJson(200, ex.core.table.modelList);
}

/** GET /v1/models/{id}. */
export function handleRetrieveModel(ex: Exchange, id: string): void {
  let name = id;
  try {
    name = decodeURIComponent(id);
  } catch {
    // keep it raw
  }
  const entry = ex.core.table.models.get(name);
  if (entry === undefined) {
    ex.fail('model_not_found', `The model '${shown(name)}' does not exist.`, { param: 'model' });
    return;
  }
  ex.sendJson(200, JSON.stringify(modelObject(entry)));
}
