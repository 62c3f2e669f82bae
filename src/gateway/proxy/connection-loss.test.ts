// Upstream connections lost before a response head (nothing reached the client): retried on the pods the routing
// table has now, with one attempt beyond routing.retries, on the same pod if it is the only one; and engine errors
// answered in the OpenAI shape. Scripted upstreams on loopback "pod IPs" (node:http), a gateway core built from
// hand-made worlds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCore, type TestableCore } from '../gateway.ts';
import { accessLogCollector, modelRoute, modelServer, pod, serveCore, toServers } from '../testing/fixtures.ts';
import type { ModelServerSpec } from '../../api/kinds/modelserver.ts';
import { until } from '../../kube/testing/until.ts';

const MODEL = 'm';
const GOOD = '127.0.0.101';
const DYING = '127.0.0.102';
const STALE = '127.0.0.103';
const ERRORS = '127.0.0.104';

const COMPLETION = JSON.stringify({ id: 'cmpl-1', object: 'text_completion', model: MODEL, choices: [{ index: 0, text: 'x', finish_reason: 'length' }] });

function answer(res: ServerResponse, status: number, body: string, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function listen(ip: string, port: number, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  const s = createServer(async (req, res) => {
    for await (const _ of req);
    handler(req, res);
  });
  await new Promise<void>((r) => s.listen(port, ip, () => r()));
  return s;
}

let port: number;
let good: Server;
let dying: Server;
let stale: Server;
let errors: Server;
/** Requests DYING holds; it resets their connections when told. */
const held: IncomingMessage[] = [];
/** Requests STALE saw per connection: the second on a connection is answered by closing it (a keep-alive race). */
const perSocket = new WeakMap<object, number>();

before(async () => {
  good = await listen(GOOD, 0, (_req, res) => answer(res, 200, COMPLETION));
  port = (good.address() as AddressInfo).port;
  dying = await listen(DYING, port, (req) => held.push(req));
  stale = await listen(STALE, port, (req, res) => {
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    if (n === 1) answer(res, 200, COMPLETION);
    else req.socket.destroy();
  });
  // Error bodies as engines write them, chosen by the x-shape header (forwarded by the gateway).
  errors = await listen(ERRORS, port, (req, res) => {
    const shape = String(req.headers['x-shape']);
    if (shape === 'vllm') answer(res, 400, JSON.stringify({ object: 'error', message: 'max_tokens is too large', type: 'BadRequestError', param: 'max_tokens', code: 400 }));
    else if (shape === 'openai') answer(res, 404, JSON.stringify({ error: { message: 'no such model', type: 'NotFoundError', param: null, code: 404 } }));
    else if (shape === 'fastapi') answer(res, 422, JSON.stringify({ detail: [{ loc: ['body', 'prompt'], msg: 'Field required', type: 'missing' }] }));
    else if (shape === 'text') answer(res, 500, 'Internal Server Error', 'text/plain');
    else answer(res, 200, COMPLETION);
  });
});

after(async () => {
  for (const s of [good, dying, stale, errors]) {
    s?.closeAllConnections();
    await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
  }
});

interface Gw {
  core: TestableCore;
  url: string;
  log: Array<Record<string, unknown>>;
  world(ips: string[]): void;
  close(): Promise<void>;
}

async function gateway(ips: string[], routing: ModelServerSpec['routing']): Promise<Gw> {
  const { out, log } = accessLogCollector();
  const core = createCore({ accessLog: out });
  const world = (podIps: string[]) =>
    core.rebuild({
      servers: [modelServer('s', { inferName: 's', service: { port }, routing: { path: '/v1/models/s', ...routing } })],
      routes: [modelRoute('r', MODEL, [toServers('s')])],
      pods: podIps.map((ip) => pod(`s-${ip.split('.').at(-1)}`, 's', { ip })),
    });
  world(ips);
  core.synced = true;
  return { core, log, world, ...(await serveCore(core)) };
}

function complete(gw: Gw, headers: Record<string, string> = {}, path = '/v1/completions'): Promise<Response> {
  const body = path === '/v1/completions' ? { model: MODEL, prompt: 'hello', max_tokens: 3 } : { inputs: { text: 'hello' } };
  return fetch(gw.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

test('a pod reset while the table moved on: the retry goes to a pod of the table now', async () => {
  // The request starts when DYING is the only pod (the other one of a rolling update not yet ready); then the
  // table has only GOOD (DYING deleted, its replacement ready), and DYING closes the connection without answering.
  const gw = await gateway([DYING], { retries: 2 });
  try {
    const pending = complete(gw);
    await until('the request held by the dying pod', () => held.length === 1);
    gw.world([GOOD]);
    held.shift()!.socket.destroy();
    const res = await pending;
    assert.equal(res.status, 200, await res.clone().text());
    await res.arrayBuffer();
    assert.equal(gw.log.at(-1)!.attempts, 2);
    assert.equal(gw.log.at(-1)!.pod, 'default/s-101');
  } finally {
    await gw.close();
  }
});

test('a keep-alive connection the engine closed under a request costs nothing, even with retries 0 and one pod', async () => {
  const gw = await gateway([STALE], { retries: 0 });
  try {
    for (let i = 0; i < 4; i++) {
      const res = await complete(gw);
      assert.equal(res.status, 200, `request ${i}: ${await res.clone().text()}`);
      await res.arrayBuffer();
    }
    // Every request after the first found the connection its predecessor left and was sent again on a new one.
    assert.deepEqual(gw.log.map((l) => l.attempts), [1, 2, 2, 2]);
  } finally {
    await gw.close();
  }
});

test('engine errors reach the client in the OpenAI shape, with the engine status and message', async () => {
  const gw = await gateway([ERRORS], { retries: 0 });
  try {
    const cases: Array<[string, number, Record<string, unknown>]> = [
      ['vllm', 400, { message: 'max_tokens is too large', type: 'BadRequestError', param: 'max_tokens', code: 400 }],
      ['openai', 404, { message: 'no such model', type: 'NotFoundError', param: null, code: 404 }],
      ['fastapi', 422, { message: 'body.prompt: Field required', type: 'invalid_request_error', param: null, code: 422 }],
      ['text', 500, { message: 'Internal Server Error', type: 'server_error', param: null, code: 500 }],
    ];
    for (const [shape, status, error] of cases) {
      for (const path of ['/v1/completions', '/v1/models/s/infer']) {
        const res = await complete(gw, { 'x-shape': shape }, path);
        assert.equal(res.status, status, `${shape} ${path}`);
        assert.equal(res.headers.get('content-type'), 'application/json', `${shape} ${path}`);
        assert.deepEqual(await res.json(), { error }, `${shape} ${path}`);
      }
    }
    const ok = await complete(gw);
    assert.equal(await ok.text(), COMPLETION, 'a 2xx body is relayed untouched');
  } finally {
    await gw.close();
  }
});
