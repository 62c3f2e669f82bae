// The HTTP front: dispatch by path, bounded body reading, probes and metrics. Fixed paths first, then the
// ModelServers' seed paths (P/infer, P), then the generic OpenAI `/v1/*` pass-through.
//
// Body reading uses listener functions shared by all requests (state lives on the Exchange), so serving a
// request allocates no closures.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Exchange, exchangeOf, methodNotAllowed, type BodyKind, type GatewayCore } from './exchange.ts';
import { handleListModels, handleOpenAIBody, handleRetrieveModel, shown } from '../protocols/openai.ts';
import { handleInferBody, handleInferMetadata } from '../protocols/infer.ts';
import { deadline } from './deadlines.ts';

const HEALTH_BODY = Buffer.from('{"status":"ok"}');
const READY_BODY = Buffer.from('{"status":"ready"}');
const NOT_READY_BODY = Buffer.from('{"status":"not ready"}');

export function createGatewayServer(core: GatewayCore): Server {
  const server = createServer(
    {
      // Streams may run long: no overall request timeout; headers must still arrive promptly.
      requestTimeout: 0,
      headersTimeout: 60_000,
      keepAliveTimeout: 65_000,
    },
    (req, res) => handleRequest(core, req, res),
  );
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify({ error: { message: 'Malformed HTTP request.', type: 'invalid_request_error', code: 'bad_request', param: null } });
    socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
  return server;
}

export function handleRequest(core: GatewayCore, req: IncomingMessage, res: ServerResponse): void {
  const ex = new Exchange(core, req, res);
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
      if (method === 'POST') readBody(ex, 'openai');
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
  const table = ex.core.table;
  const inferServer = table.inferPaths.get(path);
  if (inferServer !== undefined) {
    ex.server = inferServer;
    if (method === 'POST') readBody(ex, 'infer');
    else methodNotAllowed(ex, 'POST');
    return;
  }
  const metaServer = table.metaPaths.get(path);
  if (metaServer !== undefined) {
    ex.server = metaServer;
    if (method === 'GET') handleInferMetadata(ex, metaServer);
    else methodNotAllowed(ex, 'GET');
    return;
  }
  if (path.startsWith('/v1/')) {
    if (method === 'POST') {
      readBody(ex, 'openai');
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
      ex.res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(text) });
      ex.res.end(text);
      ex.finish(200);
    },
    (err: Error) => ex.fail('internal_error', `metrics: ${err.message}`),
  );
}

// ---- bounded body reading -------------------------------------------------------------------------------

function readBody(ex: Exchange, kind: BodyKind): void {
  const req = ex.req;
  const max = ex.core.maxBodyBytes;
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > max) {
    tooLarge(ex);
    return;
  }
  ex.bodyKind = kind;
  ex.chunks = [];
  ex.received = 0;
  req.on('data', onRequestData);
  req.on('end', onRequestEnd);
  req.on('error', onRequestError);
  const timeout = ex.core.bodyReadTimeoutMs;
  if (timeout > 0) ex.bodyTimer = deadline(timeout, onBodyTimeout, ex);
}

/** The body did not arrive in time (slow or half-sent): 408 and the connection is closed. */
function onBodyTimeout(ex: Exchange): void {
  ex.bodyTimer = null;
  if (ex.done || ex.chunks === null) return;
  ex.chunks = null;
  ex.fail('request_timeout', `The request body was not received within ${ex.core.bodyReadTimeoutMs} ms.`);
}

function tooLarge(ex: Exchange): void {
  ex.fail('request_too_large', `The request body exceeds ${ex.core.maxBodyBytes} bytes.`);
}

function onRequestData(this: IncomingMessage, chunk: Buffer): void {
  const ex = exchangeOf(this);
  if (ex === undefined || ex.done || ex.chunks === null) return;
  ex.received += chunk.length;
  if (ex.received > ex.core.maxBodyBytes) {
    ex.chunks = null;
    tooLarge(ex);
    return;
  }
  ex.chunks.push(chunk);
}

function onRequestEnd(this: IncomingMessage): void {
  const ex = exchangeOf(this);
  if (ex === undefined || ex.done || ex.chunks === null) return;
  const chunks = ex.chunks;
  ex.chunks = null;
  if (ex.bodyTimer !== null) {
    ex.bodyTimer.cancel();
    ex.bodyTimer = null;
  }
  const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, ex.received);
  try {
    if (ex.bodyKind === 'infer') {
      if (ex.server === null) ex.fail('not_found', `Unknown path ${ex.path}.`);
      else handleInferBody(ex, raw, ex.server);
    } else {
      handleOpenAIBody(ex, raw);
    }
  } catch (err) {
    if (!ex.done) ex.fail('internal_error', `Internal gateway error: ${(err as Error).message}`);
  }
}

function onRequestError(this: IncomingMessage): void {
  const ex = exchangeOf(this);
  if (ex !== undefined && !ex.done) ex.onClientClose();
}
