// The pipeline's `cache lookup` stage and its `cache store` step at the exchange's end (pipeline.ts), for routes
// with `spec.cache` and the OpenAI `/v1/chat/completions` and `/v1/completions` paths.
//
//   lookup   after authentication and limits (entries are scoped to `ex.user` when authentication found one and
//            the route's cache is not `shared`). `cache-control: no-cache`, `n > 1` or a temperature above the
//            route's bound: no lookup (`bypass`). A hit is answered here, as JSON or, for `stream: true`, as SSE
//            ending in `data: [DONE]`, and never reaches an engine (so it takes no token quota). A miss goes on to
//            `schedule`, with a tap on the exchange that collects the relayed response.
//   store    when the exchange finishes: the response is stored only when it was answered 200 by the engine with
//            no gateway error, the request allowed it (no `no-store`, n ≤ 1, temperature within the bound), and a
//            stream completed (cache/assembler.ts) or a JSON body parsed as a completion. The store's promise is not
//            awaited by anyone: the response has already gone.
//   header   `x-matrixinfer-cache: hit | miss | bypass` on every response of a cached route, errors included:
//            `bypass` from the moment the route is matched (`onCachedRoute`), so refusals before the lookup (401, 403,
//            429) and fronts the cache does not serve say so; the lookup then sets `hit` or `miss`.
//
// Rules: the tap sees the engine's bytes before the usage meter (accounting/usage.ts) hides the usage event the
// gateway asked for, so a stored stream keeps its usage; it stops collecting past MAX_ENTRY_BYTES. No per-request
// closures on the path: the lookup's continuation is a module-level function bound through the tap object.
import type { Exchange, CacheTap } from '../http/exchange.ts';
import type { RouteCache, Lookup } from './cache.ts';
import { cacheIdentity, type CacheIdentity, type CacheKind } from './request.ts';
import { parseCacheControl, statusStorable } from './eligibility.ts';
import { SseAssembler } from './assembler.ts';
import { entryFromJson, replayJson, replaySse, type CacheEntry } from './entry.ts';
import type { WriteOutcome } from './metrics.ts';

export const CACHE_HEADER = 'x-matrixinfer-cache';
const MAX_ENTRY_BYTES = 4 << 20;

function kindOf(path: string): CacheKind | undefined {
  const q = path.indexOf('?');
  const p = q < 0 ? path : path.slice(0, q);
  if (p === '/v1/chat/completions') return 'chat';
  if (p === '/v1/completions') return 'completions';
  return undefined;
}

/** What one request on a cached route carries from the lookup to the store. */
class CacheRequest implements CacheTap {
  readonly cache: RouteCache;
  readonly id: CacheIdentity;
  readonly stream: boolean;
  readonly includeUsage: boolean;
  /** Why the response will not be stored, or null while it may be. */
  skip: WriteOutcome | null;
  vector: Float32Array | undefined = undefined;
  readonly #sse: SseAssembler | null;
  #json: Buffer[] | null;
  #size = 0;

  constructor(cache: RouteCache, id: CacheIdentity, stream: boolean, includeUsage: boolean, skip: WriteOutcome | null) {
    this.cache = cache;
    this.id = id;
    this.stream = stream;
    this.includeUsage = includeUsage;
    this.skip = skip;
    this.#sse = skip === null && stream ? new SseAssembler(id.kind, MAX_ENTRY_BYTES) : null;
    this.#json = skip === null && !stream ? [] : null;
  }

  collect(chunk: Buffer): void {
    if (this.#sse !== null) this.#sse.push(chunk);
    else if (this.#json !== null) {
      this.#size += chunk.length;
      if (this.#size > MAX_ENTRY_BYTES) this.#json = null;
      else this.#json.push(chunk);
    }
  }

  settle(ex: Exchange, status: number): void {
    const metrics = ex.core.caches.metrics;
    const model = ex.model;
    if (this.skip !== null) return metrics.write(model, this.skip);
    if (ex.phase !== 'finished' || !statusStorable(status) || ex.errorCode !== null || ex.upstreamStatus !== 200) return metrics.write(model, 'not_storable');
    let entry: CacheEntry | undefined;
    if (this.#sse !== null) {
      const r = this.#sse.finish();
      if (r.complete) entry = r.entry;
    } else if (this.#json !== null) {
      try {
        entry = entryFromJson(this.id.kind, JSON.parse(Buffer.concat(this.#json, this.#size).toString('utf8')));
      } catch {
        entry = undefined;
      }
    }
    if (entry === undefined) return metrics.write(model, 'incomplete');
    void this.cache.save(this.id, model, entry, this.vector);
  }
}

/** The pipeline's `cache lookup` stage. */
export function cacheLookup(ex: Exchange): boolean {
  const route = ex.route;
  // Only answers relayed as the engine gives them are cached (and replayed): not a front's translation.
  if (route === null || ex.front?.translate != null || ex.front?.relay !== undefined) return true;
  const cache = ex.core.caches.forRoute(route.key);
  if (cache === undefined) return true;
  const kind = kindOf(ex.upstreamPath);
  const body = ex.body;
  if (kind === undefined || body === undefined) return true;
  const header = ex.headers['cache-control'];
  const control = parseCacheControl(typeof header === 'string' ? header : undefined);
  const user = ex.user !== null && !cache.config.shared ? ex.user : undefined;
  const id = cacheIdentity(kind, body, ex.model, user);
  const notStorable = cache.notStorable(body);
  const skip: WriteOutcome | null = notStorable !== undefined ? 'not_storable' : control.noStore ? 'no_store' : null;
  const so = body.stream_options as { include_usage?: unknown } | undefined;
  const req = new CacheRequest(cache, id, body.stream === true, so?.include_usage === true, skip);
  ex.cache = req;
  if (notStorable !== undefined || control.noCache) {
    cache.bypass(ex.model);
    ex.responseHeaders = BYPASS;
    return true;
  }
  cache.lookup(id, ex.model, control).then(
    (result) => looked(ex, req, result),
    () => looked(ex, req, { result: 'miss', vector: undefined }),
  );
  return false;
}

const BYPASS = { [CACHE_HEADER]: 'bypass' };

/** The route is matched: on a cached route every response says `bypass` until the lookup decides otherwise. */
export function onCachedRoute(ex: Exchange): void {
  if (ex.core.caches.forRoute(ex.route!.key) !== undefined) ex.responseHeaders = BYPASS;
}
const MISS = { [CACHE_HEADER]: 'miss' };
const HIT = { [CACHE_HEADER]: 'hit' };

function looked(ex: Exchange, req: CacheRequest, result: Lookup): void {
  if (ex.done) return;
  if (result.result !== 'hit') {
    req.vector = result.vector;
    ex.responseHeaders = MISS;
    ex.resume();
    return;
  }
  // Served from the cache: nothing to store.
  ex.cache = null;
  ex.responseHeaders = HIT;
  if (!req.stream) {
    ex.sendJson(200, replayJson(result.entry));
    return;
  }
  const body = replaySse(result.entry, req.includeUsage);
  ex.http.writeHeadLines(200, `content-type: text/event-stream\r\ncache-control: no-cache\r\nx-request-id: ${ex.requestId}\r\n${ex.responseHeaderLines()}`, Buffer.byteLength(body));
  ex.http.end(body);
  ex.finish(200);
}
