import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { key53OfWire } from '../../api/kv-block-hash.ts';
import { encodeKvEventBatch, type KvEvent } from '../../api/kv-events.ts';
import { ExactPrefixIndex, type KvEventOutcome } from './exact-index.ts';

// Small ids stand for 64-bit hashes (shifted up: indexes key on the top 53 bits).
const w = (h: bigint): bigint => h << 32n;
const stored = (hashes: bigint[], parent: bigint | null = null): KvEvent => ({
  type: 'BlockStored',
  blockHashes: hashes.map(w),
  parentBlockHash: parent,
  tokenIds: hashes.flatMap(() => [1, 2, 3, 4]),
  blockSize: 4,
  loraId: null,
  medium: 'GPU',
  loraName: null,
});
const removed = (hashes: bigint[]): KvEvent => ({ type: 'BlockRemoved', blockHashes: hashes.map(w), medium: 'GPU' });
const cleared: KvEvent = { type: 'AllBlocksCleared' };
const batch = (...events: KvEvent[]): Uint8Array => encodeKvEventBatch({ ts: 1, events, dataParallelRank: 0 });
const keys = (...hs: bigint[]): Float64Array => Float64Array.from(hs.map((h) => key53OfWire(w(h))));

function make(capacity = 1000): { idx: ExactPrefixIndex; outcomes: KvEventOutcome[]; logs: string[] } {
  const outcomes: KvEventOutcome[] = [];
  const logs: string[] = [];
  return { idx: new ExactPrefixIndex(capacity, { outcome: (o) => outcomes.push(o), log: (m) => logs.push(m) }), outcomes, logs };
}

/** An index synced from an empty replay, live. */
function live(capacity = 1000): ReturnType<typeof make> {
  const m = make(capacity);
  assert.deepEqual(m.idx.start(0), { replayFrom: 0 });
  m.idx.replayed(0, []);
  assert.equal(m.idx.phase, 'live');
  return m;
}

