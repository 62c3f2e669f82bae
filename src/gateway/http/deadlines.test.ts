// The shared deadline queues: never early, in order, cancellable, re-entrant, several durations at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { deadline } from './deadlines.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('deadlines fire after their duration, in order; cancelled ones never fire', async () => {
  const fired: Array<{ id: number; late: number }> = [];
  const t0 = performance.now();
  const ds = [];
  for (let i = 0; i < 20; i++) {
    const at = performance.now() + 40;
    ds.push(deadline(40, (id: number) => fired.push({ id, late: performance.now() - at }), i));
    if (i % 5 === 4) await sleep(3);
  }
  ds[3]!.cancel();
  ds[3]!.cancel();
  ds[19]!.cancel();
  await sleep(120);
  assert.deepEqual(fired.map((f) => f.id), [...Array(20).keys()].filter((i) => i !== 3 && i !== 19));
  for (const f of fired) assert.ok(f.late >= 0, `fired ${f.late} ms early`);
  assert.ok(performance.now() - t0 >= 40);
});

test('several durations, and a deadline set from a firing callback', async () => {
  const order: string[] = [];
  deadline(60, (s: string) => order.push(s), 'long');
  deadline(15, (s: string) => {
    order.push(s);
    deadline(15, (t: string) => order.push(t), 'chained');
  }, 'short');
  const cancelled = deadline(15, (s: string) => order.push(s), 'never');
  cancelled.cancel();
  await sleep(100);
  assert.deepEqual(order, ['short', 'chained', 'long']);
});

test('a queue whose entries were all cancelled does not keep firing callbacks', async () => {
  let n = 0;
  for (let i = 0; i < 100; i++) deadline(10, () => n++, null).cancel();
  await sleep(30);
  assert.equal(n, 0);
  deadline(10, () => n++, null);
  await sleep(30);
  assert.equal(n, 1);
});
