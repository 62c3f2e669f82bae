// The dashboard: a web page served by the controller manager (every replica, leader or not) and the JSON API behind
// it. Lazy-imported by the manager only when a dashboard port is given, so a manager without it loads none of this.
// Rules:
//  - Its own informers (Models, ModelInfers, their pods, AutoscalingPolicyBindings, the gateway pods), started with
//    the dashboard: the controllers' informers run only while the replica leads, the dashboard on every replica.
//  - Time series come from the in-memory history the collector fills (collector.ts), or, with a Prometheus URL,
//    from Prometheus range queries of the same figures (prometheus.ts).
//  - Read-only: it lists, watches and GETs /metrics; it never writes to the API.
import type { AutoscalingPolicyBinding, Model, ModelInfer } from '../api/kinds/index.ts';
import { MODELS, MODEL_INFERS, PODS, AUTOSCALING_POLICY_BINDINGS } from '../controllers/resources.ts';
import { MODELINFER_PODS } from '../controllers/modelinfer/controller.ts';
import { gatewayEndpoints, type GatewayLocation } from '../controllers/networking/service.ts';
import type { KubeClient } from '../kube/client.ts';
import { InformerFactory } from '../kube/informer.ts';
import type { Logger } from '../kube/log.ts';
import { Collector } from './collector.ts';
import { startDashboardServer, type DashboardData } from './server.ts';
import { bindingOf, modelSummaries, podSummaries, type Objects } from './views.ts';
import { prometheusTimeseries } from './prometheus.ts';

export interface DashboardOptions {
  port: number;
  /** Listen address (default 127.0.0.1: users port-forward or open it locally). */
  host?: string;
  /** How often the gateways and engines are scraped, ms (default 5000). */
  periodMs?: number;
  /** How much history is kept in memory, ms (default 1 h). */
  historyMs?: number;
  /** Read time series from this Prometheus (range queries) instead of the in-memory history. */
  prometheusUrl?: string;
}

export interface Dashboard {
  url: string;
  collector: Collector;
  close(): Promise<void>;
}

export async function startDashboard(deps: { client: KubeClient; namespace?: string; gateway: GatewayLocation; logger?: Logger }, options: DashboardOptions): Promise<Dashboard> {
  const informers = new InformerFactory(deps.client, { ...(deps.namespace ? { namespace: deps.namespace } : {}), ...(deps.logger ? { logger: deps.logger.child('informer') } : {}) });
  const models = informers.informer<Model>(MODELS);
  const modelInfers = informers.informer<ModelInfer>(MODEL_INFERS);
  const pods = informers.informer(PODS, MODELINFER_PODS);
  const bindings = informers.informer<AutoscalingPolicyBinding>(AUTOSCALING_POLICY_BINDINGS);
  const gateway = deps.gateway;
  const gatewayPods = gateway.addresses?.length ? undefined : informers.informer(PODS, { namespace: gateway.namespace, labelSelector: gateway.selector });
  const objects = (): Objects => ({ models: models.list(), modelInfers: modelInfers.list(), pods: pods.list(), bindings: bindings.list() });
  const collector = new Collector({
    objects,
    gatewayUrls: () => gatewayEndpoints(gateway, gatewayPods?.list(gateway.namespace) ?? []).map((e) => `http://${e.address.includes(':') ? `[${e.address}]` : e.address}:${gateway.port}/metrics`),
    periodMs: options.periodMs ?? 5000,
    ...(options.historyMs ? { historyMs: options.historyMs } : {}),
  });
  const latest = (model: string) => collector.table(model)?.latest() ?? {};
  const LIVE = ['rps', 'errors', 'ttft_p50', 'ttft_p99', 'itl_p50', 'itl_p99', 'tokens_in', 'tokens_out', 'inflight'];
  const live = (model: string) => Object.fromEntries(Object.entries(latest(model)).filter(([k]) => LIVE.includes(k)));

  const data: DashboardData = {
    models: () => modelSummaries(objects(), live),
    model(namespace, name) {
      const all = objects();
      const key = `${namespace}/${name}`;
      const model = modelSummaries(all, live).find((m) => m.namespace === namespace && m.name === name);
      if (!model) return undefined;
      const binding = bindingOf(all, key);
      return {
        model,
        pods: podSummaries(all, key, latest(key)),
        autoscaler: binding ? { name: binding.metadata.name, spec: { minReplicas: binding.spec.minReplicas, maxReplicas: binding.spec.maxReplicas, policy: binding.spec.policyRef.name }, status: binding.status ?? {} } : undefined,
      };
    },
    async timeseries(namespace, name, windowMs) {
      const key = `${namespace}/${name}`;
      if (!models.get(namespace, name)) return undefined;
      const decisions = collector.decisions(key).filter((d) => d.at >= Date.now() - windowMs);
      if (options.prometheusUrl) {
        const series = await prometheusTimeseries(options.prometheusUrl, { namespace, name, binding: bindingOf(objects(), key)?.metadata.name }, windowMs, collector.periodMs);
        return { ...series, decisions };
      }
      const table = collector.table(key);
      return { ...(table ? table.window(Date.now() - windowMs) : { t: [], columns: {} }), decisions };
    },
    routing() {
      return models.list().map((m) => {
        const key = `${m.metadata.namespace ?? 'default'}/${m.metadata.name}`;
        const routes: Record<string, Record<string, number>> = {};
        for (const [column, value] of Object.entries(latest(key))) {
          if (!column.startsWith('route:')) continue;
          const [, pod, scorer] = column.split(':');
          (routes[pod!] ??= {})[scorer!] = value;
        }
        return { namespace: m.metadata.namespace ?? 'default', name: m.metadata.name!, pods: routes };
      });
    },
    onUpdate: (listener) => collector.onTick(listener),
  };

  informers.start();
  const server = await startDashboardServer(data, { port: options.port, ...(options.host ? { host: options.host } : {}) }).catch((err: unknown) => {
    informers.stop();
    throw err;
  });
  // The first scrape once the caches hold the models (or after a few seconds without them).
  let closed = false;
  void Promise.race([informers.waitForSync(), new Promise((r) => setTimeout(r, 5000).unref())]).then(() => closed || collector.start());
  return {
    url: server.url,
    collector,
    async close() {
      closed = true;
      await server.close();
      await collector.stop();
      informers.stop();
    },
  };
}
