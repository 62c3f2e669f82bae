// ModelInfer status, pure: replica counts by group, the current revision, and three conditions:
//  - Available: at least max(1, replicas - maxUnavailable) groups ready (True when scaled to zero);
//  - Progressing: True while a rollout or scaling is under way (reason Updating/ScalingUp/ScalingDown/
//    WaitingForReady) and when it is done (reason RolloutComplete);
//  - ReplicaFailure: True when some pod is failing (phase Failed, a container waiting in CrashLoopBackOff,
//    ImagePullBackOff and the like); the Model controller reports Failed when this holds with no ready replica.
import { MODELINFER_NAME_LABEL } from '../../api/labels.ts';
import type { KubeObject } from '../../api/admission.ts';
import type { ModelInferStatus } from '../../api/kinds/index.ts';
import { nowTime, setConditions, type ConditionInput } from '../../kube/objects.ts';
import { groupStates, resolveMaxUnavailable, type PlanInput, type PodState } from './plan.ts';

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
  const groups = groupStates(input);
  const active = input.pods.filter((p) => !p.deleting);
  const existingGroups = new Set(active.map((p) => p.group));
  const readyReplicas = groups.filter((g) => g.ready).length;
  const updatedReplicas = groups.filter((g) => g.updated).length;
  const maxUnavailable = resolveMaxUnavailable(input.maxUnavailable, desired);
  const minAvailable = desired === 0 ? 0 : Math.max(1, desired - maxUnavailable);
  const failing = active.filter((p): p is PodState & { failure: string } => !!p.failure);

  const available: ConditionInput =
    readyReplicas >= minAvailable
      ? { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: `${readyReplicas}/${desired} replicas ready` }
      : { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: `${readyReplicas}/${desired} replicas ready, ${minAvailable} required` };

  let progressing: ConditionInput;
  if (updatedReplicas < desired && groups.some((g) => g.outdated)) {
    progressing = { type: 'Progressing', status: 'True', reason: 'Updating', message: `${updatedReplicas}/${desired} replicas updated to revision ${input.revision}` };
  } else if (existingGroups.size > desired || input.pods.some((p) => p.group >= desired)) {
    progressing = { type: 'Progressing', status: 'True', reason: 'ScalingDown', message: `scaling down to ${desired} replicas` };
  } else if (updatedReplicas < desired) {
    progressing = { type: 'Progressing', status: 'True', reason: 'ScalingUp', message: `${updatedReplicas}/${desired} replicas created` };
  } else if (readyReplicas < desired) {
    progressing = { type: 'Progressing', status: 'True', reason: 'WaitingForReady', message: `${readyReplicas}/${desired} replicas ready` };
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
    replicas: existingGroups.size,
    readyReplicas,
    updatedReplicas,
    availableReplicas: readyReplicas,
    currentRevision: input.revision,
    labelSelector: labelSelectorFor(input.name),
    conditions,
  };
}
