// Proxying one request to an engine endpoint through its connection pool (http1/client.ts). Each attempt is a
// ProxyCall, the pool's request handler: the response is either relayed to the client chunk by chunk as it arrives (OpenAI API, SSE
// included; the client connection's backpressure pauses the upstream), or buffered for translation (seed infer
// path).
//
// Attempts, retries and timeouts (per ModelServer):
// - `routing.timeout` bounds the time to the first response body byte (our own timer per attempt, cleared on the
//   first byte). Streams may then run as long as they like (body idle limit
//   `bodyIdleTimeoutMs`).
// - The client's response headers are written with the first body byte, so until then nothing has been sent and a
//   failed attempt — connect error, first-byte timeout, 5xx status, reset — is retried on another pod, up to
//   `routing.retries` times (default 1), never on a pod this request already tried. Out of retries or pods: the
//   last failure is answered (502 `upstream_connect_error`, 504 `upstream_timeout`, 502 `upstream_error`; a 5xx
//   from the engine is relayed in the OpenAI shape).
// - Retries choose among the pods the routing table has now, not those of the attempt's start: a rolling update
//   replaces pods while requests run, and the pod that just went away may have been the only one then.
// - Nothing came back (refused, or the connection closed or reset before a response head): the engine never
//   answered, so one attempt more than `routing.retries` is allowed — a keep-alive connection the engine closed
//   while idle, or a drain's race, must not cost a request — and a reset is retried on the same pod when it is
//   the only one left (a fresh connection), once.
// - The first attempt's pod was chosen by the pipeline's `schedule` stage (pipeline.ts), which also holds a request
//   for a ModelServer at zero replicas; retries schedule here.
// - Engine errors (non-2xx, not SSE) are collected and answered in the OpenAI shape with the engine's status and
//   message (engine-errors.ts); a 2xx response is relayed untouched.
// - The upstream breaks after bytes were relayed: an SSE stream ends with an error event (`data: {"error": {...}}`)
//   and closes; any other body is cut (the client connection is destroyed).
// - The client disconnects: the exchange is accounted (499) and the upstream request aborted.
// Every attempt's outcome feeds the endpoint's circuit breaker (proxy/circuit.ts) and
// `matrixinfer_gateway_upstream_attempts_total{outcome}`; with tracing on, each attempt is a span whose context is
// the `traceparent` sent upstream (observability/tracing.ts).
import type { IncomingHttpHeaders } from 'node:http';
import type { Exchange } from '../http/exchange.ts';
import { CONNECT_TIMEOUT, type UpstreamController, type UpstreamHandler } from '../http1/client.ts';
import { servingEndpoints, type ServerEntry } from '../routing/table.ts';
import type { Endpoint } from '../scheduling/endpoint.ts';
import type { UpstreamErrorKind } from '../observability/metrics.ts';
import { errorBody } from '../http/errors.ts';
import type { GatewayCore } from '../http/exchange.ts';
import { engineErrorBody } from './engine-errors.ts';
import { UsageMeter } from '../accounting/usage.ts';
import type { RelayTranslator } from '../protocols/front.ts';
import { clientResponseLines, contentLengthOf, upstreamRequestLines } from './headers.ts';
import { deadline, type Deadline } from '../http/deadlines.ts';
import { endAttempt, traceparentOf } from '../observability/tracing.ts';
import type { Span } from '../../kube/tracing.ts';

export interface BufferedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Receives a complete upstream response (buffer mode); must answer the client and finish the exchange. */
export type BufferedResponseHandler = (ex: Exchange, response: BufferedResponse) => void;

const LF = 10;

class ClientGoneError extends Error {
  constructor() {
    super('client disconnected');
    this.name = 'ClientGoneError';
  }
}

