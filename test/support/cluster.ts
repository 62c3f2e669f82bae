// One API server for a test file, embedded or real, behind the same small interface, so the same test bodies run
// against either: MATRIXINFER_TEST_APISERVER=real|embedded (default embedded). The real one is etcd +
// kube-apiserver + kube-controller-manager's garbage collector (test/cluster/harness.ts, `npm run test:cluster`).
import type { KubeConfig } from '@kubernetes/client-node';
import type { AdmissionPlugin } from '../../src/api/admission.ts';
import { apiCall, apiRequest, projectCrds, startTestApiServer, type ApiResponse, type RawFetch, type RequestOptions } from '../../src/kube/testing/apiserver.ts';

export type { ApiResponse };

export type Backend = 'embedded' | 'real';

export interface TestCluster {
  readonly backend: Backend;
  readonly url: string;
  /** Admin client configuration. */
  readonly kubeConfig: KubeConfig;
  /** Admin kubeconfig file (kubectl, child processes). */
  readonly kubeconfigPath: string;
  /** A raw request with admin credentials; `body` is JSON-encoded unless it is a string. */
  request(method: string, path: string, body?: unknown, options?: RequestOptions): Promise<ApiResponse>;
  /** A request that must succeed: the parsed JSON body ({} when empty); otherwise it throws. */
  call(method: string, path: string, body?: unknown, contentType?: string): Promise<Record<string, unknown>>;
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
  const server = await startTestApiServer({ admission: options.admission, ...(options.watchCacheSize ? { watchCacheSize: options.watchCacheSize } : {}) });
  const raw: RawFetch = (method, path, init) => fetch(server.url + path, { method, ...init });
  const cluster: TestCluster = {
    backend: 'embedded',
    url: server.url,
    kubeConfig: server.kubeConfig,
    kubeconfigPath: server.kubeconfigPath,
    request: server.request,
    call: server.call,
    raw: (method, path, opts) => raw(method, path, opts ?? {}),
    down: () => server.down(),
    up: () => server.up(),
    stop: () => server.close(),
  };
  try {
    await server.installCrds(projectCrds());
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

async function startReal(): Promise<TestCluster> {
  const { startRealCluster } = await import('../cluster/harness.ts');
  const real = await startRealCluster();
  const raw: RawFetch = (method, path, init) =>
    real.fetch(path, { method, headers: init.headers, body: init.body, signal: init.signal }) as unknown as Promise<Response>;
  return {
    backend: 'real',
    url: real.url,
    kubeConfig: real.kubeConfig,
    kubeconfigPath: real.kubeconfigPath,
    request: (method, path, body, opts) => apiRequest(raw, method, path, body, opts),
    call: (method, path, body, contentType) => apiCall(raw, method, path, body, contentType),
    raw: (method, path, opts) => raw(method, path, opts ?? {}),
    down: () => real.apiserverDown(),
    up: () => real.apiserverUp(),
    stop: () => real.stop(),
  };
}
