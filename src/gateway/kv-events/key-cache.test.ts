import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvBlockHasher } from '../../api/kv-block-hash.ts';
import { BlockKeyCache } from './key-cache.ts';

const tokens = Array.from({ length: 16 * 20 + 5 }, (_, i) => (i * 7919) % 128256);

describe('BlockKeyCache', () => {
  it('gives the hasher\'s keys, and hashes a block seen before only once', () => {
    const h = new KvBlockHasher({ algo: 'sha256_cbor', seed: '3' });
    const want = new Float64Array(20);
    assert.equal(h.keys(tokens, 16, null, want), 20);
    const cache = new BlockKeyCache(1000);
    const got = new Float64Array(20);
    assert.equal(cache.keys(h, 'cfg', tokens, 16, null, got), 20);
    assert.deepEqual(got, want);
    assert.equal(cache.misses, 20);
    // The next turn: the same 20 blocks and 4 more.
    const longer = [...tokens.slice(0, 320), ...Array.from({ length: 64 }, (_, i) => i)];
    const out = new Float64Array(24);
    cache.keys(h, 'cfg', longer, 16, null, out);
    assert.equal(cache.hits, 20);
    assert.equal(cache.misses, 24);
    const fresh = new Float64Array(24);
    h.keys(longer, 16, null, fresh);
    assert.deepEqual(out, fresh);
  });

  it('keeps configurations and extra keys apart, and stays within its capacity', () => {
    const h = new KvBlockHasher({ algo: 'sha256_cbor', seed: '3' });
    const cache = new BlockKeyCache(16);
    const a = new Float64Array(20);
    const b = new Float64Array(20);
    cache.keys(h, 'cfg', tokens, 16, null, a);
    cache.keys(h, 'cfg', tokens, 16, ['lora'], b);
    const lora = new Float64Array(20);
    h.keys(tokens, 16, ['lora'], lora);
    assert.deepEqual(b, lora, 'the LoRA request is not served the base model\'s digests');
    assert.ok(cache.size <= 16);
  });
});
