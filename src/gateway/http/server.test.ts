// The gateway's HTTP behaviour against simulated vLLM engines and hand-built worlds (no Kubernetes API).
//
// Engines (src/engine) on their own loopback "pod IPs": e1 (127.0.0.2) and e2 (127.0.0.3) on one port, fast
// (1 ms per step); `slow` (127.0.0.4) with a 5 s time to first token, behind a ModelServer with a 200 ms timeout.
// Engine-side effects are read from the engines' own /metrics (vllm:num_requests_running,
// vllm:request_success_total{finished_reason}). The one upstream that is not an engine is the broken-stream
// stand-in below.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { createCore, type TestableCore } from '../gateway.ts';
import { createGatewayServer } from './server.ts';
import { startEngine, type EngineServer } from '../../engine/server.ts';
import { parseEngineArgs } from '../../engine/options.ts';
import { modelRoute, modelServer, pod, toServers } from '../testing/fixtures.ts';
import { until } from '../../kube/testing/until.ts';
import { engineMetric } from '../../../test/support/engines.ts';

const MODEL = 'meta-llama/Llama-2-7b';
/** Long enough that a stream outlives anything a test does while it runs (1 ms per token). */
const ENDLESS = 100_000;

let e1: EngineServer;
let e2: EngineServer;
let slow: EngineServer;
let faulty: BrokenStreamStandIn;
let core: TestableCore;
let server: ReturnType<typeof createGatewayServer>;
let url: string;
const logLines: Record<string, unknown>[] = [];

function engineArgs(ip: string, port: number, ttftMs: number): string[] {
  return [
    MODEL, '--served-model-name', MODEL, 'solo', 'm', '--host', ip, '--port', String(port), '--max-model-len', String(ENDLESS + 1000),
    '--time-to-first-token-ms', String(ttftMs), '--inter-token-latency-ms', '1', '--inter-token-latency-per-seq-ms', '0',
    '--prefill-time-per-token-ms', '0',
  ];
}

// FAULT STAND-IN. The simulated engine has no fault injection yet, so it cannot break a stream half-way. Until its
// fault modes exist, this minimal upstream does: it records what the gateway sent, answers with an SSE stream,
// writes one event and destroys the socket. Replace it with an engine fault mode when there is one.
interface BrokenStreamStandIn {
  port: number;
  seen: Array<{ requestId: unknown; model: unknown }>;
  close(): Promise<void>;
}

