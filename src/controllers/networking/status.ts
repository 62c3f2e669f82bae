// Status of ModelServers and ModelRoutes, pure.
//
// ModelServer: `readyEndpoints` = ready, non-terminating pods with a podIP of the referenced ModelInfer;
// phase Failed when that ModelInfer does not exist, Ready with at least one ready endpoint, Pending otherwise.
// `serviceEndpoint` is the in-cluster address of the ModelServer's Service (created by this controller, named
// after the ModelServer, leading to the gateway: service.ts): `http[s]://<name>.<namespace>.svc:<service.port>
// <routing.path>`, https when `tls.enabled` (the gateway's TLS port is behind it). The ServiceSynced condition
// says how many gateway endpoints the Service has: with none, the Service answers nothing. The PathConflict
// condition is True, naming the other ModelServer, when an older one (creationTimestamp, then namespace/name) sets
// the same `routing.path`: the gateway serves that path for the oldest only, so this one's seed paths are not routed.
//
// ModelRoute: phase Ready when every target ModelServer exists, Pending while some are missing (they may be
// created later; the Ready condition names them), Failed when every target ModelServer exists but all are
// Failed (nothing the route points at can ever serve until they change).
import type { KubeObject } from '../../api/admission.ts';
import { MODELINFER_NAME_LABEL } from '../../api/labels.ts';
import { olderFirst, routingPath, type ModelServer, type ModelServerStatus, type ModelRoute, type ModelInfer } from '../../api/kinds/index.ts';
import { isDeleting, isPodReady, nowTime, setConditions, type ConditionInput } from '../../kube/objects.ts';

export function modelInferNamespace(ms: ModelServer): string {
  return ms.spec.modelInferRef.namespace || ms.metadata.namespace || 'default';
}

export function serviceEndpoint(ms: ModelServer): string {
  return `${ms.spec.tls?.enabled ? 'https' : 'http'}://${ms.metadata.name}.${ms.metadata.namespace ?? 'default'}.svc:${ms.spec.service.port}${ms.spec.routing?.path ?? ''}`;
}

/** Pods that can take traffic for this ModelServer. */
export function readyEndpoints(ms: ModelServer, pods: readonly KubeObject[]): KubeObject[] {
  const name = ms.spec.modelInferRef.name;
  const namespace = modelInferNamespace(ms);
  return pods.filter(
    (pod) =>
      pod.metadata.namespace === namespace &&
      pod.metadata.labels?.[MODELINFER_NAME_LABEL] === name &&
      !isDeleting(pod) &&
      isPodReady(pod) &&
      !!(pod.status as { podIP?: string } | undefined)?.podIP,
  );
}

/** The ModelServer that owns `ms`'s routing.path when that is not `ms`: the oldest of those setting the same path. */
export function pathOwner(ms: ModelServer, servers: readonly ModelServer[]): ModelServer | undefined {
  const path = routingPath(ms.spec);
  if (path === undefined) return undefined;
  const owner = servers.filter((other) => routingPath(other.spec) === path && !isDeleting(other)).sort(olderFirst)[0];
  return owner && objectKeyOf(owner) !== objectKeyOf(ms) && olderFirst(owner, ms) < 0 ? owner : undefined;
}

