// ModelInfer planning, pure: given the spec and the pods that exist, which pods to create and which to delete.
//
// Each replica ("group", index g in 0..replicas-1) has, for every role, `role.replicas` pods named
// `<modelinfer>-<g>-<role>-<i>`; the pods of a group (prefill and decode, say) are created, replaced and deleted
// together. During a rolling update up to maxSurge "surge" groups take the next indexes (replicas, replicas+1, …).
// The plan depends only on the spec and the pods seen (level-triggered), never on what an earlier reconcile did:
//  - pods the template no longer has (a removed role, an index beyond the role's replicas) are deleted, and so are
//    pods in phase Failed or Succeeded; missing pods are created at the current revision (a name still held by a
//    terminating pod waits);
//  - a group is outdated when one of its pods has another revision, ready when all its pods exist and are ready;
//    `available` counts the ready groups, surge groups included. maxSurge and maxUnavailable resolve as in a
//    Deployment (a count or a percentage of replicas, surge rounded up, unavailable rounded down; both 0 makes
//    maxUnavailable 1), and a ready group may go only if replicas - maxUnavailable groups stay available after it;
//  - RollingUpdate: while a group in 0..replicas-1 is outdated, the surge indexes replicas..replicas+s-1 hold groups
//    at the current revision, s = min(maxSurge, outdated groups). Outdated groups that are not ready go at once
//    (they serve nothing); ready ones go highest index first within the budget, and come back at the current
//    revision once their pods are gone. Every other group beyond replicas (a surge group once no group is outdated,
//    a group of another revision, a group scaled away) goes too, the ones not ready at once and the ready ones
//    within the budget and before any outdated group: a finished rollout removes its surge groups when the replaced
//    groups are ready, a surge group that never becomes ready stalls the rollout with the old groups serving, and a
//    scale-down never takes the last ready groups while the remaining ones start;
//  - Recreate deletes every outdated group and every group beyond replicas at once, with no surge.
import { createHash } from 'node:crypto';
import { resolveFenceposts, type Role } from '../../api/kinds/index.ts';
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
  /** Absent: the schema's defaults (25% each). */
  maxSurge: number | string | undefined;
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

/** Whether the template has this pod's role and index. */
function expected(input: Pick<PlanInput, 'roles'>, pod: PodState): boolean {
  const role = input.roles.find((r) => r.name === pod.role);
  return role !== undefined && pod.index < (role.replicas ?? 1);
}

/**
 * State of every group: 0..replicas-1, then each group beyond (surge, or scaled away) that has a pod, in index
 * order. Terminating pods and `excluded` ones are left out.
 */
export function groupStates(input: PlanInput, excluded: ReadonlySet<string> = new Set()): GroupState[] {
  const active = new Map<string, PodState>();
  const beyond = new Set<number>();
  for (const pod of input.pods) {
    if (pod.deleting || excluded.has(pod.name)) continue;
    active.set(pod.name, pod);
    if (pod.group >= input.replicas && expected(input, pod)) beyond.add(pod.group);
  }
  const indexes = [...Array.from({ length: input.replicas }, (_, g) => g), ...[...beyond].sort((a, b) => a - b)];
  return indexes.map((g) => {
    const names = expectedPods(input, g);
    const pods = names.map((e) => active.get(e.name)).filter((p): p is PodState => p !== undefined);
    const complete = pods.length === names.length;
    return {
      group: g,
      ready: complete && pods.every((p) => p.ready),
      updated: complete && pods.every((p) => p.revision === input.revision),
      outdated: pods.some((p) => p.revision !== input.revision),
      pods,
    };
  });
}

/** Surge indexes in use: replicas..end-1 (RollingUpdate while a group in 0..replicas-1 is outdated). */
export function surgeEnd(input: PlanInput, groups: readonly GroupState[]): number {
  if (input.strategy !== 'RollingUpdate') return input.replicas;
  const outdated = groups.filter((g) => g.group < input.replicas && g.outdated).length;
  return input.replicas + Math.min(resolveFenceposts(input, input.replicas).maxSurge, outdated);
}

export function planPods(input: PlanInput): Plan {
  const plan: Plan = { create: [], delete: [] };
  const deleting = new Set<string>();
  const remove = (pod: PodState, reason: DeleteReason) => {
    if (deleting.has(pod.name)) return;
    deleting.add(pod.name);
    plan.delete.push({ name: pod.name, ...(pod.uid ? { uid: pod.uid } : {}), reason });
  };
  const removeGroup = (group: GroupState, reason: DeleteReason) => {
    for (const pod of group.pods) remove(pod, reason);
  };
  const active = input.pods.filter((p) => !p.deleting);

  // Pods the template no longer has.
  for (const pod of active) if (!expected(input, pod)) remove(pod, 'ScaleDown');
  // Finished pods are replaced (restartPolicy Always: they were evicted or their node failed).
  for (const pod of active) if (pod.phase === 'Failed' || pod.phase === 'Succeeded') remove(pod, 'PodFailed');

  const groups = groupStates(input, deleting);
  const end = surgeEnd(input, groups);
  const highestFirst = (a: GroupState, b: GroupState) => b.group - a.group;
  const outdated = groups.filter((g) => g.group < input.replicas && g.outdated).sort(highestFirst);
  // Beyond replicas, what is not a surge group of the rollout under way.
  const beyond = groups.filter((g) => g.group >= input.replicas && (g.group >= end || g.outdated)).sort(highestFirst);

  if (input.strategy === 'Recreate') {
    for (const g of beyond) removeGroup(g, 'ScaleDown');
    for (const g of outdated) removeGroup(g, 'Outdated');
  } else {
    // Groups that serve nothing go at once; ready ones only while replicas - maxUnavailable groups stay available.
    for (const g of beyond) if (!g.ready) removeGroup(g, 'ScaleDown');
    for (const g of outdated) if (!g.ready) removeGroup(g, 'Outdated');
    const minAvailable = input.replicas - resolveFenceposts(input, input.replicas).maxUnavailable;
    let available = groups.filter((g) => g.ready).length;
    const candidates: [GroupState, DeleteReason][] = [
      ...beyond.filter((g) => g.ready).map((g): [GroupState, DeleteReason] => [g, 'ScaleDown']),
      ...outdated.filter((g) => g.ready).map((g): [GroupState, DeleteReason] => [g, 'Outdated']),
    ];
    for (const [g, reason] of candidates) {
      if (available - 1 < minAvailable) break;
      removeGroup(g, reason);
      available--;
    }
  }

  // Create what is missing, surge groups included (a name still held by any pod, terminating or being deleted
  // now, waits).
  const taken = new Set(input.pods.map((p) => p.name));
  for (let g = 0; g < end; g++) {
    for (const e of expectedPods(input, g)) {
      if (!taken.has(e.name)) plan.create.push({ name: e.name, group: g, role: e.role, index: e.index });
    }
  }
  return plan;
}
