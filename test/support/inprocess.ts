// The platform in one test process: an API server (embedded or real, as test/support/cluster.ts chooses) with the
// project's admission, one gateway, the controller manager (its ModelServer Services and autoscaler pointed at that
// gateway), and the node agent running pods as processes in a temporary home (measuring them for metrics.k8s.io
// every 2 s). For integration tests that need the pieces working together; stop() takes them down in reverse order
// and removes the home.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { startNodeAgent, type NodeAgent } from '../../src/agent/agent.ts';
import type { AutoscalerOptions } from '../../src/controllers/autoscaler/controller.ts';
import { startControllerManager, type ControllerManager } from '../../src/controllers/manager.ts';
import { startGateway, type GatewayHandle } from '../../src/gateway/gateway.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { createLogger } from '../../src/kube/log.ts';
import { admissionPlugins } from '../../src/webhooks/plugins.ts';
import { startTestCluster, type Backend, type TestCluster } from './cluster.ts';
import { memoryLogger } from './platform.ts';

export interface InProcessPlatform {
  cluster: TestCluster;
  client: KubeClient;
  manager: ControllerManager;
  agent: NodeAgent;
  gateway: GatewayHandle;
  /** The node agent's home (pod working directories and logs). */
  home: string;
  stop(): Promise<void>;
}

export interface InProcessOptions {
  /** Default: MATRIXINFER_TEST_APISERVER (embedded unless `real`). */
  backend?: Backend;
  /** The autoscaler's options (tests shorten its period). */
  autoscaler?: AutoscalerOptions;
  /** Serve the controller manager's /metrics on a free loopback port (`manager.metrics.url`). */
  metrics?: boolean;
  /** Serve the dashboard on a free loopback port (`manager.dashboard.url`), scraping every `periodMs`. */
  dashboard?: { periodMs: number; prometheusUrl?: string };
  /** Where the node agent's log lines go (default: dropped). */
  agentLog?: string[];
  /** The gateway's access log (default: dropped). */
  accessLog?: Writable;
}

export async function startInProcessPlatform(options: InProcessOptions = {}): Promise<InProcessPlatform> {
  const home = mkdtempSync(join(tmpdir(), 'matrixinfer-inprocess-'));
  const cluster = await startTestCluster(options.backend, { admission: admissionPlugins });
  const gateway = await startGateway({
    kubeConfig: cluster.kubeConfig,
    host: '127.0.0.1',
    port: 0,
    accessLog: options.accessLog ?? new PassThrough().resume(),
    log: () => {},
  });
  await gateway.ready;
  const manager = await startControllerManager({
    kubeConfig: cluster.kubeConfig,
    logger: createLogger('controller-manager', 'warn'),
    // ModelServer Services and the autoscaler's gateway_* metrics lead to this process's gateway, as under `up`.
    gateway: { namespace: 'default', selector: '', addresses: ['127.0.0.1'], port: Number(new URL(gateway.url).port), tlsPort: 8443 },
    ...(options.autoscaler ? { autoscaler: options.autoscaler } : {}),
    ...(options.metrics ? { metrics: { host: '127.0.0.1', port: 0 } } : {}),
    ...(options.dashboard ? { dashboard: { host: '127.0.0.1', port: 0, ...options.dashboard } } : {}),
  });
  // The download step (a `matrixinfer download` process) reports progress on its Pod through this file, as under `up`.
  const kubeconfigPath = join(home, 'kubeconfig');
  writeFileSync(kubeconfigPath, cluster.kubeConfig.exportConfig(), { mode: 0o600 });
  const agent = await startNodeAgent({ kubeConfig: cluster.kubeConfig, kubeconfigPath, home, log: memoryLogger(options.agentLog ?? []), metricsWindowSeconds: 2 });
  return {
    cluster,
    client: new KubeClient(cluster.kubeConfig),
    manager,
    agent,
    gateway,
    home,
    async stop() {
      await gateway.close();
      await agent.stop();
      await manager.stop();
      await cluster.stop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
