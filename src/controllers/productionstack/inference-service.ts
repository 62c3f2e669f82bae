// InferenceService → one ModelRoute, pure. The route is named after the InferenceService, owned by it, and routes
// `modelName` to the backend's ModelServer; on it:
//  - `scheduling`: the profile of the oldest InferenceGateway listing this InferenceService under its modelName
//    (scheduling.ts), with the weights of its InferenceCache on top (inferenceCacheRef, else the oldest InferenceCache
//    of modelName);
//  - `cache.semantic` with nlpFilters.semanticCache: threshold and TTL as given; the store is a Service in front of
//    Redis (`<service>.<namespace>.svc:<port>`, the port named redis, else 6379, else the first; an ExternalName
//    Service's external name), or `memory` (each gateway replica its own).
// Without a backend no route is written (and one written before is removed): there is nothing to route to. A cache
// or store that is missing leaves its part out, the route is still written, and ResolvedRefs says what is missing.
// Ready needs the route, a ready backend, and no older route for the same model name (the gateway matches the oldest
// route first, so a younger one would never be used).
import type { KubeObject } from '../../api/admission.ts';
import { apiVersionOf } from '../../api/kind.ts';
import {
  modelRouteKind,
  olderFirst,
  type InferenceCache,
  type InferenceGateway,
  type InferenceService,
  type InferenceServiceStatus,
  type ModelRoute,
  type ModelServer,
  type RouteCache,
  type SchedulingSpec,
} from '../../api/kinds/index.ts';
import { MANAGED_BY_LABEL } from '../../api/labels.ts';
import { nowTime, setConditions, type ConditionInput } from '../../kube/objects.ts';
import { resolveBackend, type World } from './resolve.ts';
import { cacheScheduling, describeScheduling, gatewayScheduling, type CacheTuning } from './scheduling.ts';

/** managed-by on what these controllers write. */
export const PRODUCTION_STACK_MANAGER = 'production-stack.vllm.ai';
/** On an InferenceService's ModelRoute: the InferenceService. */
export const INFERENCE_SERVICE_LABEL = 'production-stack.vllm.ai/inference-service';
export const DEFAULT_SEMANTIC_THRESHOLD = 0.85;
export const DEFAULT_SEMANTIC_TTL_SECONDS = 600;

/** The InferenceGateway whose profile applies: the oldest listing this InferenceService under its modelName. */
export function chooseGateway(isvc: InferenceService, gateways: readonly InferenceGateway[]): InferenceGateway | undefined {
  const name = isvc.metadata.name;
  return [...gateways]
    .filter((g) => !g.metadata.deletionTimestamp && (g.spec.routes ?? []).some((r) => r.inferenceServiceRef === name && r.model === isvc.spec.modelName))
    .sort(olderFirst)[0];
}

export type Problem = { reason: string; message: string };

/** The InferenceCache that applies: the one named, if it is there and for this model; else the oldest for modelName. */
export function chooseCache(isvc: InferenceService, caches: readonly InferenceCache[]): { cache?: InferenceCache; problem?: Problem } {
  const ref = isvc.spec.inferenceCacheRef;
  if (ref !== undefined) {
    const cache = caches.find((c) => c.metadata.name === ref);
    if (!cache) return { problem: { reason: 'InferenceCacheNotFound', message: `InferenceCache ${ref} not found: the route has no cache weights` } };
    if (cache.spec.modelName !== isvc.spec.modelName) {
      return { problem: { reason: 'InferenceCacheModelMismatch', message: `InferenceCache ${ref} is for model ${cache.spec.modelName}, not ${isvc.spec.modelName}: not applied` } };
    }
    return { cache };
  }
  const cache = [...caches].filter((c) => c.spec.modelName === isvc.spec.modelName).sort(olderFirst)[0];
  return cache ? { cache } : {};
}

