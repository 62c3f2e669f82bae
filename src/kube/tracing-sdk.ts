// The OpenTelemetry SDK behind kube/tracing.ts, loaded only when tracing is on: a TracerProvider with the
// configured sampler and resource, one BatchSpanProcessor into an OTLP/HTTP exporter (protobuf or JSON), the
// AsyncLocalStorage context manager and the W3C trace-context propagator, registered as the process's globals, and
// the hook that puts the active span's ids on every log line (kube/log.ts).
//
// Rules: built only from the official packages; environment variables the packages read themselves (the exporter's
// headers, timeout and compression; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES through envDetector) are left to
// them; the endpoint, and what SDK 3 no longer reads from the environment (sampler, batching), come parsed from
// tracing.ts `tracingConfig`.
import * as api from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider, type Sampler } from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { setLogContext, writeRecord } from './log.ts';
import type { SamplerName, Tracing, TracingConfig } from './tracing.ts';

const VERSION = '0.1.0';
/** How long a stopping component waits for its last spans to leave. */
const SHUTDOWN_TIMEOUT_MS = 5_000;

export function samplerFor(name: SamplerName, ratio: number): Sampler {
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** The trace and span ids of the active span, for log lines (undefined outside any span). */
function activeIds(): Record<string, string> | undefined {
  const span = api.trace.getActiveSpan();
  if (span === undefined) return undefined;
  const sc = span.spanContext();
  return api.isSpanContextValid(sc) ? { trace_id: sc.traceId, span_id: sc.spanId } : undefined;
}

export async function createTracing(config: TracingConfig): Promise<Tracing> {
  const component = config.serviceName;
  for (const warning of config.warnings) writeRecord('warn', 'tracing', warning);
  // The service name default is the component's; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override it.
  const resource = defaultResource()
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName, [ATTR_SERVICE_VERSION]: VERSION }))
    .merge(detectResources({ detectors: [envDetector] }));
  await resource.waitForAsyncAttributes?.();
  const exporter = config.protocol === 'http/json' ? new JsonExporter({ url: config.url }) : new ProtobufExporter({ url: config.url });
  const provider = new TracerProvider({
    resource,
    sampler: samplerFor(config.sampler, config.ratio),
    spanProcessors: [new BatchSpanProcessor({ exporter, ...config.batch })],
  });
  const contextManager = new AsyncLocalStorageContextManager();
  api.context.setGlobalContextManager(contextManager.enable());
  api.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  api.trace.setGlobalTracerProvider(provider);
  setLogContext(activeIds);
  writeRecord('info', 'tracing', `exporting traces over OTLP (${config.protocol}) to ${config.url} as ${component}`, { sampler: config.sampler });
  let stopped: Promise<void> | undefined;
  return {
    api,
    tracer: api.trace.getTracer('matrixinfer', VERSION),
    config,
    shutdown: () =>
      (stopped ??= (async () => {
        setLogContext(null);
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_TIMEOUT_MS).unref()));
        await Promise.race([provider.shutdown().catch((err: unknown) => writeRecord('warn', 'tracing', 'flushing spans failed', { error: String(err) })), timeout]);
        clearTimeout(timer);
        api.trace.disable();
        api.propagation.disable();
        api.context.disable();
      })()),
  };
}
