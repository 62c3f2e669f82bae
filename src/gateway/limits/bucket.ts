// Token buckets: capacity C, refilled continuously at R per millisecond. A request is admitted when the level
// reaches its threshold (its cost, capped at C so a request larger than the bucket is not refused forever), then
// the cost is taken; the level may go below zero (debt), which later requests wait out. Adjustments after the
// response (refunds of requests that never reached an engine, the true prompt size, output tokens) move the level
// up or down. The same arithmetic runs in Redis (redis.ts) for limits shared across gateway replicas.

export class TokenBucket {
  capacity: number;
  /** Tokens per millisecond. */
  rate: number;
  level: number;
  /** performance.now() of the last refill. */
  last: number;

  constructor(capacity: number, ratePerMs: number, now: number) {
    this.capacity = capacity;
    this.rate = ratePerMs;
    this.level = capacity;
    this.last = now;
  }

  refill(now: number): number {
    if (now > this.last) {
      const level = this.level + (now - this.last) * this.rate;
      this.level = level > this.capacity ? this.capacity : level;
      this.last = now;
    }
    return this.level;
  }

  /** 0 when the level reaches `threshold` (capped at capacity), else the milliseconds until it will. */
  wait(threshold: number, now: number): number {
    const need = threshold < this.capacity ? threshold : this.capacity;
    const level = this.refill(now);
    return level >= need ? 0 : Math.ceil((need - level) / this.rate);
  }

  /** Add (refund) or remove (charge, negative) tokens; never above capacity. */
  add(amount: number, now: number): void {
    const level = this.refill(now) + amount;
    this.level = level > this.capacity ? this.capacity : level;
  }

  /** The bucket holds no state worth keeping (it is full). */
  full(now: number): boolean {
    return this.refill(now) >= this.capacity;
  }

  /** New limits keep the current level (clamped). */
  reconfigure(capacity: number, ratePerMs: number, now: number): void {
    this.refill(now);
    this.capacity = capacity;
    this.rate = ratePerMs;
    if (this.level > capacity) this.level = capacity;
  }
}

/**
 * Buckets by key (per-user limits), bounded: when the map grows past `soft`, full buckets (which carry no state)
 * are dropped; past `hard`, the oldest entries go too.
 */
export class BucketMap {
  readonly #buckets = new Map<string, TokenBucket>();
  capacity: number;
  rate: number;
  readonly #soft: number;
  readonly #hard: number;

  constructor(capacity: number, ratePerMs: number, soft = 10_000, hard = 100_000) {
    this.capacity = capacity;
    this.rate = ratePerMs;
    this.#soft = soft;
    this.#hard = hard;
  }

  get size(): number {
    return this.#buckets.size;
  }

  get(key: string, now: number): TokenBucket {
    let b = this.#buckets.get(key);
    if (b === undefined) {
      if (this.#buckets.size >= this.#soft) this.#sweep(now);
      b = new TokenBucket(this.capacity, this.rate, now);
      this.#buckets.set(key, b);
    }
    return b;
  }

  reconfigure(capacity: number, ratePerMs: number, now: number): void {
    this.capacity = capacity;
    this.rate = ratePerMs;
    for (const b of this.#buckets.values()) b.reconfigure(capacity, ratePerMs, now);
  }

  #sweep(now: number): void {
    for (const [k, b] of this.#buckets) if (b.full(now)) this.#buckets.delete(k);
    if (this.#buckets.size < this.#hard) return;
    let excess = this.#buckets.size - this.#soft;
    for (const k of this.#buckets.keys()) {
      if (excess-- <= 0) break;
      this.#buckets.delete(k);
    }
  }
}
