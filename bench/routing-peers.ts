// Peer routers of the routing benchmark (bench/routing.ts): SGLang's router and vLLM's Rust router, each with its
// `cache_aware` policy at its default thresholds (what a user gets), started as a child process in front of the same
// simulated engines (a static worker list: their URLs), then stopped. scripts/peer-routers.sh installs both from PyPI
// (pinned versions) into a virtualenv under ~/.cache/matrixinfer/peer-routers; this module only looks there.
//
// Readiness differs: vLLM's router listens only once every worker answered its health check, so a 200 from
// /v1/models means ready; SGLang's registers workers in the background after it listens, so we wait until its
// /workers list holds every engine as healthy.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { missingReason, scriptVersion } from '../test/support/system.ts';

export const PEERS = ['sglang-router', 'vllm-router'] as const;
export type PeerName = (typeof PEERS)[number];

/** The virtualenv scripts/peer-routers.sh makes (`MATRIXINFER_PEER_ROUTERS_CACHE` moves it, as for the script). */
export function peerVenv(): string {
  const cache = process.env.MATRIXINFER_PEER_ROUTERS_CACHE ?? join(homedir(), '.cache/matrixinfer/peer-routers');
  const sglang = scriptVersion('peer-routers.sh', 'SGLANG_ROUTER_VERSION');
  const vllm = scriptVersion('peer-routers.sh', 'VLLM_ROUTER_VERSION');
  return join(cache, `sglang-router-${sglang}-vllm-router-${vllm}`);
}

export function peerVersion(peer: PeerName): string {
  return scriptVersion('peer-routers.sh', peer === 'sglang-router' ? 'SGLANG_ROUTER_VERSION' : 'VLLM_ROUTER_VERSION');
}

/** Why `peer` cannot run here (naming what installs it), or undefined when it can. */
export function peerMissing(peer: PeerName): string | undefined {
  const venv = peerVenv();
  if (!existsSync(join(venv, '.complete'))) return `needs ${peer}, not installed (bash scripts/peer-routers.sh installs it)`;
  return missingReason(peer, join(venv, 'bin', peer));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface PeerHandle {
  url: string;
  close(): Promise<void>;
}

async function ready(peer: PeerName, url: string, workers: number): Promise<boolean> {
  try {
    if (peer === 'vllm-router') return (await fetch(url + '/v1/models', { signal: AbortSignal.timeout(2000) })).ok;
    const res = await fetch(url + '/workers', { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return false;
    const body = (await res.json()) as { workers?: Array<{ is_healthy?: boolean }> };
    return (body.workers ?? []).filter((w) => w.is_healthy === true).length >= workers;
  } catch {
    return false;
  }
}

/** Starts `peer` with its cache_aware policy in front of `workerUrls`; resolves once it routes to all of them. */
export async function startPeer(peer: PeerName, workerUrls: string[], log: (m: string) => void): Promise<PeerHandle> {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const module = peer === 'sglang-router' ? 'sglang_router.launch_router' : 'vllm_router.launch_router';
  const args = ['-m', module, '--host', '127.0.0.1', '--port', String(port), '--prometheus-host', '127.0.0.1', '--prometheus-port', String(metricsPort)];
  args.push('--worker-urls', ...workerUrls, '--policy', 'cache_aware', '--log-level', peer === 'sglang-router' ? 'warn' : 'warning');
  const child: ChildProcess = spawn(join(peerVenv(), 'bin', 'python'), args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const close = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  const deadline = Date.now() + 60_000;
  while (!(await ready(peer, url, workerUrls.length))) {
    if (child.exitCode !== null) throw new Error(`${peer} exited (${child.exitCode}): ${stderr}`);
    if (Date.now() > deadline) {
      await close();
      throw new Error(`${peer} did not route to ${workerUrls.length} workers within 60 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  log(`routing bench: ${peer} ${peerVersion(peer)} (cache_aware) on ${url}`);
  return { url, close };
}
