// matrixinfer_gateway_endpoint_awaiting_first_byte: requests dispatched to an endpoint whose current attempt has had
// no upstream response body byte yet. Up on dispatch, down exactly once on the first byte or however else the attempt
// ends; every exit path must give it back, so each case below ends with the gauge (and the field it reads) at 0.
// Real simulated engines on loopback "pod IPs", failing through their own fault injection (/admin/faults).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createCore, type TestableCore } from '../gateway.ts';
import { startEngine, type EngineServer } from '../../engine/server.ts';
import { parseEngineArgs } from '../../engine/options.ts';
import { accessLogCollector, modelRoute, modelServer, pod, serveCore, toServers } from '../testing/fixtures.ts';
import type { ModelServerSpec } from '../../api/kinds/modelserver.ts';
import { until } from '../../kube/testing/until.ts';
import { fastEngineArgs } from '../../../test/support/engines.ts';
import { charsPerTokenOf } from '../scheduling/work.ts';

const MODEL = 'm';
const OK = '127.0.0.121';
const BAD1 = '127.0.0.122';
const BAD2 = '127.0.0.123';
const HANG1 = '127.0.0.124';
const HANG2 = '127.0.0.125';
const NAME = 'matrixinfer_gateway_endpoint_awaiting_first_byte';

let engines: Record<string, EngineServer> = {};
let port: number;

async function faults(ip: string, config: Record<string, unknown>): Promise<void> {
  const res = await fetch(engines[ip]!.url + '/admin/faults', { method: 'PUT', body: JSON.stringify(config) });
  assert.equal(res.status, 200, await res.text());
}

before(async () => {
  const start = (ip: string, p: number) => startEngine(parseEngineArgs(fastEngineArgs(MODEL, ip, p), { warn: () => {} }));
  engines[OK] = await start(OK, 0);
  port = engines[OK].port;
  for (const ip of [BAD1, BAD2, HANG1, HANG2]) engines[ip] = await start(ip, port);
  await faults(BAD1, { failureRate: 1, failureTypes: ['server_error'] });
  await faults(BAD2, { failureRate: 1, failureTypes: ['overloaded'] });
  await faults(HANG1, { mode: 'hang', modeRate: 1 });
  await faults(HANG2, { mode: 'hang', modeRate: 1 });
});

after(async () => {
  await Promise.all(Object.values(engines).map((e) => e.close()));
  engines = {};
});

interface Gw {
  core: TestableCore;
  url: string;
  log: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/** A gateway serving model `m` from one ModelServer over pods at `ips` (pod s-i at ips[i]). */
async function gateway(ips: string[], routing: ModelServerSpec['routing'] = {}): Promise<Gw> {
  const { out, log } = accessLogCollector();
  const core = createCore({ accessLog: out });
  core.rebuild({
    servers: [modelServer('s', { inferName: 's', service: { port }, routing: { path: '/v1/models/s', circuitBreaker: { consecutiveFailures: 1000 }, ...routing } })],
    routes: [modelRoute('r', MODEL, [toServers('s')])],
    pods: ips.map((ip, i) => pod(`s-${i}`, 's', { ip })),
  });
  core.synced = true;
  return { core, log, ...(await serveCore(core)) };
}

function complete(gw: Gw, extra: Record<string, unknown> = {}, signal?: AbortSignal): Promise<Response> {
  return fetch(gw.url + '/v1/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, prompt: 'hello', max_tokens: 3, ...extra }),
    signal,
  });
}

/** The gauge per pod address, as scraped from the gateway's /metrics. */
async function gauge(gw: Gw): Promise<Map<string, number>> {
  const text = await (await fetch(gw.url + '/metrics')).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(NAME + '{')) continue;
    const address = /address="([^"]+)"/.exec(line)![1]!;
    out.set(address, Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

const sum = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);

/** Both the scraped gauge and the fields under it are back to 0, for every endpoint; in-flight too. */
async function assertBalanced(gw: Gw, what: string): Promise<void> {
  // The exchange is accounted before (or as) the client sees its end; a client abort is seen by the gateway a little later.
  await until(`${what}: nothing in flight`, () => [...gw.core.endpoints.all()].every((ep) => ep.inflight === 0), 5_000);
  const g = await gauge(gw);
  assert.equal(g.size, gw.core.endpoints.size, `${what}: one series per endpoint`);
  assert.equal(sum(g), 0, `${what}: gauge ${JSON.stringify([...g])}`);
  for (const ep of gw.core.endpoints.all()) {
    assert.equal(ep.awaiting, 0, `${what}: ${ep.key}`);
    assert.equal(ep.pendingPrefill, 0, `${what}: ${ep.key} prompt tokens still counted ahead`);
  }
}

