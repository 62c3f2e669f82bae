// The MatrixInfer inference gateway (data plane): OpenAI-compatible API and the seed's per-ModelServer paths in
// front of the engine pods, routed by ModelRoutes and ModelServers read from the Kubernetes API.
//
//   request → parse (bounded JSON body) → match route (routing/) → schedule (scheduling/: filters → scorers →
//   pick; least outstanding requests now) → proxy (proxy/: undici pool per endpoint, streamed relay, abort on
//   client disconnect) → account (observability/: metrics, access log)
//
// The routing table is rebuilt from informer caches on every change (coalesced); requests only read it.
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { WorldWatcher } from './discovery/watch.ts';
import { buildRoutingTable, emptyTable, type RoutingTable, type WorldSnapshot } from './routing/table.ts';
import { EndpointRegistry } from './scheduling/endpoint.ts';
import { Scheduler } from './scheduling/scheduler.ts';
import { PoolManager } from './proxy/pools.ts';
import { GatewayMetrics } from './observability/metrics.ts';
import { AccessLog } from './observability/access-log.ts';
import { createGatewayServer } from './http/server.ts';
import type { GatewayCore } from './http/exchange.ts';

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
  /** Time to response headers when a ModelServer sets no routing.timeout; default 300 s. */
  defaultTimeoutMs?: number;
  /** Diagnostics (informer failures, routing-table problems); default stderr. */
  log?: (message: string) => void;
}

export interface GatewayHandle {
  url: string;
  port: number;
  /** Resolves once routes, servers and pods have been listed and the routing table built. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/** A gateway core without the Kubernetes side, for tests and embedding: set `table`/`synced` yourself. */
export interface TestableCore extends GatewayCore {
  endpoints: EndpointRegistry;
  /** Build the routing table from this world and make it current. */
  rebuild(world: WorldSnapshot): RoutingTable;
}

export function createCore(
  options: Partial<Pick<GatewayOptions, 'maxBodyBytes' | 'accessLog' | 'defaultTimeoutMs'>> = {},
  endpoints = new EndpointRegistry(),
): TestableCore {
  let table = emptyTable();
  const pools = new PoolManager();
  const core: TestableCore = {
    table,
    synced: false,
    scheduler: new Scheduler(),
    pools,
    metrics: new GatewayMetrics({ endpoints: () => endpoints, table: () => core.table }),
    accessLog: new AccessLog(options.accessLog),
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    defaultTimeoutMs: options.defaultTimeoutMs ?? 300_000,
    bodyIdleTimeoutMs: 300_000,
    maxResponseBytes: 64 * 1024 * 1024,
    endpoints,
    rebuild(world: WorldSnapshot): RoutingTable {
      table = buildRoutingTable(world, endpoints);
      core.table = table;
      pools.retain(endpoints.origins());
      return table;
    },
  };
  return core;
}

export async function startGateway(options: GatewayOptions): Promise<GatewayHandle> {
  const log = options.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const core = createCore(options);
  let lastProblems = '';
  let pending = false;
  let closed = false;

  const rebuild = (): void => {
    pending = false;
    if (closed) return;
    const table = core.rebuild(watcher.snapshot());
    const problems = table.problems.join('\n');
    if (problems && problems !== lastProblems) log(`gateway: routing table: ${table.problems.join('; ')}`);
    lastProblems = problems;
  };
  const watcher = new WorldWatcher(options.kubeConfig, {
    namespace: options.namespace,
    log,
    onChange: () => {
      if (!pending) {
        pending = true;
        setImmediate(rebuild);
      }
    },
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
  watcher.start();
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    ready,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await watcher.stop();
      await serverClosed;
      await core.pools.destroy();
    },
  };
}
