// One client request and everything the gateway learns while serving it: request id, timings, the chosen
// route/server/endpoint, and the accounting done exactly once when it ends (endpoint and model in-flight
// counters, metrics, access log) — on every exit path: response sent, error, upstream failure, client gone.
import type { IncomingHttpHeaders } from 'node:http';
import type { ClientStream, StreamSink } from '../http1/server.ts';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { RoutingTable, RouteEntry, ServerEntry } from '../routing/table.ts';
import type { RouteDeprecation } from '../routing/deprecation.ts';
import type { Scheduler } from '../scheduling/scheduler.ts';
import type { SchedulingRequest } from '../scheduling/types.ts';
import type { Endpoint } from '../scheduling/endpoint.ts';
import { calibrateTokens } from '../scheduling/work.ts';
import type { PoolManager } from '../proxy/pools.ts';
import type { GatewayMetrics, ModelMetrics } from '../observability/metrics.ts';
import { ACCESS_LOG_COMPONENT, type AccessLog } from '../observability/access-log.ts';
import { GatewayError, type ErrorCode } from './errors.ts';
import { traceContext } from '../observability/trace.ts';
import { resumeTraced, type GatewayTracer, type RequestTrace } from '../observability/tracing.ts';
import type { CircuitBreakers } from '../proxy/circuit.ts';
import type { Admission, TrafficPolicy } from '../policy/traffic.ts';
import type { Usage } from '../accounting/usage.ts';
import type { Deadline } from './deadlines.ts';
import type { Holds } from '../activation/hold.ts';
import type { Front } from '../protocols/front.ts';
import type { OipInfer } from '../protocols/oip.ts';
import type { ResponseCaches } from '../cache/caches.ts';

/** Shared state and services; `table` and `synced` change as the watched world changes. */
/**
 * Where an exchange is in its life: one value instead of a flag per counter, so no two can disagree. What the
 * exchange holds follows from it:
 *  - accepted   arrived: body, routing, policy, a hold at zero; nothing held.
 *  - awaiting   an attempt holds its endpoint's in-flight and awaiting-first-byte counters; no response byte yet.
 *  - relaying   the attempt's first byte came: the endpoint's in-flight counter only.
 *  - between    the attempt failed and gave its endpoint back; a retry may follow.
 *  - finished   answered and accounted once (finish); nothing held.
 *  - abandoned  the client left first: accounted as 499; nothing held.
 * The model's in-flight gauge is held from the first attempt to the end: in awaiting, relaying and between.
 */
export type ExchangePhase = 'accepted' | 'awaiting' | 'relaying' | 'between' | 'finished' | 'abandoned';

export interface GatewayCore {
  table: RoutingTable;
  synced: boolean;
  scheduler: Scheduler;
  pools: PoolManager;
  metrics: GatewayMetrics;
  accessLog: AccessLog;
  maxBodyBytes: number;
  /** Time to response headers when a ModelServer sets no routing.timeout. */
  defaultTimeoutMs: number;
  /** Max idle time between upstream body chunks (0 = none). */
  bodyIdleTimeoutMs: number;
  /** Bound on buffered upstream responses (the infer path translates whole responses). */
  maxResponseBytes: number;
  /** Time allowed to receive a request body (408 after it). */
  bodyReadTimeoutMs: number;
  /** Per-endpoint circuit breakers (proxy/circuit.ts). */
  breakers: CircuitBreakers;
  /** Authentication, rate limits, TLS certificates (policy/traffic.ts); none when unset. */
  policy?: TrafficPolicy;
  /** Requests waiting for a ModelServer to start from zero replicas (activation/hold.ts). */
  holds: Holds;
  /** Response caches per ModelRoute (cache/caches.ts). */
  caches: ResponseCaches;
  /** Spans of each request (observability/tracing.ts); null when tracing is off. */
  tracer: GatewayTracer | null;
}

/** What an upstream attempt must offer the exchange. */
export interface UpstreamCall {
  /** The client went away: abort the upstream request. */
  abortByClient(): void;
  /** The client connection drained: resume reading the upstream response. */
  resume(): void;
}

/** What the response cache keeps on a request whose response it may store (cache/stages.ts). */
export interface CacheTap {
  /** A chunk of the engine's response as it arrived. */
  collect(chunk: Buffer): void;
  /** The exchange finished: store the response if it may be. */
  settle(ex: Exchange, status: number): void;
}

/** Receives a request body read whole (set by the dispatcher when the request has one). */
export type BodyHandler = (ex: Exchange, body: Buffer) => void;

/**
 * One step of the request pipeline (pipeline.ts): true to go on at once; false when it answered, or continues
 * asynchronously and calls `ex.resume()`.
 */
export type Stage = (ex: Exchange) => boolean;

