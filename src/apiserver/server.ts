// The embedded Kubernetes-compatible API server: wiring (storage, registry, watch hub, CRDs, collector) and the
// top-level HTTP routing of discovery, health, OpenAPI and resource URLs. Plain HTTP on loopback, no auth.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { AdmissionPlugin, ObjectReader } from '../api/admission.ts';
import { INITIAL_NAMESPACES, registerBuiltins, type Allocators } from './builtins.ts';
import { CRD_KEY, CrdManager } from './crd.ts';
import {
  AGGREGATED_CONTENT_TYPE, aggregatedDiscovery, apiGroup, apiGroupList, apiResourceList, apiVersions, versionInfo,
} from './discovery.ts';
import { methodNotAllowed, notAcceptable, notFoundPath } from './errors.ts';
import { Collector } from './gc.ts';
import { handleResource } from './handlers.ts';
import { ApiServerMetrics, requestLabels } from './instrumentation.ts';
import { registerMetrics } from './metrics.ts';
import { sendError, sendJson, sendText } from './http.ts';
import { isObject } from './meta.ts';
import { OpenAPI } from './openapi.ts';
import { Registry } from './registry.ts';
import { negotiate, parseResourcePath } from './request.ts';
import { Storage } from './storage.ts';
import { NAMESPACES_KEY, ObjectStore } from './store.ts';
import { WatchHub } from './watch.ts';
import { serverSpan, tracing } from '../kube/tracing.ts';

export interface ApiServerOptions {
  dataDir: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 6443; 0 picks an ephemeral port. */
  port?: number;
  /**
   * Admission plugins run inline; or a function making them over a reader of this server's stored objects (plugins
   * that read configuration from the cluster, such as the registry policy ConfigMap).
   */
  admission?: AdmissionPlugin[] | ((objects: ObjectReader) => AdmissionPlugin[]);
  /** Where the node agent writes container logs (default `<dataDir>/pod-logs`). */
  podLogDir?: string;
  /** Watch events kept for resuming watches (default 10000); older resourceVersions get 410 Expired. */
  watchCacheSize?: number;
  /** Interval of BOOKMARK events on watches that allow them (default 15 s). */
  bookmarkIntervalMs?: number;
  /**
   * Keep kube-apiserver's metrics and serve them on GET /metrics (instrumentation.ts); default true. `process: false`
   * leaves out prom-client's default process metrics (tests running many servers in one process).
   */
  metrics?: boolean | { process: boolean };
}

export interface RunningApiServer {
  url: string;
  port: number;
  /** The server's Prometheus registry (undefined with `metrics: false`). */
  metrics: ApiServerMetrics | undefined;
  close(): Promise<void>;
}

function allocators(storage: Storage): Allocators {
  const services = () => storage.list('core/services').map((s) => (isObject(s.spec) ? s.spec : {}));
  return {
    clusterIP() {
      const used = new Set(services().map((s) => s.clusterIP));
      for (let i = 10; i < 65536; i++) {
        const ip = `10.96.${i >> 8}.${i & 255}`;
        if ((i & 255) !== 0 && (i & 255) !== 255 && !used.has(ip)) return ip;
      }
      throw new Error('service IP range exhausted');
    },
    nodePort() {
      const used = new Set(services().flatMap((s) => (Array.isArray(s.ports) ? s.ports : []).map((p) => (isObject(p) ? p.nodePort : undefined))));
      for (let p = 30000; p <= 32767; p++) if (!used.has(p)) return p;
      throw new Error('node port range exhausted');
    },
  };
}

/**
 * With tracing on (kube/tracing.ts): a request for a resource is a SERVER span `<verb> <resource>[/<subresource>]`
 * continuing the client's traceparent (a controller's reconcile sends it); watches, discovery and probes are not
 * traced.
 */
function tracedRequest(req: IncomingMessage, res: ServerResponse, serve: (req: IncomingMessage, res: ServerResponse) => Promise<void>): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const info = parseResourcePath(path);
  if (info === undefined || info.legacyWatch || (q >= 0 && /[?&]watch=(true|1)(&|$)/.test(url.slice(q)))) return serve(req, res);
  const method = req.method ?? 'GET';
  const resource = info.subresource !== undefined ? `${info.resource}/${info.subresource}` : info.resource;
  const attributes: Record<string, string> = { 'http.request.method': method, 'url.path': path, 'matrixinfer.resource': resource };
  if (info.namespace !== undefined) attributes['k8s.namespace.name'] = info.namespace;
  if (info.name !== undefined) attributes['matrixinfer.name'] = info.name;
  return serverSpan(req, res, `${method} ${resource}`, attributes, () => serve(req, res));
}

