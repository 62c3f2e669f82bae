// The waiting queue of starts from zero: bounded, in arrival order, bounded wait, clients leaving, dispatch when
// endpoints appear, one 0→1 write with back-off on failure (hand-made exchanges and tables); then through HTTP
// with a gateway core and a real simulated engine (held → 200, client gone → 499 and out of the queue, timeout → 503).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Holds, HOLD_RETRY_AFTER_S, type Dispatch } from './hold.ts';
import { buildRoutingTable, type ModelInferLike, type RoutingTable, type ServerEntry } from '../routing/table.ts';
import { EndpointRegistry } from '../scheduling/endpoint.ts';
import { GatewayMetrics } from '../observability/metrics.ts';
import type { Exchange } from '../http/exchange.ts';
import type { ScaleFromZero } from '../discovery/watch.ts';
import { accessLogCollector, modelRoute, modelServer, pod, serveCore, toServers } from '../testing/fixtures.ts';
import { createCore } from '../gateway.ts';
import { startEngine } from '../../engine/server.ts';
import { parseEngineArgs } from '../../engine/options.ts';
import { until } from '../../kube/testing/until.ts';
import { fastEngineArgs } from '../../../test/support/engines.ts';

const infer = (name: string, replicas: number): ModelInferLike => ({ metadata: { name, namespace: 'default' }, spec: { replicas } });

function world(replicas: number, readyIp?: string, port = 8000) {
  return {
    routes: [modelRoute('r', 'm', [toServers('s')])],
    servers: [modelServer('s', { service: { port } })],
    pods: readyIp === undefined ? [] : [pod('s-0', 's', { ip: readyIp })],
    infers: [infer('s', replicas)],
  };
}

/** The parts of an Exchange the queue touches. */
class FakeExchange {
  upstream: { abortByClient(): void } | null = null;
  waited = -1;
  done = false;
  failure: { code: string; retryAfter: number | undefined } | null = null;
  readonly id: number;
  constructor(id: number) {
    this.id = id;
  }
  fail(code: string, _message: string, options?: { retryAfter?: number }): void {
    this.done = true;
    this.failure = { code, retryAfter: options?.retryAfter };
  }
  /** What Exchange.onClientClose does: account, then abort the upstream. */
  clientGone(): void {
    this.done = true;
    const u = this.upstream;
    this.upstream = null;
    u?.abortByClient();
  }
}

function setup(options: { queueSize?: number; maxWaitMs?: number; scale?: ScaleFromZero | null; retryMs?: number } = {}, initial = 0) {
  const dispatched: number[] = [];
  let table: RoutingTable = buildRoutingTable(world(0));
  const metrics = new GatewayMetrics({ endpoints: () => new EndpointRegistry(), table: () => table });
  const dispatch: Dispatch = (ex) => dispatched.push((ex as unknown as FakeExchange).id);
  const holds = new Holds({ queueSize: 3, maxWaitMs: 5000, dispatch, metrics, retryMs: 20, ...options });
  const rebuild = (w: ReturnType<typeof world>): void => {
    table = buildRoutingTable(w);
    holds.update(table);
  };
  rebuild(world(initial));
  const server = (): ServerEntry => table.servers.get('default/s')!;
  const hold = (ex: FakeExchange): boolean => holds.hold(ex as unknown as Exchange, server());
  const metric = async (name: string): Promise<string> => (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name)!.values.map((v) => `${JSON.stringify(v.labels)} ${v.value}`).join('\n');
  return { holds, dispatched, rebuild, server, hold, metric };
}

test('the table knows the ModelInfer replicas; only idle targets with a known ModelInfer can hold', () => {
  const t = buildRoutingTable(world(0));
  const s = t.servers.get('default/s')!;
  assert.equal(s.inferKey, 'default/s');
  assert.equal(s.inferReplicas, 0);
  assert.deepEqual(t.models.get('m')!.routes[0]!.rules[0]!.idle, [s]);
  const unknown = buildRoutingTable({ ...world(0), infers: [] }).servers.get('default/s')!;
  assert.equal(unknown.inferReplicas, -1);
  const serving = buildRoutingTable(world(1, '127.0.0.1'));
  assert.deepEqual(serving.models.get('m')!.routes[0]!.rules[0]!.idle, []);
});

