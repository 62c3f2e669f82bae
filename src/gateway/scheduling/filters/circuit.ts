// Circuit-breaker filter (owned by the resilience slice; state in proxy/circuit.ts): endpoints whose circuit is
// open are skipped, and a half-open endpoint takes one request at a time. Retries also leave out the endpoints
// this request already tried. When every candidate is ejected the filter lets them all through (fail open, like
// Envoy's panic threshold): a breaker must never turn a degraded ModelServer into one that refuses everything.
//
// Fast path: with no circuit tripped anywhere and nothing tried, the input array is returned as is (no allocation).
// The scheduler runs it first in every decision (scheduler.ts), before the profile's filters.
import type { Endpoint } from '../endpoint.ts';
import { circuitCounts } from '../../proxy/circuit.ts';

export function isEjected(ep: Endpoint): boolean {
  const b = ep.breaker;
  return b !== null && (b.state === 'open' || (b.state === 'half-open' && ep.inflight > 0));
}

/** `endpoints` less those already `tried` and (unless that would leave none) the ejected ones. */
export function schedulableEndpoints(endpoints: readonly Endpoint[], tried: readonly Endpoint[] | null): readonly Endpoint[] {
  let list = endpoints;
  if (tried !== null && tried.length > 0) list = list.filter((e) => !tried.includes(e));
  if (circuitCounts.tripped === 0 || list.length === 0) return list;
  let ejected = 0;
  for (let i = 0; i < list.length; i++) if (isEjected(list[i]!)) ejected++;
  if (ejected === 0 || ejected === list.length) return list;
  return list.filter((e) => !isEjected(e));
}
