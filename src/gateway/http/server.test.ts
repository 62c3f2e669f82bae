// The gateway's HTTP behaviour against fake engines and hand-built worlds (no Kubernetes API).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createCore, type TestableCore } from '../gateway.ts';
import { createGatewayServer } from './server.ts';
import { startFakeEngine, type FakeEngine } from '../testing/fake-engine.ts';
import { modelRoute, modelServer, pod, toServers } from '../testing/fixtures.ts';

let e1: FakeEngine;
let e2: FakeEngine;
let core: TestableCore;
let server: Server;
let url: string;
const logLines: Record<string, unknown>[] = [];

before(async () => {
  e1 = await startFakeEngine('e1', '127.0.0.2');
  e2 = await startFakeEngine('e2', '127.0.0.3', e1.port);
  const log = new PassThrough();
  log.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line) logLines.push(JSON.parse(line));
  });
  core = createCore({ accessLog: log, maxBodyBytes: 64 * 1024 });
  const port = e1.port;
  core.rebuild({
    servers: [
      modelServer('llama', { inferName: 'llama', model: 'meta-llama/Llama-2-7b', service: { port: 80, targetPort: port }, routing: { path: '/v1/models/llama-7b', timeout: '300ms' } }),
      modelServer('solo', { inferName: 'solo', service: { port } }),
      modelServer('dead', { inferName: 'dead', service: { port: 1 } }),
      modelServer('empty', { inferName: 'nobody', service: { port } }),
    ],
    routes: [
      modelRoute('llama', 'llama-7b', [toServers('llama')]),
      modelRoute('solo', 'solo', [toServers('solo')]),
      modelRoute('dead', 'dead', [toServers('dead')]),
      modelRoute('empty', 'empty', [toServers('empty')]),
    ],
    pods: [
      pod('llama-0', 'llama', { ip: '127.0.0.2' }),
      pod('llama-1', 'llama', { ip: '127.0.0.3' }),
      pod('solo-0', 'solo', { ip: '127.0.0.2' }),
      pod('dead-0', 'dead', { ip: '127.0.0.9' }),
    ],
  });
  core.synced = true;
  server = createGatewayServer(core);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await core.pools.destroy();
  await e1.close();
  await e2.close();
});

function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function expectError(res: Response, status: number, code: string): Promise<Record<string, unknown>> {
  assert.equal(res.status, status);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const body = (await res.json()) as { error: Record<string, unknown> };
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, 'string');
  assert.equal(body.error.type, status >= 500 ? 'server_error' : 'invalid_request_error');
  assert.ok('param' in body.error);
  return body.error;
}

function inflightTotal(): number {
  let n = 0;
  for (const ep of core.endpoints.all()) n += ep.inflight;
  return n;
}

const chat = (extra: Record<string, unknown> = {}) => ({ model: 'llama-7b', messages: [{ role: 'user', content: 'hi' }], ...extra });

test('chat completion: model rewritten, request id propagated, load shared between pods', async () => {
  const before1 = e1.requests.length;
  const before2 = e2.requests.length;
  for (let i = 0; i < 4; i++) {
    const res = await post('/v1/chat/completions', chat(), { 'x-request-id': `rid-${i}` });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-request-id'), `rid-${i}`);
    const body = (await res.json()) as { choices: Array<{ message: { content: string } }>; model: string };
    assert.equal(body.model, 'meta-llama/Llama-2-7b');
  }
  assert.equal(e1.requests.length - before1, 2);
  assert.equal(e2.requests.length - before2, 2);
  const last = e1.requests.at(-1)!;
  assert.equal(last.body.model, 'meta-llama/Llama-2-7b');
  assert.deepEqual(last.body.messages, [{ role: 'user', content: 'hi' }]);
  assert.match(String(last.headers['x-request-id']), /^rid-/);
  assert.equal(inflightTotal(), 0);
  const line = logLines.find((l) => l.request_id === 'rid-0')!;
  assert.equal(line.method, 'POST');
  assert.equal(line.path, '/v1/chat/completions');
  assert.equal(line.model, 'llama-7b');
  assert.equal(line.route, 'default/llama');
  assert.equal(line.server, 'default/llama');
  assert.match(String(line.pod), /^default\/llama-[01]$/);
  assert.equal(line.status, 200);
  assert.equal(typeof line.duration_ms, 'number');
  assert.equal(typeof line.ttfb_ms, 'number');
});

