// Model status as a pure function of what the reconcile saw.
//
// Phase rules:
//  - Failed  when a child could not be created or updated for a reason retrying will not fix (the API server
//            rejected it, or an object of that name belongs to someone else), when the artifacts failed their scan
//            (UnsafeArtifact, InvalidArtifact, PolicyViolation: never served, whatever the engine), or when the
//            workload fails: no ready replica and either the download failed or the ModelInfer reports
//            ReplicaFailure=True (crash-looping, unpullable image, failed pods);
//  - Ready   when the ModelInfer has at least one ready replica (one replica can serve; `readyReplicas` says
//            how many of `replicas` are ready);
//  - Pending otherwise (children being created, pods starting, transient API errors being retried).
//
// Lifecycle (the seed's registered → validated → deprecated): Deprecated while spec.deprecated; Validated once the
// artifacts were fetched and scanned (download Complete) and the Model has not failed; Registered otherwise (an
// accepted Model, including one served by the simulated engine whose artifacts could not be fetched).
// Conditions besides Ready and ChildrenSynced: Downloaded (once a pod reported), Deprecated (only while deprecated).
import type { DownloadStatus, Lifecycle, Model, ModelInfer, ModelStatus } from '../../api/kinds/index.ts';
import { findCondition, setConditions, nowTime, type ConditionInput } from '../../kube/objects.ts';
import { downloadPercent } from './download-status.ts';
import { SCAN_FAILURES } from '../../registry/contract.ts';

export interface ChildError {
  kind: string;
  message: string;
  /** Retrying will not help until something else changes. */
  permanent: boolean;
}

export interface ModelObservation {
  childErrors: readonly ChildError[];
  modelInfer: ModelInfer | undefined;
  /** Over the engine pods (download-status.ts); undefined when none reported. */
  download?: DownloadStatus | undefined;
  /** The ControllerRevision number the spec is kept as (revisions.ts); undefined when it could not be written. */
  currentRevision?: number | undefined;
}

/** ChildrenSynced: True with `upToDate`, else the errors, SyncFailed when one of them is permanent. */
export function syncedCondition(childErrors: readonly ChildError[], upToDate: string): ConditionInput {
  if (childErrors.length === 0) return { type: 'ChildrenSynced', status: 'True', reason: 'Synced', message: upToDate };
  return {
    type: 'ChildrenSynced',
    status: 'False',
    reason: childErrors.some((e) => e.permanent) ? 'SyncFailed' : 'SyncRetrying',
    message: childErrors.map((e) => `${e.kind}: ${e.message}`).join('; '),
  };
}

/** Ready=False for children the API server will not take as they are. */
export function childrenFailed(permanent: readonly ChildError[]): ConditionInput {
  return { type: 'Ready', status: 'False', reason: 'ChildrenFailed', message: permanent.map((e) => `${e.kind}: ${e.message}`).join('; ') };
}

function downloadedCondition(d: DownloadStatus): ConditionInput {
  switch (d.phase) {
    case 'Complete':
      return { type: 'Downloaded', status: 'True', reason: 'Downloaded', message: d.path ? `artifacts at ${d.path}` : 'artifacts fetched and scanned' };
    case 'Failed':
      return { type: 'Downloaded', status: 'False', reason: d.reason || 'DownloadFailed', message: d.message || 'the download step failed' };
    default: {
      const percent = downloadPercent(d);
      const files = d.filesTotal !== undefined ? `, ${d.filesDone ?? 0}/${d.filesTotal} files` : '';
      return { type: 'Downloaded', status: 'False', reason: d.phase, message: percent === undefined ? d.phase.toLowerCase() : `${percent}%${files}` };
    }
  }
}

function progressText(d: DownloadStatus): string {
  const percent = downloadPercent(d);
  return d.phase === 'Failed' ? 'Failed' : percent === undefined ? d.phase : `${percent}%`;
}

export function deprecatedCondition(model: Model): ConditionInput {
  const { replacement, message } = model.spec.deprecation ?? {};
  const text = [message, replacement ? `use ${replacement} instead` : undefined].filter(Boolean).join('; ');
  return { type: 'Deprecated', status: 'True', reason: 'Deprecated', message: text || 'this model is deprecated' };
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
  const download = observed.download;
  const rejected = download?.phase === 'Failed' && SCAN_FAILURES.has(download.reason ?? '');
  const downloadFailed = download?.phase === 'Failed' && readyReplicas === 0;

  const synced = syncedCondition(observed.childErrors, 'ModelInfer, ModelServer, ModelRoute, AutoscalingPolicy and AutoscalingPolicyBinding are up to date');

  let phase: 'Pending' | 'Ready' | 'Failed';
  let ready: ConditionInput;
  if (permanent.length > 0) {
    phase = 'Failed';
    ready = childrenFailed(permanent);
  } else if (rejected || downloadFailed) {
    phase = 'Failed';
    ready = { type: 'Ready', status: 'False', reason: download!.reason || 'DownloadFailed', message: download!.message || 'the download step failed' };
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

  const deprecated = model.spec.deprecated === true;
  const inputs = [synced, ready, ...(download ? [downloadedCondition(download)] : []), ...(deprecated ? [deprecatedCondition(model)] : [])];
  const conditions = setConditions(model.status?.conditions, inputs, now, generation).filter((c) => deprecated || c.type !== 'Deprecated');
  const lifecycle: Lifecycle = deprecated ? 'Deprecated' : download?.phase === 'Complete' && phase !== 'Failed' ? 'Validated' : 'Registered';
  return {
    phase,
    lifecycle,
    ...(download ? { download: { ...download, progress: progressText(download) } } : {}),
    ...(observed.currentRevision !== undefined ? { currentRevision: observed.currentRevision } : {}),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    replicas,
    readyReplicas,
    conditions,
  };
}
