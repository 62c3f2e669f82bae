// Applies fault decisions (faults.ts) to live requests: holds the run-time config and its seeded random source,
// counts what it injected, and makes a response hang, slow down, reset or take the process down.
//
// Mid-stream faults need to know when tokens go out: runGeneration calls the TokenTap returned here after each token
// it handles. Everything else works by wrapping the response's writeHead/flushHeaders/write/end on that one response
// object (own properties shadowing the prototype's), so completions.ts does not know how a fault is carried out:
//   slow   each call is replayed at t0 + factor × (time of the call − t0), t0 = when the request was intercepted;
//   hang, kill, reset after N tokens: calls after the N-th token are swallowed, then nothing more (hang), a TCP reset
//          (reset) or SIGKILL of the whole process (kill), once the N-th token's bytes have left the socket.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, type Registry } from 'prom-client';
import type { TokenTap } from './completions.ts';
import { ApiError } from './errors.ts';
import {
  decideFault,
  defaultFaultConfig,
  FAULT_HEADER,
  FaultConfigError,
  parseFaultHeader,
  RETURN_ERROR_HEADER,
  type FaultConfig,
  type FaultDecision,
  type FaultOverride,
} from './faults.ts';
import { seededRandom } from './latency.ts';

export interface FaultInjectorOptions {
  /** Initial config (default: no faults). */
  config?: FaultConfig | undefined;
  /** Seed of the decisions (the engine's --seed). */
  seed: number;
  maxModelLen: number;
  /** Where matrixinfer_engine_injected_faults_total is registered (the engine's metrics registry). */
  registry?: Registry;
  /** How mode `kill` ends the process (default: SIGKILL to itself). */
  kill?: () => void;
}

export interface FaultState {
  config: FaultConfig;
  seed: number;
  /** Generation requests seen (decided) since start. */
  requests: number;
  /** Faults injected since start, by type: failure type, status_<code>, hang, slow, kill, reset. */
  injected: Record<string, number>;
}

/** A request the fault layer let through, with the tap runGeneration must call (mid-stream faults only). */
export interface Intercepted {
  tap: TokenTap | undefined;
}

export const INJECTED_FAULTS_METRIC = 'matrixinfer_engine_injected_faults_total';

/** Salt so fault draws do not repeat the text or jitter streams of the same seed. */
const SEED_SALT = 0x5eed_fa17;

export class FaultInjector {
  private config: FaultConfig;
  private seed: number;
  private random: () => number;
  private requests = 0;
  private readonly injected: Record<string, number> = {};
  private readonly counter: Counter<'type'> | undefined;
  private readonly maxModelLen: number;
  private readonly kill: () => void;

  constructor(o: FaultInjectorOptions) {
    this.config = o.config ? structuredClone(o.config) : defaultFaultConfig();
    this.seed = o.seed >>> 0;
    this.random = seededRandom(this.seed ^ SEED_SALT);
    this.maxModelLen = o.maxModelLen;
    this.kill = o.kill ?? (() => process.kill(process.pid, 'SIGKILL'));
    if (o.registry) {
      this.counter = new Counter({
        name: INJECTED_FAULTS_METRIC,
        help: 'Faults injected by the simulated engine (fault injection for tests), by type.',
        labelNames: ['type'],
        registers: [o.registry],
      });
    }
  }

  state(): FaultState {
    return { config: structuredClone(this.config), seed: this.seed, requests: this.requests, injected: { ...this.injected } };
  }

  /** Replace the config (already validated); a seed restarts the decision sequence. */
  set(config: FaultConfig, seed?: number): void {
    this.config = structuredClone(config);
    if (seed !== undefined) {
      this.seed = seed >>> 0;
      this.random = seededRandom(this.seed ^ SEED_SALT);
    }
  }

  /** Decide the fault for a request (drawing from the seeded source) and count it. Throws ApiError on a bad header. */
  decide(req: IncomingMessage, model: string): FaultDecision {
    const override = headerOverride(req);
    const d = decideFault(this.config, this.random, { model, maxModelLen: this.maxModelLen }, override);
    this.requests++;
    if (d.kind !== 'none') {
      const label = d.kind === 'error' ? d.label : d.kind;
      this.injected[label] = (this.injected[label] ?? 0) + 1;
      this.counter?.inc({ type: label });
    }
    return d;
  }

