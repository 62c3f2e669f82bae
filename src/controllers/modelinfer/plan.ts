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
//
// Warm pool (`spec.warmPool.replicas` = w): the w indexes after the served ones, replicas..replicas+w-1, hold groups
// at the current revision that are started but not served: their pods carry WARM_LABEL (the gateway never routes to
// them, the autoscaler does not scrape them, status counts them apart) and, once ready and idle, are put to sleep
// (vLLM's POST /sleep?level=N; the controller does it through the pod IP and records the level in SLEEP_LEVEL_ANNOTATION).
// Names stay `<modelinfer>-<g>-<role>-<i>`, so the pool needs no second naming scheme:
//  - scale-up n → n+k claims the warm groups n..n+k-1 ("promote": POST /wake_up, then the label is removed, and the
//    gateway routes to them), and the pool is refilled at the new indexes beyond (a cold start nobody waits for);
//  - scale-down n → n-k turns the served groups n-k..n-1 into warm ones ("demote": labelled warm at once, within the
//    maxUnavailable budget like any ready group leaving, then asleep once idle) and deletes the warm groups now beyond
//    replicas+w (they serve nothing, so at once) — the groups that keep running are the ones already started;
//  - a rollout's surge groups take the same indexes: the first s = min(maxSurge, outdated) of replicas..replicas+
//    max(s, w)-1 serve (a warm group there at the current revision is promoted: an instant surge), the rest stay
//    warm; when the rollout is done the surge groups are demoted back into the pool. Warm groups of another revision
//    go at once, and come back at the current one. The extra groups never exceed max(maxSurge, w).
// Every budget above counts serving groups (ready, no pod labelled warm): a warm group is never "available".
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
  /** Labelled warm (WARM_LABEL): not routed. */
  warm?: boolean;
  /** Put to sleep at this level by the controller (SLEEP_LEVEL_ANNOTATION); 0: the engine has no sleep mode (warm awake). */
  sleepLevel?: number;
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
  /** spec.warmPool.replicas (absent: 0). */
  warm?: number;
  pods: readonly PodState[];
}

export type DeleteReason = 'ScaleDown' | 'PodFailed' | 'Outdated';

export interface Plan {
  /** `warm`: created with the warm label (a warm group) or without (a served one). */
  create: { name: string; group: number; role: string; index: number; warm: boolean }[];
  delete: { name: string; uid?: string; reason: DeleteReason }[];
  /** Warm pods of groups that now serve: wake them (if asleep), then remove the warm label. */
  promote: { name: string; sleepLevel?: number }[];
  /** Served pods of groups that are now warm: add the warm label. */
  demote: { name: string }[];
  /** Warm pods that are ready and not asleep: put them to sleep (once idle). */
  sleep: { name: string }[];
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
  /** Some pod of the group is labelled warm: the group is not served. */
  warm: boolean;
  /** Ready and not warm: the gateway routes to it. */
  serving: boolean;
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
    const ready = complete && pods.every((p) => p.ready);
    const warm = pods.some((p) => p.warm === true);
    return {
      group: g,
      ready,
      warm,
      serving: ready && !warm,
      updated: complete && pods.every((p) => p.revision === input.revision),
      outdated: pods.some((p) => p.revision !== input.revision),
      pods,
    };
  });
}

/** Surge indexes in use: replicas..end-1 (RollingUpdate while a group in 0..replicas-1 is outdated). */
function surgeEnd(input: PlanInput, groups: readonly GroupState[]): number {
  if (input.strategy !== 'RollingUpdate') return input.replicas;
  const outdated = groups.filter((g) => g.group < input.replicas && g.outdated).length;
  return input.replicas + Math.min(resolveFenceposts(input, input.replicas).maxSurge, outdated);
}

/** End of the groups kept beyond replicas: surge groups (replicas..surgeEnd-1), then warm ones up to replicas+w. */
export function keptEnd(input: PlanInput, groups: readonly GroupState[]): { surge: number; end: number } {
  const surge = surgeEnd(input, groups);
  return { surge, end: Math.max(surge, input.replicas + Math.max(0, input.warm ?? 0)) };
}

