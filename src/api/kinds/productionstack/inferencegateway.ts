// production-stack.vllm.ai/v1alpha1 InferenceGateway: the routing profile of the models it lists. Each route names
// an InferenceService; the ModelRoute that InferenceService programs carries this gateway's profile (its
// spec.scheduling): `routeStrategy` chooses the affinity, `schedulingPolicy` the load scoring, `sessionAffinity` adds
// stickiness on a session header, else a session cookie. The gateway itself is MatrixInfer's shared one; no router Deployment is created.
//
// Accepted values (case, `-` and `_` do not matter; the production-stack router's spellings are aliases):
//   routeStrategy     RoundRobin (roundrobin), PrefixHash (prefixaware, prefix-affinity), SessionAffinity (session),
//                     KVAware (kvaware), LeastRequest (least-loaded), Random
//   schedulingPolicy  default, gpu-load-aware, least-request (least-loaded), round-robin, random
import { Type, Obj, type Static } from '../../schema-kit.ts';
import { AGE_COLUMN, type KindDefinition } from '../../kind.ts';
import type { KubeObject } from '../../admission.ts';
import { PRODUCTION_STACK_CATEGORIES, PRODUCTION_STACK_GROUP, PRODUCTION_STACK_VERSION, conditionColumn, normalizeName, statusBase } from './common.ts';

export const ROUTE_STRATEGIES = ['RoundRobin', 'PrefixHash', 'SessionAffinity', 'KVAware', 'LeastRequest', 'Random'] as const;
export type RouteStrategy = (typeof ROUTE_STRATEGIES)[number];
const ROUTE_STRATEGY_ALIASES: Record<string, RouteStrategy> = {
  roundrobin: 'RoundRobin',
  prefixhash: 'PrefixHash',
  prefixaware: 'PrefixHash',
  prefixaffinity: 'PrefixHash',
  sessionaffinity: 'SessionAffinity',
  session: 'SessionAffinity',
  kvaware: 'KVAware',
  leastrequest: 'LeastRequest',
  leastloaded: 'LeastRequest',
  random: 'Random',
};

export const SCHEDULING_POLICIES = ['default', 'gpu-load-aware', 'least-request', 'round-robin', 'random'] as const;
export type SchedulingPolicyName = (typeof SCHEDULING_POLICIES)[number];
const SCHEDULING_POLICY_ALIASES: Record<string, SchedulingPolicyName> = {
  default: 'default',
  gpuloadaware: 'gpu-load-aware',
  leastrequest: 'least-request',
  leastloaded: 'least-request',
  roundrobin: 'round-robin',
  random: 'random',
};

/** The canonical routeStrategy for a spelling, undefined when it is not one. */
export function routeStrategyOf(value: string): RouteStrategy | undefined {
  return ROUTE_STRATEGY_ALIASES[normalizeName(value)];
}

/** The canonical schedulingPolicy for a spelling, undefined when it is not one. */
export function schedulingPolicyOf(value: string): SchedulingPolicyName | undefined {
  return SCHEDULING_POLICY_ALIASES[normalizeName(value)];
}

export const DEFAULT_SESSION_HEADER = 'x-session-id';
export const DEFAULT_SESSION_COOKIE = 'session_id';

export const GatewayRoute = Obj({
  model: Type.String({ minLength: 1, description: "Model name of the route; must be the InferenceService's modelName." }),
  inferenceServiceRef: Type.String({ minLength: 1, description: 'InferenceService in the same namespace that serves it.' }),
});
export type GatewayRoute = Static<typeof GatewayRoute>;

export const InferenceGatewaySpec = Obj({
  schedulingPolicy: Type.Optional(
    Type.String({
      description:
        'Load scoring: default (MatrixInfer\'s default policy), gpu-load-aware (engine queue and KV-cache usage), least-request (fewest in-flight requests), round-robin, random.',
    }),
  ),
  routeStrategy: Type.Optional(
    Type.String({
      description:
        'Affinity: PrefixHash (prefix-cache affinity with its load guard), SessionAffinity (consistent hash of the session header, else cookie), KVAware (prefix affinity and free KV cache), LeastRequest, RoundRobin, Random. The router\'s roundrobin, prefixaware, session and kvaware are accepted.',
    }),
  ),
  sessionAffinity: Type.Optional(
    Type.Boolean({ description: 'Keep a session on one pod: requests with the same session header value (or, without the header, the same session cookie value) go to the same pod while it is there.' }),
  ),
  sessionHeader: Type.Optional(Type.String({ minLength: 1, description: `Header naming the session (default ${DEFAULT_SESSION_HEADER}).` })),
  sessionCookie: Type.Optional(Type.String({ minLength: 1, description: `Cookie naming the session when the header is absent (default ${DEFAULT_SESSION_COOKIE}).` })),
  routes: Type.Optional(Type.Array(GatewayRoute, { maxItems: 256, description: 'The models this profile applies to.' })),
});
export type InferenceGatewaySpec = Static<typeof InferenceGatewaySpec>;

export const GatewayRouteStatus = Obj({
  model: Type.String(),
  inferenceService: Type.String(),
  modelRoute: Type.Optional(Type.String({ description: 'The ModelRoute carrying the profile.' })),
  readyBackends: Type.Optional(Type.Integer({ format: 'int32', description: 'Ready engine pods behind it.' })),
  programmed: Type.Boolean({ description: 'Whether the route carries this gateway\'s profile.' }),
  message: Type.Optional(Type.String({ description: 'Why not, when it does not.' })),
});
export type GatewayRouteStatus = Static<typeof GatewayRouteStatus>;

export const InferenceGatewayStatus = Obj({
  ...statusBase,
  profile: Type.Optional(Type.String({ description: 'The compiled profile: picker policy and scorer weights.' })),
  routes: Type.Optional(Type.Array(GatewayRouteStatus)),
});
export type InferenceGatewayStatus = Static<typeof InferenceGatewayStatus>;

export interface InferenceGateway extends KubeObject {
  spec: InferenceGatewaySpec;
  status?: InferenceGatewayStatus;
}

export const inferenceGatewayKind: KindDefinition = {
  group: PRODUCTION_STACK_GROUP,
  version: PRODUCTION_STACK_VERSION,
  kind: 'InferenceGateway',
  plural: 'inferencegateways',
  singular: 'inferencegateway',
  shortNames: ['psgw'],
  categories: PRODUCTION_STACK_CATEGORIES,
  scope: 'Namespaced',
  description: "A routing profile (affinity, load scoring, session stickiness) for the InferenceServices it lists, programmed on their ModelRoutes.",
  spec: InferenceGatewaySpec,
  status: InferenceGatewayStatus,
  printerColumns: [
    { name: 'Policy', type: 'string', jsonPath: '.spec.schedulingPolicy' },
    { name: 'Strategy', type: 'string', jsonPath: '.spec.routeStrategy' },
    { name: 'Session', type: 'boolean', jsonPath: '.spec.sessionAffinity' },
    conditionColumn('Accepted'),
    conditionColumn('Programmed'),
    { name: 'Profile', type: 'string', jsonPath: '.status.profile', priority: 1 },
    AGE_COLUMN,
  ],
};
