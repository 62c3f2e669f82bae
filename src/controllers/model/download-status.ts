// A Model's `status.download`, from its engine pods: pure.
//
// Each pod's download step reports on its own Pod (the DOWNLOAD_ANNOTATION, src/registry/contract.ts); where it has
// not (yet), the init container's state says as much as it can: waiting → Pending, running → Downloading, exited 0
// → Complete, exited non-zero → Failed with the termination message (`Reason: message`, written by the step).
// Over the pods: Failed if any failed (the first, by name, so the message is stable); Complete when all are; else the
// least advanced pod's progress, since the model is on every node only when the slowest is done (among pods that
// count bytes: one waiting for a download another pod of its node runs counts none).
import type { DownloadStatus } from '../../api/kinds/index.ts';
import { DOWNLOAD_ANNOTATION, DOWNLOAD_CONTAINER } from '../../registry/contract.ts';

export interface PodLike {
  metadata: { name?: string; annotations?: Record<string, string>; deletionTimestamp?: string };
  status?: {
    initContainerStatuses?: {
      name: string;
      state?: { waiting?: unknown; running?: unknown; terminated?: { exitCode: number; reason?: string; message?: string } };
    }[];
  };
}

const PHASES = new Set(['Pending', 'Downloading', 'Complete', 'Failed']);
/** Waiting reasons of a container that will not start by itself. */
const STUCK = new Set(['CreateContainerConfigError', 'ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'ImageNotRunnable']);

/** The annotation's JSON, if it is a DownloadStatus. */
export function reportedDownload(pod: PodLike): DownloadStatus | undefined {
  const text = pod.metadata.annotations?.[DOWNLOAD_ANNOTATION];
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as DownloadStatus;
    return value && typeof value === 'object' && PHASES.has(value.phase) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** `Reason: message` (the download step's termination message), else the container's own reason. */
function failureOf(terminated: { exitCode: number; reason?: string; message?: string }): { reason: string; message: string } {
  const match = /^([A-Z][A-Za-z]+): ([\s\S]*)$/.exec(terminated.message?.trim() ?? '');
  if (match) return { reason: match[1]!, message: match[2]!.trim() };
  return { reason: 'DownloadFailed', message: terminated.message?.trim() || `download step exited with code ${terminated.exitCode} (${terminated.reason ?? 'Error'})` };
}

export function podDownload(pod: PodLike): DownloadStatus | undefined {
  const reported = reportedDownload(pod);
  const init = pod.status?.initContainerStatuses?.find((s) => s.name === DOWNLOAD_CONTAINER);
  const terminated = init?.state?.terminated;
  // An exit code is final; a report may predate it (a crash after the last report).
  if (terminated && terminated.exitCode !== 0 && reported?.phase !== 'Failed') return { phase: 'Failed', ...failureOf(terminated) };
  if (reported) return reported;
  if (!init) return undefined;
  if (terminated) return { phase: 'Complete' };
  if (init.state?.running) return { phase: 'Downloading' };
  // The step could not even start: its Secret or a key is missing, or its image cannot run.
  const waiting = init.state?.waiting as { reason?: string; message?: string } | undefined;
  if (waiting?.reason && STUCK.has(waiting.reason)) {
    return { phase: 'Failed', reason: waiting.reason === 'CreateContainerConfigError' ? 'MissingCredentials' : waiting.reason, message: waiting.message || waiting.reason };
  }
  return { phase: 'Pending' };
}

function fraction(d: DownloadStatus): number {
  if (d.phase === 'Complete') return 1;
  if (!d.bytesTotal) return 0;
  return (d.bytesDone ?? 0) / d.bytesTotal;
}

/** The Model's download status over its pods; undefined when no pod says anything (none exist yet, or scaled to 0). */
export function modelDownload(pods: readonly PodLike[]): DownloadStatus | undefined {
  const reports = pods
    .filter((p) => !p.metadata.deletionTimestamp)
    .sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''))
    .map(podDownload)
    .filter((d): d is DownloadStatus => d !== undefined);
  if (reports.length === 0) return undefined;
  const failed = reports.find((d) => d.phase === 'Failed');
  if (failed) return failed;
  const complete = reports.filter((d) => d.phase === 'Complete');
  if (complete.length === reports.length) return complete.find((d) => d.bytesTotal !== undefined) ?? complete[0];
  // A pod that waits for another pod's download on its node (the cache entry's lock) has no byte counts of its own:
  // the least advanced download is taken among those that do, and only without any among all.
  const open = reports.filter((d) => d.phase !== 'Complete');
  const measured = open.filter((d) => d.bytesTotal !== undefined);
  return (measured.length > 0 ? measured : open).reduce((least, d) => (fraction(d) < fraction(least) ? d : least));
}

/** Whole percent done, for `matrixinfer get` and the progress bar; undefined without a byte total. */
export function downloadPercent(d: DownloadStatus | undefined): number | undefined {
  if (!d) return undefined;
  if (d.phase === 'Complete') return 100;
  if (!d.bytesTotal) return undefined;
  return Math.min(100, Math.floor((100 * (d.bytesDone ?? 0)) / d.bytesTotal));
}
