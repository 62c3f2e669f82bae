// Bad input on raw sockets (node:net): slow, half-sent and oversized bodies, and clients that vanish while the
// gateway waits for the engine or relays its stream. Each case must end with the right OpenAI-style error or a
// clean close, and leave nothing behind: no in-flight counter, no running upstream request, no engine sequence.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { createCore, type TestableCore } from '../gateway.ts';
import { createGatewayServer } from './server.ts';
import { startEngine, type EngineServer } from '../../engine/server.ts';
import { parseEngineArgs } from '../../engine/options.ts';
import { modelRoute, modelServer, pod, toServers } from '../testing/fixtures.ts';
import { until } from '../../kube/testing/until.ts';
import { fastEngineArgs } from '../../../test/support/engines.ts';

const FAST = '127.0.0.51';
const HANG = '127.0.0.52';
const MAX_BODY = 16 * 1024;
const BODY_TIMEOUT_MS = 400;

let fast: EngineServer;
let hang: EngineServer;
let core: TestableCore;
let server: ReturnType<typeof createGatewayServer>;
let port: number;
const log: Array<Record<string, unknown>> = [];

function engineArgs(ip: string, p: number): string[] {
  return fastEngineArgs('m', ip, p, ['--inter-token-latency-ms', '2', '--max-model-len', '200000']);
}

before(async () => {
  fast = await startEngine(parseEngineArgs(engineArgs(FAST, 0), { warn: () => {} }));
  hang = await startEngine(parseEngineArgs(engineArgs(HANG, 0), { warn: () => {} }));
  const res = await fetch(hang.url + '/admin/faults', { method: 'PUT', body: JSON.stringify({ mode: 'hang' }) });
  assert.equal(res.status, 200);
  const out = new PassThrough();
  out.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line) log.push(JSON.parse(line) as Record<string, unknown>);
  });
  core = createCore({ accessLog: out, maxBodyBytes: MAX_BODY, bodyReadTimeoutMs: BODY_TIMEOUT_MS });
  core.rebuild({
    servers: [
      modelServer('fast', { inferName: 'fast', service: { port: fast.port } }),
      modelServer('hang', { inferName: 'hang', model: 'm', service: { port: hang.port }, routing: { timeout: '30s', retries: 0 } }),
    ],
    routes: [modelRoute('fast', 'm', [toServers('fast')]), modelRoute('hang', 'hang', [toServers('hang')])],
    pods: [pod('fast-0', 'fast', { ip: FAST }), pod('hang-0', 'hang', { ip: HANG })],
  });
  core.synced = true;
  server = createGatewayServer(core);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  core.breakers.close();
  await core.pools.destroy();
  await Promise.all([fast?.close(), hang?.close()]);
});

/** A raw connection that collects what the gateway sends and notes when it closes. */
function open(): { sock: Socket; text: () => string; closed: Promise<number> } {
  const sock = connect(port, '127.0.0.1');
  let out = '';
  const t0 = performance.now();
  sock.on('data', (d) => (out += d.toString()));
  sock.on('error', () => {});
  const closed = new Promise<number>((r) => sock.on('close', () => r(performance.now() - t0)));
  return { sock, text: () => out, closed };
}

function head(body: { length: number } | null, extra = ''): string {
  return `POST /v1/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n${body ? `content-length: ${body.length}\r\n` : ''}${extra}\r\n`;
}

function errorOf(raw: string): { status: number; code: string; type: string; connection: string | undefined } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
  const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { error: { code: string; type: string } };
  return { status, code: body.error.code, type: body.error.type, connection: /\r\nconnection: (\w+)/i.exec(raw)?.[1]?.toLowerCase() };
}


async function running(e: EngineServer): Promise<number> {
  const text = await (await fetch(e.url + '/metrics')).text();
  return Number(/^vllm:num_requests_running\{[^}]*\} (\d+)/m.exec(text)?.[1] ?? 0);
}

