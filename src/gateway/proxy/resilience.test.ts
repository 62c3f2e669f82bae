// Retries, first-byte timeouts, circuit breaking, trace propagation and the debug view, against real simulated
// engines on loopback "pod IPs" whose failures come from the engine's own fault injection (/admin/faults), through
// a gateway core built from hand-made worlds (no Kubernetes API; test/integration/gateway-resilience.test.ts
// drives the same through the API server).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createCore, type TestableCore } from '../gateway.ts';
import { startEngine, type EngineServer } from '../../engine/server.ts';
import { parseEngineArgs } from '../../engine/options.ts';
import { accessLogCollector, modelRoute, modelServer, pod, serveCore, toServers } from '../testing/fixtures.ts';
import type { ModelServerSpec } from '../../api/kinds/modelserver.ts';
import { startDebugServer, type DebugServer } from '../observability/debug.ts';
import { until } from '../../kube/testing/until.ts';
import { engineMetric, fastEngineArgs } from '../../../test/support/engines.ts';

const MODEL = 'm';
const FAST = '127.0.0.41';
const HANG = '127.0.0.42';
const BAD = '127.0.0.43';
const RECORDER = '127.0.0.44';
const DEAD1 = '127.0.0.45';
const DEAD2 = '127.0.0.46';

let fast: EngineServer;
let hang: EngineServer;
let bad: EngineServer;
let recorder: HeaderRecorder;
let port: number;

function engineArgs(ip: string, p: number): string[] {
  return fastEngineArgs(MODEL, ip, p, ['--max-model-len', '200000']);
}

/** Replace an engine's fault config (the engine's admin endpoint); {} clears it. */
async function faults(e: EngineServer, config: Record<string, unknown>): Promise<void> {
  const res = await fetch(e.url + '/admin/faults', { method: 'PUT', body: JSON.stringify(config) });
  assert.equal(res.status, 200, await res.text());
}

/** Generation requests the engine has seen (faulted or not). */
async function engineRequests(e: EngineServer): Promise<number> {
  return ((await (await fetch(e.url + '/admin/faults')).json()) as { requests: number }).requests;
}

// HEADER RECORDER. The engine does not expose the headers it received, so this minimal upstream answers a fixed
// completion and records them (for traceparent propagation only).
interface HeaderRecorder {
  seen: IncomingHttpHeaders[];
  close(): Promise<void>;
}

