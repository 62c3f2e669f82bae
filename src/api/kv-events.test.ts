import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encode } from '@msgpack/msgpack';
import { decodeKvEventBatch, encodeKvEventBatch, KvEventDecodeError, readSeq, REPLAY_END, seqFrame, type KvEventBatch } from './kv-events.ts';

// Encoded by Python msgspec with vLLM's structs (array_like, tag=True, omit_defaults=True): a BlockStored of two
// blocks (one hash 2^64−1), a BlockRemoved, an AllBlocksCleared, data_parallel_rank 0.
const FROM_MSGSPEC =
  '93cb3ff80000000000009398ab426c6f636b53746f72656492cf2ceabcfae6d332eacfffffffffffffffffc0dc00200102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2010c0a3475055c093ac426c6f636b52656d6f7665649107a347505591b0416c6c426c6f636b73436c656172656400';

describe('KV event codec', () => {
  it('decodes what vLLM (msgspec) encodes', () => {
    const b = decodeKvEventBatch(Buffer.from(FROM_MSGSPEC, 'hex'));
    assert.equal(b.ts, 1.5);
    assert.equal(b.dataParallelRank, 0);
    assert.deepEqual(b.events[0], {
      type: 'BlockStored',
      blockHashes: [3236607068019569386n, 18446744073709551615n],
      parentBlockHash: null,
      tokenIds: Array.from({ length: 32 }, (_, i) => i + 1),
      blockSize: 16,
      loraId: null,
      medium: 'GPU',
      loraName: null,
    });
    assert.deepEqual(b.events[1], { type: 'BlockRemoved', blockHashes: [7n], medium: 'GPU' });
    assert.deepEqual(b.events[2], { type: 'AllBlocksCleared' });
  });

  it('round-trips what the engine encodes (msgspec decodes the same bytes: checked when the vectors were made)', () => {
    const batch: KvEventBatch = {
      ts: 12.25,
      dataParallelRank: 0,
      events: [
        { type: 'BlockStored', blockHashes: [1n, 2n ** 63n + 5n], parentBlockHash: 9n, tokenIds: [1, 2, 3, 4], blockSize: 2, loraId: null, medium: 'GPU', loraName: 'ad' },
        { type: 'BlockRemoved', blockHashes: [2n ** 64n - 1n], medium: 'GPU' },
        { type: 'AllBlocksCleared' },
      ],
    };
    assert.deepEqual(decodeKvEventBatch(encodeKvEventBatch(batch)), batch);
  });

  it('decodes the map form and digests given as bytes (their last 8 bytes)', () => {
    const digest = Buffer.alloc(32, 0);
    digest.writeBigUInt64BE(42n, 24);
    const payload = encode({ ts: 1, events: [{ type: 'BlockRemoved', block_hashes: [digest], medium: null }], data_parallel_rank: 3 });
    assert.deepEqual(decodeKvEventBatch(payload), { ts: 1, dataParallelRank: 3, events: [{ type: 'BlockRemoved', blockHashes: [42n], medium: null }] });
  });

  it('rejects garbage with KvEventDecodeError', () => {
    const bad: Uint8Array[] = [
      Buffer.from('not msgpack at all'),
      Buffer.from([0xc1]),
      encode([1.0, 'events?', 0]),
      encode([1.0, [['Bogus', 1]], 0]),
      encode([1.0, [['BlockStored', [1], null, [1, -1], 16, null, 'GPU', null]], 0]),
      encode([1.0, [['BlockStored', [1], null, [1], 0, null, 'GPU', null]], 0]),
      encode(['ts', [], 0]),
      encode(7),
    ];
    for (const p of bad) assert.throws(() => decodeKvEventBatch(p), KvEventDecodeError, Buffer.from(p).toString('hex'));
  });

  it('sequence frames are 8 bytes big-endian; the replay end marker reads as −1', () => {
    assert.equal(seqFrame(258).toString('hex'), '0000000000000102');
    assert.equal(readSeq(seqFrame(258)), 258);
    assert.equal(readSeq(REPLAY_END), -1);
    assert.throws(() => readSeq(Buffer.from([1, 2])), KvEventDecodeError);
  });
});