class AttemptAbandonedError extends Error {
  constructor(kind: string) {
    super(`attempt abandoned (${kind})`);
    this.name = 'AttemptAbandonedError';
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

function onFirstByteTimeout(call: ProxyCall): void {
  call.onTimeout();
}

interface Failure {
  kind: UpstreamErrorKind;
  message: string;
}

/**
 * The pipeline's `proxy` stage: send the exchange's request (`payload` to `upstreamPath`) to `ep`. With the
 * front's `translate` the response is collected and handed over; without, it is relayed to the client.
 */
export function startAttempt(ex: Exchange, ep: Endpoint): void {
  const core = ex.core;
  const server = ex.server!;
  const onBuffered = ex.front?.translate ?? undefined;
  ex.attempts++;
  ex.acquire(ep);
  const path = ex.upstreamPath;
  const payload = ex.payload;
  const call = new ProxyCall(ex, ep, server, path, payload, onBuffered);
  ex.upstream = call;
  const timeoutMs = server.timeoutMs ?? core.defaultTimeoutMs;
  call.timeoutMs = timeoutMs;
  if (timeoutMs > 0) call.timer = deadline(timeoutMs, onFirstByteTimeout, call);
  // A response the gateway parses must come back uncompressed.
  let traceparent = ex.traceparent;
  if (ex.trace !== null) traceparent = traceparentOf((call.span = ex.trace.startAttempt('attempt', ep, ex.attempts)));
  const headers = upstreamRequestLines(ex.headers, ex.requestId, payload.length, traceparent, onBuffered !== undefined);
  try {
    core.pools.get(ep.origin).dispatch({ path, method: 'POST', headers, body: payload, bodyTimeoutMs: core.bodyIdleTimeoutMs }, call);
  } catch (err) {
    call.onResponseError(null, err as Error);
  }
}

/**
 * A further attempt (a retry, or the decode phase of P/D): schedule among `server`'s pods as the table has them now
 * (the tried ones and ejected ones filtered out by the scheduler), then start it; none left: answer `last`.
 */
export function attempt(ex: Exchange, server: ServerEntry, last: Failure | null): void {
  ex.server = server;
  const ep = ex.core.scheduler.schedule(ex, servingEndpoints(server, ex.model, ex.lora), server);
  if (ep !== undefined) startAttempt(ex, ep);
  else if (last !== null) answerFailure(ex, last);
  else ex.fail('no_healthy_upstream', `${server.kind} ${server.key} has no ready endpoint.`, { retryAfter: 1 });
}

function answerFailure(ex: Exchange, f: Failure): void {
  if (f.kind === 'connect') ex.fail('upstream_connect_error', f.message);
  else if (f.kind === 'timeout') ex.fail('upstream_timeout', f.message);
  else ex.fail('upstream_error', f.message);
}

/** `server` as the routing table has it now (the same object unless the table was rebuilt since). */
export function currentServer(core: GatewayCore, server: ServerEntry): ServerEntry {
  return core.table.servers.get(server.key) ?? server;
}

/** Another pod this request has not tried yet exists. */
function anotherPod(ex: Exchange, server: ServerEntry, tried: readonly Endpoint[] | null, current: Endpoint): boolean {
  const eps = servingEndpoints(server, ex.model, ex.lora);
  for (let i = 0; i < eps.length; i++) {
    const e = eps[i]!;
    if (e !== current && (tried === null || !tried.includes(e))) return true;
  }
  return false;
}

export class ProxyCall implements UpstreamHandler {
  readonly ex: Exchange;
  readonly endpoint: Endpoint;
  readonly server: ServerEntry;
  readonly path: string;
  readonly payload: Buffer;
  readonly onBuffered: BufferedResponseHandler | undefined;
  controller: UpstreamController | null = null;
  /** First-byte deadline; null once the first byte came (or the attempt ended). */
  timer: Deadline<ProxyCall> | null = null;
  timeoutMs = 0;
  clientAborted = false;
  status = 0;
  headers: IncomingHttpHeaders | null = null;
  sse = false;
  meter: UsageMeter | null = null;
  /** The attempt's span (observability/tracing.ts); null when tracing is off. */
  span: Span | null = null;
  /** The front's rewriting of a relayed successful answer (the OIP's events), or null. */
  translator: RelayTranslator | null = null;
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

  /** This attempt is the exchange's current one (not replaced by a retry, not ended). */
  get current(): boolean {
    return this.ex.upstream === this && !this.ex.done;
  }

  clearTimer(): void {
    if (this.timer !== null) {
      this.timer.cancel();
      this.timer = null;
    }
  }

  /** The attempt ended: its metric, and its span when tracing. */
  outcome(kind: 'success' | UpstreamErrorKind | 'cancelled'): void {
    this.ex.modelMetrics.attempt(kind);
    if (this.span !== null) endAttempt(this.span, kind, this.status);
  }

  abortByClient(): void {
    this.clientAborted = true;
    this.clearTimer();
    this.outcome('cancelled');
    this.controller?.abort(new ClientGoneError());
  }

  resume(): void {
    const c = this.controller;
    if (c !== null && c.paused) c.resume();
  }

  /** No first byte within the ModelServer's timeout. */
  onTimeout(): void {
    this.timer = null;
    if (!this.current) return;
    this.failed('timeout', `The engine ${this.endpoint.podKey} did not respond within ${this.timeoutMs} ms.`);
  }

  /**
   * This attempt failed: feed the circuit breaker, then retry on another pod while nothing was sent to the client
   * and retries remain, else answer the failure. The attempt is detached first, so its late callbacks are ignored.
   */
  failed(kind: UpstreamErrorKind, message: string): void {
    const ex = this.ex;
    this.clearTimer();
    ex.upstream = null;
    const c = this.controller;
    if (c !== null && !c.aborted) c.abort(new AttemptAbandonedError(kind));
    const mm = ex.modelMetrics;
    mm.upstreamError(kind);
    this.outcome(kind);
    ex.core.breakers.failure(this.endpoint, this.server.circuit, message);
    if (ex.done) return;
    if (ex.http.headersSent) {
      // Unreachable for relays (headers go out with the first byte); kept as a guard.
      ex.http.destroy();
      ex.finish(this.status || 502, kind);
      return;
    }
    const server = currentServer(ex.core, this.server);
    const nothingBack = this.status === 0 && (kind === 'reset' || kind === 'connect');
    if (ex.attempts <= (nothingBack ? server.retries + 1 : server.retries)) {
      if (anotherPod(ex, server, ex.tried, this.endpoint)) {
        ex.releaseEndpoint();
        (ex.tried ??= []).push(this.endpoint);
        attempt(ex, server, { kind, message });
        return;
      }
      if (kind === 'reset' && nothingBack && ex.attempts === 1 && server.endpoints.includes(this.endpoint)) {
        // The only pod left, still serving: the connection, not the pod, failed; try once more on a new one.
        ex.releaseEndpoint();
        attempt(ex, server, { kind, message });
        return;
      }
    }
    answerFailure(ex, { kind, message });
  }

  onRequestStart(controller: UpstreamController): void {
    this.controller = controller;
    if (this.clientAborted || !this.current) controller.abort(new ClientGoneError());
    else this.ex.reached = true;
  }

  onResponseStart(controller: UpstreamController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (!this.current) return;
    if (statusCode < 200) return;
    const ex = this.ex;
    this.status = statusCode;
    ex.upstreamStatus = statusCode;
    if (statusCode >= 500) {
      const server = currentServer(ex.core, this.server);
      if (ex.attempts <= server.retries && anotherPod(ex, server, ex.tried, this.endpoint)) {
        this.controller = controller;
        this.failed('status', `The engine ${this.endpoint.podKey} answered HTTP ${statusCode}.`);
        return;
      }
    }
    this.headers = headers;
    if (this.onBuffered !== undefined) {
      this.chunks = [];
      return;
    }
    const ct = headers['content-type'];
    this.sse = typeof ct === 'string' && ct.startsWith('text/event-stream');
    if (statusCode >= 300 && !this.sse && headers['content-encoding'] === undefined) {
      // An engine error: collected, then answered in the OpenAI shape (answerEngineError).
      this.chunks = [];
      return;
    }
    // Token accounting (accounting/usage.ts): usage read from successful responses.
    this.meter = statusCode < 300 ? new UsageMeter(ex, this.sse) : null;
    this.translator = statusCode < 300 ? (ex.front?.relay?.(ex) ?? null) : null;
  }

  /** The client's response starts with the first upstream byte (until then a failed attempt can be retried). */
  startClientResponse(): void {
    const headers = this.headers;
    const extra = this.ex.responseHeaderLines();
    if (headers === null) this.ex.http.writeHeadLines(this.status, `x-request-id: ${this.ex.requestId}\r\n` + extra, -1);
    else this.ex.http.writeHeadLines(this.status, clientResponseLines(headers, this.ex.requestId) + extra, this.translator === null ? contentLengthOf(headers) : -1);
  }

  onResponseData(controller: UpstreamController, chunk: Buffer): void {
    if (!this.current) return;
    const ex = this.ex;
    if (this.timer !== null) this.clearTimer();
    if (ex.ttfb < 0) {
      ex.firstByte();
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
    const res = ex.http;
    if (!res.headersSent) this.startClientResponse();
    if (ex.cache !== null) ex.cache.collect(chunk);
    let out = chunk;
    if (this.meter !== null) {
      const m = this.meter.relay(chunk);
      if (m === null || m.length === 0) return;
      out = m;
    }
    if (this.translator !== null) {
      const t = this.translator.push(out);
      if (t.length === 0) return;
      out = Buffer.from(t);
    }
    const k = out.length;
    this.prev = k > 1 ? out[k - 2]! : this.last;
    this.last = out[k - 1]!;
    if (!res.write(out)) controller.pause();
  }

  onResponseEnd(_controller: UpstreamController): void {
    if (!this.current) return;
    const ex = this.ex;
    this.clearTimer();
    ex.upstream = null;
    const mm = ex.modelMetrics;
    if (this.status >= 500) {
      this.outcome('status');
      ex.core.breakers.failure(this.endpoint, this.server.circuit, `HTTP ${this.status}`);
    } else {
      this.outcome('success');
      ex.core.breakers.success(this.endpoint);
    }
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
    if (this.chunks !== null) {
      this.answerEngineError();
      return;
    }
    const res = ex.http;
    if (!res.headersSent) this.startClientResponse();
    const tail = this.meter !== null ? this.meter.end() : null;
    const translator = this.translator;
    if (translator !== null) res.end((tail !== null ? translator.push(tail) : '') + translator.end());
    else if (tail !== null) res.end(tail);
    else res.end();
    ex.finish(this.status);
  }

  /** A collected engine error, answered in the OpenAI shape with the engine's status and end-to-end headers. */
  answerEngineError(): void {
    const ex = this.ex;
    const chunks = this.chunks!;
    let body: string | Buffer = engineErrorBody(this.status, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.size));
    const reshape = ex.front?.errorBody;
    if (reshape !== undefined) body = reshape(body);
    const { 'content-type': _engineType, ...headers } = this.headers!;
    ex.http.writeHeadLines(this.status, 'content-type: application/json\r\n' + clientResponseLines(headers, ex.requestId) + ex.responseHeaderLines(), Buffer.byteLength(body));
    ex.http.end(body);
    ex.finish(this.status);
  }

  /** `controller` is null when the request never went out on a connection (the pool's contract). */
  onResponseError(controller: UpstreamController | null, err: Error): void {
    if (!this.current) return;
    const ex = this.ex;
    const res = ex.http;
    const mm = ex.modelMetrics;
    if (err instanceof ResponseTooLargeError) {
      this.clearTimer();
      ex.upstream = null;
      this.outcome('reset');
      ex.fail('upstream_error', `The engine response is too large: ${err.message}.`);
      return;
    }
    if (this.onBuffered === undefined && res.headersSent) {
      // Broken after the response started.
      this.clearTimer();
      ex.upstream = null;
      mm.upstreamError('stream');
      this.outcome('stream');
      ex.core.breakers.failure(this.endpoint, this.server.circuit, `stream broke: ${err.message}`);
      ex.errorCode = 'upstream_stream_error';
      if (this.sse && !res.destroyed) {
        const sep = this.last === LF ? (this.prev === LF ? '' : '\n') : '\n\n';
        const event = JSON.stringify(errorBody('upstream_error', `The engine stream broke: ${err.message}`));
        const reshape = ex.front?.errorBody;
        res.end(`${sep}data: ${reshape !== undefined ? reshape(event) : event}\n\n`);
      } else {
        res.destroy();
      }
      ex.finish(this.status);
      return;
    }
    const code = errCode(err);
    if (controller === null || code === CONNECT_TIMEOUT || code === 'ECONNREFUSED') {
      this.failed('connect', `Could not connect to the engine ${this.endpoint.podKey} (${this.endpoint.ip}:${this.endpoint.port}): ${code || err.message}.`);
      return;
    }
    this.failed('reset', `The request to the engine ${this.endpoint.podKey} failed: ${err.message}.`);
  }
}
