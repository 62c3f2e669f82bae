// Routing profiles of the production-stack kinds as ModelRoute `scheduling` sections (the gateway compiles them:
// gateway/scheduling/profiles.ts), pure.
//
// InferenceGateway: `routeStrategy` gives the affinity scorers, `schedulingPolicy` the load scorers, `sessionAffinity`
// puts session-affinity (weight 10, on `sessionHeader`, else the cookie `sessionCookie`) in front:
//   PrefixHash       prefix-cache 3 (with its load guard)     gpu-load-aware  queue 1, kv-cache 1
//   SessionAffinity  session-affinity 10                      least-request   least-request 1
//   KVAware          prefix-cache 3, kv-cache 1               round-robin     (none)
//   LeastRequest     least-request 1                          random          (none; random picker)
//   RoundRobin       (none)                                   default         queue 1, lora-affinity 2
//   Random           (none; random picker)
//   (not given)      prefix-cache 3 (MatrixInfer's default affinity)
// With neither given (or both `default`) and no session affinity, the route keeps the ModelServer's policy.
//
// InferenceCache, on top (or on CACHE_BASE_SCORERS — prefix-cache 3, queue 1, lora-affinity 2 — when no gateway lists the route): the weights are scaled
// by 10 for resolution, then with L the load scorers' weight (queue, running, least-request; a queue scorer of 10 is
// added when there is none) and a prefix scorer scoring the matched fraction × 100:
//   prefix-cache = L / thresholdHitRate    a pod matching the prompt's prefix at thresholdHitRate or more outweighs
//                                          the whole load spread (most against least queued), below it does not;
//   kv-cache     = prefix / evictionThreshold   once a pod's KV usage passes evictionThreshold, the free KV of an idle
//                                          pod outweighs a full prefix match on it: load spreads.
// Weights are rounded and capped at 100 (the schema's bound); the crossing points after rounding are reported. This is
// as far as a static profile goes: the gate on the *observed* hit rate would need the engines' metrics.
import type { SchedulingSpec } from '../../api/kinds/modelserver.ts';
import {
  DEFAULT_EVICTION_THRESHOLD,
  DEFAULT_SESSION_COOKIE,
  DEFAULT_SESSION_HEADER,
  DEFAULT_THRESHOLD_HIT_RATE,
  routeStrategyOf,
  schedulingPolicyOf,
  type InferenceCacheSpec,
  type InferenceGatewaySpec,
  type RouteStrategy,
  type SchedulingPolicyName,
} from '../../api/kinds/index.ts';

type ScorerName = NonNullable<SchedulingSpec['scorers']>[number]['name'];
type PolicyName = NonNullable<SchedulingSpec['policy']>;
type Scorers = Array<[ScorerName, number]>;

/**
 * The scorers an InferenceCache's thresholds are weighed over when its route names none: prefix affinity and load
 * as separate scorers (the gateway's earlier default policy), so `thresholdHitRate` and `evictionThreshold` can set
 * where one outweighs the other. MatrixInfer's own default now folds both into one estimate (the `ttft` scorer),
 * which leaves no weight for a threshold to set.
 */
export const CACHE_BASE_SCORERS: Scorers = [
  ['prefix-cache', 3],
  ['queue', 1],
  ['lora-affinity', 2],
];

const STRATEGY_SCORERS: Record<RouteStrategy, Scorers> = {
  PrefixHash: [['prefix-cache', 3]],
  SessionAffinity: [['session-affinity', 10]],
  KVAware: [
    ['prefix-cache', 3],
    ['kv-cache', 1],
  ],
  LeastRequest: [['least-request', 1]],
  RoundRobin: [],
  Random: [],
};

const POLICY_SCORERS: Record<SchedulingPolicyName, Scorers> = {
  default: [
    ['queue', 1],
    ['lora-affinity', 2],
  ],
  'gpu-load-aware': [
    ['queue', 1],
    ['kv-cache', 1],
  ],
  'least-request': [['least-request', 1]],
  'round-robin': [],
  random: [],
};

/** The policy name a profile shows (it also picks the picker: random for `random`, else highest score). */
const STRATEGY_POLICY: Record<RouteStrategy, PolicyName> = {
  PrefixHash: 'prefix-affinity',
  SessionAffinity: 'session-affinity',
  KVAware: 'prefix-affinity',
  LeastRequest: 'least-request',
  RoundRobin: 'round-robin',
  Random: 'random',
};

const LOAD_SCORERS: ReadonlySet<ScorerName> = new Set(['queue', 'running', 'least-request']);

