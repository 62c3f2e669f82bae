// Pure helpers over Kubernetes objects: keys, owner references, stable hashing, deep comparison, conditions.
import { createHash } from 'node:crypto';
import type { KubeObject, OwnerReference } from '../api/admission.ts';
import type { Condition } from '../api/schema-kit.ts';

/** `namespace/name` (or `name` for cluster-scoped objects): the work-queue key of an object. */
export function objectKey(object: Pick<KubeObject, 'metadata'>): string {
  const { namespace, name } = object.metadata;
  return namespace ? `${namespace}/${name}` : `${name}`;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** A controller ownerReference to `owner` (blockOwnerDeletion: foreground deletion waits for the child). */
export function controllerRef(owner: KubeObject): OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name!,
    uid: owner.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function getControllerOf(object: Pick<KubeObject, 'metadata'>): OwnerReference | undefined {
  return object.metadata.ownerReferences?.find((ref) => ref.controller === true);
}

/** Whether `object` is controlled by the owner with this uid. */
export function isControlledBy(object: Pick<KubeObject, 'metadata'>, ownerUid: string | undefined): boolean {
  return ownerUid !== undefined && getControllerOf(object)?.uid === ownerUid;
}

/** Key of the object's controller if it is of `kind` (and of `group` when given), for mapping child events. */
export function controllerKey(object: Pick<KubeObject, 'metadata'>, kind: string, group?: string): string | undefined {
  const ref = getControllerOf(object);
  if (!ref || ref.kind !== kind) return undefined;
  if (group !== undefined && ref.apiVersion.split('/')[0] !== group) return undefined;
  const namespace = object.metadata.namespace;
  return namespace ? `${namespace}/${ref.name}` : ref.name;
}

export function isDeleting(object: Pick<KubeObject, 'metadata'> | undefined): boolean {
  return !!object?.metadata.deletionTimestamp;
}

/** JSON with object keys sorted, so equal values serialize identically. */
export function stableStringify(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => stableStringify(v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
}

/** A short, stable, label-safe hash of a value (10 lowercase hex digits of SHA-256 over its stable JSON). */
export function stableHash(value: unknown, length = 10): string {
  return createHash('sha256').update(stableStringify(value)).digest('hex').slice(0, length);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  return stableStringify(a) === stableStringify(b);
}

/**
 * Whether every field set in `desired` has the same value in `actual` (objects: recursively; arrays: same
 * length and element-wise). Extra fields in `actual` (server-side defaults) are ignored.
 */
export function isSubset(desired: unknown, actual: unknown): boolean {
  if (desired === undefined) return true;
  if (desired === null || typeof desired !== 'object') {
    // Quantities and int-or-strings may come back as strings or numbers.
    if ((typeof desired === 'number' || typeof desired === 'string') && (typeof actual === 'number' || typeof actual === 'string')) {
      return String(desired) === String(actual);
    }
    return desired === actual;
  }
  if (Array.isArray(desired)) {
    return Array.isArray(actual) && actual.length === desired.length && desired.every((d, i) => isSubset(d, actual[i]));
  }
  if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
  return Object.entries(desired as Record<string, unknown>).every(([k, v]) => isSubset(v, (actual as Record<string, unknown>)[k]));
}

/** metav1.Time: RFC 3339 with second precision. */
export function nowTime(date: Date = new Date()): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message?: string;
  observedGeneration?: number;
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/**
 * Set a condition with metav1.Condition semantics (apimachinery's meta.SetStatusCondition): the
 * lastTransitionTime changes only when the status flips; reason, message and observedGeneration are updated
 * in place. Returns a new array; other conditions keep their order.
 */
export function setCondition(conditions: readonly Condition[] | undefined, input: ConditionInput, now: string = nowTime()): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === input.type);
  const previous = index >= 0 ? list[index] : undefined;
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    message: input.message ?? '',
    lastTransitionTime: previous && previous.status === input.status && previous.lastTransitionTime ? previous.lastTransitionTime : now,
    ...(input.observedGeneration !== undefined ? { observedGeneration: input.observedGeneration } : {}),
  };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return list;
}

/** Apply several condition inputs in order. */
/** Set each input condition; `observedGeneration`, when given, is stamped on every input (the object's generation). */
export function setConditions(
  conditions: readonly Condition[] | undefined,
  inputs: readonly ConditionInput[],
  now: string = nowTime(),
  observedGeneration?: number,
): Condition[] {
  let list = [...(conditions ?? [])];
  for (const input of inputs) list = setCondition(list, observedGeneration === undefined ? input : { ...input, observedGeneration }, now);
  return list;
}

/**
 * A JSON merge patch turning `previous` into `next` at the top level of an object: changed and new keys are
 * set, keys missing from `next` are set to null (deleted). Nested objects are replaced whole.
 */
export function topLevelMergePatch(previous: Record<string, unknown> | undefined, next: Record<string, unknown>): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(next)) {
    if (value !== undefined && !deepEqual(value, previous?.[key])) patch[key] = value;
  }
  for (const key of Object.keys(previous ?? {})) {
    if (next[key] === undefined) patch[key] = null;
  }
  return patch;
}

export function isPodReady(pod: KubeObject): boolean {
  const status = pod.status as { phase?: string; conditions?: { type: string; status: string }[] } | undefined;
  return status?.phase === 'Running' && !!status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
}
