// The scale subresource of custom resources: an autoscaling/v1 Scale view of specReplicasPath,
// statusReplicasPath and labelSelectorPath, written back to the custom resource on PUT/PATCH.
import type { KubeObject } from '../api/admission.ts';
import { badRequest, conflict, OBJECT_MODIFIED } from './errors.ts';
import { getPath, isObject, setPath, type JsonObject } from './meta.ts';
import { jsonPatch, mergePatch } from './patch.ts';
import type { ResourceType, ScaleSpec } from './registry.ts';
import type { ObjectStore, PatchType, WriteOptions } from './store.ts';

const path = (p: string) => p.replace(/^\./, '').split('.');

export function toScale(rt: ResourceType, obj: KubeObject): JsonObject {
  const spec = rt.scale as ScaleSpec;
  const replicas = getPath(obj, path(spec.specReplicasPath));
  const statusReplicas = getPath(obj, path(spec.statusReplicasPath));
  const status: JsonObject = { replicas: typeof statusReplicas === 'number' ? statusReplicas : 0 };
  if (spec.labelSelectorPath) {
    const sel = getPath(obj, path(spec.labelSelectorPath));
    if (typeof sel === 'string' && sel) status.selector = sel;
  }
  const m = obj.metadata;
  const metadata: JsonObject = { name: m.name, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp };
  if (m.namespace) metadata.namespace = m.namespace;
  return { kind: 'Scale', apiVersion: 'autoscaling/v1', metadata, spec: { replicas: typeof replicas === 'number' ? replicas : 0 }, status };
}

/** Write a Scale back: only spec.replicas moves, with the Scale's resourceVersion as precondition. */
export function updateScale(store: ObjectStore, rt: ResourceType, namespace: string | undefined, name: string, scale: unknown, opts: WriteOptions): JsonObject {
  if (!isObject(scale) || !isObject(scale.spec)) throw badRequest('Scale in version "v1" cannot be handled as a Scale: spec is required');
  const current = store.get(rt, namespace, name);
  const meta = isObject(scale.metadata) ? scale.metadata : {};
  if (meta.resourceVersion && meta.resourceVersion !== current.metadata.resourceVersion) throw conflict(rt.group, rt.plural, name, OBJECT_MODIFIED);
  const replicas = scale.spec.replicas;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
    throw badRequest(`Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`);
  }
  const patch: JsonObject = { metadata: { resourceVersion: current.metadata.resourceVersion } };
  setPath(patch, path(rt.scale!.specReplicasPath), replicas);
  const result = store.patch(rt, namespace, name, 'merge', patch, opts);
  return toScale(rt, result.object);
}

export function patchScale(store: ObjectStore, rt: ResourceType, namespace: string | undefined, name: string, type: PatchType, patch: unknown, opts: WriteOptions): JsonObject {
  const scale = toScale(rt, store.get(rt, namespace, name));
  const next = type === 'json' ? jsonPatch(scale, patch) : mergePatch(scale, patch);
  return updateScale(store, rt, namespace, name, next, opts);
}
