// The production-stack.vllm.ai controllers (seed 004), thin loops around the pure functions of this folder: each reads
// its object and what it names from the shared informers, writes what it owns, and patches its status. Permanent
// errors (a 4xx other than a conflict, a child someone else owns) go to the status and are retried slowly; others are
// thrown and retried with back-off. Events are emitted for writes and when a condition changes, not per reconcile.
//
//   InferenceService               → its ModelRoute (owned)
//   InferenceGateway, InferenceCache → status only (their effect is on the InferenceServices' routes)
//   SpeculativeDecoding, PrefillDecodingDisaggregation → status only (the Model controller applies them: amender.ts)
//   StaticRoute                    → its ConfigMap (owned), backend probes (prober.ts)
import type { KubeObject } from '../../api/admission.ts';
import type { Condition } from '../../api/schema-kit.ts';
import { MANAGED_BY_LABEL, MODELINFER_NAME_LABEL, WARM_LABEL } from '../../api/labels.ts';
import {
  PRODUCTION_STACK_GROUP,
  type InferenceCache,
  type InferenceGateway,
  type InferenceService,
  type ModelRoute,
  type PrefillDecodingDisaggregation,
  type SpeculativeDecoding,
  type StaticRoute,
  staticEntries,
} from '../../api/kinds/index.ts';
import { ensureChild, OwnershipConflictError, patchStatus } from '../../kube/apply.ts';
import { isPermanent, type KubeClient } from '../../kube/client.ts';
import { Controller, toController, type KeyMapper, type ReconcileResult, type Reconciler } from '../../kube/controller.ts';
import type { EventRecorder } from '../../kube/events.ts';
import type { InformerFactory, SharedInformer } from '../../kube/informer.ts';
import { errorMessage, type Logger } from '../../kube/log.ts';
import { isControlledBy, isDeleting, isPodReady, objectKey, splitKey } from '../../kube/objects.ts';
import { MODELINFER_PODS } from '../modelinfer/controller.ts';
import {
  CONFIG_MAPS,
  STATIC_ROUTES,
  PODS,
  INFERENCE_CACHES,
  INFERENCE_GATEWAYS,
  INFERENCE_SERVICES,
  PD_DISAGGREGATIONS,
  SPECULATIVE_DECODINGS,
  MODEL_ROUTES,
} from '../resources.ts';
import { conditionChanged, conditionOf } from './conditions.ts';
import { computeInferenceCacheStatus } from './inference-cache.ts';
import { computeInferenceGatewayStatus } from './inference-gateway.ts';
import { PRODUCTION_STACK_MANAGER, computeInferenceServiceStatus, planInferenceService, routeName } from './inference-service.ts';
import { sharedInformers, worldOf } from './informers.ts';
import { claimWorkloads, workloadsServing } from './resolve.ts';
import { CacheStatsCollector, type Scrape } from './cache-stats.ts';
import { computeDisaggregationStatus, computeSpeculativeStatus } from './workload-status.ts';
import { BackendProber, type Probe } from './prober.ts';
import type { ProductionStackMetrics } from './metrics.ts';
import { computeStaticRouteStatus, configMapName, desiredConfigMap, healthCheckOf } from './static-route.ts';

export interface ProductionStackDeps {
  client: KubeClient;
  informers: InformerFactory;
  recorder: EventRecorder;
  logger?: Logger;
  workers?: number;
  /** Reconciles and statuses as Prometheus series (metrics.ts). */
  metrics?: ProductionStackMetrics;
}

/** The reconcile, counted by result. */
function instrumented(controller: string, deps: ProductionStackDeps, reconcile: Reconciler): Reconciler {
  const metrics = deps.metrics;
  if (!metrics) return reconcile;
  return async (key) => {
    try {
      const result = await reconcile(key);
      metrics.reconciled(controller, true);
      return result;
    } catch (err) {
      metrics.reconciled(controller, false);
      throw err;
    }
  };
}

/** The object is gone (or going): its series go too. */
function gone(deps: ProductionStackDeps, kind: string, namespace: string, name: string): void {
  deps.metrics?.forget(kind, namespace, name);
}

/** How long to wait before retrying after a permanent error (nothing else would wake us). */
const PERMANENT_ERROR_RETRY_MS = 30_000;

/** Map an event to the keys of the primary objects in its namespace that `concerns` says it touches. */
export function inNamespace<P extends KubeObject, T extends KubeObject>(primary: SharedInformer<P>, concerns: (candidate: P, object: T) => boolean): KeyMapper<T> {
  return (object) => primary.list(object.metadata.namespace ?? 'default').filter((candidate) => concerns(candidate, object)).map((candidate) => objectKey(candidate));
}

