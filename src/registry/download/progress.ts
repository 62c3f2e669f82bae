// Progress as the Model API's DownloadStatus (src/api/kinds/model.ts), built by pure functions from counters, and a
// throttle so that a chunk-by-chunk stream of updates reaches a sink (a Pod annotation, a file) at a bounded rate.
import type { DownloadStatus } from '../../api/kinds/model.ts';
import type { DownloadReason } from './errors.ts';

export interface Counters {
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
}

export function pending(message?: string): DownloadStatus {
  return { phase: 'Pending', ...(message ? { message } : {}) };
}

export function downloading(c: Counters): DownloadStatus {
  return { phase: 'Downloading', ...c };
}

export function complete(c: Counters, path: string, message?: string): DownloadStatus {
  return { phase: 'Complete', ...c, path, ...(message ? { message } : {}) };
}

export function failed(reason: DownloadReason, message: string, c?: Counters): DownloadStatus {
  return { phase: 'Failed', ...(c ?? {}), reason, message };
}

export const isFinal = (s: DownloadStatus): boolean => s.phase === 'Complete' || s.phase === 'Failed';

/**
 * Passes updates on to `sink` at most once per `intervalMs` (the latest one wins), and a final status (Complete,
 * Failed) at once. `flush()` resolves when the last delivery is done. A failing sink is ignored (progress reports
 * never fail a download).
 */
export function throttle(sink: (s: DownloadStatus) => Promise<void> | void, intervalMs: number): { push(s: DownloadStatus): void; flush(): Promise<void> } {
  let last = 0;
  let latest: DownloadStatus | undefined;
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<void> = Promise.resolve();
  const deliver = () => {
    timer = undefined;
    if (latest === undefined) return;
    const s = latest;
    latest = undefined;
    last = Date.now();
    chain = chain.then(() => sink(s)).catch(() => {});
  };
  return {
    push(s) {
      latest = s;
      if (isFinal(s)) {
        clearTimeout(timer);
        deliver();
        return;
      }
      if (timer !== undefined) return;
      const wait = Math.max(0, last + intervalMs - Date.now());
      if (wait === 0) deliver();
      else timer = setTimeout(deliver, wait);
    },
    async flush() {
      if (timer !== undefined) {
        clearTimeout(timer);
        deliver();
      }
      await chain;
    },
  };
}
