// The MatrixInfer inference gateway (data plane): OpenAI-compatible API, the Open Inference Protocol (REST and
// gRPC) and the seed's per-ModelServer paths in front of the engine pods, routed by ModelRoutes and ModelServers
// read from the Kubernetes API.
//
//   request (http1/: the gateway's own HTTP/1.1 server; or a gRPC call, grpc/, as the REST request it stands for)
//   → http/server.ts (dispatch by path to a front, bounded body) → the pipeline (pipeline.ts: parse → match route
//   → authenticate → authorize → limit → schedule → proxy; then settle → account)
//
// The routing table is rebuilt from informer caches on every change (coalesced); requests only read it.
import type { AddressInfo } from 'node:net';
import type { Https1Server } from './http1/server.ts';
import type { KubeConfig } from '@kubernetes/client-node';
import { scaleFromZeroWriter, WorldWatcher, type ScaleFromZero } from './discovery/watch.ts';
import { buildRoutingTable, emptyTable, type RoutingTable, type WorldSnapshot } from './routing/table.ts';
import { EndpointRegistry } from './scheduling/endpoint.ts';
import { Scheduler } from './scheduling/scheduler.ts';
import { PoolManager } from './proxy/pools.ts';
import { Holds } from './activation/hold.ts';
import { GatewayMetrics } from './observability/metrics.ts';
import { AccessLog } from './observability/access-log.ts';
import { createGatewayServer, handleRequest } from './http/server.ts';
import type { Exchange, GatewayCore } from './http/exchange.ts';
import type { ServerEntry } from './routing/table.ts';
import { CircuitBreakers } from './proxy/circuit.ts';
import { MetricsScraper } from './metrics-scrape/scraper.ts';
import { startDebugServer, type DebugServer } from './observability/debug.ts';
import { TrafficPolicy } from './policy/traffic.ts';
import { ResponseCaches } from './cache/caches.ts';
import { createTlsServer } from './tls/listener.ts';
import type { GrpcFront } from './grpc/server.ts';
import { writeRecord } from '../kube/log.ts';
import { KvEventsManager } from './kv-events/manager.ts';
import { gatewayTracer } from './observability/tracing.ts';

export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

export interface GatewayOptions {
  kubeConfig: KubeConfig;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Watch one namespace; all when unset. */
  namespace?: string;
  /** Request body limit (413 above); default 10 MiB. */
  maxBodyBytes?: number;
  /** Access log destination (JSON lines); default stderr; false disables it. */
  accessLog?: NodeJS.WritableStream | false;
  /** Time to the first response byte when a ModelServer sets no routing.timeout; default 300 s. */
  defaultTimeoutMs?: number;
  /** Time allowed to receive a request body (slow or half-sent bodies get 408 and a close); default 30 s. */
  bodyReadTimeoutMs?: number;
  /** Debug listener (`/debug/config_dump`) on 127.0.0.1:debugPort; off when unset; 0 picks a free port. */
  debugPort?: number;
  /** Engine metrics scrape interval (scheduling/metrics-scrape); default 1000 ms; 0 disables scraping. */
  scrapeIntervalMs?: number;
  /**
   * HTTPS listener on tlsHost (default: host):tlsPort with the certificates of ModelServers with `tls.enabled`
   * (selected by SNI); off when unset; 0 picks a free port.
   */
  tlsPort?: number;
  tlsHost?: string;
  /**
   * gRPC listener on grpcHost (default: host):grpcPort: the Open Inference Protocol's GRPCInferenceService, health
   * and reflection, cleartext HTTP/2 and TLS (the HTTPS certificates) on the one port (grpc/server.ts); off when
   * unset; 0 picks a free port.
   */
  grpcPort?: number;
  grpcHost?: string;
  /** Watch Secrets (API keys, TLS certificates); default true. Without, apiKey authentication refuses everything. */
  watchSecrets?: boolean;
  /** Diagnostics (informer failures, routing-table problems); default stderr. */
  log?: (message: string) => void;
  /**
   * Starts from zero (activation/hold.ts): requests that may wait per ModelServer while its ModelInfer goes 0→1;
   * default 256; 0 turns it off (no ModelInfer watch, no writes; 503 at once).
   */
  holdQueueSize?: number;
  /** Longest such wait (also bounded by the ModelServer's routing.timeout); default 60 s. */
  holdMaxWaitMs?: number;
}

