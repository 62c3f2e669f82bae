// One engine pod's KV-event stream: a ZeroMQ SUB socket on its PUB endpoint feeding an ExactPrefixIndex, and a
// short-lived DEALER to its replay endpoint whenever the index asks for a replay (the first sync, a gap, a resync of a
// stale index). All socket I/O is here, on its own async loops; the scheduler only reads the index.
// A malformed message (not three frames, a bad sequence frame) makes the index stale like an undecodable payload.
// A replay that does not end within `replayTimeoutMs` counts as unanswered.
import { readSeq, seqFrame } from '../../api/kv-events.ts';
import { ExactPrefixIndex, type ExactIndexHooks, type KvIndexStep } from './exact-index.ts';
import type { KvEventsTarget } from './target.ts';

type Zmq = typeof import('zeromq');

export interface SubscriberOptions {
  replayTimeoutMs: number;
  /** A live index whose pod got a prompt and sent no event for this long goes stale. */
  stallMs: number;
  /** A stale index tries a full replay from 0 this often. */
  resyncMs: number;
  /** Wait after connecting before the first replay (lets the subscription reach the publisher first). */
  joinMs: number;
}

export const DEFAULT_SUBSCRIBER_OPTIONS: SubscriberOptions = { replayTimeoutMs: 2000, stallMs: 10_000, resyncMs: 30_000, joinMs: 100 };

export class KvEventSubscriber {
  readonly target: KvEventsTarget;
  readonly index: ExactPrefixIndex;
  readonly #zmq: Zmq;
  readonly #sub: import('zeromq').Subscriber;
  readonly #opts: SubscriberOptions;
  readonly #hooks: ExactIndexHooks;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #lastResync = 0;

  constructor(zmq: Zmq, target: KvEventsTarget, capacity: number, hooks: ExactIndexHooks, opts: SubscriberOptions = DEFAULT_SUBSCRIBER_OPTIONS) {
    this.#zmq = zmq;
    this.target = target;
    this.#opts = opts;
    this.#hooks = hooks;
    this.index = new ExactPrefixIndex(capacity, hooks);
    this.#sub = new zmq.Subscriber({ linger: 0, receiveHighWaterMark: 100_000 });
  }

  start(): void {
    this.#sub.connect(this.target.endpoint);
    this.#sub.subscribe(this.target.topic);
    void this.#receive();
    const first = setTimeout(() => this.#do(this.index.start(performance.now())), this.#opts.joinMs);
    first.unref();
    this.#timer = setInterval(() => this.#tick(), Math.min(1000, this.#opts.stallMs / 2, this.#opts.resyncMs / 2));
    this.#timer.unref();
  }

  #tick(): void {
    const now = performance.now();
    this.index.checkStall(now, this.#opts.stallMs);
    if (this.index.wantsResync() && now - this.#lastResync >= this.#opts.resyncMs) {
      this.#lastResync = now;
      this.#do(this.index.resync());
    }
  }

  async #receive(): Promise<void> {
    try {
      for await (const frames of this.#sub) {
        if (this.#closed) return;
        let seq: number;
        try {
          if (frames.length !== 3) throw new Error(`${frames.length} frames`);
          seq = readSeq(frames[1]!);
        } catch (err) {
          this.#hooks.outcome('undecodable');
          this.index.corrupt(`malformed message: ${(err as Error).message}`);
          continue;
        }
        this.#do(this.index.live(seq, frames[2]!, performance.now()));
      }
    } catch (err) {
      if (!this.#closed) this.#hooks.log(`KV events: subscriber on ${this.target.endpoint} stopped: ${(err as Error).message}`);
    }
  }

  #do(step: KvIndexStep): void {
    if (step === null || this.#closed) return;
    void this.#replay(step.replayFrom).then((batches) => {
      if (!this.#closed) this.index.replayed(step.replayFrom, batches);
    });
  }

  /** The batches from `from` on, or null when the replay socket does not answer in time (or there is none). */
  async #replay(from: number): Promise<Array<[number, Uint8Array]> | null> {
    const ep = this.target.replayEndpoint;
    if (ep === null) return null;
    const dealer = new this.#zmq.Dealer({ linger: 0, receiveTimeout: this.#opts.replayTimeoutMs, sendTimeout: this.#opts.replayTimeoutMs });
    const out: Array<[number, Uint8Array]> = [];
    try {
      dealer.connect(ep);
      await dealer.send(['', seqFrame(from)]);
      const deadline = performance.now() + this.#opts.replayTimeoutMs;
      for (;;) {
        const frames = await dealer.receive();
        // [empty delimiter, sequence, payload]
        const seq = readSeq(frames[frames.length - 2]!);
        if (seq === -1) return out;
        out.push([seq, frames[frames.length - 1]!]);
        if (performance.now() > deadline) return null;
      }
    } catch {
      return null;
    } finally {
      dealer.close();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#sub.close();
  }
}