/** Everything the gateway holds for requests is back to zero. */
async function nothingLeaked(): Promise<void> {
  await until('counters and upstream requests back to zero', async () => {
    let inflight = 0;
    // In flight and awaiting a first byte: both counters are held per request and must all be given back.
    for (const ep of core.endpoints.all()) inflight += ep.inflight + ep.awaiting;
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const modelInflight = [...metrics.matchAll(/^matrixinfer_gateway_inflight_requests\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    const pools = [FAST, HANG].map((ip, i) => core.pools.get(`http://${ip}:${i === 0 ? fast.port : hang.port}`).stats);
    return inflight === 0 && modelInflight === 0 && pools.every((s) => s.running === 0 && s.pending === 0) && (await running(fast)) === 0;
  });
}

test('a body that stops half-way gets 408 after the body-read timeout, and the connection is closed', async () => {
  const body = JSON.stringify({ model: 'm', prompt: 'x'.repeat(200), max_tokens: 2 });
  const c = open();
  c.sock.write(head(body) + body.slice(0, 40));
  const elapsed = await c.closed;
  const e = errorOf(c.text());
  assert.deepEqual([e.status, e.code, e.type, e.connection], [408, 'request_timeout', 'invalid_request_error', 'close']);
  assert.ok(elapsed >= BODY_TIMEOUT_MS * 0.9 && elapsed < BODY_TIMEOUT_MS * 5, `closed after ${elapsed.toFixed(0)} ms`);
  await nothingLeaked();
});

test('a slow-loris body (one byte at a time, forever) is cut at the same deadline: it bounds the whole body', async () => {
  const c = open();
  c.sock.write(head({ length: 10_000 }));
  const drip = setInterval(() => c.sock.writable && c.sock.write('a'), 30);
  try {
    const elapsed = await c.closed;
    assert.equal(errorOf(c.text()).status, 408);
    assert.ok(elapsed < BODY_TIMEOUT_MS * 5, `closed after ${elapsed.toFixed(0)} ms`);
  } finally {
    clearInterval(drip);
  }
  await nothingLeaked();
});

test('a client that sends half a body and vanishes leaves nothing behind; nothing reaches the engine', async () => {
  const before = ((await (await fetch(fast.url + '/admin/faults')).json()) as { requests: number }).requests;
  for (let i = 0; i < 5; i++) {
    const c = open();
    c.sock.write(head({ length: 500 }) + '{"model":"m","prompt":"');
    await new Promise((r) => setTimeout(r, 10));
    c.sock.destroy();
    await c.closed;
  }
  await nothingLeaked();
  const after = ((await (await fetch(fast.url + '/admin/faults')).json()) as { requests: number }).requests;
  assert.equal(after, before);
  assert.ok(log.filter((l) => l.status === 499).length >= 5);
});

test('oversized bodies: 413 from the declared length at once, or as soon as a chunked body passes the limit', async () => {
  const c1 = open();
  c1.sock.write(head({ length: MAX_BODY + 1 }));
  await c1.closed;
  const e1 = errorOf(c1.text());
  assert.deepEqual([e1.status, e1.code, e1.type, e1.connection], [413, 'request_too_large', 'invalid_request_error', 'close']);

  const c2 = open();
  c2.sock.write(head(null, 'transfer-encoding: chunked\r\n'));
  const chunk = 'x'.repeat(4096);
  for (let i = 0; i < 8 && !c2.text(); i++) {
    c2.sock.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    await new Promise((r) => setTimeout(r, 5));
  }
  await c2.closed;
  const e2 = errorOf(c2.text());
  assert.deepEqual([e2.status, e2.code], [413, 'request_too_large']);
  await nothingLeaked();
});

test('malformed JSON, missing or non-string model: OpenAI-style 400 on a connection that stays usable', async () => {
  const cases: Array<[string, string]> = [
    ['{"model": "m", "prompt": ', 'invalid_json'],
    ['{"prompt": "x"}', 'missing_model'],
    ['{"model": 42, "prompt": "x"}', 'missing_model'],
    ['{"model": ["m"], "prompt": "x"}', 'missing_model'],
    ['[{"model": "m"}]', 'invalid_request'],
  ];
  const c = open();
  for (const [body, code] of cases) {
    const before = c.text().length;
    c.sock.write(head(Buffer.from(body)) + body);
    await until('the answer', () => c.text().length > before && c.text().slice(before).includes('}}'));
    const e = errorOf(c.text().slice(before));
    assert.deepEqual([e.status, e.code, e.type], [400, code, 'invalid_request_error'], body);
  }
  c.sock.destroy();
  await nothingLeaked();
});

test('a client that vanishes mid-stream: the engine request is aborted and every counter returns to zero', async () => {
  const body = JSON.stringify({ model: 'm', prompt: 'tell me a long story', max_tokens: 100_000, stream: true });
  const c = open();
  c.sock.write(head(Buffer.from(body), 'x-request-id: vanish-1\r\n') + body);
  await until('a few events relayed', () => (c.text().match(/data: /g)?.length ?? 0) >= 3);
  assert.equal(await running(fast), 1);
  c.sock.destroy();
  await nothingLeaked();
  const line = log.find((l) => l.request_id === 'vanish-1')!;
  assert.equal(line.status, 499);
  assert.equal(line.error, 'client_closed_request');
});

test('a client that vanishes while the engine has not answered yet: upstream aborted, no late 504', async () => {
  const body = JSON.stringify({ model: 'hang', prompt: 'x', max_tokens: 2 });
  const c = open();
  c.sock.write(head(Buffer.from(body), 'x-request-id: vanish-2\r\n') + body);
  const hangPool = core.pools.get(`http://${HANG}:${hang.port}`);
  await until('the request is at the engine', () => hangPool.stats.running === 1);
  c.sock.destroy();
  await nothingLeaked();
  assert.equal(log.filter((l) => l.request_id === 'vanish-2').length, 1);
  assert.equal(log.find((l) => l.request_id === 'vanish-2')!.status, 499);
});