export interface GatewayHandle {
  url: string;
  port: number;
  /** Resolves once routes, servers and pods have been listed and the routing table built. */
  ready: Promise<void>;
  /** `http://127.0.0.1:<port>` of the debug listener, when `debugPort` was given. */
  debugUrl: string | undefined;
  /** `https://<host>:<port>` of the TLS listener, when `tlsPort` was given. */
  tlsUrl: string | undefined;
  /** `<host>:<port>` of the gRPC listener (as gRPC clients take it), when `grpcPort` was given. */
  grpcAddress: string | undefined;
  close(): Promise<void>;
}

/** A gateway core without the Kubernetes side, for tests and embedding: set `table`/`synced` yourself. */
export interface TestableCore extends GatewayCore {
  endpoints: EndpointRegistry;
  /** KV-event subscriptions of the pods that publish them (kv-events/manager.ts). */
  kvEvents: KvEventsManager;
  /** Build the routing table from this world and make it current. */
  rebuild(world: WorldSnapshot): RoutingTable;
}

/** A held request's ModelServer has a pod now: the pipeline goes on from `schedule` (activation/hold.ts). */
function resumeHeld(ex: Exchange, server: ServerEntry): void {
  ex.server = server;
  ex.resume();
}

export function createCore(
  options: Partial<Pick<GatewayOptions, 'maxBodyBytes' | 'accessLog' | 'defaultTimeoutMs' | 'bodyReadTimeoutMs' | 'log' | 'holdQueueSize' | 'holdMaxWaitMs'>> & {
    /** The 0→1 write of a ModelInfer; none: requests are held but nothing is started. */
    scaleFromZero?: ScaleFromZero;
  } = {},
  endpoints = new EndpointRegistry(),
): TestableCore {
  let table = emptyTable();
  const pools = new PoolManager();
  const metrics = new GatewayMetrics({ endpoints: () => endpoints, table: () => core.table });
  const breakers = new CircuitBreakers(pools, { onEject: (ep) => metrics.ejections.labels(ep.namespace, ep.podName).inc() });
  const kvEvents = new KvEventsManager({
    log: options.log ? (m, f) => options.log!(f ? `${m} (pod ${f.namespace}/${f.name})` : m) : (m, f) => writeRecord('warn', 'gateway', m, f),
    outcome: (namespace, pod, outcome, n) => metrics.kvEvents.labels(namespace, pod, outcome).inc(n ?? 1),
  });
  const core: TestableCore = {
    table,
    synced: false,
    scheduler: new Scheduler(),
    pools,
    metrics,
    accessLog: new AccessLog(options.accessLog),
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    defaultTimeoutMs: options.defaultTimeoutMs ?? 300_000,
    bodyIdleTimeoutMs: 300_000,
    maxResponseBytes: 64 * 1024 * 1024,
    bodyReadTimeoutMs: options.bodyReadTimeoutMs ?? 30_000,
    breakers,
    policy: new TrafficPolicy({ log: options.log }),
    caches: new ResponseCaches(metrics.registry, options.log),
    tracer: gatewayTracer(),
    holds: new Holds({
      queueSize: options.holdQueueSize,
      maxWaitMs: options.holdMaxWaitMs,
      scale: options.scaleFromZero ?? null,
      dispatch: resumeHeld,
      metrics,
      log: options.log,
    }),
    endpoints,
    kvEvents,
    rebuild(world: WorldSnapshot): RoutingTable {
      table = buildRoutingTable(world, endpoints);
      core.policy!.update(world, table.problems);
      core.caches.update(world.routes, table.problems);
      core.table = table;
      core.holds.update(table);
      pools.retain(endpoints.origins());
      breakers.sweep();
      core.kvEvents.reconcile(endpoints.all());
      return table;
    },
  };
  core.scheduler.observe = (policy, seconds) => core.metrics.observeScheduling(policy, seconds);
  return core;
}