/** The store of the semantic cache named by storeRef. */
export function semanticStore(storeRef: string, namespace: string, services: readonly KubeObject[]): { store?: NonNullable<RouteCache['store']>; problem?: Problem } {
  if (storeRef === 'memory') return { store: { type: 'memory' } };
  const service = services.find((s) => s.metadata.name === storeRef);
  if (!service) return { problem: { reason: 'StoreNotFound', message: `Service ${storeRef} (the semantic cache's Redis) not found: the semantic cache is off` } };
  const spec = (service.spec ?? {}) as { type?: string; externalName?: string; ports?: { name?: string; port?: number }[] };
  const ports = spec.ports ?? [];
  const port = ports.find((p) => p.name === 'redis')?.port ?? ports.find((p) => p.port === 6379)?.port ?? ports[0]?.port ?? 6379;
  const host = spec.type === 'ExternalName' && spec.externalName ? spec.externalName : `${storeRef}.${namespace}.svc`;
  return { store: { type: 'redis', redis: { address: `${host}:${port}` } } };
}

export interface ServiceInputs {
  world: World;
  /** Services of the namespace (backendRef and storeRef may name one). */
  services: readonly KubeObject[];
  gateways: readonly InferenceGateway[];
  caches: readonly InferenceCache[];
}

/** What the controller will write, and why not where it will not. */
export interface ServicePlan {
  route?: ModelRoute;
  server?: ModelServer;
  backendNote?: string;
  gateway?: InferenceGateway;
  cache?: InferenceCache;
  tuning?: CacheTuning;
  scheduling?: SchedulingSpec;
  semantic: boolean;
  problems: Problem[];
  backendProblem?: Problem;
}

export function routeName(isvc: InferenceService): string {
  return isvc.metadata.name!;
}

export function planInferenceService(isvc: InferenceService, inputs: ServiceInputs): ServicePlan {
  const namespace = isvc.metadata.namespace ?? 'default';
  const problems: Problem[] = [];
  const backend = resolveBackend(isvc.spec.backendRef, inputs.world, inputs.services);
  const gateway = chooseGateway(isvc, inputs.gateways);
  const { cache, problem: cacheProblem } = chooseCache(isvc, inputs.caches);
  if (cacheProblem) problems.push(cacheProblem);
  const base = gateway ? gatewayScheduling(gateway.spec) : undefined;
  const tuning = cache ? cacheScheduling(base, cache.spec) : undefined;
  const scheduling = tuning?.scheduling ?? base;
  let routeCache: RouteCache | undefined;
  const semantic = isvc.spec.nlpFilters?.semanticCache;
  if (semantic) {
    const { store, problem } = semanticStore(semantic.storeRef, namespace, inputs.services);
    if (problem) problems.push(problem);
    else {
      routeCache = {
        semantic: { enabled: true, threshold: semantic.threshold ?? DEFAULT_SEMANTIC_THRESHOLD, ttl: `${semantic.ttlSeconds ?? DEFAULT_SEMANTIC_TTL_SECONDS}s` },
        store,
      };
    }
  }
  const plan: ServicePlan = { semantic: routeCache !== undefined, problems, ...(gateway ? { gateway } : {}), ...(cache ? { cache } : {}), ...(tuning ? { tuning } : {}), ...(scheduling ? { scheduling } : {}) };
  if (backend.kind === 'missing') return { ...plan, backendProblem: { reason: backend.reason, message: backend.message } };
  const route: ModelRoute = {
    apiVersion: apiVersionOf(modelRouteKind),
    kind: modelRouteKind.kind,
    metadata: { name: routeName(isvc), namespace, labels: { [MANAGED_BY_LABEL]: PRODUCTION_STACK_MANAGER, [INFERENCE_SERVICE_LABEL]: isvc.metadata.name! } },
    spec: {
      modelName: isvc.spec.modelName,
      rules: [{ name: 'default', targetModels: [{ modelServerName: backend.server.metadata.name!, weight: 100 }] }],
      ...(scheduling ? { scheduling } : {}),
      ...(routeCache ? { cache: routeCache } : {}),
    },
  };
  return { ...plan, route, server: backend.server, ...(backend.via ? { backendNote: backend.via } : {}) };
}

/** What was seen after writing. */
export interface ServiceObservation {
  /** The route as written (undefined when none). */
  route?: ModelRoute;
  /** Why writing it failed. */
  writeError?: string;
  /** Routes of the namespace (to find an older one for the same model name). */
  routes: readonly ModelRoute[];
}

