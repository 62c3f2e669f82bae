// LoRA adapters as Models (spec.modelSpec.baseModelRef): the Model controller's reconcile of an adapter. An adapter
// runs no engine of its own. Its one child is a ModelRoute named after it that lists it in `loraAdapters` (so the
// gateway keeps the requested name instead of rewriting it to the base's) and targets the base's ModelServer; the
// LoRA loader (lora-loader.ts) loads it into the base's engine pods and records that on each pod
// (api/lora-adapters.ts), which is what readiness counts here.
//
// Rules (computeAdapterStatus, pure):
//  - DependenciesReady: False with BaseModelNotFound (no such Model, or it is being deleted), BaseIsAdapter (an
//    adapter of an adapter is refused), BaseModelNotReady (the base is not Ready yet); True when the base is Ready.
//  - Ready: True when at least one ready engine pod of the base has the adapter loaded; `readyReplicas` is that count,
//    `replicas` the base's ready engine pods.
//  - Phase Failed when retrying cannot help until a spec changes: a permanent child error, BaseIsAdapter, or a source
//    the loader cannot hand to an engine (UnsupportedAdapterSource: object stores are not fetched for adapters;
//    InvalidSource). Ready when loaded somewhere. Pending otherwise.
//  - Lifecycle: Deprecated with spec.deprecated, Validated once the base is Ready and the source usable, else Registered.
//    A deprecated adapter still serves; its route carries spec.deprecation (the gateway's Deprecation and Link headers),
//    as a served Model's does (desired.ts routeDeprecation), and it has the Deprecated condition (status.ts).
import { isAdapter, isServed, type AdapterModel, type Model, type ModelRoute, type ModelStatus } from '../../api/kinds/index.ts';
import { modelRouteKind } from '../../api/kinds/modelroute.ts';
import { apiVersionOf } from '../../api/kind.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, MODEL_NAME_LABEL, WARM_LABEL } from '../../api/labels.ts';
import { LORA_BASE_LABEL, loadedAdapters, type PodAdapterView } from '../../api/lora-adapters.ts';
import { engineModelPath } from '../../registry/contract.ts';
import { parseSource } from '../../registry/source.ts';
import type { KubeObject } from '../../api/admission.ts';
import { ensureChild, OwnershipConflictError } from '../../kube/apply.ts';
import { isPermanent, type KubeClient } from '../../kube/client.ts';
import type { Controller, ReconcileResult } from '../../kube/controller.ts';
import type { EventRecorder } from '../../kube/events.ts';
import type { SharedInformer } from '../../kube/informer.ts';
import { errorMessage } from '../../kube/log.ts';
import { isDeleting, isPodReady, objectKey, setConditions, nowTime, type ConditionInput } from '../../kube/objects.ts';
import { MODEL_ROUTES } from '../resources.ts';
import { routeDeprecation } from './desired.ts';
import { childrenFailed, deprecatedCondition, syncedCondition, type ChildError } from './status.ts';
import { reportStatus } from './report.ts';

/** What the engine is told to load (`lora_path`), or why the adapter cannot be loaded. */
export type AdapterArtifacts =
  | { ok: true; path: string }
  | { ok: false; reason: 'UnsupportedAdapterSource' | 'InvalidSource'; message: string };

/**
 * `lora_path` for the base's engines: a Hugging Face repo id as is (vLLM resolves Hub ids itself), a pvc:// or node
 * path where the engine sees it (registry/contract.ts). Object stores and https files would need a download into the
 * base's pods, which this change does not do: refused rather than handing the engine a path that does not exist.
 */
export function adapterArtifacts(adapter: Model): AdapterArtifacts {
  const uri = adapter.spec.modelSpec.source.uri;
  let source;
  try {
    source = parseSource(uri, adapter.spec.modelSpec.source.revision);
  } catch (err) {
    return { ok: false, reason: 'InvalidSource', message: `spec.modelSpec.source.uri: ${errorMessage(err)}` };
  }
  switch (source.store) {
    case 'huggingface':
      return { ok: true, path: source.repo };
    case 'pvc':
    case 'local':
      return { ok: true, path: engineModelPath(source) };
    default:
      return {
        ok: false,
        reason: 'UnsupportedAdapterSource',
        message: `spec.modelSpec.source.uri: ${source.store} sources are not fetched for LoRA adapters yet; use huggingface://, hf://, pvc:// or a node path`,
      };
  }
}