test('success: non-streaming, streaming and buffered (infer) requests; 0 once the first byte is back, while the stream runs', async () => {
  const gw = await gateway([OK]);
  try {
    const g0 = await gauge(gw);
    assert.deepEqual([...g0], [[`${OK}:${port}`, 0]], 'exported from the start, at 0');
    let promptTokens = 0;
    for (const stream of [false, true]) {
      const res = await complete(gw, { stream });
      assert.equal(res.status, 200);
      if (stream) await res.arrayBuffer();
      else promptTokens = ((await res.json()) as { usage: { prompt_tokens: number } }).usage.prompt_tokens;
    }
    // The engine's usage calibrated the model's characters per token: 'hello' is 5 characters.
    assert.ok(promptTokens > 0);
    assert.ok(Math.abs(charsPerTokenOf(MODEL) - 5 / promptTokens) < 1e-9, `${charsPerTokenOf(MODEL)} vs 5 / ${promptTokens}`);
    const infer = await fetch(gw.url + '/v1/models/s/infer', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: { text: 'hello' }, parameters: { max_tokens: 3 } }),
    });
    assert.equal(infer.status, 200, await infer.clone().text());
    await infer.arrayBuffer();
    await assertBalanced(gw, 'after success');

    // A long stream: once its first byte is back it is in flight but no longer awaiting.
    const res = await complete(gw, { stream: true, max_tokens: 2000 });
    const reader = res.body!.getReader();
    await reader.read();
    const ep = [...gw.core.endpoints.all()][0]!;
    assert.equal(ep.inflight, 1);
    assert.equal(sum(await gauge(gw)), 0, 'first byte back: not awaiting');
    await reader.cancel(); // and the client going away mid-stream gives nothing back twice
    await assertBalanced(gw, 'after a stream cancelled mid-way');
    assert.equal(ep.awaiting, 0);
  } finally {
    await gw.close();
  }
});

test('upstream 5xx with retry: each attempt holds its own pod until it fails, the retry takes the next', async () => {
  // Two failing pods and retries 1: attempt 1 fails (500 or 503), attempt 2 on the other pod fails, answered as is.
  const gw = await gateway([BAD1, BAD2], { retries: 1 });
  try {
    for (let i = 0; i < 3; i++) {
      const res = await complete(gw, { stream: i === 1 });
      assert.ok(res.status === 500 || res.status === 503, String(res.status));
      await res.arrayBuffer();
    }
    assert.ok(gw.log.every((l) => l.attempts === 2), JSON.stringify(gw.log.map((l) => l.attempts)));
    await assertBalanced(gw, 'after 5xx with retries');
  } finally {
    await gw.close();
  }
  // A failing pod and a healthy one: retried requests end 200.
  const gw2 = await gateway([BAD1, OK], { retries: 1 });
  try {
    for (let i = 0; i < 6; i++) {
      const res = await complete(gw2, { stream: i % 2 === 0 });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    assert.ok(gw2.log.some((l) => l.attempts === 2), 'some request was retried');
    await assertBalanced(gw2, 'after retried successes');
  } finally {
    await gw2.close();
  }
});

test('client abort before the first byte: 1 on the pod while it waits, 0 once the client is gone', async () => {
  const gw = await gateway([HANG1]);
  try {
    for (const stream of [false, true]) {
      const ac = new AbortController();
      const prompt = `${stream} `.padEnd(16, '-') + 'a long question '.repeat(249); // 4,000 characters, none sent before
      const pending = complete(gw, { stream, prompt }, ac.signal).catch((err: unknown) => err);
      await until('the request awaits its first byte', async () => (await gauge(gw)).get(`${HANG1}:${port}`) === 1);
      // Its prompt tokens stand ahead of a new request's first token on that pod (the TTFT scorer's queued work).
      const ep = [...gw.core.endpoints.all()][0]!;
      assert.equal(ep.pendingPrefill, Math.round(prompt.length / charsPerTokenOf(MODEL)));
      ac.abort();
      assert.ok((await pending) instanceof Error);
      await assertBalanced(gw, `after a client abort (stream ${stream})`);
    }
    assert.deepEqual(gw.log.map((l) => l.status), [499, 499]);
  } finally {
    await gw.close();
  }
});

test('first-byte timeout: with no retry (504), and retried onto another hanging pod, then a healthy one', async () => {
  const gw = await gateway([HANG1], { timeout: '150ms', retries: 0 });
  try {
    const res = await complete(gw);
    assert.equal(res.status, 504);
    await res.arrayBuffer();
    await assertBalanced(gw, 'after a timeout');
  } finally {
    await gw.close();
  }
  const gw2 = await gateway([HANG1, HANG2], { timeout: '150ms', retries: 1 });
  try {
    const res = await complete(gw2, { stream: true });
    assert.equal(res.status, 504);
    await res.arrayBuffer();
    assert.equal(gw2.log.at(-1)!.attempts, 2);
    await assertBalanced(gw2, 'after a retried timeout');
  } finally {
    await gw2.close();
  }
  const gw3 = await gateway([HANG1, OK], { timeout: '150ms', retries: 1 });
  try {
    for (let i = 0; i < 4; i++) {
      const res = await complete(gw3);
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    await assertBalanced(gw3, 'after timeouts retried to success');
  } finally {
    await gw3.close();
  }
});
