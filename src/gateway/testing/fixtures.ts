// Builders for ModelRoute / ModelServer / Pod / StaticRoute objects, shared by the gateway's unit and integration tests; and a
// gateway core served on loopback with its access log collected.
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { MODELINFER_NAME_LABEL } from '../../api/labels.ts';
import type { TestableCore } from '../gateway.ts';
import { createGatewayServer } from '../http/server.ts';
import type { ModelRoute, RouteRule } from '../../api/kinds/modelroute.ts';
import type { ModelServer, ModelServerSpec } from '../../api/kinds/modelserver.ts';
import type { StaticRoute, StaticRouteSpec } from '../../api/kinds/productionstack/staticroute.ts';

export function modelServer(
  name: string,
  spec: Partial<ModelServerSpec> & { inferName?: string },
  meta: { namespace?: string; created?: string } = {},
): ModelServer {
  const { inferName, ...rest } = spec;
  return {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelServer',
    metadata: { name, namespace: meta.namespace ?? 'default', creationTimestamp: meta.created ?? '2025-01-01T00:00:00Z' },
    spec: {
      modelInferRef: { name: inferName ?? name },
      service: { port: 8000 },
      ...rest,
    } as ModelServerSpec,
  };
}

export function modelRoute(
  name: string,
  modelName: string | undefined,
  rules: RouteRule[],
  meta: { namespace?: string; created?: string; loraAdapters?: string[] } = {},
): ModelRoute {
  return {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelRoute',
    metadata: { name, namespace: meta.namespace ?? 'default', creationTimestamp: meta.created ?? '2025-01-01T00:00:00Z' },
    spec: { modelName, rules, ...(meta.loraAdapters ? { loraAdapters: meta.loraAdapters } : {}) },
  };
}

/** A rule sending everything to the given servers (name or [name, weight]). */
export function toServers(...targets: Array<string | [string, number]>): RouteRule {
  return {
    targetModels: targets.map((t) => (typeof t === 'string' ? { modelServerName: t } : { modelServerName: t[0], weight: t[1] })),
  };
}

/** A StaticRoute whose status says which backend URLs are healthy (as the controller's probes write it). */
export function staticRoute(
  name: string,
  spec: StaticRouteSpec,
  healthy: readonly string[] = [],
  meta: { namespace?: string; created?: string } = {},
): StaticRoute {
  const urls = spec.staticBackends.split(',').map((u) => u.trim().replace(/\/+$/, ''));
  return {
    apiVersion: 'production-stack.vllm.ai/v1alpha1',
    kind: 'StaticRoute',
    metadata: { name, namespace: meta.namespace ?? 'default', creationTimestamp: meta.created ?? '2025-01-01T00:00:00Z' },
    spec,
    status: { backends: urls.map((url, i) => ({ url, model: spec.staticModels.split(',')[i]?.trim() ?? '', healthy: healthy.includes(url) })) },
  };
}

export interface PodOptions {
  namespace?: string;
  ip?: string;
  ready?: boolean;
  deleting?: boolean;
  labels?: Record<string, string>;
}

export function pod(name: string, inferName: string, options: PodOptions = {}) {
  const ready = options.ready ?? true;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: options.namespace ?? 'default',
      labels: { [MODELINFER_NAME_LABEL]: inferName, ...options.labels },
      ...(options.deleting ? { deletionTimestamp: '2025-01-01T00:00:00Z' } : {}),
    },
    spec: { containers: [{ name: 'engine', image: 'vllm/vllm-openai' }] },
    status: {
      phase: 'Running',
      ...(options.ip === undefined ? {} : { podIP: options.ip }),
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
    },
  };
}

/** Access-log lines, parsed as the core writes them: give `out` to createCore as its `accessLog`. */
export function accessLogCollector(): { out: PassThrough; log: Array<Record<string, unknown>> } {
  const out = new PassThrough();
  const log: Array<Record<string, unknown>> = [];
  out.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line) log.push(JSON.parse(line) as Record<string, unknown>);
  });
  return { out, log };
}

/** `core` served by the gateway's own HTTP/1.1 server on a loopback port; close() also ends its pools and breakers. */
export async function serveCore(core: TestableCore): Promise<{ url: string; close(): Promise<void> }> {
  const server = createGatewayServer(core);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      core.breakers.close();
      await core.pools.destroy();
    },
  };
}
