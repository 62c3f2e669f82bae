// Starts from zero: a request for a ModelServer with no ready endpoint whose ModelInfer is at 0 replicas (or is
// starting: it was seen at 0 within `wakeWindowMs` and has no ready pod yet) is held here instead of answered 503,
// while one replica starts. The gateway is the only writer of the 0→1 step; the autoscaler owns every other change
// of `spec.replicas`.
//
// Rules:
// - One FIFO per ModelServer, at most `queueSize` requests (default 256); beyond it 503 `model_scaling_from_zero`
//   with `retry-after`. `queueSize: 0` turns holding off (503 `no_healthy_upstream` at once, as before, and no writes).
// - Each request waits at most min(`maxWaitMs` (60 s), the ModelServer's `routing.timeout`); then 503
//   `model_scaling_from_zero` with `retry-after`. One deadline per request (http/deadlines.ts, no Node timer each).
// - The first request held while the ModelInfer is at 0 starts it: `scale(namespace, name)` (discovery/watch.ts:
//   the scale subresource, conditional on the resourceVersion that showed 0, so racing gateway replicas end with 1).
//   A failure is logged and retried with capped exponential back-off (0.5 s doubling to 30 s) while requests wait and
//   the ModelInfer still shows 0. A write is not repeated until the ModelInfer has been seen at ≥ 1, or for 10 s.
// - Every routing-table rebuild (`update`) dispatches the waiting requests of each ModelServer that now has a ready
//   endpoint, in arrival order, through the normal path (`dispatch`: the pipeline resumes at its `schedule` stage,
//   then retries and circuit breaking as for any request). A request for a LoRA adapter Model waits on until a pod
//   has the adapter loaded too (routing/table.ts `servingEndpoints`: the loader loads it once the pod is ready).
//   A ModelServer that left the table fails its waiting requests with 503 `no_healthy_upstream`.
// - A held request is the exchange's `upstream` (it implements UpstreamCall): a client that disconnects is
//   accounted (499) by the exchange and leaves the queue through `abortByClient`.
// - Nothing here runs for a ModelServer that has endpoints: `hold` is called only when scheduling found none, and
//   `update` walks only the ModelServers with waiting requests plus one pass over the table's servers.
import { performance } from 'node:perf_hooks';
import type { Exchange, UpstreamCall } from '../http/exchange.ts';
import { servingEndpoints, type RoutingTable, type ServerEntry } from '../routing/table.ts';
import { deadline, type Deadline } from '../http/deadlines.ts';
import { IntrusiveList } from '../util/intrusive-list.ts';
import type { ScaleFromZero } from '../discovery/watch.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';

export const DEFAULT_HOLD_QUEUE_SIZE = 256;
export const DEFAULT_HOLD_MAX_WAIT_MS = 60_000;
export const DEFAULT_WAKE_WINDOW_MS = 600_000;
/** `retry-after` (s) of the 503s of a start from zero. */
export const HOLD_RETRY_AFTER_S = 5;
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;
const REWRITE_AFTER_MS = 10_000;

/** Sends a request on through the normal path (the pipeline from its `schedule` stage) to `server` as it is now. */
export type Dispatch = (ex: Exchange, server: ServerEntry) => void;

export type HoldOutcome = 'dispatched' | 'timeout' | 'client_gone' | 'server_gone' | 'queue_full';

export interface HoldOptions {
  /** Requests waiting per ModelServer; 0 disables holding. Default 256. */
  queueSize?: number;
  /** Longest wait (also bounded by the ModelServer's routing.timeout); default 60 s. */
  maxWaitMs?: number;
  /** A ModelInfer seen at 0 this recently and still without a ready pod is starting: hold; default 10 min. */
  wakeWindowMs?: number;
  /** The 0→1 write; null: hold, but never write (tests, or another component starts ModelInfers). */
  scale?: ScaleFromZero | null;
  dispatch: Dispatch;
  metrics: GatewayMetrics;
  log?: (message: string) => void;
  /** First back-off after a failed write, ms (doubles up to 30 s). */
  retryMs?: number;
}