/** The oldest other route for the same model name, older than ours (the gateway would use it first). */
export function shadowingRoute(route: ModelRoute, routes: readonly ModelRoute[]): ModelRoute | undefined {
  return [...routes].filter((r) => r.metadata.name !== route.metadata.name && r.spec?.modelName === route.spec.modelName && olderFirst(r, route) < 0).sort(olderFirst)[0];
}

export function computeInferenceServiceStatus(isvc: InferenceService, plan: ServicePlan, observed: ServiceObservation, now: string = nowTime()): InferenceServiceStatus {
  const generation = isvc.metadata.generation;
  const resolved: ConditionInput = plan.backendProblem
    ? { type: 'ResolvedRefs', status: 'False', ...plan.backendProblem }
    : plan.problems[0]
      ? { type: 'ResolvedRefs', status: 'False', reason: plan.problems[0].reason, message: plan.problems.map((p) => p.message).join('; ') }
      : { type: 'ResolvedRefs', status: 'True', reason: 'Resolved', message: plan.backendNote ?? `backend is ModelServer ${plan.server?.metadata.name}` };
  const route = observed.route;
  let programmed: ConditionInput;
  if (plan.backendProblem) programmed = { type: 'Programmed', status: 'False', reason: 'NoBackend', message: `no route for ${isvc.spec.modelName}: ${plan.backendProblem.message}` };
  else if (observed.writeError || !route) programmed = { type: 'Programmed', status: 'False', reason: 'WriteFailed', message: observed.writeError ?? 'the ModelRoute is not written yet' };
  else {
    const parts = [`ModelRoute ${route.metadata.name} routes ${isvc.spec.modelName} to ModelServer ${plan.server!.metadata.name}`];
    parts.push(plan.gateway ? `profile of InferenceGateway ${plan.gateway.metadata.name} (${describeScheduling(plan.scheduling)})` : `scheduling: ${describeScheduling(plan.scheduling)}`);
    if (plan.cache && plan.tuning) {
      parts.push(
        `InferenceCache ${plan.cache.metadata.name}: prefix affinity from a ${pct(plan.tuning.affinityFrom)} prefix match, load spread from ${pct(plan.tuning.spreadFrom)} KV usage`,
      );
    }
    if (plan.semantic) parts.push(`semantic cache on (${route.spec.cache?.store?.type ?? 'memory'} store)`);
    programmed = { type: 'Programmed', status: 'True', reason: 'RouteProgrammed', message: parts.join('; ') };
  }
  const readyBackends = plan.server?.status?.readyEndpoints ?? 0;
  const shadow = route ? shadowingRoute(route, observed.routes) : undefined;
  let ready: ConditionInput;
  if (programmed.status !== 'True') ready = { type: 'Ready', status: 'False', reason: 'NotProgrammed', message: programmed.message };
  else if (shadow) {
    ready = {
      type: 'Ready',
      status: 'False',
      reason: 'Shadowed',
      message: `ModelRoute ${shadow.metadata.name} is older and also routes ${isvc.spec.modelName}: the gateway matches it first, so this route is not used (give the InferenceService another modelName, or remove that route)`,
    };
  } else if (readyBackends === 0) ready = { type: 'Ready', status: 'False', reason: 'NoReadyBackends', message: `ModelServer ${plan.server!.metadata.name} has no ready engine pod` };
  else ready = { type: 'Ready', status: 'True', reason: 'Serving', message: `${readyBackends} ready backend${readyBackends === 1 ? '' : 's'} through ModelServer ${plan.server!.metadata.name}` };
  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions: setConditions(isvc.status?.conditions, [resolved, programmed, ready], now, generation),
    ...(route ? { modelRoute: route.metadata.name! } : {}),
    ...(plan.server ? { modelServer: plan.server.metadata.name!, readyBackends } : {}),
    ...(plan.server?.status?.serviceEndpoint ? { endpoint: plan.server.status.serviceEndpoint } : {}),
    ...(plan.gateway && route ? { inferenceGateway: plan.gateway.metadata.name! } : {}),
    ...(plan.cache && route ? { inferenceCache: plan.cache.metadata.name! } : {}),
  };
}

function pct(fraction: number): string {
  return `${Math.round(fraction * 100)} %`;
}