describe('ExactPrefixIndex', () => {
  it('applies stored, removed and cleared; matched() counts leading blocks held', () => {
    const { idx } = live();
    assert.equal(idx.live(0, batch(stored([11n, 12n, 13n])), 1), null);
    assert.equal(idx.blockSize, 4);
    assert.equal(idx.matched(keys(11n, 12n, 13n, 14n), 4), 3);
    assert.equal(idx.matched(keys(99n, 12n), 2), 0, 'a prefix must start at the first block');
    idx.live(1, batch(removed([12n])), 2);
    assert.equal(idx.matched(keys(11n, 12n, 13n), 3), 1, 'a removed block ends the match');
    idx.live(2, batch(cleared, stored([21n])), 3);
    assert.equal(idx.size, 1);
    assert.equal(idx.matched(keys(21n), 1), 1);
  });

  it('counts copies: a block stored twice stays until removed twice', () => {
    const { idx } = live();
    idx.live(0, batch(stored([5n]), stored([5n])), 1);
    idx.live(1, batch(removed([5n])), 2);
    assert.equal(idx.has(key53OfWire(w(5n))), true);
    idx.live(2, batch(removed([5n])), 3);
    assert.equal(idx.has(key53OfWire(w(5n))), false);
  });

  it('syncs from the replay of the history, then applies the batches queued meanwhile (skipping duplicates)', () => {
    const { idx, outcomes } = make();
    idx.start(0);
    assert.equal(idx.live(2, batch(stored([3n])), 1), null, 'queued while the replay is pending');
    assert.equal(idx.phase, 'syncing');
    idx.replayed(0, [
      [0, batch(stored([1n]))],
      [1, batch(stored([2n]))],
      [2, batch(stored([3n]))],
    ]);
    assert.equal(idx.phase, 'live');
    assert.equal(idx.next, 3);
    assert.equal(idx.matched(keys(1n, 2n, 3n), 3), 3);
    assert.deepEqual(outcomes, ['replayed', 'replayed', 'replayed', 'duplicate']);
  });

  it('a gap asks for one replay; a filled gap stays live, an unfilled one goes stale (and the scorer falls back)', () => {
    const { idx, outcomes } = live();
    idx.live(0, batch(stored([1n])), 1);
    assert.deepEqual(idx.live(3, batch(stored([4n])), 2), { replayFrom: 1 });
    idx.replayed(1, [
      [1, batch(stored([2n]))],
      [2, batch(stored([3n]))],
      [3, batch(stored([4n]))],
    ]);
    assert.equal(idx.phase, 'live');
    assert.equal(idx.matched(keys(1n, 2n, 3n, 4n), 4), 4);

    assert.deepEqual(idx.live(9, batch(stored([10n])), 3), { replayFrom: 4 });
    idx.replayed(4, [[7, batch()]]); // the replay buffer no longer holds 4
    assert.equal(idx.phase, 'stale');
    assert.equal(idx.size, 0, 'a stale index keeps nothing');
    assert.ok(outcomes.includes('gap') && outcomes.includes('replay_failed'));
    assert.deepEqual(idx.live(11, batch(stored([12n])), 4), null, 'no second replay for the next gap: stale already');
  });

  it('garbage makes it stale; AllBlocksCleared makes it live again', () => {
    const { idx, outcomes, logs } = live();
    idx.live(0, batch(stored([1n])), 1);
    idx.live(1, Buffer.from('garbage!'), 2);
    assert.equal(idx.phase, 'stale');
    assert.ok(outcomes.includes('undecodable'));
    assert.ok(logs.some((l) => l.includes('undecodable')));
    idx.live(2, batch(stored([2n])), 3);
    assert.equal(idx.size, 0, 'stored while stale: ignored');
    idx.live(3, batch(cleared, stored([5n])), 4);
    assert.equal(idx.phase, 'live');
    assert.equal(idx.matched(keys(5n), 1), 1);
  });

  it('a restart (sequence back to 0) is a new epoch: the cache starts empty', () => {
    const { idx, outcomes } = live();
    idx.live(0, batch(stored([1n])), 1);
    idx.live(1, batch(stored([2n])), 2);
    assert.equal(idx.live(0, batch(stored([7n])), 3), null);
    assert.ok(outcomes.includes('epoch'));
    assert.equal(idx.phase, 'live');
    assert.equal(idx.matched(keys(1n), 1), 0, 'the old epoch is forgotten');
    assert.equal(idx.matched(keys(7n), 1), 1);
    // Restarted again and its first batches missed: the sequence goes back, then a gap → replay from 0.
    for (let seq = 1; seq < 6; seq++) idx.live(seq, batch(), 4);
    assert.deepEqual(idx.live(2, batch(stored([8n])), 5), { replayFrom: 0 });
    idx.replayed(0, [
      [0, batch(stored([6n]))],
      [1, batch()],
      [2, batch(stored([8n]))],
    ]);
    assert.equal(idx.phase, 'live');
    assert.equal(idx.matched(keys(7n), 1), 0);
    assert.equal(idx.matched(keys(6n), 1), 1);
    assert.equal(idx.next, 3);
  });

  it('stalls: an expected event that never comes makes it stale; a resync from 0 makes it live again', () => {
    const { idx, outcomes } = live();
    idx.live(0, batch(stored([1n])), 0);
    idx.expect(100);
    idx.checkStall(1000, 5000);
    assert.equal(idx.phase, 'live');
    idx.checkStall(5200, 5000);
    assert.equal(idx.phase, 'stale');
    assert.ok(outcomes.includes('stalled'));
    assert.equal(idx.wantsResync(), true);
    assert.deepEqual(idx.resync(), { replayFrom: 0 });
    assert.equal(idx.wantsResync(), false, 'one resync at a time');
    idx.replayed(0, [
      [0, batch(stored([1n]))],
      [1, batch(stored([2n]))],
    ]);
    assert.equal(idx.phase, 'live');
    assert.equal(idx.matched(keys(1n, 2n), 2), 2);
    assert.ok(outcomes.includes('resynced'));
  });

  it('is bounded: more blocks than its capacity empties it and makes it stale', () => {
    const { idx, outcomes } = live(3);
    idx.live(0, batch(stored([1n, 2n, 3n])), 1);
    assert.equal(idx.phase, 'live');
    idx.live(1, batch(stored([4n])), 2);
    assert.equal(idx.phase, 'stale');
    assert.equal(idx.size, 0);
    assert.ok(outcomes.includes('overflow'));
  });

  it('without a replay answer an index that never synced stays stale until the engine clears or restarts', () => {
    const { idx } = make();
    idx.start(0);
    idx.live(5, batch(stored([1n])), 1);
    idx.replayed(0, null);
    assert.equal(idx.phase, 'stale');
    idx.live(0, batch(stored([9n])), 2); // the engine restarted
    assert.equal(idx.phase, 'live');
    assert.equal(idx.matched(keys(9n), 1), 1);
  });

  it('without a replay socket, a stream seen from its first batch goes live; one joined later does not', () => {
    const a = make();
    a.idx.start(0);
    a.idx.replayed(0, null);
    assert.equal(a.idx.phase, 'syncing');
    a.idx.live(0, batch(stored([1n])), 1);
    assert.equal(a.idx.phase, 'live');
    assert.equal(a.idx.matched(keys(1n), 1), 1);
    const b = make();
    b.idx.start(0);
    b.idx.replayed(0, null);
    b.idx.live(3, batch(stored([1n])), 1);
    assert.equal(b.idx.phase, 'stale');
    assert.equal(b.idx.size, 0);
  });
});