test('streaming is relayed chunk by chunk and ends with [DONE]', async () => {
  const res = await post('/v1/chat/completions', chat({ stream: true }));
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type')!, /text\/event-stream/);
  const reader = res.body!.getReader();
  const first = await reader.read();
  // The first event arrives while the engine is still generating (it waits 30 ms between events).
  assert.match(Buffer.from(first.value!).toString(), /"Hello"/);
  let text = Buffer.from(first.value!).toString();
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    text += Buffer.from(r.value).toString();
  }
  assert.match(text, /data: \[DONE\]\n\n$/);
  assert.equal(inflightTotal(), 0);
});

test('broken upstream stream ends the SSE with an error event', async () => {
  const res = await post('/v1/chat/completions', chat({ stream: true }), { 'x-fake': 'break' });
  assert.equal(res.status, 200);
  const text = await res.text();
  const events = text.split('\n\n').filter(Boolean);
  const lastEvent = events.at(-1)!;
  assert.match(lastEvent, /^data: /);
  const err = JSON.parse(lastEvent.slice(6)) as { error: { code: string; type: string } };
  assert.equal(err.error.code, 'upstream_error');
  assert.equal(events.length, 3);
  assert.equal(inflightTotal(), 0);
});

test('client abort mid-stream aborts the upstream and frees the in-flight counter', async () => {
  const abortedBefore = e1.aborted + e2.aborted;
  const res = await post('/v1/chat/completions', chat({ stream: true }), { 'x-fake': 'hang' });
  const reader = res.body!.getReader();
  await reader.read();
  assert.equal(inflightTotal(), 1);
  await reader.cancel();
  const deadline = Date.now() + 2000;
  while ((inflightTotal() !== 0 || e1.aborted + e2.aborted === abortedBefore) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(inflightTotal(), 0);
  assert.equal(e1.aborted + e2.aborted, abortedBefore + 1);
});

test('least outstanding: a busy pod is avoided', async () => {
  const res = await post('/v1/chat/completions', chat({ stream: true }), { 'x-fake': 'hang' });
  const reader = res.body!.getReader();
  await reader.read();
  const busy = [...core.endpoints.all()].find((e) => e.inflight === 1)!;
  const busyEngine = busy.ip === '127.0.0.2' ? e1 : e2;
  const otherEngine = busyEngine === e1 ? e2 : e1;
  const n = otherEngine.requests.length;
  for (let i = 0; i < 3; i++) assert.equal((await post('/v1/chat/completions', chat())).status, 200);
  assert.equal(otherEngine.requests.length, n + 3);
  await reader.cancel();
});

test('other /v1 POSTs are passed through; GET /v1/models and /v1/models/{id}', async () => {
  const res = await post('/v1/embeddings', { model: 'solo', input: 'x' });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { object: 'list', path: '/v1/embeddings', model: 'solo', from: 'e1' });
  const list = (await (await fetch(url + '/v1/models')).json()) as { object: string; data: Array<{ id: string; owned_by: string }> };
  assert.equal(list.object, 'list');
  assert.deepEqual(list.data.map((m) => m.id), ['dead', 'empty', 'llama-7b', 'solo']);
  assert.ok(list.data.every((m) => m.owned_by === 'matrixinfer'));
  const one = (await (await fetch(url + '/v1/models/solo')).json()) as { id: string };
  assert.equal(one.id, 'solo');
  await expectError(await fetch(url + '/v1/models/nope'), 404, 'model_not_found');
});

