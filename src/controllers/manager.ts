// The controller manager: every MatrixInfer controller in one process, sharing one set of informers, running
// only while this process holds the leader Lease (unless leader election is off). It owns one Prometheus registry:
// the autoscaler's decisions (autoscaler/metrics.ts) and the production-stack controllers' reconciles and statuses
// (productionstack/metrics.ts) while it leads, the controller runtime's reconcile, work queue, leader election and
// webhook series (kube/controller-metrics.ts), and with `metrics` the process metrics, served on GET /metrics by
// every replica, leader or not (a standby has no autoscaler series, and leader_election_master_status 0).
import type { KubeConfig } from '@kubernetes/client-node';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { KubeClient } from '../kube/client.ts';
import type { Controller } from '../kube/controller.ts';
import { ControllerRuntimeMetrics } from '../kube/controller-metrics.ts';
import { KubeEventRecorder } from '../kube/events.ts';
import { InformerFactory } from '../kube/informer.ts';
import { LeaderElector } from '../kube/leaderelection.ts';
import { createLogger, errorMessage, type Logger } from '../kube/log.ts';
import { startMetricsServer, type MetricsServer } from '../kube/metrics-server.ts';
import { createAutoscalerController, type AutoscalerOptions } from './autoscaler/controller.ts';
import { AutoscalerMetrics } from './autoscaler/metrics.ts';
import { createModelController } from './model/controller.ts';
import type { RoleRef } from './model/download-identity.ts';
import { createLoraLoader } from './model/lora-loader.ts';
import { createModelInferController } from './modelinfer/controller.ts';
import { createModelRouteController, createModelServerController, defaultGatewayLocation } from './networking/controller.ts';
import { createEnginePolicyController, type EnginePolicyOptions } from './networking/engine-policy.ts';
import type { GatewayLocation } from './networking/service.ts';
import { createProductionStack, type ProductionStackOptions } from './productionstack/index.ts';
import { ProductionStackMetrics } from './productionstack/metrics.ts';
import { startWebhookServer, type WebhookServer, type WebhookServerOptions } from '../webhooks/server.ts';
import type { Dashboard, DashboardOptions } from '../dashboard/index.ts';

export const CONTROLLER_MANAGER_NAME = 'matrixinfer-controller-manager';

export interface ControllerManagerOptions {
  kubeConfig: KubeConfig;
  /** Campaign for the Lease before running controllers (default true). */
  leaderElection?: boolean;
  /** Watch only this namespace (default: all namespaces). */
  namespace?: string;
  /** Where the Lease lives (default: `namespace`, else $POD_NAMESPACE, else `default`). */
  leaseNamespace?: string;
  leaseName?: string;
  identity?: string;
  /** Workers per controller (default 2). */
  workers?: number;
  /** Leader election timings, ms (defaults 15 000 / 10 000 / 2 000). */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  logger?: Logger;
  /**
   * Serve the admission webhooks over TLS (every replica, leader or not; see src/webhooks/server.ts). The namespace
   * defaults to the Lease namespace.
   */
  webhook?: Omit<WebhookServerOptions, 'kubeConfig' | 'namespace' | 'logger'> & { namespace?: string };
  /** Where ModelServer Services lead (networking/service.ts); default: the chart's gateway pods in $POD_NAMESPACE. */
  gateway?: GatewayLocation;
  /** Guard engine pods with a NetworkPolicy per ModelInfer (networking/engine-policy.ts); off when unset. */
  enginePolicy?: Omit<EnginePolicyOptions, 'gatewayNamespace' | 'gatewaySelector'>;
  /** The production-stack controllers' periods (productionstack/index.ts); tests shorten them. */
  productionStack?: ProductionStackOptions;
  /** The autoscaler's sync period and staleness (autoscaler/controller.ts); tests shorten the period. */
  autoscaler?: AutoscalerOptions;
  /**
   * Serve GET /metrics (the registry below, plus prom-client's default process metrics) on this port, on every
   * replica; host default 0.0.0.0. Off when unset (the registry still holds the autoscaler's series).
   */
  metrics?: { port: number; host?: string };
  /** Image of the Models' download step (default matrixinfer/downloader at this version; src/registry/contract.ts). */
  downloaderImage?: string;
  /** The role the download step's ServiceAccount is bound to in each Model namespace (the chart's); off when unset. */
  downloadRole?: RoleRef;
  /**
   * Serve the web dashboard and its JSON API (src/dashboard/) on every replica, leader or not, with informers of its
   * own; lazy-loaded, so a manager without it loads none of it. Off when unset.
   */
  dashboard?: DashboardOptions;
}

