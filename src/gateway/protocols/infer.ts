// The seed's per-ModelServer path API. For a ModelServer with `routing.path` P:
//
//   POST P/infer   {"inputs": {"text": "..."}, "parameters": {"max_tokens"?, "temperature"?, ...}}
//     → engine POST /v1/completions {"model": M, "prompt": text, ...parameters, "stream": false}
//     ← {"model_name": M, "id": "<completion id>",
//        "outputs": {"text": "...", "finish_reason": "stop" | "length" | null},
//        "usage": {"prompt_tokens", "completion_tokens", "total_tokens"}}
//   GET P          → {"name": M, "model_server": "ns/name", "engine", "ready", "endpoints", "infer": "P/infer",
//                     "models": [route model names]}
//
// M = ModelServer.spec.model ?? the model name of the oldest ModelRoute targeting the server ?? the last segment
// of P. `inputs` may also be a bare string. `parameters` are copied into the completion request except `model`,
// `prompt`, `stream` and `stream_options`. Engine errors (non-2xx) keep their status, in the OpenAI shape (proxy/engine-errors.ts).
import type { Exchange } from '../http/exchange.ts';
import { GatewayError } from '../http/errors.ts';
import type { ServerEntry } from '../routing/table.ts';
import type { BufferedResponse } from '../proxy/upstream.ts';
import { engineAnswer, notACompletion, parseJsonObject, type Front } from './front.ts';

export interface InferResponse {
  model_name: string;
  id: string;
  outputs: { text: string; finish_reason: string | null };
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

const RESERVED = new Set(['model', 'prompt', 'stream', 'stream_options']);

/** Seed infer request → OpenAI completion request, or the 400 to answer. */
export function inferToCompletion(body: Record<string, unknown>, model: string): Record<string, unknown> | GatewayError {
  const inputs = body.inputs;
  let text: unknown;
  if (typeof inputs === 'string') text = inputs;
  else if (inputs !== null && typeof inputs === 'object' && !Array.isArray(inputs)) text = (inputs as Record<string, unknown>).text;
  if (typeof text !== 'string') {
    return new GatewayError('invalid_request', 'The request must carry `inputs.text` as a string.', { param: 'inputs.text' });
  }
  const out: Record<string, unknown> = { model, prompt: text };
  const params = body.parameters;
  if (params !== undefined && params !== null) {
    if (typeof params !== 'object' || Array.isArray(params)) {
      return new GatewayError('invalid_request', '`parameters` must be an object.', { param: 'parameters' });
    }
    for (const [k, v] of Object.entries(params)) if (!RESERVED.has(k)) out[k] = v;
  }
  out.stream = false;
  return out;
}

function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** OpenAI completion response → seed infer response; null when the engine answer is not a completion. */
export function completionToInfer(completion: unknown, modelName: string, fallbackId: string): InferResponse | null {
  if (completion === null || typeof completion !== 'object') return null;
  const c = completion as Record<string, unknown>;
  const choices = c.choices;
  if (!Array.isArray(choices)) return null;
  const first = (choices[0] ?? {}) as Record<string, unknown>;
  const usage = (c.usage ?? {}) as Record<string, unknown>;
  const prompt = count(usage.prompt_tokens);
  const completionTokens = count(usage.completion_tokens);
  return {
    model_name: modelName,
    id: typeof c.id === 'string' ? c.id : fallbackId,
    outputs: {
      text: typeof first.text === 'string' ? first.text : '',
      finish_reason: typeof first.finish_reason === 'string' ? first.finish_reason : null,
    },
    usage: {
      prompt_tokens: prompt,
      completion_tokens: completionTokens,
      total_tokens: usage.total_tokens !== undefined ? count(usage.total_tokens) : prompt + completionTokens,
    },
  };
}

export function inferMetadata(server: ServerEntry): Record<string, unknown> {
  return {
    name: server.inferModel,
    model_server: server.key,
    engine: server.engine ?? null,
    ready: server.endpoints.length > 0,
    endpoints: server.endpoints.length,
    infer: server.path === '/' ? '/infer' : `${server.path}/infer`,
    models: server.routeModels,
  };
}

/** The dispatcher set `ex.server` from the path; the engine gets a completion request. */
function parseInfer(ex: Exchange, raw: Buffer): boolean {
  const server = ex.server!;
  const body = parseJsonObject(ex, raw);
  if (body === undefined) return false;
  const completion = inferToCompletion(body, server.inferModel);
  if (completion instanceof GatewayError) {
    ex.sendError(completion);
    return false;
  }
  ex.model = server.inferModel;
  ex.modelMetrics = ex.core.metrics.forModel(server.inferModel);
  ex.body = completion;
  ex.payload = Buffer.from(JSON.stringify(completion));
  ex.upstreamPath = '/v1/completions';
  return true;
}

function describeInfer(ex: Exchange): void {
  ex.sendJson(200, JSON.stringify(inferMetadata(ex.server!)));
}

/** POST P/infer (INFERENCE pipeline) and GET P (DESCRIBE pipeline: the ModelServer's authentication applies). */
export const SEED_INFER: Front = { name: 'infer', parse: parseInfer, translate: onInferResponse, describe: describeInfer };

function onInferResponse(ex: Exchange, response: BufferedResponse): void {
  const parsed = engineAnswer(ex, response);
  if (parsed === undefined) return;
  const out = completionToInfer(parsed, ex.server?.inferModel ?? ex.model, ex.requestId);
  if (out === null) {
    notACompletion(ex);
    return;
  }
  ex.usage = { prompt: out.usage.prompt_tokens, completion: out.usage.completion_tokens };
  ex.sendJson(200, JSON.stringify(out));
}
