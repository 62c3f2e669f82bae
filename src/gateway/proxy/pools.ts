// One keep-alive connection pool per upstream origin (engine pod ip:port). Pools of origins that left the routing
// table are closed gracefully: requests already running on them finish first.
import { UpstreamPool } from '../http1/client.ts';

export interface PoolOptions {
  /** TCP connect timeout, ms. */
  connectTimeoutMs?: number;
  /** Idle keep-alive time of upstream connections, ms (shortened to what the server announces). */
  keepAliveTimeoutMs?: number;
  /** Max connections per origin; unlimited by default (each in-flight request holds one). */
  connections?: number | null;
}

export class PoolManager {
  readonly #pools = new Map<string, UpstreamPool>();
  readonly #options: PoolOptions;
  #closed = false;

  constructor(options: PoolOptions = {}) {
    this.#options = options;
  }

  get(origin: string): UpstreamPool {
    let pool = this.#pools.get(origin);
    if (pool === undefined) {
      if (this.#closed) throw new Error('pool manager closed');
      pool = new UpstreamPool(origin, {
        connections: this.#options.connections ?? null,
        keepAliveTimeoutMs: this.#options.keepAliveTimeoutMs ?? 4_000,
        connectTimeoutMs: this.#options.connectTimeoutMs ?? 5_000,
      });
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  /** Close the pools of origins not in `keep` (gracefully). */
  retain(keep: ReadonlySet<string>): void {
    for (const [origin, pool] of this.#pools) {
      if (keep.has(origin)) continue;
      this.#pools.delete(origin);
      pool.close().catch(() => {});
    }
  }

  get size(): number {
    return this.#pools.size;
  }

  /** Destroy every pool (running requests fail). */
  async destroy(): Promise<void> {
    this.#closed = true;
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.allSettled(pools.map((p) => p.destroy()));
  }
}