test('seed infer path and metadata', async () => {
  const res = await post('/v1/models/llama-7b/infer', { inputs: { text: 'Hello world' }, parameters: { max_tokens: 4, temperature: 0 } });
  assert.equal(res.status, 200);
  const body = (await res.json()) as Record<string, unknown>;
  assert.equal(body.model_name, 'meta-llama/Llama-2-7b');
  assert.match(String(body.id), /^e[12]-/);
  assert.deepEqual(body.usage, { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
  assert.match((body.outputs as { text: string }).text, /ok from e[12]/);
  const sent = [...e1.requests, ...e2.requests].find((r) => r.body.prompt === 'Hello world')!;
  assert.equal(sent.path, '/v1/completions');
  assert.deepEqual(sent.body, { model: 'meta-llama/Llama-2-7b', prompt: 'Hello world', max_tokens: 4, temperature: 0, stream: false });
  const meta = (await (await fetch(url + '/v1/models/llama-7b')).json()) as Record<string, unknown>;
  assert.equal(meta.name, 'meta-llama/Llama-2-7b');
  assert.equal(meta.ready, true);
  assert.equal(meta.endpoints, 2);
  assert.equal(meta.infer, '/v1/models/llama-7b/infer');
  await expectError(await post('/v1/models/llama-7b/infer', { inputs: {} }), 400, 'invalid_request');
  await expectError(await fetch(url + '/v1/models/llama-7b/infer'), 405, 'method_not_allowed');
  const upstream500 = await post('/v1/models/llama-7b/infer', { inputs: { text: 'x' } }, { 'x-fake': 'status-500' });
  assert.equal(upstream500.status, 500);
  assert.equal(((await upstream500.json()) as { error: { code: string } }).error.code, 'boom');
});

test('client errors: JSON, model, unknown model/path, method, size', async () => {
  await expectError(await post('/v1/chat/completions', '{"model": '), 400, 'invalid_json');
  await expectError(await post('/v1/chat/completions', '[1,2]'), 400, 'invalid_request');
  await expectError(await post('/v1/chat/completions', { messages: [] }), 400, 'missing_model');
  await expectError(await post('/v1/chat/completions', { model: 7 }), 400, 'missing_model');
  const nf = await expectError(await post('/v1/chat/completions', { model: 'gpt-99' }), 404, 'model_not_found');
  assert.equal(nf.param, 'model');
  await expectError(await fetch(url + '/nope'), 404, 'not_found');
  await expectError(await fetch(url + '/v1/chat/completions'), 405, 'method_not_allowed');
  await expectError(await post('/v1/chat/completions', { model: 'llama-7b', pad: 'x'.repeat(70 * 1024) }), 413, 'request_too_large');
  // Still serving afterwards.
  assert.equal((await post('/v1/chat/completions', chat())).status, 200);
  assert.equal(inflightTotal(), 0);
});

test('upstream errors: no ready pod 503, connect failure 502, timeout 504, engine status relayed', async () => {
  const r503 = await post('/v1/chat/completions', { model: 'empty' });
  await expectError(r503, 503, 'no_healthy_upstream');
  assert.equal(r503.headers.get('retry-after'), '1');
  await expectError(await post('/v1/chat/completions', { model: 'dead' }), 502, 'upstream_connect_error');
  await expectError(await post('/v1/chat/completions', chat(), { 'x-fake': 'slow-headers' }), 504, 'upstream_timeout');
  const r500 = await post('/v1/chat/completions', chat(), { 'x-fake': 'status-500' });
  assert.equal(r500.status, 500);
  assert.equal(((await r500.json()) as { error: { code: string } }).error.code, 'boom');
  assert.equal(inflightTotal(), 0);
});

test('a refused connection fails over to another pod once', async () => {
  const c = createCore({ accessLog: false });
  c.rebuild({
    servers: [modelServer('s', { inferName: 's', service: { port: e1.port } })],
    routes: [modelRoute('r', 'm', [toServers('s')])],
    pods: [pod('s-0', 's', { ip: '127.0.0.2' }), pod('s-1', 's', { ip: '127.0.0.8' })],
  });
  c.synced = true;
  const s = createGatewayServer(c);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const u = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  try {
    for (let i = 0; i < 4; i++) {
      const res = await fetch(u + '/v1/completions', { method: 'POST', body: JSON.stringify({ model: 'm', prompt: 'x' }) });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    for (const ep of c.endpoints.all()) assert.equal(ep.inflight, 0);
    const metrics = await (await fetch(u + '/metrics')).text();
    assert.match(metrics, /matrixinfer_gateway_upstream_errors_total\{model="m",kind="connect"\} 2/);
  } finally {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
    await c.pools.destroy();
  }
});

test('health, readiness and metrics', async () => {
  assert.deepEqual(await (await fetch(url + '/health')).json(), { status: 'ok' });
  assert.equal((await fetch(url + '/ready')).status, 200);
  core.synced = false;
  assert.equal((await fetch(url + '/ready')).status, 503);
  await expectError(await post('/v1/chat/completions', chat()), 503, 'gateway_not_ready');
  core.synced = true;
  const text = await (await fetch(url + '/metrics')).text();
  assert.match(text, /matrixinfer_gateway_requests_total\{model="llama-7b",code="200"\} \d+/);
  assert.match(text, /matrixinfer_gateway_requests_total\{model="",code="404"\} \d+/);
  assert.match(text, /matrixinfer_gateway_request_duration_seconds_bucket\{le="0.005",model="llama-7b"\}/);
  assert.match(text, /matrixinfer_gateway_time_to_first_token_seconds_count\{model="llama-7b"\} [1-9]/);
  assert.match(text, /matrixinfer_gateway_inflight_requests\{model="llama-7b"\} 0/);
  assert.match(text, /matrixinfer_gateway_upstream_errors_total\{model="llama-7b",kind="timeout"\} 1/);
  assert.match(text, /matrixinfer_gateway_endpoint_inflight\{namespace="default",pod="llama-0",address="127.0.0.2:\d+"\} 0/);
  assert.match(text, /matrixinfer_gateway_ready_endpoints\{namespace="default",model_server="llama"\} 2/);
});

test('garbage never crashes the gateway and never leaks counters', async () => {
  const { connect } = await import('node:net');
  const port = Number(new URL(url).port);
  const raw = (data: string) =>
    new Promise<string>((resolve) => {
      const sock = connect(port, '127.0.0.1');
      let out = '';
      sock.on('data', (d) => (out += d.toString()));
      sock.on('close', () => resolve(out));
      sock.on('error', () => resolve(out));
      sock.end(data);
    });
  assert.match(await raw('GARBAGE\r\n\r\n'), /^HTTP\/1.1 400/);
  assert.match(await raw('POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n'), /^HTTP\/1.1 400/);
  const bodies = ['', 'null', '"str"', '{', '{"model": null}', '{"model": {}}', '{"model": ""}', `{"model": "${'m'.repeat(5000)}"}`, '{"model":"llama-7b","messages":'];
  for (const b of bodies) {
    const res = await post('/v1/chat/completions', b);
    assert.ok(res.status === 400 || res.status === 404, `${b.slice(0, 30)} → ${res.status}`);
    const body = (await res.json()) as { error: { message: string } };
    assert.ok(body.error.message.length < 1000);
  }
  for (const [method, path] of [['PUT', '/v1/chat/completions'], ['DELETE', '/v1/models'], ['GET', '/v1/embeddings'], ['PATCH', '/v1/models/llama-7b'], ['GET', '/%%%']]) {
    const res = await fetch(url + path, { method });
    assert.ok([404, 405].includes(res.status), `${method} ${path} → ${res.status}`);
    await res.arrayBuffer();
  }
  // A client that sends half a body and vanishes.
  await raw('POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"model":');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal((await post('/v1/chat/completions', chat())).status, 200);
  assert.equal(inflightTotal(), 0);
  assert.equal(Number((await (await fetch(url + '/metrics')).text()).match(/matrixinfer_gateway_inflight_requests\{model="llama-7b"\} (\d+)/)![1]), 0);
});