export interface ControllerManager {
  /** The webhook server, when `webhook` was given. */
  webhook?: WebhookServer;
  /** The /metrics server, when `metrics` was given. */
  metrics?: MetricsServer;
  /** The dashboard, when `dashboard` was given. */
  dashboard?: Dashboard;
  /** The manager's Prometheus registry. */
  registry: Registry;
  stop(): Promise<void>;
}

/** One run of the controllers (from becoming leader to losing leadership or stopping). */
async function runControllers(options: ControllerManagerOptions, client: KubeClient, log: Logger, autoscalerMetrics: AutoscalerMetrics, productionStackMetrics: ProductionStackMetrics, runtimeMetrics: ControllerRuntimeMetrics): Promise<() => Promise<void>> {
  const informers = new InformerFactory(client, { namespace: options.namespace, logger: log.child('informer') });
  const recorder = new KubeEventRecorder(client, CONTROLLER_MANAGER_NAME, log.child('events'));
  const deps = { client, informers, recorder, workers: options.workers };
  // The production-stack.vllm.ai kinds (seed 004); SpeculativeDecoding and PrefillDecodingDisaggregation reach the
  // workloads through the Model controller's amendments.
  const productionStack = createProductionStack({ ...deps, logger: log.child('production-stack'), metrics: productionStackMetrics }, options.productionStack);
  const controllers: Controller[] = [
    createModelController({
      ...deps,
      logger: log.child('model'),
      amenders: productionStack.amenders,
      ...(options.downloaderImage ? { downloaderImage: options.downloaderImage } : {}),
      ...(options.downloadRole ? { downloadRole: options.downloadRole } : {}),
    }),
    // LoRA adapter Models into their base's engines (model/lora-loader.ts).
    createLoraLoader({ ...deps, logger: log.child('lora-loader') }),
    createModelInferController({ ...deps, logger: log.child('modelinfer') }),
    createModelServerController({ ...deps, logger: log.child('modelserver'), ...(options.gateway ? { gateway: options.gateway } : {}) }),
    createModelRouteController({ ...deps, logger: log.child('modelroute') }),
    // The autoscaler reads the same gateways the ModelServer Services lead to (its gateway_* metrics).
    createAutoscalerController({ ...deps, logger: log.child('autoscaler'), observer: autoscalerMetrics, options: { ...(options.gateway ? { gateway: options.gateway } : {}), ...options.autoscaler } }),
    ...productionStack.controllers,
  ];
  if (options.enginePolicy) {
    const gateway = options.gateway ?? defaultGatewayLocation();
    const policy = { ...options.enginePolicy, gatewayNamespace: gateway.namespace, gatewaySelector: gateway.selector };
    controllers.push(createEnginePolicyController({ client, informers, options: policy, workers: options.workers, logger: log.child('engine-network-policy') }));
  }
  // Before the informers start, so every add is counted.
  for (const controller of controllers) controller.instrument(runtimeMetrics);
  informers.start();
  for (const controller of controllers) {
    controller.start().catch((err: unknown) => log.error('controller failed to start', { controller: controller.name, error: errorMessage(err) }));
  }
  log.info('controllers started', { controllers: controllers.map((c) => c.name).join(','), namespace: options.namespace ?? '(all)' });
  return async () => {
    await Promise.all(controllers.map((c) => c.stop()));
    informers.stop();
    // No longer deciding: the next leader reports the bindings.
    autoscalerMetrics.clear();
    productionStackMetrics.clear();
    await recorder.flush();
    log.info('controllers stopped');
  };
}