export async function startApiServer(options: ApiServerOptions): Promise<RunningApiServer> {
  const storage = new Storage(options.dataDir);
  const registry = new Registry();
  registerBuiltins(registry, allocators(storage));
  registerMetrics(registry);
  const hub = new WatchHub(options.watchCacheSize ?? 10000, storage.currentRV());
  const objects: ObjectReader = { get: (resource, namespace, name) => storage.get({ key: `${resource.group || 'core'}/${resource.plural}`, namespace, name }) };
  const admission = typeof options.admission === 'function' ? options.admission(objects) : (options.admission ?? []);
  const store = new ObjectStore(storage, hub, registry, admission);
  const crds = new CrdManager(registry, storage, store.terminatingCrds);
  crds.loadAll();
  store.onCommit((key, type, obj) => {
    if (key !== CRD_KEY) return;
    crds.sync(obj.metadata.name!, type === 'DELETED' ? undefined : obj);
    if (type === 'DELETED' && isObject(obj.spec) && isObject(obj.spec.names)) hub.closeKey(`${String(obj.spec.group)}/${String(obj.spec.names.plural)}`);
  });
  const collector = new Collector(store, crds);
  store.onCommit(collector.onCommit);
  const metrics = options.metrics === false
    ? undefined
    : new ApiServerMetrics(() => storage.keys().map((key) => [key, storage.count(key)]), { processMetrics: options.metrics === undefined || options.metrics === true || options.metrics.process });
  if (metrics) {
    storage.observer = (operation, key, seconds) => metrics.storage(operation, key, seconds);
    store.admissionObserver = (name, operation, type, rejected, seconds) => metrics.admission(name, operation, type, rejected, seconds);
  }

  const nsType = registry.get('', 'v1', 'namespaces')!;
  for (const name of INITIAL_NAMESPACES) {
    if (!storage.get({ key: NAMESPACES_KEY, namespace: '', name })) {
      store.create(nsType, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    }
  }
  collector.start();

  const openapi = new OpenAPI(registry);
  const streams = new Set<ServerResponse>();
  const ctx = {
    registry,
    store,
    streams,
    podLogDir: options.podLogDir ?? join(options.dataDir, 'pod-logs'),
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 15000,
    ...(metrics ? { watchEvents: (group: string, version: string, resource: string) => metrics.watchEvents(group, version, resource) } : {}),
  };
  let serverAddress = '';

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://apiserver');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    if (/^\/(healthz|livez|readyz)(\/.*)?$/.test(path)) return sendText(res, 200, 'ok');
    if (path === '/metrics' && metrics && method === 'GET') return sendText(res, 200, await metrics.registry.metrics(), metrics.registry.contentType);
    const info = parseResourcePath(path);
    if (info) return handleResource(ctx, req, res, info, url);
    if (method !== 'GET') throw methodNotAllowed();
    switch (path) {
      case '/version':
        return sendJson(res, 200, versionInfo());
      case '/api':
      case '/apis': {
        const target = negotiate(req.headers.accept, { allowDiscovery: true });
        if (!target) throw notAcceptable(req.headers.accept ?? '');
        if (target.kind === 'discovery') {
          return sendJson(res, 200, aggregatedDiscovery(registry, path === '/api', target.version), 'json', { 'Content-Type': AGGREGATED_CONTENT_TYPE(target.version) });
        }
        return sendJson(res, 200, path === '/api' ? apiVersions(serverAddress) : apiGroupList(registry));
      }
      case '/openapi/v2': {
        const accept = req.headers.accept ?? '';
        if (accept.includes('protobuf')) {
          const body = openapi.v2Protobuf();
          res.writeHead(200, { 'Content-Type': 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf', 'Content-Length': body.length });
          res.end(body);
          return;
        }
        return sendJson(res, 200, openapi.v2Json());
      }
      case '/openapi/v3':
        return sendJson(res, 200, openapi.v3Root());
    }
    if (path.startsWith('/openapi/v3/')) {
      const doc = openapi.v3Doc(path.slice('/openapi/v3/'.length));
      if (!doc) throw notFoundPath();
      const hashed = url.searchParams.get('hash') === doc.hash;
      res.writeHead(200, {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(doc.text),
        ETag: `"${doc.hash}"`,
        'Cache-Control': hashed ? 'public, immutable' : 'no-cache, private',
        ...(hashed ? { Expires: new Date(Date.now() + 365 * 86400_000).toUTCString() } : {}),
      });
      res.end(doc.text);
      return;
    }
    const parts = path.split('/').filter(Boolean);
    if (parts[0] === 'api' && parts.length === 2) {
      const list = apiResourceList(registry, '', parts[1]!);
      if (list) return sendJson(res, 200, list);
    }
    if (parts[0] === 'apis' && parts.length === 2) {
      const group = apiGroup(registry, parts[1]!);
      if (group) return sendJson(res, 200, group);
    }
    if (parts[0] === 'apis' && parts.length === 3) {
      const list = apiResourceList(registry, parts[1]!, parts[2]!);
      if (list) return sendJson(res, 200, list);
    }
    throw notFoundPath();
  };

  const serve = (req: IncomingMessage, res: ServerResponse): Promise<void> => route(req, res).catch((err: unknown) => sendError(res, err));
  const server = createServer((req, res) => {
    if (metrics) {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const info = parseResourcePath(q < 0 ? url : url.slice(0, q));
      const watch = q >= 0 && /[?&]watch=(true|1)(&|$)/.test(url.slice(q));
      const tracker = metrics.begin(requestLabels(req.method ?? 'GET', info, watch, req.headers['content-type']));
      res.once('close', () => tracker.done(res.statusCode));
    }
    if (tracing() === null) void serve(req, res);
    else void tracedRequest(req, res, serve);
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 6443, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = options.host ?? '127.0.0.1';
  const hostForUrl = host.includes(':') ? `[${host}]` : host;
  serverAddress = `${hostForUrl}:${addr.port}`;

  let closed: Promise<void> | undefined;
  return {
    url: `http://${hostForUrl}:${addr.port}`,
    port: addr.port,
    metrics,
    close() {
      closed ??= (async () => {
        collector.stop();
        for (const res of [...streams]) res.end();
        streams.clear();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        storage.close();
      })();
      return closed;
    },
  };
}
