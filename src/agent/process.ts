// Container processes: each runs detached in its own process group (so `kill -PGID` also reaches an engine's
// children), stdout and stderr appended to the container's log file, its pid recorded in a pid file under the pod
// directory so that a later agent can kill what an earlier one left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface ExitInfo {
  /** Exit code; 128+n for a process killed by signal n. */
  exitCode: number;
  signal?: NodeJS.Signals;
  /** Set when the process could not be started at all. */
  error?: string;
}

export interface ContainerProcess {
  pid: number | undefined;
  startedAtMs: number;
  exited: Promise<ExitInfo>;
  running(): boolean;
  /** Signals the whole process group. */
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after graceMs; resolves on exit. */
  stop(graceMs: number): Promise<ExitInfo>;
}

export interface PidRecord {
  pid: number;
  /** Field 22 of /proc/<pid>/stat, to tell the process from a later one that reused the pid. */
  procStart?: string;
  node: string;
  podUid: string;
  container: string;
  command: string;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };

export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  if (signal) return 128 + (SIGNALS[signal] ?? 0);
  return 0;
}

/** Resolves an executable like `execvp` would: a path as is, a bare name through PATH. */
export function findExecutable(name: string, pathEnv: string | undefined = process.env.PATH): string | undefined {
  const isFile = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (name.includes('/')) return isFile(name) ? name : undefined;
  for (const dir of (pathEnv ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    if (isFile(p)) return p;
  }
  return undefined;
}

export function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19]; // field 22 overall
  } catch {
    return undefined;
  }
}

export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function killGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    /* gone */
  }
}

export interface StartOptions {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  logPath: string;
  pidFile: string;
  record: Omit<PidRecord, 'pid' | 'procStart' | 'command'>;
}

export function startProcess(opts: StartOptions): ContainerProcess {
  mkdirSync(opts.cwd, { recursive: true });
  const startedAtMs = Date.now();
  const logFd = openSync(opts.logPath, 'a');
  let child: ChildProcess;
  let exitInfo: ExitInfo | undefined;
  let resolveExit!: (e: ExitInfo) => void;
  const exited = new Promise<ExitInfo>((r) => (resolveExit = r));
  const finish = (e: ExitInfo) => {
    if (exitInfo) return;
    exitInfo = e;
    rmSync(opts.pidFile, { force: true });
    resolveExit(e);
  };
  try {
    child = spawn(opts.command, opts.args, {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio: ['ignore', logFd, logFd],
    });
  } catch (err) {
    closeSync(logFd);
    finish({ exitCode: 128, error: (err as Error).message });
    return { pid: undefined, startedAtMs, exited, running: () => false, signal: () => {}, stop: () => exited };
  }
  closeSync(logFd);
  const pid = child.pid;
  if (pid !== undefined) {
    const rec: PidRecord = { ...opts.record, pid, command: [opts.command, ...opts.args].join(' ').slice(0, 500) };
    const ps = procStartTime(pid);
    if (ps) rec.procStart = ps;
    try {
      mkdirSync(join(opts.pidFile, '..'), { recursive: true });
      writeFileSync(opts.pidFile, JSON.stringify(rec));
    } catch {
      /* best effort */
    }
  }
  child.on('error', (err) => {
    // spawn failures (ENOENT, EACCES) arrive here without an exit event.
    if (child.pid === undefined) finish({ exitCode: 128, error: err.message });
  });
  child.on('exit', (code, signal) => {
    const e: ExitInfo = { exitCode: exitCodeOf(code, signal) };
    if (signal) e.signal = signal;
    // The leader is gone; make sure nothing of its group lingers (engines fork workers).
    if (pid !== undefined) killGroup(pid, 'SIGKILL');
    finish(e);
  });
  const proc: ContainerProcess = {
    pid,
    startedAtMs,
    exited,
    running: () => exitInfo === undefined,
    signal: (sig) => {
      if (pid !== undefined && exitInfo === undefined) killGroup(pid, sig);
    },
    stop: async (graceMs) => {
      if (exitInfo) return exitInfo;
      proc.signal('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((r) => {
        timer = setTimeout(() => {
          proc.signal('SIGKILL');
          r();
        }, Math.max(0, graceMs));
      });
      await Promise.race([exited, killed]);
      clearTimeout(timer);
      return exited;
    },
  };
  return proc;
}

/**
 * Kills processes recorded in pid files under `podsDir/<pod>/.agent/*.pid.json` by an earlier agent for `node`
 * (SIGTERM, then SIGKILL after graceMs) and removes the files. Returns how many process groups were signalled.
 */
export async function killStaleProcesses(podsDir: string, node: string, graceMs = 3000): Promise<number> {
  const groups: number[] = [];
  let podDirs: string[] = [];
  try {
    podDirs = readdirSync(podsDir);
  } catch {
    return 0;
  }
  for (const d of podDirs) {
    const dir = join(podsDir, d, '.agent');
    let files: string[] = [];
    try {
      files = readdirSync(dir).filter((f) => f.endsWith('.pid.json'));
    } catch {
      continue;
    }
    for (const f of files) {
      const file = join(dir, f);
      try {
        const rec = JSON.parse(readFileSync(file, 'utf8')) as PidRecord;
        if (rec.node && rec.node !== node) continue;
        if (Number.isInteger(rec.pid) && rec.pid > 1) {
          const now = procStartTime(rec.pid);
          // Leader alive but a different process (pid reused): not ours. Leader gone: the group may live on.
          const reused = now !== undefined && rec.procStart !== undefined && now !== rec.procStart;
          if (!reused && groupAlive(rec.pid)) {
            killGroup(rec.pid, 'SIGTERM');
            groups.push(rec.pid);
          }
        }
      } catch {
        /* unreadable record */
      }
      rmSync(file, { force: true });
    }
  }
  const deadline = Date.now() + graceMs;
  while (groups.some(groupAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const g of groups) if (groupAlive(g)) killGroup(g, 'SIGKILL');
  return groups.length;
}

export function pidFilePath(podDir: string, container: string): string {
  return join(podDir, '.agent', `${container}.pid.json`);
}
