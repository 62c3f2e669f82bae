// production-stack.vllm.ai/v1alpha1 StaticRoute: static backends and models, as the production-stack router takes
// them (`--service-discovery static --static-backends … --static-models …`). The controller writes ConfigMap
// `configMapName` (default `<name>-config`) with `static_config.json` in the router's dynamic-config format, probes
// every backend (`GET /health`, else `GET /v1/models`) every `healthCheck.periodSeconds`, and reports each backend's
// health. `staticModels[i]` is served by `staticBackends[i]`.
import { Type, Obj, StringEnum, type Static } from '../../schema-kit.ts';
import { AGE_COLUMN, type KindDefinition } from '../../kind.ts';
import type { KubeObject } from '../../admission.ts';
import { PRODUCTION_STACK_CATEGORIES, PRODUCTION_STACK_GROUP, PRODUCTION_STACK_VERSION, conditionColumn, statusBase } from './common.ts';

export const ROUTING_LOGICS = ['roundrobin', 'session', 'prefixaware', 'kvaware'] as const;
export type RoutingLogic = (typeof ROUTING_LOGICS)[number];

export const HEALTH_CHECK_DEFAULTS = { timeoutSeconds: 5, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 } as const;

export const StaticRouteSpec = Obj({
  serviceDiscovery: Type.Optional(StringEnum(['static'] as const, { default: 'static', description: 'Only static: the backends are listed here.' })),
  routingLogic: Type.Optional(
    StringEnum(ROUTING_LOGICS, {
      default: 'roundrobin',
      description: "The router's routing logic: roundrobin, session (sticky on sessionKey), prefixaware, kvaware.",
    }),
  ),
  staticBackends: Type.String({ minLength: 1, description: 'Comma-separated backend base URLs (http or https), e.g. http://10.0.0.5:8000.' }),
  staticModels: Type.String({ minLength: 1, description: 'Comma-separated model names, one per backend, in the same order.' }),
  sessionKey: Type.Optional(Type.String({ minLength: 1, description: 'session: the header naming the session.' })),
  routerRef: Type.Optional(
    Obj(
      {
        kind: Type.Optional(Type.String()),
        apiVersion: Type.Optional(Type.String()),
        name: Type.String({ minLength: 1 }),
        namespace: Type.Optional(Type.String()),
      },
      { description: 'The router Service that reads the ConfigMap (reported, not changed: mount the ConfigMap and pass --dynamic-config-json).' },
    ),
  ),
  healthCheck: Type.Optional(
    Obj(
      {
        timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 300, default: HEALTH_CHECK_DEFAULTS.timeoutSeconds, format: 'int32' })),
        periodSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, default: HEALTH_CHECK_DEFAULTS.periodSeconds, format: 'int32' })),
        successThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: HEALTH_CHECK_DEFAULTS.successThreshold, format: 'int32' })),
        failureThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: HEALTH_CHECK_DEFAULTS.failureThreshold, format: 'int32' })),
      },
      { description: 'How backends are probed: consecutive successes to turn healthy, failures to turn unhealthy.' },
    ),
  ),
  configMapName: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: 'ConfigMap to write (default <name>-config).' })),
});
export type StaticRouteSpec = Static<typeof StaticRouteSpec>;

export const BackendStatus = Obj({
  url: Type.String(),
  model: Type.String(),
  healthy: Type.Boolean(),
  lastChecked: Type.Optional(Type.String({ format: 'date-time', description: 'When the last probe finished.' })),
  consecutiveFailures: Type.Optional(Type.Integer({ format: 'int32' })),
  message: Type.Optional(Type.String({ description: 'What the last probe saw.' })),
});
export type BackendStatus = Static<typeof BackendStatus>;

export const StaticRouteStatus = Obj({
  ...statusBase,
  configMapRef: Type.Optional(Type.String({ description: 'The ConfigMap written.' })),
  lastAppliedTime: Type.Optional(Type.String({ format: 'date-time', description: 'When its content last changed.' })),
  healthyBackends: Type.Optional(Type.Integer({ format: 'int32' })),
  backends: Type.Optional(Type.Array(BackendStatus)),
});
export type StaticRouteStatus = Static<typeof StaticRouteStatus>;

export interface StaticRoute extends KubeObject {
  spec: StaticRouteSpec;
  status?: StaticRouteStatus;
}

export const staticRouteKind: KindDefinition = {
  group: PRODUCTION_STACK_GROUP,
  version: PRODUCTION_STACK_VERSION,
  kind: 'StaticRoute',
  plural: 'staticroutes',
  singular: 'staticroute',
  shortNames: ['psroute'],
  categories: PRODUCTION_STACK_CATEGORIES,
  scope: 'Namespaced',
  description: "Static backends and models for the production-stack router: a ConfigMap with static_config.json, and each backend's health.",
  spec: StaticRouteSpec,
  status: StaticRouteStatus,
  printerColumns: [
    { name: 'Logic', type: 'string', jsonPath: '.spec.routingLogic' },
    { name: 'ConfigMap', type: 'string', jsonPath: '.status.configMapRef' },
    { name: 'Healthy', type: 'integer', jsonPath: '.status.healthyBackends' },
    conditionColumn('Ready'),
    { name: 'Applied', type: 'date', jsonPath: '.status.lastAppliedTime', priority: 1 },
    AGE_COLUMN,
  ],
};

/** The entries of a comma-separated list, trimmed (empty entries kept, so that `a,,b` counts three). */
export function splitList(value: string | undefined): string[] {
  return (value ?? '').split(',').map((entry) => entry.trim());
}

/** Why a backend URL would not do, undefined when it is an http(s) URL with a host and nothing after the path. */
export function backendUrlProblem(url: string): string | undefined {
  if (url === '') return 'is empty';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return `has scheme ${parsed.protocol.slice(0, -1)}, not http or https`;
  if (parsed.hostname === '') return 'has no host';
  if (parsed.search || parsed.hash) return 'has a query or fragment';
  return undefined;
}

/** The backend URL without a trailing slash, the form requests and probes are built on. */
export function backendBase(url: string): string {
  return url.replace(/\/+$/, '');
}

/** staticBackends[i] with staticModels[i]; entries beyond the shorter list are left out. */
export function staticEntries(spec: Pick<StaticRouteSpec, 'staticBackends' | 'staticModels'>): { url: string; model: string }[] {
  const urls = splitList(spec.staticBackends);
  const models = splitList(spec.staticModels);
  return urls.slice(0, Math.min(urls.length, models.length)).map((url, i) => ({ url: backendBase(url), model: models[i]! }));
}
