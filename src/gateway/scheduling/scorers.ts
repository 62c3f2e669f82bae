// Load, cache and affinity scorers. Each writes a score in [0, 100] per candidate, higher is better.
//
// Scraped engine metrics (`Endpoint.metrics`) are up to a scrape interval (1 s) old: a burst scored on them alone
// piles onto the pod that looked idle a second ago. So every load scorer combines them with what the gateway itself
// knows now: the requests it sent or finished since the scrape (`inflight − inflightAtScrape`), or, for the queue,
// its own requests still awaiting their first byte. When any candidate's metrics are stale (or missing), they score
// every candidate on the gateway's own counts instead, so one silent pod never looks idle.
import type { Endpoint } from './endpoint.ts';
import { WeightedScorer, type SchedulingRequest } from './types.ts';
import { LeastOutstandingScorer } from './least-outstanding.ts';

function allFresh(candidates: readonly Endpoint[]): boolean {
  for (let i = 0; i < candidates.length; i++) if (!candidates[i]!.fresh) return false;
  return true;
}

/** Min–max normalise `out[0..n)` so that the lowest value scores 100 and the highest 0; all equal → 100. */
export function lowerIsBetter(out: Float64Array, n: number): void {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = out[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (!(max > min)) {
    out.fill(100, 0, n);
    return;
  }
  const span = max - min;
  for (let i = 0; i < n; i++) out[i] = ((max - out[i]!) / span) * 100;
}

const inflightFallback = new LeastOutstandingScorer();

/**
 * Requests ahead of a new one's first token (`Endpoint.queued()`): the gateway's own requests on the pod that have
 * had no response byte yet — queued or prefilling, fresh — plus other senders' requests in the engine's waiting queue
 * (vllm:num_requests_waiting / sglang:num_queue_reqs) as last scraped. Min–max normalised, fewest = 100. While any
 * candidate's metrics are stale, the gateway's own count alone, for every candidate.
 *
 * Not the raw in-flight count: a request streaming its tokens holds a slot but delays a new request's first token
 * little, while one still prefilling delays it by its whole prefill; counting both alike sent requests to pods busy
 * prefilling. Not the scraped queue alone: up to a scrape interval old, so a burst piles onto the pod that looked
 * idle.
 */
export class QueueScorer extends WeightedScorer {
  readonly name = 'queue';
  score(_req: SchedulingRequest, candidates: readonly Endpoint[], out: Float64Array): void {
    const n = candidates.length;
    if (allFresh(candidates)) for (let i = 0; i < n; i++) out[i] = candidates[i]!.queued();
    else for (let i = 0; i < n; i++) out[i] = candidates[i]!.awaiting;
    lowerIsBetter(out, n);
  }
}

/**
 * Engine running batch (vllm:num_requests_running / sglang:num_running_reqs) corrected by the requests the gateway
 * sent or finished since the scrape, min–max normalised (fewest = 100); in-flight counts while any candidate is stale.
 */
export class RunningScorer extends WeightedScorer {
  readonly name = 'running';
  score(req: SchedulingRequest, candidates: readonly Endpoint[], out: Float64Array): void {
    const n = candidates.length;
    if (!allFresh(candidates)) return inflightFallback.score(req, candidates, out);
    for (let i = 0; i < n; i++) {
      const ep = candidates[i]!;
      const m = ep.metrics!;
      const load = m.running + ep.inflight - m.inflightAtScrape;
      out[i] = load > 0 ? load : 0;
    }
    lowerIsBetter(out, n);
  }
}

/**
 * Free KV cache: (1 − usage) × 100 (vllm:kv_cache_usage_perc, formerly gpu_cache_usage_perc / sglang:token_usage), the
 * usage corrected for the requests the gateway sent or finished since the scrape (`inflight − inflightAtScrape`) at
 * the KV share of one running request on that pod (usage / running; the candidates' mean share where none runs), so
 * a burst between scrapes does not all go to the pod that had the most free cache a second ago. Falls back to
 * in-flight counts while any candidate's metrics are stale or lack KV usage.
 */
export class KvCacheScorer extends WeightedScorer {
  readonly name = 'kv-cache';
  score(req: SchedulingRequest, candidates: readonly Endpoint[], out: Float64Array): void {
    const n = candidates.length;
    let shares = 0;
    let sharing = 0;
    for (let i = 0; i < n; i++) {
      const ep = candidates[i]!;
      if (!ep.fresh || Number.isNaN(ep.metrics!.kvUsage)) return inflightFallback.score(req, candidates, out);
      const m = ep.metrics!;
      if (m.running > 0) {
        shares += clamp01(m.kvUsage) / m.running;
        sharing++;
      }
    }
    const meanShare = sharing > 0 ? shares / sharing : 0;
    for (let i = 0; i < n; i++) {
      const ep = candidates[i]!;
      const m = ep.metrics!;
      const u = clamp01(m.kvUsage);
      const share = m.running > 0 ? u / m.running : meanShare;
      out[i] = (1 - clamp01(u + (ep.inflight - m.inflightAtScrape) * share)) * 100;
    }
  }
}

function clamp01(u: number): number {
  return u < 0 ? 0 : u > 1 ? 1 : u;
}

/**
 * LoRA affinity for adapter requests: 100 where the adapter is running or waiting (vllm:lora_requests_info), 50
 * where the pod has a free adapter slot, 0 elsewhere. Base-model requests, and pods that report nothing, score 100.
 */
export class LoraAffinityScorer extends WeightedScorer {
  readonly name = 'lora-affinity';
  score(req: SchedulingRequest, candidates: readonly Endpoint[], out: Float64Array): void {
    const n = candidates.length;
    if (req.lora !== true) {
      out.fill(100, 0, n);
      return;
    }
    const model = req.model;
    for (let i = 0; i < n; i++) {
      const ep = candidates[i]!;
      const m = ep.metrics;
      if (m === null || (m.maxLoras === 0 && m.loras.size === 0)) out[i] = 100;
      else if (m.loras.has(model)) out[i] = 100;
      else if (m.maxLoras > m.loras.size) out[i] = 50;
      else out[i] = 0;
    }
  }
}

function hash32(s: string, seed: number): number {
  let h = seed | 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const VNODES = 100;

/** A consistent-hash ring over endpoints (100 virtual nodes each, placed by pod name). */
export class HashRing {
  readonly points: Uint32Array;
  readonly owners: Endpoint[];

  constructor(endpoints: readonly Endpoint[]) {
    const pts: Array<[number, Endpoint]> = [];
    for (const ep of endpoints) for (let v = 0; v < VNODES; v++) pts.push([hash32(`${ep.podKey}#${v}`, 0x2f1b), ep]);
    pts.sort((a, b) => a[0] - b[0]);
    this.points = Uint32Array.from(pts, (p) => p[0]);
    this.owners = pts.map((p) => p[1]);
  }

  /** Index of the first point clockwise from `h`. */
  locate(h: number): number {
    const pts = this.points;
    let lo = 0;
    let hi = pts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pts[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === pts.length ? 0 : lo;
  }

  /** Owner of key `h`: the first endpoint clockwise that `accept` allows. */
  owner(h: number, accept: (ep: Endpoint) => boolean): Endpoint | undefined {
    const n = this.owners.length;
    if (n === 0) return undefined;
    const start = this.locate(h);
    for (let k = 0; k < n; k++) {
      const ep = this.owners[(start + k) % n]!;
      if (accept(ep)) return ep;
    }
    return undefined;
  }
}

const rings = new WeakMap<readonly Endpoint[], HashRing>();

/** The ring for an endpoint list (cached by list identity: lists are rebuilt, never mutated, with the table). */
export function ringFor(endpoints: readonly Endpoint[]): HashRing {
  let r = rings.get(endpoints);
  if (r === undefined) rings.set(endpoints, (r = new HashRing(endpoints)));
  return r;
}

/**
 * Session affinity: consistent hashing of the session named by a header (e.g. x-session-id, x-user-id) or, when the
 * request has no such header and a cookie name is configured, by that cookie (e.g. session_id) onto the ModelServer's
 * pods; the owner scores 100, the rest 0. The header wins when both are sent; both hash the same way, so one session
 * id lands on one pod whichever carries it. Pods joining or leaving move only their share of sessions. Requests with
 * neither score 0 everywhere (other scorers decide). The cookie is looked for only when the header is absent.
 */
export class SessionAffinityScorer extends WeightedScorer {
  readonly name = 'session-affinity';
  readonly header: string;
  /** Cookie name (case-sensitive, as cookies are), or '' for none. */
  readonly cookie: string;
  #candidates: readonly Endpoint[] = [];
  readonly #accept = (ep: Endpoint): boolean => this.#candidates.includes(ep);

  constructor(weight: number, header: string, cookie = '') {
    super(weight);
    this.header = header.toLowerCase();
    this.cookie = cookie;
  }

  score(req: SchedulingRequest, candidates: readonly Endpoint[], out: Float64Array, all?: readonly Endpoint[]): void {
    const n = candidates.length;
    out.fill(0, 0, n);
    let v = req.headers[this.header];
    if (Array.isArray(v)) v = v[0];
    if ((typeof v !== 'string' || v === '') && this.cookie !== '') {
      const jar = req.headers.cookie;
      v = typeof jar === 'string' ? cookieValue(jar, this.cookie) : '';
    }
    if (typeof v !== 'string' || v === '') return;
    this.#candidates = candidates;
    const owner = ringFor(all ?? candidates).owner(hash32(v, 0x51ed), this.#accept);
    this.#candidates = [];
    if (owner === undefined) return;
    out[candidates.indexOf(owner)] = 100;
  }
}

/**
 * The value of cookie `name` in a Cookie header (`a=1; b="2"`, RFC 6265 §4.2; the gateway joins several Cookie lines
 * with "; "), without surrounding double quotes; '' when it is absent. Names compare case-sensitively; the first
 * occurrence wins. No allocation but the value.
 */
export function cookieValue(header: string, name: string): string {
  const n = header.length;
  const len = name.length;
  let i = 0;
  while (i < n) {
    while (i < n && (header.charCodeAt(i) === 32 || header.charCodeAt(i) === 9)) i++;
    let end = header.indexOf(';', i);
    if (end < 0) end = n;
    if (header.charCodeAt(i + len) === 61 /* = */ && i + len < end && header.startsWith(name, i)) {
      let from = i + len + 1;
      let to = end;
      while (from < to && (header.charCodeAt(from) === 32 || header.charCodeAt(from) === 9)) from++;
      while (to > from && (header.charCodeAt(to - 1) === 32 || header.charCodeAt(to - 1) === 9)) to--;
      if (to - from >= 2 && header.charCodeAt(from) === 34 && header.charCodeAt(to - 1) === 34) {
        from++;
        to--;
      }
      return header.slice(from, to);
    }
    i = end + 1;
  }
  return '';
}
