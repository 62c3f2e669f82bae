// One API server for a test file, embedded or real, behind the same small interface, so the same test bodies run
// against either: MATRIXINFER_TEST_APISERVER=real|embedded (default embedded). The real one is etcd +
// kube-apiserver + kube-controller-manager's garbage collector (test/cluster/harness.ts, `npm run test:cluster`).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { AdmissionPlugin } from '../../src/api/admission.ts';
import { startApiServer, type RunningApiServer } from '../../src/apiserver/server.ts';
import { loopbackKubeConfig, loopbackKubeconfigYaml } from '../../src/kube/config.ts';
import { projectCrds } from '../../src/kube/testing/apiserver.ts';

export type Backend = 'embedded' | 'real';

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed JSON body (undefined when not JSON). */
  body: any;
}

export interface TestCluster {
  readonly backend: Backend;
  readonly url: string;
  /** Admin client configuration. */
  readonly kubeConfig: KubeConfig;
  /** Admin kubeconfig file (kubectl, child processes). */
  readonly kubeconfigPath: string;
  /** A raw request with admin credentials; `body` is JSON-encoded unless it is a string. */
  request(method: string, path: string, body?: unknown, options?: { contentType?: string; headers?: Record<string, string>; signal?: AbortSignal }): Promise<ApiResponse>;
  /** The raw response (for streaming watches). */
  raw(method: string, path: string, options?: { signal?: AbortSignal; headers?: Record<string, string> }): Promise<Response>;
  /** Stop the API server (the data stays); clients are disconnected. */
  down(): Promise<void>;
  /** Serve again at the same URL with the same data. */
  up(): Promise<void>;
  stop(): Promise<void>;
}

export function testBackend(): Backend {
  const value = process.env.MATRIXINFER_TEST_APISERVER ?? 'embedded';
  if (value !== 'real' && value !== 'embedded') throw new Error(`MATRIXINFER_TEST_APISERVER must be real or embedded, not ${value}`);
  return value;
}

export interface StartOptions {
  /** Admission plugins run inline by the embedded server (ignored by the real one, where webhooks do this). */
  admission?: AdmissionPlugin[];
  /** The embedded server's watch history (events); the real one sizes its watch cache itself. */
  watchCacheSize?: number;
}

export async function startTestCluster(backend: Backend = testBackend(), options: StartOptions = {}): Promise<TestCluster> {
  return backend === 'real' ? startReal() : startEmbedded(options);
}

async function startEmbedded(options: StartOptions): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'matrixinfer-testcluster-'));
  const serverOptions = { dataDir: join(dir, 'data'), admission: options.admission, ...(options.watchCacheSize ? { watchCacheSize: options.watchCacheSize } : {}) };
  let server: RunningApiServer | undefined = await startApiServer({ ...serverOptions, port: 0 });
  const { url, port } = server;
  const kubeconfigPath = join(dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, loopbackKubeconfigYaml(url));
  const raw = (method: string, path: string, init: { signal?: AbortSignal; headers?: Record<string, string>; body?: string } = {}) =>
    fetch(url + path, { method, headers: init.headers, body: init.body, signal: init.signal });
  const cluster: TestCluster = {
    backend: 'embedded',
    url,
    kubeConfig: loopbackKubeConfig(url),
    kubeconfigPath,
    request: (method, path, body, opts) => request(raw, method, path, body, opts),
    raw: (method, path, opts) => raw(method, path, opts),
    async down() {
      await server?.close();
      server = undefined;
    },
    async up() {
      server ??= await startApiServer({ ...serverOptions, port });
    },
    async stop() {
      await server?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (const crd of projectCrds()) {
      const res = await cluster.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
      if (res.status !== 201) throw new Error(`creating CRD: HTTP ${res.status}: ${res.text}`);
    }
    for (const crd of projectCrds() as Array<{ spec: { group: string; names: { plural: string }; versions: Array<{ name: string; served: boolean }> } }>) {
      const path = `/apis/${crd.spec.group}/${crd.spec.versions.find((v) => v.served)!.name}/${crd.spec.names.plural}`;
      const deadline = Date.now() + 10_000;
      while ((await cluster.request('GET', path)).status !== 200) {
        if (Date.now() > deadline) throw new Error(`${path} not served`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

async function startReal(): Promise<TestCluster> {
  const { startRealCluster } = await import('../cluster/harness.ts');
  const real = await startRealCluster();
  const raw = (method: string, path: string, init: { signal?: AbortSignal; headers?: Record<string, string>; body?: string } = {}) =>
    real.fetch(path, { method, headers: init.headers, body: init.body, signal: init.signal }) as unknown as Promise<Response>;
  return {
    backend: 'real',
    url: real.url,
    kubeConfig: real.kubeConfig,
    kubeconfigPath: real.kubeconfigPath,
    request: (method, path, body, opts) => request(raw, method, path, body, opts),
    raw: (method, path, opts) => raw(method, path, opts),
    down: () => real.apiserverDown(),
    up: () => real.apiserverUp(),
    stop: () => real.stop(),
  };
}

async function request(
  raw: (method: string, path: string, init: { signal?: AbortSignal; headers?: Record<string, string>; body?: string }) => Promise<Response>,
  method: string,
  path: string,
  body?: unknown,
  options: { contentType?: string; headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<ApiResponse> {
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
