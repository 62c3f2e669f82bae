// A StaticRoute end to end (issue 12): simulated engines started directly, which the platform does not manage (no
// Model, no ModelInfer, no pod), named by a StaticRoute next to a backend where nothing listens; the controller
// manager's StaticRoute controller probes them and writes status.backends[]; the gateway serves the StaticRoute's
// model from the healthy ones. Checked: a chat completion with the openai SDK served by such an engine (a host name,
// localhost, among the backends), round-robin across the two healthy backends, cookie (and header) session affinity
// after a switch to routingLogic session, a backend that goes down left out once the controller marks it
// unhealthy, and a ModelRoute for the same model name (created later) served first while its pod is ready, the
// StaticRoute taking over when it is not. Runs against the embedded API server (or a real one: MATRIXINFER_TEST_APISERVER=real).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import OpenAI from 'openai';
import type { StaticRoute } from '../../src/api/kinds/index.ts';
import { startEngine, type EngineServer } from '../../src/engine/server.ts';
import { parseEngineArgs } from '../../src/engine/options.ts';
import { startGateway, type GatewayHandle } from '../../src/gateway/gateway.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { createLogger } from '../../src/kube/log.ts';
import { startControllerManager, type ControllerManager } from '../../src/controllers/manager.ts';
import { MODEL_ROUTES, MODEL_SERVERS, STATIC_ROUTES } from '../../src/controllers/resources.ts';
import { admissionPlugins } from '../../src/webhooks/plugins.ts';
import { until } from '../../src/kube/testing/until.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { createEnginePod, setPodStatus } from '../support/pods.ts';

const NS = 'default';
const MODEL = 'facebook/opt-125m';
const ROUTE = 'external-vllm';
const ENGINE_ARGS = ['--port', '0', '--time-to-first-token-ms', '1', '--inter-token-latency-ms', '1', '--inter-token-latency-per-seq-ms', '0'];

let cluster: TestCluster;
let client: KubeClient;
let manager: ControllerManager;
let gw: GatewayHandle;
let openai: OpenAI;
let engineA: EngineServer;
let engineB: EngineServer;
/** The engine of a ModelRoute's pod (127.0.0.74), for the precedence test. */
let engineC: EngineServer;
/** Backend URLs as the StaticRoute names them: A by host name, B by address, and one where nothing listens. */
let urlA: string;
let urlB: string;
let urlDead: string;
const accessLog: Array<Record<string, unknown>> = [];

/** A loopback port nothing listens on (bound, then released). */
async function deadPort(host: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Requests the engine itself finished (its vllm:request_success_total, every finished_reason). */
async function served(engine: EngineServer): Promise<number> {
  const text = await (await fetch(`${engine.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('vllm:request_success_total{'))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/** One chat completion through the gateway; the backend (`pod` of the access log: namespace/host:port) it went to. */
async function chat(headers: Record<string, string> = {}): Promise<string> {
  const before = accessLog.length;
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'Hello' }], max_tokens: 2 }),
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  const line = await until('access log line', () => accessLog.slice(before).find((l) => l.status === 200));
  return String(line.pod);
}

const backendOf = (url: string) => `${NS}/${new URL(url).host}`;

async function staticRoute(): Promise<StaticRoute> {
  return (await client.get<StaticRoute>(STATIC_ROUTES, NS, ROUTE))!;
}

before(async () => {
  cluster = await startTestCluster(undefined, { admission: admissionPlugins });
  client = new KubeClient(cluster.kubeConfig);
  engineA = await startEngine(parseEngineArgs([MODEL, '--host', '127.0.0.1', ...ENGINE_ARGS], { warn: () => {} }));
  engineB = await startEngine(parseEngineArgs([MODEL, '--host', '127.0.0.72', ...ENGINE_ARGS], { warn: () => {} }));
  engineC = await startEngine(parseEngineArgs([MODEL, '--host', '127.0.0.74', ...ENGINE_ARGS], { warn: () => {} }));
  urlA = `http://localhost:${engineA.port}`;
  urlB = `http://127.0.0.72:${engineB.port}`;
  urlDead = `http://127.0.0.73:${await deadPort('127.0.0.73')}`;
  manager = await startControllerManager({ kubeConfig: cluster.kubeConfig, leaderElection: false, logger: createLogger('controller-manager', 'warn') });
  const log = new PassThrough();
  log.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line) accessLog.push(JSON.parse(line) as Record<string, unknown>);
  });
  gw = await startGateway({ kubeConfig: cluster.kubeConfig, port: 0, accessLog: log, log: () => {}, scrapeIntervalMs: 0 });
  await gw.ready;
  openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  await gw?.close();
  await manager?.stop();
  await engineA?.close();
  await engineB?.close();
  await engineC?.close();
  await cluster?.stop();
});

