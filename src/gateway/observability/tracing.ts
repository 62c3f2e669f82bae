// The gateway's spans (OpenTelemetry, exported by kube/tracing.ts when the OTEL_* variables turn tracing on):
//
//   POST /v1/chat/completions          SERVER, continues the client's traceparent (else a new trace)
//   ├─ parse, match route, authenticate, authorize, limit, schedule, …   one INTERNAL span per pipeline stage
//   └─ proxy                           the stage that hands the request to the engine; ends with the exchange
//      ├─ attempt                      CLIENT, one per upstream attempt (retries too); its context is the
//      │                               `traceparent` the engine receives, so the engine's span is its child
//      └─ prefill                      CLIENT, the prefill request of prefill/decode disaggregation
//
// Rules:
//  - Off costs one branch: the exchange holds a RequestTrace only when tracing is on (`core.tracer` not null), and
//    the request path tests `ex.trace === null` / `call.span === null` once per stage and per attempt; nothing here
//    runs or is allocated otherwise. Off, the W3C ids come from observability/trace.ts as before.
//  - A stage's span starts when the stage runs and ends when it returns true (went on); a stage that answered ends
//    with the exchange; an asynchronous stage (a JWT key fetch, a Redis limit, a hold at zero) ends when the exchange
//    resumes, so its span covers the wait; the proxy stage ends with the exchange, and the attempts are its children.
//  - The request path never enters the AsyncLocalStorage context (no `context.with` per request): spans are passed
//    as parents explicitly; the access log's trace_id is the server span's.
//  - Probes and scrapes (not accounted) are not exported: their span is never ended.
//  - A request the sampler leaves out (a client's traceparent with the sampled flag off, a ratio sampler) gets a
//    non-recording server span and nothing more: the exchange drops its RequestTrace and runs as with tracing off,
//    sending the server span's traceparent (sampled flag off) upstream.
//  - Attributes: on the server span the model, route, ModelServer, pod, status, attempts, tokens and the error code;
//    on an attempt the pod, its address, the attempt's number, outcome (success, connect, timeout, status, reset,
//    stream, cancelled) and status.
import type { Context, Span, Tracer, Tracing } from '../../kube/tracing.ts';
import { tracing } from '../../kube/tracing.ts';
import type { Exchange, Stage } from '../http/exchange.ts';
import type { Endpoint } from '../scheduling/endpoint.ts';

/** The running tracing, held by the gateway's core (null when off). */
export class GatewayTracer {
  readonly tracing: Tracing;
  readonly tracer: Tracer;
  constructor(t: Tracing) {
    this.tracing = t;
    this.tracer = t.tracer;
  }

  /** The server span of a request that just arrived (continuing its traceparent). */
  begin(ex: Exchange): RequestTrace {
    const api = this.tracing.api;
    const parent = api.propagation.extract(api.ROOT_CONTEXT, ex.headers);
    const span = this.tracer.startSpan(ex.method, { kind: api.SpanKind.SERVER, attributes: { 'http.request.method': ex.method, 'url.path': ex.path, 'matrixinfer.request_id': ex.requestId } }, parent);
    return new RequestTrace(this, span, span.isRecording() ? api.trace.setSpan(parent, span) : parent);
  }
}

/** The tracer for a gateway core: null unless tracing was started (kube/tracing.ts startTracing). */
export function gatewayTracer(): GatewayTracer | null {
  const t = tracing();
  return t === null ? null : new GatewayTracer(t);
}

const stageNames = new Map<Stage, string>();

/** `matchRoute` → `match route`: a stage's span is named by its function, once per function. */
function stageName(stage: Stage): string {
  let name = stageNames.get(stage);
  if (name === undefined) {
    name = stage.name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase() || 'stage';
    stageNames.set(stage, name);
  }
  return name;
}

/** The W3C traceparent of `span`: what goes upstream in place of the client's. */
export function traceparentOf(span: Span): string {
  const sc = span.spanContext();
  return `00-${sc.traceId}-${sc.spanId}-${sc.traceFlags & 1 ? '01' : '00'}`;
}

export class RequestTrace {
  readonly owner: GatewayTracer;
  /** The server span and the context that makes it the parent. */
  readonly span: Span;
  readonly context: Context;
  readonly traceId: string;
  /** The server span's own traceparent (what goes upstream when the request is not sampled). */
  readonly traceparent: string;
  /** Sampled: the exchange keeps this trace and its stages and attempts get spans. */
  readonly recording: boolean;
  /** The running (or waiting) stage's span, null between stages. */
  stage: Span | null = null;
  /** The context under which attempts start: the stage that started them (proxy). */
  private attemptParent: Context | null = null;

