// What the runtime map needs to know about this host, and the default commands of the simulated engine and of the
// `matrixinfer` components (gateway and controller-manager images).
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

/**
 * Node flags of the simulated engine. A 2 MiB semi-space (V8's default grows to 16) saves each replica about
 * 20 MiB of young generation touched once while loading the tokenizer vocabulary; the engine benchmark
 * (`npm run bench -- engine`, which runs engines with these flags) shows no loss of latency or throughput.
 */
export const ENGINE_NODE_FLAGS = ['--max-semi-space-size=2'];

/** `<node> <repo>/src/cli/main.ts engine <args>`: the simulated engine, run by the same Node binary as the agent. */
export function defaultEngineCommand(args: string[]): { command: string; args: string[] } {
  return { command: process.execPath, args: [...ENGINE_NODE_FLAGS, join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'engine', ...args] };
}

/** `<node> <repo>/src/cli/main.ts <args>`: the component images' entry point (deploy/docker/Dockerfile), run here. */
export function defaultMatrixinferCommand(args: string[]): { command: string; args: string[] } {
  return { command: process.execPath, args: ['--disable-warning=ExperimentalWarning', join(REPO_ROOT, 'src', 'cli', 'main.ts'), ...args] };
}
