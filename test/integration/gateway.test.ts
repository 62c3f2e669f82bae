// The gateway end to end on loopback: the embedded API server (with the CRDs; or a real kube-apiserver with
// MATRIXINFER_TEST_APISERVER=real, as `npm run test:cluster` runs it), two simulated engines on their
// own loopback "pod IPs", ModelServer/ModelRoute/Pod objects written through the API (pod status written by the
// test, standing in for the node agent), and the gateway watching it all. Clients: the `openai` SDK and fetch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import OpenAI from 'openai';
import { startEngine, type EngineServer } from '../../src/engine/server.ts';
import { parseEngineArgs } from '../../src/engine/options.ts';
import { startGateway, type GatewayHandle } from '../../src/gateway/gateway.ts';
import { until } from '../../src/kube/testing/until.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { createEnginePod, setPodStatus } from '../support/pods.ts';

const ENGINE_MODEL = 'meta-llama/Llama-2-7b-hf';
const NET = '/apis/networking.matrixinfer.ai/v1alpha1/namespaces/default';
const IP_A = '127.0.0.31';
const IP_B = '127.0.0.32';

let api: TestCluster;
let engineA: EngineServer;
let engineB: EngineServer;
let gw: GatewayHandle;
let client: OpenAI;
const accessLog: Array<Record<string, unknown>> = [];

function engineArgs(ip: string, port: number): string[] {
  return [ENGINE_MODEL, '--host', ip, '--port', String(port), '--time-to-first-token-ms', '2', '--inter-token-latency-ms', '2', '--inter-token-latency-per-seq-ms', '0'];
}

async function meta(path: string): Promise<{ endpoints: number; ready: boolean; name: string }> {
  const res = await fetch(gw.url + path);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
  return (await res.json()) as { endpoints: number; ready: boolean; name: string };
}

async function gatewayMetric(pattern: RegExp): Promise<number | undefined> {
  const text = await (await fetch(gw.url + '/metrics')).text();
  const m = pattern.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** matrixinfer_gateway_routing_decisions_total of the endpoint at `ip`, by scorer label. */
async function routingDecisions(ip: string): Promise<Record<string, number>> {
  const text = await (await fetch(gw.url + '/metrics')).text();
  const re = new RegExp(`^matrixinfer_gateway_routing_decisions_total\\{[^}]*address="${ip.replaceAll('.', '\\.')}:\\d+",scorer="([^"]+)"\\} (\\d+)$`, 'gm');
  return Object.fromEntries([...text.matchAll(re)].map((m) => [m[1]!, Number(m[2])]));
}
const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

async function endpointRequests(ip: string): Promise<number> {
  return (await gatewayMetric(new RegExp(`matrixinfer_gateway_endpoint_requests_total\\{[^}]*address="${ip.replaceAll('.', '\\.')}:\\d+"\\} (\\d+)`))) ?? 0;
}

before(async () => {
  api = await startTestCluster(); // with the project CRDs

  engineA = await startEngine(parseEngineArgs(engineArgs(IP_A, 0), { warn: () => {} }));
  engineB = await startEngine(parseEngineArgs(engineArgs(IP_B, engineA.port), { warn: () => {} }));
  const port = engineA.port;

  const log = new PassThrough();
  log.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line) accessLog.push(JSON.parse(line) as Record<string, unknown>);
  });
  gw = await startGateway({ kubeConfig: api.kubeConfig, port: 0, accessLog: log, log: () => {} });
  await gw.ready;
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });

  await api.call('POST', `${NET}/modelservers`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelServer',
    metadata: { name: 'llama-server' },
    spec: {
      modelInferRef: { name: 'llama-7b-infer' },
      model: ENGINE_MODEL,
      service: { type: 'ClusterIP', port: 8080, targetPort: port },
      routing: { path: '/v1/models/llama-7b', timeout: '30s' },
    },
  });
  await api.call('POST', `${NET}/modelroutes`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelRoute',
    metadata: { name: 'llama' },
    spec: { modelName: 'llama-7b', rules: [{ targetModels: [{ modelServerName: 'llama-server' }] }] },
  });
  await api.call('POST', `${NET}/modelservers`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelServer',
    metadata: { name: 'idle-server' },
    spec: { modelInferRef: { name: 'idle-infer' }, service: { port } },
  });
  await api.call('POST', `${NET}/modelroutes`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelRoute',
    metadata: { name: 'idle' },
    spec: { modelName: 'idle-model', rules: [{ targetModels: [{ modelServerName: 'idle-server' }] }] },
  });
  await createEnginePod(api, 'llama-0', 'llama-7b-infer');
  await createEnginePod(api, 'llama-1', 'llama-7b-infer');
  await createEnginePod(api, 'idle-0', 'idle-infer');
  await setPodStatus(api, 'llama-0', IP_A, true);
  await setPodStatus(api, 'llama-1', IP_B, true);
  await setPodStatus(api, 'idle-0', '127.0.0.33', false);
  await until('two ready endpoints in the gateway', async () => (await meta('/v1/models/llama-7b')).endpoints === 2);
});

