// Starts from zero end to end: the embedded API server with admission (or a real kube-apiserver:
// MATRIXINFER_TEST_APISERVER=real), the controller manager, the node agent running
// simulated engines as processes, and two gateways. A ModelInfer + ModelServer + ModelRoute (as a Model's children,
// standalone, so no Model controller sets replicas back) at `replicas: 0`:
//   1. the first requests, one to each gateway at the same moment, are held; the gateways race to write 0→1 and the
//      ModelInfer ends at 1 replica (one pod); the node agent starts the engine; both requests are answered 200.
//   2. an engine that never gets ready (a 10-minute simulated load) with routing.timeout 3s: past the queue bound
//      (2 on the first gateway) 503 at once, the held requests 503 after 3 s; both with retry-after.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { ServedModel as Model, ModelInfer } from '../../src/api/kinds/index.ts';
import { startNodeAgent, type NodeAgent } from '../../src/agent/agent.ts';
import { startControllerManager, type ControllerManager } from '../../src/controllers/manager.ts';
import { MODEL_INFERS, MODEL_ROUTES, MODEL_SERVERS, PODS } from '../../src/controllers/resources.ts';
import { desiredModelInfer, desiredModelRoute, desiredModelServer } from '../../src/controllers/model/desired.ts';
import { startGateway, type GatewayHandle } from '../../src/gateway/gateway.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { createLogger } from '../../src/kube/log.ts';
import { until } from '../../src/kube/testing/until.ts';
import { admissionPlugins } from '../../src/webhooks/plugins.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { memoryLogger } from '../support/platform.ts';
import { testModel } from '../support/models.ts';

const NS = 'default';
const home = mkdtempSync(join(tmpdir(), 'matrixinfer-from-zero-'));
const agentLog: string[] = [];
const gatewayLog: string[] = [];
let cluster: TestCluster;
let client: KubeClient;
let manager: ControllerManager;
let agent: NodeAgent;
let small: GatewayHandle;
let other: GatewayHandle;
const accessLog: Array<Record<string, unknown>> = [];

function model(name: string, args: string[], timeout?: string): Model {
  return testModel(name, NS, { runtime: { replicas: 0, args }, ...(timeout ? { spec: { serving: { timeout } } } : {}) });
}

/** A Model's ModelInfer (at 0 replicas), ModelServer and ModelRoute, created standalone. */
async function atZero(m: Model): Promise<void> {
  const standalone = <T extends { metadata: { ownerReferences?: unknown } }>(o: T): T => ({ ...o, metadata: { ...o.metadata, ownerReferences: undefined } });
  const mi = standalone(desiredModelInfer(m));
  mi.spec.replicas = 0;
  await client.create(MODEL_INFERS, mi);
  await client.create(MODEL_SERVERS, standalone(desiredModelServer(m)));
  await client.create(MODEL_ROUTES, standalone(desiredModelRoute(m)));
}

async function listed(gw: GatewayHandle, name: string): Promise<boolean> {
  const body = (await (await fetch(`${gw.url}/v1/models`)).json()) as { data: Array<{ id: string }> };
  return body.data.some((d) => d.id === name);
}