const NO_STAGES: readonly Stage[] = [];
const NO_GROUPS: readonly string[] = [];
const EMPTY = Buffer.alloc(0);

function requestIdFrom(headers: IncomingHttpHeaders): string {
  const v = headers['x-request-id'];
  return typeof v === 'string' && v.length > 0 && v.length <= 256 ? v : randomUUID();
}

export class Exchange implements SchedulingRequest, StreamSink {
  readonly core: GatewayCore;
  /** The client's request and the response to it (http1/server.ts). */
  readonly http: ClientStream;
  readonly start: number;
  readonly requestId: string;
  /** W3C trace id (the client's, or a new one) and the traceparent sent upstream. */
  readonly traceId: string;
  readonly traceparent: string;
  /** The request's spans when tracing is on (observability/tracing.ts); null when off. */
  readonly trace: RequestTrace | null;
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  /** Path and query, as forwarded. */
  readonly url: string;
  /** Counted in metrics and the access log (probes and scrapes are not). */
  accounted = true;

  // SchedulingRequest
  model = '';
  body: Record<string, unknown> | undefined = undefined;
  get headers(): IncomingHttpHeaders {
    return this.http.headers;
  }
  /** The model name is a LoRA adapter (scheduling: LoRA affinity). */
  lora = false;
  /** Uncached prompt tokens the last pick is expected to prefill, and the prompt's characters (TTFT scorer). */
  work = 0;
  promptChars = 0;
  // The attempt's share of its endpoint's pending prefill work, the work already queued there when it was sent,
  // and when (elapsed ms): at the first byte they make a sample of the pod's prefill rate (scheduling/work.ts).
  heldWork = 0;
  workAhead = 0;
  sentAt = 0;

  // Body reading: chunks collect while a body is expected (null otherwise), then go to bodyHandler.
  bodyHandler: BodyHandler | null = null;
  chunks: Buffer[] | null = null;
  received = 0;

  // The pipeline (pipeline.ts): its stages, the next one to run, and the API's front.
  pipeline: readonly Stage[] = NO_STAGES;
  stage = 0;
  front: Front | null = null;
  /** The body as read, until `parse` takes it. */
  raw: Buffer | null = null;
  /** The Open Inference Protocol front's validated request (protocols/oip-front.ts), for its answer. */
  oip: OipInfer | null = null;
  /** What goes to the engine: the path and the body's bytes. */
  upstreamPath = '';
  payload: Buffer = EMPTY;
  /** The pod `schedule` chose for the first attempt, or the prefill/decode pair. */
  pick: Endpoint | null = null;
  pair: { prefill: Endpoint; decode: Endpoint } | null = null;

  // Routing and upstream.
  modelMetrics: ModelMetrics;
  route: RouteEntry | null = null;
  server: ServerEntry | null = null;
  endpoint: Endpoint | null = null;
  /** Where the exchange is in its life; what it holds follows from it (ExchangePhase). */
  phase: ExchangePhase = 'accepted';
  upstream: UpstreamCall | null = null;
  attempts = 0;
  /** Endpoints already tried by this request (retries go elsewhere); null before the first retry. */
  tried: Endpoint[] | null = null;
  /** Body-read deadline (http/server.ts). */
  bodyTimer: Deadline<Exchange> | null = null;
  upstreamStatus = 0;
  /** The request went out to an engine (a connection took it): rate-limit quota is consumed. */
  reached = false;
  // Traffic policy and token accounting (policy/, accounting/).
  /** The authenticated user (JWT claim or API-key name), or null. */
  user: string | null = null;
  /** The authenticated user's groups (JWT groupsClaim, or the API-key Secret's group labels). */
  groups: readonly string[] = NO_GROUPS;
  /** Arrived on the TLS listener (ModelServers with `tls.enabled` answer nothing else). */
  secure = false;
  /** Token counts reported by the engine, or null. */
  usage: Usage | null = null;
  /** The gateway added stream_options.include_usage (the usage-only event is not relayed). */
  usageInjected = false;
  /** Limits taken by this request, settled in finish(). */
  traffic: Admission | null = null;
  /** ms from arrival to the first upstream body byte; -1 before. */
  ttfb = -1;
  /** ms held waiting for a start from zero (activation/hold.ts); -1 when not held. */
  waited = -1;
  errorCode: string | null = null;
  /** Set by the cache lookup stage on a cached route's miss; settled when the exchange finishes. */
  cache: CacheTap | null = null;
  /** Headers a stage adds to every response from then on, errors included (`x-matrixinfer-cache`). */
  responseHeaders: Readonly<Record<string, string>> | null = null;

  /** Answered (or abandoned by the client) and accounted: nothing more is sent or counted. */
  get done(): boolean {
    return this.phase === 'finished' || this.phase === 'abandoned';
  }