after(async () => {
  await gw?.close();
  await engineA?.close();
  await engineB?.close();
  await api?.stop();
});

test('readiness and health', async () => {
  assert.equal((await fetch(gw.url + '/ready')).status, 200);
  assert.deepEqual(await (await fetch(gw.url + '/health')).json(), { status: 'ok' });
});

test('chat completion through the openai SDK (model rewritten to the engine model)', async () => {
  const res = await client.chat.completions.create({ model: 'llama-7b', messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 8 });
  assert.equal(res.object, 'chat.completion');
  assert.equal(res.model, ENGINE_MODEL);
  assert.equal(typeof res.choices[0]!.message.content, 'string');
  assert.ok(res.usage!.completion_tokens > 0);
});

test('streaming chat completion: chunks, then [DONE]', async () => {
  const stream = await client.chat.completions.create({ model: 'llama-7b', messages: [{ role: 'user', content: 'Count' }], max_tokens: 12, stream: true });
  let chunks = 0;
  let text = '';
  for await (const chunk of stream) {
    chunks++;
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.ok(chunks >= 3, `${chunks} chunks`);
  assert.ok(text.length > 0);
  const raw = await fetch(gw.url + '/v1/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'llama-7b', prompt: 'Once upon', max_tokens: 5, stream: true }),
  });
  assert.match(raw.headers.get('content-type') ?? '', /text\/event-stream/);
  assert.match(await raw.text(), /data: \[DONE\]\n\n$/);
});

test('GET /v1/models lists the routed model names', async () => {
  const ids: string[] = [];
  for await (const m of client.models.list()) {
    ids.push(m.id);
    assert.equal(m.owned_by, 'matrixinfer');
  }
  assert.deepEqual(ids.sort(), ['idle-model', 'llama-7b']);
});

test('seed infer path and model metadata', async () => {
  const res = await fetch(gw.url + '/v1/models/llama-7b/infer', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: { text: 'Hello world' }, parameters: { max_tokens: 6, temperature: 0 } }),
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { model_name: string; id: string; outputs: { text: string; finish_reason: string }; usage: Record<string, number> };
  assert.equal(body.model_name, ENGINE_MODEL);
  assert.equal(typeof body.id, 'string');
  assert.equal(typeof body.outputs.text, 'string');
  assert.equal(body.outputs.finish_reason, 'length');
  assert.equal(body.usage.completion_tokens, 6);
  assert.equal(body.usage.total_tokens, body.usage.prompt_tokens! + 6);
  const m = await meta('/v1/models/llama-7b');
  assert.equal(m.name, ENGINE_MODEL);
  assert.equal(m.ready, true);
});

test('errors: unknown model 404, missing model 400, no ready pod 503 — OpenAI-shaped', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
    (err: unknown) => err instanceof OpenAI.NotFoundError && err.status === 404 && err.code === 'model_not_found',
  );
  const missing = await fetch(gw.url + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"messages":[]}' });
  assert.equal(missing.status, 400);
  assert.equal(((await missing.json()) as { error: { code: string; type: string } }).error.type, 'invalid_request_error');
  await assert.rejects(
    client.chat.completions.create({ model: 'idle-model', messages: [{ role: 'user', content: 'x' }] }),
    (err: unknown) => err instanceof OpenAI.APIError && err.status === 503 && err.code === 'no_healthy_upstream',
  );
});

test('client abort mid-stream aborts the engine request and frees the in-flight counters', async () => {
  const ac = new AbortController();
  const stream = await client.chat.completions.create(
    { model: 'llama-7b', messages: [{ role: 'user', content: 'Write a long story' }], max_tokens: 2000, stream: true },
    { signal: ac.signal },
  );
  let got = 0;
  try {
    for await (const _ of stream) {
      if (++got === 2) {
        assert.equal(await gatewayMetric(/matrixinfer_gateway_inflight_requests\{model="llama-7b"\} (\d+)/), 1);
        assert.equal(engineA.scheduler.numRunning + engineB.scheduler.numRunning, 1);
        ac.abort();
      }
    }
  } catch (err) {
    // Depending on timing the SDK ends the iteration quietly or throws its abort error.
    assert.ok(err instanceof OpenAI.APIUserAbortError || (err as Error).name === 'AbortError', String(err));
  }
  assert.ok(got >= 2 && got < 200, `stopped after ${got} chunks`);
  await until('in-flight counters back to 0', async () => (await gatewayMetric(/matrixinfer_gateway_inflight_requests\{model="llama-7b"\} (\d+)/)) === 0);
  const perEndpoint = await gatewayMetric(/matrixinfer_gateway_endpoint_inflight\{[^}]*\} ([1-9]\d*)/);
  assert.equal(perEndpoint, undefined, 'no endpoint has outstanding requests');
  await until('the engine dropped the request', async () => engineA.scheduler.numRunning + engineB.scheduler.numRunning === 0, 3000);
  const line = accessLog.find((l) => l.status === 499);
  assert.ok(line, 'the abort is in the access log as 499');
});

