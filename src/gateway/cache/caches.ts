// The gateway's response caches: each ModelRoute's `spec.cache` compiled on every routing-table rebuild into a
// RouteCache, over stores and embedders that survive rebuilds (as policy/traffic.ts keeps its limits): a memory
// store per route, a Redis store per address and key prefix (shared by the routes naming it), the static embedder
// per process, a remote embedder per URL and model, an onnx model (its worker and InferenceSession) per model file
// (path, size, mtime) shared by the routes naming it. Stores and onnx models no route uses any more are closed.
//
// An onnx embedder that cannot work (onnxruntime-node not installed, no model file or tokenizer, a model that does
// not load) makes its route exact-only: a routing-table problem on every rebuild while it lasts, and one log line
// when it starts. A model fails to load asynchronously (in its worker); `onChange` then asks the owner for a
// rebuild, so the problem is reported and the route recompiled at once. A failed model is not retried until its
// file changes.
//
// Settings: a tier is on when its block is present and `enabled` is not false; ttl default 10m; exact.maxEntries
// (default 10000) bounds the memory store, and the Redis store's in-process mirror of vectors; threshold default
// 0.85; maxTemperature default 1. A setting that does not parse is reported as a routing-table problem and its
// default used (admission refuses it first).
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
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
import { ONNX_RUNTIME, OnnxEmbedder, OnnxModel, onnxRuntimeMissing } from './embedder/onnx.ts';
import { DEFAULT_KEY_PREFIX, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_TEMPERATURE, DEFAULT_SEMANTIC_THRESHOLD, DEFAULT_TTL } from './defaults.ts';

type CacheSpec = NonNullable<ModelRoute['spec']['cache']>;
type EmbedderSpec = NonNullable<NonNullable<CacheSpec['semantic']>['embedder']>;

export interface ResponseCachesOptions {
  /** Module name of the ONNX runtime (default onnxruntime-node; tests name a missing one). */
  onnxRuntime?: string;
}

export class ResponseCaches {
  readonly metrics: CacheMetrics;
  #routes = new Map<string, RouteCache>();
  #stores = new Map<string, CacheStore>();
  #embedders = new Map<string, Embedder>();
  #models = new Map<string, OnnxModel>();
  /** The onnx problems logged already (logged again only after they went away). */
  #logged = new Set<string>();
  readonly #log: (message: string) => void;
  readonly #onnxRuntime: string;
  #onnxMissing: string | undefined | null = null;
  /** Asks the owner for a rebuild: something the compiled routes depend on changed (an onnx model failed). */
  onChange: (() => void) | undefined;