async function startRecorder(ip: string, p: number): Promise<HeaderRecorder> {
  const seen: IncomingHttpHeaders[] = [];
  const s: Server = createServer(async (req, res) => {
    for await (const _ of req);
    seen.push(req.headers);
    const body = JSON.stringify({ id: 'cmpl-1', object: 'text_completion', model: MODEL, choices: [{ index: 0, text: 'x', finish_reason: 'length' }] });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => s.listen(p, ip, () => r()));
  return {
    seen,
    close: async () => {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
  };
}

before(async () => {
  fast = await startEngine(parseEngineArgs(engineArgs(FAST, 0), { warn: () => {} }));
  port = fast.port;
  hang = await startEngine(parseEngineArgs(engineArgs(HANG, port), { warn: () => {} }));
  bad = await startEngine(parseEngineArgs(engineArgs(BAD, port), { warn: () => {} }));
  recorder = await startRecorder(RECORDER, port);
  await faults(hang, { mode: 'hang' });
});

after(async () => {
  await Promise.all([fast?.close(), hang?.close(), bad?.close(), recorder?.close()]);
});

interface Gw {
  core: TestableCore;
  url: string;
  log: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/** A gateway serving model `m` from one ModelServer `s` over pods at `ips` (all on the engines' port). */
async function gateway(ips: string[], routing: ModelServerSpec['routing'] = {}, options: { bodyReadTimeoutMs?: number } = {}): Promise<Gw> {
  const { out, log } = accessLogCollector();
  const core = createCore({ accessLog: out, ...options });
  core.rebuild({
    servers: [modelServer('s', { inferName: 's', service: { port }, routing: { path: '/v1/models/s', ...routing } })],
    routes: [modelRoute('r', MODEL, [toServers('s')])],
    pods: ips.map((ip, i) => pod(`s-${i}`, 's', { ip })),
  });
  core.synced = true;
  return { core, log, ...(await serveCore(core)) };
}

function complete(gw: Gw, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(gw.url + '/v1/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: MODEL, prompt: 'hello', max_tokens: 3, ...extra }),
  });
}

async function metric(gw: Gw, pattern: RegExp): Promise<number> {
  const m = pattern.exec(await (await fetch(gw.url + '/metrics')).text());
  return m ? Number(m[1]) : 0;
}

function inflight(gw: Gw): number {
  let n = 0;
  for (const ep of gw.core.endpoints.all()) n += ep.inflight;
  return n;
}



test('first-byte timeout is our own timer: 504 close to routing.timeout, the engine request let go', async () => {
  const gw = await gateway([HANG], { timeout: '250ms', retries: 0 });
  try {
    const t0 = performance.now();
    const res = await complete(gw);
    const elapsed = performance.now() - t0;
    assert.equal(res.status, 504);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'upstream_timeout');
    // undici's headersTimeout fired 2–4× late; ours is within tens of ms (generous bound for a loaded machine).
    assert.ok(elapsed >= 240 && elapsed < 750, `504 after ${elapsed.toFixed(0)} ms for a 250 ms timeout`);
    assert.equal(inflight(gw), 0);
    assert.equal(await metric(gw, /matrixinfer_gateway_upstream_attempts_total\{model="m",outcome="timeout"\} (\d+)/), 1);
    // The abandoned attempt is gone from the upstream pool (its connection was destroyed, not returned to the pool).
    const stats = gw.core.pools.get(`http://${HANG}:${port}`).stats;
    assert.equal(stats.running + stats.pending, 0);
  } finally {
    await gw.close();
  }
});

test('a timed-out attempt is retried on another pod; streams may run longer than the timeout', async () => {
  const gw = await gateway([HANG, FAST], { timeout: '300ms', retries: 1 });
  try {
    for (let i = 0; i < 4; i++) {
      const res = await complete(gw, {}, { 'x-request-id': `to-${i}` });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }
    const retried = gw.log.filter((l) => l.attempts === 2);
    assert.ok(retried.length >= 1, 'some request landed on the hanging pod first');
    assert.ok(retried.every((l) => l.pod === 'default/s-1' && l.status === 200));
    assert.equal(await metric(gw, /matrixinfer_gateway_upstream_attempts_total\{model="m",outcome="timeout"\} (\d+)/), retried.length);
    // A stream longer than the first-byte timeout: 400 tokens at ≥ 1 ms each after a fast first byte, 300 ms budget.
    const gw2 = await gateway([FAST], { timeout: '300ms' });
    try {
      const res = await complete(gw2, { stream: true, max_tokens: 400 });
      const text = await res.text();
      assert.match(text, /data: \[DONE\]\n\n$/);
      assert.ok(Number(gw2.log.at(-1)!.duration_ms) > 300, `stream took ${String(gw2.log.at(-1)!.duration_ms)} ms`);
    } finally {
      await gw2.close();
    }
  } finally {
    await gw.close();
  }
});

test('5xx and connect errors are retried on pods not tried yet, up to routing.retries', async () => {
  await faults(bad, { failureRate: 1, failureTypes: ['overloaded'] });
  // Pods: two dead addresses, one answering 503, one healthy. With 3 retries every request ends 200 on the healthy pod.
  const gw = await gateway([DEAD1, DEAD2, BAD, FAST], { retries: 3, circuitBreaker: { consecutiveFailures: 1000 } });
  try {
    for (let i = 0; i < 6; i++) {
      const res = await complete(gw);
      assert.equal(res.status, 200, `request ${i}`);
      await res.arrayBuffer();
    }
    for (const l of gw.log) {
      assert.equal(l.pod, 'default/s-3');
      assert.ok(Number(l.attempts) >= 1 && Number(l.attempts) <= 4);
    }
    // A retried request never tried the same pod twice: attempts − 1 failures, each on a distinct bad pod.
    const failures = (await metric(gw, /outcome="connect"\} (\d+)/)) + (await metric(gw, /outcome="status"\} (\d+)/));
    assert.equal(failures, gw.log.reduce((n, l) => n + Number(l.attempts) - 1, 0));
    assert.ok(failures > 0);
    assert.equal(await metric(gw, /outcome="success"\} (\d+)/), 6);
  } finally {
    await gw.close();
  }
  // Out of retries: the engine's own 5xx is relayed as it is.
  const gw0 = await gateway([BAD], { retries: 0 });
  try {
    const res = await complete(gw0);
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { error: { type: string } }).error.type, 'ServiceUnavailableError');
  } finally {
    await gw0.close();
    await faults(bad, {});
  }
});

test('an engine reset before any response byte is retried (nothing reached the client)', async () => {
  await faults(bad, { mode: 'reset', afterTokens: 0 });
  const gw = await gateway([BAD, FAST], { retries: 1, circuitBreaker: { consecutiveFailures: 1000 } });
  try {
    const hits = await engineRequests(bad);
    for (let i = 0; i < 4; i++) {
      const res = await complete(gw, { stream: true });
      assert.equal(res.status, 200);
      assert.match(await res.text(), /data: \[DONE\]\n\n$/);
    }
    const tried = (await engineRequests(bad)) - hits;
    assert.ok(tried > 0, 'the bad pod was tried');
    assert.equal(await metric(gw, /outcome="reset"\} (\d+)/), tried);
    assert.equal(inflight(gw), 0);
  } finally {
    await gw.close();
    await faults(bad, {});
  }
});

