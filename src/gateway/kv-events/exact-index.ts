// What one engine pod holds in its KV cache, exactly, from its KV events (src/api/kv-events.ts) — and whether that
// knowledge can be trusted right now. Pure: the subscriber (subscriber.ts) feeds it messages and carries out the
// replays it asks for; the prefix scorer reads `phase` and `matched()` on the request path.
//
// Phases:
//   syncing  subscribed, the first replay (from sequence 0) not answered yet, or no replay socket and no batch seen
//            yet: nothing known; the scorer falls back. Without a replay, a stream seen from batch 0 goes live.
//   live     every batch from sequence 0 to `next − 1` applied in order: the block set is the engine's.
//   stale    something was lost or garbled (a gap the replay could not fill, an undecodable payload, a stall, the
//            capacity bound hit): the scorer falls back to the approximate index until the knowledge is whole again —
//            the engine restarts (sequence 0 again: an empty cache), clears its cache (AllBlocksCleared), or a
//            periodic full replay from 0 succeeds.
// Sequence numbers (per engine process, from 0): the next one applies; a higher one is a gap (replay from `next`,
// once); a lower one means the engine restarted (a new epoch: the cache starts empty, replay from 0 if the first
// batches were missed). Batches arriving while a replay is pending are queued and applied after it.
// Memory: at most `capacity` blocks; beyond that (far above any engine's real capacity: something is wrong) the
// index is emptied and goes stale.
import { key53OfWire } from '../../api/kv-block-hash.ts';
import { decodeKvEventBatch, type KvEventBatch } from '../../api/kv-events.ts';

export type KvIndexPhase = 'syncing' | 'live' | 'stale';
export const KV_INDEX_PHASES: readonly KvIndexPhase[] = ['syncing', 'live', 'stale'];

/** What happened to a message or the stream (the outcome label of matrixinfer_gateway_kv_events_total). */
export type KvEventOutcome = 'applied' | 'replayed' | 'duplicate' | 'gap' | 'epoch' | 'undecodable' | 'replay_failed' | 'stalled' | 'overflow' | 'resynced';

export type KvIndexStep = { readonly replayFrom: number } | null;

export interface ExactIndexHooks {
  outcome(o: KvEventOutcome, n?: number): void;
  log(msg: string): void;
}

const NO_HOOKS: ExactIndexHooks = { outcome: () => {}, log: () => {} };

export class ExactPrefixIndex {
  phase: KvIndexPhase = 'syncing';
  /** Why the index is not live (for logs and the debug view). */
  reason = 'waiting for the first replay';
  /** Tokens per block, from the engine's BlockStored events (0 until the first). */
  blockSize = 0;
  /** The sequence number expected next. */
  next = 0;
  capacity: number;
  /** performance.now() of the last message; of the oldest pick still waiting for an event (0: none). */
  lastMessageAt = 0;
  expectingSince = 0;
  // key53 → how many copies the engine holds (vLLM may hold one content in two blocks).
  readonly #blocks = new Map<number, number>();
  #replaying = false;
  #synced = false;
  #queue: Array<[number, Uint8Array]> = [];
  readonly #hooks: ExactIndexHooks;

  constructor(capacity: number, hooks: ExactIndexHooks = NO_HOOKS) {
    this.capacity = capacity;
    this.#hooks = hooks;
  }

  get size(): number {
    return this.#blocks.size;
  }

  get replaying(): boolean {
    return this.#replaying;
  }

  has(key: number): boolean {
    return this.#blocks.has(key);
  }

  /** Leading blocks of keys[0..n) the engine holds (stops at the first it lacks). */
  matched(keys: Float64Array, n: number): number {
    const blocks = this.#blocks;
    let i = 0;
    while (i < n && blocks.has(keys[i]!)) i++;
    return i;
  }

  /** Ask for the replay that starts the sync (the subscriber calls this once connected). */
  start(now: number): KvIndexStep {
    this.lastMessageAt = now;
    this.#replaying = true;
    return { replayFrom: 0 };
  }

  /** A batch from the PUB socket. Returns the replay to request, if any. */
  live(seq: number, payload: Uint8Array, now: number): KvIndexStep {
    this.lastMessageAt = now;
    this.expectingSince = 0;
    if (this.#replaying) {
      this.#queue.push([seq, payload]);
      return null;
    }
    return this.#take(seq, payload, true);
  }

