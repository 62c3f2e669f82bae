// Builders for ModelRoute / ModelServer / Pod objects, shared by the gateway's unit and integration tests.
import { MODELINFER_NAME_LABEL } from '../../api/labels.ts';
import type { ModelRoute, RouteRule } from '../../api/kinds/modelroute.ts';
import type { ModelServer, ModelServerSpec } from '../../api/kinds/modelserver.ts';

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