export async function startControllerManager(options: ControllerManagerOptions): Promise<ControllerManager> {
  const log = options.logger ?? createLogger('controller-manager');
  const client = new KubeClient(options.kubeConfig);
  let stopRun: (() => Promise<void>) | undefined;
  const leaseNamespace = options.leaseNamespace ?? options.namespace ?? process.env.POD_NAMESPACE ?? 'default';
  const registry = new Registry();
  const autoscalerMetrics = new AutoscalerMetrics(registry);
  const productionStackMetrics = new ProductionStackMetrics(registry);
  const runtimeMetrics = new ControllerRuntimeMetrics(registry);
  const webhook = options.webhook
    ? await startWebhookServer({ ...options.webhook, observe: (path, code, seconds) => runtimeMetrics.webhook(path, code, seconds), kubeConfig: options.kubeConfig, namespace: options.webhook.namespace ?? leaseNamespace, logger: log.child('webhook') })
    : undefined;
  let metrics: MetricsServer | undefined;
  if (options.metrics) {
    collectDefaultMetrics({ register: registry });
    try {
      metrics = await startMetricsServer({ ...options.metrics, registry });
    } catch (err) {
      await webhook?.close();
      throw err;
    }
    log.info('serving metrics', { url: metrics.url });
  }
  let dashboard: Dashboard | undefined;
  if (options.dashboard) {
    try {
      const { startDashboard } = await import('../dashboard/index.ts');
      dashboard = await startDashboard(
        { client, ...(options.namespace ? { namespace: options.namespace } : {}), gateway: options.gateway ?? defaultGatewayLocation(), logger: log.child('dashboard') },
        options.dashboard,
      );
    } catch (err) {
      await webhook?.close();
      await metrics?.close();
      throw err;
    }
    log.info('serving the dashboard', { url: dashboard.url });
  }
  const servers = { ...(webhook ? { webhook } : {}), ...(metrics ? { metrics } : {}), ...(dashboard ? { dashboard } : {}), registry };

  const leaseName = options.leaseName ?? CONTROLLER_MANAGER_NAME;
  if (options.leaderElection === false) {
    // The only manager: it leads.
    runtimeMetrics.leading(leaseName, true);
    stopRun = await runControllers(options, client, log, autoscalerMetrics, productionStackMetrics, runtimeMetrics);
    return {
      ...servers,
      async stop() {
        await stopRun?.();
        stopRun = undefined;
        await webhook?.close();
        await metrics?.close();
        await dashboard?.close();
      },
    };
  }

  // Serialize start/stop transitions so a quick lose-and-regain never runs two sets of controllers.
  let transition = Promise.resolve();
  const elector = new LeaderElector({
    kubeConfig: options.kubeConfig,
    namespace: leaseNamespace,
    name: leaseName,
    metrics: runtimeMetrics,
    identity: options.identity,
    leaseDurationMs: options.leaseDurationMs,
    renewDeadlineMs: options.renewDeadlineMs,
    retryPeriodMs: options.retryPeriodMs,
    logger: log.child('leader-election'),
    onStartedLeading: () => {
      transition = transition.then(async () => {
        stopRun = await runControllers(options, client, log, autoscalerMetrics, productionStackMetrics, runtimeMetrics);
      });
      return transition;
    },
    onStoppedLeading: () => {
      transition = transition.then(async () => {
        const stop = stopRun;
        stopRun = undefined;
        await stop?.();
      });
      return transition;
    },
    onNewLeader: (identity) => log.info('leader is', { identity }),
  });
  elector.start();
  return {
    ...servers,
    async stop() {
      await elector.stop();
      await transition;
      const stop = stopRun;
      stopRun = undefined;
      await stop?.();
      await webhook?.close();
      await metrics?.close();
      await dashboard?.close();
    },
  };
}
