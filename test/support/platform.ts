// Test helpers: free ports, the `matrixinfer` CLI and kubectl as child processes, polling, an in-memory agent log.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../src/agent/log.ts';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { env: options.env ?? process.env, cwd: REPO, timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Run the `matrixinfer` CLI with the project's Node. */
export function matrixinfer(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<CommandResult> {
  return run(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN, ...args], options);
}

export function kubectl(kubeconfig: string, args: string[], options: { input?: string } = {}): Promise<CommandResult> {
  return run('kubectl', ['--kubeconfig', kubeconfig, ...args], options);
}

export { until } from '../../src/kube/testing/until.ts';

/** A node-agent Logger that appends `LEVEL message` lines to `lines` (debug messages dropped). */
export function memoryLogger(lines: string[]): Logger {
  return {
    info: (m) => lines.push(`INFO ${m}`),
    warn: (m) => lines.push(`WARN ${m}`),
    error: (m) => lines.push(`ERROR ${m}`),
    debug: () => {},
  };
}

/** Whether process `pid` still exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Start `matrixinfer up` as a child; resolves when it prints that it is up. */
export function startPlatform(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string; up: Promise<void> } {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN, 'up', ...args], { env, cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  return { child, ...watchUp(child) };
}

/** The output of a `matrixinfer up` child (stdout and stderr piped), and a promise of its saying it is up. */
export function watchUp(child: ChildProcess): { output: () => string; up: Promise<void> } {
  let output = '';
  const up = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('MatrixInfer is up')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`matrixinfer up exited with ${code}:\n${output}`)));
  });
  return { output: () => output, up };
}

/** SIGTERM a child process (a no-op when it is gone) and wait for it to exit; SIGKILL after `killAfterMs`. */
export async function stopProcess(child: ChildProcess | undefined, killAfterMs = 30_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  await exited;
  clearTimeout(timer);
}