  /**
   * Decide and start carrying out the request's fault. Throws ApiError for an injected error (the server answers it
   * like any other). Returns null when the request has been taken over (hang or reset before any byte, kill), else
   * what runGeneration needs.
   */
  intercept(req: IncomingMessage, res: ServerResponse, model: string): Intercepted | null {
    const d = this.decide(req, model);
    switch (d.kind) {
      case 'none':
        return { tap: undefined };
      case 'error':
        res.setHeader(FAULT_HEADER, d.label);
        throw new ApiError(d.status, d.message, null, d.type);
      case 'slow':
        slowDown(res, d.factor);
        return { tap: undefined };
      case 'hang':
      case 'kill':
      case 'reset': {
        const act = (): void => {
          if (d.kind === 'kill') this.kill();
          else if (d.kind === 'reset') resetConnection(res);
        };
        if (d.afterTokens === 0) {
          act(); // hang: nothing; the response is never written and the connection stays open
          return null;
        }
        const gate = freezable(res);
        let tokens = 0;
        return {
          tap: {
            onToken: () => {
              if (++tokens !== d.afterTokens) return;
              gate.freeze();
              if (d.kind !== 'hang') afterFlush(res, act);
            },
          },
        };
      }
    }
  }
}

function headerOverride(req: IncomingMessage): FaultOverride | undefined {
  const read = (name: string): string | undefined => {
    const v = req.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
  const fault = read(FAULT_HEADER);
  const returnError = read(RETURN_ERROR_HEADER);
  if (fault === undefined && returnError === undefined) return undefined;
  const [name, value] = fault !== undefined ? [FAULT_HEADER, fault] : [RETURN_ERROR_HEADER, `status=${returnError!.trim()}`];
  try {
    return parseFaultHeader(value);
  } catch (err) {
    if (err instanceof FaultConfigError) throw new ApiError(400, `invalid ${name} header: ${err.message}`, null);
    throw err;
  }
}

type Call = () => unknown;
const WRITE_METHODS = ['writeHead', 'flushHeaders', 'write', 'end'] as const;

/**
 * Route the response's writeHead/flushHeaders/write/end through `route`, which runs a call now (returning its
 * result), later or never (returning undefined). Calls made by the originals themselves (writeHead from
 * _implicitHeader) go straight through.
 */
function interceptWrites(res: ServerResponse, route: (call: Call) => unknown): void {
  let inner = false;
  const target = res as unknown as Record<string, unknown>;
  for (const name of WRITE_METHODS) {
    const original = (res[name] as (...args: unknown[]) => unknown).bind(res);
    target[name] = (...args: unknown[]) => {
      if (inner) return original(...args);
      const result = route(() => {
        inner = true;
        try {
          return original(...args);
        } finally {
          inner = false;
        }
      });
      // What the caller would have got from a call that ran (write's true: no backpressure to honour).
      return result ?? (name === 'write' ? true : name === 'flushHeaders' ? undefined : res);
    };
  }
}

/** Mode slow: replay every call `factor` times later, measured from now, in order. */
function slowDown(res: ServerResponse, factor: number): void {
  const t0 = performance.now();
  const queue: { due: number; call: Call }[] = [];
  let timer: NodeJS.Timeout | null = null;
  const pump = (): void => {
    timer = null;
    while (queue.length > 0) {
      if (res.destroyed) {
        queue.length = 0;
        return;
      }
      const wait = queue[0]!.due - performance.now();
      if (wait > 0.5) {
        timer = setTimeout(pump, Math.ceil(wait));
        return;
      }
      queue.shift()!.call();
    }
  };
  interceptWrites(res, (call) => {
    queue.push({ due: t0 + factor * (performance.now() - t0), call });
    if (timer === null) pump();
    return undefined;
  });
  res.once('close', () => {
    if (timer) clearTimeout(timer);
    timer = null;
    queue.length = 0;
  });
}

/** Pass calls through until frozen, then swallow them. */
function freezable(res: ServerResponse): { freeze(): void } {
  let frozen = false;
  interceptWrites(res, (call) => (frozen ? undefined : call()));
  return {
    freeze: () => {
      frozen = true;
    },
  };
}

/**
 * Run `fn` once what was written has left the socket: Node corks response writes until the next tick, and a slow
 * reader may leave bytes queued (then wait for 'drain', at most a second).
 */
function afterFlush(res: ServerResponse, fn: () => void): void {
  setImmediate(() => {
    const s = res.socket;
    if (!s || s.destroyed || s.writableLength === 0) {
      fn();
      return;
    }
    let ran = false;
    const go = (): void => {
      if (ran) return;
      ran = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(go, 1000);
    s.once('drain', go);
    s.once('close', go);
  });
}

/** An abrupt TCP reset (RST, not FIN): the client sees ECONNRESET. */
function resetConnection(res: ServerResponse): void {
  const s = res.socket;
  if (s && !s.destroyed) s.resetAndDestroy();
  else res.destroy();
}
