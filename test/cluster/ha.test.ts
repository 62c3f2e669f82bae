// High availability on the real kube-apiserver, with the components as separate processes (the CLI, as they run
// in their Deployments): two controller managers campaign for the coordination Lease; the leader is SIGKILLed; the
// other takes over within the lease duration (+ one retry period) and carries on without conflicting work: no
// child recreated, no duplicate pods, observedGeneration never going back. Then two gateways serve the same
// models at once (active-active), with the node agent acting as the kubelet.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CONTROLLER_MANAGER_NAME } from '../../src/controllers/manager.ts';
import { MAIN, REPO, freePort, until } from '../support/platform.ts';
import { startRealCluster, type RealCluster } from './harness.ts';

const NS = 'ha';
const LEASE_DURATION_MS = 15_000; // the managers' default (client-go's)
const RETRY_PERIOD_MS = 2_000;

let cluster: RealCluster;
let home: string;
const children: { name: string; child: ChildProcess; output: () => string }[] = [];

function startComponent(name: string, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN, ...args], {
    cwd: REPO,
    env: { ...process.env, MATRIXINFER_HOME: home, MATRIXINFER_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const entry = { name, child, output: () => output };
  children.push(entry);
  return entry;
}

async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'matrixinfer-ha-'));
  cluster = await startRealCluster();
  const res = await cluster.fetch('/api/v1/namespaces', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }) });
  assert.equal(res.status, 201, await res.text());
}, { timeout: 180_000 });

after(async () => {
  for (const { child } of children.reverse()) await kill(child, 'SIGTERM');
  await cluster?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

async function get(path: string): Promise<any> {
  const res = await cluster.fetch(path);
  if (res.status === 404) {
    await res.text();
    return undefined;
  }
  assert.equal(res.status, 200, path);
  return res.json();
}

const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/${CONTROLLER_MANAGER_NAME}`;
const modelsPath = `/apis/registry.matrixinfer.ai/v1alpha1/namespaces/${NS}/models`;

function model(name: string): Record<string, unknown> {
  return {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'Model',
    metadata: { name },
    spec: {
      modelSpec: { modelId: name, framework: 'pytorch', version: '1', source: { uri: `huggingface://example/${name}` } },
      runtime: { image: 'matrixinfer/pytorch-runtime:latest' },
    },
  };
}

async function createModel(name: string): Promise<void> {
  const res = await cluster.fetch(modelsPath, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(model(name)) });
  assert.equal(res.status, 201, await res.text());
}

async function pods(): Promise<any[]> {
  return (await get(`/api/v1/namespaces/${NS}/pods`)).items;
}

