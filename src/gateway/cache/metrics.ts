// The response cache's Prometheus series, on the gateway's registry (names as observability/metrics.ts):
//
//   matrixinfer_gateway_cache_lookups_total{model,tier,result}   tier exact | semantic; result hit | miss | bypass.
//                                                                One result per enabled tier per request, until a
//                                                                tier hits (later tiers are not consulted). bypass:
//                                                                `cache-control: no-cache`, a request that may not be
//                                                                cached (n > 1, temperature), or for the semantic
//                                                                tier a request with no user question to embed
//   matrixinfer_gateway_cache_lookup_duration_seconds{tier}      time of a tier's lookup (semantic: embedding included)
//   matrixinfer_gateway_cache_writes_total{model,outcome}        stored | not_storable (status, n, temperature) |
//                                                                incomplete (stream cut or errored) | no_store
//                                                                (`cache-control: no-store`) | failed (store error)
//   matrixinfer_gateway_cache_entries{store}                     records held, memory | redis (redis: the vectors
//                                                                mirrored in this process), at scrape time
//   matrixinfer_gateway_cache_bytes{store}                       bytes of those, at scrape time
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CacheStore } from './store.ts';

export type Tier = 'exact' | 'semantic';
export type LookupResult = 'hit' | 'miss' | 'bypass';
export type WriteOutcome = 'stored' | 'not_storable' | 'incomplete' | 'no_store' | 'failed';

export class CacheMetrics {
  readonly #lookups: Counter<'model' | 'tier' | 'result'>;
  readonly #duration: Histogram<'tier'>;
  readonly #writes: Counter<'model' | 'outcome'>;

  /** `stores` lists the stores in use at scrape time. */
  constructor(registry: Registry, stores: () => Iterable<CacheStore>) {
    const registers = [registry];
    this.#lookups = new Counter({ name: 'matrixinfer_gateway_cache_lookups_total', help: 'Response cache lookups by tier and result', labelNames: ['model', 'tier', 'result'], registers });
    this.#duration = new Histogram({
      name: 'matrixinfer_gateway_cache_lookup_duration_seconds',
      help: 'Time of a response cache tier lookup (semantic: embedding included)',
      labelNames: ['tier'],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers,
    });
    this.#writes = new Counter({ name: 'matrixinfer_gateway_cache_writes_total', help: 'Responses stored in the response cache, or why not', labelNames: ['model', 'outcome'], registers });
    const sum = (field: 'entries' | 'bytes') =>
      function (this: Gauge<'store'>) {
        this.reset();
        const totals = new Map<string, number>();
        for (const s of stores()) totals.set(s.type, (totals.get(s.type) ?? 0) + s.stats()[field]);
        for (const [store, v] of totals) this.set({ store }, v);
      };
    new Gauge({ name: 'matrixinfer_gateway_cache_entries', help: 'Response cache records held (redis: vectors mirrored here)', labelNames: ['store'], registers, collect: sum('entries') });
    new Gauge({ name: 'matrixinfer_gateway_cache_bytes', help: 'Bytes of the response cache records held', labelNames: ['store'], registers, collect: sum('bytes') });
  }

  lookup(model: string, tier: Tier, result: LookupResult, seconds?: number): void {
    this.#lookups.inc({ model, tier, result });
    if (seconds !== undefined) this.#duration.observe({ tier }, seconds);
  }

  write(model: string, outcome: WriteOutcome): void {
    this.#writes.inc({ model, outcome });
  }
}
