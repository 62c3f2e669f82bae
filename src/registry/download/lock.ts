// One download per cache entry at a time, across processes and pods of a node: an exclusive lock file beside the
// entry (`<entry>.lock`, created with O_EXCL) holding {pid, host, since}.
//
// Rules:
//  - The holder refreshes the file's mtime every staleMs/3 (a heartbeat); a lock is stale when its holder is on this
//    host and its pid is dead, or when its heartbeat is older than staleMs (a holder in another pod, whose pids this
//    one cannot see, that died). A stale lock is renamed away (atomic, so only one waiter takes it) and retried.
//  - Waiters poll every pollMs; the caller re-reads the manifest once it holds the lock and skips what is done.
import { hostname } from 'node:os';
import { open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LockHolder {
  pid: number;
  host: string;
  since: string;
}

export interface LockOptions {
  staleMs: number;
  pollMs: number;
  signal?: AbortSignal;
  /** Called once per poll while another process holds the lock. */
  onWait?: (holder: LockHolder | undefined) => void;
}

export interface Lock {
  release(): Promise<void>;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether a lock held by `holder` with heartbeat `mtimeMs` is stale at `now` (pure apart from the pid probe). */
export function isStale(holder: LockHolder | undefined, mtimeMs: number, now: number, staleMs: number, host = hostname(), alive = pidAlive): boolean {
  if (now - mtimeMs > staleMs) return true;
  if (holder === undefined) return false; // being written right now
  return holder.host === host && !alive(holder.pid);
}

export async function acquireLock(path: string, options: LockOptions): Promise<Lock> {
  for (;;) {
    options.signal?.throwIfAborted();
    const me: LockHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(JSON.stringify(me));
      await handle.close();
      const beat = setInterval(() => {
        const now = new Date();
        utimes(path, now, now).catch(() => {});
      }, Math.max(100, Math.floor(options.staleMs / 3)));
      beat.unref();
      return {
        async release() {
          clearInterval(beat);
          await unlink(path).catch(() => {});
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder: LockHolder | undefined;
    let mtimeMs: number;
    try {
      const text = await readFile(path, 'utf8');
      try {
        holder = JSON.parse(text) as LockHolder;
      } catch {
        holder = undefined;
      }
      mtimeMs = (await stat(path)).mtimeMs;
    } catch {
      continue; // released meanwhile
    }
    if (isStale(holder, mtimeMs, Date.now(), options.staleMs)) {
      await rename(path, `${path}.stale-${process.pid}`).then(
        () => unlink(`${path}.stale-${process.pid}`).catch(() => {}),
        () => {},
      );
      continue;
    }
    options.onWait?.(holder);
    await sleep(options.pollMs, undefined, options.signal ? { signal: options.signal } : undefined);
  }
}