test('a stream that breaks after bytes were sent ends with an SSE error event and closes', async () => {
  await faults(bad, { mode: 'reset', afterTokens: 3 });
  const gw = await gateway([BAD], { retries: 2 });
  try {
    const res = await complete(gw, { stream: true, max_tokens: 50 });
    assert.equal(res.status, 200);
    const events = (await res.text()).split('\n\n').filter(Boolean);
    const last = JSON.parse(events.at(-1)!.slice(6)) as { error: { code: string; type: string } };
    assert.equal(last.error.code, 'upstream_error');
    assert.equal(last.error.type, 'server_error');
    assert.ok(events.length >= 3 && events.length < 50, `${events.length} events`);
    assert.equal(gw.log.at(-1)!.attempts, 1, 'no retry once bytes reached the client');
    assert.equal(await metric(gw, /outcome="stream"\} (\d+)/), 1);
    assert.equal(inflight(gw), 0);
  } finally {
    await gw.close();
    await faults(bad, {});
  }
});

test('circuit breaker: a failing pod is ejected, probed with /health after the back-off, half-open, re-ejected, healed', async () => {
  await faults(bad, { failureRate: 1, failureTypes: ['server_error'] });
  const gw = await gateway([BAD, FAST], { retries: 1, circuitBreaker: { consecutiveFailures: 2, baseEjectionTime: '400ms', maxEjectionTime: '5s' } });
  let debug: DebugServer | undefined;
  try {
    debug = await startDebugServer({ table: () => gw.core.table, endpoints: () => gw.core.endpoints, synced: () => true }, 0);
    const hits0 = await engineRequests(bad);
    // Until ejected, the bad pod gets every other request (least-outstanding ties go round-robin); retries save them.
    for (let i = 0; i < 6; i++) assert.equal((await complete(gw)).status, 200);
    assert.equal((await engineRequests(bad)) - hits0, 2, 'two failures, then ejected');
    const ep = [...gw.core.endpoints.all()].find((e) => e.ip === BAD)!;
    assert.equal(ep.breaker?.state, 'open');
    const dumped = (await (await fetch(debug.url + '/debug/config_dump/endpoints')).json()) as Array<{ address: string; circuit: { state: string; lastError: string } }>;
    const mine = dumped.find((d) => d.address.startsWith(BAD))!;
    assert.equal(mine.circuit.state, 'open');
    assert.match(mine.circuit.lastError, /500/);
    assert.equal(await metric(gw, /matrixinfer_gateway_endpoint_ejected\{[^}]*address="127\.0\.0\.43:\d+"\} (\S+)/), 1);
    assert.equal(await metric(gw, /matrixinfer_gateway_circuit_ejections_total\{namespace="default",pod="s-0"\} (\d+)/), 1);
    // Back-off over → GET /health answers → half-open: one request goes there; it fails → ejected again, longer.
    await until('half-open after the probe', () => ep.breaker?.state === 'half-open', 3000);
    for (let i = 0; i < 4; i++) assert.equal((await complete(gw)).status, 200);
    assert.equal((await engineRequests(bad)) - hits0, 3, 'one request in the half-open state');
    assert.equal(ep.breaker?.state, 'open');
    assert.equal(ep.breaker?.ejections, 2);
    // Recovery: the pod heals; after the (doubled) back-off it is probed, tried once, and closed again.
    await faults(bad, {});
    await until('half-open again', () => ep.breaker?.state === 'half-open', 4000);
    for (let i = 0; i < 4; i++) await (await complete(gw)).arrayBuffer();
    assert.equal(ep.breaker?.state, 'closed');
    assert.equal(ep.breaker?.ejections, 0);
    assert.ok((await engineRequests(bad)) - hits0 >= 5, 'back in rotation');
    assert.equal(inflight(gw), 0);
  } finally {
    await debug?.close();
    await gw.close();
    await faults(bad, {});
  }
});

test('a dead pod stays ejected while its /health probe fails (back-off doubles)', async () => {
  const gw = await gateway([DEAD1, FAST], { retries: 1, circuitBreaker: { consecutiveFailures: 1, baseEjectionTime: '100ms', maxEjectionTime: '10s' } });
  try {
    assert.equal((await complete(gw)).status, 200);
    assert.equal((await complete(gw)).status, 200);
    const ep = [...gw.core.endpoints.all()].find((e) => e.ip === DEAD1)!;
    await until('probed and re-ejected twice', () => (ep.breaker?.ejections ?? 0) >= 3, 4000);
    assert.equal(ep.breaker?.state, 'open');
    assert.match(ep.breaker!.lastError, /health probe: ECONNREFUSED/);
    for (let i = 0; i < 4; i++) assert.equal((await complete(gw)).status, 200);
    assert.equal(await metric(gw, /outcome="connect"\} (\d+)/), 1, 'no request went to the dead pod after the first');
  } finally {
    await gw.close();
  }
});