  #take(seq: number, payload: Uint8Array, mayReplay: boolean): KvIndexStep {
    if (this.phase === 'syncing') {
      if (seq === 0) {
        // The whole stream from its first batch: known exactly.
        this.phase = 'live';
        this.reason = '';
        this.#synced = true;
      } else {
        this.phase = 'stale';
        this.reason = `joined the stream at batch ${seq}: the engine's history before is unknown`;
        this.#hooks.log(`KV events: index stale (${this.reason}); prefix scoring falls back to the approximate index`);
        this.next = seq;
      }
    }
    if (seq < this.next) {
      // The engine restarted: a new epoch whose cache starts empty.
      this.#hooks.outcome('epoch');
      this.#hooks.log(`KV events: sequence went back from ${this.next} to ${seq}: the engine restarted`);
      this.#blocks.clear();
      this.next = 0;
      this.phase = 'live';
      this.reason = '';
    }
    if (seq > this.next) {
      this.#hooks.outcome('gap');
      if (mayReplay && this.phase === 'live') {
        this.#hooks.log(`KV events: batches ${this.next}..${seq - 1} lost; asking the replay socket`);
        this.#replaying = true;
        this.#queue.push([seq, payload]);
        return { replayFrom: this.next };
      }
      if (this.phase === 'live') this.#stale(`batches ${this.next}..${seq - 1} lost and not replayed`, null);
      this.next = seq; // follow the stream, so that a later AllBlocksCleared or restart can make it whole again
    }
    this.#apply(seq, payload, 'applied');
    return null;
  }

  /**
   * The replay's answer to a request from `from`: the batches in order, or null when it did not answer (no replay
   * socket, timeout). Then the batches queued meanwhile.
   */
  replayed(from: number, batches: ReadonlyArray<readonly [number, Uint8Array]> | null): void {
    this.#replaying = false;
    const wasLive = this.phase === 'live';
    const complete = batches !== null && (batches.length === 0 ? from === 0 : batches[0]![0] === from);
    if (!complete) {
      this.#hooks.outcome('replay_failed');
      if (this.phase === 'syncing') {
        if (batches === null) {
          // No replay socket (vLLM's default) or no answer: the stream itself may still begin at sequence 0 (an
          // engine that started after we subscribed); anything later leaves the history unknown (#take).
          this.reason = 'no replay answer: waiting for sequence 0';
        } else {
          this.phase = 'stale';
          this.reason = `the replay no longer holds batch ${from}`;
          this.#hooks.log(`KV events: cannot sync (${this.reason}); prefix scoring falls back to the approximate index`);
        }
      } else if (this.phase === 'live') {
        this.#stale(batches === null ? `replay from ${from} not answered` : `the replay no longer holds batch ${from}`, null);
      }
    } else {
      if (from === 0) {
        this.#blocks.clear();
        this.next = 0;
        this.phase = 'live';
        this.reason = '';
        if (!wasLive && this.#synced) {
          this.#hooks.outcome('resynced');
          this.#hooks.log('KV events: full replay from 0 applied; index live again');
        }
        this.#synced = true;
      }
      for (const [seq, payload] of batches) {
        if (seq < this.next) continue;
        if (seq > this.next) break; // a hole inside the replay: the queue below meets the gap
        this.#apply(seq, payload, 'replayed');
      }
    }
    const queued = this.#queue;
    this.#queue = [];
    for (const [seq, payload] of queued) {
      // Already applied from the replay; anything lower than where the replay started is a restart (#take).
      if (seq < this.next && seq >= from) this.#hooks.outcome('duplicate');
      else this.#take(seq, payload, false);
    }
  }

  /** A message that is not a KV-event message at all (counted by the caller). */
  corrupt(reason: string): void {
    this.#stale(reason, null);
  }

  /** A full replay from 0 is worth trying (stale, and no replay pending). */
  wantsResync(): boolean {
    return this.phase === 'stale' && !this.#replaying;
  }

  /** Start a resync replay from 0 (when `wantsResync()`). */
  resync(): KvIndexStep {
    this.#replaying = true;
    return { replayFrom: 0 };
  }

  /** The gateway sent the pod a prompt of at least one full block: an event should follow soon. */
  expect(now: number): void {
    if (this.expectingSince === 0) this.expectingSince = now;
  }

  /** Stale when an expected event has not come within `stallMs`. */
  checkStall(now: number, stallMs: number): void {
    if (this.phase !== 'live' || this.expectingSince === 0 || now - this.expectingSince < stallMs) return;
    this.expectingSince = 0;
    this.#stale(`no KV event ${Math.round(stallMs)} ms after a request was sent`, 'stalled');
  }

  #stale(reason: string, outcome: KvEventOutcome | null): void {
    if (outcome !== null) this.#hooks.outcome(outcome);
    if (this.phase !== 'stale') this.#hooks.log(`KV events: index stale (${reason}); prefix scoring falls back to the approximate index`);
    this.phase = 'stale';
    this.reason = reason;
    this.#blocks.clear();
  }

  #apply(seq: number, payload: Uint8Array, outcome: 'applied' | 'replayed'): void {
    this.next = seq + 1;
    let batch: KvEventBatch;
    try {
      batch = decodeKvEventBatch(payload);
    } catch (err) {
      this.#stale(`batch ${seq} undecodable: ${(err as Error).message}`, 'undecodable');
      return;
    }
    this.#hooks.outcome(outcome);
    const blocks = this.#blocks;
    for (const e of batch.events) {
      if (e.type === 'AllBlocksCleared') {
        blocks.clear();
        if (this.phase === 'stale') {
          // The engine's cache is empty now: known exactly again.
          this.#hooks.log('KV events: the engine cleared its cache; index live again');
          this.phase = 'live';
          this.reason = '';
        }
      } else if (this.phase === 'stale') {
        continue;
      } else if (e.type === 'BlockStored') {
        if (e.medium !== null && e.medium !== 'GPU') continue; // offloaded tiers are not prefix hits on the engine
        this.blockSize = e.blockSize;
        for (const h of e.blockHashes) {
          const k = key53OfWire(h);
          blocks.set(k, (blocks.get(k) ?? 0) + 1);
        }
      } else {
        if (e.medium !== null && e.medium !== 'GPU') continue;
        for (const h of e.blockHashes) {
          const k = key53OfWire(h);
          const c = blocks.get(k);
          if (c === undefined) continue;
          if (c <= 1) blocks.delete(k);
          else blocks.set(k, c - 1);
        }
      }
    }
    if (blocks.size > this.capacity) this.#stale(`more than ${this.capacity} blocks`, 'overflow');
  }
}