export async function startGateway(options: GatewayOptions): Promise<GatewayHandle> {
  const log = options.log ?? ((m: string) => writeRecord('warn', 'gateway', m));
  const core = createCore({ ...options, log, scaleFromZero: options.holdQueueSize === 0 ? undefined : scaleFromZeroWriter(options.kubeConfig) });
  let lastProblems = '';
  let pending = false;
  let closed = false;

  const rebuild = (): void => {
    pending = false;
    if (closed) return;
    const table = core.rebuild(watcher.snapshot());
    const problems = table.problems.join('\n');
    if (problems && problems !== lastProblems) log(`routing table: ${table.problems.join('; ')}`);
    lastProblems = problems;
  };
  const requestRebuild = (): void => {
    if (!pending) {
      pending = true;
      setImmediate(rebuild);
    }
  };
  // An onnx cache embedder whose model failed to load (in its worker): recompile its routes exact-only, and report it.
  core.caches.onChange = () => {
    if (core.synced) requestRebuild();
  };
  const watcher = new WorldWatcher(options.kubeConfig, {
    namespace: options.namespace,
    secrets: options.watchSecrets,
    modelInfers: options.holdQueueSize !== 0,
    log,
    onChange: requestRebuild,
  });
  const ready = watcher.ready.then(() => {
    rebuild();
    core.synced = true;
  });
  ready.catch(() => {});

  const server = createGatewayServer(core);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  let tls: Https1Server | undefined;
  let tlsUrl: string | undefined;
  if (options.tlsPort !== undefined) {
    const tlsServer = createTlsServer(core, core.policy!.certificates);
    await new Promise<void>((resolve, reject) => {
      tlsServer.once('error', reject);
      tlsServer.listen(options.tlsPort, options.tlsHost ?? options.host ?? '127.0.0.1', () => {
        tlsServer.off('error', reject);
        resolve();
      });
    });
    tls = tlsServer;
    const a = tlsServer.address() as AddressInfo;
    tlsUrl = `https://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }
  let grpc: GrpcFront | undefined;
  if (options.grpcPort !== undefined) {
    // Loaded only when asked for: grpc-js and the protobuf loader hold about 30 MiB resident.
    const { startGrpcFront } = await import('./grpc/server.ts');
    grpc = await startGrpcFront({
      host: options.grpcHost ?? options.host ?? '127.0.0.1',
      port: options.grpcPort,
      handle: (stream, secure) => handleRequest(core, stream, secure),
      certificates: core.policy!.certificates,
      maxMessageBytes: core.maxBodyBytes,
    });
    const front = grpc;
    // The health service says SERVING once the routing table is synced, as /ready does.
    ready.then(() => front.setServing(true), () => {});
  }
  watcher.start();
  const scrapeIntervalMs = options.scrapeIntervalMs ?? 1000;
  const scraper = scrapeIntervalMs > 0 ? new MetricsScraper(core.endpoints, { intervalMs: scrapeIntervalMs }) : undefined;
  scraper?.start();
  let debug: DebugServer | undefined;
  if (options.debugPort !== undefined) {
    try {
      debug = await startDebugServer({ table: () => core.table, endpoints: () => core.endpoints, synced: () => core.synced }, options.debugPort);
    } catch (err) {
      log(`debug listener on 127.0.0.1:${options.debugPort} failed: ${(err as Error).message}`);
    }
  }
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    ready,
    debugUrl: debug?.url,
    tlsUrl,
    grpcAddress: grpc?.address,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      const tlsClosed = tls ? new Promise<void>((resolve) => tls!.close(() => resolve())) : undefined;
      tls?.closeAllConnections();
      const grpcClosed = grpc?.close();
      await watcher.stop();
      core.holds.close();
      await scraper?.stop();
      await serverClosed;
      await tlsClosed;
      await grpcClosed;
      core.policy!.close();
      core.caches.close();
      await debug?.close();
      core.breakers.close();
      core.kvEvents.close();
      await core.pools.destroy();
      core.accessLog.flush();
    },
  };
}
