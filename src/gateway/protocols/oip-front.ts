// The Open Inference Protocol's REST API as a front on the pipeline (pipeline.ts); the protocol itself — paths,
// tensors, parameters, responses, the stream's events — is oip.ts's, as pure functions. The gRPC front (grpc/) serves
// its calls as these same requests.
//
//   GET  /v2/health/live, /v2/health/ready   answered here (probes: not counted, not logged)
//   GET  /v2                                 server metadata, answered here
//   GET  /v2/models/{name}[/versions/1]      DESCRIBE_MODEL: the model's route and server, authentication,
//   GET  /v2/models/{name}[/versions/1]/ready   authorization, then metadata / readiness (200, or 400 not ready)
//   POST /v2/models/{name}[/versions/1]/infer   INFERENCE: parse (oip.ts) → the engine's `/v1/completions` → the
//                                               answer translated: collected whole (OIP_INFER), or for `stream`
//                                               rewritten event by event as it is relayed (OIP_STREAM)
//
// Rules: every error on these paths, the gateway's and the engine's, is the protocol's `{"error": "<message>"}` with
// the status the OpenAI API would have had (errorBody); the model named in the path is the one routed, as `model`
// is for the OpenAI API (routes, LoRA adapters, rules, weights); responses name it as the client did.
import { readFileSync } from 'node:fs';
import type { Exchange } from '../http/exchange.ts';
import { methodNotAllowed } from '../http/exchange.ts';
import type { BufferedResponse } from '../proxy/upstream.ts';
import { engineAnswer, notACompletion, shown, type Front, type RelayTranslator } from './front.ts';
import {
  OipError,
  OipEventStream,
  checkVersion,
  completionRequest,
  encodeResponse,
  errorJson,
  errorMessage,
  inferResponse,
  modelMetadata,
  parseInferRequest,
  parseOipPath,
  serverMetadata,
} from './oip.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const LIVE_BODY = Buffer.from('{"live":true}');
const READY_BODY = Buffer.from('{"ready":true}');
const SERVER_METADATA_BODY = Buffer.from(JSON.stringify(serverMetadata(VERSION)));

/** How the dispatcher goes on with a /v2 request (null: it was answered). */
export type OipDispatch = 'infer' | 'describe' | null;

/**
 * A request on a /v2 path: probes and server metadata are answered; a model path sets `ex.model` and the front
 * and says which pipeline runs.
 */
export function routeOip(ex: Exchange): OipDispatch {
  ex.front = OIP_INFER; // errors in the protocol's shape from here on
  const method = ex.method;
  const get = method === 'GET' || method === 'HEAD';
  const p = parseOipPath(ex.path);
  if (p === null) {
    ex.fail('not_found', `Unknown path ${method} ${shown(ex.path)}.`);
    return null;
  }
  switch (p.kind) {
    case 'live':
      ex.accounted = false;
      if (get) ex.sendJson(200, LIVE_BODY);
      else methodNotAllowed(ex, 'GET');
      return null;
    case 'ready':
      ex.accounted = false;
      if (!get) methodNotAllowed(ex, 'GET');
      else if (ex.core.synced) ex.sendJson(200, READY_BODY);
      else ex.fail('gateway_not_ready', 'The gateway has not synced its routing table yet.', { retryAfter: 1 });
      return null;
    case 'server-metadata':
      if (get) ex.sendJson(200, SERVER_METADATA_BODY);
      else methodNotAllowed(ex, 'GET');
      return null;
  }
  const wrongVersion = checkVersion(p.model, p.version);
  if (wrongVersion !== null) {
    ex.fail('model_not_found', wrongVersion.message);
    return null;
  }
  ex.model = p.model;
  if (p.action === 'infer') {
    if (method === 'POST') return 'infer';
    methodNotAllowed(ex, 'POST');
    return null;
  }
  if (!get) {
    methodNotAllowed(ex, 'GET');
    return null;
  }
  ex.front = p.action === 'ready' ? OIP_READY : OIP_METADATA;
  return 'describe';
}

/** The infer body → the engine's completion request; a streaming request switches to the relaying front. */
function parseOip(ex: Exchange, raw: Buffer): boolean {
  const declared = ex.headers['inference-header-content-length'];
  const headerLength = typeof declared === 'string' ? Number(declared) : null;
  const req = parseInferRequest(raw, headerLength, ex.model);
  if (req instanceof OipError) {
    ex.fail(req.status === 404 ? 'model_not_found' : 'invalid_request', req.message);
    return false;
  }
  ex.oip = req;
  const body = completionRequest(req, ex.model);
  ex.body = body;
  ex.payload = Buffer.from(JSON.stringify(body));
  ex.upstreamPath = '/v1/completions';
  if (req.stream) ex.front = OIP_STREAM;
  return true;
}

/** A non-streaming answer: the completion → the OIP response (JSON, or with binary outputs when asked). */
function onOipResponse(ex: Exchange, response: BufferedResponse): void {
  const parsed = engineAnswer(ex, response);
  if (parsed === undefined) return;
  const res = inferResponse(parsed, ex.model, ex.oip!);
  if (res === null) {
    notACompletion(ex);
    return;
  }
  const prompt = res.parameters.prompt_tokens;
  const completion = res.parameters.completion_tokens;
  if (typeof prompt === 'number' || typeof completion === 'number') {
    ex.usage = { prompt: typeof prompt === 'number' ? prompt : 0, completion: typeof completion === 'number' ? completion : 0 };
  }
  const encoded = encodeResponse(res, ex.oip!.binaryOutput);
  if (encoded.headerLength === null) ex.sendJson(200, encoded.body);
  else ex.sendJson(200, encoded.body, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(encoded.headerLength) });
}

/** The engine's SSE → one OIP response per chunk (oip.ts OipEventStream); token counts from the exchange's meter. */
function relayOip(ex: Exchange): RelayTranslator {
  return new OipEventStream(ex.model, ex.oip!, ex);
}

function describeMetadata(ex: Exchange): void {
  ex.sendJson(200, JSON.stringify(modelMetadata(ex.model, ex.server!.engine ?? 'vllm')));
}

function describeReady(ex: Exchange): void {
  if (ex.server!.endpoints.length > 0) ex.sendJson(200, JSON.stringify({ name: ex.model, ready: true }));
  else ex.fail('model_not_ready', `The model '${shown(ex.model)}' is not ready: no engine serving it is ready.`);
}

/** The gateway's OpenAI-shaped error body → the protocol's `{"error": "<message>"}`. */
function oipErrorBody(openai: string | Buffer): string {
  const text = typeof openai === 'string' ? openai : openai.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return errorJson(errorMessage(parsed) ?? text);
}

/** POST …/infer without streaming: the answer is collected and translated. */
export const OIP_INFER: Front = { name: 'oip', parse: parseOip, translate: onOipResponse, errorBody: oipErrorBody };
/** POST …/infer with `stream`: the engine's events are rewritten as they are relayed. */
export const OIP_STREAM: Front = { name: 'oip', parse: parseOip, translate: null, relay: relayOip, errorBody: oipErrorBody };
/** GET /v2/models/{name}. */
export const OIP_METADATA: Front = { name: 'oip', parse: parseOip, translate: null, describe: describeMetadata, errorBody: oipErrorBody };
/** GET /v2/models/{name}/ready. */
export const OIP_READY: Front = { name: 'oip', parse: parseOip, translate: null, describe: describeReady, errorBody: oipErrorBody };
