// Resource metrics end to end: the controller manager turns a ModelInfer into an engine pod, the node agent runs it
// as processes and samples them (1 s windows here, 10 s by default), and the embedded API server serves the usage as
// metrics.k8s.io: readPodMetrics (the autoscaler's client) sees it, and so does `kubectl top pod`. Against a real
// kube-apiserver (MATRIXINFER_TEST_APISERVER=real, no metrics-server) readPodMetrics says the API is not served.
// About 5 s.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startNodeAgent, type NodeAgent } from '../../src/agent/agent.ts';
import { usageSupported } from '../../src/agent/usage.ts';
import type { ServedModel as Model, ModelInfer } from '../../src/api/kinds/index.ts';
import { MODELINFER_NAME_LABEL } from '../../src/api/labels.ts';
import { startControllerManager, type ControllerManager } from '../../src/controllers/manager.ts';
import { desiredModelInfer } from '../../src/controllers/model/desired.ts';
import { MODEL_INFERS } from '../../src/controllers/resources.ts';
import { KubeClient, PODS } from '../../src/kube/client.ts';
import { createLogger } from '../../src/kube/log.ts';
import { MetricsApiUnavailableError, readPodMetrics, type PodUsage } from '../../src/kube/pod-metrics.ts';
import { until } from '../../src/kube/testing/until.ts';
import { admissionPlugins } from '../../src/webhooks/plugins.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { memoryLogger } from '../support/platform.ts';
import { needs } from '../support/system.ts';
import { testModel } from '../support/models.ts';

const NS = 'default';
const NAME = 'metered';
const SELECTOR = `${MODELINFER_NAME_LABEL}=${NAME}`;

describe('resource metrics of engine pods', { skip: usageSupported() ? false : 'no /proc on this platform: the node agent reports no usage here' }, () => {
  let home: string;
  let cluster: TestCluster;
  let manager: ControllerManager;
  let agent: NodeAgent;
  let client: KubeClient;
  const agentLog: string[] = [];

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'matrixinfer-resource-metrics-'));
    cluster = await startTestCluster(undefined, { admission: admissionPlugins });
    manager = await startControllerManager({ kubeConfig: cluster.kubeConfig, logger: createLogger('controller-manager', 'warn') });
    agent = await startNodeAgent({ kubeConfig: cluster.kubeConfig, home, log: memoryLogger(agentLog), metricsWindowSeconds: 1 });
    client = new KubeClient(cluster.kubeConfig);
    const model = testModel(NAME, NS, { runtime: { replicas: 1, args: ['--startup-seconds', '1'] } });
    const mi = desiredModelInfer(model) as ModelInfer;
    await client.create(MODEL_INFERS, { ...mi, metadata: { name: NAME, namespace: NS } });
  });

  after(async () => {
    await agent?.stop();
    await manager?.stop();
    await cluster?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  /** Some CPU for the engine (an idle one may stay under one 10 ms clock tick per window): a burst of /metrics scrapes. */
  async function exercise(): Promise<void> {
    for (const pod of (await client.list(PODS, { namespace: NS, labelSelector: SELECTOR })).items) {
      const ip = (pod.status as { podIP?: string } | undefined)?.podIP;
      const port = (pod.spec as { containers: { ports?: { containerPort: number }[] }[] }).containers[0]?.ports?.[0]?.containerPort;
      if (!ip || !port) continue;
      await Promise.all(Array.from({ length: 20 }, () => fetch(`http://${ip}:${port}/metrics`).then((r) => r.text(), () => '')));
    }
  }

  it('readPodMetrics gives the engine pod its CPU and memory', async () => {
    if (cluster.backend === 'real') {
      await assert.rejects(readPodMetrics(client, NS, SELECTOR), MetricsApiUnavailableError);
      return;
    }
    const [name, usage] = await until('usage of the engine pod', async () => {
      await exercise();
      const pods = await readPodMetrics(client, NS, SELECTOR);
      const first = [...pods].find(([, u]) => u.cpuCores > 0 && u.memoryBytes > 0);
      return first ?? false;
    }, 20_000, 200) as [string, PodUsage];
    assert.ok(agent.inspect(NS, name), `${name} is the agent's pod`);
    assert.ok(usage.memoryBytes > 20 * 1024 * 1024, `an engine process holds more than 20 MiB (${usage.memoryBytes})`);
    assert.ok(usage.cpuCores < 4, `a plausible rate (${usage.cpuCores} cores)`);
    assert.ok(usage.windowSeconds >= 0.5 && usage.windowSeconds < 5, `about one 1 s window (${usage.windowSeconds})`);
    assert.ok(Math.abs(Date.now() - Date.parse(usage.timestamp)) < 10_000);
    assert.deepEqual(await readPodMetrics(client, NS, `${MODELINFER_NAME_LABEL}=someone-else`), new Map());
  });

  it('kubectl top pod prints it', { skip: needs('kubectl') }, async (t) => {
    if (cluster.backend === 'real') return t.skip('no metrics-server on the test cluster');
    const dir = mkdtempSync(join(tmpdir(), 'matrixinfer-kubectl-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const top = () => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile('kubectl', ['--kubeconfig', cluster.kubeconfigPath, '--cache-dir', join(dir, 'cache'), 'top', 'pod', '-n', NS], { timeout: 20_000, env: { ...process.env, HOME: dir } }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      });
    });
    const result = await until('kubectl top pod', async () => {
      const r = await top();
      return r.code === 0 && r.stdout.includes(NAME) && r.stdout.match(/\S+\s+\d+m\s+\d+Mi\s*$/m) ? r : false;
    }, 15_000, 300);
    const lines = result.stdout.trim().split('\n');
    assert.match(lines[0]!, /^NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)\s*$/);
    assert.ok(lines.slice(1).some((l) => new RegExp(`^${NAME}-\\S+\\s+\\d+m\\s+\\d+Mi\\s*$`).test(l)), result.stdout);
  });
});
