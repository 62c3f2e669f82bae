// Traces for every component (gateway, controller manager, engine, node agent, API server): OpenTelemetry spans
// exported over OTLP when the standard variables ask for it, nothing otherwise.
//
// Rules:
//  - On when OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT is set, unless OTEL_SDK_DISABLED=true
//    or OTEL_TRACES_EXPORTER=none. The rest is read as the OpenTelemetry SDKs read it: OTEL_SERVICE_NAME (default
//    `matrixinfer-<component>`), OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL (http/protobuf, the
//    default, or http/json), OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG (default parentbased_always_on),
//    OTEL_BSP_* (batching), and by the exporter itself (from process.env) OTEL_EXPORTER_OTLP_[TRACES_]HEADERS, _TIMEOUT,
//    _COMPRESSION and the TLS files.
//  - Off costs nothing: this module loads no OpenTelemetry code. `startTracing` loads the SDK and the exporter
//    (tracing-sdk.ts) only when tracing is on, so a process without it never carries them (≈ 20 MiB; the small API
//    package is loaded anyway where prom-client is, for its exemplars).
//  - `tracing()` is null when off: a caller branches once and does nothing else. The helpers here (`inSpan`,
//    `serverSpan`) run their work directly when off.
//  - Spans are exported in batches (BatchSpanProcessor); `shutdown()` flushes what is queued, and every component's
//    command calls it when it stops (cli/components.ts).
//  - The active span is kept in AsyncLocalStorage, so a log line written inside one carries its `trace_id` and
//    `span_id` (kube/log.ts). The gateway's request path does not use it (its spans are passed along explicitly,
//    gateway/observability/tracing.ts).
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type * as OtelApi from '@opentelemetry/api';

/** The OpenTelemetry API module, as loaded when tracing is on. */
export type Api = typeof OtelApi;
export type { Attributes, Context, Span, Tracer } from '@opentelemetry/api';

export type OtlpProtocol = 'http/protobuf' | 'http/json';
export type SamplerName = 'always_on' | 'always_off' | 'traceidratio' | 'parentbased_always_on' | 'parentbased_always_off' | 'parentbased_traceidratio';

/** What the environment asks for (pure: tested without the SDK). */
export interface TracingConfig {
  serviceName: string;
  /** Where spans go: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces. */
  url: string;
  protocol: OtlpProtocol;
  sampler: SamplerName;
  /** The ratio of the traceidratio samplers, in [0, 1]. */
  ratio: number;
  batch: { scheduledDelayMillis?: number; exportTimeoutMillis?: number; maxQueueSize?: number; maxExportBatchSize?: number };
  /** Settings that were not understood and what was used instead (logged once at start). */
  warnings: string[];
}

export interface Tracing {
  readonly api: Api;
  /** The component's tracer (instrumentation scope `matrixinfer`). */
  readonly tracer: OtelApi.Tracer;
  readonly config: TracingConfig;
  /** Flush the queued spans and stop exporting. */
  shutdown(): Promise<void>;
}

const SAMPLERS: readonly SamplerName[] = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'];

function nonEmpty(v: string | undefined): string | undefined {
  const t = v?.trim();
  return t ? t : undefined;
}

