// Resilience configured through the CRDs, end to end: the embedded API server (project CRDs), simulated engines on
// their own loopback pod IPs with the engine's fault injection, and the gateway watching it all, with its debug
// listener on loopback. A ModelServer's routing.retries / timeout / circuitBreaker take effect on the next request
// after an edit, without a restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApiServer, projectCrds, type TestApiServer } from '../../src/kube/testing/apiserver.ts';
import { startEngine, type EngineServer } from '../../src/engine/server.ts';
import { parseEngineArgs } from '../../src/engine/options.ts';
import { startGateway, type GatewayHandle } from '../../src/gateway/gateway.ts';
import { until } from '../../src/kube/testing/until.ts';
import { readyPod } from '../support/pods.ts';
import { fastEngineArgs } from '../support/engines.ts';

const NET = '/apis/networking.matrixinfer.ai/v1alpha1/namespaces/default';
const GOOD = '127.0.0.81';
const BAD = '127.0.0.82';

let api: TestApiServer;
let good: EngineServer;
let bad: EngineServer;
let gw: GatewayHandle;

function engineArgs(ip: string, port: number): string[] {
  return fastEngineArgs('llama', ip, port);
}

interface DebugServer {
  server: string;
  retries: number;
  timeoutMs: number | null;
  circuitBreaker: { consecutiveFailures: number; baseEjectionMs: number };
  endpoints: string[];
}

async function debugServers(): Promise<DebugServer[]> {
  return (await (await fetch(gw.debugUrl + '/debug/config_dump/servers')).json()) as DebugServer[];
}

async function complete(): Promise<{ status: number }> {
  const res = await fetch(gw.url + '/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'llama', prompt: 'hi', max_tokens: 2 }) });
  await res.arrayBuffer();
  return { status: res.status };
}

async function badRequests(): Promise<number> {
  return ((await (await fetch(bad.url + '/admin/faults')).json()) as { requests: number }).requests;
}

before(async () => {
  api = await startTestApiServer();
  await api.installCrds(projectCrds());
  good = await startEngine(parseEngineArgs(engineArgs(GOOD, 0), { warn: () => {} }));
  bad = await startEngine(parseEngineArgs(engineArgs(BAD, good.port), { warn: () => {} }));
  gw = await startGateway({ kubeConfig: api.kubeConfig, port: 0, debugPort: 0, accessLog: false, log: () => {} });
  await gw.ready;
  await api.call('POST', `${NET}/modelservers`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelServer',
    metadata: { name: 'llama-server' },
    spec: { modelInferRef: { name: 'llama-infer' }, service: { port: good.port }, routing: { retries: 0 } },
  });
  await api.call('POST', `${NET}/modelroutes`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelRoute',
    metadata: { name: 'llama' },
    spec: { modelName: 'llama', rules: [{ targetModels: [{ modelServerName: 'llama-server' }] }] },
  });
  await readyPod(api, 'llama-0', 'llama-infer', GOOD);
  await readyPod(api, 'llama-1', 'llama-infer', BAD);
  await until('two endpoints', async () => (await debugServers())[0]?.endpoints.length === 2);
});

after(async () => {
  await gw?.close();
  await Promise.all([good?.close(), bad?.close()]);
  await api?.close();
});

test('the debug listener is on loopback and shows the CRD configuration', async () => {
  assert.match(String(gw.debugUrl), /^http:\/\/127\.0\.0\.1:\d+$/);
  const [s] = await debugServers();
  assert.equal(s!.server, 'default/llama-server');
  assert.equal(s!.retries, 0);
  assert.equal(s!.timeoutMs, null);
  assert.equal(s!.circuitBreaker.consecutiveFailures, 5);
});

test('routing.retries and circuitBreaker edits take effect without a restart', async () => {
  await fetch(bad.url + '/admin/faults', { method: 'PUT', body: JSON.stringify({ failureRate: 1, failureTypes: ['overloaded'] }) });
  // retries: 0 — a request that lands on the failing pod gets its 503.
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await complete()).status);
  assert.ok(statuses.includes(503) && statuses.includes(200), statuses.join(','));

  await api.call('PATCH', `${NET}/modelservers/llama-server`, { spec: { routing: { retries: 2, timeout: '5s', circuitBreaker: { consecutiveFailures: 2, baseEjectionTime: '30s' } } } }, 'application/merge-patch+json');
  await until('the edit in the gateway', async () => (await debugServers())[0]?.retries === 2);
  const [s] = await debugServers();
  assert.equal(s!.timeoutMs, 5000);
  assert.deepEqual([s!.circuitBreaker.consecutiveFailures, s!.circuitBreaker.baseEjectionMs], [2, 30_000]);
  // Now every request succeeds (the failing pod's 503s are retried on the other), and after two more failures
  // the pod is ejected: it stops receiving requests at all.
  for (let i = 0; i < 10; i++) assert.equal((await complete()).status, 200);
  const endpoints = (await (await fetch(gw.debugUrl + '/debug/config_dump/endpoints')).json()) as Array<{ address: string; circuit: { state: string } }>;
  assert.equal(endpoints.find((e) => e.address.startsWith(BAD))!.circuit.state, 'open');
  const before = await badRequests();
  for (let i = 0; i < 6; i++) assert.equal((await complete()).status, 200);
  assert.equal(await badRequests(), before, 'the ejected pod gets nothing');
  await fetch(bad.url + '/admin/faults', { method: 'DELETE' });
});
