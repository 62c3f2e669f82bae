import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from './workqueue.ts';

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

test('deduplicates keys waiting in the queue', async () => {
  const q = new WorkQueue();
  q.add('a');
  q.add('b');
  q.add('a');
  assert.equal(q.length, 2);
  assert.equal(await q.get(), 'a');
  assert.equal(await q.get(), 'b');
  assert.equal(q.length, 0);
});

test('never hands a key being processed to a second worker; re-adds it after done', async () => {
  const q = new WorkQueue();
  q.add('a');
  const key = await q.get();
  assert.equal(key, 'a');
  q.add('a'); // arrives while processing
  q.add('a');
  assert.equal(q.length, 0, 'held back while processing');
  let second: string | undefined;
  void q.get().then((k) => (second = k));
  await tick();
  assert.equal(second, undefined);
  q.done('a');
  await tick();
  assert.equal(second, 'a', 'queued once more after done');
  q.done('a');
  assert.equal(q.length, 0);
});

test('a waiting worker receives a key as soon as it is added', async () => {
  const q = new WorkQueue();
  const pending = q.get();
  q.add('x');
  assert.equal(await pending, 'x');
  assert.ok(q.isProcessing('x'));
});

test('per-key exponential back-off, reset by forget', async () => {
  const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 35 });
  assert.equal(q.addRateLimited('k'), 10);
  assert.equal(q.addRateLimited('k'), 20);
  assert.equal(q.addRateLimited('k'), 35, 'capped');
  assert.equal(q.numRequeues('k'), 3);
  assert.equal(q.addRateLimited('other'), 10, 'other keys have their own back-off');
  q.forget('k');
  assert.equal(q.numRequeues('k'), 0);
  assert.equal(q.nextDelay('k'), 10);
  q.shutDown();
});

test('addAfter delays, collapses to the earliest, and dedups with the queue', async () => {
  const q = new WorkQueue();
  q.addAfter('d', 200);
  q.addAfter('d', 20);
  q.addAfter('d', 100);
  assert.equal(q.length, 0);
  await tick(40);
  assert.equal(q.length, 1);
  assert.equal(await q.get(), 'd');
  q.done('d');
  await tick(200);
  assert.equal(q.length, 0, 'the later delays were dropped');
});

test('shutDown releases waiting workers and stops accepting keys', async () => {
  const q = new WorkQueue();
  const pending = q.get();
  q.addAfter('late', 10);
  q.shutDown();
  assert.equal(await pending, undefined);
  q.add('z');
  assert.equal(q.length, 0);
  assert.equal(await q.get(), undefined);
  await tick(20);
  assert.equal(q.length, 0);
});

test('many workers, many adds: each key processed serially and finally once more', async () => {
  const q = new WorkQueue();
  const active = new Set<string>();
  const processed: string[] = [];
  let overlap = false;
  const worker = async () => {
    for (;;) {
      const key = await q.get();
      if (key === undefined) return;
      if (active.has(key)) overlap = true;
      active.add(key);
      await tick(1);
      processed.push(key);
      active.delete(key);
      q.done(key);
    }
  };
  const workers = [worker(), worker(), worker(), worker()];
  for (let i = 0; i < 50; i++) {
    q.add(`k${i % 5}`);
    if (i % 7 === 0) await tick(0);
  }
  await tick(30);
  q.shutDown();
  await Promise.all(workers);
  assert.equal(overlap, false);
  for (let i = 0; i < 5; i++) assert.ok(processed.includes(`k${i}`));
});