/** The tracing configuration for `component` ('gateway', 'engine', …), or undefined when tracing is off. */
export function tracingConfig(component: string, env: NodeJS.ProcessEnv = process.env): TracingConfig | undefined {
  if (nonEmpty(env.OTEL_SDK_DISABLED)?.toLowerCase() === 'true') return undefined;
  const tracesEndpoint = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  const endpoint = nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  if (tracesEndpoint === undefined && endpoint === undefined) return undefined;
  const url = tracesEndpoint ?? `${endpoint!.replace(/\/+$/, '')}/v1/traces`;
  const exporters = (nonEmpty(env.OTEL_TRACES_EXPORTER) ?? 'otlp').toLowerCase().split(',').map((s) => s.trim());
  if (exporters.includes('none')) return undefined;
  const warnings: string[] = [];
  if (!exporters.includes('otlp')) warnings.push(`OTEL_TRACES_EXPORTER=${env.OTEL_TRACES_EXPORTER}: only otlp is supported; using otlp`);
  const protocolSetting = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) ?? nonEmpty(env.OTEL_EXPORTER_OTLP_PROTOCOL) ?? 'http/protobuf';
  let protocol: OtlpProtocol = 'http/protobuf';
  if (protocolSetting === 'http/json') protocol = 'http/json';
  else if (protocolSetting !== 'http/protobuf') warnings.push(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocolSetting} is not supported (http/protobuf, http/json); using http/protobuf`);
  const samplerSetting = (nonEmpty(env.OTEL_TRACES_SAMPLER) ?? 'parentbased_always_on').toLowerCase();
  let sampler: SamplerName = 'parentbased_always_on';
  if ((SAMPLERS as readonly string[]).includes(samplerSetting)) sampler = samplerSetting as SamplerName;
  else warnings.push(`OTEL_TRACES_SAMPLER=${samplerSetting} is not supported; using parentbased_always_on`);
  let ratio = 1;
  const arg = nonEmpty(env.OTEL_TRACES_SAMPLER_ARG);
  if (arg !== undefined && sampler.endsWith('traceidratio')) {
    const n = Number(arg);
    if (Number.isFinite(n) && n >= 0 && n <= 1) ratio = n;
    else warnings.push(`OTEL_TRACES_SAMPLER_ARG=${arg} is not a ratio in [0, 1]; using 1`);
  }
  const batch: TracingConfig['batch'] = {};
  const bsp: [keyof TracingConfig['batch'], string][] = [
    ['scheduledDelayMillis', 'OTEL_BSP_SCHEDULE_DELAY'],
    ['exportTimeoutMillis', 'OTEL_BSP_EXPORT_TIMEOUT'],
    ['maxQueueSize', 'OTEL_BSP_MAX_QUEUE_SIZE'],
    ['maxExportBatchSize', 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE'],
  ];
  for (const [key, name] of bsp) {
    const v = nonEmpty(env[name]);
    if (v === undefined) continue;
    const n = Number(v);
    if (Number.isInteger(n) && n > 0) batch[key] = n;
    else warnings.push(`${name}=${v} is not a positive integer; ignored`);
  }
  return { serviceName: nonEmpty(env.OTEL_SERVICE_NAME) ?? `matrixinfer-${component}`, url, protocol, sampler, ratio, batch, warnings };
}

let current: Tracing | null = null;

/** The running tracing, or null when off (the common case: one branch, nothing else). */
export function tracing(): Tracing | null {
  return current;
}

const NOOP = { shutdown: async (): Promise<void> => {} };

/**
 * Start tracing for `component` when the environment asks for it (else a no-op). Returns what flushes and stops it;
 * a second call returns the running one's.
 */
export async function startTracing(component: string, env: NodeJS.ProcessEnv = process.env): Promise<{ shutdown(): Promise<void> }> {
  if (current !== null) return current;
  const config = tracingConfig(component, env);
  if (config === undefined) return NOOP;
  const { createTracing } = await import('./tracing-sdk.ts');
  const started = await createTracing(config);
  current = started;
  return {
    shutdown: async () => {
      if (current === started) current = null;
      await started.shutdown();
    },
  };
}

/** Flush and stop the running tracing, if any (a component's command calls it when it stops). */
export async function stopTracing(): Promise<void> {
  const t = current;
  current = null;
  if (t !== null) await t.shutdown();
}

/**
 * Run `fn` inside a span (active for what it calls, so its log lines carry the trace id); the span records a
 * thrown error. It is a child of the active span, or with `root` starts a trace of its own (work that an event
 * started, not its caller). Without tracing, `fn` runs as it is.
 */
export function inSpan<T>(name: string, attributes: OtelApi.Attributes, fn: () => Promise<T>, options: { root?: boolean } = {}): Promise<T> {
  const t = current;
  if (t === null) return fn();
  const parent = options.root === true ? t.api.ROOT_CONTEXT : t.api.context.active();
  return t.tracer.startActiveSpan(name, { attributes }, parent, async (span) => {
    try {
      return await fn();
    } catch (err) {
      failSpan(t.api, span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Mark the active span (if any) as failed with `err` (for errors a caller handles itself). */
export function spanError(err: unknown): void {
  const t = current;
  if (t === null) return;
  const span = t.api.trace.getActiveSpan();
  if (span !== undefined) failSpan(t.api, span, err);
}

function failSpan(api: Api, span: OtelApi.Span, err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  span.recordException(err instanceof Error ? err : message);
  span.setStatus({ code: api.SpanStatusCode.ERROR, message });
}

/** The context a request's `traceparent` / `tracestate` headers carry (the root context when absent or invalid). */
export function remoteContext(t: Tracing, headers: IncomingHttpHeaders): OtelApi.Context {
  return t.api.propagation.extract(t.api.ROOT_CONTEXT, headers);
}

/**
 * A node:http request served inside a SERVER span that continues the client's `traceparent`: named `name`, ended
 * when the response closes, with its status code (5xx marks it failed). Without tracing, `serve` runs as it is.
 */
export function serverSpan(req: IncomingMessage, res: ServerResponse, name: string, attributes: OtelApi.Attributes, serve: () => Promise<void>): Promise<void> {
  const t = current;
  if (t === null) return serve();
  const api = t.api;
  const parent = remoteContext(t, req.headers);
  const span = t.tracer.startSpan(name, { kind: api.SpanKind.SERVER, attributes }, parent);
  res.once('close', () => {
    const status = res.statusCode;
    span.setAttribute('http.response.status_code', status);
    if (status >= 500) span.setStatus({ code: api.SpanStatusCode.ERROR });
    if (!res.writableFinished) span.setAttribute('error.type', 'connection_closed');
    span.end();
  });
  return api.context.with(api.trace.setSpan(parent, span), serve);
}

/** What a client-node KubeConfig offers to decorate each request of the API clients made from it. */
interface RequestAuthenticator {
  applySecurityAuthentication(context: { setHeaderParam(key: string, value: string): void }): Promise<void>;
}

/**
 * Make the API clients of `kc` send the active span's `traceparent` (and `tracestate`) with every request, so the
 * API server's spans continue the work that caused them. client-node applies its KubeConfig to each request as its
 * authentication; the header is added there. Nothing changes when tracing is off.
 */
export function propagateToKube(kc: RequestAuthenticator): void {
  const t = current;
  if (t === null) return;
  const authenticate = kc.applySecurityAuthentication.bind(kc);
  kc.applySecurityAuthentication = async (context) => {
    await authenticate(context);
    t.api.propagation.inject(t.api.context.active(), context, { set: (carrier, key, value) => carrier.setHeaderParam(key, value) });
  };
}

/** The span of the request being served (serverSpan), for attributes learnt while serving it; undefined when off. */
export function activeSpan(): OtelApi.Span | undefined {
  return current?.api.trace.getActiveSpan();
}
