// Model status as a pure function of what the reconcile saw.
//
// Phase rules:
//  - Failed  when a child could not be created or updated for a reason retrying will not fix (the API server
//            rejected it, or an object of that name belongs to someone else), or when the workload fails: the
//            ModelInfer has no ready replica and reports ReplicaFailure=True (crash-looping, unpullable image,
//            failed pods);
//  - Ready   when the ModelInfer has at least one ready replica (one replica can serve; `readyReplicas` says
//            how many of `replicas` are ready);
//  - Pending otherwise (children being created, pods starting, transient API errors being retried).
import type { Model, ModelInfer, ModelStatus } from '../../api/kinds/index.ts';
import { findCondition, setConditions, nowTime, type ConditionInput } from '../../kube/objects.ts';

export interface ChildError {
  kind: string;
  message: string;
  /** Retrying will not help until something else changes. */
  permanent: boolean;
}

export interface ModelObservation {
  childErrors: readonly ChildError[];
  modelInfer: ModelInfer | undefined;
}

export function computeModelStatus(model: Model, observed: ModelObservation, now: string = nowTime()): ModelStatus {
  const generation = model.metadata.generation;
  const mi = observed.modelInfer;
  const replicas = mi?.status?.replicas ?? 0;
  const readyReplicas = mi?.status?.readyReplicas ?? 0;
  const desiredReplicas = mi?.spec?.replicas ?? 0;
  const failure = findCondition(mi?.status?.conditions, 'ReplicaFailure');
  const workloadFailed = !!mi && readyReplicas === 0 && failure?.status === 'True';
  const permanent = observed.childErrors.filter((e) => e.permanent);

  const synced: ConditionInput =
    observed.childErrors.length === 0
      ? { type: 'ChildrenSynced', status: 'True', reason: 'Synced', message: 'ModelInfer, ModelServer, ModelRoute, AutoscalingPolicy and AutoscalingPolicyBinding are up to date' }
      : {
          type: 'ChildrenSynced',
          status: 'False',
          reason: permanent.length > 0 ? 'SyncFailed' : 'SyncRetrying',
          message: observed.childErrors.map((e) => `${e.kind}: ${e.message}`).join('; '),
        };

  let phase: 'Pending' | 'Ready' | 'Failed';
  let ready: ConditionInput;
  if (permanent.length > 0) {
    phase = 'Failed';
    ready = { type: 'Ready', status: 'False', reason: 'ChildrenFailed', message: permanent.map((e) => `${e.kind}: ${e.message}`).join('; ') };
  } else if (readyReplicas >= 1) {
    phase = 'Ready';
    ready = { type: 'Ready', status: 'True', reason: 'ModelReady', message: `${readyReplicas}/${desiredReplicas} replicas ready` };
  } else if (workloadFailed) {
    phase = 'Failed';
    ready = { type: 'Ready', status: 'False', reason: 'WorkloadFailed', message: failure?.message || 'engine pods are failing' };
  } else {
    phase = 'Pending';
    ready = {
      type: 'Ready',
      status: 'False',
      reason: !mi ? 'ModelInferMissing' : desiredReplicas === 0 ? 'ScaledToZero' : 'ReplicasNotReady',
      message: !mi ? 'waiting for the ModelInfer to be created' : `${readyReplicas}/${desiredReplicas} replicas ready`,
    };
  }

  const conditions = setConditions(model.status?.conditions, [synced, ready], now, generation);
  return {
    phase,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    replicas,
    readyReplicas,
    conditions,
  };
}
