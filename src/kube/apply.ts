// Writing children and status the controller way: create-or-update of owned objects (update only when they
// differ from the desired state), and status patches that are skipped when nothing changed.
import type { KubeObject } from '../api/admission.ts';
import { isConflict, isNotFound, type KubeClient, type ResourceType } from './client.ts';
import { controllerRef, deepEqual, getControllerOf, isSubset, stableHash, topLevelMergePatch } from './objects.ts';

/** Annotation holding the hash of the desired state the object was last written from. */
export const DESIRED_HASH_ANNOTATION = 'matrixinfer.ai/desired-hash';

export class OwnershipConflictError extends Error {
  readonly object: string;
  constructor(kind: string, namespace: string, name: string, owner: string | undefined) {
    super(`${kind} ${namespace}/${name} already exists and is ${owner ? `controlled by ${owner}` : 'not controlled by this owner'}`);
    this.object = `${kind}/${name}`;
  }
}

export type EnsureAction = 'created' | 'updated' | 'unchanged';

export interface EnsureResult<T extends KubeObject = KubeObject> {
  action: EnsureAction;
  object: T;
}

export interface EnsureOptions<T extends KubeObject> {
  owner: KubeObject;
  /** The object as last seen (informer cache); undefined when it is not there. */
  existing: T | undefined;
  /**
   * Adjust the desired object given the live one before comparing (e.g. keep `spec.replicas` that an
   * autoscaler owns). Must be deterministic and keep `metadata` as given.
   */
  preserve?: (desired: T, existing: T) => T;
}

/** Desired child with the owner reference and the desired-state hash stamped on it. */
export function stampDesired<T extends KubeObject>(desired: T, owner: KubeObject): T {
  const { metadata, ...rest } = desired;
  const hash = stableHash({ ...rest, labels: metadata.labels ?? {}, annotations: metadata.annotations ?? {} });
  return {
    ...desired,
    metadata: {
      ...metadata,
      annotations: { ...(metadata.annotations ?? {}), [DESIRED_HASH_ANNOTATION]: hash },
      ownerReferences: [controllerRef(owner)],
    },
  };
}

/** Fields other than metadata and status that the controller owns (spec, and for some kinds data etc.). */
function bodyOf(object: KubeObject): Record<string, unknown> {
  const { apiVersion: _a, kind: _k, metadata: _m, status: _s, ...body } = object;
  return body;
}

/**
 * Whether `existing` must be rewritten to match `desired`: the desired-state hash differs (something was
 * added, changed or removed in the desired state), or a field we set was changed by someone else (drift),
 * or our labels/owner reference are missing.
 */
export function needsUpdate(desired: KubeObject, existing: KubeObject): boolean {
  const hash = desired.metadata.annotations?.[DESIRED_HASH_ANNOTATION];
  if (existing.metadata.annotations?.[DESIRED_HASH_ANNOTATION] !== hash) return true;
  if (!isSubset(desired.metadata.labels ?? {}, existing.metadata.labels ?? {})) return true;
  if (!isSubset(bodyOf(desired), bodyOf(existing))) return true;
  const ref = getControllerOf(existing);
  return !ref || ref.uid !== desired.metadata.ownerReferences?.[0]?.uid;
}

/** The live object rewritten to the desired state, keeping server-owned metadata and status. */
export function mergeForUpdate<T extends KubeObject>(desired: T, existing: T): T {
  const otherRefs = (existing.metadata.ownerReferences ?? []).filter((ref) => ref.uid !== desired.metadata.ownerReferences?.[0]?.uid && !ref.controller);
  return {
    ...existing,
    ...bodyOf(desired),
    metadata: {
      ...existing.metadata,
      labels: { ...(existing.metadata.labels ?? {}), ...(desired.metadata.labels ?? {}) },
      annotations: { ...(existing.metadata.annotations ?? {}), ...(desired.metadata.annotations ?? {}) },
      ownerReferences: [...(desired.metadata.ownerReferences ?? []), ...otherRefs],
    },
  } as T;
}

/**
 * Create the child if missing, update it if it differs from the desired state, leave it alone otherwise.
 * Throws OwnershipConflictError when an object of that name exists but belongs to someone else; API errors
 * (including 409 on a stale resourceVersion) propagate so the caller requeues.
 */
export async function ensureChild<T extends KubeObject>(client: KubeClient, rt: ResourceType, desiredIn: T, options: EnsureOptions<T>): Promise<EnsureResult<T>> {
  let desired = stampDesired(desiredIn, options.owner);
  const { namespace = 'default', name = '' } = desired.metadata;
  let existing = options.existing;
  if (!existing) {
    try {
      return { action: 'created', object: await client.create<T>(rt, desired) };
    } catch (err) {
      if (!isConflict(err)) throw err;
      // AlreadyExists: the cache was behind. Compare with the live object instead.
      existing = await client.get<T>(rt, namespace, name);
      if (!existing) throw err;
    }
  }
  const ownerUid = options.owner.metadata.uid;
  const ref = getControllerOf(existing);
  if (ref && ref.uid !== ownerUid) throw new OwnershipConflictError(rt.kind, namespace, name, `${ref.kind}/${ref.name}`);
  if (!ref) throw new OwnershipConflictError(rt.kind, namespace, name, undefined);
  // The hash stays that of the unadjusted desired state, so values preserved from the live object (which
  // others change) do not make every reconcile look like a spec change.
  if (options.preserve) desired = options.preserve(desired, existing);
  if (!needsUpdate(desired, existing)) return { action: 'unchanged', object: existing };
  try {
    return { action: 'updated', object: await client.replace<T>(rt, mergeForUpdate(desired, existing)) };
  } catch (err) {
    if (isNotFound(err)) return { action: 'created', object: await client.create<T>(rt, desired) };
    throw err;
  }
}

/**
 * Write `status` through the status subresource with a merge patch, unless it equals the current one.
 * Returns whether a write happened. A 404 (object deleted meanwhile) is not an error.
 */
export async function patchStatus(client: KubeClient, rt: ResourceType, object: KubeObject, status: Record<string, unknown>): Promise<boolean> {
  const current = (object.status ?? {}) as Record<string, unknown>;
  if (deepEqual(current, status)) return false;
  const patch = topLevelMergePatch(current, status);
  if (Object.keys(patch).length === 0) return false;
  try {
    await client.mergePatchStatus(rt, object.metadata.namespace ?? 'default', object.metadata.name!, { status: patch });
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