test('two engines share the load; a pod that turns unready stops receiving traffic', async () => {
  const a0 = await endpointRequests(IP_A);
  const b0 = await endpointRequests(IP_B);
  const decided0 = sum(await routingDecisions(IP_A)) + sum(await routingDecisions(IP_B));
  await Promise.all(
    Array.from({ length: 10 }, () => client.completions.create({ model: 'llama-7b', prompt: 'Balance me', max_tokens: 10 })),
  );
  const a1 = await endpointRequests(IP_A);
  const b1 = await endpointRequests(IP_B);
  assert.equal(a1 - a0 + (b1 - b0), 10);
  assert.ok(a1 - a0 >= 4 && b1 - b0 >= 4, `split ${a1 - a0}/${b1 - b0}`);
  // Every pick is counted once, with what decided it: one of the default profile's scorers, or a tie between equals.
  const decidedA = await routingDecisions(IP_A);
  assert.equal(sum(decidedA) + sum(await routingDecisions(IP_B)) - decided0, 10);
  for (const scorer of Object.keys(decidedA)) assert.ok(['ttft', 'lora-affinity', 'tie'].includes(scorer), scorer);

  await setPodStatus(api, 'llama-1', IP_B, false);
  await until('one endpoint left', async () => (await meta('/v1/models/llama-7b')).endpoints === 1);
  const singleA = (await routingDecisions(IP_A)).single ?? 0;
  for (let i = 0; i < 4; i++) await client.completions.create({ model: 'llama-7b', prompt: 'Only A', max_tokens: 2 });
  assert.equal(await endpointRequests(IP_A), a1 + 4);
  assert.equal((await routingDecisions(IP_A)).single, singleA + 4, 'one candidate left: decided by `single`');

  await setPodStatus(api, 'llama-1', IP_B, true);
  await until('two endpoints again', async () => (await meta('/v1/models/llama-7b')).endpoints === 2);
  await api.call('DELETE', '/api/v1/namespaces/default/pods/llama-0');
  await until('deleted pod gone', async () => (await meta('/v1/models/llama-7b')).endpoints === 1);
  const res = await client.completions.create({ model: 'llama-7b', prompt: 'Only B', max_tokens: 2 });
  assert.equal(res.model, ENGINE_MODEL);
});

test('access log lines carry request id, route, server, pod, status and timings', async () => {
  await fetch(gw.url + '/v1/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': 'it-req-1' },
    body: JSON.stringify({ model: 'llama-7b', prompt: 'log me', max_tokens: 2 }),
  }).then((r) => r.arrayBuffer());
  const line = await until('the access log line', async () => accessLog.find((l) => l.request_id === 'it-req-1'));
  assert.equal(line.route, 'default/llama');
  assert.equal(line.server, 'default/llama-server');
  assert.match(String(line.pod), /^default\/llama-[01]$/);
  assert.equal(line.status, 200);
  assert.equal(typeof line.duration_ms, 'number');
  assert.equal(typeof line.ttfb_ms, 'number');
});

test('the gateway rides out an API server restart and keeps following changes', async () => {
  await api.down();
  // Requests keep being served from the routing table while the API is away.
  const during = await client.completions.create({ model: 'llama-7b', prompt: 'API down', max_tokens: 2 });
  assert.equal(during.model, ENGINE_MODEL);
  await api.up();
  await api.call('POST', `${NET}/modelroutes`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelRoute',
    metadata: { name: 'alias' },
    spec: { modelName: 'llama-alias', rules: [{ targetModels: [{ modelServerName: 'llama-server' }] }] },
  });
  await until(
    'the new route',
    async () => {
      const res = await fetch(gw.url + '/v1/models/llama-alias');
      return res.status === 200;
    },
    60_000,
  );
  const res = await client.completions.create({ model: 'llama-alias', prompt: 'after restart', max_tokens: 2 });
  assert.equal(res.model, ENGINE_MODEL);
});
