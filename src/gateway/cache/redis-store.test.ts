// The shared store on a real redis-server (started here on a free loopback port): two stores, as two gateway
// replicas, see each other's records and vectors, fetch only what is new, and start again when a partition expired.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisStore } from './redis-store.ts';
import type { CacheEntry } from './entry.ts';
import { normalise } from './embedder/embedder.ts';
import { needs } from '../../../test/support/system.ts';
import { freePort } from '../../../test/support/platform.ts';
import { until } from '../../kube/testing/until.ts';

const REDIS_BIN = process.env.REDIS_SERVER ?? 'redis-server';
const skip = needs(['redis-server', REDIS_BIN]);
let redis: ChildProcess | undefined;
let port = 0;
let tmp = '';
const stores: RedisStore[] = [];

before(async () => {
  if (skip) return;
  port = await freePort();
  tmp = mkdtempSync(join(tmpdir(), 'cache-redis-'));
  redis = spawn(REDIS_BIN, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmp], { stdio: 'ignore' });
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 20, maxRetriesPerRequest: 0 });
  probe.on('error', () => {});
  await until('redis-server', async () => (await probe.ping().catch(() => '')) === 'PONG');
  probe.disconnect();
});

after(() => {
  for (const s of stores) s.close();
  redis?.kill('SIGKILL');
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function store(prefix = 'test:'): Promise<RedisStore> {
  const s = new RedisStore({ address: `127.0.0.1:${port}`, keyPrefix: prefix, maxEntries: 100, timeoutMs: 1000 });
  stores.push(s);
  await s.ready();
  return s;
}

const entry = (text: string): CacheEntry => ({ kind: 'chat', model: 'm', storedAt: 5, usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 }, choices: [{ index: 0, role: 'assistant', content: text, finish_reason: 'stop' }] });
const vec = (...xs: number[]) => normalise(Float32Array.from(xs));

test('two replicas share records and vectors; each fetches only what is new', { skip }, async () => {
  const a = await store();
  const b = await store();
  await a.put('k1', entry('one'), 10_000, { partition: 'p', vector: vec(1, 0, 0), query: 'q1', ttlMs: 10_000 });
  assert.deepEqual(await b.get('k1'), entry('one'));
  assert.deepEqual((await b.search('p', vec(1, 0.1, 0), 0.9, 8)).map((m) => [m.key, m.query]), [['k1', 'q1']]);
  assert.equal(b.stats().entries, 1);
  await b.put('k2', entry('two'), 10_000, { partition: 'p', vector: vec(0, 1, 0), query: 'q2', ttlMs: 10_000 });
  assert.deepEqual((await a.search('p', vec(0, 1, 0.1), 0.9, 8)).map((m) => m.key), ['k2']);
  assert.equal(a.stats().entries, 2, 'a mirrors both vectors');
  // Nothing new: the mirror is unchanged.
  await a.search('p', vec(0, 1, 0), 0.9, 8);
  assert.equal(a.stats().entries, 2);
  assert.deepEqual(await a.search('elsewhere', vec(0, 1, 0), 0.5, 8), []);
  assert.equal(await a.get('missing'), undefined);
});

test('records and partitions expire; a partition that starts again is re-read whole', { skip }, async () => {
  const a = await store('exp:');
  const b = await store('exp:');
  await a.put('k1', entry('one'), 150, { partition: 'p', vector: vec(1, 0), query: 'q1', ttlMs: 150 });
  await a.put('k2', entry('two'), 150, { partition: 'p', vector: vec(1, 0.2), query: 'q2', ttlMs: 150 });
  assert.equal((await b.search('p', vec(1, 0), 0.9, 8)).length, 2);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await b.get('k1'), undefined);
  assert.deepEqual(await b.search('p', vec(1, 0), 0.9, 8), [], 'expired vectors are not matched');
  await a.put('k3', entry('three'), 10_000, { partition: 'p', vector: vec(1, 0.1), query: 'q3', ttlMs: 10_000 });
  assert.deepEqual((await b.search('p', vec(1, 0), 0.9, 8)).map((m) => m.key), ['k3']);
});

test('an unreachable Redis rejects fast instead of hanging', { skip }, async () => {
  const s = new RedisStore({ address: `127.0.0.1:${await freePort()}`, keyPrefix: 'x:', maxEntries: 10, timeoutMs: 50 });
  stores.push(s);
  const t0 = Date.now();
  await assert.rejects(s.get('k'));
  await assert.rejects(s.search('p', vec(1), 0.5, 1));
  assert.ok(Date.now() - t0 < 1000);
});
