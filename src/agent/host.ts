// What the runtime map needs to know about this host, and the default command of the simulated engine.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findExecutable } from './process.ts';
import type { HostInfo } from './runtime-map.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

let sglang: boolean | undefined;

export function localHostInfo(): HostInfo {
  return {
    hasExecutable: (name) => findExecutable(name) !== undefined,
    sglangAvailable: () => {
      if (sglang === undefined) {
        const r = spawnSync('python3', ['-c', 'import sglang'], { stdio: 'ignore', timeout: 60_000 });
        sglang = r.status === 0;
      }
      return sglang;
    },
    forceSimulated: process.env.MATRIXINFER_ENGINE === 'simulated',
  };
}

/** `<node> <repo>/src/cli/main.ts engine <args>`: the simulated engine, run by the same Node binary as the agent. */
export function defaultEngineCommand(args: string[]): { command: string; args: string[] } {
  return { command: process.execPath, args: [join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'engine', ...args] };
}
