// Bounded retries with exponential back-off and full jitter. Pure decisions plus one small loop.
//
// Rules: at most `attempts` tries in all (default 5: waits of up to 0.5, 1, 2, 4 s, so a store that stays down fails
// within ~8 s of back-off plus the attempts themselves); only retryable DownloadErrors (StoreUnreachable, Stalled)
// are tried again — DNS failures count as StoreUnreachable and are bounded the same way, 401/403/404 never retry.
import { setTimeout as sleep } from 'node:timers/promises';
import { classify, type DownloadError } from './errors.ts';

export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 500, maxMs: 8_000 };

/** The wait before try number `attempt + 1` (attempt counts from 0): uniform in [0, min(max, base·2^attempt)). */
export function backoffMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(policy.maxMs, policy.baseMs * 2 ** attempt));
}

/** Whether to try again after `error` on try number `attempt` (from 0). */
export function shouldRetry(error: DownloadError, attempt: number, policy: RetryPolicy): boolean {
  return error.retryable && attempt + 1 < policy.attempts;
}

/** Runs `work` until it succeeds, fails for good, or `signal` aborts; throws the last DownloadError. */
export async function withRetries<T>(what: string, policy: RetryPolicy, signal: AbortSignal, work: (attempt: number) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work(attempt);
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      const error = classify(err, what);
      if (!shouldRetry(error, attempt, policy)) throw error;
      await sleep(backoffMs(attempt, policy), undefined, { signal });
    }
  }
}
