// An endpoint is one engine pod reachable at ip:port. Endpoint objects outlive routing-table rebuilds (the
// registry hands back the same object for the same pod and address), so the gateway's own per-pod counters
// survive changes elsewhere in the world; an endpoint that leaves the table while requests are still running on
// it is kept (inactive) until they finish, so its counter is never reset under them.
//
// Scheduling state lives here too, read by scorers without lookups: the engine metrics last scraped
// (metrics-scrape/), the gateway's own requests here still awaiting their first response byte, when it was last
// picked, the pod's prefill/decode role and group, the prefix-cache index of what the gateway sent it and the exact
// one from the engine's KV events (both purged when the pod leaves the table), and its last score for observability.
import type { PrefixLru } from './prefix.ts';
import type { ExactPrefixIndex } from '../kv-events/exact-index.ts';
import type { KvEventsTarget } from '../kv-events/target.ts';
import { PrefillMeter } from './work.ts';

/** Engine metrics of one pod, as last scraped (vLLM or SGLang names mapped to these fields). */
export interface EngineMetrics {
  /** Requests waiting in the engine's queue. */
  waiting: number;
  /** Requests running in the engine's batch. */
  running: number;
  /** KV-cache usage 0..1, NaN when the engine does not report it. */
  kvUsage: number;
  /** KV-cache capacity in tokens (blocks × block size), 0 when unknown. */
  cacheTokens: number;
  /** LoRA adapters running or waiting on the pod (vllm:lora_requests_info). */
  loras: ReadonlySet<string>;
  /** max_lora from vllm:lora_requests_info, 0 when unknown. */
  maxLoras: number;
  /** Prompt tokens queued for prefill on the engine (matrixinfer_engine_queued_prompt_tokens), NaN when not exported. */
  queuedTokens: number;
  /** performance.now() of the scrape. */
  at: number;
  /** The gateway's in-flight count for this pod when the scrape answered (scorers add what was sent since). */
  inflightAtScrape: number;
  /**
   * The gateway's own requests and prefill tokens the scrape counted: `awaiting` and `pendingPrefill` at the larger of
   * their values when the scrape was sent and when it answered. The engine's figures are of a moment in between; a
   * request of ours that ended in that window would otherwise be taken for another sender's work, and one that began
   * in it only makes others' work look smaller (clamped at 0), never invented.
   */
  awaitingAtScrape: number;
  pendingAtScrape: number;
}

export type EngineKind = 'vllm' | 'sglang';
import type { BreakerState } from '../proxy/circuit.ts';

export class Endpoint {
  /** `namespace/pod@ip:port`. */
  readonly key: string;
  readonly namespace: string;
  readonly podName: string;
  readonly ip: string;
  readonly port: number;
  /** `http://ip:port` — the upstream connection pool key. */
  readonly origin: string;
  /** `namespace/pod`, as logged. */
  readonly podKey: string;
  /** Requests the gateway has sent to this endpoint and not yet finished. */
  inflight = 0;
  /** Requests ever sent here (exported as a metric). */
  served = 0;
  /** Present in the current routing table. */
  active = true;

  // Scheduling state.
  /** Metric names to read when scraping (from the ModelServer's inferenceEngine). */
  engine: EngineKind = 'vllm';
  /** `workload.matrixinfer.ai/role` label ('' when absent). */
  role = '';
  /** `workload.matrixinfer.ai/group-index` label ('' when absent). */
  group = '';
  /** Last successful scrape, or null. */
  metrics: EngineMetrics | null = null;
  /** `metrics` is recent enough to use (maintained by the scraper); scorers fall back to in-flight counts otherwise. */
  fresh = false;
  /** Consecutive failed scrapes and the last error (for the debug view). */
  scrapeFailures = 0;
  scrapeError = '';
  /** A scrape of this pod is under way. */
  scraping = false;
  /** Prefix blocks the gateway has sent here (LRU), created on first use. */
  prefix: PrefixLru | null = null;
  /** Where the pod publishes KV events (from its engine's flags, routing/table.ts), or null. */
  kvEvents: KvEventsTarget | null = null;
  /** The blocks the engine says it holds (kv-events/manager.ts); the prefix scorer uses it while `phase` is live. */
  kvIndex: ExactPrefixIndex | null = null;
  /** Last total score this pod got as a candidate, and when (performance.now()); last time it was picked. */
  lastScore = 0;
  lastScoredAt = 0;
  lastPickedAt = 0;
  /** Times the scheduler picked it. */
  picks = 0;
  /** Process-wide sequence number of its last pick (0 = never): among equal scores, the least recently picked wins. */
  pickSeq = 0;
  /**
   * Requests the gateway sent here that have had no response byte yet: for streaming requests, those queued or
   * prefilling on the engine — the work standing between a new request and its first token (requests already
   * streaming tokens delay a new one little). A non-streaming request counts until its body arrives. Kept by
   * whoever holds the request, like `inflight` (http/exchange.ts, the P/D prefill phase): up when an attempt is
   * dispatched, down exactly once at its first body byte or when it ends otherwise (a retry, a failure, a timeout, the
   * client gone). Exported as matrixinfer_gateway_endpoint_awaiting_first_byte (observability/metrics.ts).
   */
  awaiting = 0;
  /**
   * Prompt tokens the gateway's awaiting requests here still have to prefill, as estimated when each was sent (the
   * uncached part: scheduling/work.ts). Held by the exchange exactly like `awaiting`, which it moves with.
   */
  pendingPrefill = 0;
  /** The pod's measured prefill rate and mean work per request (work.ts). */
  readonly prefill = new PrefillMeter();