const isPermanentWrite = (err: unknown) => err instanceof OwnershipConflictError || isPermanent(err);

/** Events for the conditions of `types` that changed: Normal when True, Warning otherwise. */
function conditionEvents(recorder: EventRecorder, object: KubeObject, previous: { conditions?: Condition[] } | undefined, next: { conditions?: Condition[] }, types: string[]): void {
  const before = previous?.conditions;
  const after = next.conditions;
  for (const type of types) {
    if (!conditionChanged(before, after, type)) continue;
    const condition = conditionOf(after, type);
    if (!condition?.reason) continue;
    recorder.event(object, condition.status === 'True' ? 'Normal' : 'Warning', condition.reason, condition.message || `${type} ${condition.status}`);
  }
}

export function createInferenceServiceController(deps: ProductionStackDeps): Controller {
  const { client, informers, recorder } = deps;
  const shared = sharedInformers(informers);
  const isvcs = informers.informer<InferenceService>(INFERENCE_SERVICES);
  const gateways = informers.informer<InferenceGateway>(INFERENCE_GATEWAYS);
  const caches = informers.informer<InferenceCache>(INFERENCE_CACHES);

  async function reconcile(key: string): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    const isvc = isvcs.get(namespace, name);
    if (!isvc || isDeleting(isvc)) return gone(deps, 'InferenceService', namespace, name);
    const plan = planInferenceService(isvc, { world: worldOf(shared, namespace), services: shared.services.list(namespace), gateways: gateways.list(namespace), caches: caches.list(namespace) });
    const existing = shared.routes.get(namespace, routeName(isvc));
    let route: ModelRoute | undefined;
    let writeError: string | undefined;
    if (plan.route) {
      try {
        const result = await ensureChild(client, MODEL_ROUTES, plan.route, { owner: isvc, existing });
        route = result.object;
        if (result.action !== 'unchanged') {
          recorder.event(isvc, 'Normal', result.action === 'created' ? 'RouteCreated' : 'RouteUpdated', `${result.action === 'created' ? 'Created' : 'Updated'} ModelRoute ${route.metadata.name} for ${isvc.spec.modelName}`);
        }
      } catch (err) {
        if (!isPermanentWrite(err)) throw err;
        writeError = `ModelRoute ${plan.route.metadata.name}: ${errorMessage(err)}`;
      }
    } else if (existing && isControlledBy(existing, isvc.metadata.uid)) {
      // Nothing to route to: a route left behind would answer for the model with a backend that is gone.
      await client.delete(MODEL_ROUTES, namespace, existing.metadata.name!, { uid: existing.metadata.uid! });
      recorder.event(isvc, 'Warning', 'RouteRemoved', `Removed ModelRoute ${existing.metadata.name}: ${plan.backendProblem?.message}`);
    }
    const status = computeInferenceServiceStatus(isvc, plan, { ...(route ? { route } : {}), ...(writeError ? { writeError } : {}), routes: shared.routes.list(namespace) });
    await patchStatus(client, INFERENCE_SERVICES, isvc, status as Record<string, unknown>);
    deps.metrics?.observe('InferenceService', namespace, name, status as Record<string, unknown>);
    conditionEvents(recorder, isvc, isvc.status, status, ['ResolvedRefs', 'Ready']);
    if (writeError) return { requeueAfterMs: PERMANENT_ERROR_RETRY_MS };
  }

  const controller = new Controller({ name: 'inferenceservice', reconcile: instrumented('inferenceservice', deps, reconcile), workers: deps.workers, logger: deps.logger });
  controller.watchPrimary(isvcs);
  controller.watch(shared.routes, toController('InferenceService', PRODUCTION_STACK_GROUP));
  // An older route for the same model name shadows ours.
  controller.watch(shared.routes, inNamespace(isvcs, (isvc, r: ModelRoute) => r.spec?.modelName === isvc.spec.modelName));
  // Backends: ModelServers (and their ready endpoints), Services and ModelInfers (a Service selecting a ModelInfer's pods).
  controller.watch(shared.servers, inNamespace(isvcs, () => true));
  controller.watch(shared.modelInfers, inNamespace(isvcs, () => true));
  controller.watch(shared.services, inNamespace(isvcs, (isvc, s: KubeObject) => s.metadata.name === isvc.spec.backendRef || s.metadata.name === isvc.spec.nlpFilters?.semanticCache?.storeRef));
  controller.watch(gateways, inNamespace(isvcs, (isvc, g: InferenceGateway) => isvc.status?.inferenceGateway === g.metadata.name || (g.spec.routes ?? []).some((r) => r.inferenceServiceRef === isvc.metadata.name)));
  controller.watch(
    caches,
    inNamespace(isvcs, (isvc, c: InferenceCache) => isvc.status?.inferenceCache === c.metadata.name || isvc.spec.inferenceCacheRef === c.metadata.name || isvc.spec.modelName === c.spec.modelName),
  );
  return controller;
}