async function startBrokenStreamStandIn(ip: string): Promise<BrokenStreamStandIn> {
  const seen: BrokenStreamStandIn['seen'] = [];
  const s = createServer(async (req, res) => {
    let raw = '';
    for await (const c of req) raw += String(c);
    seen.push({ requestId: req.headers['x-request-id'], model: (JSON.parse(raw) as { model?: unknown }).model });
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hello"}}]}\n\n', () => res.socket?.destroy());
  });
  await new Promise<void>((r) => s.listen(0, ip, () => r()));
  return {
    port: (s.address() as AddressInfo).port,
    seen,
    close: async () => {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
  };
}

before(async () => {
  e1 = await startEngine(parseEngineArgs(engineArgs('127.0.0.2', 0, 1), { warn: () => {} }));
  e2 = await startEngine(parseEngineArgs(engineArgs('127.0.0.3', e1.port, 1), { warn: () => {} }));
  slow = await startEngine(parseEngineArgs(engineArgs('127.0.0.4', 0, 5000), { warn: () => {} }));
  faulty = await startBrokenStreamStandIn('127.0.0.5');
  const log = new PassThrough();
  log.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line) logLines.push(JSON.parse(line));
  });
  core = createCore({ accessLog: log, maxBodyBytes: 64 * 1024 });
  const port = e1.port;
  core.rebuild({
    servers: [
      modelServer('llama', { inferName: 'llama', model: MODEL, service: { port: 80, targetPort: port }, routing: { path: '/v1/models/llama-7b', timeout: '10s' } }),
      modelServer('solo', { inferName: 'solo', service: { port } }),
      modelServer('dead', { inferName: 'dead', service: { port: 1 } }),
      modelServer('empty', { inferName: 'nobody', service: { port } }),
      modelServer('slow', { inferName: 'slow', model: MODEL, service: { port: slow.port }, routing: { path: '/v1/models/slow', timeout: '200ms' } }),
      modelServer('broken', { inferName: 'broken', model: 'fault-model', service: { port: faulty.port } }),
    ],
    routes: [
      modelRoute('llama', 'llama-7b', [toServers('llama')]),
      modelRoute('solo', 'solo', [toServers('solo')]),
      modelRoute('dead', 'dead', [toServers('dead')]),
      modelRoute('empty', 'empty', [toServers('empty')]),
      modelRoute('slow', 'slow', [toServers('slow')]),
      modelRoute('broken', 'broken', [toServers('broken')]),
    ],
    pods: [
      pod('llama-0', 'llama', { ip: '127.0.0.2' }),
      pod('llama-1', 'llama', { ip: '127.0.0.3' }),
      pod('solo-0', 'solo', { ip: '127.0.0.2' }),
      pod('dead-0', 'dead', { ip: '127.0.0.9' }),
      pod('slow-0', 'slow', { ip: '127.0.0.4' }),
      pod('broken-0', 'broken', { ip: '127.0.0.5' }),
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
  await Promise.all([e1.close(), e2.close(), slow.close(), faulty.close()]);
});

function post(path: string, body: unknown, headers: Record<string, string> = {}, base = url): Promise<Response> {
  return fetch(base + path, {
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

function awaitingTotal(): number {
  let n = 0;
  for (const ep of core.endpoints.all()) n += ep.awaiting;
  return n;
}


const running = async (...engines: EngineServer[]) => (await Promise.all(engines.map((e) => engineMetric(e.url, 'vllm:num_requests_running')))).reduce((a, b) => a + b, 0);
const aborted = async (...engines: EngineServer[]) =>
  (await Promise.all(engines.map((e) => engineMetric(e.url, 'vllm:request_success_total', 'finished_reason="abort"')))).reduce((a, b) => a + b, 0);
/** Requests the engine finished normally (stop or length). */
const completed = async (e: EngineServer) => (await engineMetric(e.url, 'vllm:request_success_total')) - (await aborted(e));


const chat = (extra: Record<string, unknown> = {}) => ({ model: 'llama-7b', messages: [{ role: 'user', content: 'hi' }], ...extra });

test('chat completion: model rewritten, request id propagated, load shared between pods', async () => {
  const before1 = await completed(e1);
  const before2 = await completed(e2);
  // What the engine answers to the rewritten request, asked directly: same request, same text.
  const direct = (await (await post('/v1/chat/completions', chat({ model: MODEL }), {}, e1.url)).json()) as { choices: Array<{ message: { content: string } }> };
  for (let i = 0; i < 4; i++) {
    const res = await post('/v1/chat/completions', chat(), { 'x-request-id': `rid-${i}` });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-request-id'), `rid-${i}`);
    const body = (await res.json()) as { choices: Array<{ message: { content: string } }>; model: string };
    // The engine serves MODEL (not `llama-7b`) and echoes the model it was asked for.
    assert.equal(body.model, MODEL);
    assert.equal(body.choices[0]!.message.content, direct.choices[0]!.message.content);
  }
  assert.equal((await completed(e1)) - before1, 3); // 2 through the gateway + the direct request
  assert.equal((await completed(e2)) - before2, 2);
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
  const tokens = 200;
  const res = await post('/v1/chat/completions', chat({ stream: true, max_tokens: tokens }));
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type')!, /text\/event-stream/);
  const reader = res.body!.getReader();
  const first = await reader.read();
  let text = Buffer.from(first.value!).toString();
  assert.match(text, /^data: .*"role":"assistant"/);
  // The first event arrives while the engine is still generating (≥ 1 ms per token).
  assert.equal(await running(e1, e2), 1);
  let reads = 1;
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    reads++;
    text += Buffer.from(r.value).toString();
  }
  assert.ok(reads > 2, `${reads} reads`);
  const events = text.split('\n\n').filter(Boolean);
  assert.equal(events.length, 1 + tokens + 1); // role, one per token, [DONE]
  assert.match(text, /"finish_reason":"length"/);
  assert.match(text, /data: \[DONE\]\n\n$/);
  assert.equal(inflightTotal(), 0);
});

test('broken upstream stream ends the SSE with an error event', async () => {
  const res = await post('/v1/chat/completions', { model: 'broken', messages: [], stream: true }, { 'x-request-id': 'rid-broken' });
  assert.equal(res.status, 200);
  const text = await res.text();
  const events = text.split('\n\n').filter(Boolean);
  const lastEvent = events.at(-1)!;
  assert.match(lastEvent, /^data: /);
  const err = JSON.parse(lastEvent.slice(6)) as { error: { code: string; type: string } };
  assert.equal(err.error.code, 'upstream_error');
  assert.equal(events.length, 2); // the stand-in's one event, then the gateway's error event
  assert.equal(inflightTotal(), 0);
  // What went upstream: the client's request id, the model rewritten to ModelServer.spec.model.
  assert.deepEqual(faulty.seen.at(-1), { requestId: 'rid-broken', model: 'fault-model' });
});

test('client abort mid-stream aborts the upstream and frees the in-flight counter', async () => {
  const abortedBefore = await aborted(e1, e2);
  const res = await post('/v1/chat/completions', chat({ stream: true, max_tokens: ENDLESS }));
  const reader = res.body!.getReader();
  await reader.read();
  assert.equal(inflightTotal(), 1);
  assert.equal(awaitingTotal(), 0, 'streaming: the first byte is back, the request no longer waits ahead of others');
  assert.equal(await running(e1, e2), 1);
  await reader.cancel();
  await until('gateway and engine let go', async () => inflightTotal() === 0 && (await running(e1, e2)) === 0);
  assert.equal(await aborted(e1, e2), abortedBefore + 1);
});

test('queue: a pod with a request still waiting for its first byte is avoided', async () => {
  // A non-streaming request sends nothing back until it completes: it waits on its pod all along.
  const ac = new AbortController();
  const pending = fetch(url + '/v1/chat/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(chat({ max_tokens: ENDLESS })),
    signal: ac.signal,
  }).catch(() => undefined);
  await until('the request is at an engine', () => inflightTotal() === 1);
  const busy = [...core.endpoints.all()].find((e) => e.inflight === 1)!;
  assert.equal(busy.awaiting, 1, 'no byte back yet: the request stands ahead of new ones on its pod');
  const busyEngine = busy.ip === '127.0.0.2' ? e1 : e2;
  const otherEngine = busyEngine === e1 ? e2 : e1;
  const nBusy = await completed(busyEngine);
  const nOther = await completed(otherEngine);
  for (let i = 0; i < 3; i++) assert.equal((await post('/v1/chat/completions', chat())).status, 200);
  assert.equal(await completed(otherEngine), nOther + 3);
  assert.equal(await completed(busyEngine), nBusy);
  ac.abort();
  await pending;
  await until('the waiting request let go', async () => inflightTotal() === 0 && awaitingTotal() === 0 && (await running(e1, e2)) === 0);
});

test('other /v1 POSTs are passed through; GET /v1/models and /v1/models/{id}', async () => {
  // The engine has no embeddings: its own 404 (vLLM's shape, numeric code) comes back through the gateway.
  const res = await post('/v1/embeddings', { model: 'solo', input: 'x' }, { 'x-request-id': 'rid-embed' });
  assert.equal(res.status, 404);
  assert.deepEqual(await res.json(), { error: { message: 'Not Found: /v1/embeddings', type: 'NotFoundError', param: null, code: 404 } });
  const line = logLines.find((l) => l.request_id === 'rid-embed')!;
  assert.equal(line.pod, 'default/solo-0');
  assert.equal(line.status, 404);
  const list = (await (await fetch(url + '/v1/models')).json()) as { object: string; data: Array<{ id: string; owned_by: string }> };
  assert.equal(list.object, 'list');
  assert.deepEqual(list.data.map((m) => m.id), ['broken', 'dead', 'empty', 'llama-7b', 'slow', 'solo']);
  assert.ok(list.data.every((m) => m.owned_by === 'matrixinfer'));
  const one = (await (await fetch(url + '/v1/models/solo')).json()) as { id: string };
  assert.equal(one.id, 'solo');
  await expectError(await fetch(url + '/v1/models/nope'), 404, 'model_not_found');
});

test('seed infer path and metadata', async () => {
  const res = await post('/v1/models/llama-7b/infer', { inputs: { text: 'Hello world' }, parameters: { max_tokens: 4, temperature: 0 } });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { model_name: string; id: string; outputs: { text: string; finish_reason: string }; usage: Record<string, number> };
  // The completion request the gateway should have sent, asked of the engine directly: same request, same answer.
  const direct = (await (await post('/v1/completions', { model: MODEL, prompt: 'Hello world', max_tokens: 4, temperature: 0, stream: false }, {}, e1.url)).json()) as {
    choices: Array<{ text: string }>;
    usage: Record<string, number>;
  };
  assert.equal(body.model_name, MODEL);
  assert.match(body.id, /^cmpl-/);
  assert.deepEqual(body.outputs, { text: direct.choices[0]!.text, finish_reason: 'length' });
  assert.deepEqual(body.usage, { prompt_tokens: direct.usage.prompt_tokens, completion_tokens: 4, total_tokens: direct.usage.prompt_tokens! + 4 });
  const meta = (await (await fetch(url + '/v1/models/llama-7b')).json()) as Record<string, unknown>;
  assert.equal(meta.name, MODEL);
  assert.equal(meta.ready, true);
  assert.equal(meta.endpoints, 2);
  assert.equal(meta.infer, '/v1/models/llama-7b/infer');
  await expectError(await post('/v1/models/llama-7b/infer', { inputs: {} }), 400, 'invalid_request');
  await expectError(await fetch(url + '/v1/models/llama-7b/infer'), 405, 'method_not_allowed');
  // An engine error is passed through unchanged (status and vLLM's body).
  const engineError = await post('/v1/models/llama-7b/infer', { inputs: { text: 'x' }, parameters: { n: 0 } });
  assert.equal(engineError.status, 400);
  assert.deepEqual(((await engineError.json()) as { error: Record<string, unknown> }).error, {
    message: 'n must be at least 1, got 0.',
    type: 'BadRequestError',
    param: 'n',
    code: 400,
  });
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
  // The slow engine is still prefilling when the 200 ms timeout fires; the gateway then lets go of it.
  await expectError(await post('/v1/chat/completions', chat({ model: 'slow' })), 504, 'upstream_timeout');
  await until('the slow engine dropped the request', async () => (await running(slow)) === 0 && (await aborted(slow)) === 1);
  const r400 = await post('/v1/chat/completions', chat({ n: 0 }));
  assert.equal(r400.status, 400);
  assert.deepEqual(((await r400.json()) as { error: Record<string, unknown> }).error, { message: 'n must be at least 1, got 0.', type: 'BadRequestError', param: 'n', code: 400 });
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
  const served = await completed(e1);
  try {
    for (let i = 0; i < 4; i++) {
      const res = await fetch(u + '/v1/completions', { method: 'POST', body: JSON.stringify({ model: 'm', prompt: 'x', max_tokens: 2 }) });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    for (const ep of c.endpoints.all()) assert.equal(ep.inflight, 0);
    assert.equal(await completed(e1), served + 4);
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
  assert.match(text, /matrixinfer_gateway_upstream_errors_total\{model="slow",kind="timeout"\} 1/);
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
  // Nothing the garbage did is still running on the engines.
  assert.equal(await running(e1, e2), 0);
});
