// StaticRoute → ConfigMap `configMapName` (default `<name>-config`, owned) holding `static_config.json` in the
// production-stack router's dynamic-config format (src/vllm_router/dynamic_config.py: the router builds its config
// from the file's keys and refuses unknown ones, so only these are written):
//   {"service_discovery": "static", "routing_logic": …, "static_backends": "url,url", "static_models": "m,m"
//    [, "session_key": …]}
// and the backends' health, pure. A backend turns healthy after `successThreshold` consecutive good probes and
// unhealthy after `failureThreshold` consecutive bad ones (it starts unhealthy, as a pod starts unready); a probe is
// good when `GET <url>/health` or else `GET <url>/v1/models` answers 2xx within `timeoutSeconds` (prober.ts).
// Status: configMapRef, lastAppliedTime (when the ConfigMap's content last changed), backends[], and conditions
// Programmed (the ConfigMap is written), BackendsHealthy, ResolvedRefs (routerRef, when given) and Ready (written and
// at least one backend healthy).
import type { KubeObject } from '../../api/admission.ts';
import {
  HEALTH_CHECK_DEFAULTS,
  staticEntries,
  type BackendStatus,
  type StaticRoute,
  type StaticRouteSpec,
  type StaticRouteStatus,
} from '../../api/kinds/index.ts';
import { MANAGED_BY_LABEL } from '../../api/labels.ts';
import { nowTime, setConditions, type ConditionInput } from '../../kube/objects.ts';
import { PRODUCTION_STACK_MANAGER } from './inference-service.ts';

export const STATIC_CONFIG_KEY = 'static_config.json';
/** On a StaticRoute's ConfigMap: the StaticRoute. */
export const STATIC_ROUTE_LABEL = 'production-stack.vllm.ai/static-route';

export function configMapName(route: StaticRoute): string {
  return route.spec.configMapName ?? `${route.metadata.name}-config`;
}

/** static_config.json, as the router reads it. */
export function staticConfig(spec: StaticRouteSpec): string {
  const entries = staticEntries(spec);
  const config: Record<string, string> = {
    service_discovery: spec.serviceDiscovery ?? 'static',
    routing_logic: spec.routingLogic ?? 'roundrobin',
    static_backends: entries.map((e) => e.url).join(','),
    static_models: entries.map((e) => e.model).join(','),
  };
  if (spec.sessionKey !== undefined) config.session_key = spec.sessionKey;
  return JSON.stringify(config, null, 2) + '\n';
}

export function desiredConfigMap(route: StaticRoute): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: configMapName(route),
      namespace: route.metadata.namespace ?? 'default',
      labels: { [MANAGED_BY_LABEL]: PRODUCTION_STACK_MANAGER, [STATIC_ROUTE_LABEL]: route.metadata.name! },
    },
    data: { [STATIC_CONFIG_KEY]: staticConfig(route.spec) },
  };
}

export type HealthCheck = Required<NonNullable<StaticRouteSpec['healthCheck']>>;

export function healthCheckOf(spec: StaticRouteSpec): HealthCheck {
  return { ...HEALTH_CHECK_DEFAULTS, ...(spec.healthCheck ?? {}) };
}

/** One backend's probe history. */
export interface BackendHealth {
  healthy: boolean;
  successes: number;
  failures: number;
  lastChecked: string;
  message: string;
}

/** The health after one probe. */
export function nextHealth(previous: BackendHealth | undefined, ok: boolean, message: string, check: HealthCheck, now: string): BackendHealth {
  const successes = ok ? (previous?.successes ?? 0) + 1 : 0;
  const failures = ok ? 0 : (previous?.failures ?? 0) + 1;
  let healthy = previous?.healthy ?? false;
  if (ok && successes >= check.successThreshold) healthy = true;
  if (!ok && failures >= check.failureThreshold) healthy = false;
  return { healthy, successes, failures, lastChecked: now, message };
}

export interface StaticRouteObservation {
  /** Why writing the ConfigMap failed. */
  writeError?: string;
  /** The ConfigMap's content changed in this reconcile (created or updated). */
  applied: boolean;
  /** Probe results by backend URL (none before the first round). */
  health: ReadonlyMap<string, BackendHealth>;
  /** The routerRef Service exists (undefined: no routerRef). */
  routerFound?: boolean;
}

export function computeStaticRouteStatus(route: StaticRoute, observed: StaticRouteObservation, now: string = nowTime()): StaticRouteStatus {
  const generation = route.metadata.generation;
  const entries = staticEntries(route.spec);
  const name = configMapName(route);
  const programmed: ConditionInput = observed.writeError
    ? { type: 'Programmed', status: 'False', reason: 'WriteFailed', message: observed.writeError }
    : {
        type: 'Programmed',
        status: 'True',
        reason: 'ConfigMapWritten',
        message: `ConfigMap ${name} holds ${STATIC_CONFIG_KEY}: ${entries.length} backend${entries.length === 1 ? '' : 's'}, routing ${route.spec.routingLogic ?? 'roundrobin'}`,
      };
  const backends: BackendStatus[] = entries.map(({ url, model }) => {
    const h = observed.health.get(url);
    return h
      ? { url, model, healthy: h.healthy, lastChecked: h.lastChecked, consecutiveFailures: h.failures, message: h.message }
      : { url, model, healthy: false, message: 'not probed yet' };
  });
  const probed = backends.filter((b) => b.lastChecked !== undefined);
  const healthy = backends.filter((b) => b.healthy);
  let health: ConditionInput;
  if (probed.length === 0) health = { type: 'BackendsHealthy', status: 'Unknown', reason: 'NotProbed', message: 'no probe has finished yet' };
  else if (healthy.length === backends.length) health = { type: 'BackendsHealthy', status: 'True', reason: 'AllHealthy', message: `${healthy.length} backend${healthy.length === 1 ? '' : 's'} healthy` };
  else {
    const bad = backends.filter((b) => !b.healthy);
    health = {
      type: 'BackendsHealthy',
      status: 'False',
      reason: healthy.length === 0 ? 'NoHealthyBackend' : 'SomeUnhealthy',
      message: `${bad.length} of ${backends.length} unhealthy: ${bad.map((b) => `${b.url} (${b.message})`).join('; ')}`,
    };
  }
  const conditions: ConditionInput[] = [programmed, health];
  const ref = route.spec.routerRef;
  if (ref) {
    conditions.push(
      observed.routerFound
        ? { type: 'ResolvedRefs', status: 'True', reason: 'RouterFound', message: `Service ${ref.name} found; it reads the ConfigMap when it mounts it and runs with --dynamic-config-json` }
        : { type: 'ResolvedRefs', status: 'False', reason: 'RouterNotFound', message: `Service ${ref.namespace ?? route.metadata.namespace ?? 'default'}/${ref.name} not found` },
    );
  }
  conditions.push(
    programmed.status !== 'True'
      ? { type: 'Ready', status: 'False', reason: 'NotProgrammed', message: programmed.message }
      : healthy.length === 0
        ? { type: 'Ready', status: 'False', reason: 'NoHealthyBackend', message: health.message }
        : { type: 'Ready', status: 'True', reason: 'Ready', message: `${healthy.length} of ${backends.length} backends healthy` },
  );
  const lastAppliedTime = observed.applied && !observed.writeError ? now : route.status?.lastAppliedTime;
  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions: setConditions(route.status?.conditions, conditions, now, generation),
    ...(observed.writeError ? {} : { configMapRef: name }),
    ...(lastAppliedTime ? { lastAppliedTime } : {}),
    healthyBackends: healthy.length,
    backends,
  };
}
