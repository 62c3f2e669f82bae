// A Model's spec history as apps/v1 ControllerRevisions, the way the StatefulSet and DaemonSet controllers keep
// theirs (pkg/controller/history): one revision per distinct spec, owned by the Model (controller ownerReference, so
// garbage collection deletes them with it), named `<model>-<hash>`, labelled `controller-revision-hash=<hash>` and
// with the model-name label, `data: {spec}`, `revision` increasing.
//
// Rules (revisionPlan, pure):
//  - the newest revision equal to the spec: nothing to do, it is current;
//  - an older revision equal to the spec (a rollback, or a change undone by hand) is reused: its number is bumped to
//    newest + 1, as the StatefulSet controller does, so the history reads as what ran in order;
//  - otherwise a new revision newest + 1 is created;
//  - the Model's `kubernetes.io/change-cause` annotation is copied onto the revision it creates or bumps;
//  - at most REVISION_HISTORY_LIMIT (10) revisions are kept: the oldest beyond it are deleted, never the current one.
//  Only revisions controlled by this Model's uid count (a same-named Model deleted earlier may leave some behind until
//  the garbage collector removes them).
// syncRevisions applies a plan with the client and returns the current revision number.
import type { KubeObject } from '../../api/admission.ts';
import { MODEL_NAME_LABEL } from '../../api/labels.ts';
import type { Model, ModelSpec } from '../../api/kinds/index.ts';
import { isConflict, type KubeClient, type ResourceType } from '../../kube/client.ts';
import { controllerRef, isControlledBy, stableHash, stableStringify } from '../../kube/objects.ts';

export const CONTROLLER_REVISIONS: ResourceType = { group: 'apps', version: 'v1', kind: 'ControllerRevision', plural: 'controllerrevisions', namespaced: true };

/** How many revisions of a Model are kept (the StatefulSet default revisionHistoryLimit is 10 as well). */
export const REVISION_HISTORY_LIMIT = 10;
/** The label StatefulSets and DaemonSets put on their revisions (apps/v1 ControllerRevisionHashLabelKey). */
export const REVISION_HASH_LABEL = 'controller-revision-hash';
/** kubectl's change-cause annotation (`kubectl rollout history` prints it). */
export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause';

export interface RevisionData {
  spec: ModelSpec;
}

export interface ControllerRevision extends KubeObject {
  data: RevisionData;
  revision: number;
}

export type RevisionAction =
  /** The newest revision already holds the spec. */
  | { type: 'keep'; name: string }
  | { type: 'create'; object: ControllerRevision }
  /** An older revision holds the spec: it becomes the newest (and takes the Model's change-cause, if any). */
  | { type: 'bump'; name: string; revision: number; changeCause: string | undefined };

export interface RevisionPlan {
  action: RevisionAction;
  /** Names of revisions beyond the history limit, oldest first. */
  deletes: string[];
  /** The revision number the spec is kept as once the plan is applied. */
  current: number;
}

/** Revisions of this Model (by controller uid), oldest first. */
export function ownedRevisions(model: Model, all: readonly KubeObject[]): ControllerRevision[] {
  return (all as ControllerRevision[])
    .filter((r) => isControlledBy(r, model.metadata.uid))
    .sort((a, b) => a.revision - b.revision || (a.metadata.name! < b.metadata.name! ? -1 : 1));
}

export function revisionData(model: Model): RevisionData {
  return { spec: model.spec };
}

/** `<model>-<10 hex digits of the data's hash>`, within the 253 characters of a name. */
export function revisionName(model: Model, hash: string): string {
  return `${model.metadata.name!.slice(0, 253 - hash.length - 1)}-${hash}`;
}

export function newRevision(model: Model, revision: number): ControllerRevision {
  const data = revisionData(model);
  const hash = stableHash(data);
  const changeCause = model.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION];
  return {
    apiVersion: 'apps/v1',
    kind: 'ControllerRevision',
    metadata: {
      name: revisionName(model, hash),
      namespace: model.metadata.namespace ?? 'default',
      labels: { [MODEL_NAME_LABEL]: model.metadata.name!, [REVISION_HASH_LABEL]: hash },
      ...(changeCause !== undefined ? { annotations: { [CHANGE_CAUSE_ANNOTATION]: changeCause } } : {}),
      ownerReferences: [controllerRef(model)],
    },
    data: structuredClone(data),
    revision,
  };
}

export function revisionPlan(model: Model, existing: readonly KubeObject[], limit = REVISION_HISTORY_LIMIT): RevisionPlan {
  const owned = ownedRevisions(model, existing);
  const wanted = stableStringify(revisionData(model));
  const newest = owned.at(-1);
  const next = (newest?.revision ?? 0) + 1;
  const equal = owned.filter((r) => stableStringify(r.data) === wanted).at(-1);
  const changeCause = model.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION];

  let action: RevisionAction;
  let current: number;
  let kept: { name: string; revision: number }[];
  if (equal !== undefined && equal === newest) {
    action = { type: 'keep', name: equal.metadata.name! };
    current = equal.revision;
    kept = owned.map((r) => ({ name: r.metadata.name!, revision: r.revision }));
  } else if (equal !== undefined) {
    action = { type: 'bump', name: equal.metadata.name!, revision: next, changeCause };
    current = next;
    kept = [...owned.filter((r) => r !== equal).map((r) => ({ name: r.metadata.name!, revision: r.revision })), { name: equal.metadata.name!, revision: next }];
  } else {
    const object = newRevision(model, next);
    action = { type: 'create', object };
    current = next;
    kept = [...owned.map((r) => ({ name: r.metadata.name!, revision: r.revision })), { name: object.metadata.name!, revision: next }];
  }
  // `kept` is oldest first; the current revision is last, so it is never among the deleted.
  const deletes = kept.slice(0, Math.max(0, kept.length - Math.max(1, limit))).map((r) => r.name);
  return { action, deletes, current };
}

/**
 * Apply the plan for `model` against the revisions the informer holds; returns the current revision number.
 * The informer may lag behind our own writes: a create that finds its name taken by an equal revision of ours
 * takes that one as current (the next reconcile, with the cache caught up, sees it anyway).
 */
export async function syncRevisions(client: KubeClient, model: Model, existing: readonly KubeObject[]): Promise<RevisionPlan> {
  const plan = revisionPlan(model, existing);
  const namespace = model.metadata.namespace ?? 'default';
  const { action } = plan;
  if (action.type === 'create') {
    try {
      await client.create(CONTROLLER_REVISIONS, action.object);
    } catch (err) {
      if (!isConflict(err)) throw err;
      const found = await client.get<ControllerRevision>(CONTROLLER_REVISIONS, namespace, action.object.metadata.name!);
      if (!found || !isControlledBy(found, model.metadata.uid) || stableStringify(found.data) !== stableStringify(action.object.data)) throw err;
      return { ...plan, current: found.revision };
    }
  } else if (action.type === 'bump') {
    const annotations = action.changeCause !== undefined ? { metadata: { annotations: { [CHANGE_CAUSE_ANNOTATION]: action.changeCause } } } : {};
    await client.mergePatch(CONTROLLER_REVISIONS, namespace, action.name, { revision: action.revision, ...annotations });
  }
  for (const name of plan.deletes) await client.delete(CONTROLLER_REVISIONS, namespace, name);
  return plan;
}
