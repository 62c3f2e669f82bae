// The gateway's response caches: each ModelRoute's `spec.cache` compiled on every routing-table rebuild into a
// RouteCache, over stores and embedders that survive rebuilds (as policy/traffic.ts keeps its limits): a memory
// store per route, a Redis store per address and key prefix (shared by the routes naming it), the static embedder
// per process, a remote embedder per URL and model. Stores no route uses any more are closed.
//
// Settings: a tier is on when its block is present and `enabled` is not false; ttl default 10m; exact.maxEntries
// (default 10000) bounds the memory store, and the Redis store's in-process mirror of vectors; threshold default
// 0.85; maxTemperature default 1. A setting that does not parse is reported as a routing-table problem and its
// default used (admission refuses it first).
import type { Registry } from 'prom-client';
import { cacheStoreOf, type ModelRoute } from '../../api/kinds/modelroute.ts';
import { parseDuration } from '../../kube/units.ts';
import { RouteCache, type RouteCacheConfig } from './cache.ts';
import { CacheMetrics } from './metrics.ts';
import { MemoryStore } from './memory-store.ts';
import { RedisStore } from './redis-store.ts';
import type { CacheStore } from './store.ts';
import type { Embedder } from './embedder/embedder.ts';
import { LAZY_STATIC } from './embedder/static.ts';
import { RemoteEmbedder } from './embedder/remote.ts';
import { DEFAULT_KEY_PREFIX, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_TEMPERATURE, DEFAULT_SEMANTIC_THRESHOLD, DEFAULT_TTL } from './defaults.ts';

type CacheSpec = NonNullable<ModelRoute['spec']['cache']>;

export class ResponseCaches {
  readonly metrics: CacheMetrics;
  #routes = new Map<string, RouteCache>();
  #stores = new Map<string, CacheStore>();
  #embedders = new Map<string, Embedder>();
  readonly #log: (message: string) => void;

  constructor(registry: Registry, log: (message: string) => void = () => {}) {
    this.#log = log;
    this.metrics = new CacheMetrics(registry, () => this.#stores.values());
  }

  /** The cache of the route `namespace/name`, or undefined when it has none. */
  forRoute(routeKey: string): RouteCache | undefined {
    return this.#routes.get(routeKey);
  }

  update(routes: readonly ModelRoute[], problems: string[]): void {
    const next = new Map<string, RouteCache>();
    const stores = new Map<string, CacheStore>();
    const embedders = new Map<string, Embedder>();
    for (const route of routes) {
      const spec = route.spec.cache;
      const key = `${route.metadata?.namespace ?? 'default'}/${route.metadata?.name ?? ''}`;
      if (spec === undefined) continue;
      const config = this.#config(spec, key, problems);
      if (!config.exact.enabled && !config.semantic.enabled) continue;
      const maxEntries = spec.exact?.maxEntries ?? DEFAULT_MAX_ENTRIES;
      const store = this.#store(spec, key, maxEntries, stores);
      const embedder = this.#embedder(spec, key, problems, embedders);
      next.set(key, new RouteCache(config, store, embedder, this.metrics, (err) => this.#log(`cache ${key}: ${(err as Error).message}`)));
    }
    for (const [sig, store] of this.#stores) if (!stores.has(sig)) store.close();
    this.#routes = next;
    this.#stores = stores;
    this.#embedders = embedders;
  }

  close(): void {
    for (const store of this.#stores.values()) store.close();
    this.#stores.clear();
    this.#routes.clear();
  }

  #config(spec: CacheSpec, key: string, problems: string[]): RouteCacheConfig {
    const ttl = (value: string | undefined, field: string): number => {
      const ms = parseDuration(value ?? DEFAULT_TTL);
      if (ms !== undefined && ms > 0) return ms;
      problems.push(`ModelRoute ${key}: invalid cache.${field} ${JSON.stringify(value)}, using ${DEFAULT_TTL}`);
      return parseDuration(DEFAULT_TTL)!;
    };
    return {
      exact: { enabled: spec.exact !== undefined && spec.exact.enabled !== false, ttlMs: ttl(spec.exact?.ttl, 'exact.ttl') },
      semantic: {
        enabled: spec.semantic !== undefined && spec.semantic.enabled !== false,
        ttlMs: ttl(spec.semantic?.ttl, 'semantic.ttl'),
        threshold: spec.semantic?.threshold ?? DEFAULT_SEMANTIC_THRESHOLD,
      },
      maxTemperature: spec.maxTemperature ?? DEFAULT_MAX_TEMPERATURE,
      shared: spec.shared === true,
    };
  }

  #store(spec: CacheSpec, routeKey: string, maxEntries: number, used: Map<string, CacheStore>): CacheStore {
    const named = cacheStoreOf(spec);
    const redis = named?.type === 'redis' ? named.redis : undefined;
    const sig = redis?.address ? `redis\0${redis.address}\0${redis.keyPrefix ?? DEFAULT_KEY_PREFIX}` : `memory\0${routeKey}`;
    let store = used.get(sig) ?? this.#stores.get(sig);
    if (store === undefined) {
      store = redis?.address
        ? new RedisStore({ address: redis.address, keyPrefix: redis.keyPrefix ?? DEFAULT_KEY_PREFIX, maxEntries, log: this.#log })
        : new MemoryStore(maxEntries);
    } else if (store instanceof MemoryStore) {
      store.maxEntries = maxEntries;
    }
    used.set(sig, store);
    return store;
  }

  #embedder(spec: CacheSpec, key: string, problems: string[], used: Map<string, Embedder>): Embedder {
    const e = spec.semantic?.embedder;
    if (e?.type !== 'remote') return LAZY_STATIC;
    if (!e.url || !e.model) {
      problems.push(`ModelRoute ${key}: cache.semantic.embedder remote needs url and model; using the static embedder`);
      return LAZY_STATIC;
    }
    const timeoutMs = e.timeout ? parseDuration(e.timeout) : undefined;
    const sig = `${e.url}\0${e.model}\0${timeoutMs ?? ''}`;
    let embedder = used.get(sig) ?? this.#embedders.get(sig);
    embedder ??= new RemoteEmbedder({ url: e.url, model: e.model, ...(timeoutMs ? { timeoutMs } : {}) });
    used.set(sig, embedder);
    return embedder;
  }
}
