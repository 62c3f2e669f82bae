// Per-request route selection over a precomputed table: first matching rule of the oldest route wins; the target
// ModelServer is drawn by weight. Only comparisons and arithmetic — no allocation on success beyond the result.
import type { IncomingHttpHeaders } from 'node:http';
import { modelMatches } from './match.ts';
import type { ModelEntry, RouteEntry, RuleEntry, ServerEntry } from './table.ts';

export interface RouteSelection {
  route: RouteEntry;
  rule: RuleEntry;
  server: ServerEntry;
}

/** Why no target was chosen: no rule matched / a rule matched but its servers have no ready endpoint. */
export type SelectionFailure = 'no_rule' | 'no_upstream';

/** Weighted choice among a rule's targets; `r` in [0, 1). */
export function pickWeighted(rule: RuleEntry, r: number): ServerEntry | undefined {
  const targets = rule.targets;
  const n = targets.length;
  if (n === 0) return undefined;
  if (n === 1) return targets[0];
  const x = r * rule.total;
  const cum = rule.cumulative;
  for (let i = 0; i < n; i++) if (x < cum[i]!) return targets[i];
  return targets[n - 1];
}

export function selectRoute(
  entry: ModelEntry,
  headers: IncomingHttpHeaders,
  path: string,
  random: () => number = Math.random,
): RouteSelection | SelectionFailure {
  let failure: SelectionFailure = 'no_rule';
  const routes = entry.routes;
  for (let i = 0; i < routes.length; i++) {
    const route = routes[i]!;
    const rule = firstMatch(route, headers, path);
    if (rule === undefined) continue;
    // The first matching rule decides for this route; when it cannot serve, the next route is tried.
    const server = pickWeighted(rule, random());
    if (server) return { route, rule, server };
    if (rule.resolvable) failure = 'no_upstream';
  }
  return failure;
}

/** The route's first rule matching the request (the one that decides for the route), or undefined. */
function firstMatch(route: RouteEntry, headers: IncomingHttpHeaders, path: string): RuleEntry | undefined {
  const rules = route.rules;
  for (let j = 0; j < rules.length; j++) if (modelMatches(rules[j]!.match, headers, path)) return rules[j];
  return undefined;
}

/**
 * When `selectRoute` found no target with a ready endpoint ('no_upstream'): the first matching rule (route by route,
 * as `selectRoute` walks them) that has an idle target — one with no endpoint but a ModelInfer that could be started
 * (activation/hold.ts). The first idle target of that rule is chosen. Runs only on that failure path.
 */
export function selectIdle(entry: ModelEntry, headers: IncomingHttpHeaders, path: string): RouteSelection | undefined {
  const routes = entry.routes;
  for (let i = 0; i < routes.length; i++) {
    const route = routes[i]!;
    const rule = firstMatch(route, headers, path);
    if (rule !== undefined && rule.idle.length > 0) return { route, rule, server: rule.idle[0]! };
  }
  return undefined;
}