test('a chat completion through the gateway (openai SDK), served from a StaticRoute by an engine the platform does not manage', async () => {
  await client.create(STATIC_ROUTES, {
    apiVersion: 'production-stack.vllm.ai/v1alpha1',
    kind: 'StaticRoute',
    metadata: { name: ROUTE, namespace: NS },
    spec: {
      routingLogic: 'roundrobin',
      staticBackends: [urlA, urlB, urlDead].join(','),
      staticModels: [MODEL, MODEL, MODEL].join(','),
      healthCheck: { periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 1 },
    },
  });
  // The controller's probes: the two engines healthy, the dead backend not.
  const probed = await until('backends probed', async () => {
    const r = await staticRoute();
    return r?.status?.backends?.every((b) => b.lastChecked) && r.status.healthyBackends === 2 ? r : undefined;
  });
  assert.deepEqual(probed.status?.backends?.map((b) => [b.url, b.healthy]), [
    [urlA, true],
    [urlB, true],
    [urlDead, false],
  ]);
  // The gateway lists the model, and serves it once its table has the healthy backends.
  assert.ok((await openai.models.list()).data.some((m) => m.id === MODEL));
  await until('the gateway serves the StaticRoute', async () => (await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'ping' }], max_tokens: 1 }),
  })).status === 200);

  const before = (await served(engineA)) + (await served(engineB));
  const logged = accessLog.length;
  const completion = await openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Say hello from outside the platform.' }], max_tokens: 8 });
  assert.equal(completion.object, 'chat.completion');
  assert.equal(completion.model, MODEL);
  assert.equal(typeof completion.choices[0]?.message.content, 'string');
  assert.ok(completion.usage!.completion_tokens > 0);
  // Answered by one of the unmanaged engines: its own counter moved, and the gateway's log names it and the route.
  assert.equal((await served(engineA)) + (await served(engineB)), before + 1);
  const line = await until('access log', () => accessLog.slice(logged).find((l) => l.status === 200));
  assert.equal(line.route, `staticroute/${NS}/${ROUTE}`);
  assert.equal(line.server, `staticroute/${NS}/${ROUTE}/${MODEL}`);
  assert.ok([backendOf(urlA), backendOf(urlB)].includes(String(line.pod)), String(line.pod));
});

test('roundrobin: requests alternate between the two healthy backends; the dead one gets none', async () => {
  const pods: string[] = [];
  for (let i = 0; i < 10; i++) pods.push(await chat());
  for (let i = 1; i < pods.length; i++) assert.notEqual(pods[i], pods[i - 1], `a rotation: ${pods.join(' ')}`);
  assert.deepEqual(new Set(pods), new Set([backendOf(urlA), backendOf(urlB)]));
  assert.ok(!accessLog.some((l) => l.pod === backendOf(urlDead)), 'never sent to the unhealthy backend');
});

test('session: one session stays on one backend, by cookie (or header) of the sessionKey name; sessions spread', async () => {
  await client.mergePatch(STATIC_ROUTES, NS, ROUTE, { spec: { routingLogic: 'session', sessionKey: 'x-session-id' } });
  // Under round-robin four requests in a row never share a backend; with session affinity they do.
  await until('session profile in force', async () => {
    const pods = [];
    for (let i = 0; i < 4; i++) pods.push(await chat({ cookie: 'x-session-id=conversation-1' }));
    return new Set(pods).size === 1;
  }, 10_000, 50);
  const home = await chat({ cookie: 'theme=dark; x-session-id=conversation-1' });
  for (let i = 0; i < 8; i++) assert.equal(await chat({ cookie: `x-session-id=conversation-1; lang=en${i}` }), home, 'the cookie keeps the session on one backend');
  assert.equal(await chat({ 'x-session-id': 'conversation-1' }), home, 'the same id in the header lands on the same backend');
  // Different sessions use both backends.
  const homes = new Set<string>();
  for (let i = 0; i < 16; i++) homes.add(await chat({ cookie: `x-session-id=user-${i}` }));
  assert.deepEqual(homes, new Set([backendOf(urlA), backendOf(urlB)]));
});

test('a backend that goes down is left out once the controller marks it unhealthy; the others keep serving', async () => {
  await client.mergePatch(STATIC_ROUTES, NS, ROUTE, { spec: { routingLogic: 'roundrobin', sessionKey: null } });
  await engineB.close();
  const down = await until('backend B unhealthy', async () => {
    const r = await staticRoute();
    return r?.status?.backends?.find((b) => b.url === urlB)?.healthy === false ? r : undefined;
  }, 15_000, 100);
  assert.equal(down.status?.healthyBackends, 1);
  const logged = accessLog.length;
  for (let i = 0; i < 6; i++) assert.equal(await chat(), backendOf(urlA));
  assert.ok(accessLog.slice(logged).every((l) => l.attempts === 1), 'no attempt on the unhealthy backend');
});

test('a ModelRoute for the same model name comes first, though newer, while its pod is ready; then the StaticRoute serves', async () => {
  await createEnginePod(cluster, 'managed-0', 'managed');
  await setPodStatus(cluster, 'managed-0', '127.0.0.74', true);
  await client.create(MODEL_SERVERS, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelServer',
    metadata: { name: 'managed', namespace: NS },
    spec: { modelInferRef: { name: 'managed' }, service: { port: 8000, targetPort: engineC.port } },
  });
  await client.create(MODEL_ROUTES, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelRoute',
    metadata: { name: 'managed', namespace: NS },
    spec: { modelName: MODEL, rules: [{ targetModels: [{ modelServerName: 'managed' }] }] },
  });
  await until('the ModelRoute serves', async () => (await chat()) === `${NS}/managed-0`, 10_000, 50);
  const logged = accessLog.length;
  for (let i = 0; i < 4; i++) assert.equal(await chat(), `${NS}/managed-0`);
  assert.ok(accessLog.slice(logged).every((l) => l.route === `${NS}/managed`));

  // Its pod not ready: the route has no ready target and hands over to the StaticRoute.
  await setPodStatus(cluster, 'managed-0', '127.0.0.74', false);
  await until('the StaticRoute serves again', async () => (await chat()) === backendOf(urlA), 10_000, 50);
  const line = accessLog[accessLog.length - 1]!;
  assert.equal(line.route, `staticroute/${NS}/${ROUTE}`);
});
