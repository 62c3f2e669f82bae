// Small client helpers for the agent: wire JSON, error codes, retries and a list-then-watch loop, all on top of
// @kubernetes/client-node so they behave the same against the embedded API server and kube-apiserver.
import { type KubeConfig, Watch } from '@kubernetes/client-node';
import type { Logger } from './log.ts';

/**
 * client-node's typed models turn timestamps into Date objects; a JSON round trip turns them back into RFC 3339
 * strings, which gives the wire form (field names of the core/v1 models are the wire names).
 */
export function wire<T>(obj: unknown): T {
  return JSON.parse(JSON.stringify(obj)) as T;
}

/** HTTP status of a failed API call (ApiException.code, Watch's statusCode), undefined for network errors. */
export function errCode(err: unknown): number | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

export function errMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = errCode(err);
  const body = (err as { body?: unknown }).body;
  let detail = '';
  if (body && typeof body === 'object' && 'message' in body) detail = String((body as { message: unknown }).message);
  else if (typeof body === 'string') {
    try {
      detail = String((JSON.parse(body) as { message?: unknown }).message ?? body);
    } catch {
      detail = body;
    }
  }
  if (code !== undefined) return `HTTP ${code}${detail ? `: ${detail}` : ''}`;
  return err.message;
}

/** Worth retrying: conflicts, throttling, server errors and network failures. */
export function retryable(err: unknown): boolean {
  const code = errCode(err);
  return code === undefined || code === 409 || code === 429 || code >= 500;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: T;
}

export interface ListWatchOptions<T> {
  kc: KubeConfig;
  /** Collection path, e.g. `/api/v1/pods`. */
  path: string;
  query: Record<string, string>;
  list: () => Promise<{ items: T[]; resourceVersion: string }>;
  /** A complete, fresh view (after the first list and every relist). */
  onList: (items: T[]) => void;
  onEvent: (ev: WatchEvent<T>) => void;
  log: Logger;
  name: string;
}

export interface ListWatchHandle {
  synced: Promise<void>;
  stop(): void;
}

/**
 * List, then watch from the list's resourceVersion; reconnect from the last seen resourceVersion (bookmarks
 * included) and relist on 410 Gone or any watch error event.
 */
export function listWatch<T extends { metadata?: { resourceVersion?: string } }>(o: ListWatchOptions<T>): ListWatchHandle {
  let stopped = false;
  let abort: AbortController | undefined;
  let wake: (() => void) | undefined;
  let resolveSynced!: () => void;
  const synced = new Promise<void>((r) => (resolveSynced = r));
  const watch = new Watch(o.kc);

  const pause = (ms: number) =>
    new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      wake = () => {
        clearTimeout(t);
        r();
      };
    });

  const watchOnce = (rv: string) =>
    new Promise<{ rv: string; relist: boolean; error?: unknown }>((resolve) => {
      let current = rv;
      let relist = false;
      let settled = false;
      const timeoutSeconds = 240 + Math.floor(Math.random() * 60);
      const finish = (error?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(guard);
        resolve({ rv: current, relist, error });
      };
      // Safety net for half-open connections the server never closes.
      const guard = setTimeout(() => {
        abort?.abort();
        finish();
      }, (timeoutSeconds + 30) * 1000);
      watch
        .watch(
          o.path,
          { ...o.query, resourceVersion: rv, allowWatchBookmarks: 'true', timeoutSeconds: String(timeoutSeconds) },
          (type: string, obj: T & { code?: number; message?: string }) => {
            if (settled) return;
            if (type === 'BOOKMARK') {
              current = obj?.metadata?.resourceVersion ?? current;
              return;
            }
            if (type === 'ERROR') {
              if (obj?.code !== 410) o.log.warn(`${o.name} watch error: ${obj?.code} ${obj?.message ?? ''}`);
              relist = true;
              abort?.abort();
              finish();
              return;
            }
            if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
            current = obj?.metadata?.resourceVersion ?? current;
            try {
              o.onEvent({ type, object: obj });
            } catch (err) {
              o.log.error(`${o.name} event handler failed: ${(err as Error).stack ?? String(err)}`);
            }
          },
          (err: unknown) => {
            if (errCode(err) === 410) relist = true;
            finish(err ?? undefined);
          },
        )
        .then((ac) => {
          abort = ac;
          if (stopped || settled) ac.abort();
        })
        .catch((err: unknown) => finish(err));
    });

  void (async () => {
    let failures = 0;
    while (!stopped) {
      let rv: string;
      try {
        const l = await o.list();
        if (stopped) return;
        rv = l.resourceVersion;
        o.onList(l.items);
        resolveSynced();
        failures = 0;
      } catch (err) {
        failures++;
        if (failures === 1 || failures % 10 === 0) o.log.warn(`${o.name} list failed: ${errMessage(err)}`);
        await pause(Math.min(500 * 2 ** Math.min(failures, 4), 5000));
        continue;
      }
      while (!stopped) {
        const began = Date.now();
        const r = await watchOnce(rv);
        if (stopped) return;
        // A server that ends watches at once must not make this a busy loop.
        if (Date.now() - began < 1000) await pause(1000);
        if (stopped) return;
        rv = r.rv;
        if (r.relist) break;
        if (r.error) {
          failures++;
          if (failures === 1 || failures % 10 === 0) o.log.warn(`${o.name} watch ended: ${errMessage(r.error)}`);
          await pause(Math.min(250 * 2 ** Math.min(failures, 4), 5000));
          if (failures >= 5) break; // relist after repeated failures
        } else failures = 0;
      }
    }
  })();

  return {
    synced,
    stop() {
      stopped = true;
      abort?.abort();
      wake?.();
    },
  };
}