const objectKeyOf = (o: KubeObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;

export interface ModelServerObservation {
  modelInfer: ModelInfer | undefined;
  pods: readonly KubeObject[];
  /** Error creating or updating the Service or its EndpointSlice, if any. */
  serviceError?: string;
  /** Gateway addresses in the Service's EndpointSlice (undefined: not known, e.g. in tests of phases). */
  gatewayEndpoints?: number;
  /** The older ModelServer that owns this one's routing.path (pathOwner), if any. */
  pathOwner?: ModelServer;
}

export function computeModelServerStatus(ms: ModelServer, observed: ModelServerObservation, now: string = nowTime()): ModelServerStatus {
  const generation = ms.metadata.generation;
  const endpoints = observed.modelInfer ? readyEndpoints(ms, observed.pods).length : 0;
  const ref = `${modelInferNamespace(ms)}/${ms.spec.modelInferRef.name}`;
  let phase: 'Pending' | 'Ready' | 'Failed';
  let ready: ConditionInput;
  if (!observed.modelInfer) {
    phase = 'Failed';
    ready = { type: 'Ready', status: 'False', reason: 'ModelInferNotFound', message: `ModelInfer ${ref} does not exist` };
  } else if (endpoints > 0) {
    phase = 'Ready';
    ready = { type: 'Ready', status: 'True', reason: 'EndpointsReady', message: `${endpoints} ready endpoint${endpoints === 1 ? '' : 's'}` };
  } else {
    phase = 'Pending';
    ready = { type: 'Ready', status: 'False', reason: 'NoReadyEndpoints', message: `no ready pod of ModelInfer ${ref}` };
  }
  const service: ConditionInput = observed.serviceError
    ? { type: 'ServiceSynced', status: 'False', reason: 'ServiceSyncFailed', message: observed.serviceError }
    : {
        type: 'ServiceSynced',
        status: 'True',
        reason: 'Synced',
        message: `Service ${ms.metadata.name}${observed.gatewayEndpoints === undefined ? '' : ` → ${observed.gatewayEndpoints} gateway endpoint${observed.gatewayEndpoints === 1 ? '' : 's'}`}`,
      };
  const path = routingPath(ms.spec);
  const owner = observed.pathOwner;
  const conflict: ConditionInput = owner
    ? {
        type: 'PathConflict',
        status: 'True',
        reason: 'PathInUse',
        message: `routing.path ${path} is already used by the older ModelServer ${owner.metadata.namespace ?? 'default'}/${owner.metadata.name}: the gateway does not route it to this one`,
      }
    : { type: 'PathConflict', status: 'False', reason: 'NoConflict', message: path === undefined ? 'no routing.path' : `routing.path ${path} is routed to this ModelServer` };
  const conditions = setConditions(ms.status?.conditions, [ready, service, conflict], now, generation);
  return {
    phase,
    serviceEndpoint: serviceEndpoint(ms),
    readyEndpoints: endpoints,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions,
  };
}

export function routeTargets(route: ModelRoute): string[] {
  return [...new Set((route.spec.rules ?? []).flatMap((rule) => (rule.targetModels ?? []).map((t) => t.modelServerName)))];
}

export function computeModelRouteStatus(
  route: ModelRoute,
  servers: ReadonlyMap<string, ModelServer>,
  now: string = nowTime(),
): NonNullable<ModelRoute['status']> {
  const generation = route.metadata.generation;
  const targets = routeTargets(route);
  const missing = targets.filter((name) => !servers.has(name));
  const failed = targets.filter((name) => servers.get(name)?.status?.phase === 'Failed');
  let phase: 'Pending' | 'Ready' | 'Failed';
  let ready: ConditionInput;
  if (missing.length > 0) {
    phase = 'Pending';
    ready = {
      type: 'Ready',
      status: 'False',
      reason: 'ModelServerNotFound',
      message: `ModelServer${missing.length === 1 ? '' : 's'} not found: ${missing.join(', ')}`,
    };
  } else if (targets.length > 0 && failed.length === targets.length) {
    phase = 'Failed';
    ready = { type: 'Ready', status: 'False', reason: 'ModelServersFailed', message: `every target ModelServer is Failed: ${failed.join(', ')}` };
  } else {
    phase = 'Ready';
    ready = { type: 'Ready', status: 'True', reason: 'TargetsResolved', message: `${targets.length} target ModelServer${targets.length === 1 ? '' : 's'} found` };
  }
  return {
    phase,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions: setConditions(route.status?.conditions, [ready], now, generation),
  };
}
