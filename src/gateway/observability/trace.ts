// W3C Trace Context (https://www.w3.org/TR/trace-context/): the gateway is one hop of the trace. An incoming valid
// `traceparent` keeps its trace id and flags; otherwise a new trace is started (sampled flag set, so engines that
// trace can record it). Either way the upstream request carries a new parent id — the gateway's own span — and
// `tracestate` passes through untouched. The trace id goes into the access log.
//
// Ids come from a pooled buffer of random bytes refilled 4 KiB at a time: no crypto call per request.
import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;

function randomHex(bytes: number): string {
  if (offset + bytes > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const s = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return s;
}

function nonZeroHex(bytes: number): string {
  for (;;) {
    const s = randomHex(bytes);
    for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== 48) return s;
  }
}

export function newTraceId(): string {
  return nonZeroHex(16);
}

export function newSpanId(): string {
  return nonZeroHex(8);
}

function isLowerHex(s: string, from: number, to: number): boolean {
  let nonZero = false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
    if (c !== 48) nonZero = true;
  }
  return nonZero;
}

export interface TraceContext {
  traceId: string;
  /** The header sent upstream: `00-<trace id>-<gateway span id>-<flags>`. */
  traceparent: string;
}

/** The trace context for a request carrying `header` (the client's traceparent, if any). */
export function traceContext(header: string | string[] | undefined): TraceContext {
  const parsed = typeof header === 'string' ? parseTraceparent(header) : undefined;
  const traceId = parsed?.traceId ?? newTraceId();
  const flags = parsed?.flags ?? '01';
  return { traceId, traceparent: `00-${traceId}-${newSpanId()}-${flags}` };
}

/** `{traceId, parentId, flags}` of a valid traceparent, else undefined. Future versions are read by the 00 layout. */
export function parseTraceparent(h: string): { traceId: string; parentId: string; flags: string } | undefined {
  const v = h.trim();
  if (v.length < 55) return undefined;
  if (v.charCodeAt(2) !== 45 || v.charCodeAt(35) !== 45 || v.charCodeAt(52) !== 45) return undefined;
  const version = v.slice(0, 2);
  if (!/^[0-9a-f]{2}$/.test(version) || version === 'ff') return undefined;
  if (version === '00' && v.length !== 55) return undefined;
  if (version !== '00' && v.length > 55 && v.charCodeAt(55) !== 45) return undefined;
  if (!isLowerHex(v, 3, 35) || !isLowerHex(v, 36, 52)) return undefined;
  const flagBits = v.slice(53, 55);
  if (!/^[0-9a-f]{2}$/.test(flagBits)) return undefined;
  // Version 00 defines only the sampled bit; others are not passed on.
  const flags = parseInt(flagBits, 16) & 1 ? '01' : '00';
  return { traceId: v.slice(3, 35), parentId: v.slice(36, 52), flags };
}
