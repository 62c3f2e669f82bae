// The HTTP front: dispatch by path, bounded body reading, probes and metrics. Fixed paths first, then the Open
// Inference Protocol's `/v2` paths, then the ModelServers' seed paths (P/infer, P), then the generic OpenAI `/v1/*`
// pass-through. Each API is a front (protocols/) on the same pipeline (pipeline.ts): a POST reads its body, then
// runs INFERENCE. The gRPC front (grpc/) calls handleRequest with each call as the REST request it stands for.
//
// The HTTP/1.1 server underneath is the gateway's own (http1/server.ts); the Exchange is the stream's sink, and
// body handlers are shared functions (state lives on the Exchange), so serving a request allocates no closures.
import { Exchange, methodNotAllowed, type GatewayCore } from './exchange.ts';
import { Http1Server, type ClientStream } from '../http1/server.ts';
import { handleListModels, handleRetrieveModel, OPENAI } from '../protocols/openai.ts';
import { SEED_INFER } from '../protocols/infer.ts';
import { OIP_INFER, routeOip } from '../protocols/oip-front.ts';
import { shown, type Front } from '../protocols/front.ts';
import { DESCRIBE, DESCRIBE_MODEL, INFERENCE, runPipeline } from '../pipeline.ts';
import { deadline } from './deadlines.ts';

const HEALTH_BODY = Buffer.from('{"status":"ok"}');
const READY_BODY = Buffer.from('{"status":"ready"}');
const NOT_READY_BODY = Buffer.from('{"status":"not ready"}');

export function createGatewayServer(core: GatewayCore): Http1Server {
  return new Http1Server((stream) => handleRequest(core, stream));
}

export function handleRequest(core: GatewayCore, stream: ClientStream, secure = false): void {
  const ex = new Exchange(core, stream);
  ex.secure = secure;
  try {
    dispatch(ex);
  } catch (err) {
    if (!ex.done) ex.fail('internal_error', `Internal gateway error: ${(err as Error).message}`);
  }
}

function dispatch(ex: Exchange): void {
  const path = ex.path;
  const method = ex.method;
  switch (path) {
    case '/v1/chat/completions':
    case '/v1/completions':
      if (method === 'POST') readBody(ex, OPENAI);
      else methodNotAllowed(ex, 'POST');
      return;
    case '/v1/models':
      if (method === 'GET') handleListModels(ex);
      else methodNotAllowed(ex, 'GET');
      return;
    case '/health':
      ex.accounted = false;
      if (method === 'GET' || method === 'HEAD') ex.sendJson(200, HEALTH_BODY);
      else methodNotAllowed(ex, 'GET');
      return;
    case '/ready':
      ex.accounted = false;
      if (method === 'GET' || method === 'HEAD') ex.sendJson(ex.core.synced ? 200 : 503, ex.core.synced ? READY_BODY : NOT_READY_BODY);
      else methodNotAllowed(ex, 'GET');
      return;
    case '/metrics':
      ex.accounted = false;
      if (method === 'GET') serveMetrics(ex);
      else methodNotAllowed(ex, 'GET');
      return;
  }
  if (path === '/v2' || path.startsWith('/v2/')) {
    const next = routeOip(ex);
    if (next === 'infer') readBody(ex, OIP_INFER);
    else if (next === 'describe') runPipeline(ex, DESCRIBE_MODEL);
    return;
  }
  const table = ex.core.table;
  const inferServer = table.inferPaths.get(path);
  if (inferServer !== undefined) {
    ex.server = inferServer;
    if (method === 'POST') readBody(ex, SEED_INFER);
    else methodNotAllowed(ex, 'POST');
    return;
  }
  const metaServer = table.metaPaths.get(path);
  if (metaServer !== undefined) {
    ex.server = metaServer;
    ex.model = metaServer.inferModel;
    ex.front = SEED_INFER;
    if (method === 'GET') runPipeline(ex, DESCRIBE);
    else methodNotAllowed(ex, 'GET');
    return;
  }
  if (path.startsWith('/v1/')) {
    if (method === 'POST') {
      readBody(ex, OPENAI);
      return;
    }
    if (method === 'GET' && path.length > 11 && path.startsWith('/v1/models/')) {
      // Model ids may contain '/', e.g. meta-llama/Llama-2-7b.
      handleRetrieveModel(ex, path.slice(11));
      return;
    }
  }
  ex.fail('not_found', `Unknown path ${method} ${shown(path)}.`);
}

function serveMetrics(ex: Exchange): void {
  const registry = ex.core.metrics.registry;
  registry.metrics().then(
    (text) => {
      if (ex.done) return;
      ex.http.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(text) });
      ex.http.end(text);
      ex.finish(200);
    },
    (err: Error) => ex.fail('internal_error', `metrics: ${err.message}`),
  );
}

// ---- bounded body reading -------------------------------------------------------------------------------

/** Read the body whole (bounded in size and time), then run the INFERENCE pipeline with `front`. */
function readBody(ex: Exchange, front: Front): void {
  const declared = ex.http.headers['content-length'];
  if (declared !== undefined && Number(declared) > ex.core.maxBodyBytes) {
    ex.failTooLarge();
    return;
  }
  ex.front = front;
  ex.bodyHandler = startInference;
  ex.chunks = [];
  ex.received = 0;
  // A body that came with the head is read in this same turn: no deadline needed.
  const timeout = ex.core.bodyReadTimeoutMs;
  if (timeout > 0 && !ex.http.bodyBuffered) ex.bodyTimer = deadline(timeout, onBodyTimeout, ex);
}

/** The body did not arrive in time (slow or half-sent): 408 and the connection is closed. */
function onBodyTimeout(ex: Exchange): void {
  ex.bodyTimer = null;
  if (ex.done || ex.chunks === null) return;
  ex.chunks = null;
  ex.fail('request_timeout', `The request body was not received within ${ex.core.bodyReadTimeoutMs} ms.`);
}

function startInference(ex: Exchange, raw: Buffer): void {
  ex.raw = raw;
  runPipeline(ex, INFERENCE);
}
