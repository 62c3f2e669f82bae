import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from './memory-store.ts';
import type { CacheEntry } from './entry.ts';
import { normalise } from './embedder/embedder.ts';

const entry = (text: string): CacheEntry => ({ kind: 'chat', model: 'm', storedAt: 0, usage: null, choices: [{ index: 0, role: 'assistant', content: text, finish_reason: 'stop' }] });
const vec = (...xs: number[]) => normalise(Float32Array.from(xs));

test('records expire, the least recently used goes first, and bytes return to zero', async () => {
  let now = 1000;
  const s = new MemoryStore(2, () => now);
  await s.put('a', entry('A'), 100);
  await s.put('b', entry('B'), 100);
  assert.ok(s.stats().bytes > 0);
  assert.ok(await s.get('a')); // a is now the most recently used
  await s.put('c', entry('C'), 100);
  assert.equal(await s.get('b'), undefined, 'b was least recently used');
  assert.ok(await s.get('a'));
  assert.equal(s.stats().entries, 2);
  now += 100;
  assert.equal(await s.get('a'), undefined, 'expired');
  await s.put('d', entry('D'), 100); // the sweep drops the expired c
  assert.equal(s.stats().entries, 1);
  now += 100;
  await s.put('e', entry('E'), 1);
  now += 1;
  await s.put('f', entry('F'), 1);
  now += 1;
  await s.get('f');
  assert.equal(s.stats().entries, 0);
  assert.equal(s.stats().bytes, 0);
});

test('semantic vectors are searched per partition and leave with their record', async () => {
  let now = 0;
  const s = new MemoryStore(10, () => now);
  await s.put('k1', entry('one'), 1000, { partition: 'p', vector: vec(1, 0, 0), query: 'q1', ttlMs: 1000 });
  await s.put('k2', entry('two'), 1000, { partition: 'p', vector: vec(1, 1, 0), query: 'q2', ttlMs: 50 });
  await s.put('k3', entry('three'), 1000, { partition: 'other', vector: vec(1, 0, 0), query: 'q3', ttlMs: 1000 });
  const found = await s.search('p', vec(1, 0.1, 0), 0.5, 8);
  assert.deepEqual(found.map((m) => m.key), ['k1', 'k2']);
  assert.ok(found[0]!.similarity > 0.99);
  assert.deepEqual((await s.search('p', vec(0, 0, 1), 0.5, 8)).length, 0);
  now = 60;
  assert.deepEqual((await s.search('p', vec(1, 1, 0), 0.5, 8)).map((m) => m.key), ['k1'], 'k2 vector expired');
  now = 2000;
  await s.get('k1');
  assert.deepEqual(await s.search('p', vec(1, 0, 0), 0.5, 8), [], 'k1 record expired, its vector went with it');
});
