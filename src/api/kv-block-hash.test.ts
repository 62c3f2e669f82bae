// Known vectors from vLLM's own encoding: Python's cbor2 (canonical=True) and hashlib, as vllm/utils/hashing.py
// sha256_cbor and vllm/v1/core/kv_cache_utils.py hash_block_tokens compute them (the generator is in the comment
// below), so a change to our CBOR bytes that breaks parity with real vLLM pods fails here.
//
//   def sha256_cbor(x): return hashlib.sha256(cbor2.dumps(x, canonical=True)).digest()
//   none = sha256_cbor(seed); parent = none
//   for each block: parent = sha256_cbor((parent, tuple(block), extra_keys)); emit int.from_bytes(parent) & (2**64-1)
//   (64-bit scheme: parent = low64(none), then parent = low64(sha256_cbor((parent, tuple(block), None))))
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvBlockHasher, key53, key53OfWire, wireHash, type KvHashAlgo } from './kv-block-hash.ts';

const TOKENS = [...Array.from({ length: 32 }, (_, i) => i + 1), 128000, 70000, 300, 5, 23, 24, 255, 256, 65535, 65536, 128255, 0, 1, 2, 3, 4];

function chain(algo: KvHashAlgo, seed: string, extra: string[] | null): string[] {
  const h = new KvBlockHasher({ algo, seed });
  const out: string[] = [];
  let parent: Buffer | null = null;
  for (let i = 0; i + 16 <= TOKENS.length; i += 16) {
    parent = h.next(parent, TOKENS, i, i + 16, extra);
    out.push(wireHash(parent).toString());
  }
  return out;
}

describe('KV block hashes (vLLM sha256_cbor)', () => {
  it('NONE_HASH is sha256 of the CBOR text string of PYTHONHASHSEED', () => {
    assert.equal(new KvBlockHasher({ algo: 'sha256_cbor', seed: '0' }).root.toString('hex'), '4e1195df020de59e0d65a33a4279f1183e7ae4e5d980e309f8b55adff2e61c3e');
    assert.equal(new KvBlockHasher({ algo: 'sha256_cbor', seed: '42' }).root.toString('hex'), '9fa6eb003f14425eb9c8e6baacfbcaab26257357b829c7bfa74ffcc4f31c1780');
  });

  it('chains 32-byte digests as vLLM ≥ 0.10.2 does (every CBOR integer width in the block)', () => {
    assert.deepEqual(chain('sha256_cbor', '0', null), ['3236607068019569386', '2758186210834249151', '3703710628981580500']);
    assert.deepEqual(chain('sha256_cbor', '42', null), ['16300212363532267629', '8671309795006503672', '2698178136761381204']);
  });

  it('puts the LoRA name in extra_keys', () => {
    assert.deepEqual(chain('sha256_cbor', '0', ['my-lora']), ['15444946753610453501', '6571079245177515926', '8887294400699406314']);
    assert.deepEqual(chain('sha256_cbor', '42', ['my-lora']), ['7504927521013331450', '974903687367520198', '11479190898044552566']);
  });

  it('chains 64-bit integers as sha256_cbor_64bit (vLLM 0.9–0.10.1, llm-d) does', () => {
    assert.deepEqual(chain('sha256_cbor_64bit', '0', null), ['6090100016636780107', '3502488347233910028', '13702473124271750276']);
    assert.deepEqual(chain('sha256_cbor_64bit', '42', null), ['9442596223568401980', '10401597220457154048', '6824058488852993504']);
  });

  it('keys() gives the key53 of each full block, the same key a wire hash maps to', () => {
    const h = new KvBlockHasher({ algo: 'sha256_cbor', seed: '0' });
    const out = new Float64Array(8);
    assert.equal(h.keys(TOKENS, 16, null, out), 3, 'the trailing partial block is not hashed');
    assert.equal(out[0], key53OfWire(3236607068019569386n));
    assert.equal(out[2], key53OfWire(3703710628981580500n));
    assert.equal(h.keys(TOKENS, 16, null, out, 1), 1);
    const d = h.next(null, TOKENS, 0, 16, null);
    assert.equal(key53(d), key53OfWire(wireHash(d)));
    assert.ok(Number.isSafeInteger(out[0]!));
  });

  it('rejects token ids that are not non-negative integers', () => {
    const h = new KvBlockHasher({ algo: 'sha256_cbor', seed: '0' });
    assert.throws(() => h.next(null, [1, -2], 0, 2, null), RangeError);
    assert.throws(() => h.next(null, [1.5], 0, 1, null), RangeError);
  });
});
