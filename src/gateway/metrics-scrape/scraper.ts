// Engine metric scraping, off the request path. Every `intervalMs` (default 1 s) each active endpoint's
// `GET /metrics` is requested (at most `concurrency` at a time, each bounded by `timeoutMs`) through the scraper's
// own undici Agent, parsed (src/api/engine-metrics/parse.ts) and stored on the endpoint (`Endpoint.metrics`), with the gateway's in-flight
// count at that moment so scorers can correct for what was sent since. An endpoint whose last successful scrape is
// older than `staleAfterMs` (default 3 intervals) is marked not fresh, and scorers fall back to in-flight counts for
// it. A scrape still running when the next tick comes is not duplicated. Scheduling never waits for any of this.
import { performance } from 'node:perf_hooks';
import { Agent } from 'undici';
import type { Endpoint, EndpointRegistry, EngineMetrics } from '../scheduling/endpoint.ts';
import { parseEngineMetrics } from '../../api/engine-metrics/parse.ts';

export interface ScraperOptions {
  intervalMs?: number;
  timeoutMs?: number;
  staleAfterMs?: number;
  concurrency?: number;
}

const EMPTY: ReadonlySet<string> = new Set();

export class MetricsScraper {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly staleAfterMs: number;
  readonly concurrency: number;
  readonly #registry: () => EndpointRegistry;
  readonly #agent: Agent;
  #timer: NodeJS.Timeout | null = null;
  #queue: Endpoint[] = [];
  #running = 0;
  #closed = false;
  /** Completed scrapes (ok / failed), for tests and the debug view. */
  ok = 0;
  failed = 0;

  constructor(registry: EndpointRegistry | (() => EndpointRegistry), options: ScraperOptions = {}) {
    this.#registry = typeof registry === 'function' ? registry : () => registry;
    this.intervalMs = options.intervalMs ?? 1000;
    this.timeoutMs = options.timeoutMs ?? Math.max(100, Math.min(this.intervalMs, 2000));
    this.staleAfterMs = options.staleAfterMs ?? 3 * this.intervalMs;
    this.concurrency = options.concurrency ?? 64;
    this.#agent = new Agent({ connections: 1, keepAliveTimeout: Math.max(4000, 4 * this.intervalMs), pipelining: 1 });
  }

  start(): void {
    if (this.#timer !== null || this.#closed) return;
    this.#timer = setInterval(() => this.tick(), this.intervalMs);
    this.#timer.unref();
    this.tick();
  }

  /** One round: update freshness, queue every active endpoint not being scraped. */
  tick(): void {
    if (this.#closed) return;
    const now = performance.now();
    const queued = new Set(this.#queue);
    for (const ep of this.#registry().all()) {
      if (!ep.active) continue;
      if (ep.fresh && (ep.metrics === null || now - ep.metrics.at > this.staleAfterMs)) ep.fresh = false;
      if (!ep.scraping && !queued.has(ep)) this.#queue.push(ep);
    }
    this.#drain();
  }

  #drain(): void {
    while (this.#running < this.concurrency && this.#queue.length > 0) {
      const ep = this.#queue.shift()!;
      if (!ep.active || ep.scraping) continue;
      this.#running++;
      ep.scraping = true;
      this.#scrape(ep).finally(() => {
        ep.scraping = false;
        this.#running--;
        this.#drain();
      });
    }
  }

  async #scrape(ep: Endpoint): Promise<void> {
    const awaitingAtSend = ep.awaiting;
    const pendingAtSend = ep.pendingPrefill;
    try {
      const res = await this.#agent.request({
        origin: ep.origin,
        path: '/metrics',
        method: 'GET',
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
      const parsed = parseEngineMetrics(text, ep.engine);
      if (parsed === null) throw new Error(`no ${ep.engine} scheduling metrics in the exposition`);
      if (!ep.active) return;
      const m: EngineMetrics = ep.metrics ?? {
        waiting: 0,
        running: 0,
        kvUsage: NaN,
        cacheTokens: 0,
        loras: EMPTY,
        maxLoras: 0,
        queuedTokens: NaN,
        at: 0,
        inflightAtScrape: 0,
        awaitingAtScrape: 0,
        pendingAtScrape: 0,
      };
      m.waiting = parsed.waiting;
      m.running = parsed.running;
      m.kvUsage = parsed.kvUsage;
      m.cacheTokens = parsed.cacheTokens;
      m.loras = parsed.loras ?? EMPTY;
      m.maxLoras = parsed.maxLoras;
      m.queuedTokens = parsed.queuedTokens;
      m.at = performance.now();
      m.inflightAtScrape = ep.inflight;
      m.awaitingAtScrape = Math.max(awaitingAtSend, ep.awaiting);
      m.pendingAtScrape = Math.max(pendingAtSend, ep.pendingPrefill);
      ep.metrics = m;
      ep.fresh = true;
      ep.scrapeFailures = 0;
      ep.scrapeError = '';
      this.ok++;
    } catch (err) {
      this.failed++;
      ep.scrapeFailures++;
      const e = err as { code?: string; message?: string; name?: string };
      ep.scrapeError = e.name === 'TimeoutError' ? `timed out after ${this.timeoutMs} ms` : e.code ?? e.message ?? String(err);
      if (ep.metrics !== null && performance.now() - ep.metrics.at > this.staleAfterMs) ep.fresh = false;
    }
  }

  async stop(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#queue = [];
    await this.#agent.destroy().catch(() => {});
  }
}