/** The adapter's ModelRoute: its name as a LoRA name (kept as requested) on the base's ModelServer. */
export function desiredAdapterRoute(adapter: AdapterModel): ModelRoute {
  const name = adapter.metadata.name!;
  const base = adapter.spec.modelSpec.baseModelRef.name;
  const deprecation = routeDeprecation(adapter);
  return {
    apiVersion: apiVersionOf(modelRouteKind),
    kind: modelRouteKind.kind,
    metadata: {
      name,
      namespace: adapter.metadata.namespace ?? 'default',
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [MODEL_NAME_LABEL]: name, [LORA_BASE_LABEL]: base },
    },
    spec: {
      loraAdapters: [name],
      // The base's ModelServer is named after the base Model (desired.ts).
      rules: [{ name: 'default', targetModels: [{ modelServerName: base, weight: 100 }] }],
      ...(deprecation ? { deprecation } : {}),
    },
  };
}

/** The base's engine pods as they concern one adapter. */
export interface BasePods {
  /** Ready engine pods of the base (warm-pool pods left out: they are not routed). */
  ready: number;
  /** Of those, the ones whose recorded adapters include this one (api/lora-adapters.ts). */
  loaded: number;
}

export interface AdapterObservation {
  /** The base Model, or undefined when it does not exist. */
  base: Model | undefined;
  pods: BasePods;
  childErrors: readonly ChildError[];
}

export function computeAdapterStatus(adapter: AdapterModel, observed: AdapterObservation, now: string = nowTime()): ModelStatus {
  const generation = adapter.metadata.generation;
  const baseName = adapter.spec.modelSpec.baseModelRef.name;
  const namespace = adapter.metadata.namespace ?? 'default';
  const base = observed.base && !isDeleting(observed.base) ? observed.base : undefined;
  const artifacts = adapterArtifacts(adapter);
  const permanent = observed.childErrors.filter((e) => e.permanent);
  const { ready: readyPods, loaded } = observed.pods;

  let dependencies: ConditionInput;
  if (!base) {
    dependencies = { type: 'DependenciesReady', status: 'False', reason: 'BaseModelNotFound', message: `base Model ${JSON.stringify(baseName)} not found in namespace ${namespace}` };
  } else if (isAdapter(base)) {
    dependencies = {
      type: 'DependenciesReady',
      status: 'False',
      reason: 'BaseIsAdapter',
      message: `base Model ${JSON.stringify(baseName)} is itself a LoRA adapter (of ${JSON.stringify(base.spec.modelSpec.baseModelRef!.name)}); the base must run engines`,
    };
  } else if (!isServed(base) || base.status?.phase !== 'Ready') {
    dependencies = { type: 'DependenciesReady', status: 'False', reason: 'BaseModelNotReady', message: `base Model ${JSON.stringify(baseName)} is ${base.status?.phase ?? 'Pending'}` };
  } else {
    dependencies = { type: 'DependenciesReady', status: 'True', reason: 'BaseModelReady', message: `base Model ${JSON.stringify(baseName)} is Ready` };
  }

  const synced = syncedCondition(observed.childErrors, 'ModelRoute is up to date');

  let phase: 'Pending' | 'Ready' | 'Failed';
  let ready: ConditionInput;
  if (permanent.length > 0) {
    phase = 'Failed';
    ready = childrenFailed(permanent);
  } else if (!artifacts.ok) {
    phase = 'Failed';
    ready = { type: 'Ready', status: 'False', reason: artifacts.reason, message: artifacts.message };
  } else if (dependencies.reason === 'BaseIsAdapter') {
    phase = 'Failed';
    ready = { type: 'Ready', status: 'False', reason: 'BaseIsAdapter', message: dependencies.message };
  } else if (dependencies.status === 'False') {
    phase = 'Pending';
    ready = { type: 'Ready', status: 'False', reason: 'DependenciesNotReady', message: dependencies.message };
  } else if (loaded >= 1) {
    phase = 'Ready';
    ready = { type: 'Ready', status: 'True', reason: 'AdapterLoaded', message: `loaded on ${loaded}/${readyPods} ready engine pods of ${baseName}` };
  } else {
    phase = 'Pending';
    ready = { type: 'Ready', status: 'False', reason: 'AdapterNotLoaded', message: `not loaded yet on any of ${readyPods} ready engine pods of ${baseName}` };
  }

  const deprecated = adapter.spec.deprecated === true;
  const lifecycle = deprecated ? 'Deprecated' : dependencies.status === 'True' && artifacts.ok ? 'Validated' : 'Registered';
  const inputs = [dependencies, synced, ready, ...(deprecated ? [deprecatedCondition(adapter)] : [])];
  return {
    phase,
    lifecycle,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    replicas: readyPods,
    readyReplicas: phase === 'Ready' ? loaded : 0,
    conditions: setConditions(adapter.status?.conditions, inputs, now, generation).filter((c) => deprecated || c.type !== 'Deprecated'),
  };
}

