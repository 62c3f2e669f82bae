// A rate-limited, deduplicating work queue in the manner of client-go's workqueue:
//  - a key waiting in the queue is held once however often it is added (dedup);
//  - a key being processed is never handed to a second worker; adds during processing mark it dirty and it is
//    queued again when `done` is called;
//  - `addRateLimited` re-adds a key after a per-key exponential back-off (base · 2^(failures-1), capped), which
//    `forget` resets after a success;
//  - `addAfter` delays an add; several pending delays for one key collapse to the earliest.
// Instrumented (`instrument`), it reports client-go's work queue metrics (kube/controller-metrics.ts): adds, depth
// (keys added and not yet taken), time queued, time worked, retries, and the work in progress.
import type { QueueMetrics } from './controller-metrics.ts';

export interface WorkQueueOptions {
  /** First retry delay after a failure, ms (default 50). */
  baseDelayMs?: number;
  /** Cap of the per-key back-off, ms (default 60 000). */
  maxDelayMs?: number;
}

export class WorkQueue<K = string> {
  private readonly queue: K[] = [];
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly failures = new Map<K, number>();
  private readonly delayed = new Map<K, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: ((key: K | undefined) => void)[] = [];
  private shuttingDown = false;
  private metrics: QueueMetrics | undefined;
  /** With metrics: when each dirty key was added, and when each key in process was taken (performance.now()). */
  private readonly addedAt = new Map<K, number>();
  private readonly startedAt = new Map<K, number>();
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(options: WorkQueueOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 50;
    this.maxDelayMs = options.maxDelayMs ?? 60_000;
  }

  /** Report client-go's work queue metrics from now on. */
  instrument(metrics: QueueMetrics): void {
    this.metrics = metrics;
    metrics.depth(this.dirty.size);
  }

  /** Seconds of work in progress (summed over the keys being processed) and of the longest-running one. */
  inProgress(now = performance.now()): { unfinishedSeconds: number; longestSeconds: number } {
    let unfinishedSeconds = 0;
    let longestSeconds = 0;
    for (const t of this.startedAt.values()) {
      const s = (now - t) / 1000;
      unfinishedSeconds += s;
      if (s > longestSeconds) longestSeconds = s;
    }
    return { unfinishedSeconds, longestSeconds };
  }

  /** Queue a key now (no-op if already queued, deferred until `done` if being processed). */
  add(key: K): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.metrics) {
      this.metrics.added();
      if (!this.addedAt.has(key)) this.addedAt.set(key, performance.now());
      this.metrics.depth(this.dirty.size);
    }
    if (this.processing.has(key)) return;
    this.enqueue(key);
  }

  /** A dirty key not in process: to a waiting worker, else to the back of the queue. */
  private enqueue(key: K): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.take(key);
      waiter(key);
    } else {
      this.queue.push(key);
    }
  }

  /** A key leaves the queue for a worker. */
  private take(key: K): void {
    this.dirty.delete(key);
    this.processing.add(key);
    if (this.metrics) {
      const now = performance.now();
      const added = this.addedAt.get(key);
      if (added !== undefined) this.metrics.taken((now - added) / 1000);
      this.addedAt.delete(key);
      this.startedAt.set(key, now);
      this.metrics.depth(this.dirty.size);
    }
  }

  /** Queue a key after `delayMs`; an earlier pending delay for the same key wins. */
  addAfter(key: K, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + delayMs;
    const pending = this.delayed.get(key);
    if (pending) {
      if (pending.at <= at) return;
      clearTimeout(pending.timer);
    }
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref?.();
    this.delayed.set(key, { at, timer });
  }

  /** Back-off delay the next `addRateLimited(key)` would use. */
  nextDelay(key: K): number {
    const failures = this.failures.get(key) ?? 0;
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** failures);
  }

  /** Re-queue a key after its per-key exponential back-off; returns the delay used. */
  addRateLimited(key: K): number {
    const delay = this.nextDelay(key);
    this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
    this.metrics?.retried();
    this.addAfter(key, delay);
    return delay;
  }

  /** Reset a key's back-off (call after it was processed successfully). */
  forget(key: K): void {
    this.failures.delete(key);
  }

  numRequeues(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  /** Next key to process; resolves undefined once the queue is shut down. Pair every key with `done(key)`. */
  get(): Promise<K | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.take(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Mark a key processed; if it was added meanwhile it goes back into the queue. */
  done(key: K): void {
    this.processing.delete(key);
    const started = this.startedAt.get(key);
    if (started !== undefined) {
      this.startedAt.delete(key);
      this.metrics?.finished((performance.now() - started) / 1000);
    }
    // Added while in process: counted then; now it goes into the queue.
    if (this.dirty.has(key) && !this.shuttingDown) this.enqueue(key);
  }

  /** Keys waiting (not counting delayed or in-process ones). */
  get length(): number {
    return this.queue.length;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  isProcessing(key: K): boolean {
    return this.processing.has(key);
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    this.queue.length = 0;
    this.dirty.clear();
    this.addedAt.clear();
    this.metrics?.depth(0);
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }
}
