// Raw REST calls to the API server for the few things client-node's typed clients don't do (Table output,
// dry runs with exact error text, log streams), using the same credentials and TLS settings as client-node.
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export interface RestRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path and query, e.g. `/apis/registry.matrixinfer.ai/v1alpha1/namespaces/default/models?dryRun=All`. */
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface RestResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A kube-apiserver error (metav1.Status) surfaced as an exception with the server's own message. */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

async function requestOptions(kc: KubeConfig, request: RestRequest): Promise<{ url: URL; options: https.RequestOptions }> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(request.path, cluster.server);
  const options: https.RequestOptions = { method: request.method, headers: { accept: 'application/json', ...request.headers } };
  await kc.applyToHTTPSOptions(options);
  return { url, options };
}

/** Open a request and return the live response (for streams such as logs with follow). */
export async function openStream(kc: KubeConfig, request: RestRequest): Promise<http.IncomingMessage> {
  const { url, options } = await requestOptions(kc, request);
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(url, options, resolve);
    req.on('error', reject);
    if (request.body !== undefined) {
      const payload = Buffer.from(typeof request.body === 'string' ? request.body : JSON.stringify(request.body));
      req.setHeader('content-type', request.headers?.['content-type'] ?? 'application/json');
      // Explicit length: Node sends DELETE bodies neither chunked nor sized by default.
      req.setHeader('content-length', payload.length);
      req.end(payload);
    } else {
      req.end();
    }
  });
}

export async function rest(kc: KubeConfig, request: RestRequest): Promise<RestResponse> {
  const response = await openStream(kc, request);
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return { status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') };
}

/** Like `rest`, but parses JSON and throws KubeApiError with the server's message on a non-2xx status. */
export async function restJson<T = unknown>(kc: KubeConfig, request: RestRequest): Promise<T> {
  const response = await rest(kc, request);
  if (response.status >= 200 && response.status < 300) return (response.body ? JSON.parse(response.body) : undefined) as T;
  throw toApiError(response);
}

export function toApiError(response: RestResponse): KubeApiError {
  try {
    const status = JSON.parse(response.body) as { message?: string; reason?: string };
    return new KubeApiError(response.status, status.reason ?? 'Unknown', status.message ?? response.body);
  } catch {
    return new KubeApiError(response.status, 'Unknown', `${response.status}: ${response.body.slice(0, 500)}`);
  }
}
