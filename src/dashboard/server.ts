// The dashboard's HTTP server (node:http): the page, its ES modules, the few vendored browser libraries, and the JSON
// API the page reads. The browser never holds Kubernetes credentials: everything it sees goes through this API.
//   GET /                                              index.html
//   GET /static/<file>                                 our modules and CSS (files of static/, no subdirectories)
//   GET /vendor/<file>                                 preact, preact/hooks, htm, uPlot (an allow-list, from node_modules)
//   GET /api/v1/models                                 every model: phase, lifecycle, version, replicas, download, live figures
//   GET /api/v1/models/{ns}/{name}                     one model, its pods and its autoscaler
//   GET /api/v1/models/{ns}/{name}/timeseries?window=  its history ({t, columns, decisions}); window like 15m, 1h
//   GET /api/v1/routing                                per model and pod: picks per second by scorer (latest period)
//   GET /api/v1/events                                 SSE: a `snapshot` event (the models list) every scrape period
// Rules: GET (and HEAD) only; no path reaches the file system but the fixed names above; JSON is never cached.
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseDuration } from '../kube/units.ts';
import type { ModelSummary, PodSummary, Decision } from './views.ts';
import type { Window } from './table.ts';

export interface DashboardData {
  models(): ModelSummary[];
  model(namespace: string, name: string): { model: ModelSummary; pods: PodSummary[]; autoscaler: unknown } | undefined;
  timeseries(namespace: string, name: string, windowMs: number): Promise<(Window & { decisions: Decision[] }) | undefined>;
  routing(): { namespace: string; name: string; pods: Record<string, Record<string, number>> }[];
  /** Calls `listener` after each scrape; returns the unsubscribe. */
  onUpdate(listener: () => void): () => void;
}

const STATIC_DIR = fileURLToPath(new URL('./static/', import.meta.url));
/** The browser libraries, by the name the page imports them under (index.html's import map). */
const VENDOR: Record<string, string> = {
  'preact.mjs': 'preact',
  'hooks.mjs': 'preact/hooks',
  'htm.mjs': 'htm',
  'uPlot.esm.js': 'uplot/dist/uPlot.esm.js',
  'uPlot.min.css': 'uplot/dist/uPlot.min.css',
};
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };
const DEFAULT_WINDOW_MS = 15 * 60_000;

function typeOf(file: string): string {
  return TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream';
}

/** The files the server may send, read once: static/ and the vendored libraries. */
function loadAssets(): Map<string, { body: Buffer; type: string }> {
  const assets = new Map<string, { body: Buffer; type: string }>();
  for (const file of readdirSync(STATIC_DIR, { withFileTypes: true })) {
    if (file.isFile()) assets.set(`/static/${file.name}`, { body: readFileSync(STATIC_DIR + file.name), type: typeOf(file.name) });
  }
  for (const [file, specifier] of Object.entries(VENDOR)) {
    assets.set(`/vendor/${file}`, { body: readFileSync(fileURLToPath(import.meta.resolve(specifier))), type: typeOf(file) });
  }
  const index = assets.get('/static/index.html');
  if (index) assets.set('/', index);
  return assets;
}

export interface DashboardServer {
  url: string;
  close(): Promise<void>;
}

export async function startDashboardServer(data: DashboardData, options: { port: number; host?: string }): Promise<DashboardServer> {
  const assets = loadAssets();
  const streams = new Set<ServerResponse>();
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  const snapshot = () => `event: snapshot\ndata: ${JSON.stringify({ at: Date.now(), models: data.models() })}\n\n`;
  const unsubscribe = data.onUpdate(() => {
    if (streams.size === 0) return;
    const event = snapshot();
    for (const res of streams) res.write(event);
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://dashboard');
    const path = url.pathname;
    const asset = assets.get(path);
    if (asset) {
      res.writeHead(200, { 'content-type': asset.type, 'content-length': asset.body.length, 'cache-control': path === '/' ? 'no-cache' : 'max-age=300' });
      res.end(req.method === 'HEAD' ? undefined : asset.body);
      return;
    }
    if (path === '/api/v1/models') return json(res, 200, { models: data.models() });
    if (path === '/api/v1/routing') return json(res, 200, { models: data.routing() });
    if (path === '/api/v1/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write(`retry: 2000\n\n${snapshot()}`);
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return;
    }
    const m = /^\/api\/v1\/models\/([^/]+)\/([^/]+)(\/timeseries)?$/.exec(path);
    if (m) {
      const [namespace, name] = [decodeURIComponent(m[1]!), decodeURIComponent(m[2]!)];
      if (!m[3]) {
        const model = data.model(namespace, name);
        return model ? json(res, 200, model) : json(res, 404, { error: `model ${namespace}/${name} not found` });
      }
      const window = url.searchParams.get('window');
      let windowMs = DEFAULT_WINDOW_MS;
      if (window) {
        const parsed = parseDuration(window);
        if (parsed === undefined || parsed <= 0) return json(res, 400, { error: `window ${JSON.stringify(window)}: a duration such as 15m or 1h` });
        windowMs = parsed;
      }
      const series = await data.timeseries(namespace, name, windowMs);
      return series ? json(res, 200, series) : json(res, 404, { error: `model ${namespace}/${name} not found` });
    }
    json(res, 404, { error: `no such path: ${path}` });
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: err instanceof Error ? err.message : String(err) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host ?? '127.0.0.1';
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    async close() {
      unsubscribe();
      for (const res of streams) res.end();
      streams.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
}
