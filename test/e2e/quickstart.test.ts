// The README quick start from a clean clone, exactly as a new user runs it: `npm ci && npm start`, then curl and
// kubectl with the printed kubeconfig. Slow (npm ci), so it lives behind `npm run test:e2e`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, run, until, kubectl, freePort } from '../support/platform.ts';

const work = mkdtempSync(join(tmpdir(), 'matrixinfer-e2e-'));
const clone = join(work, 'matrixinfer');
const home = join(work, 'home');
let stop: (() => Promise<void>) | undefined;

after(async () => {
  await stop?.();
  rmSync(work, { recursive: true, force: true });
});

test('README quick start from a clean clone', { timeout: 600_000 }, async () => {
  const cloned = await run('git', ['clone', '--quiet', REPO, clone]);
  assert.equal(cloned.code, 0, cloned.stderr);
  const readme = readFileSync(join(clone, 'README.md'), 'utf8');
  assert.match(readme, /npm ci && npm start/);

  // The user's PATH, with whatever Node the machine has: the project must bring its own Node 24.
  const env: NodeJS.ProcessEnv = { ...process.env, MATRIXINFER_HOME: home };
  env.PATH = (env.PATH ?? '').split(':').filter((dir: string) => !dir.includes('node_modules')).join(':');
  const ci = await new Promise<{ code: number; output: string }>((resolve) => {
    const child = spawn('npm', ['ci', '--no-audit', '--no-fund'], { cwd: clone, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('exit', (code) => resolve({ code: code ?? 1, output }));
  });
  assert.equal(ci.code, 0, ci.output);

  // Other ports only if something on this machine already holds 8080 or 8081 (gRPC).
  const gatewayPort = await portOrDefault(8080);
  const defaults = gatewayPort === 8080 && (await portFree(8081));
  const started = Date.now();
  const args = defaults
    ? ['start']
    : ['start', '--', '--gateway-port', String(gatewayPort), '--gateway-tls-port', String(await freePort()), '--gateway-grpc-port', String(await freePort()), '--apiserver-port', String(await freePort())];
  const child = spawn('npm', args, { cwd: clone, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(-child.pid!, 'SIGINT');
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  };

  const body = JSON.stringify({ model: 'llama-7b', messages: [{ role: 'user', content: 'Hello' }] });
  const completion = await until('a completion through the gateway', async () => {
    const curl = await run('curl', ['-s', '-f', `http://127.0.0.1:${gatewayPort}/v1/chat/completions`, '-H', 'content-type: application/json', '-d', body]);
    return curl.code === 0 ? curl.stdout : undefined;
  }, 60_000, 200).catch((error: unknown) => {
    throw new Error(`${String(error)}\n--- npm start output ---\n${output}`);
  });
  const seconds = (Date.now() - started) / 1000;
  console.log(`npm start to first completion: ${seconds.toFixed(1)} s`);
  const parsed = JSON.parse(completion) as { choices: { message: { content: string } }[] };
  assert.ok(parsed.choices[0]!.message.content.length > 0);
  assert.match(output, new RegExp(`http://127\\.0\\.0\\.1:${gatewayPort}`));
  assert.match(output, /gRPC: 127\.0\.0\.1:\d+, cleartext and TLS/);
  assert.ok(output.includes(join(home, 'kubeconfig')), output);

  const listed = await kubectl(join(home, 'kubeconfig'), ['get', 'models,modelinfers,modelservers,modelroutes,autoscalingpolicies,autoscalingpolicybindings,pods', '-A']);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /pod\/llama-7b-0-server-0/);
});

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

async function portOrDefault(port: number): Promise<number> {
  try {
    await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(500) });
    return freePort();
  } catch {
    return port;
  }
}
