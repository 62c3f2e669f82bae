// End to end on a real control plane: etcd + kube-apiserver + kube-controller-manager's garbage collector, our
// controller manager, the node agent registered as a Node and acting as the kubelet (it binds pending pods with
// pods/binding, since there is no kube-scheduler, and runs them as processes on loopback pod IPs), and the
// gateway. The seed Model is applied with kubectl; a completion comes back through the gateway; deleting the
// Model with kubectl takes the pod down.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { startNodeAgent, type NodeAgent } from '../../src/agent/agent.ts';
import type { Logger } from '../../src/agent/log.ts';
import { startControllerManager, type ControllerManager } from '../../src/controllers/manager.ts';
import { startGateway, type GatewayHandle } from '../../src/gateway/gateway.ts';
import { createLogger } from '../../src/kube/log.ts';
import { kubectl, memoryLogger, until } from '../support/platform.ts';
import { startRealCluster, type RealCluster } from './harness.ts';

const NODE = 'e2e-node';
let cluster: RealCluster;
let manager: ControllerManager | undefined;
let agent: NodeAgent | undefined;
let gateway: GatewayHandle | undefined;
const home = mkdtempSync(join(tmpdir(), 'matrixinfer-e2e-agent-'));
const agentLog: string[] = [];
const log: Logger = memoryLogger(agentLog);

before(async () => {
  cluster = await startRealCluster();
  manager = await startControllerManager({ kubeConfig: cluster.kubeConfig, leaderElection: false, logger: createLogger('controller-manager', 'warn') });
  agent = await startNodeAgent({ kubeConfig: cluster.kubeConfig, home, nodeName: NODE, maxGracePeriodSeconds: 3, log });
  gateway = await startGateway({ kubeConfig: cluster.kubeConfig, port: 0, accessLog: false, log: () => {} });
  await gateway.ready;
});

after(async () => {
  await gateway?.close();
  await agent?.stop();
  await manager?.stop();
  await cluster?.stop();
  rmSync(home, { recursive: true, force: true });
});

test('kubectl apply of the seed Model → pod bound and run by the node agent → completion through the gateway', async () => {
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const node = await until('the node registered and Ready', async () => {
    const n = await core.readNode({ name: NODE });
    return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? n : undefined;
  }, 30_000);
  assert.equal(node.metadata?.name, NODE);

  const applied = await kubectl(cluster.kubeconfigPath, ['apply', '-f', 'examples/quickstart.yaml']);
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /model\.registry\.matrixinfer\.ai\/llama-7b created/);

  // No kube-scheduler: the agent binds the pending pod to itself through pods/binding, then runs it.
  const pod = await until('the engine pod running and ready on the node', async () => {
    const p = await core.readNamespacedPod({ name: 'llama-7b-0-server-0', namespace: 'default' });
    const ready = p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    return p.spec?.nodeName === NODE && ready ? p : undefined;
  }, 120_000, 250);
  assert.match(pod.status?.podIP ?? '', /^127\.\d+\.\d+\.\d+$/);
  assert.ok(agentLog.some((l) => l.includes(`bound pod default/llama-7b-0-server-0 to ${NODE}`) && !l.includes('(patch)')), agentLog.join('\n'));

  const phase = await until('Model Ready (kubectl)', async () => {
    const r = await kubectl(cluster.kubeconfigPath, ['get', 'model', 'llama-7b', '-o', 'jsonpath={.status.phase}']);
    return r.stdout === 'Ready' ? r.stdout : undefined;
  }, 60_000, 500);
  assert.equal(phase, 'Ready');

  const body = await until('a completion through the gateway', async () => {
    const res = await fetch(`${gateway!.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama-7b', prompt: 'Hello from a real cluster', max_tokens: 4 }),
    });
    return res.status === 200 ? ((await res.json()) as { object: string; choices: Array<{ text: string }>; usage: { completion_tokens: number } }) : undefined;
  }, 60_000, 250);
  assert.equal(body.object, 'text_completion');
  assert.equal(body.usage.completion_tokens, 4);
  assert.ok(body.choices[0]!.text.length > 0);

  // The pod's EndpointSlice-free path: the gateway reached the pod IP directly; the Service exists for clusters.
  const svc = await core.readNamespacedService({ name: 'llama-7b', namespace: 'default' });
  assert.match(svc.spec?.clusterIP ?? '', /^10\.0\.0\.\d+$/);

  const deleted = await kubectl(cluster.kubeconfigPath, ['delete', 'model', 'llama-7b', '--wait=true', '--timeout=60s']);
  assert.equal(deleted.code, 0, deleted.stderr);
  // The garbage collector (kube-controller-manager) removes the children; the agent stops the pod and finishes
  // its graceful deletion.
  await until('the engine pod gone', async () => {
    const pods = await core.listNamespacedPod({ namespace: 'default' });
    return pods.items.length === 0;
  }, 60_000, 250);
});
