// Pods' CPU and memory from the resource metrics API (metrics.k8s.io/v1beta1 PodMetrics): metrics-server on
// clusters, the embedded API server locally (fed by the node agent, src/apiserver/metrics.ts). One client for both.
import type { KubeClient } from './client.ts';
import { apiStatus } from './client.ts';
import { parseDuration, parseQuantity } from './units.ts';

export interface PodUsage {
  /** CPU over the window, in cores, summed over the pod's containers. */
  cpuCores: number;
  /** Memory (working set) at `timestamp`, bytes, summed over the pod's containers. */
  memoryBytes: number;
  /** The end of the window (RFC 3339). */
  timestamp: string;
  windowSeconds: number;
}

/** The cluster serves no metrics.k8s.io (no metrics-server), or its APIService is unavailable. */
export class MetricsApiUnavailableError extends Error {
  readonly status: number;
  constructor(status: number) {
    super(`metrics.k8s.io/v1beta1 is not served by the API server (HTTP ${status}${status === 503 ? ': its APIService is unavailable' : ''}); on a cluster, install metrics-server`);
    this.name = 'MetricsApiUnavailableError';
    this.status = status;
  }
}

interface ContainerMetrics {
  name?: string;
  usage?: { cpu?: string | number; memory?: string | number };
}

interface PodMetrics {
  metadata?: { name?: string };
  timestamp?: string;
  window?: string;
  containers?: ContainerMetrics[];
}

/** The usage of the pods in `namespace` (matching `labelSelector`, on the pods' labels) that have metrics, by pod name. */
export async function readPodMetrics(client: KubeClient, namespace: string, labelSelector?: string): Promise<Map<string, PodUsage>> {
  let list: { items?: PodMetrics[] };
  try {
    list = (await client.custom.listNamespacedCustomObject({
      group: 'metrics.k8s.io',
      version: 'v1beta1',
      namespace,
      plural: 'pods',
      ...(labelSelector ? { labelSelector } : {}),
    })) as { items?: PodMetrics[] };
  } catch (err) {
    const status = apiStatus(err);
    if (status === 404 || status === 503) throw new MetricsApiUnavailableError(status);
    throw err;
  }
  const out = new Map<string, PodUsage>();
  for (const item of list.items ?? []) {
    const name = item.metadata?.name;
    if (!name) continue;
    let cpuCores = 0;
    let memoryBytes = 0;
    for (const c of item.containers ?? []) {
      cpuCores += parseQuantity(c.usage?.cpu ?? 0) ?? 0;
      memoryBytes += parseQuantity(c.usage?.memory ?? 0) ?? 0;
    }
    out.set(name, {
      cpuCores,
      memoryBytes,
      timestamp: item.timestamp ?? '',
      windowSeconds: (parseDuration(item.window ?? '') ?? 0) / 1000,
    });
  }
  return out;
}