test('every pod ejected: the breaker fails open rather than refusing all traffic', async () => {
  await faults(bad, { failureRate: 1, failureTypes: ['server_error'] });
  const gw = await gateway([BAD], { retries: 0, circuitBreaker: { consecutiveFailures: 1, baseEjectionTime: '60s' } });
  try {
    assert.equal((await complete(gw)).status, 500);
    const ep = [...gw.core.endpoints.all()][0]!;
    assert.equal(ep.breaker?.state, 'open');
    const hits = await engineRequests(bad);
    assert.equal((await complete(gw)).status, 500, 'still routed: the engine answers, not a 503 from the gateway');
    assert.equal(await engineRequests(bad), hits + 1);
  } finally {
    await gw.close();
    await faults(bad, {});
  }
});

test('W3C traceparent: propagated with a new parent id, or created; the trace id is in the access log', async () => {
  const gw = await gateway([RECORDER], { retries: 0 });
  try {
    const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await (await complete(gw, {}, { traceparent: incoming, tracestate: 'congo=t61rcWkgMzE', 'x-request-id': 'tp-1' })).arrayBuffer();
    const sent = recorder.seen.at(-1)!;
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(sent.traceparent));
    assert.ok(m, String(sent.traceparent));
    assert.equal(m[1], '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.notEqual(m[2], '00f067aa0ba902b7', 'the gateway is a hop: new parent id');
    assert.equal(sent.tracestate, 'congo=t61rcWkgMzE');
    assert.equal(gw.log.find((l) => l.request_id === 'tp-1')!.trace_id, '4bf92f3577b34da6a3ce929d0e0e4736');
    // None, or an invalid one: a new trace.
    for (const [i, tp] of [undefined, '00-00000000000000000000000000000000-00f067aa0ba902b7-01', 'garbage'].entries()) {
      await (await complete(gw, {}, { 'x-request-id': `tp-new-${i}`, ...(tp ? { traceparent: tp } : {}) })).arrayBuffer();
      const h = String(recorder.seen.at(-1)!.traceparent);
      const mm = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(h);
      assert.ok(mm, h);
      assert.notEqual(mm[1], '0'.repeat(32));
      assert.equal(gw.log.find((l) => l.request_id === `tp-new-${i}`)!.trace_id, mm[1]);
    }
    assert.equal(new Set(gw.log.map((l) => l.trace_id)).size, 4);
  } finally {
    await gw.close();
  }
});

test('debug listener: loopback only; routes, servers and endpoints with in-flight counts', async () => {
  const gw = await gateway([FAST, DEAD1], { timeout: '2s', retries: 2 });
  const debug = await startDebugServer({ table: () => gw.core.table, endpoints: () => gw.core.endpoints, synced: () => true }, 0);
  try {
    assert.match(debug.url, /^http:\/\/127\.0\.0\.1:/);
    // A stream held open on the fast pod shows up as in flight.
    const res = await complete(gw, { stream: true, max_tokens: 100_000 });
    const reader = res.body!.getReader();
    await reader.read();
    const all = (await (await fetch(debug.url + '/debug/config_dump')).json()) as {
      synced: boolean;
      routes: Array<{ route: string; names: string[]; rules: Array<{ targets: Array<{ server: string; weight: number }> }> }>;
      servers: Array<{ server: string; timeoutMs: number; retries: number; endpoints: string[]; circuitBreaker: { consecutiveFailures: number } }>;
      endpoints: Array<{ pod: string; inflight: number; circuit: { state: string } }>;
    };
    assert.equal(all.synced, true);
    assert.deepEqual(all.routes[0]!.names, ['m']);
    assert.deepEqual(all.routes[0]!.rules[0]!.targets, [{ server: 'default/s', weight: 100 }]);
    assert.equal(all.servers[0]!.timeoutMs, 2000);
    assert.equal(all.servers[0]!.retries, 2);
    assert.equal(all.servers[0]!.circuitBreaker.consecutiveFailures, 5);
    assert.equal(all.servers[0]!.endpoints.length, 2);
    assert.equal(all.endpoints.find((e) => e.pod === 'default/s-0')!.inflight, 1);
    await reader.cancel();
    assert.equal((await fetch(debug.url + '/debug/nope')).status, 404);
  } finally {
    await debug.close();
    await gw.close();
  }
});