  constructor(core: GatewayCore, http: ClientStream) {
    this.core = core;
    this.http = http;
    this.start = performance.now();
    this.method = http.method;
    const url = http.url;
    this.url = url;
    const q = url.indexOf('?');
    this.path = q < 0 ? url : url.slice(0, q);
    const headers = http.headers;
    this.requestId = requestIdFrom(headers);
    const tracer = core.tracer;
    if (tracer === null) {
      this.trace = null;
      const tc = traceContext(headers.traceparent);
      this.traceId = tc.traceId;
      this.traceparent = tc.traceparent;
    } else {
      const trace = tracer.begin(this);
      this.trace = trace.recording ? trace : null; // not sampled: served as with tracing off
      this.traceId = trace.traceId;
      this.traceparent = trace.traceparent;
    }
    this.modelMetrics = core.metrics.forModel('');
    http.sink = this;
  }

  // ---- StreamSink: the request body and the client connection --------------------------------------------

  onBodyData(chunk: Buffer): void {
    if (this.done || this.chunks === null) return;
    this.received += chunk.length;
    if (this.received > this.core.maxBodyBytes) {
      this.chunks = null;
      this.failTooLarge();
      return;
    }
    this.chunks.push(chunk);
  }

  onBodyEnd(): void {
    const chunks = this.chunks;
    const handler = this.bodyHandler;
    if (this.done || chunks === null || handler === null) return;
    this.chunks = null;
    if (this.bodyTimer !== null) {
      this.bodyTimer.cancel();
      this.bodyTimer = null;
    }
    const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.received);
    try {
      handler(this, raw);
    } catch (err) {
      if (!this.done) this.fail('internal_error', `Internal gateway error: ${(err as Error).message}`);
    }
  }

  onClientGone(): void {
    this.onClientClose();
  }

  onWritable(): void {
    this.upstream?.resume();
  }

  failTooLarge(): void {
    this.fail('request_too_large', `The request body exceeds ${this.core.maxBodyBytes} bytes.`);
  }

  /** Take the endpoint for this attempt: its in-flight counter goes up until `releaseEndpoint` or `finish`. */
  acquire(ep: Endpoint): void {
    this.releaseEndpoint();
    if (this.phase === 'accepted') this.modelMetrics.inflight.inc();
    this.endpoint = ep;
    ep.inflight++;
    ep.served++;
    if (this.ttfb < 0) {
      ep.awaiting++;
      const work = this.work;
      this.heldWork = work;
      this.workAhead = ep.pendingPrefill;
      this.sentAt = this.elapsed();
      ep.pendingPrefill += work;
      ep.prefill.sent(work);
      this.phase = 'awaiting';
    } else {
      this.phase = 'relaying';
    }
  }

  /** The first response byte arrived: time to first byte, and the pod no longer has this request ahead of others. */
  firstByte(): void {
    this.ttfb = this.elapsed();
    if (this.phase === 'awaiting') {
      this.phase = 'relaying';
      const ep = this.endpoint!;
      ep.awaiting--;
      ep.pendingPrefill -= this.heldWork;
      ep.prefill.observe(this.workAhead + this.heldWork, this.ttfb - this.sentAt);
    }
  }

  /** The attempt's endpoint counters go (a failed attempt before a retry, or the end); the model's gauge stays. */
  releaseEndpoint(): void {
    const phase = this.phase;
    if (phase !== 'awaiting' && phase !== 'relaying') return;
    const ep = this.endpoint!;
    if (phase === 'awaiting') {
      ep.awaiting--;
      ep.pendingPrefill -= this.heldWork;
    }
    ep.inflight--;
    this.phase = 'between';
  }

  /** Run the pipeline on from the next stage, until a stage answers or waits. */
  resume(): void {
    if (this.trace !== null) {
      resumeTraced(this, this.trace); // the same loop, each stage in its span
      return;
    }
    const stages = this.pipeline;
    try {
      while (this.stage < stages.length && !this.done) {
        if (!stages[this.stage++]!(this)) return;
      }
    } catch (err) {
      if (!this.done) this.fail('internal_error', `Internal gateway error: ${(err as Error).message}`);
    }
  }

  elapsed(): number {
    return performance.now() - this.start;
  }

  /** Accounting, exactly once. */
  finish(status: number, error: string | null = this.errorCode, end: 'finished' | 'abandoned' = 'finished'): void {
    if (this.done) return;
    this.releaseEndpoint();
    const heldModel = this.phase === 'between';
    this.phase = end;
    const mm = this.modelMetrics;
    if (heldModel) mm.inflight.dec();
    this.upstream = null;
    this.chunks = null;
    if (this.traffic !== null) this.traffic.settle();
    if (this.cache !== null) {
      const cache = this.cache;
      this.cache = null;
      cache.settle(this, status);
    }
    if (this.bodyTimer !== null) {
      this.bodyTimer.cancel();
      this.bodyTimer = null;
    }
    if (this.trace !== null) this.trace.finish(this, status, error);
    if (!this.accounted) return;
    const duration = this.elapsed();
    mm.request(status);
    mm.duration.observe(duration / 1000);
    const tokens = this.usage;
    if (tokens !== null) {
      if (tokens.prompt > 0) {
        mm.promptTokens.inc(tokens.prompt);
        if (this.promptChars > 0) calibrateTokens(this.model, this.promptChars, tokens.prompt);
      }
      if (tokens.completion > 0) mm.completionTokens.inc(tokens.completion);
    }
    const log = this.core.accessLog;
    if (log.enabled) {
      log.write({
        time: new Date().toISOString(),
        level: status >= 500 ? 'error' : 'info',
        component: ACCESS_LOG_COMPONENT,
        msg: 'request',
        request_id: this.requestId,
        trace_id: this.traceId,
        user: this.user,
        method: this.method,
        path: this.path,
        model: this.model || null,
        route: this.route?.key ?? null,
        server: this.server?.key ?? null,
        pod: this.endpoint?.podKey ?? null,
        status,
        duration_ms: Math.round(duration * 100) / 100,
        ttfb_ms: this.ttfb < 0 ? null : Math.round(this.ttfb * 100) / 100,
        upstream_status: this.upstreamStatus || null,
        attempts: this.attempts,
        wait_ms: this.waited < 0 ? null : Math.round(this.waited * 100) / 100,
        prompt_tokens: tokens?.prompt ?? null,
        completion_tokens: tokens?.completion ?? null,
        error,
      });
    }
  }

  /** A complete JSON response. */
  sendJson(status: number, body: string | Buffer, extra?: Record<string, string>): void {
    if (this.done) return;
    const res = this.http;
    if (res.headersSent) {
      res.destroy();
      this.finish(status);
      return;
    }
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-request-id': this.requestId,
    };
    if (extra) Object.assign(headers, extra);
    if (this.responseHeaders !== null) Object.assign(headers, this.responseHeaders);
    const deprecation = this.deprecation();
    if (deprecation !== null) Object.assign(headers, deprecation.headers);
    const reshape = this.front?.errorBody;
    if (status >= 400 && reshape !== undefined) {
      // The API's own error shape (the OIP's {"error": "..."}), from the OpenAI one every refusal is written in.
      body = reshape(body);
      headers['content-length'] = Buffer.byteLength(body);
    }
    res.writeHead(status, headers);
    res.end(body);
    this.finish(status);
  }

  sendError(err: GatewayError): void {
    this.errorCode = err.code;
    const extra: Record<string, string> = {};
    if (err.retryAfter !== undefined) extra['retry-after'] = String(err.retryAfter);
    if (err.allow !== undefined) extra['allow'] = err.allow;
    if (err.status === 413 || err.status === 408) extra['connection'] = 'close';
    this.sendJson(err.status, JSON.stringify(err.body()), extra);
  }

  fail(code: ErrorCode, message: string, options?: { param?: string | null; retryAfter?: number; allow?: string }): void {
    this.sendError(new GatewayError(code, message, options));
  }

  /** The deprecation headers due: the matched route's, or on a seed path (a server, no route) the server's own route's. */
  private deprecation(): RouteDeprecation | null {
    if (this.route !== null) return this.route.deprecation;
    return this.server === null ? null : this.server.deprecation;
  }

  /** `responseHeaders` and the route's deprecation headers (precompiled) as header lines ("name: value\r\n" each). */
  responseHeaderLines(): string {
    const deprecation = this.deprecation();
    const deprecated = deprecation === null ? '' : deprecation.lines;
    const extra = this.responseHeaders;
    if (extra === null) return deprecated;
    let lines = deprecated;
    for (const name in extra) lines += `${name}: ${extra[name]}\r\n`;
    return lines;
  }

  /** The client's connection closed before the response was complete. */
  onClientClose(): void {
    if (this.done) return;
    this.errorCode = 'client_closed_request';
    const upstream = this.upstream;
    // Account first (the counters drop now, whatever the upstream does later), then abort the upstream request.
    this.finish(499, 'client_closed_request', 'abandoned');
    if (upstream !== null) upstream.abortByClient();
  }
}

/** 405 with an Allow header. */
export function methodNotAllowed(ex: Exchange, allow: string): void {
  ex.fail('method_not_allowed', `Method ${ex.method} is not allowed on ${ex.path}; use ${allow}.`, { allow });
}