  constructor(registry: Registry, log: (message: string) => void = () => {}, options: ResponseCachesOptions = {}) {
    this.#log = log;
    this.#onnxRuntime = options.onnxRuntime ?? ONNX_RUNTIME;
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
    const models = new Map<string, OnnxModel>();
    const logged = new Set<string>();
    for (const route of routes) {
      const spec = route.spec.cache;
      const key = `${route.metadata?.namespace ?? 'default'}/${route.metadata?.name ?? ''}`;
      if (spec === undefined) continue;
      const config = this.#config(spec, key, problems);
      let embedder: Embedder = LAZY_STATIC;
      if (config.semantic.enabled) {
        const e = spec.semantic?.embedder;
        const compiled = e?.type === 'onnx' ? this.#onnx(e, key, problems, embedders, models, logged) : this.#embedder(spec, key, problems, embedders);
        if (compiled !== undefined) embedder = compiled;
        else config.semantic.enabled = false;
      }
      if (!config.exact.enabled && !config.semantic.enabled) continue;
      const maxEntries = spec.exact?.maxEntries ?? DEFAULT_MAX_ENTRIES;
      const store = this.#store(spec, key, maxEntries, stores);
      next.set(key, new RouteCache(config, store, embedder, this.metrics, (err) => this.#log(`cache ${key}: ${(err as Error).message}`)));
    }
    for (const [sig, store] of this.#stores) if (!stores.has(sig)) store.close();
    for (const [sig, model] of this.#models) if (!models.has(sig)) void model.close();
    this.#routes = next;
    this.#stores = stores;
    this.#embedders = embedders;
    this.#models = models;
    this.#logged = logged;
  }

  close(): void {
    for (const store of this.#stores.values()) store.close();
    for (const model of this.#models.values()) void model.close();
    this.#stores.clear();
    this.#models.clear();
    this.#embedders.clear();
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

  /** An onnx model or setting failed after compiling: the owner rebuilds (which reports it), or else it is logged. */
  #changed(line: string): void {
    if (this.onChange) this.onChange();
    else this.#log(line);
  }

  /** The route's onnx embedder, or undefined (with a problem, logged once) when it cannot work: exact-only. */
  #onnx(e: EmbedderSpec, key: string, problems: string[], used: Map<string, Embedder>, models: Map<string, OnnxModel>, logged: Set<string>): Embedder | undefined {
    const refuse = (why: string): undefined => {
      problems.push(`ModelRoute ${key}: cache.semantic.embedder onnx: ${why}; the route's cache is exact-only`);
      const line = `cache ${key}: onnx embedder: ${why}; the route's cache is exact-only`;
      if (!this.#logged.has(line)) this.#log(line);
      logged.add(line);
      return undefined;
    };
    if (!e.modelPath) return refuse('modelPath is required');
    if (this.#onnxMissing === null) this.#onnxMissing = onnxRuntimeMissing(this.#onnxRuntime);
    if (this.#onnxMissing !== undefined) return refuse(this.#onnxMissing);
    const modelPath = e.modelPath;
    let stat;
    try {
      stat = statSync(modelPath);
    } catch (err) {
      return refuse(`model file ${modelPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (!stat.isFile()) return refuse(`model file ${modelPath} is not a file`);
    const tokenizerPath = e.tokenizerPath ?? join(dirname(modelPath), 'tokenizer.json');
    if (!existsSync(tokenizerPath)) return refuse(`tokenizer ${tokenizerPath} not found (set tokenizerPath, or put tokenizer.json next to the model)`);
    // One session per model file; a file replaced on the volume (another size or mtime) is another model.
    const modelSig = `${modelPath}\0${stat.size}\0${stat.mtimeMs}`;
    let model = models.get(modelSig) ?? this.#models.get(modelSig);
    model ??= new OnnxModel(modelPath, {
      runtime: this.#onnxRuntime,
      onFailed: (err) => this.#changed(`cache: onnx model ${modelPath} failed to load: ${err.message}; the routes using it are exact-only`),
    });
    models.set(modelSig, model);
    if (model.failure) return refuse(`model ${modelPath} failed to load: ${model.failure.message}`);
    const timeoutMs = e.timeout ? parseDuration(e.timeout) : undefined;
    const sig = `onnx\0${modelSig}\0${tokenizerPath}\0${e.pooling ?? ''}\0${e.outputName ?? ''}\0${e.maxTokens ?? ''}\0${timeoutMs ?? ''}`;
    let embedder = (used.get(sig) ?? this.#embedders.get(sig)) as OnnxEmbedder | undefined;
    embedder ??= new OnnxEmbedder(model, {
      tokenizerPath,
      ...(e.pooling ? { pooling: e.pooling } : {}),
      ...(e.outputName ? { outputName: e.outputName } : {}),
      ...(e.maxTokens ? { maxTokens: e.maxTokens } : {}),
      ...(timeoutMs ? { timeoutMs } : {}),
      onFailed: (err) => this.#changed(`cache ${key}: onnx embedder: ${err.message}; the route's cache is exact-only`),
    });
    used.set(sig, embedder);
    if (embedder.failure && embedder.failure !== model.failure) return refuse(embedder.failure.message);
    return embedder;
  }
}