/** InferenceGateway: status only, read back from the InferenceServices it lists. */
export function createInferenceGatewayController(deps: ProductionStackDeps): Controller {
  const { client, informers, recorder } = deps;
  const gateways = informers.informer<InferenceGateway>(INFERENCE_GATEWAYS);
  const isvcs = informers.informer<InferenceService>(INFERENCE_SERVICES);

  async function reconcile(key: string): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    const gateway = gateways.get(namespace, name);
    if (!gateway || isDeleting(gateway)) return gone(deps, 'InferenceGateway', namespace, name);
    const status = computeInferenceGatewayStatus(gateway, isvcs.list(namespace), gateways.list(namespace));
    await patchStatus(client, INFERENCE_GATEWAYS, gateway, status as Record<string, unknown>);
    deps.metrics?.observe('InferenceGateway', namespace, name, status as Record<string, unknown>);
    conditionEvents(recorder, gateway, gateway.status, status, ['Accepted', 'Programmed']);
  }

  const controller = new Controller({ name: 'inferencegateway', reconcile: instrumented('inferencegateway', deps, reconcile), workers: deps.workers, logger: deps.logger });
  controller.watchPrimary(gateways);
  controller.watch(isvcs, inNamespace(gateways, (g, isvc: InferenceService) => (g.spec.routes ?? []).some((r) => r.inferenceServiceRef === isvc.metadata.name)));
  // Another gateway listing the same InferenceService may hold it.
  controller.watch(gateways, inNamespace(gateways, (g, other: InferenceGateway) => g !== other && (g.spec.routes ?? []).some((r) => (other.spec.routes ?? []).some((o) => o.inferenceServiceRef === r.inferenceServiceRef))));
  return controller;
}

/**
 * InferenceCache: status only, read back from the InferenceServices applying it and the objects it names, with the
 * engines' cache figures (cache-stats.ts; `cacheStatsPeriodMs` shortens the period for tests).
 */
export function createInferenceCacheController(deps: ProductionStackDeps & { cacheStatsPeriodMs?: number; scrape?: Scrape }): Controller {
  const { client, informers, recorder } = deps;
  const shared = sharedInformers(informers);
  const caches = informers.informer<InferenceCache>(INFERENCE_CACHES);
  const isvcs = informers.informer<InferenceService>(INFERENCE_SERVICES);
  const pdds = informers.informer<PrefillDecodingDisaggregation>(PD_DISAGGREGATIONS);
  const sds = informers.informer<SpeculativeDecoding>(SPECULATIVE_DECODINGS);
  const pods = informers.informer(PODS, MODELINFER_PODS);

  /** The ready, served engine pods of the ModelInfers the cache's model resolves to, now. */
  function enginePods(namespace: string, name: string): KubeObject[] {
    const cache = caches.get(namespace, name);
    if (!cache) return [];
    const workloads = new Set(workloadsServing(cache.spec.modelName, worldOf(shared, namespace)).map((w) => w.modelInfer));
    return pods.list(namespace).filter((p) => workloads.has(p.metadata.labels?.[MODELINFER_NAME_LABEL] ?? '') && p.metadata.labels?.[WARM_LABEL] !== 'true' && !isDeleting(p) && isPodReady(p));
  }

  async function reconcile(key: string): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    const cache = caches.get(namespace, name);
    if (!cache || isDeleting(cache)) {
      gone(deps, 'InferenceCache', namespace, name);
      controller.collector?.forget(key);
      return;
    }
    controller.collector?.ensure(key, () => enginePods(namespace, name));
    const stats = controller.collector?.results(key);
    const status = computeInferenceCacheStatus(cache, { isvcs: isvcs.list(namespace), routes: shared.routes.list(namespace), pdds: pdds.list(namespace), sds: sds.list(namespace), ...(stats ? { stats } : {}) });
    await patchStatus(client, INFERENCE_CACHES, cache, status as Record<string, unknown>);
    deps.metrics?.observe('InferenceCache', namespace, name, status as Record<string, unknown>);
    conditionEvents(recorder, cache, cache.status, status, ['ResolvedRefs', 'Programmed']);
  }

  const controller = new CollectingController<CacheStatsCollector>({ name: 'inferencecache', reconcile: instrumented('inferencecache', deps, reconcile), workers: deps.workers, logger: deps.logger });
  controller.collector = new CacheStatsCollector((key) => controller.enqueue(key), {
    ...(deps.cacheStatsPeriodMs !== undefined ? { periodMs: deps.cacheStatsPeriodMs } : {}),
    ...(deps.scrape ? { scrape: deps.scrape } : {}),
  });
  controller.watchPrimary(caches);
  controller.watch(isvcs, inNamespace(caches, (c, isvc: InferenceService) => isvc.status?.inferenceCache === c.metadata.name || isvc.spec.modelName === c.spec.modelName || isvc.spec.inferenceCacheRef === c.metadata.name));
  controller.watch(shared.routes, inNamespace(caches, (c, r: ModelRoute) => r.spec?.modelName === c.spec.modelName));
  controller.watch(pdds, inNamespace(caches, (c, p: PrefillDecodingDisaggregation) => c.spec.pddRef === p.metadata.name));
  controller.watch(sds, inNamespace(caches, (c, sd: SpeculativeDecoding) => c.spec.sdRef === sd.metadata.name));
  return controller;
}

