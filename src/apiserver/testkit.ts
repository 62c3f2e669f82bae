// Fixtures for the API server's own tests, on top of the shared embedded-server kit (src/kube/testing/apiserver.ts,
// startTestApiServer): kubectl and raw HTTP against it, and a small test CRD (Widget).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { TestApiServer } from '../kube/testing/apiserver.ts';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the real kubectl against the test server (own discovery cache dir, so runs never share state). */
export function kubectl(t: TestApiServer, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<KubectlResult> {
  return new Promise((resolve) => {
    const child = execFile('kubectl', ['--kubeconfig', t.kubeconfigPath, '--cache-dir', join(t.dir, 'kcache'), ...args], {
      timeout: opts.timeoutMs ?? 20000,
      env: { ...process.env, HOME: t.dir, KUBECTL_INTERACTIVE_DELETE: 'false' },
    }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/** Raw HTTP against the server (exact status codes and headers; unlike `t.request`, no default Accept header). */
export async function http(t: TestApiServer, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; text: string; headers: Headers }> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['Content-Type'] ??= 'application/json';
  }
  const res = await fetch(t.url + path, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers };
}

/** The Status carried by a client-node ApiException. */
export function statusOf(err: unknown): { code: number; reason?: string; message?: string; details?: any } {
  const e = err as { code?: number; body?: unknown };
  const body = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
  return body as { code: number; reason?: string; message?: string; details?: any };
}

export const GROUP = 'test.matrixinfer.ai';

export function widgetCrd(overrides: { scope?: 'Namespaced' | 'Cluster' } = {}): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `widgets.${GROUP}` },
    spec: {
      group: GROUP,
      scope: overrides.scope ?? 'Namespaced',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget', shortNames: ['wd'], categories: ['all'] },
      versions: [{
        name: 'v1',
        served: true,
        storage: true,
        subresources: {
          status: {},
          scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
        },
        additionalPrinterColumns: [
          { name: 'Size', type: 'string', jsonPath: '.spec.size' },
          { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas' },
          { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            description: 'Widget is a test kind.',
            properties: {
              spec: {
                type: 'object',
                description: 'Desired state of the widget.',
                required: ['size'],
                properties: {
                  size: { type: 'string', enum: ['small', 'large'], description: 'How big the widget is.' },
                  replicas: { type: 'integer', minimum: 0, default: 1 },
                  color: { type: 'string', default: 'blue' },
                  port: { 'x-kubernetes-int-or-string': true },
                  limits: { type: 'object', properties: { cpu: { type: 'string', default: '1' }, memory: { type: 'string' } } },
                  tags: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set' },
                  template: { type: 'object', 'x-kubernetes-embedded-resource': true, 'x-kubernetes-preserve-unknown-fields': true },
                  extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                },
              },
              status: {
                type: 'object',
                properties: {
                  phase: { type: 'string' },
                  replicas: { type: 'integer' },
                  selector: { type: 'string' },
                  conditions: { type: 'array', items: { type: 'object', properties: { type: { type: 'string' }, status: { type: 'string' } } } },
                },
              },
            },
          },
        },
      }],
    },
  };
}

export function widget(name: string, spec: Record<string, unknown> = { size: 'small' }, metadata: Record<string, unknown> = {}): Record<string, unknown> {
  return { apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name, ...metadata }, spec };
}
