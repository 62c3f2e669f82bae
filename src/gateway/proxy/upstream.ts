// Proxying one request to an engine endpoint through its undici pool. The call object is the undici dispatch
// handler: the response is either relayed to the client chunk by chunk as it arrives (OpenAI API, SSE included;
// the client connection's backpressure pauses the upstream), or buffered for translation (seed infer path).
//
// Failure handling:
// - nothing was written upstream yet (connect refused/timed out, pool closed): one more attempt on another
//   endpoint of the same ModelServer; then 502 `upstream_connect_error`;
// - no response headers within the server's `routing.timeout`: 504 `upstream_timeout`;
// - other failures before the response started: 502 `upstream_error`;
// - the upstream breaks after response headers were relayed: an SSE stream ends with an error event
//   (`data: {"error": {...}}`) and closes; any other body is cut (the client connection is destroyed);
// - the client disconnects: the exchange is accounted (499) and the upstream request aborted.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Exchange } from '../http/exchange.ts';
import { exchangeOf } from '../http/exchange.ts';
import type { ServerEntry } from '../routing/table.ts';
import type { Endpoint } from '../scheduling/endpoint.ts';
import { errorBody } from '../http/errors.ts';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.ts';

export interface BufferedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Receives a complete upstream response (buffer mode); must answer the client and finish the exchange. */
export type BufferedResponseHandler = (ex: Exchange, response: BufferedResponse) => void;

const MAX_ATTEMPTS = 2;
const LF = 10;

class ClientGoneError extends Error {
  constructor() {
    super('client disconnected');
    this.name = 'ClientGoneError';
  }
}

class ResponseTooLargeError extends Error {
  constructor(limit: number) {
    super(`upstream response larger than ${limit} bytes`);
    this.name = 'ResponseTooLargeError';
  }
}

function errCode(err: unknown): string {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : '';
}

function onClientDrain(this: ServerResponse): void {
  exchangeOf(this)?.upstream?.resume();
}

/**
 * Send the exchange's request (`payload` to `path`) to an endpoint of `server`, chosen by the scheduler.
 * With `onBuffered` the response is collected and handed over; without, it is relayed to the client.
 */
export function proxyRequest(ex: Exchange, server: ServerEntry, path: string, payload: Buffer, onBuffered?: BufferedResponseHandler): void {
  const core = ex.core;
  const ep = core.scheduler.schedule(ex, server.endpoints, server);
  if (ep === undefined) {
    if (ex.attempts > 0) ex.fail('upstream_connect_error', `Could not connect to any engine of ModelServer ${server.key}.`);
    else ex.fail('no_healthy_upstream', `ModelServer ${server.key} has no ready endpoint.`, { retryAfter: 1 });
    return;
  }
  ex.attempts++;
  ex.acquire(ep);
  const call = new ProxyCall(ex, ep, server, path, payload, onBuffered);
  ex.upstream = call;
  const headers = upstreamRequestHeaders(ex.req.headers, ex.requestId, payload.length);
  // A response the gateway parses must come back uncompressed.
  if (onBuffered !== undefined) headers['accept-encoding'] = 'identity';
  try {
    core.pools.get(ep.origin).dispatch(
      {
        path,
        method: 'POST',
        headers,
        body: payload,
        headersTimeout: server.timeoutMs ?? core.defaultTimeoutMs,
        bodyTimeout: core.bodyIdleTimeoutMs,
        blocking: true,
      },
      call,
    );
  } catch (err) {
    call.onResponseError(null, err as Error);
  }
}

export class ProxyCall implements Dispatcher.DispatchHandler {
  readonly ex: Exchange;
  readonly endpoint: Endpoint;
  readonly server: ServerEntry;
  readonly path: string;
  readonly payload: Buffer;
  readonly onBuffered: BufferedResponseHandler | undefined;
  controller: Dispatcher.DispatchController | null = null;
  /** The request started going out on a connection. */
  started = false;
  clientAborted = false;
  status = 0;
  headers: IncomingHttpHeaders | null = null;
  sse = false;
  chunks: Buffer[] | null = null;
  size = 0;
  /** Last two bytes relayed (to terminate a partial SSE event before an error event). */
  last = 0;
  prev = 0;

