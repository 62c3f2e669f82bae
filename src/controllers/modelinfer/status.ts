// ModelInfer status, pure: replica counts by group, the current revision, and three conditions. The counts are a
// Deployment's: they include surge groups (plan.ts), so during a rolling update `replicas`, `readyReplicas` and
// `updatedReplicas` may exceed spec.replicas for a while; the scale subresource reads `replicas`.
//  - Available: at least max(1, replicas - maxUnavailable) groups ready, surge groups included (True when scaled
//    to zero);
//  - Progressing: True while a rollout or scaling is under way (reason Updating/ScalingUp/ScalingDown/
//    WaitingForReady) and when it is done (reason RolloutComplete). A rollout stays Updating until its surge
//    groups are gone (the groups beyond spec.replicas of an Updating status are its surge groups);
//  - ReplicaFailure: True when some pod is failing (phase Failed, a container waiting in CrashLoopBackOff,
//    ImagePullBackOff and the like); the Model controller reports Failed when this holds with no ready replica.
// Warm-pool groups (plan.ts: labelled warm, not routed) are left out of every count and reported as `warmReplicas`
// (those all ready): `readyReplicas` is what the gateway routes to, so the autoscaler and the scale subresource never
// take the pool for capacity. A claimed group counts once its warm label is gone (awake and routed).
import { MODELINFER_NAME_LABEL } from '../../api/labels.ts';
import type { KubeObject } from '../../api/admission.ts';
import type { ModelInferStatus } from '../../api/kinds/index.ts';
import { nowTime, setConditions, type ConditionInput } from '../../kube/objects.ts';
import { resolveFenceposts } from '../../api/kinds/index.ts';
import { groupStates, keptEnd, type PlanInput, type PodState } from './plan.ts';

/** Container waiting reasons that mean the pod will not become ready by itself. */
export const FAILING_REASONS = new Set([
  'CrashLoopBackOff',
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'CreateContainerError',
  'CreateContainerConfigError',
  'RunContainerError',
  'StartError',
]);

interface ContainerStatus {
  name?: string;
  ready?: boolean;
  restartCount?: number;
  state?: { waiting?: { reason?: string; message?: string }; terminated?: { reason?: string; exitCode?: number } };
}

/** Why a pod is failing, or undefined. */
export function podFailure(pod: KubeObject): string | undefined {
  const status = pod.status as { phase?: string; reason?: string; containerStatuses?: ContainerStatus[] } | undefined;
  if (status?.phase === 'Failed') return status.reason ? `Failed (${status.reason})` : 'Failed';
  for (const c of status?.containerStatuses ?? []) {
    const waiting = c.state?.waiting?.reason;
    if (waiting && FAILING_REASONS.has(waiting)) return `${c.name ?? 'container'}: ${waiting}`;
    if (!c.ready && (c.restartCount ?? 0) >= 3 && c.state?.terminated) return `${c.name ?? 'container'}: restarted ${c.restartCount} times`;
  }
  return undefined;
}

export function labelSelectorFor(name: string): string {
  return `${MODELINFER_NAME_LABEL}=${name}`;
}

export interface StatusInput extends PlanInput {
  generation: number | undefined;
  previous: ModelInferStatus | undefined;
}

export function computeModelInferStatus(input: StatusInput, now: string = nowTime()): ModelInferStatus {
  const desired = input.replicas;
  const all = groupStates(input);
  const { end } = keptEnd(input, all);
  // The pool: warm groups at the current revision within the kept indexes.
  const pool = new Set(all.filter((g) => g.warm && !g.outdated && g.group >= desired && g.group < end).map((g) => g.group));
  const groups = all.filter((g) => !g.warm);
  const desiredGroups = all.filter((g) => g.group < desired);
  const beyond = all.filter((g) => g.group >= desired && !pool.has(g.group));
  const active = input.pods.filter((p) => !p.deleting);
  const replicas = groups.filter((g) => g.pods.length > 0).length;
  const readyReplicas = groups.filter((g) => g.ready).length;
  const updatedReplicas = groups.filter((g) => g.updated).length;
  const warmReplicas = all.filter((g) => pool.has(g.group) && g.ready).length;
  const desiredUpdated = desiredGroups.filter((g) => g.updated).length;
  const desiredReady = desiredGroups.filter((g) => g.serving).length;
  const { maxUnavailable } = resolveFenceposts(input, desired);
  const minAvailable = desired === 0 ? 0 : Math.max(1, desired - maxUnavailable);
  const failing = active.filter((p): p is PodState & { failure: string } => !!p.failure);

  const available: ConditionInput =
    readyReplicas >= minAvailable
      ? { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: `${readyReplicas}/${desired} replicas ready` }
      : { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: `${readyReplicas}/${desired} replicas ready, ${minAvailable} required` };

  const wasUpdating = input.previous?.conditions?.some((c) => c.type === 'Progressing' && c.reason === 'Updating') ?? false;
  const surge = beyond.filter((g) => !g.outdated).length;
  let progressing: ConditionInput;
  if (desiredGroups.some((g) => g.outdated) || (wasUpdating && beyond.length > 0)) {
    const extra = beyond.length > 0 ? ` (${beyond.length} beyond spec.replicas, ${surge} of them at this revision)` : '';
    progressing = { type: 'Progressing', status: 'True', reason: 'Updating', message: `${desiredUpdated}/${desired} replicas updated to revision ${input.revision}${extra}` };
  } else if (beyond.length > 0 || input.pods.some((p) => p.group >= desired && !pool.has(p.group))) {
    progressing = { type: 'Progressing', status: 'True', reason: 'ScalingDown', message: `scaling down to ${desired} replicas` };
  } else if (desiredUpdated < desired) {
    progressing = { type: 'Progressing', status: 'True', reason: 'ScalingUp', message: `${desiredUpdated}/${desired} replicas created` };
  } else if (desiredReady < desired) {
    progressing = { type: 'Progressing', status: 'True', reason: 'WaitingForReady', message: `${desiredReady}/${desired} replicas ready` };
  } else {
    progressing = { type: 'Progressing', status: 'True', reason: 'RolloutComplete', message: `${desired} replicas at revision ${input.revision}` };
  }

  const failure: ConditionInput =
    failing.length > 0
      ? {
          type: 'ReplicaFailure',
          status: 'True',
          reason: 'PodFailing',
          message: failing
            .slice(0, 5)
            .map((p) => `${p.name}: ${p.failure}`)
            .join('; '),
        }
      : { type: 'ReplicaFailure', status: 'False', reason: 'NoFailures', message: '' };

  const conditions = setConditions(input.previous?.conditions, [available, progressing, failure], now, input.generation);
  return {
    ...(input.generation !== undefined ? { observedGeneration: input.generation } : {}),
    replicas,
    readyReplicas,
    updatedReplicas,
    availableReplicas: readyReplicas,
    ...(input.warm ? { warmReplicas } : {}),
    currentRevision: input.revision,
    labelSelector: labelSelectorFor(input.name),
    conditions,
  };
}
