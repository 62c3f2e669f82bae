// Names in the production-stack kinds resolved to MatrixInfer objects, pure over the informers' lists of one
// namespace:
//  - a model name (SpeculativeDecoding.targetModel, PrefillDecodingDisaggregation.modelName, InferenceCache.modelName)
//    is what clients put in `model`: the ModelRoutes for it (oldest first, as the gateway orders them) lead through
//    their targets' ModelServers to the ModelInfers serving it; without a route, a Model of that name serves it;
//  - an InferenceService's backendRef is a ModelServer, or a Service whose selector picks the pods of a ModelInfer
//    (then the oldest ModelServer exposing that ModelInfer); a Service in front of anything else is not ours to route.
// Claims: when several objects of a kind ask for one workload, the one already applied to it (named in the ModelInfer's
// amended-by annotation) keeps it; otherwise the oldest wins (creation time, then namespace/name: creation times have
// one-second resolution). The others report the conflict.
import type { KubeObject } from '../../api/admission.ts';
import { olderFirst, type Model, type ModelInfer, type ModelRoute, type ModelServer } from '../../api/kinds/index.ts';
import { MODELINFER_NAME_LABEL } from '../../api/labels.ts';
import { getControllerOf } from '../../kube/objects.ts';
import { AMENDED_BY_ANNOTATION } from '../model/amend.ts';

/** One namespace's objects, as the informers hold them. */
export interface World {
  routes: readonly ModelRoute[];
  servers: readonly ModelServer[];
  modelInfers: readonly ModelInfer[];
  models: readonly Model[];
}

/** A ModelInfer serving a model name, and the Model that generates it (the only writer of its template). */
export interface ServedWorkload {
  modelInfer: string;
  modelServer?: string;
  /** The Model controlling the ModelInfer; undefined for a ModelInfer written by hand. */
  model?: string;
}

/** The Model controlling a ModelInfer, if one does. */
export function controllingModel(mi: ModelInfer | undefined): string | undefined {
  const ref = mi ? getControllerOf(mi) : undefined;
  return ref?.kind === 'Model' && ref.apiVersion.startsWith('registry.matrixinfer.ai/') ? ref.name : undefined;
}

/** The ModelInfers serving `name`, deduplicated, in route order. */
export function workloadsServing(name: string, world: World): ServedWorkload[] {
  const out: ServedWorkload[] = [];
  const seen = new Set<string>();
  const add = (modelInfer: string, modelServer?: string) => {
    if (seen.has(modelInfer)) return;
    seen.add(modelInfer);
    const model = controllingModel(world.modelInfers.find((mi) => mi.metadata.name === modelInfer));
    out.push({ modelInfer, ...(modelServer ? { modelServer } : {}), ...(model ? { model } : {}) });
  };
  const routes = world.routes.filter((r) => r.spec?.modelName === name).sort(olderFirst);
  for (const route of routes) {
    for (const rule of route.spec.rules ?? []) {
      for (const target of rule.targetModels ?? []) {
        const server = world.servers.find((s) => s.metadata.name === target.modelServerName);
        const ref = server?.spec?.modelInferRef;
        if (ref?.name && (ref.namespace ?? server!.metadata.namespace) === server!.metadata.namespace) add(ref.name, server!.metadata.name);
      }
    }
  }
  if (out.length === 0 && world.models.some((m) => m.metadata.name === name) && world.modelInfers.some((mi) => mi.metadata.name === name)) add(name);
  return out;
}

/** The labels every pod of a ModelInfer carries (its roles' template labels, and the ModelInfer's own label). */
function podLabelsOf(mi: ModelInfer): Record<string, string>[] {
  return (mi.spec?.roles ?? []).map((role) => ({ ...(role.template?.metadata?.labels ?? {}), [MODELINFER_NAME_LABEL]: mi.metadata.name! }));
}

export type BackendResolution =
  | { kind: 'server'; server: ModelServer; via?: string }
  | { kind: 'missing'; reason: 'BackendNotFound' | 'UnmanagedBackend'; message: string };

/** An InferenceService's backendRef as a ModelServer. */
export function resolveBackend(name: string, world: World, services: readonly KubeObject[]): BackendResolution {
  const server = world.servers.find((s) => s.metadata.name === name);
  if (server) return { kind: 'server', server };
  const service = services.find((s) => s.metadata.name === name);
  if (!service) return { kind: 'missing', reason: 'BackendNotFound', message: `no ModelServer or Service named ${name}` };
  const selector = (service.spec as { selector?: Record<string, string> } | undefined)?.selector ?? {};
  const entries = Object.entries(selector);
  const selected = entries.length === 0 ? [] : world.modelInfers.filter((mi) => podLabelsOf(mi).some((labels) => entries.every(([k, v]) => labels[k] === v)));
  const exposing = world.servers
    .filter((s) => selected.some((mi) => mi.metadata.name === s.spec?.modelInferRef?.name && (s.spec.modelInferRef.namespace ?? s.metadata.namespace) === mi.metadata.namespace))
    .sort(olderFirst);
  if (exposing[0]) return { kind: 'server', server: exposing[0], via: `Service ${name} selects the pods of ModelInfer ${exposing[0].spec.modelInferRef.name}` };
  const what = selected.length > 0 ? `the pods of ModelInfer ${selected[0]!.metadata.name}, which no ModelServer exposes` : 'no pods MatrixInfer runs';
  return {
    kind: 'missing',
    reason: 'UnmanagedBackend',
    message: `Service ${name} selects ${what}; the gateway routes only to ModelServers (for engines MatrixInfer does not run, use a StaticRoute)`,
  };
}

export interface Claims<T extends KubeObject> {
  /** Object name → the workloads it won. */
  won: Map<string, ServedWorkload[]>;
  /** Object name → the workloads an older object holds, with that object's name. */
  lost: Map<string, { workload: ServedWorkload; holder: string }[]>;
  /** ModelInfer name → the object holding it. */
  holders: Map<string, T>;
}

/** Who holds each workload: the object already applied to it, else the oldest asking for it. */
export function claimWorkloads<T extends KubeObject>(objects: readonly T[], targetOf: (object: T) => string, world: World): Claims<T> {
  const claims: Claims<T> = { won: new Map(), lost: new Map(), holders: new Map() };
  const live = [...objects].filter((o) => !o.metadata.deletionTimestamp).sort(olderFirst);
  const wanted = live.map((object) => ({ object, workloads: workloadsServing(targetOf(object), world) }));
  for (const { object, workloads } of wanted) {
    claims.won.set(object.metadata.name!, []);
    claims.lost.set(object.metadata.name!, []);
    for (const workload of workloads) {
      const mi = world.modelInfers.find((m) => m.metadata.name === workload.modelInfer);
      if ((mi?.metadata.annotations?.[AMENDED_BY_ANNOTATION] ?? '').split(',').includes(`${object.kind}/${object.metadata.name}`)) claims.holders.set(workload.modelInfer, object);
    }
  }
  for (const { object, workloads } of wanted) {
    const name = object.metadata.name!;
    for (const workload of workloads) {
      const holder = claims.holders.get(workload.modelInfer);
      if (holder && holder !== object) claims.lost.get(name)!.push({ workload, holder: holder.metadata.name! });
      else {
        claims.holders.set(workload.modelInfer, object);
        claims.won.get(name)!.push(workload);
      }
    }
  }
  return claims;
}