  constructor(owner: GatewayTracer, span: Span, context: Context) {
    this.owner = owner;
    this.span = span;
    this.context = context;
    this.traceId = span.spanContext().traceId;
    this.traceparent = traceparentOf(span);
    this.recording = span.isRecording();
  }

  startStage(stage: Stage): void {
    this.stage = this.owner.tracer.startSpan(stageName(stage), undefined, this.context);
    this.attemptParent = null;
  }

  endStage(): void {
    const s = this.stage;
    if (s === null) return;
    this.stage = null;
    s.end();
  }

  /** A CLIENT span for an upstream request to `ep` (`name`: attempt, prefill), child of the running stage. */
  startAttempt(name: string, ep: Endpoint, attempt: number): Span {
    const api = this.owner.tracing.api;
    const parent = this.stage === null ? this.context : (this.attemptParent ??= api.trace.setSpan(this.context, this.stage));
    return this.owner.tracer.startSpan(
      name,
      { kind: api.SpanKind.CLIENT, attributes: { 'matrixinfer.attempt': attempt, 'matrixinfer.pod': ep.podKey, 'server.address': ep.ip, 'server.port': ep.port } },
      parent,
    );
  }

  /** The exchange finished (answered, failed or abandoned): the open stage and the server span end. */
  finish(ex: Exchange, status: number, error: string | null): void {
    if (!ex.accounted) return; // a probe or a scrape: never exported
    const api = this.owner.tracing.api;
    const span = this.span;
    if (ex.front !== null || ex.server !== null) span.updateName(`${ex.method} ${ex.path}`);
    span.setAttribute('http.response.status_code', status);
    if (ex.model !== '') span.setAttribute('matrixinfer.model', ex.model);
    if (ex.route !== null) span.setAttribute('matrixinfer.route', ex.route.key);
    if (ex.server !== null) span.setAttribute('matrixinfer.server', ex.server.key);
    if (ex.endpoint !== null) span.setAttribute('matrixinfer.pod', ex.endpoint.podKey);
    span.setAttribute('matrixinfer.attempts', ex.attempts);
    if (ex.upstreamStatus !== 0) span.setAttribute('matrixinfer.upstream_status', ex.upstreamStatus);
    const usage = ex.usage;
    if (usage !== null) {
      span.setAttribute('gen_ai.usage.input_tokens', usage.prompt);
      span.setAttribute('gen_ai.usage.output_tokens', usage.completion);
    }
    if (error !== null) {
      span.setAttribute('error.type', error);
      if (status >= 500 || status === 499) span.setStatus({ code: api.SpanStatusCode.ERROR, message: error });
    }
    const stage = this.stage;
    if (stage !== null) {
      this.stage = null;
      if (error !== null) stage.setStatus({ code: api.SpanStatusCode.ERROR, message: error });
      stage.end();
    }
    span.end();
  }
}

/** An attempt ended with `outcome` (success, connect, timeout, status, reset, stream, cancelled). */
export function endAttempt(span: Span, outcome: string, status: number): void {
  if (status !== 0) span.setAttribute('http.response.status_code', status);
  span.setAttribute('matrixinfer.attempt.outcome', outcome);
  if (outcome !== 'success') {
    span.setAttribute('error.type', outcome);
    span.setStatus({ code: 2 /* SpanStatusCode.ERROR */, message: outcome });
  }
  span.end();
}

/**
 * Exchange.resume with spans: the same loop, each stage inside its span (see the rules at the top). Kept beside
 * Exchange.resume's untraced loop so that the loop without tracing has no span branch at all.
 */
export function resumeTraced(ex: Exchange, trace: RequestTrace): void {
  trace.endStage(); // an asynchronous stage resumed: its wait is over
  const stages = ex.pipeline;
  try {
    while (ex.stage < stages.length && !ex.done) {
      const stage = stages[ex.stage++]!;
      trace.startStage(stage);
      if (!stage(ex)) return; // answered (the span ended with the exchange), waiting, or handed to the engine
      trace.endStage();
    }
  } catch (err) {
    trace.stage?.recordException(err as Error);
    if (!ex.done) ex.fail('internal_error', `Internal gateway error: ${(err as Error).message}`);
  }
}