/** One waiting request: a FIFO node, and the exchange's upstream while it waits. */
class Held implements UpstreamCall {
  readonly ex: Exchange;
  readonly since: number;
  queue: HoldQueue | null;
  prev: Held | null = null;
  next: Held | null = null;
  timer: Deadline<Held> | null = null;

  constructor(queue: HoldQueue, ex: Exchange) {
    this.queue = queue;
    this.ex = ex;
    this.since = performance.now();
  }

  /** The client went away (the exchange has accounted it): leave the queue. */
  abortByClient(): void {
    const q = this.queue;
    if (q !== null) q.holds.leave(this, 'client_gone');
  }

  resume(): void {}
}

class HoldQueue extends IntrusiveList<Held> {
  readonly holds: Holds;
  readonly key: string;
  readonly namespace: string;
  readonly name: string;

  constructor(holds: Holds, server: ServerEntry) {
    super();
    this.holds = holds;
    this.key = server.key;
    this.namespace = server.namespace;
    this.name = server.name;
  }

  override remove(h: Held): void {
    super.remove(h);
    h.queue = null;
  }
}

/** Per ModelInfer: the 0→1 write. */
class Activation {
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  writing = false;
  /** performance.now() of the last successful write (or of another writer's, seen as not_at_zero); 0 = none. */
  writtenAt = 0;
  retry: NodeJS.Timeout | null = null;
  delay: number;

  constructor(key: string, delay: number) {
    this.key = key;
    const slash = key.indexOf('/');
    this.namespace = key.slice(0, slash);
    this.name = key.slice(slash + 1);
    this.delay = delay;
  }
}

function onHoldExpired(h: Held): void {
  h.timer = null;
  const q = h.queue;
  if (q !== null) q.holds.leave(h, 'timeout');
}

export class Holds {
  readonly queueSize: number;
  readonly maxWaitMs: number;
  readonly wakeWindowMs: number;
  readonly #scale: ScaleFromZero | null;
  readonly #dispatch: Dispatch;
  readonly #metrics: GatewayMetrics;
  readonly #log: (message: string) => void;
  readonly #retryMs: number;
  /** Waiting requests by ModelServer key (only non-empty queues). */
  readonly #queues = new Map<string, HoldQueue>();
  /** ModelInfer key → performance.now() when last seen at 0 replicas (while its servers have no endpoint). */
  readonly #zeroSeen = new Map<string, number>();
  readonly #activations = new Map<string, Activation>();
  #table: RoutingTable | null = null;
  #closed = false;

  constructor(options: HoldOptions) {
    this.queueSize = Math.max(0, Math.floor(options.queueSize ?? DEFAULT_HOLD_QUEUE_SIZE));
    this.maxWaitMs = options.maxWaitMs ?? DEFAULT_HOLD_MAX_WAIT_MS;
    this.wakeWindowMs = options.wakeWindowMs ?? DEFAULT_WAKE_WINDOW_MS;
    this.#scale = options.scale ?? null;
    this.#dispatch = options.dispatch;
    this.#metrics = options.metrics;
    this.#log = options.log ?? (() => {});
    this.#retryMs = options.retryMs ?? FIRST_RETRY_MS;
  }

  /** Requests waiting for `serverKey` now. */
  waiting(serverKey: string): number {
    return this.#queues.get(serverKey)?.size ?? 0;
  }