function complete(gw: GatewayHandle, name: string, id: string): Promise<Response> {
  return fetch(`${gw.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': id },
    body: JSON.stringify({ model: name, prompt: 'hello from zero', max_tokens: 4 }),
  });
}

async function metric(gw: GatewayHandle, name: string): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

before(async () => {
  cluster = await startTestCluster(undefined, { admission: admissionPlugins });
  client = new KubeClient(cluster.kubeConfig);
  manager = await startControllerManager({ kubeConfig: cluster.kubeConfig, logger: createLogger('controller-manager', 'warn') });
  agent = await startNodeAgent({ kubeConfig: cluster.kubeConfig, home, log: memoryLogger(agentLog) });
  const out = new PassThrough();
  out.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line) accessLog.push(JSON.parse(line) as Record<string, unknown>);
  });
  const log = (m: string): void => void gatewayLog.push(m);
  small = await startGateway({ kubeConfig: cluster.kubeConfig, port: 0, accessLog: out, log, holdQueueSize: 2 });
  other = await startGateway({ kubeConfig: cluster.kubeConfig, port: 0, accessLog: out, log });
  await Promise.all([small.ready, other.ready]);
});

after(async () => {
  await small?.close();
  await other?.close();
  await agent?.stop();
  await manager?.stop();
  await cluster?.stop();
  rmSync(home, { recursive: true, force: true });
});

test('a request at zero replicas is held while two racing gateways start one replica, then answered', async (t) => {
  await atZero(model('cold', ['--time-to-first-token-ms', '1', '--inter-token-latency-ms', '1']));
  await until('both gateways route cold', async () => (await listed(small, 'cold')) && (await listed(other, 'cold')), 10_000, 50);
  const t0 = performance.now();
  const [a, b] = await Promise.all([complete(small, 'cold', 'cold-a'), complete(other, 'cold', 'cold-b')]);
  const waited = performance.now() - t0;
  assert.equal(a.status, 200, await a.clone().text());
  assert.equal(b.status, 200, await b.clone().text());
  await Promise.all([a.text(), b.text()]);
  const mi = (await client.get<ModelInfer>(MODEL_INFERS, NS, 'cold'))!;
  assert.equal(mi.spec.replicas, 1, 'two gateways racing: one replica, not two');
  const pods = await client.list(PODS, { namespace: NS, labelSelector: 'workload.matrixinfer.ai/modelinfer-name=cold' });
  assert.equal(pods.items.length, 1);
  const writes = { scaled: 0, notAtZero: 0 };
  for (const gw of [small, other]) {
    writes.scaled += await metric(gw, 'matrixinfer_gateway_scale_from_zero_total{namespace="default",model_infer="cold",outcome="scaled"}');
    writes.notAtZero += await metric(gw, 'matrixinfer_gateway_scale_from_zero_total{namespace="default",model_infer="cold",outcome="not_at_zero"}');
  }
  assert.equal(writes.scaled, 1, gatewayLog.join('\n'));
  const lines = await until('access log', () => {
    const l = accessLog.filter((x) => x.request_id === 'cold-a' || x.request_id === 'cold-b');
    return l.length === 2 && l;
  });
  for (const l of lines) assert.ok(Number(l.wait_ms) > 0, JSON.stringify(l));
  t.diagnostic(
    `cold start (0→1 write, pod, engine process with the agent's default simulated load, readiness, dispatch): first request answered after ${Math.round(waited)} ms; ` +
      `held ${lines.map((l) => `${l.request_id} ${l.wait_ms} ms`).join(', ')}; writes: ${writes.scaled} scaled, ${writes.notAtZero} lost the race`,
  );
  // Now served without waiting.
  const warm = await complete(small, 'cold', 'cold-warm');
  assert.equal(warm.status, 200);
  await warm.text();
  assert.equal((await until('warm logged', () => accessLog.find((x) => x.request_id === 'cold-warm'))).wait_ms, null);
});

test('an engine that never gets ready: past the queue bound 503 at once, past routing.timeout 503; both with retry-after', async (t) => {
  await atZero(model('never', ['--startup-seconds', '600'], '3s'));
  await until('the gateway routes never', () => listed(small, 'never'), 10_000, 50);
  const t0 = performance.now();
  const held = [complete(small, 'never', 'never-1'), complete(small, 'never', 'never-2')];
  await until('two held', async () => (await metric(small, 'matrixinfer_gateway_held_requests{namespace="default",model_server="never"}')) === 2, 5000, 20);
  const over = await complete(small, 'never', 'never-3');
  const overBody = (await over.json()) as { error: { code: string } };
  assert.equal(over.status, 503);
  assert.equal(overBody.error.code, 'model_scaling_from_zero');
  assert.ok(Number(over.headers.get('retry-after')) > 0);
  assert.ok(performance.now() - t0 < 2500, 'refused at once');
  for (const res of await Promise.all(held)) {
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(res.status, 503);
    assert.equal(body.error.code, 'model_scaling_from_zero');
    assert.ok(Number(res.headers.get('retry-after')) > 0);
  }
  const waited = performance.now() - t0;
  assert.ok(waited >= 2900 && waited < 8000, `held ${waited} ms`);
  assert.equal((await client.get<ModelInfer>(MODEL_INFERS, NS, 'never'))!.spec.replicas, 1, 'started all the same');
  t.diagnostic(`never-ready engine: the held requests were answered 503 after ${Math.round(waited)} ms (routing.timeout 3s)`);
});
