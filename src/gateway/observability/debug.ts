// The debug listener: a separate HTTP server bound to loopback only (like Kthena's localhost:15000) that dumps
// the gateway's view of the world as JSON. Never on the serving port, never on a pod IP.
//
//   GET /debug/config_dump              everything below in one object
//   GET /debug/config_dump/routes       ModelRoutes as indexed: names (model, LoRA adapters), rules, matchers, targets
//   GET /debug/config_dump/servers      ModelServers (and StaticRoutes' models): model, timeout, retries, circuit config, path, endpoints
//   GET /debug/config_dump/endpoints    engine pods: address, in-flight and served counts, circuit state, and
//                                       whatever else scheduling keeps on the endpoint (scraped metrics, ...)
//   (`/pods` is an alias of `/endpoints`)
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RoutingTable, RouteEntry } from '../routing/table.ts';
import type { EndpointRegistry, Endpoint } from '../scheduling/endpoint.ts';
import type { CompiledStringMatch } from '../routing/match.ts';

export interface DebugSources {
  table(): RoutingTable;
  endpoints(): EndpointRegistry;
  synced(): boolean;
}

function stringMatch(m: CompiledStringMatch | undefined): Record<string, unknown> | null {
  if (m === undefined) return null;
  const out: Record<string, unknown> = {};
  if (m.exact !== undefined) out.exact = m.exact;
  if (m.prefix !== undefined) out.prefix = m.prefix;
  if (m.regex !== undefined) out.regex = m.regex.source;
  if (m.invalid) out.invalid = true;
  return out;
}

export function dumpRoutes(table: RoutingTable): unknown[] {
  const routes = new Map<RouteEntry, string[]>();
  for (const m of table.models.values()) {
    for (const r of m.routes) {
      let names = routes.get(r);
      if (names === undefined) routes.set(r, (names = []));
      names.push(m.lora ? `${m.name} (lora)` : m.name);
    }
  }
  return [...routes].map(([r, names]) => ({
    route: r.key,
    modelName: r.modelName ?? null,
    names: names.sort(),
    rules: r.rules.map((rule) => ({
      index: rule.index,
      name: rule.name ?? null,
      match: rule.match === null ? null : { uri: stringMatch(rule.match.uri), headers: Object.fromEntries(rule.match.headers.map((h) => [h.name, stringMatch(h.match)])) },
      // Ready targets with their weights (targets without ready endpoints are left out of the draw).
      targets: rule.targets.map((s, i) => ({ server: s.key, weight: rule.cumulative[i]! - (i === 0 ? 0 : rule.cumulative[i - 1]!) })),
      resolvable: rule.resolvable,
    })),
  }));
}

export function dumpServers(table: RoutingTable): unknown[] {
  return [...table.servers.values()].map((s) => ({
    server: s.key,
    kind: s.kind,
    model: s.model ?? null,
    inferModel: s.inferModel,
    engine: s.engine ?? null,
    path: s.path ?? null,
    port: s.port,
    timeoutMs: s.timeoutMs ?? null,
    retries: s.retries,
    circuitBreaker: s.circuit,
    routeModels: s.routeModels,
    endpoints: s.endpoints.map((e) => e.key),
    // LoRA adapter Models: the endpoints that have each adapter loaded (routing/table.ts).
    ...(s.adapterEndpoints ? { adapterEndpoints: Object.fromEntries([...s.adapterEndpoints].map(([adapter, eps]) => [adapter, eps.map((e) => e.key)])) } : {}),
  }));
}

const SKIP = new Set(['key', 'namespace', 'podName', 'ip', 'port', 'origin', 'podKey', 'inflight', 'served', 'active', 'breaker']);

/** A JSON-safe copy: Maps become objects, Sets arrays, functions and deep/cyclic parts are dropped. */
function plain(v: unknown, depth: number, seen: Set<object>): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'bigint') return String(v);
  if (typeof v !== 'object' || depth > 4 || seen.has(v)) return undefined;
  if (ArrayBuffer.isView(v)) return `<${v.constructor.name} ${v.byteLength} bytes>`;
  seen.add(v);
  try {
    if (v instanceof Map) {
      if (v.size > 1000) return `<Map of ${v.size}>`;
      const o: Record<string, unknown> = {};
      for (const [k, x] of v) o[String(k)] = plain(x, depth + 1, seen);
      return o;
    }
    if (v instanceof Set || Array.isArray(v)) {
      const arr = [...(v as Iterable<unknown>)];
      if (arr.length > 1000) return `<${arr.length} items>`;
      return arr.map((x) => plain(x, depth + 1, seen));
    }
    if (v instanceof Date) return v.toISOString();
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v)) {
      const x = plain((v as Record<string, unknown>)[k], depth + 1, seen);
      if (x !== undefined) o[k] = x;
    }
    return o;
  } finally {
    seen.delete(v);
  }
}

export function dumpEndpoint(ep: Endpoint): Record<string, unknown> {
  const b = ep.breaker;
  const out: Record<string, unknown> = {
    endpoint: ep.key,
    pod: ep.podKey,
    address: `${ep.ip}:${ep.port}`,
    active: ep.active,
    inflight: ep.inflight,
    served: ep.served,
    circuit: b === null
      ? { state: 'closed', failures: 0 }
      : {
          state: b.state,
          failures: b.failures,
          ejections: b.ejections,
          ejectedUntil: b.ejectedUntil > 0 ? new Date(b.ejectedUntil).toISOString() : null,
          lastError: b.lastError || null,
        },
  };
  // Whatever else scheduling keeps per endpoint (scraped metrics, LoRA adapters, ...).
  for (const k of Object.keys(ep)) {
    if (SKIP.has(k)) continue;
    const x = plain((ep as unknown as Record<string, unknown>)[k], 0, new Set());
    if (x !== undefined) out[k] = x;
  }
  return out;
}

export function dumpEndpoints(registry: EndpointRegistry): unknown[] {
  return [...registry.all()].map(dumpEndpoint);
}

export function dumpAll(src: DebugSources): Record<string, unknown> {
  const table = src.table();
  return {
    synced: src.synced(),
    time: new Date().toISOString(),
    routes: dumpRoutes(table),
    servers: dumpServers(table),
    endpoints: dumpEndpoints(src.endpoints()),
    problems: table.problems,
  };
}

export interface DebugServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Start the debug listener on 127.0.0.1:`port` (0 picks one). */
export async function startDebugServer(src: DebugSources, port: number, host = '127.0.0.1'): Promise<DebugServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '');
    let body: unknown;
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET', 'content-type': 'application/json' });
      res.end('{"error":"method not allowed"}');
      return;
    }
    try {
      const table = src.table();
      switch (path) {
        case '/debug/config_dump':
          body = dumpAll(src);
          break;
        case '/debug/config_dump/routes':
          body = dumpRoutes(table);
          break;
        case '/debug/config_dump/servers':
          body = dumpServers(table);
          break;
        case '/debug/config_dump/endpoints':
        case '/debug/config_dump/pods':
          body = dumpEndpoints(src.endpoints());
          break;
        default:
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'not found', paths: ['/debug/config_dump', '/debug/config_dump/routes', '/debug/config_dump/servers', '/debug/config_dump/endpoints'] }));
          return;
      }
    } catch (err) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: (err as Error).message }));
      return;
    }
    const text = JSON.stringify(body, null, 2);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const p = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${p}`,
    port: p,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