  /** A request for `server` (no ready endpoint) may wait for it: its ModelInfer is at 0, or starting. */
  canHold(server: ServerEntry): boolean {
    if (this.queueSize === 0 || server.endpoints.length > 0 || server.inferKey === null || server.inferReplicas < 0) return false;
    if (server.inferReplicas === 0 || this.#queues.has(server.key)) return true;
    const seen = this.#zeroSeen.get(server.inferKey);
    return seen !== undefined && performance.now() - seen < this.wakeWindowMs;
  }

  /**
   * Hold the request until `server` has a ready endpoint (then `dispatch`), or answer 503 (queue full). False when
   * it cannot wait (the caller answers `no_healthy_upstream`).
   */
  hold(ex: Exchange, server: ServerEntry): boolean {
    if (this.#closed || !this.canHold(server)) return false;
    let q = this.#queues.get(server.key);
    if (q === undefined) this.#queues.set(server.key, (q = new HoldQueue(this, server)));
    if (q.size >= this.queueSize) {
      this.#observe(q, 'queue_full', 0);
      ex.waited = 0;
      ex.fail('model_scaling_from_zero', `ModelServer ${server.key} is starting from zero replicas and ${q.size} requests are already waiting for it; retry later.`, {
        retryAfter: HOLD_RETRY_AFTER_S,
      });
      return true;
    }
    const h = new Held(q, ex);
    q.push(h);
    ex.upstream = h;
    const t = server.timeoutMs;
    h.timer = deadline(t !== undefined && t < this.maxWaitMs ? t : this.maxWaitMs, onHoldExpired, h);
    this.#metrics.held.labels(q.namespace, q.name).inc();
    if (server.inferReplicas === 0) this.#activate(server.inferKey!);
    return true;
  }

  /** The routing table changed: note ModelInfers at 0, dispatch the requests whose ModelServer has endpoints now. */
  update(table: RoutingTable): void {
    this.#table = table;
    if (this.queueSize === 0) return;
    const now = performance.now();
    for (const s of table.servers.values()) {
      const k = s.inferKey;
      if (k === null) continue;
      if (s.endpoints.length > 0) {
        this.#zeroSeen.delete(k);
      } else if (s.inferReplicas === 0) {
        this.#zeroSeen.set(k, now);
      }
    }
    for (const [k, seen] of this.#zeroSeen) if (now - seen >= this.wakeWindowMs) this.#zeroSeen.delete(k);
    for (const a of this.#activations.values()) {
      if (!a.writing && a.retry === null && this.#replicas(a.key) !== 0) this.#activations.delete(a.key);
    }
    if (this.#queues.size === 0) return;
    for (const q of [...this.#queues.values()]) {
      const server = table.servers.get(q.key);
      if (server === undefined) this.#drain(q, 'server_gone', null);
      else if (server.endpoints.length > 0) this.#dispatchServable(q, server);
      else if (server.inferReplicas === 0 && server.inferKey !== null) this.#activate(server.inferKey);
    }
  }

  close(): void {
    this.#closed = true;
    for (const a of this.#activations.values()) if (a.retry !== null) clearTimeout(a.retry);
    for (const q of [...this.#queues.values()]) this.#drain(q, 'server_gone', null);
  }

  /** A request leaves its queue without being dispatched (timeout or client gone). */
  leave(h: Held, outcome: 'timeout' | 'client_gone'): void {
    const q = h.queue!;
    this.#remove(q, h);
    const waited = performance.now() - h.since;
    this.#observe(q, outcome, waited);
    const ex = h.ex;
    ex.waited = waited;
    if (outcome === 'timeout') {
      ex.upstream = null;
      ex.fail('model_scaling_from_zero', `ModelServer ${q.key} did not get a ready engine within ${Math.round(waited)} ms of this request; it is starting from zero replicas, retry later.`, {
        retryAfter: HOLD_RETRY_AFTER_S,
      });
    }
  }

  #remove(q: HoldQueue, h: Held): void {
    q.remove(h);
    if (h.timer !== null) {
      h.timer.cancel();
      h.timer = null;
    }
    this.#metrics.held.labels(q.namespace, q.name).dec();
    if (q.size === 0 && this.#queues.get(q.key) === q) this.#queues.delete(q.key);
  }

  /** Every waiting request of `q`, oldest first: dispatched to `server`, or failed when it is null. */
  #drain(q: HoldQueue, outcome: 'dispatched' | 'server_gone', server: ServerEntry | null): void {
    this.#queues.delete(q.key);
    const now = performance.now();
    for (let h = q.head; h !== null; h = q.head) {
      this.#remove(q, h);
      const ex = h.ex;
      ex.upstream = null;
      ex.waited = now - h.since;
      this.#observe(q, outcome, ex.waited);
      if (ex.done) continue;
      if (server !== null) this.#dispatch(ex, server);
      else ex.fail('no_healthy_upstream', `ModelServer ${q.key} is gone.`, { retryAfter: 1 });
    }
  }

  /** The waiting requests of `q` that `server` can serve now, oldest first, dispatched; the others wait on. */
  #dispatchServable(q: HoldQueue, server: ServerEntry): void {
    const now = performance.now();
    for (let h = q.head; h !== null; ) {
      const next = h.next;
      const ex = h.ex;
      if (ex.done || servingEndpoints(server, ex.model, ex.lora).length > 0) {
        this.#remove(q, h);
        ex.upstream = null;
        ex.waited = now - h.since;
        this.#observe(q, 'dispatched', ex.waited);
        if (!ex.done) this.#dispatch(ex, server);
      }
      h = next;
    }
  }

  #observe(q: HoldQueue, outcome: HoldOutcome, ms: number): void {
    this.#metrics.holdWait.labels(q.namespace, q.name, outcome).observe(ms / 1000);
  }

  /** spec.replicas of the ModelInfer as the current table has it; -1 when unknown. */
  #replicas(inferKey: string): number {
    const table = this.#table;
    if (table === null) return -1;
    for (const s of table.servers.values()) if (s.inferKey === inferKey) return s.inferReplicas;
    return -1;
  }

  /** Requests wait for a ModelServer backed by this ModelInfer. */
  #wanted(inferKey: string): boolean {
    const table = this.#table;
    for (const q of this.#queues.values()) if (table?.servers.get(q.key)?.inferKey === inferKey) return true;
    return false;
  }

  /** Start the ModelInfer (0→1) unless a write is under way, backing off, or recent. */
  #activate(inferKey: string): void {
    if (this.#scale === null || this.#closed) return;
    let a = this.#activations.get(inferKey);
    if (a === undefined) this.#activations.set(inferKey, (a = new Activation(inferKey, this.#retryMs)));
    if (a.writing || a.retry !== null) return;
    if (a.writtenAt > 0 && performance.now() - a.writtenAt < REWRITE_AFTER_MS) return;
    this.#write(a);
  }

  #write(a: Activation): void {
    a.writing = true;
    const written = (outcome: 'scaled' | 'not_at_zero'): void => {
      a.writing = false;
      a.writtenAt = performance.now();
      a.delay = this.#retryMs;
      this.#metrics.scaleWrites.labels(a.namespace, a.name, outcome).inc();
      this.#log(
        outcome === 'scaled'
          ? `gateway: ModelInfer ${a.key} scaled from 0 to 1 replica for the requests waiting for it`
          : `gateway: ModelInfer ${a.key} was no longer at 0 replicas (another writer started it)`,
      );
    };
    const failed = (err: unknown): void => {
      a.writing = false;
      this.#metrics.scaleWrites.labels(a.namespace, a.name, 'error').inc();
      if (this.#closed) return;
      this.#log(`gateway: scaling ModelInfer ${a.key} from 0 to 1 failed: ${(err as Error)?.message ?? String(err)}; retrying in ${a.delay} ms`);
      a.retry = setTimeout(() => {
        a.retry = null;
        if (!this.#closed && this.#wanted(a.key) && this.#replicas(a.key) === 0) this.#write(a);
      }, a.delay);
      a.delay = Math.min(a.delay * 2, MAX_RETRY_MS);
    };
    this.#scale!(a.namespace, a.name).then(written, failed);
  }
}
