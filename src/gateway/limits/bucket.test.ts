import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket, BucketMap } from './bucket.ts';

describe('TokenBucket', () => {
  it('admits up to the burst, then refills at the rate', () => {
    const b = new TokenBucket(3, 1 / 1000, 0); // 3 burst, 1 per second
    for (let i = 0; i < 3; i++) {
      assert.equal(b.wait(1, 0), 0);
      b.add(-1, 0);
    }
    assert.equal(b.wait(1, 0), 1000);
    assert.equal(b.wait(1, 500), 500);
    assert.equal(b.wait(1, 1000), 0);
  });

  it('a cost above capacity is admitted from a full bucket and leaves a debt', () => {
    const b = new TokenBucket(100, 100 / 60_000, 0);
    assert.equal(b.wait(250, 0), 0);
    b.add(-250, 0);
    assert.equal(b.level, -150);
    // The debt is waited out before the next request (1 token needs 151 tokens of refill).
    assert.equal(b.wait(1, 0), Math.ceil(151 / (100 / 60_000)));
  });

  it('refunds never exceed capacity; reconfigure keeps the level', () => {
    const b = new TokenBucket(10, 1, 0);
    b.add(-4, 0);
    b.add(100, 0);
    assert.equal(b.level, 10);
    b.add(-8, 0);
    b.reconfigure(5, 1, 0);
    assert.equal(b.level, 2);
    b.reconfigure(50, 1, 0);
    assert.equal(b.level, 2);
  });
});

describe('BucketMap', () => {
  it('keeps one bucket per key and sweeps full ones past the soft bound', () => {
    const m = new BucketMap(10, 1 / 1000, 4, 8);
    for (let i = 0; i < 4; i++) m.get(`u${i}`, 0).add(-5, 0);
    assert.equal(m.get('u0', 0).level, 5);
    // At 10 s every bucket is full again: adding a fifth sweeps them.
    m.get('u4', 10_000);
    assert.equal(m.size, 1);
  });

  it('past the hard bound the oldest go even when not full', () => {
    const m = new BucketMap(10, 1e-9, 2, 3);
    for (let i = 0; i < 10; i++) m.get(`u${i}`, 0).add(-5, 0);
    assert.ok(m.size <= 3, `size ${m.size}`);
  });
});