test('bounded and in arrival order; dispatched when an endpoint appears; one 0→1 write', async () => {
  const writes: string[] = [];
  const { holds, dispatched, rebuild, hold, metric } = setup({ scale: async (ns, name) => (writes.push(`${ns}/${name}`), 'scaled') });
  const exs = [1, 2, 3, 4].map((i) => new FakeExchange(i));
  for (const ex of exs.slice(0, 3)) assert.equal(hold(ex), true);
  assert.equal(holds.waiting('default/s'), 3);
  // Past the bound: 503 with retry-after, at once.
  assert.equal(hold(exs[3]!), true);
  assert.deepEqual(exs[3]!.failure, { code: 'model_scaling_from_zero', retryAfter: HOLD_RETRY_AFTER_S });
  await sleep(10);
  assert.deepEqual(writes, ['default/s'], 'one write for three held requests');

  // The ModelInfer went to 1, its pod is not ready yet: still waiting (starting), nothing written again.
  rebuild(world(1));
  assert.equal(holds.waiting('default/s'), 3);
  assert.equal(holds.canHold(buildRoutingTable(world(1)).servers.get('default/s')!), true, 'a ModelInfer seen at 0 and starting holds');
  // Ready: dispatched in arrival order through the normal path.
  rebuild(world(1, '127.0.0.1'));
  assert.deepEqual(dispatched, [1, 2, 3]);
  assert.equal(holds.waiting('default/s'), 0);
  for (const ex of exs.slice(0, 3)) {
    assert.equal(ex.upstream, null);
    assert.ok(ex.waited >= 0);
  }
  assert.match(await metric('matrixinfer_gateway_scale_from_zero_total'), /"outcome":"scaled"} 1/);
  assert.match(await metric('matrixinfer_gateway_held_requests'), /"model_server":"s"} 0/);
  holds.close();
});

test('a request waits at most maxWaitMs (or routing.timeout), then 503 with retry-after', async () => {
  const { holds, hold, server } = setup({ maxWaitMs: 100 });
  const ex = new FakeExchange(1);
  const t0 = performance.now();
  hold(ex);
  await until('timed out', () => ex.failure !== null, 3000, 5);
  const waited = performance.now() - t0;
  assert.deepEqual(ex.failure, { code: 'model_scaling_from_zero', retryAfter: HOLD_RETRY_AFTER_S });
  assert.ok(waited >= 95 && waited < 1000, `waited ${waited} ms`);
  assert.equal(holds.waiting('default/s'), 0);
  // routing.timeout shorter than maxWaitMs bounds the wait.
  const short = { ...server(), timeoutMs: 30 };
  const ex2 = new FakeExchange(2);
  holds.hold(ex2 as unknown as Exchange, short);
  await sleep(80);
  assert.equal(ex2.failure?.code, 'model_scaling_from_zero');
  holds.close();
});

test('a client that disconnects leaves the queue; the others keep their order', async () => {
  const { holds, dispatched, rebuild, hold, metric } = setup();
  const exs = [1, 2, 3].map((i) => new FakeExchange(i));
  for (const ex of exs) hold(ex);
  exs[1]!.clientGone();
  assert.equal(holds.waiting('default/s'), 2);
  exs[0]!.clientGone();
  exs[2]!.clientGone();
  assert.equal(holds.waiting('default/s'), 0, 'no leak');
  const again = new FakeExchange(4);
  hold(again);
  rebuild(world(1, '127.0.0.1'));
  assert.deepEqual(dispatched, [4]);
  assert.match(await metric('matrixinfer_gateway_hold_wait_seconds'), /client_gone/);
  holds.close();
});

