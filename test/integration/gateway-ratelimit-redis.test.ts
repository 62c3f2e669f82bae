// Limits shared across gateway replicas through a real redis-server (started here on a free loopback port, in a
// temp dir): two gateways on the same API server count against the same buckets; when Redis is killed, a
// `failureMode: open` server keeps serving and a `closed` one answers 503, and both recover when Redis returns.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startTestApiServer, projectCrds, type TestApiServer } from '../../src/kube/testing/apiserver.ts';
import { startEngine, type EngineServer } from '../../src/engine/server.ts';
import { parseEngineArgs } from '../../src/engine/options.ts';
import { startGateway, type GatewayHandle } from '../../src/gateway/gateway.ts';
import { until } from '../../src/kube/testing/until.ts';
import { freePort } from '../support/platform.ts';
import { createEnginePod } from '../support/pods.ts';
import { needs } from '../support/system.ts';

const NET = '/apis/networking.matrixinfer.ai/v1alpha1/namespaces/default';
const ENGINE_IP = '127.0.0.61';
const REDIS_BIN = process.env.REDIS_SERVER ?? 'redis-server';
const skip = needs(['redis-server', REDIS_BIN]);

let api: TestApiServer;
let engine: EngineServer;
let gw1: GatewayHandle;
let gw2: GatewayHandle;
let redis: ChildProcess | undefined;
let redisPort: number;
let tmp: string;

async function startRedis(): Promise<void> {
  const p = spawn(REDIS_BIN, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmp], { stdio: 'ignore' });
  redis = p;
  let spawnError: Error | undefined;
  p.on('error', (err) => (spawnError = err));
  const probe = new Redis({ port: redisPort, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 20, maxRetriesPerRequest: 0 });
  probe.on('error', () => {});
  try {
    await until('redis-server', async () => {
      if (spawnError) throw spawnError;
      return (await probe.ping().catch(() => '')) === 'PONG';
    });
  } finally {
    probe.disconnect();
  }
}

async function killRedis(): Promise<void> {
  const p = redis;
  redis = undefined;
  if (!p || p.exitCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await exited;
}

async function chat(gw: GatewayHandle, model: string, maxTokens = 2): Promise<number> {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: maxTokens }),
  });
  await res.arrayBuffer();
  return res.status;
}

async function serverAndRoute(name: string, rateLimit: Record<string, unknown> | undefined, routeLimit?: Record<string, unknown>): Promise<void> {
  await api.call('POST', `${NET}/modelservers`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelServer',
    metadata: { name },
    spec: { modelInferRef: { name: 'sim' }, model: 'sim-model', service: { port: engine.port }, ...(rateLimit ? { rateLimit } : {}) },
  });
  await api.call('POST', `${NET}/modelroutes`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelRoute',
    metadata: { name },
    spec: { modelName: name, rules: [{ targetModels: [{ modelServerName: name }] }], ...(routeLimit ? { rateLimit: routeLimit } : {}) },
  });
}

describe('limits shared through Redis', { skip }, () => {
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'matrixinfer-redis-'));
    redisPort = await freePort();
    await startRedis();
    api = await startTestApiServer();
    await api.installCrds(projectCrds());
    engine = await startEngine(
      parseEngineArgs(['sim-model', '--host', ENGINE_IP, '--port', '0', '--time-to-first-token-ms', '1', '--inter-token-latency-ms', '1', '--inter-token-latency-per-seq-ms', '0'], { warn: () => {} }),
    );
    await createEnginePod(api, 'sim-0', 'sim');
    const res = await api.request(
      'PATCH',
      '/api/v1/namespaces/default/pods/sim-0/status',
      { status: { phase: 'Running', podIP: ENGINE_IP, conditions: [{ type: 'Ready', status: 'True' }] } },
      { contentType: 'application/merge-patch+json' },
    );
    assert.equal(res.status, 200);
    const address = `127.0.0.1:${redisPort}`;
    // Shared request bucket: burst 4, 1 per second.
    await serverAndRoute('shared', { enabled: true, requestsPerSecond: 1, burstSize: 4, global: { redis: { address }, failureMode: 'closed', timeout: '200ms' } });
    // Shared output tokens: 12 per hour across both replicas.
    await serverAndRoute('tokens', undefined, { outputTokensPerUnit: 12, unit: 'hour', global: { redis: { address }, timeout: '200ms' } });
    await serverAndRoute('fail-open', { enabled: true, requestsPerSecond: 1000, global: { redis: { address }, failureMode: 'open', timeout: '200ms' } });
    await serverAndRoute('fail-closed', { enabled: true, requestsPerSecond: 1000, global: { redis: { address }, failureMode: 'closed', timeout: '200ms' } });
    const opts = { kubeConfig: api.kubeConfig, port: 0, accessLog: false as const, log: () => {}, scrapeIntervalMs: 0 };
    gw1 = await startGateway(opts);
    gw2 = await startGateway(opts);
    await Promise.all([gw1.ready, gw2.ready]);
    for (const gw of [gw1, gw2]) await until('routes and Redis ready', async () => (await chat(gw, 'fail-closed')) === 200);
  });

  after(async () => {
    await gw1?.close();
    await gw2?.close();
    await engine?.close();
    await api?.close();
    await killRedis();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('two replicas share one request bucket', async () => {
    const started = Date.now();
    const results: number[] = [];
    for (let i = 0; i < 10; i++) results.push(await chat(i % 2 === 0 ? gw1 : gw2, 'shared'));
    const elapsed = (Date.now() - started) / 1000;
    const admitted = results.filter((s) => s === 200).length;
    // Each replica alone would admit 4; together they admit 4 (plus what refilled meanwhile).
    assert.ok(admitted >= 4 && admitted <= 4 + Math.ceil(elapsed), `${admitted} admitted in ${elapsed}s: ${results}`);
    assert.ok(results.filter((s) => s === 429).length >= 10 - 4 - Math.ceil(elapsed));
    // The bucket is a Redis hash with a TTL (it expires once it would be full again).
    const c = new Redis({ port: redisPort, host: '127.0.0.1' });
    try {
      const keys = await c.keys('matrixinfer:rl:server:default/shared:*');
      assert.equal(keys.length, 1);
      const ttl = await c.pttl(keys[0]!);
      assert.ok(ttl > 0 && ttl < 10_000, `ttl ${ttl}`);
    } finally {
      c.disconnect();
    }
  });

  test('output tokens counted across replicas', async () => {
    // 12 tokens per hour, 3 per request: the fifth request (whichever replica) finds the bucket exhausted.
    const results: number[] = [];
    for (let i = 0; i < 7; i++) results.push(await chat(i % 2 === 0 ? gw1 : gw2, 'tokens', 3));
    assert.deepEqual(results.slice(0, 4), [200, 200, 200, 200], String(results));
    assert.ok(results.slice(4).every((s) => s === 429), String(results));
  });

  test('Redis gone: fail open keeps serving, fail closed answers 503; both recover', async () => {
    await killRedis();
    await until('fail-closed refusing', async () => (await chat(gw1, 'fail-closed')) === 503);
    const res = await fetch(`${gw2.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fail-closed', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 }),
    });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '1');
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'rate_limiter_unavailable');
    for (let i = 0; i < 5; i++) assert.equal(await chat(i % 2 ? gw1 : gw2, 'fail-open'), 200);
    await startRedis();
    for (const gw of [gw1, gw2]) await until('fail-closed serving again', async () => (await chat(gw, 'fail-closed')) === 200);
  });
});
