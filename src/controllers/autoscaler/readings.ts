// The autoscaler's readings beyond the engine scrape (which the controller does itself, per pod, with its staleness
// rules): the gateways' view (gateway-view.ts), CPU and memory from metrics.k8s.io, and Prometheus queries. Only the
// sources the policy's metrics name are read. Each comes back as a Reading: the values, or the reason there are none,
// which the binding's status shows per metric.
import type { MetricTarget } from '../../api/kinds/index.ts';
import type { KubeClient } from '../../kube/client.ts';
import { readPodMetrics } from '../../kube/pod-metrics.ts';
import { MODELINFER_NAME_LABEL } from '../../api/labels.ts';
import type { GatewayPodView, GatewayView } from './gateway-view.ts';
import { expandQuery, queryPrometheus } from './prometheus.ts';
import { resolveMetric, type PodResources, type Reading, type SignalInputs, type Source } from './signals.ts';

export interface ReadingsDeps {
  client: KubeClient;
  gateway: GatewayView;
  /** The gateways' /metrics URLs now. */
  gatewayUrls: () => string[];
  /** --prometheus-url: where a metric's query goes when it names no address. */
  prometheusUrl?: string;
  timeoutMs: number;
}

export interface ReadingsContext {
  namespace: string;
  /** The ModelInfers scaled (one, or the variants). */
  targets: readonly string[];
  /** Their ready pods' names. */
  pods: readonly string[];
  now: number;
}

export async function readExternal(deps: ReadingsDeps, metrics: readonly MetricTarget[], sources: ReadonlySet<Source>, ctx: ReadingsContext): Promise<Pick<SignalInputs, 'gateway' | 'resources' | 'queries'>> {
  const [gateway, resources, queries] = await Promise.all([
    sources.has('gateway') ? readGatewayView(deps, ctx) : undefined,
    sources.has('resource') ? readResources(deps.client, ctx) : undefined,
    sources.has('prometheus') ? readQueries(deps, metrics, ctx) : undefined,
  ]);
  return { ...(gateway ? { gateway } : {}), ...(resources ? { resources } : {}), ...(queries ? { queries } : {}) };
}

/** The gateways' per-pod view, narrowed to this namespace and keyed by pod name. */
async function readGatewayView(deps: ReadingsDeps, ctx: ReadingsContext): Promise<Reading<Map<string, GatewayPodView>>> {
  const all = await deps.gateway.read(deps.gatewayUrls(), ctx.now);
  if (!all.ok) return all;
  const prefix = `${ctx.namespace}/`;
  const mine = new Map<string, GatewayPodView>();
  for (const [key, view] of all.value) if (key.startsWith(prefix)) mine.set(key.slice(prefix.length), view);
  return { ok: true, value: mine, ...(all.partial ? { partial: true } : {}) };
}

async function readResources(client: KubeClient, ctx: ReadingsContext): Promise<Reading<Map<string, PodResources>>> {
  try {
    const out = new Map<string, PodResources>();
    for (const target of ctx.targets) {
      for (const [name, usage] of await readPodMetrics(client, ctx.namespace, `${MODELINFER_NAME_LABEL}=${target}`)) out.set(name, { cpuCores: usage.cpuCores, memoryBytes: usage.memoryBytes });
    }
    return { ok: true, value: out };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

async function readQueries(deps: ReadingsDeps, metrics: readonly MetricTarget[], ctx: ReadingsContext): Promise<Map<string, Reading<number>>> {
  const out = new Map<string, Reading<number>>();
  await Promise.all(
    metrics.map(async (metric) => {
      const spec = resolveMetric(metric);
      if (spec?.source !== 'prometheus') return;
      const address = spec.address ?? deps.prometheusUrl;
      if (!address) {
        out.set(metric.metricName, { ok: false, error: 'no Prometheus address: set prometheus.address or the controller manager\'s --prometheus-url' });
        return;
      }
      out.set(metric.metricName, await queryPrometheus(address, expandQuery(spec.query, ctx), deps.timeoutMs));
    }),
  );
  return out;
}