/** Whether an engine pod of the base counts: ready, not being deleted, not in a warm pool (never routed). */
export function isServingPod(pod: KubeObject): boolean {
  return !isDeleting(pod) && pod.metadata.labels?.[WARM_LABEL] !== 'true' && isPodReady(pod);
}

/** The base's ready engine pods (labelled with its name), and how many have `adapter` loaded. */
export function countBasePods(pods: readonly KubeObject[], base: string, adapter: string): BasePods {
  let ready = 0;
  let loaded = 0;
  for (const pod of pods) {
    if (pod.metadata.labels?.[MODEL_NAME_LABEL] !== base || !isServingPod(pod)) continue;
    ready++;
    if (loadedAdapters(pod as PodAdapterView).has(adapter)) loaded++;
  }
  return { ready, loaded };
}

/** The existing, not-deleting adapters of `base` in `namespace`. */
export function adaptersOf(models: readonly Model[], base: string): AdapterModel[] {
  return models.filter((m): m is AdapterModel => isAdapter(m) && m.spec.modelSpec.baseModelRef.name === base && !isDeleting(m));
}

export interface AdapterDeps {
  client: KubeClient;
  recorder: EventRecorder;
  models: SharedInformer<Model>;
  routes: SharedInformer;
  /** Engine pods (labelled with a ModelInfer name). */
  pods: SharedInformer;
}

/** Reconcile one adapter: its ModelRoute, then its status from the base and the base's pods. */
export async function reconcileAdapter(deps: AdapterDeps, adapter: AdapterModel): Promise<ReconcileResult | void> {
  const { client, recorder } = deps;
  const namespace = adapter.metadata.namespace ?? 'default';
  const name = adapter.metadata.name!;
  const baseName = adapter.spec.modelSpec.baseModelRef.name;
  const errors: ChildError[] = [];
  try {
    const result = await ensureChild(client, MODEL_ROUTES, desiredAdapterRoute(adapter), { owner: adapter, existing: deps.routes.get(namespace, name) });
    if (result.action !== 'unchanged') {
      const verb = result.action === 'created' ? 'Created' : 'Updated';
      recorder.event(adapter, 'Normal', verb, `${verb} ModelRoute ${name}`);
    }
  } catch (err) {
    errors.push({ kind: 'ModelRoute', message: errorMessage(err), permanent: err instanceof OwnershipConflictError || isPermanent(err) });
    recorder.event(adapter, 'Warning', 'SyncFailed', `ModelRoute ${name}: ${errorMessage(err)}`);
  }
  const status = computeAdapterStatus(adapter, {
    base: deps.models.get(namespace, baseName),
    pods: countBasePods(deps.pods.list(namespace), baseName, name),
    childErrors: errors,
  });
  return reportStatus(client, recorder, adapter, status, errors);
}

/**
 * Requeue adapters when what their status reads changes: their base Model (created, Ready, deleted) and the base's
 * engine pods (ready, the loader's annotation).
 */
export function watchAdapterDependencies(controller: Controller, models: SharedInformer<Model>, pods: SharedInformer): void {
  const adapterKeys = (namespace: string | undefined, base: string | undefined): string[] =>
    base ? adaptersOf(models.list(namespace), base).map((a) => objectKey(a)) : [];
  controller.watch(models, (model) => adapterKeys(model.metadata.namespace, model.metadata.name));
  controller.watch(pods, (pod) => adapterKeys(pod.metadata.namespace, pod.metadata.labels?.[MODEL_NAME_LABEL]));
}
