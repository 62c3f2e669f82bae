// ModelInfer planning, pure: given the spec and the pods that exist, which pods to create and which to delete.
//
// Each replica ("group", index g in 0..replicas-1) has, for every role, `role.replicas` pods named
// `<modelinfer>-<g>-<role>-<i>`. Rules, applied each reconcile (level-triggered):
//  - scale down: pods of groups g ≥ replicas, and of roles/indexes the template no longer has, are deleted
//    (the highest group indexes are the ones that go);
//  - pods in phase Failed or Succeeded are deleted, and recreated once gone;
//  - missing pods are created, with the current revision (a name still held by a terminating pod waits);
//  - rolling update: a group is outdated when one of its pods has another revision. RollingUpdate deletes
//    outdated groups that are not ready at once (they serve nothing), then outdated ready groups from the
//    highest index down while fewer than maxUnavailable groups are unavailable; a group being replaced (or
//    new and not yet ready) counts as unavailable, so the next group waits until it is ready. Recreate
//    deletes every outdated group at once. maxSurge is not supported (pod names are per group index).
import { createHash } from 'node:crypto';
import type { Role } from '../../api/kinds/index.ts';
import { stableStringify } from '../../kube/objects.ts';

export interface PodState {
  name: string;
  uid?: string;
  group: number;
  role: string;
  index: number;
  revision: string;
  phase: string;
  ready: boolean;
  deleting: boolean;
  /** Why the pod is failing (CrashLoopBackOff, ImagePullBackOff, Failed, ...), if it is. */
  failure?: string;
}

export interface PlanInput {
  name: string;
  replicas: number;
  roles: readonly Pick<Role, 'name' | 'replicas'>[];
  revision: string;
  strategy: 'RollingUpdate' | 'Recreate';
  maxUnavailable: number | string | undefined;
  pods: readonly PodState[];
}

export type DeleteReason = 'ScaleDown' | 'PodFailed' | 'Outdated';

export interface Plan {
  create: { name: string; group: number; role: string; index: number }[];
  delete: { name: string; uid?: string; reason: DeleteReason }[];
}

/**
 * Revision of a ModelInfer's pod templates: a short stable hash of each role's name and template (not of
 * replica counts, so scaling is not a rollout). Label-safe (10 hex digits).
 */
export function computeRevision(roles: readonly Pick<Role, 'name' | 'template'>[]): string {
  const data = roles.map((role) => ({ name: role.name, template: role.template }));
  return createHash('sha256').update(stableStringify(data)).digest('hex').slice(0, 10);
}

export function podName(modelInfer: string, group: number, role: string, index: number): string {
  return `${modelInfer}-${group}-${role}-${index}`;
}

/** Parse `<modelinfer>-<g>-<role>-<i>`; undefined when the name does not have that shape. */
export function parsePodName(modelInfer: string, name: string): { group: number; role: string; index: number } | undefined {
  if (!name.startsWith(`${modelInfer}-`)) return undefined;
  const match = /^(\d+)-([a-z]([-a-z0-9]*[a-z0-9])?)-(\d+)$/.exec(name.slice(modelInfer.length + 1));
  if (!match) return undefined;
  return { group: Number(match[1]), role: match[2]!, index: Number(match[4]) };
}

/** maxUnavailable (count or percentage of replicas, rounded down) as a group count, at least 1. */
export function resolveMaxUnavailable(value: number | string | undefined, replicas: number): number {
  if (value === undefined) return 1;
  if (typeof value === 'number') return Math.max(1, Math.floor(value));
  const percent = /^(\d+)%$/.exec(value);
  if (percent) return Math.max(1, Math.floor((replicas * Number(percent[1])) / 100));
  const n = Number(value);
  return Number.isFinite(n) ? Math.max(1, Math.floor(n)) : 1;
}

