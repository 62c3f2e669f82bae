// One route's response cache: the two tiers over one store, as the gateway's `cache lookup` and `cache store`
// stages use it.
//
//   lookup   exact tier (the record under the request's exact key, younger than exact.ttl), then semantic tier
//            (embed the user's question, search its compatibility partition for stored questions at or above
//            `threshold`, take the most similar one the guard allows, cache/guard.ts). A store or embedder error
//            is a miss, never a failed request.
//   store    the completed response under the exact key, with the question's vector (reused from the lookup) in
//            the semantic partition. Whether it may be stored at all (status, n, temperature, no-store, a stream
//            that did not complete) is decided before: `storable` and the assembler.
//
// Rules: the route's settings are compiled once per routing-table rebuild; the store is shared by every route
// naming the same store and survives rebuilds (the caller keeps it). The semantic tier needs a question: a request
// whose last message is not the user's text is looked up and stored in the exact tier only.
import { performance } from 'node:perf_hooks';
import type { CacheEntry } from './entry.ts';
import type { CacheIdentity } from './request.ts';
import type { CacheStore } from './store.ts';
import type { Embedder } from './embedder/embedder.ts';
import { guardAllows } from './guard.ts';
import type { CacheMetrics, Tier } from './metrics.ts';
import { requestNotStorable, type CacheControl, type NotStorable } from './eligibility.ts';

export interface RouteCacheConfig {
  exact: { enabled: boolean; ttlMs: number };
  semantic: { enabled: boolean; ttlMs: number; threshold: number };
  maxTemperature: number;
  /** Entries shared by all users even when authentication is on. */
  shared: boolean;
}

/** Candidates above the threshold checked by the guard before the lookup gives up. */
const CANDIDATES = 8;
/** Questions longer than this are not embedded (a static embedding of a long text says little). */
export const MAX_QUERY_CHARS = 4000;

export type Lookup =
  | { result: 'hit'; tier: Tier; entry: CacheEntry; similarity: number }
  | { result: 'miss' | 'bypass'; vector: Float32Array | undefined };

export class RouteCache {
  readonly config: RouteCacheConfig;
  readonly store: CacheStore;
  readonly #embedder: Embedder;
  readonly #metrics: CacheMetrics | undefined;
  readonly #onError: (err: unknown) => void;

  constructor(config: RouteCacheConfig, store: CacheStore, embedder: Embedder, metrics?: CacheMetrics, onError: (err: unknown) => void = () => {}) {
    this.config = config;
    this.store = store;
    this.#embedder = embedder;
    this.#metrics = metrics;
    this.#onError = onError;
  }

  /** The semantic tier's embedder (its id is part of every semantic partition). */
  get embedder(): Embedder {
    return this.#embedder;
  }

  /** Why this request is never looked up nor stored (n > 1, temperature above the bound), or undefined. */
  notStorable(body: Record<string, unknown>): NotStorable | undefined {
    return requestNotStorable(body, this.config.maxTemperature);
  }

  /** Counts a bypass on every enabled tier (no-cache, or a request that may not be cached). */
  bypass(model: string): void {
    if (this.config.exact.enabled) this.#metrics?.lookup(model, 'exact', 'bypass');
    if (this.config.semantic.enabled) this.#metrics?.lookup(model, 'semantic', 'bypass');
  }

  async lookup(id: CacheIdentity, model: string, control: CacheControl): Promise<Lookup> {
    if (control.noCache) {
      this.bypass(model);
      return { result: 'bypass', vector: undefined };
    }
    const { exact, semantic } = this.config;
    if (exact.enabled) {
      const t0 = performance.now();
      const entry = await this.store.get(id.exactKey).catch(this.#failed);
      const fresh = entry !== undefined && Date.now() - entry.storedAt < exact.ttlMs;
      this.#metrics?.lookup(model, 'exact', fresh ? 'hit' : 'miss', (performance.now() - t0) / 1000);
      if (fresh) return { result: 'hit', tier: 'exact', entry, similarity: 1 };
    }
    if (!semantic.enabled) return { result: 'miss', vector: undefined };
    if (id.query === undefined || id.semanticPartition === undefined || id.query.length > MAX_QUERY_CHARS) {
      this.#metrics?.lookup(model, 'semantic', 'bypass');
      return { result: 'miss', vector: undefined };
    }
    const t0 = performance.now();
    const vector = await this.#embedder.embed(id.query).catch(this.#failed);
    let hit: Lookup | undefined;
    if (vector !== undefined) {
      const partition = this.#partition(id.semanticPartition);
      const matches = (await this.store.search(partition, vector, semantic.threshold, CANDIDATES).catch(this.#failed)) ?? [];
      for (const m of matches) {
        if (!guardAllows(id.query, m.query)) continue;
        const entry = await this.store.get(m.key).catch(this.#failed);
        if (entry !== undefined) {
          hit = { result: 'hit', tier: 'semantic', entry, similarity: m.similarity };
          break;
        }
      }
    }
    this.#metrics?.lookup(model, 'semantic', hit ? 'hit' : 'miss', (performance.now() - t0) / 1000);
    return hit ?? { result: 'miss', vector };
  }

  /** Stores a completed response; `vector` is the question's embedding from the lookup, when it made one. */
  async save(id: CacheIdentity, model: string, entry: CacheEntry, vector: Float32Array | undefined): Promise<void> {
    const { exact, semantic } = this.config;
    const indexed = semantic.enabled && vector !== undefined && id.query !== undefined && id.semanticPartition !== undefined;
    const ttlMs = Math.max(exact.enabled ? exact.ttlMs : 0, indexed ? semantic.ttlMs : 0);
    if (ttlMs <= 0) return;
    try {
      await this.store.put(
        id.exactKey,
        entry,
        ttlMs,
        indexed ? { partition: this.#partition(id.semanticPartition!), vector: vector!, query: id.query!, ttlMs: semantic.ttlMs } : undefined,
      );
      this.#metrics?.write(model, 'stored');
    } catch (err) {
      this.#onError(err);
      this.#metrics?.write(model, 'failed');
    }
  }

  /** Vectors of different embedders never meet: the embedder's id is part of the partition. */
  #partition(semanticPartition: string): string {
    return `${this.#embedder.id}|${semanticPartition}`;
  }

  readonly #failed = (err: unknown): undefined => {
    this.#onError(err);
    return undefined;
  };
}