test('leader election: the leader SIGKILLed, the other manager takes over within the lease duration, nothing done twice', { timeout: 300_000 }, async () => {
  const managerArgs = (identity: string) => ['controller-manager', '--kubeconfig', cluster.kubeconfigPath, '--namespace', NS, '--identity', identity];
  const a = startComponent('manager-a', managerArgs('manager-a'));
  await until('manager-a to lead', async () => (await get(leasePath))?.spec?.holderIdentity === 'manager-a', 60_000, 200);
  const b = startComponent('manager-b', managerArgs('manager-b'));
  await until('manager-b to start campaigning', () => b.output().includes('leader is'), 60_000, 200);

  await createModel('alpha');
  await until('alpha reconciled by the leader', async () => {
    const m = await get(`${modelsPath}/alpha`);
    return m?.status?.observedGeneration === m?.metadata.generation && (await pods()).length === 1;
  }, 60_000, 200);
  assert.ok(!b.output().includes('controllers started'), 'the follower must not run controllers');
  const before = {
    modelInfer: (await get(`/apis/workload.matrixinfer.ai/v1alpha1/namespaces/${NS}/modelinfers/alpha`)).metadata.uid as string,
    pods: (await pods()).map((p) => `${p.metadata.name}/${p.metadata.uid}`),
  };

  // Watch observedGeneration through the failover: it may only go up.
  const seen = new Map<string, number>();
  const regressions: string[] = [];
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      for (const m of (await get(modelsPath)).items as any[]) {
        const g = m.status?.observedGeneration as number | undefined;
        if (g === undefined) continue;
        const last = seen.get(m.metadata.name);
        if (last !== undefined && g < last) regressions.push(`${m.metadata.name}: ${last} -> ${g}`);
        seen.set(m.metadata.name, g);
      }
      await sleep(200);
    }
  })();

  const killedAt = Date.now();
  await kill(a.child, 'SIGKILL');
  const lastRenewal = Date.parse((await get(leasePath)).spec.renewTime);
  // Work that arrives while nobody leads: a new Model, and a change to the old one.
  await createModel('beta');
  const patched = await cluster.fetch(`${modelsPath}/alpha`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { serving: { timeout: '90s' } } }) });
  assert.equal(patched.status, 200, await patched.text());
  const lease = await until('manager-b to take the lease', async () => {
    const l = await get(leasePath);
    return l?.spec?.holderIdentity === 'manager-b' ? l : undefined;
  }, 60_000, 100);
  const takeoverMs = Date.now() - killedAt;
  const acquiredAfterRenewalMs = Date.parse(lease.spec.acquireTime) - lastRenewal;
  console.log(
    `# leader failover: manager-b acquired the lease ${(acquiredAfterRenewalMs / 1000).toFixed(1)} s after manager-a's last renewal, ` +
      `${(takeoverMs / 1000).toFixed(1)} s after the kill (lease duration ${LEASE_DURATION_MS / 1000} s, retry period ${RETRY_PERIOD_MS / 1000} s)`,
  );
  assert.equal(lease.spec.leaseDurationSeconds, LEASE_DURATION_MS / 1000);
  assert.ok(lease.spec.leaseTransitions >= 1);
  // Never before the lease expired (no two leaders), and right after: the follower wakes when the lease runs out
  // (leaseDuration from the last renewal), so the takeover lands within the lease duration of the kill plus the
  // time for one API round trip on a loaded machine.
  assert.ok(acquiredAfterRenewalMs >= LEASE_DURATION_MS, `taken ${acquiredAfterRenewalMs} ms after the last renewal: before the lease expired`);
  assert.ok(acquiredAfterRenewalMs <= LEASE_DURATION_MS + 1_000, `taken ${acquiredAfterRenewalMs} ms after the last renewal`);
  assert.ok(takeoverMs <= LEASE_DURATION_MS + 1_000, `taken over ${takeoverMs} ms after the kill`);

  await until('beta and alpha reconciled by the new leader', async () => {
    const alpha = await get(`${modelsPath}/alpha`);
    const beta = await get(`${modelsPath}/beta`);
    return alpha.status?.observedGeneration === alpha.metadata.generation && beta?.status?.observedGeneration === beta.metadata.generation && (await pods()).length === 2;
  }, 60_000, 200);
  await sleep(3_000); // let any duplicate work show
  watching = false;
  await watcher;

  const after = await pods();
  assert.equal(after.length, 2, `pods: ${after.map((p) => p.metadata.name).join(', ')}`);
  assert.deepEqual(after.map((p) => p.metadata.name).sort(), ['alpha-0-server-0', 'beta-0-server-0']);
  assert.ok(before.pods.includes(`alpha-0-server-0/${after.find((p) => p.metadata.name === 'alpha-0-server-0').metadata.uid}`), 'alpha pod kept (not recreated)');
  assert.equal((await get(`/apis/workload.matrixinfer.ai/v1alpha1/namespaces/${NS}/modelinfers/alpha`)).metadata.uid, before.modelInfer, 'alpha ModelInfer kept');
  assert.equal((await get(`/apis/workload.matrixinfer.ai/v1alpha1/namespaces/${NS}/modelinfers`)).items.length, 2);
  assert.deepEqual(regressions, []);
  assert.equal(seen.get('alpha'), 2);
  assert.match(b.output(), /controllers started/);
});

test('gateways are active-active: two gateways route the same model at once', { timeout: 300_000 }, async () => {
  startComponent('agent', ['agent', '--kubeconfig', cluster.kubeconfigPath]);
  const ports = [await freePort(), await freePort()];
  const gateways = ports.map((port, i) => startComponent(`gateway-${i}`, ['gateway', '--kubeconfig', cluster.kubeconfigPath, '--port', String(port)]));
  for (const g of gateways) await until('gateway listening', () => g.output().includes('gateway listening'), 60_000, 200);
  const ask = async (port: number, modelName: string) => {
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: modelName, messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 }),
    });
    return { status: res.status, body: await res.text() };
  };
  // Both models' engines must be up first: beta was created during the failover above and may still be starting.
  const allAnswer = async () => {
    for (const port of ports) for (const name of ['alpha', 'beta']) if ((await ask(port, name)).status !== 200) return false;
    return true;
  };
  await until('both gateways to answer for alpha and beta', allAnswer, 180_000, 1_000);
  // Interleaved traffic through both, for both models: every request answered.
  for (let i = 0; i < 10; i++) {
    for (const port of ports) {
      const res = await ask(port, i % 2 ? 'alpha' : 'beta');
      assert.equal(res.status, 200, `gateway :${port}: ${res.body}`);
      assert.ok(JSON.parse(res.body).choices[0].message.content !== undefined);
    }
  }
  // One gateway gone, the other keeps serving.
  await kill(gateways[0]!.child, 'SIGTERM');
  assert.equal((await ask(ports[1]!, 'alpha')).status, 200);
});
