import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyKvState, PagedKvCache, type KvHolder } from './kv-cache.ts';

function holder(ids: number[], lora: string | null = null, outputs: number[] = []): KvHolder {
  return { ...emptyKvState(), promptTokenIds: ids, outputTokenIds: outputs, lora, cacheable: true };
}

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('PagedKvCache', () => {
  it('allocates whole blocks, pins them while held and reports usage of pinned blocks only', () => {
    const kv = new PagedKvCache({ numBlocks: 10, blockSize: 4 });
    const a = holder(range(0, 10));
    assert.equal(kv.allocate(a, 10), true);
    assert.equal(a.kvBlocks.length, 3);
    assert.equal(kv.usedBlocks(), 3);
    assert.ok(Math.abs(kv.usage() - 0.3) < 1e-9);
    assert.equal(kv.allocate(holder(range(100, 40)), 40), false, 'only 7 blocks free');
    assert.equal(kv.usedBlocks(), 3, 'a failed allocation changes nothing');
    kv.commit(a, 10);
    kv.free(a);
    assert.equal(kv.usedBlocks(), 0);
    assert.equal(kv.cachedBlocks(), 2, 'the two full blocks stay cached after free');
  });

  it('finds the longest cached prefix of full blocks, never the last prompt token, and keeps adapters apart', () => {
    const kv = new PagedKvCache({ numBlocks: 100, blockSize: 4 });
    const a = holder(range(0, 16));
    kv.allocate(a, 16);
    kv.commit(a, 16);
    kv.free(a);
    assert.equal(kv.lookup(holder(range(0, 16)), 16), 12, 'all 16 cached, but the last token is recomputed');
    assert.equal(kv.lookup(holder(range(0, 17)), 17), 16);
    assert.equal(kv.lookup(holder([...range(0, 6), 999, ...range(7, 10)]), 17), 4, 'diverges in the second block');
    assert.equal(kv.lookup(holder([42, ...range(1, 16)]), 16), 0, 'chained: a change early misses everything after');
    assert.equal(kv.lookup(holder(range(0, 17), 'sql'), 17), 0, 'a LoRA adapter has its own keys');
    assert.equal(kv.lookup({ ...holder(range(0, 17)), cacheable: false }, 17), 0, 'unknown ids: no lookup');

    // Reusing a cached prefix pins those blocks and allocates only the rest.
    const b = holder(range(0, 20));
    const cached = kv.lookup(b, 20);
    assert.equal(cached, 16);
    assert.equal(kv.allocate(b, 20, cached), true);
    assert.equal(b.kvBlocks.length, 5);
    assert.equal(kv.usedBlocks(), 5);
    assert.equal(kv.cachedBlocks(), 0, 'the hit blocks are pinned again');
  });

  it('caches generated tokens too (the next turn of a conversation hits)', () => {
    const kv = new PagedKvCache({ numBlocks: 100, blockSize: 4 });
    const a = holder(range(0, 6), null, [50, 51, 52]);
    kv.allocate(a, 9);
    kv.commit(a, 9);
    kv.free(a);
    assert.equal(kv.lookup(holder([...range(0, 6), 50, 51, 52, 60]), 10), 8);
  });

  it('evicts free cached blocks least recently freed first, and only when it must', () => {
    const kv = new PagedKvCache({ numBlocks: 8, blockSize: 4 });
    const old = holder(range(0, 16));
    const recent = holder(range(1000, 16));
    for (const h of [old, recent]) {
      kv.allocate(h, 16);
      kv.commit(h, 16);
      kv.free(h);
    }
    assert.equal(kv.cachedBlocks(), 8);
    assert.equal(kv.stats.evictions, 0);
    const c = holder(range(5000, 16));
    assert.equal(kv.allocate(c, 16), true);
    assert.equal(kv.stats.evictions, 4);
    assert.equal(kv.lookup(holder(range(0, 17)), 17), 0, 'the older prompt was evicted');
    assert.equal(kv.lookup(holder(range(1000, 17)), 17), 16, 'the recent one is intact');
    assert.equal(kv.usage(), 0.5);
  });

  it('without prefix caching nothing is registered or found', () => {
    const kv = new PagedKvCache({ numBlocks: 10, blockSize: 4, prefixCaching: false });
    const a = holder(range(0, 12));
    kv.allocate(a, 12);
    kv.commit(a, 12);
    kv.free(a);
    assert.equal(kv.cachedBlocks(), 0);
    assert.equal(kv.lookup(holder(range(0, 12)), 12), 0);
  });
});
