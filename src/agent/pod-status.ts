// Pod status as the kubelet computes it (phase from container states, the four standard conditions), and the
// minimal merge patch between what was last written and what should be there now. Pure.
import type { ContainerStatus, PodCondition, PodStatus, RestartPolicy } from './types.ts';

export interface PodSnapshot {
  podIP?: string;
  hostIP: string;
  startTime?: string;
  restartPolicy: RestartPolicy;
  /** Whether every (non-sidecar) init container completed successfully. */
  initialized: boolean;
  /** An init container failed and the restart policy is Never. */
  initFailed?: boolean;
  initContainerStatuses: ContainerStatus[];
  containerStatuses: ContainerStatus[];
  /** Init container names that are sidecars (restartPolicy Always): they do not block initialisation. */
  sidecars?: Set<string>;
}

export const OWNED_CONDITIONS = ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'];

/** The kubelet's getPhase. */
export function podPhase(s: PodSnapshot): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
  if (s.initFailed) return 'Failed';
  if (!s.initialized) return 'Pending';
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const c of s.containerStatuses) {
    const st = c.state ?? {};
    if (st.running) running++;
    else if (st.terminated) {
      stopped++;
      if (st.terminated.exitCode === 0) succeeded++;
    } else if (st.waiting) {
      if (c.lastState?.terminated) stopped++;
      else waiting++;
    } else waiting++;
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (s.restartPolicy === 'Always') return 'Running';
    if (s.restartPolicy === 'OnFailure') {
      // Still restarting unless every container terminated successfully.
      return succeeded === s.containerStatuses.length ? 'Succeeded' : 'Running';
    }
    return stopped - succeeded > 0 ? 'Failed' : 'Succeeded';
  }
  return 'Pending';
}

function condition(type: string, ok: boolean, reason?: string, message?: string): PodCondition {
  const c: PodCondition = { type, status: ok ? 'True' : 'False' };
  if (!ok && reason) c.reason = reason;
  if (!ok && message) c.message = message;
  return c;
}

/** Desired status; conditions keep `lastTransitionTime` from `previous` while their status is unchanged. */
export function buildPodStatus(s: PodSnapshot, previous: PodStatus | undefined, now: string): PodStatus {
  const phase = podPhase(s);
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const incompleteInit = s.initContainerStatuses
    .filter((c) => !s.sidecars?.has(c.name) && !(c.state?.terminated && c.state.terminated.exitCode === 0))
    .map((c) => c.name);
  const unready = s.containerStatuses.filter((c) => !c.ready).map((c) => c.name);
  const allReady = unready.length === 0 && !terminal;
  const readyReason = terminal ? 'PodCompleted' : 'ContainersNotReady';
  const readyMessage = terminal ? undefined : `containers with unready status: [${unready.join(' ')}]`;
  const mine: PodCondition[] = [
    condition('PodScheduled', true),
    condition('Initialized', s.initialized || (terminal && incompleteInit.length === 0), 'ContainersNotInitialized',
      `containers with incomplete status: [${incompleteInit.join(' ')}]`),
    condition('ContainersReady', allReady, readyReason, readyMessage),
    condition('Ready', allReady, readyReason, readyMessage),
  ];
  const prevConds = previous?.conditions ?? [];
  for (const c of mine) {
    const p = prevConds.find((x) => x.type === c.type);
    c.lastProbeTime = null;
    c.lastTransitionTime = p && p.status === c.status && p.lastTransitionTime ? p.lastTransitionTime : now;
  }
  // Conditions someone else owns (readiness gates, DisruptionTarget …) are kept.
  const foreign = prevConds.filter((c) => !OWNED_CONDITIONS.includes(c.type));
  const status: PodStatus = {
    phase,
    conditions: [...mine, ...foreign],
    hostIP: s.hostIP,
    hostIPs: [{ ip: s.hostIP }],
    containerStatuses: s.containerStatuses,
  };
  if (s.podIP) {
    status.podIP = s.podIP;
    status.podIPs = [{ ip: s.podIP }];
  }
  if (s.startTime) status.startTime = s.startTime;
  if (s.initContainerStatuses.length > 0) status.initContainerStatuses = s.initContainerStatuses;
  return status;
}

/** JSON with object keys sorted and null/undefined members dropped, for comparing wire objects. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (val && typeof val === 'object' && !Array.isArray(val)) {
      const o = val as Record<string, unknown>;
      return Object.fromEntries(Object.keys(o).sort().filter((k) => o[k] !== undefined && o[k] !== null).map((k) => [k, o[k]]));
    }
    return val;
  });
}

const PATCHED_FIELDS = ['phase', 'conditions', 'hostIP', 'hostIPs', 'podIP', 'podIPs', 'startTime', 'containerStatuses',
  'initContainerStatuses', 'message', 'reason'] as const;

/**
 * The merge patch (`{status: {...}}` body) turning `last` into `desired` for the fields the agent owns, or
 * undefined when nothing changed. Fields absent from `desired` but present in `last` are cleared with null.
 */
export function statusPatch(desired: PodStatus, last: PodStatus | undefined): { status: Record<string, unknown> } | undefined {
  const patch: Record<string, unknown> = {};
  for (const f of PATCHED_FIELDS) {
    const d = desired[f];
    const l = last?.[f];
    if (d === undefined) {
      if (l !== undefined && l !== null) patch[f] = null;
    } else if (canonical(d) !== canonical(l)) patch[f] = d;
  }
  return Object.keys(patch).length ? { status: patch } : undefined;
}
