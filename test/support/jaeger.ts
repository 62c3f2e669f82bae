// Jaeger v2 as the tracing tests' OTLP receiver (built by scripts/jaeger.sh; test/support/system.ts finds it): started
// on free loopback ports with OTLP/HTTP in, an in-memory store and the query API out, and read through that API.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, until } from './platform.ts';
import { jaegerPath } from './system.ts';

export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: { refType: string; traceID: string; spanID: string }[];
  tags: { key: string; value: unknown }[];
  processID: string;
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string }>;
}

export interface Jaeger {
  child: ChildProcess;
  /** The OTLP/HTTP endpoint, as OTEL_EXPORTER_OTLP_ENDPOINT takes it. */
  otlp: string;
  /** The query API's base URL. */
  query: string;
}

/** Jaeger with its config in `dir`, answering its query API. */
export async function startJaeger(dir: string): Promise<Jaeger> {
  const [otlpPort, queryPort, queryGrpcPort] = [await freePort(), await freePort(), await freePort()];
  const config = join(dir, 'jaeger.yaml');
  writeFileSync(
    config,
    `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces: {receivers: [otlp], exporters: [jaeger_storage_exporter]}
  telemetry: {metrics: {level: none}, logs: {level: warn}}
extensions:
  jaeger_storage: {backends: {memstore: {memory: {max_traces: 100000}}}}
  jaeger_query:
    storage: {traces: memstore}
    http: {endpoint: "127.0.0.1:${queryPort}"}
    grpc: {endpoint: "127.0.0.1:${queryGrpcPort}"}
receivers:
  otlp: {protocols: {http: {endpoint: "127.0.0.1:${otlpPort}"}}}
exporters:
  jaeger_storage_exporter: {trace_storage: memstore}
`,
  );
  const child = spawn(jaegerPath(), [`--config=file:${config}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const query = `http://127.0.0.1:${queryPort}`;
  await until(
    "Jaeger's query API",
    async () => {
      if (child.exitCode !== null) throw new Error(`jaeger exited: ${stderr.slice(-500)}`);
      return (await fetch(`${query}/api/services`).catch(() => undefined))?.ok === true;
    },
    20_000,
    100,
  );
  return { child, otlp: `http://127.0.0.1:${otlpPort}`, query };
}

/** Stop it at once: its store is in memory, nothing to keep (a graceful stop can take ten seconds). */
export async function stopJaeger(jaeger: Jaeger | undefined): Promise<void> {
  const child = jaeger?.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** The `data` of a query API answer (undefined when it is not 2xx, e.g. 404 for a trace not stored). */
export async function jaegerQuery<T>(query: string, path: string): Promise<T | undefined> {
  const res = await fetch(query + path);
  if (!res.ok) return undefined;
  return ((await res.json()) as { data: T }).data;
}

export const jaegerTraces = (query: string, path: string): Promise<JaegerTrace[] | undefined> => jaegerQuery<JaegerTrace[]>(query, path);

export function tag(span: JaegerSpan, key: string): unknown {
  return span.tags.find((t) => t.key === key)?.value;
}

/** The span id of the span's parent, undefined for a root. */
export function parentOf(span: JaegerSpan): string | undefined {
  return span.references.find((r) => r.refType === 'CHILD_OF')?.spanID;
}

export function serviceOf(trace: JaegerTrace, span: JaegerSpan): string {
  return trace.processes[span.processID]!.serviceName;
}
