// Per-request deadlines (body read, first upstream byte) without a Node timer per request.
//
// Deadlines of one duration expire in the order they were set, so each duration keeps a FIFO (doubly linked, so
// cancelling is O(1)) and a single Node timer armed for its oldest entry. Setting and cancelling a deadline is
// a small object and a few pointer writes, instead of a Timeout (async ids, timer-list insert, libuv clock read)
// created and unlinked twice per request. Expiry is as accurate as a Node timer's: the timer fires at the head's
// deadline, runs everything due, and is re-armed for the next entry (a timer armed for an entry that was cancelled
// fires early, finds nothing due and is re-armed). The Node timer is ref'd while entries are pending, as a plain
// setTimeout would be, and unref'd while the queue is empty.
import { performance } from 'node:perf_hooks';
import { IntrusiveList } from '../util/intrusive-list.ts';

export class Deadline<T = unknown> {
  at = 0;
  prev: Deadline | null = null;
  next: Deadline | null = null;
  queue: DeadlineQueue | null = null;
  fn: ((arg: T) => void) | null;
  arg: T | null;

  constructor(fn: (arg: T) => void, arg: T) {
    this.fn = fn;
    this.arg = arg;
  }

  /** Idempotent; a cancelled deadline never fires. */
  cancel(): void {
    const q = this.queue;
    if (q !== null) q.remove(this as Deadline);
    this.fn = null;
    this.arg = null;
  }
}

class DeadlineQueue extends IntrusiveList<Deadline> {
  readonly ms: number;
  timer: NodeJS.Timeout | null = null;
  #firing = false;
  #refed = false;
  readonly #onTimer = (): void => this.#fire();

  constructor(ms: number) {
    super();
    this.ms = ms;
  }

  add(d: Deadline, now: number): void {
    d.at = now + this.ms;
    d.queue = this;
    this.push(d);
    if (this.timer === null) {
      if (!this.#firing) this.#arm(this.ms);
    } else if (!this.#refed) {
      this.timer.ref();
      this.#refed = true;
    }
  }

  override remove(d: Deadline): void {
    super.remove(d);
    d.queue = null;
    // An empty queue keeps its timer (the next deadline will need one) but lets the process exit.
    if (this.head === null && this.timer !== null && this.#refed) {
      this.timer.unref();
      this.#refed = false;
    }
  }

  #arm(delay: number): void {
    this.timer = setTimeout(this.#onTimer, Math.max(1, Math.ceil(delay)));
    this.#refed = true;
  }

  #fire(): void {
    this.timer = null;
    this.#firing = true;
    // Never early: an entry not yet due (the timer fired for a cancelled one, or a ms early) waits for a re-arm.
    const now = performance.now();
    let d = this.head;
    while (d !== null && d.at <= now) {
      const fn = d.fn;
      const arg = d.arg;
      this.remove(d);
      d.fn = null;
      d.arg = null;
      if (fn !== null) {
        try {
          fn(arg);
        } catch (err) {
          // Like a throwing timer callback: surface it without breaking the other deadlines.
          process.nextTick(() => {
            throw err;
          });
        }
      }
      d = this.head;
    }
    this.#firing = false;
    if (d !== null && this.timer === null) this.#arm(d.at - performance.now());
  }
}

const queues = new Map<number, DeadlineQueue>();

/** Call `fn(arg)` in `ms` milliseconds (ms > 0) unless the returned deadline is cancelled first. */
export function deadline<T>(ms: number, fn: (arg: T) => void, arg: T): Deadline<T> {
  let q = queues.get(ms);
  if (q === undefined) queues.set(ms, (q = new DeadlineQueue(ms)));
  const d = new Deadline(fn, arg);
  q.add(d as Deadline, performance.now());
  return d;
}