test('no hold when the ModelInfer is unknown, serving, or holding is off; a vanished ModelServer fails its waiters', () => {
  const off = setup({ queueSize: 0 });
  assert.equal(off.hold(new FakeExchange(1)), false);
  const { holds, hold, rebuild } = setup({}, 2);
  assert.equal(hold(new FakeExchange(2)), false, 'at 2 replicas, never seen at 0: not starting, 503 at once');
  rebuild({ ...world(0), infers: [] });
  assert.equal(hold(new FakeExchange(1)), false, 'ModelInfer not known');
  rebuild(world(0));
  const ex = new FakeExchange(3);
  assert.equal(hold(ex), true);
  rebuild({ ...world(0), servers: [], routes: [] });
  assert.equal(ex.failure?.code, 'no_healthy_upstream');
  holds.close();
});

test('a failed 0→1 write is retried with back-off while requests wait; another writer first counts as done', async () => {
  let calls = 0;
  const scale: ScaleFromZero = async () => {
    calls++;
    if (calls < 3) throw new Error('API server unavailable');
    return 'not_at_zero';
  };
  const { holds, hold } = setup({ scale });
  hold(new FakeExchange(1));
  await until('three writes', () => calls === 3, 3000, 5);
  await sleep(100);
  assert.equal(calls, 3, 'no write after success');
  holds.close();
});

test('through HTTP: held then 200 when the pod is ready; a client gone is 499 and leaves; past the wait 503 with retry-after', async () => {
  const ip = '127.0.0.71';
  const engine = await startEngine(parseEngineArgs(fastEngineArgs('m', ip, 0), { warn: () => {} }));
  const { out, log } = accessLogCollector();
  const writes: string[] = [];
  const core = createCore({ accessLog: out, holdMaxWaitMs: 400, scaleFromZero: async (ns, name) => (writes.push(`${ns}/${name}`), 'scaled'), log: () => {} });
  core.synced = true;
  const port = engine.port;
  core.rebuild(world(0, undefined, port));
  const served = await serveCore(core);
  const post = (id: string, signal?: AbortSignal) =>
    fetch(`${served.url}/v1/completions`, { method: 'POST', signal, headers: { 'content-type': 'application/json', 'x-request-id': id }, body: JSON.stringify({ model: 'm', prompt: 'hi', max_tokens: 2 }) });
  try {
    // Held, then answered once the pod is ready.
    const first = post('held');
    await until('held', () => core.holds.waiting('default/s') === 1, 3000, 5);
    assert.deepEqual(writes, ['default/s']);
    core.rebuild(world(1, undefined, port));
    await sleep(50);
    core.rebuild(world(1, ip, port));
    const res = await first;
    assert.equal(res.status, 200, await res.clone().text());
    await res.text();
    const line = await until('access log', () => log.find((l) => l.request_id === 'held'));
    assert.equal(line.status, 200);
    assert.ok(Number(line.wait_ms) >= 50, `wait_ms ${line.wait_ms}`);

    // At zero again (scaled down): a client that gives up leaves the queue.
    core.rebuild(world(0, undefined, port));
    const ac = new AbortController();
    const gone = post('gone', ac.signal).catch(() => undefined);
    await until('held again', () => core.holds.waiting('default/s') === 1, 3000, 5);
    ac.abort();
    await gone;
    await until('left the queue', () => core.holds.waiting('default/s') === 0, 3000, 5);
    assert.equal((await until('499 logged', () => log.find((l) => l.request_id === 'gone'))).status, 499);

    // Nobody starts it: 503 after the wait.
    const t0 = performance.now();
    const late = await post('late');
    const body = (await late.json()) as { error: { code: string; type: string } };
    assert.equal(late.status, 503);
    assert.equal(late.headers.get('retry-after'), String(HOLD_RETRY_AFTER_S));
    assert.equal(body.error.code, 'model_scaling_from_zero');
    assert.equal(body.error.type, 'server_error');
    assert.ok(performance.now() - t0 >= 390);
  } finally {
    core.holds.close();
    await served.close();
    await engine.close();
    core.accessLog.flush();
  }
});