  /** Picks by what decided them: slot i counts the picks decided by decider i (scheduling/deciders.ts). */
  readonly decisions: number[] = [];

  /** Counts a pick decided by decider `id` (grows the array only the first time an id is seen here). */
  decided(id: number): void {
    const d = this.decisions;
    while (d.length <= id) d.push(0);
    d[id]!++;
  }

  /** The scheduler picked this pod (`seq`: the pick's sequence number). */
  sent(seq: number): void {
    this.picks++;
    this.pickSeq = seq;
  }

  /**
   * Requests ahead of a new one's first token, as best known now: the gateway's own `awaiting` (fresh),
   * plus what the last fresh scrape shows waiting beyond the gateway's own requests of that moment (other gateway
   * replicas' traffic; stale by up to a scrape interval, but nothing fresher exists).
   */
  queued(): number {
    const own = this.awaiting;
    const m = this.metrics;
    if (m === null || !this.fresh) return own;
    const others = m.waiting - m.awaitingAtScrape;
    return others > 0 ? own + others : own;
  }

  /**
   * Prompt tokens ahead of a new request's first token: the gateway's own pending prefill work, plus other senders'
   * (other gateway replicas'): the engine's queued prompt tokens as last scraped beyond the gateway's own pending work
   * of that moment, where the engine exports them; else the requests they have waiting on the pod (`queued()` beyond
   * our own), priced at the mean work of a request here.
   */
  queuedWork(): number {
    const own = this.pendingPrefill;
    const m = this.metrics;
    if (m !== null && this.fresh && m.queuedTokens >= 0) {
      const others = m.queuedTokens - m.pendingAtScrape;
      return others > 0 ? own + others : own;
    }
    const others = this.queued() - this.awaiting;
    return others > 0 ? own + others * this.prefill.meanWork : own;
  }

  /** Requests on the pod as best known now: scraped waiting + running corrected by what the gateway sent since, or in-flight. */
  load(): number {
    const m = this.metrics;
    if (m === null || !this.fresh) return this.inflight;
    const est = m.waiting + m.running + this.inflight - m.inflightAtScrape;
    return est > this.inflight ? est : this.inflight;
  }
  /** Circuit-breaker state (proxy/circuit.ts); null until the endpoint first fails. */
  breaker: BreakerState | null = null;

  constructor(namespace: string, podName: string, ip: string, port: number) {
    this.namespace = namespace;
    this.podName = podName;
    this.ip = ip;
    this.port = port;
    this.podKey = `${namespace}/${podName}`;
    this.origin = ip.includes(':') ? `http://[${ip}]:${port}` : `http://${ip}:${port}`;
    this.key = endpointKey(namespace, podName, ip, port);
  }
}

export function endpointKey(namespace: string, podName: string, ip: string, port: number): string {
  return `${namespace}/${podName}@${ip}:${port}`;
}

export class EndpointRegistry {
  readonly #byKey = new Map<string, Endpoint>();

  /** The endpoint for this pod and address, created on first use. */
  obtain(namespace: string, podName: string, ip: string, port: number): Endpoint {
    const key = endpointKey(namespace, podName, ip, port);
    let ep = this.#byKey.get(key);
    if (!ep) {
      ep = new Endpoint(namespace, podName, ip, port);
      this.#byKey.set(key, ep);
    }
    return ep;
  }

  /** After a rebuild: endpoints not in `live` become inactive, and are forgotten once idle. */
  retain(live: ReadonlySet<Endpoint>): void {
    for (const [key, ep] of this.#byKey) {
      if (live.has(ep)) {
        ep.active = true;
      } else {
        if (ep.active) {
          // Gone from the table: whatever we knew about its cache and load no longer holds.
          ep.prefix = null;
          ep.kvIndex = null;
          ep.metrics = null;
          ep.fresh = false;
        }
        ep.active = false;
        if (ep.inflight === 0) this.#byKey.delete(key);
      }
    }
  }

  /** Origins of every endpoint still known (active, or inactive with requests running). */
  origins(): Set<string> {
    const out = new Set<string>();
    for (const ep of this.#byKey.values()) out.add(ep.origin);
    return out;
  }

  all(): IterableIterator<Endpoint> {
    return this.#byKey.values();
  }

  get size(): number {
    return this.#byKey.size;
  }
}