export function planPods(input: PlanInput): Plan {
  const plan: Plan = { create: [], delete: [], promote: [], demote: [], sleep: [] };
  const deleting = new Set<string>();
  const remove = (pod: PodState, reason: DeleteReason) => {
    if (deleting.has(pod.name)) return;
    deleting.add(pod.name);
    plan.delete.push({ name: pod.name, ...(pod.uid ? { uid: pod.uid } : {}), reason });
  };
  const removeGroup = (group: GroupState, reason: DeleteReason) => {
    for (const pod of group.pods) remove(pod, reason);
  };
  const demoteGroup = (group: GroupState) => {
    for (const pod of group.pods) if (!pod.warm) plan.demote.push({ name: pod.name });
  };
  const active = input.pods.filter((p) => !p.deleting);

  // Pods the template no longer has.
  for (const pod of active) if (!expected(input, pod)) remove(pod, 'ScaleDown');
  // Finished pods are replaced (restartPolicy Always: they were evicted or their node failed).
  for (const pod of active) if (pod.phase === 'Failed' || pod.phase === 'Succeeded') remove(pod, 'PodFailed');

  const groups = groupStates(input, deleting);
  const { surge, end } = keptEnd(input, groups);
  const highestFirst = (a: GroupState, b: GroupState) => b.group - a.group;
  const outdated = groups.filter((g) => g.group < input.replicas && g.outdated).sort(highestFirst);
  // Beyond replicas, what is not a surge or warm group at the current revision.
  const beyond = groups.filter((g) => g.group >= input.replicas && (g.group >= end || g.outdated)).sort(highestFirst);
  // Warm indexes holding pods not labelled warm (a finished rollout's surge group, a group scaled away): demoted.
  const demoted = groups.filter((g) => g.group >= surge && g.group < end && !g.outdated && g.pods.some((p) => !p.warm)).sort(highestFirst);

  if (input.strategy === 'Recreate') {
    for (const g of beyond) removeGroup(g, 'ScaleDown');
    for (const g of outdated) removeGroup(g, 'Outdated');
    for (const g of demoted) demoteGroup(g);
  } else {
    // Groups that serve nothing go at once; serving ones only while replicas - maxUnavailable groups stay available.
    for (const g of beyond) if (!g.serving) removeGroup(g, 'ScaleDown');
    for (const g of outdated) if (!g.serving) removeGroup(g, 'Outdated');
    for (const g of demoted) if (!g.serving) demoteGroup(g);
    const minAvailable = input.replicas - resolveFenceposts(input, input.replicas).maxUnavailable;
    let available = groups.filter((g) => g.serving).length;
    const candidates: [GroupState, DeleteReason | 'Demote'][] = [
      ...beyond.filter((g) => g.serving).map((g): [GroupState, DeleteReason] => [g, 'ScaleDown']),
      ...demoted.filter((g) => g.serving).map((g): [GroupState, 'Demote'] => [g, 'Demote']),
      ...outdated.filter((g) => g.serving).map((g): [GroupState, DeleteReason] => [g, 'Outdated']),
    ];
    for (const [g, reason] of candidates) {
      if (available - 1 < minAvailable) break;
      if (reason === 'Demote') demoteGroup(g);
      else removeGroup(g, reason);
      available--;
    }
  }

  // Served indexes (0..surge-1) holding warm pods: claimed from the pool.
  for (const g of groups) {
    if (g.group >= surge) continue;
    for (const pod of g.pods) {
      if (pod.warm && !deleting.has(pod.name)) plan.promote.push({ name: pod.name, ...(pod.sleepLevel ? { sleepLevel: pod.sleepLevel } : {}) });
    }
  }
  // Warm pods that are ready and awake: to sleep.
  for (const g of groups) {
    if (g.group < surge || g.group >= end) continue;
    for (const pod of g.pods) {
      if (pod.warm && pod.ready && pod.sleepLevel === undefined && !deleting.has(pod.name) && pod.revision === input.revision) plan.sleep.push({ name: pod.name });
    }
  }

  // Create what is missing, surge and warm groups included (a name still held by any pod, terminating or being
  // deleted now, waits).
  const taken = new Set(input.pods.map((p) => p.name));
  for (let g = 0; g < end; g++) {
    for (const e of expectedPods(input, g)) {
      if (!taken.has(e.name)) plan.create.push({ name: e.name, group: g, role: e.role, index: e.index, warm: g >= surge });
    }
  }
  return plan;
}