/** Names of the pods group g should have, in role order. */
export function expectedPods(input: Pick<PlanInput, 'name' | 'roles'>, group: number): { name: string; role: string; index: number }[] {
  const out: { name: string; role: string; index: number }[] = [];
  for (const role of input.roles) {
    for (let i = 0; i < (role.replicas ?? 1); i++) out.push({ name: podName(input.name, group, role.name, i), role: role.name, index: i });
  }
  return out;
}

export interface GroupState {
  group: number;
  /** Every expected pod exists, is not terminating and is ready. */
  ready: boolean;
  /** Every expected pod exists, is not terminating and has the current revision. */
  updated: boolean;
  /** Some non-terminating pod of the group has another revision. */
  outdated: boolean;
  /** Non-terminating pods of the group (expected ones only). */
  pods: PodState[];
}

/** State of every desired group (0..replicas-1), given the pods that are not being deleted. */
export function groupStates(input: PlanInput, excluded: ReadonlySet<string> = new Set()): GroupState[] {
  const active = new Map<string, PodState>();
  for (const pod of input.pods) if (!pod.deleting && !excluded.has(pod.name)) active.set(pod.name, pod);
  const states: GroupState[] = [];
  for (let g = 0; g < input.replicas; g++) {
    const expected = expectedPods(input, g);
    const pods = expected.map((e) => active.get(e.name)).filter((p): p is PodState => p !== undefined);
    const complete = pods.length === expected.length;
    states.push({
      group: g,
      ready: complete && pods.every((p) => p.ready),
      updated: complete && pods.every((p) => p.revision === input.revision),
      outdated: pods.some((p) => p.revision !== input.revision),
      pods,
    });
  }
  return states;
}

export function planPods(input: PlanInput): Plan {
  const plan: Plan = { create: [], delete: [] };
  const deleting = new Set<string>();
  const remove = (pod: PodState, reason: DeleteReason) => {
    if (deleting.has(pod.name)) return;
    deleting.add(pod.name);
    plan.delete.push({ name: pod.name, ...(pod.uid ? { uid: pod.uid } : {}), reason });
  };
  const roleReplicas = new Map(input.roles.map((r) => [r.name, r.replicas ?? 1]));
  const active = input.pods.filter((p) => !p.deleting);

  // Scale down (groups beyond replicas, highest first) and pods the template no longer has.
  const surplus = active
    .filter((p) => p.group >= input.replicas || !roleReplicas.has(p.role) || p.index >= (roleReplicas.get(p.role) ?? 0))
    .sort((a, b) => b.group - a.group || a.name.localeCompare(b.name));
  for (const pod of surplus) remove(pod, 'ScaleDown');

  // Finished pods are replaced (restartPolicy Always: they were evicted or their node failed).
  for (const pod of active) if (pod.phase === 'Failed' || pod.phase === 'Succeeded') remove(pod, 'PodFailed');

  // Rolling update.
  const groups = groupStates(input, deleting);
  const outdated = groups.filter((g) => g.outdated);
  if (input.strategy === 'Recreate') {
    for (const g of outdated) for (const pod of g.pods) remove(pod, 'Outdated');
  } else {
    for (const g of outdated.filter((s) => !s.ready)) for (const pod of g.pods) remove(pod, 'Outdated');
    const maxUnavailable = resolveMaxUnavailable(input.maxUnavailable, input.replicas);
    let unavailable = groups.filter((g) => !g.ready).length;
    for (const g of outdated.filter((s) => s.ready).sort((a, b) => b.group - a.group)) {
      if (unavailable >= maxUnavailable) break;
      for (const pod of g.pods) remove(pod, 'Outdated');
      unavailable++;
    }
  }

  // Create what is missing (a name still held by any pod, terminating or being deleted now, waits).
  const taken = new Set(input.pods.map((p) => p.name));
  for (let g = 0; g < input.replicas; g++) {
    for (const expected of expectedPods(input, g)) {
      if (!taken.has(expected.name)) plan.create.push({ name: expected.name, group: g, role: expected.role, index: expected.index });
    }
  }
  return plan;
}