/** Models and ModelInfers of a namespace change which workloads these objects hold: every object there is concerned. */
function watchWorkloads<T extends KubeObject>(controller: Controller, primary: SharedInformer<T>, informers: ReturnType<typeof sharedInformers>): void {
  const all = inNamespace(primary, () => true);
  controller.watch(informers.models, all);
  controller.watch(informers.modelInfers, all);
  controller.watch(informers.servers, all);
  controller.watch(informers.routes, all);
}

/** SpeculativeDecoding: status only; the Model controller applies it (amender.ts). */
export function createSpeculativeDecodingController(deps: ProductionStackDeps): Controller {
  const { client, informers, recorder } = deps;
  const shared = sharedInformers(informers);
  const sds = informers.informer<SpeculativeDecoding>(SPECULATIVE_DECODINGS);

  async function reconcile(key: string): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    const sd = sds.get(namespace, name);
    if (!sd || isDeleting(sd)) return gone(deps, 'SpeculativeDecoding', namespace, name);
    const world = worldOf(shared, namespace);
    const claims = claimWorkloads(sds.list(namespace), (o) => o.spec.targetModel, world);
    const status = computeSpeculativeStatus(sd, { claims, models: world.models, modelInfers: world.modelInfers });
    await patchStatus(client, SPECULATIVE_DECODINGS, sd, status as Record<string, unknown>);
    deps.metrics?.observe('SpeculativeDecoding', namespace, name, status as Record<string, unknown>);
    conditionEvents(recorder, sd, sd.status, status, ['ResolvedRefs', 'Applied', 'Ready']);
  }

  const controller = new Controller({ name: 'speculativedecoding', reconcile: instrumented('speculativedecoding', deps, reconcile), workers: deps.workers, logger: deps.logger });
  controller.watchPrimary(sds);
  // Another object for the same model may hold the workload, or let it go.
  controller.watch(sds, inNamespace(sds, (a, b: SpeculativeDecoding) => a !== b && a.spec.targetModel === b.spec.targetModel));
  watchWorkloads(controller, sds, shared);
  return controller;
}