/** Each scorer once, at its highest weight, in first-seen order. */
function merge(list: Scorers): Scorers {
  const out = new Map<ScorerName, number>();
  for (const [name, weight] of list) out.set(name, Math.max(weight, out.get(name) ?? 0));
  return [...out];
}

/** An InferenceGateway's profile, or undefined when it leaves the ModelServer's policy in place. */
export function gatewayScheduling(spec: InferenceGatewaySpec): SchedulingSpec | undefined {
  const strategy = spec.routeStrategy === undefined ? undefined : routeStrategyOf(spec.routeStrategy);
  const policy = spec.schedulingPolicy === undefined ? 'default' : (schedulingPolicyOf(spec.schedulingPolicy) ?? 'default');
  const session = spec.sessionAffinity === true;
  if (strategy === undefined && policy === 'default' && !session) return undefined;
  const header = spec.sessionHeader ?? DEFAULT_SESSION_HEADER;
  const cookie = spec.sessionCookie ?? DEFAULT_SESSION_COOKIE;
  const scorers = merge([
    ...(session ? ([['session-affinity', 10]] as Scorers) : []),
    ...(strategy ? STRATEGY_SCORERS[strategy] : [['prefix-cache', 3] as [ScorerName, number]]),
    ...POLICY_SCORERS[policy],
  ]);
  const random = strategy === 'Random' || policy === 'random';
  const name: PolicyName = random ? 'random' : strategy ? STRATEGY_POLICY[strategy] : 'default';
  const usesSession = scorers.some(([n]) => n === 'session-affinity');
  return {
    policy: name,
    scorers: scorers.map(([n, weight]) => ({ name: n, weight })),
    ...(usesSession ? { sessionAffinity: { header, cookie } } : {}),
  };
}

export interface CacheTuning {
  scheduling: SchedulingSpec;
  weights: { prefixCache: number; kvCache: number; load: number };
  /** The prefix match from which affinity wins, and the KV usage from which load spreads, after rounding. */
  affinityFrom: number;
  spreadFrom: number;
}

const clampWeight = (w: number) => Math.max(1, Math.min(100, Math.round(w)));

/** An InferenceCache's weights on top of a route's profile (undefined: CACHE_BASE_SCORERS). */
export function cacheScheduling(base: SchedulingSpec | undefined, cache: InferenceCacheSpec): CacheTuning {
  const threshold = cache.kvCacheTransferPolicy?.thresholdHitRate ?? DEFAULT_THRESHOLD_HIT_RATE;
  const eviction = cache.kvCacheTransferPolicy?.evictionThreshold ?? DEFAULT_EVICTION_THRESHOLD;
  const list: Scorers = (base?.scorers?.map((s) => [s.name, s.weight ?? 1] as [ScorerName, number]) ?? CACHE_BASE_SCORERS).map(([n, w]) => [n, w * 10]);
  let load = list.filter(([n]) => LOAD_SCORERS.has(n)).reduce((sum, [, w]) => sum + w, 0);
  if (load === 0) {
    list.push(['queue', 10]);
    load = 10;
  }
  const prefix = threshold > 0 ? clampWeight(load / threshold) : 100;
  const kv = eviction > 0 ? clampWeight(prefix / eviction) : 100;
  const without = list.filter(([n]) => n !== 'prefix-cache' && n !== 'kv-cache').map(([n, w]): [ScorerName, number] => [n, Math.min(100, w)]);
  const scorers: Scorers = [['prefix-cache', prefix], ...without, ['kv-cache', kv]];
  const policy: PolicyName = base?.policy === 'random' ? 'random' : (base?.policy ?? 'default');
  return {
    scheduling: { ...(base ?? {}), policy, scorers: scorers.map(([name, weight]) => ({ name, weight })) },
    weights: { prefixCache: prefix, kvCache: kv, load },
    affinityFrom: Math.min(1, load / prefix),
    spreadFrom: Math.min(1, prefix / kv),
  };
}

/** One line for a status: `prefix-affinity: session-affinity 10, prefix-cache 3 (session header x-session-id, cookie session_id)`. */
export function describeScheduling(spec: SchedulingSpec | undefined): string {
  if (spec === undefined) return "the ModelServer's policy";
  const scorers = (spec.scorers ?? []).map((s) => `${s.name} ${s.weight ?? 1}`).join(', ');
  const session = spec.sessionAffinity;
  const header = session ? ` (session header ${session.header}${session.cookie ? `, cookie ${session.cookie}` : ''})` : '';
  return `${spec.policy ?? 'default'}: ${scorers || 'no scorers (rotation)'}${header}`;
}
