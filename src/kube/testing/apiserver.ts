// The one test kit for the real embedded API server (src/apiserver): a temp dir with the data dir and a kubeconfig
// file, an ephemeral port, raw requests, CRD installation, and the outages a client must survive — the server going
// away and coming back on the same port with the same data, and writes made while it was away (which its watchers
// never saw).
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { KubeConfig } from '@kubernetes/client-node';
import { startApiServer, type ApiServerOptions, type RunningApiServer } from '../../apiserver/server.ts';
import { loopbackKubeConfig, loopbackKubeconfigYaml } from '../config.ts';

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed JSON body (undefined when not JSON). */
  body: any;
}

export interface RequestOptions {
  contentType?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** Sends one request (path relative to the server); how a kit reaches its server. */
export type RawFetch = (method: string, path: string, init: { signal?: AbortSignal; headers?: Record<string, string>; body?: string }) => Promise<Response>;

/** A raw request: `body` is JSON-encoded unless it is a string; the response's JSON body is parsed when it is JSON. */
export async function apiRequest(raw: RawFetch, method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  const res = await raw(method, path, { headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), signal: options.signal });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, text, body: parsed };
}

/** A request that must succeed (2xx): its JSON body ({} when empty); otherwise it throws with the status and text. */
export async function apiCall(raw: RawFetch, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Record<string, unknown>> {
  const res = await apiRequest(raw, method, path, body, { contentType });
  if (res.status < 200 || res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
  return (res.body as Record<string, unknown> | undefined) ?? {};
}

export interface TestApiServer {
  /** Stable across down()/up(): the port is kept. */
  readonly url: string;
  readonly port: number;
  /** The temp dir holding the data dir and the kubeconfig file (free for the test's own files); removed by close(). */
  readonly dir: string;
  readonly dataDir: string;
  readonly kubeConfig: KubeConfig;
  /** A kubeconfig file for kubectl and child processes. */
  readonly kubeconfigPath: string;
  /** A raw request; `body` is JSON-encoded unless it is a string. */
  request(method: string, path: string, body?: unknown, options?: RequestOptions): Promise<ApiResponse>;
  /** A request that must succeed: the parsed JSON body ({} when empty); otherwise it throws. */
  call(method: string, path: string, body?: unknown, contentType?: string): Promise<Record<string, unknown>>;
  /** POST CustomResourceDefinitions and wait until their resources are served. */
  installCrds(crds: unknown[]): Promise<void>;
  /** Stop serving (open watches end, connections drop); the objects stay in the data dir. */
  down(): Promise<void>;
  /** Serve again on the same port and data dir. */
  up(): Promise<void>;
  /**
   * While the server is down, run `fn` against a second server on the same data dir (another port), then stop
   * that one: its writes persist, but clients of `url` were disconnected throughout and never saw them.
   */
  whileDown<T>(fn: (kubeConfig: KubeConfig) => Promise<T>): Promise<T>;
  /** Stop and remove the data dir. */
  close(): Promise<void>;
}

export async function startTestApiServer(options: Omit<ApiServerOptions, 'dataDir' | 'port'> = {}): Promise<TestApiServer> {
  const dir = mkdtempSync(join(tmpdir(), 'matrixinfer-kube-test-'));
  const dataDir = join(dir, 'data');
  let server: RunningApiServer | undefined = await startApiServer({ ...options, dataDir, port: 0 });
  const { port, url } = server;
  const kubeconfigPath = join(dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, loopbackKubeconfigYaml(url));
  const raw: RawFetch = (method, path, init) => fetch(url + path, { method, ...init });
  const t: TestApiServer = {
    url,
    port,
    dir,
    dataDir,
    kubeConfig: loopbackKubeConfig(url),
    kubeconfigPath,
    request: (method, path, body, opts) => apiRequest(raw, method, path, body, opts),
    call: (method, path, body, contentType) => apiCall(raw, method, path, body, contentType),
    async installCrds(crds) {
      for (const crd of crds) {
        const res = await t.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
        if (res.status !== 201) throw new Error(`creating CRD: HTTP ${res.status}: ${res.text}`);
      }
      for (const crd of crds as { spec: { group: string; versions: { name: string; served: boolean }[]; names: { plural: string } } }[]) {
        const version = crd.spec.versions.find((v) => v.served)!.name;
        const path = `/apis/${crd.spec.group}/${version}/${crd.spec.names.plural}`;
        const deadline = Date.now() + 10_000;
        while ((await t.request('GET', path)).status !== 200) {
          if (Date.now() > deadline) throw new Error(`${path} not served`);
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    },
    async down() {
      await server?.close();
      server = undefined;
    },
    async up() {
      server ??= await startApiServer({ ...options, dataDir, port });
    },
    async whileDown(fn) {
      if (server) throw new Error('whileDown: the server is up');
      const other = await startApiServer({ ...options, dataDir, port: 0 });
      try {
        return await fn(loopbackKubeConfig(other.url));
      } finally {
        await other.close();
      }
    },
    async close() {
      await t.down();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return t;
}

const CRD_DIR = fileURLToPath(new URL('../../../deploy/crds/', import.meta.url));

/** The project's generated CRDs (deploy/crds/*.yaml), ready to install. */
export function projectCrds(): unknown[] {
  return readdirSync(CRD_DIR)
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .map((file) => parse(readFileSync(`${CRD_DIR}${file}`, 'utf8')) as unknown);
}
