// Circuit breaking per engine endpoint (outlier ejection).
//
//   closed ──(consecutiveFailures failed attempts in a row)──▶ open (ejected for the back-off)
//   open ──(back-off over: GET /health answers < 500)──▶ half-open ──(next request succeeds)──▶ closed
//                      └─(probe fails: open again, back-off doubled)     └─(it fails: open again, back-off doubled)
//
// The back-off is baseEjectionTime · 2^(ejections − 1), capped at maxEjectionTime; `ejections` resets when the pod
// serves a request successfully in the half-open state. While half-open, an endpoint takes one request at a time
// (scheduling skips it while it has one in flight). A failed attempt is a connect error, a first-byte timeout, a 5xx
// status, a reset before the response, or a stream broken after it started; 4xx answers and client aborts are not.
//
// State lives on the Endpoint (`ep.breaker`, created on the first failure) so it is purged with the pod; the
// scheduling filter (scheduling/filters/circuit.ts) reads it only while some circuit is tripped. Nothing here runs
// per request unless an endpoint failed: a success on a healthy endpoint is one null check.
import type { Endpoint } from '../scheduling/endpoint.ts';
import type { PoolManager } from './pools.ts';

export interface CircuitConfig {
  consecutiveFailures: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
}

export const DEFAULT_CIRCUIT: CircuitConfig = Object.freeze({ consecutiveFailures: 5, baseEjectionMs: 5_000, maxEjectionMs: 60_000 });

export type CircuitStateName = 'closed' | 'open' | 'half-open';

export interface BreakerState {
  state: CircuitStateName;
  /** Failed attempts in a row. */
  failures: number;
  /** Ejections in a row (for the exponential back-off). */
  ejections: number;
  /** Date.now() at which the current ejection ends (open) — for the debug view. */
  ejectedUntil: number;
  lastError: string;
  timer: NodeJS.Timeout | null;
}

/** Process-wide count of endpoints with an open or half-open circuit: 0 lets the filter return at once. */
export const circuitCounts = { tripped: 0 };

export interface CircuitEvents {
  /** An endpoint was ejected (for metrics). */
  onEject?(ep: Endpoint): void;
}

export class CircuitBreakers {
  readonly #pools: PoolManager;
  readonly #events: CircuitEvents;
  readonly #probeTimeoutMs: number;
  readonly #tracked = new Set<Endpoint>();
  #closed = false;

  constructor(pools: PoolManager, events: CircuitEvents = {}, probeTimeoutMs = 2_000) {
    this.#pools = pools;
    this.#events = events;
    this.#probeTimeoutMs = probeTimeoutMs;
  }

  /** A request on `ep` completed without a failure. */
  success(ep: Endpoint): void {
    const b = ep.breaker;
    if (b === null) return;
    b.failures = 0;
    if (b.state === 'half-open') this.#close(ep, b);
  }

  /** An attempt on `ep` failed. */
  failure(ep: Endpoint, config: CircuitConfig, reason: string): void {
    let b = ep.breaker;
    if (b === null) ep.breaker = b = { state: 'closed', failures: 0, ejections: 0, ejectedUntil: 0, lastError: '', timer: null };
    b.failures++;
    b.lastError = reason;
    if (b.state === 'half-open' || (b.state === 'closed' && b.failures >= config.consecutiveFailures)) this.#eject(ep, b, config);
  }

  state(ep: Endpoint): CircuitStateName {
    return ep.breaker?.state ?? 'closed';
  }

  /** After a routing-table rebuild: forget tripped endpoints that left the table and are idle. */
  sweep(): void {
    for (const ep of this.#tracked) {
      const b = ep.breaker;
      if (b !== null && !ep.active && ep.inflight === 0) {
        this.#close(ep, b);
        ep.breaker = null;
      }
    }
  }

  /** Stop every probe timer (gateway shutdown). */
  close(): void {
    this.#closed = true;
    for (const ep of this.#tracked) {
      const b = ep.breaker;
      if (b?.timer) clearTimeout(b.timer);
      if (b && b.state !== 'closed') circuitCounts.tripped--;
      ep.breaker = null;
    }
    this.#tracked.clear();
  }

  #eject(ep: Endpoint, b: BreakerState, config: CircuitConfig): void {
    if (b.state === 'closed') circuitCounts.tripped++;
    b.state = 'open';
    b.ejections++;
    const backoff = Math.min(config.maxEjectionMs, config.baseEjectionMs * 2 ** Math.min(b.ejections - 1, 30));
    b.ejectedUntil = Date.now() + backoff;
    if (b.timer) clearTimeout(b.timer);
    this.#tracked.add(ep);
    b.timer = setTimeout(probe, backoff, this, ep, config);
    b.timer.unref();
    this.#events.onEject?.(ep);
  }

  #close(ep: Endpoint, b: BreakerState): void {
    if (b.timer) clearTimeout(b.timer);
    if (b.state !== 'closed') circuitCounts.tripped--;
    b.state = 'closed';
    b.failures = 0;
    b.ejections = 0;
    b.ejectedUntil = 0;
    b.timer = null;
    this.#tracked.delete(ep);
  }

  /** Back-off over: ask the pod's /health; a live answer makes it half-open, anything else ejects it again. */
  async probe(ep: Endpoint, config: CircuitConfig): Promise<void> {
    const b = ep.breaker;
    if (b === null || b.state !== 'open' || this.#closed) return;
    b.timer = null;
    if (!ep.active && ep.inflight === 0) {
      // The pod left the routing table: forget it.
      this.#close(ep, b);
      ep.breaker = null;
      return;
    }
    let alive = false;
    try {
      const res = await this.#pools.get(ep.origin).request({ path: '/health', method: 'GET', timeoutMs: this.#probeTimeoutMs, maxBytes: 64 * 1024 });
      alive = res.status < 500;
      if (!alive) b.lastError = `health probe: HTTP ${res.status}`;
    } catch (err) {
      b.lastError = `health probe: ${(err as { code?: string }).code ?? (err as Error).message}`;
    }
    if (this.#closed || ep.breaker !== b || b.state !== 'open') return;
    if (alive) {
      b.state = 'half-open';
      b.failures = 0;
      b.ejectedUntil = 0;
    } else {
      this.#eject(ep, b, config);
    }
  }
}

function probe(breakers: CircuitBreakers, ep: Endpoint, config: CircuitConfig): void {
  breakers.probe(ep, config).catch(() => {});
}
