// Long-running component commands: each starts one component and stops it cleanly on SIGTERM/SIGINT.
// `matrixinfer up` runs them as child processes; on a cluster each runs in its own Deployment.
// Each component imports only its own modules: the API server and the engine never load the Kubernetes client.
// Each starts tracing first (kube/tracing.ts: a no-op unless OTEL_EXPORTER_OTLP_ENDPOINT is set), as service
// matrixinfer-<component>, and flushes its spans when it stops.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { matrixinferHome } from '../kube/home.ts';
import { writeRecord } from '../kube/log.ts';
import { startTracing, stopTracing } from '../kube/tracing.ts';

function stopOnSignal(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    writeRecord('info', 'main', `received ${signal}, stopping`);
    stop()
      .then(stopTracing)
      .then(
        () => process.exit(0),
        (error: unknown) => {
          writeRecord('error', 'main', 'error while stopping', { error: String(error) });
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

export async function runApiServer(options: { dataDir?: string; host?: string; port: number }): Promise<void> {
  await startTracing('apiserver');
  const { startApiServer } = await import('../apiserver/server.ts');
  const { createAdmissionPlugins } = await import('../webhooks/plugins.ts');
  const { storedPolicy } = await import('../webhooks/policy.ts');
  const home = matrixinferHome();
  const dataDir = options.dataDir ?? join(home, 'data');
  const podLogDir = join(home, 'logs', 'pods');
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(podLogDir, { recursive: true });
  const server = await startApiServer({ dataDir, host: options.host ?? '127.0.0.1', port: options.port, admission: (objects) => createAdmissionPlugins({ policy: storedPolicy(objects) }), podLogDir });
  writeRecord('info', 'apiserver', `api server listening on ${server.url}`, { data: dataDir });
  stopOnSignal(() => server.close());
}

export interface ControllerManagerCommandOptions {
  kubeconfig?: string;
  leaderElect: boolean;
  namespace?: string;
  leaseNamespace?: string;
  identity?: string;
  /** Serve the admission webhooks on this port (off when undefined). */
  webhookPort?: number;
  webhookHost?: string;
  webhookService?: string;
  webhookNamespace?: string;
  webhookUrl?: string;
  webhookCertDir?: string;
  /** Serve /healthz and /readyz (the pod's probes) on this port (off when undefined). */
  healthPort?: number;
  healthHost?: string;
  /** Serve Prometheus metrics on GET /metrics on this port (off when undefined); host default 0.0.0.0. */
  metricsPort?: number;
  metricsHost?: string;
  /** Where ModelServer Services lead: gateway pods (namespace, selector) or fixed addresses; its ports. */
  gatewayNamespace?: string;
  gatewaySelector?: string;
  gatewayAddress?: string[];
  gatewayPort?: number;
  gatewayTlsPort?: number;
  /** A NetworkPolicy per ModelInfer: engine ports only from the gateway (and Prometheus, when given). */
  engineNetworkPolicy?: boolean;
  /** Where the autoscaler sends PromQL metrics that name no address. */
  prometheusUrl?: string;
  downloaderImage?: string;
  downloadRole?: string;
  prometheusNamespace?: string;
  prometheusSelector?: string;
  /** With engineNetworkPolicy: this manager's own pods, admitted to the engine port (the autoscaler scrapes it). */
  controllerManagerNamespace?: string;
  controllerManagerSelector?: string;
  /** Serve the web dashboard on this port (off when undefined); host default 127.0.0.1. */
  dashboardPort?: number;
  dashboardHost?: string;
  /** The dashboard's time series from this Prometheus instead of its in-memory hour. */
  dashboardPrometheusUrl?: string;
}

export async function runControllerManager(options: ControllerManagerCommandOptions): Promise<void> {
  await startTracing('controller-manager');
  const { startControllerManager } = await import('../controllers/manager.ts');
  const { startHealthServer } = await import('../kube/health.ts');
  const { loadKubeConfig } = await import('../kube/config.ts');
  let started = false;
  // Probes answer while the manager starts; ready once started (as leader or standby).
  const health = options.healthPort !== undefined ? await startHealthServer({ port: options.healthPort, ...(options.healthHost ? { host: options.healthHost } : {}), ready: () => started }) : undefined;
  const { defaultGatewayLocation } = await import('../controllers/networking/controller.ts');
  const { parseRoleRef } = await import('../controllers/model/download-identity.ts');
  const gatewayDefaults = defaultGatewayLocation();
  const managerNamespace = options.controllerManagerNamespace ?? process.env.POD_NAMESPACE;
  const manager = await startControllerManager({
    kubeConfig: loadKubeConfig(options.kubeconfig),
    gateway: {
      namespace: options.gatewayNamespace ?? gatewayDefaults.namespace,
      selector: options.gatewaySelector ?? gatewayDefaults.selector,
      ...(options.gatewayAddress?.length ? { addresses: options.gatewayAddress } : {}),
      port: options.gatewayPort ?? gatewayDefaults.port,
      tlsPort: options.gatewayTlsPort ?? gatewayDefaults.tlsPort,
    },
    ...(options.engineNetworkPolicy
      ? {
          enginePolicy: {
            ...(options.prometheusNamespace ? { prometheusNamespace: options.prometheusNamespace } : {}),
            ...(options.prometheusSelector ? { prometheusSelector: options.prometheusSelector } : {}),
            ...(managerNamespace ? { controllerManagerNamespace: managerNamespace } : {}),
            ...(options.controllerManagerSelector ? { controllerManagerSelector: options.controllerManagerSelector } : {}),
          },
        }
      : {}),
    leaderElection: options.leaderElect,
    ...(options.prometheusUrl ? { autoscaler: { prometheusUrl: options.prometheusUrl } } : {}),
    ...(options.downloaderImage ? { downloaderImage: options.downloaderImage } : {}),
    ...(options.downloadRole ? { downloadRole: parseRoleRef(options.downloadRole) } : {}),
    ...(options.metricsPort !== undefined ? { metrics: { port: options.metricsPort, ...(options.metricsHost ? { host: options.metricsHost } : {}) } } : {}),
    ...(options.dashboardPort !== undefined
      ? { dashboard: { port: options.dashboardPort, ...(options.dashboardHost ? { host: options.dashboardHost } : {}), ...(options.dashboardPrometheusUrl ? { prometheusUrl: options.dashboardPrometheusUrl } : {}) } }
      : {}),
    ...(options.namespace ? { namespace: options.namespace } : {}),
    ...(options.leaseNamespace ? { leaseNamespace: options.leaseNamespace } : {}),
    ...(options.identity ? { identity: options.identity } : {}),
    ...(options.webhookPort !== undefined
      ? {
          webhook: {
            port: options.webhookPort,
            ...(options.webhookHost ? { host: options.webhookHost } : {}),
            ...(options.webhookService ? { serviceName: options.webhookService } : {}),
            ...(options.webhookNamespace ? { namespace: options.webhookNamespace } : {}),
            ...(options.webhookUrl ? { url: options.webhookUrl } : {}),
            ...(options.webhookCertDir ? { certDir: options.webhookCertDir } : {}),
          },
        }
      : {}),
  });
  started = true;
  const serving = [
    ...(manager.webhook ? [`webhooks on ${manager.webhook.url}`] : []),
    ...(manager.metrics ? [`metrics on ${manager.metrics.url}`] : []),
    ...(manager.dashboard ? [`dashboard on ${manager.dashboard.url}`] : []),
  ];
  writeRecord('info', 'controller-manager', `controller manager started${serving.length > 0 ? ` (${serving.join(', ')})` : ''}`);
  stopOnSignal(async () => {
    await manager.stop();
    await health?.close();
  });
}

export async function runAgent(options: { kubeconfig?: string; nodeName?: string; engineStartupSeconds?: string; port?: string }): Promise<void> {
  await startTracing('agent');
  const { startNodeAgent } = await import('../agent/agent.ts');
  const { loadKubeConfig } = await import('../kube/config.ts');
  const startup = options.engineStartupSeconds;
  if (startup !== undefined && startup !== 'profile' && !(startup.trim() !== '' && Number(startup) >= 0)) {
    throw new Error(`--engine-startup-seconds must be a number >= 0 or "profile", got ${JSON.stringify(startup)}`);
  }
  const agent = await startNodeAgent({
    kubeConfig: loadKubeConfig(options.kubeconfig),
    ...(options.kubeconfig ? { kubeconfigPath: resolve(options.kubeconfig) } : {}),
    home: matrixinferHome(),
    ...(options.nodeName ? { nodeName: options.nodeName } : {}),
    ...(startup !== undefined ? { engineStartupSeconds: startup === 'profile' ? 'profile' : Number(startup) } : {}),
    ...(options.port !== undefined ? { port: Number(options.port) } : {}),
  });
  writeRecord('info', 'agent', 'node agent started', agent.urls);
  stopOnSignal(() => agent.stop());
}

export async function runGateway(options: {
  kubeconfig?: string;
  host?: string;
  port: number;
  tlsPort?: number;
  grpcPort?: number;
  namespace?: string;
  watchSecrets?: boolean;
  holdQueueSize?: number;
  holdMaxWaitMs?: number;
}): Promise<void> {
  await startTracing('gateway');
  const { startGateway } = await import('../gateway/gateway.ts');
  const { loadKubeConfig } = await import('../kube/config.ts');
  const gateway = await startGateway({
    kubeConfig: loadKubeConfig(options.kubeconfig),
    host: options.host ?? '127.0.0.1',
    port: options.port,
    ...(options.tlsPort !== undefined ? { tlsPort: options.tlsPort } : {}),
    ...(options.grpcPort !== undefined ? { grpcPort: options.grpcPort } : {}),
    ...(options.namespace ? { namespace: options.namespace } : {}),
    ...(options.watchSecrets === false ? { watchSecrets: false } : {}),
    ...(options.holdQueueSize !== undefined ? { holdQueueSize: options.holdQueueSize } : {}),
    ...(options.holdMaxWaitMs !== undefined ? { holdMaxWaitMs: options.holdMaxWaitMs } : {}),
  });
  const also = [gateway.tlsUrl, gateway.grpcAddress && `grpc://${gateway.grpcAddress}`].filter(Boolean);
  writeRecord('info', 'gateway', `gateway listening on ${gateway.url}${also.length > 0 ? ` and ${also.join(' and ')}` : ''}`);
  stopOnSignal(() => gateway.close());
}

export async function runEngine(argv: string[]): Promise<void> {
  const { parseEngineArgs } = await import('../engine/options.ts');
  await startTracing('engine');
  const { startEngine } = await import('../engine/server.ts');
  // The command defaults to the profile's cold start (the model load before the server listens); SIGTERM during it
  // ends the process at once, as it would vLLM's.
  const engine = await startEngine(parseEngineArgs(argv, { defaultStartupSeconds: 'profile' }));
  writeRecord('info', 'engine', `engine listening on ${engine.url}`);
  // SIGTERM drains as vLLM does: running requests finish; the agent's SIGKILL after the grace period bounds it.
  stopOnSignal(() => engine.drain());
}