/** PrefillDecodingDisaggregation: status only (roles' ready pods); the Model controller applies it (amender.ts). */
export function createDisaggregationController(deps: ProductionStackDeps): Controller {
  const { client, informers, recorder } = deps;
  const shared = sharedInformers(informers);
  const pdds = informers.informer<PrefillDecodingDisaggregation>(PD_DISAGGREGATIONS);
  const pods = informers.informer(PODS, MODELINFER_PODS);

  async function reconcile(key: string): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    const pdd = pdds.get(namespace, name);
    if (!pdd || isDeleting(pdd)) return gone(deps, 'PrefillDecodingDisaggregation', namespace, name);
    const world = worldOf(shared, namespace);
    const claims = claimWorkloads(pdds.list(namespace), (o) => o.spec.modelName, world);
    const namespacePods = pods.list(namespace);
    const status = computeDisaggregationStatus(pdd, {
      claims,
      models: world.models,
      modelInfers: world.modelInfers,
      servers: world.servers,
      podsOf: (mi) => namespacePods.filter((p) => p.metadata.labels?.[MODELINFER_NAME_LABEL] === mi),
    });
    await patchStatus(client, PD_DISAGGREGATIONS, pdd, status as Record<string, unknown>);
    deps.metrics?.observe('PrefillDecodingDisaggregation', namespace, name, status as Record<string, unknown>);
    conditionEvents(recorder, pdd, pdd.status, status, ['ResolvedRefs', 'Applied', 'Ready']);
  }

  const controller = new Controller({ name: 'prefilldecodingdisaggregation', reconcile: instrumented('prefilldecodingdisaggregation', deps, reconcile), workers: deps.workers, logger: deps.logger });
  controller.watchPrimary(pdds);
  controller.watch(pdds, inNamespace(pdds, (a, b: PrefillDecodingDisaggregation) => a !== b && a.spec.modelName === b.spec.modelName));
  controller.watch(pods, inNamespace(pdds, (pdd, pod: KubeObject) => (pdd.status?.modelInfer ?? '').split(',').includes(pod.metadata.labels?.[MODELINFER_NAME_LABEL] ?? '')));
  watchWorkloads(controller, pdds, shared);
  return controller;
}

/** A controller that also stops its periodic collector (backend probes, engine metrics). */
class CollectingController<C extends { stop(): void }> extends Controller {
  collector: C | undefined;
  override async stop(): Promise<void> {
    this.collector?.stop();
    await super.stop();
  }
}

/** StaticRoute: its ConfigMap (owned) and its backends' health (prober.ts); `probe` is replaceable for tests. */
export function createStaticRouteController(deps: ProductionStackDeps & { probe?: Probe }): Controller {
  const { client, informers, recorder } = deps;
  const shared = sharedInformers(informers);
  const routes = informers.informer<StaticRoute>(STATIC_ROUTES);
  const configMaps = informers.informer(CONFIG_MAPS, { labelSelector: `${MANAGED_BY_LABEL}=${PRODUCTION_STACK_MANAGER}` });

  async function reconcile(key: string): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    const route = routes.get(namespace, name);
    if (!route || isDeleting(route)) {
      gone(deps, 'StaticRoute', namespace, name);
      controller.collector?.forget(key);
      return;
    }
    controller.collector?.ensure(key, staticEntries(route.spec).map((e) => e.url), healthCheckOf(route.spec));
    let writeError: string | undefined;
    let applied = false;
    try {
      const result = await ensureChild(client, CONFIG_MAPS, desiredConfigMap(route), { owner: route, existing: configMaps.get(namespace, configMapName(route)) });
      applied = result.action !== 'unchanged';
      if (applied) recorder.event(route, 'Normal', result.action === 'created' ? 'ConfigMapCreated' : 'ConfigMapUpdated', `${result.action === 'created' ? 'Created' : 'Updated'} ConfigMap ${configMapName(route)}`);
    } catch (err) {
      if (!isPermanentWrite(err)) throw err;
      writeError = `ConfigMap ${configMapName(route)}: ${errorMessage(err)}`;
    }
    const ref = route.spec.routerRef;
    const routerFound = ref ? shared.services.get(ref.namespace ?? namespace, ref.name) !== undefined : undefined;
    const status = computeStaticRouteStatus(route, { ...(writeError ? { writeError } : {}), applied, health: controller.collector?.results(key) ?? new Map(), ...(routerFound !== undefined ? { routerFound } : {}) });
    await patchStatus(client, STATIC_ROUTES, route, status as Record<string, unknown>);
    deps.metrics?.observe('StaticRoute', namespace, name, status as Record<string, unknown>);
    conditionEvents(recorder, route, route.status, status, ['Programmed', 'BackendsHealthy', 'ResolvedRefs']);
    if (writeError) return { requeueAfterMs: PERMANENT_ERROR_RETRY_MS };
  }

  const controller = new CollectingController<BackendProber>({ name: 'staticroute', reconcile: instrumented('staticroute', deps, reconcile), workers: deps.workers, logger: deps.logger });
  controller.collector = new BackendProber((key) => controller.enqueue(key), deps.probe);
  controller.watchPrimary(routes);
  controller.watch(configMaps, toController('StaticRoute', PRODUCTION_STACK_GROUP));
  controller.watch(shared.services, inNamespace(routes, (r, s: KubeObject) => r.spec.routerRef?.name === s.metadata.name));
  return controller;
}
