// The OpenAI-compatible API: POST /v1/chat/completions, /v1/completions and any other /v1/* POST carrying a
// `model` (relayed to the same path on the engine), GET /v1/models and GET /v1/models/{id}. The POSTs run the
// INFERENCE pipeline (pipeline.ts) with this front.
import type { Exchange } from '../http/exchange.ts';
import { modelObject } from '../routing/table.ts';
import { parseJsonObject, shown, type Front } from './front.ts';

/** The body carries a `model`; the engine gets the same path and, unless the route renames the model, the same bytes. */
function parseOpenAI(ex: Exchange, raw: Buffer): boolean {
  const body = parseJsonObject(ex, raw);
  if (body === undefined) return false;
  const model = body.model;
  if (typeof model !== 'string' || model === '') {
    ex.fail('missing_model', 'The request body must carry a non-empty string `model`.', { param: 'model' });
    return false;
  }
  ex.body = body;
  ex.model = model;
  ex.payload = raw;
  ex.upstreamPath = ex.url;
  return true;
}

/** POST /v1/*: relayed to the same path on the engine, the answer relayed untouched (SSE included). */
export const OPENAI: Front = { name: 'openai', parse: parseOpenAI, translate: null };

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
  // A deprecated model's own description carries the headers its responses do.
  ex.sendJson(200, JSON.stringify(modelObject(entry)), entry.routes[0]?.deprecation?.headers);
}
