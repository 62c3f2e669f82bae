import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff } from './backoff.ts';

describe('Backoff', () => {
  it('starts at 1 s locally and doubles to 5 min', () => {
    const b = new Backoff();
    const delays = Array.from({ length: 11 }, () => b.next(100));
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000, 300000]);
  });

  it('kubelet parameters give 10 s … 5 min', () => {
    const b = new Backoff({ initialMs: 10_000 });
    assert.deepEqual([b.next(0), b.next(0), b.next(0), b.next(0), b.next(0), b.next(0)], [10000, 20000, 40000, 80000, 160000, 300000]);
  });

  it('resets after a long enough run', () => {
    const b = new Backoff();
    b.next(0);
    b.next(0);
    assert.equal(b.next(0), 4000);
    assert.equal(b.next(600_000), 1000);
    assert.equal(b.next(1000), 2000);
    b.reset();
    assert.equal(b.lastMs, 0);
    assert.equal(b.next(0), 1000);
  });
});