  constructor(ex: Exchange, endpoint: Endpoint, server: ServerEntry, path: string, payload: Buffer, onBuffered?: BufferedResponseHandler) {
    this.ex = ex;
    this.endpoint = endpoint;
    this.server = server;
    this.path = path;
    this.payload = payload;
    this.onBuffered = onBuffered;
  }

  abortByClient(): void {
    this.clientAborted = true;
    this.controller?.abort(new ClientGoneError());
  }

  resume(): void {
    const c = this.controller;
    if (c !== null && c.paused) c.resume();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    this.started = true;
    if (this.clientAborted || this.ex.done) controller.abort(new ClientGoneError());
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    const ex = this.ex;
    if (ex.done) return;
    if (statusCode < 200) return;
    this.status = statusCode;
    ex.upstreamStatus = statusCode;
    if (this.onBuffered !== undefined) {
      this.headers = headers;
      this.chunks = [];
      return;
    }
    const ct = headers['content-type'];
    this.sse = typeof ct === 'string' && ct.startsWith('text/event-stream');
    const res = ex.res;
    res.on('drain', onClientDrain);
    res.writeHead(statusCode, clientResponseHeaders(headers, ex.requestId));
    if (this.sse) res.flushHeaders();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const ex = this.ex;
    if (ex.done) return;
    if (ex.ttfb < 0) {
      ex.ttfb = ex.elapsed();
      if (this.sse) ex.modelMetrics.ttft.observe(ex.ttfb / 1000);
    }
    const n = chunk.length;
    if (n === 0) return;
    if (this.chunks !== null) {
      this.size += n;
      if (this.size > ex.core.maxResponseBytes) {
        this.chunks = null;
        controller.abort(new ResponseTooLargeError(ex.core.maxResponseBytes));
        return;
      }
      this.chunks.push(chunk);
      return;
    }
    this.prev = n > 1 ? chunk[n - 2]! : this.last;
    this.last = chunk[n - 1]!;
    if (!ex.res.write(chunk)) controller.pause();
  }

  onResponseEnd(_controller: Dispatcher.DispatchController): void {
    const ex = this.ex;
    if (ex.done) return;
    ex.upstream = null;
    if (this.onBuffered !== undefined) {
      const chunks = this.chunks ?? [];
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.size);
      try {
        this.onBuffered(ex, { status: this.status, headers: this.headers ?? {}, body });
      } catch (err) {
        ex.fail('internal_error', `Failed to translate the engine response: ${(err as Error).message}`);
      }
      return;
    }
    ex.res.end();
    ex.finish(this.status);
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    const ex = this.ex;
    if (ex.done) return;
    ex.upstream = null;
    const res = ex.res;
    const mm = ex.modelMetrics;
    if (this.onBuffered === undefined && res.headersSent) {
      // Broken after the response started.
      mm.upstreamError('stream');
      ex.errorCode = 'upstream_stream_error';
      if (this.sse && !res.destroyed) {
        const sep = this.last === LF ? (this.prev === LF ? '' : '\n') : '\n\n';
        const event = errorBody('upstream_error', `The engine stream broke: ${err.message}`);
        res.end(`${sep}data: ${JSON.stringify(event)}\n\n`);
      } else {
        res.destroy();
      }
      ex.finish(this.status);
      return;
    }
    const code = errCode(err);
    if (!this.started) {
      mm.upstreamError('connect');
      if (ex.attempts < MAX_ATTEMPTS && this.server.endpoints.length > 1) {
        // Nothing reached the engine: try another endpoint once.
        ex.releaseEndpoint();
        ex.exclude = this.endpoint;
        proxyRequest(ex, this.server, this.path, this.payload, this.onBuffered);
        return;
      }
      ex.fail('upstream_connect_error', `Could not connect to the engine ${this.endpoint.podKey} (${this.endpoint.ip}:${this.endpoint.port}): ${code || err.message}.`);
      return;
    }
    if (code === 'UND_ERR_HEADERS_TIMEOUT') {
      mm.upstreamError('timeout');
      ex.fail('upstream_timeout', `The engine ${this.endpoint.podKey} did not respond within ${this.server.timeoutMs ?? ex.core.defaultTimeoutMs} ms.`);
      return;
    }
    mm.upstreamError('reset');
    ex.fail('upstream_error', `The request to the engine ${this.endpoint.podKey} failed: ${err.message}.`);
  }
}
