// The gateway's own view of the engine pods, for the autoscaler: scraped from every gateway's /metrics (the
// per-endpoint series the gateway computes at scrape time: src/gateway/observability/metrics.ts), never by calling
// into a gateway's internals. Per engine pod (namespace/name), summed over the gateways:
//   inflight  matrixinfer_gateway_endpoint_inflight               requests dispatched and not finished
//   awaiting  matrixinfer_gateway_endpoint_awaiting_first_byte    of those, the ones without a first byte yet
//   rate      Δ matrixinfer_gateway_endpoint_requests_total / Δt  requests per second since that gateway's last scrape
//
// Rules:
//  - One scrape of all gateways serves every binding synced within `reuseMs` (bindings sync together on the period),
//    so the cost is per gateway, not per gateway × binding.
//  - A gateway that does not answer keeps its last good view until it is `staleMs` old, then is left out and the
//    reading is `partial` (the autoscaler lets a partial reading raise the count, never lower it). With no gateway
//    answering at all, the reading is an error.
//  - A rate needs two scrapes of the same gateway; a counter that went down is a restarted gateway, whose new count
//    is the window's. A gateway that appears for the first time contributes its counts but no rate yet.
import { readSamples, label, type Sample } from '../../api/engine-metrics/samples.ts';
import type { Reading } from './signals.ts';

export interface GatewayPodView {
  inflight: number;
  awaiting: number;
  /** Requests per second; undefined until two scrapes of some gateway saw this pod. */
  rate: number | undefined;
}

const INFLIGHT = 'matrixinfer_gateway_endpoint_inflight';
const AWAITING = 'matrixinfer_gateway_endpoint_awaiting_first_byte';
const REQUESTS = 'matrixinfer_gateway_endpoint_requests_total';
const NAMES = [INFLIGHT, AWAITING, REQUESTS];

/** One gateway's scrape: per pod key, its gauges, its request counter and the rate against the scrape before. */
interface GatewayScrape {
  at: number;
  pods: Map<string, { inflight: number; awaiting: number; requests: number; rate: number | undefined }>;
}

/** A gateway's exposition → its per-pod values; `before` (the same gateway's previous scrape) gives the rates. */
export function readGateway(text: string, at: number, before: GatewayScrape | undefined): GatewayScrape {
  const samples = readSamples(text, NAMES);
  const pods: GatewayScrape['pods'] = new Map();
  const entry = (s: Sample) => {
    const key = `${label(s, 'namespace') ?? ''}/${label(s, 'pod') ?? ''}`;
    let e = pods.get(key);
    if (!e) pods.set(key, (e = { inflight: 0, awaiting: 0, requests: 0, rate: undefined }));
    return e;
  };
  // One pod may have several endpoints (ports, addresses): their series add up.
  for (const s of samples.get(INFLIGHT) ?? []) entry(s).inflight += s.value;
  for (const s of samples.get(AWAITING) ?? []) entry(s).awaiting += s.value;
  for (const s of samples.get(REQUESTS) ?? []) entry(s).requests += s.value;
  const seconds = before ? (at - before.at) / 1000 : 0;
  if (before && seconds > 0) {
    for (const [key, e] of pods) {
      const previous = before.pods.get(key)?.requests ?? 0;
      e.rate = (e.requests >= previous ? e.requests - previous : e.requests) / seconds;
    }
  }
  return { at, pods };
}

/** Sum the gateways' views per pod. */
export function combine(scrapes: Iterable<GatewayScrape>): Map<string, GatewayPodView> {
  const out = new Map<string, GatewayPodView>();
  for (const g of scrapes) {
    for (const [key, e] of g.pods) {
      const o = out.get(key);
      if (!o) out.set(key, { inflight: e.inflight, awaiting: e.awaiting, rate: e.rate });
      else {
        o.inflight += e.inflight;
        o.awaiting += e.awaiting;
        o.rate = o.rate === undefined ? e.rate : e.rate === undefined ? o.rate : o.rate + e.rate;
      }
    }
  }
  return out;
}

export interface GatewayViewOptions {
  timeoutMs: number;
  staleMs: number;
  reuseMs: number;
  fetch?: typeof fetch;
}

/** Scrapes the gateways (URLs of their /metrics) and remembers each one's last good scrape. */
export class GatewayView {
  readonly #options: GatewayViewOptions;
  readonly #last = new Map<string, GatewayScrape>();
  #reading: { at: number; urls: string; value: Promise<Reading<Map<string, GatewayPodView>>> } | undefined;

  constructor(options: GatewayViewOptions) {
    this.#options = options;
  }

  read(urls: readonly string[], now: number): Promise<Reading<Map<string, GatewayPodView>>> {
    const key = urls.join(' ');
    if (this.#reading && this.#reading.urls === key && now - this.#reading.at < this.#options.reuseMs) return this.#reading.value;
    const value = this.#scrape(urls, now);
    this.#reading = { at: now, urls: key, value };
    return value;
  }

  async #scrape(urls: readonly string[], now: number): Promise<Reading<Map<string, GatewayPodView>>> {
    if (urls.length === 0) return { ok: false, error: 'no ready gateway to read' };
    for (const url of this.#last.keys()) if (!urls.includes(url)) this.#last.delete(url);
    const doFetch = this.#options.fetch ?? fetch;
    const failures: string[] = [];
    await Promise.all(
      urls.map(async (url) => {
        try {
          const res = await doFetch(url, { signal: AbortSignal.timeout(this.#options.timeoutMs) });
          const text = await res.text();
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
          this.#last.set(url, readGateway(text, now, this.#last.get(url)));
        } catch (err) {
          failures.push(`${url}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }),
    );
    const usable = [...this.#last.values()].filter((g) => now - g.at <= this.#options.staleMs);
    if (usable.length === 0) return { ok: false, error: `no gateway answered: ${failures.join('; ')}` };
    return { ok: true, value: combine(usable), ...(usable.length < urls.length ? { partial: true } : {}) };
  }
}
