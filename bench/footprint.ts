// Footprint: the resident memory of the local platform at rest. Starts the quickstart exactly as `npm start` does
// (`node src/cli/main.ts up -f examples/quickstart.yaml`, in a temporary MATRIXINFER_HOME on free ports), stops it
// and starts it again (what every `npm start` but a machine's first looks like), waits for a completion to succeed,
// lets it settle, and prints the RSS (VmRSS from /proc/<pid>/status) of every process in the tree under the `up`
// supervisor, named by component (supervisor, apiserver, controller-manager, agent, gateway, and one engine per
// pod), and the total. Then it scales the quickstart Model (`spec.runtime.replicas`) up, waits for every engine pod
// to be ready and serve, settles again and prints the table once more, with what each further replica adds. Each
// figure is the median of several samples taken a second apart.
//
// Targets (issue 9 §7): the whole tree with one engine at most 700 MiB; each further engine replica at most 120 MiB.
//
//   npm run bench -- footprint [--smoke] [--replicas 4] [--settle S] [--samples N] [--json FILE]
//
// --smoke: 2 replicas, shorter settling (CI). The platform's own logs stay in the temporary home while it runs and
// are printed when it fails to come up.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, until, watchUp } from '../test/support/platform.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MODEL_PATH = '/apis/registry.matrixinfer.ai/v1alpha1/namespaces/default/models/llama-7b';
const TARGET_FIRST_MIB = 700;
const TARGET_FURTHER_MIB = 120;

interface Options {
  smoke: boolean;
  replicas: number;
  settleMs: number;
  samples: number;
  json?: string;
}

function parseArgs(argv: string[]): Options {
  const smoke = argv.includes('--smoke');
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const replicas = Number(value('--replicas') ?? (smoke ? 2 : 4));
  if (!Number.isInteger(replicas) || replicas < 2) throw new Error('--replicas must be an integer ≥ 2');
  const json = value('--json');
  return {
    smoke,
    replicas,
    settleMs: Number(value('--settle') ?? (smoke ? 3 : 10)) * 1000,
    samples: Number(value('--samples') ?? (smoke ? 2 : 3)),
    ...(json ? { json } : {}),
  };
}

// ---- the process tree ------------------------------------------------------------------------------------------

interface Proc {
  pid: number;
  name: string;
  rssKiB: number;
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined; // exited meanwhile
  }
}

/** Every descendant of `root` (and root itself), from the parent pid in /proc/<pid>/stat. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = readProc(pid, 'stat');
    if (!stat) continue;
    // The command name (field 2) may hold spaces and parentheses: the fields after it start at the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

const COMPONENTS = ['apiserver', 'controller-manager', 'agent', 'gateway', 'engine'];

/** The component a process runs, from its command line (`main.ts <component> ...`); engines by their pod's IP. */
function componentOf(pid: number, root: number, podsByIp: Map<string, string>): string {
  if (pid === root) return 'supervisor';
  const args = (readProc(pid, 'cmdline') ?? '').split('\0');
  const at = args.findIndex((a) => a.endsWith('src/cli/main.ts'));
  const component = at >= 0 ? args[at + 1] : undefined;
  if (component === 'engine') {
    const ip = args[args.lastIndexOf('--host') + 1] ?? '';
    return `engine ${podsByIp.get(ip) ?? ip}`;
  }
  if (component !== undefined && COMPONENTS.includes(component)) return component;
  return args.filter(Boolean).join(' ').slice(0, 40);
}

function rssKiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readProc(pid, 'status') ?? '');
  return match ? Number(match[1]) : 0;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The tree's processes with the median RSS of `samples` readings a second apart. */
async function measure(root: number, podsByIp: Map<string, string>, samples: number): Promise<Proc[]> {
  const readings = new Map<number, { name: string; rss: number[] }>();
  for (let i = 0; i < samples; i++) {
    if (i > 0) await sleep(1000);
    for (const pid of descendants(root)) {
      const rss = rssKiB(pid);
      if (rss === 0) continue;
      const entry = readings.get(pid) ?? { name: componentOf(pid, root, podsByIp), rss: [] };
      entry.rss.push(rss);
      readings.set(pid, entry);
    }
  }
  const order = (name: string) => {
    const i = ['supervisor', ...COMPONENTS].findIndex((c) => name === c || name.startsWith(c + ' '));
    return i < 0 ? 99 : i;
  };
  return [...readings.entries()]
    .map(([pid, { name, rss }]) => ({ pid, name, rssKiB: median(rss) }))
    .sort((a, b) => order(a.name) - order(b.name) || a.name.localeCompare(b.name));
}

const mib = (kib: number) => (kib / 1024).toFixed(1);
const total = (procs: Proc[]) => procs.reduce((sum, p) => sum + p.rssKiB, 0);

function printTable(title: string, procs: Proc[]): void {
  const width = Math.max(20, ...procs.map((p) => p.name.length));
  const lines = [title, `  ${'process'.padEnd(width)} ${'pid'.padStart(8)} ${'RSS MiB'.padStart(9)}`];
  for (const p of procs) lines.push(`  ${p.name.padEnd(width)} ${String(p.pid).padStart(8)} ${mib(p.rssKiB).padStart(9)}`);
  lines.push(`  ${'total'.padEnd(width)} ${''.padStart(8)} ${mib(total(procs)).padStart(9)}`);
  process.stdout.write(lines.join('\n') + '\n\n');
}

/** The `up` process: `pid` itself when the shell exec'd it, else the shell's child running `main.ts up`. */
function supervisorPid(pid: number): number {
  for (const candidate of descendants(pid)) {
    const args = (readProc(candidate, 'cmdline') ?? '').split('\0');
    const at = args.findIndex((a) => a.endsWith('src/cli/main.ts'));
    if (at >= 0 && args[at + 1] === 'up') return candidate;
  }
  throw new Error('no `matrixinfer up` process under the started shell');
}

// ---- the platform ----------------------------------------------------------------------------------------------

interface Pod {
  metadata: { name: string };
  status?: { podIP?: string; conditions?: Array<{ type: string; status: string }> };
}

async function readyPods(api: string): Promise<Map<string, string>> {
  const response = await fetch(`${api}/api/v1/namespaces/default/pods`);
  if (!response.ok) throw new Error(`listing pods: ${response.status}`);
  const list = (await response.json()) as { items: Pod[] };
  const byIp = new Map<string, string>();
  for (const pod of list.items) {
    const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    if (ready && pod.status?.podIP) byIp.set(pod.status.podIP, pod.metadata.name);
  }
  return byIp;
}

async function completion(gateway: string): Promise<boolean> {
  const response = await fetch(`${gateway}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'llama-7b', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 8 }),
  });
  await response.arrayBuffer();
  return response.status === 200;
}

/**
 * `npm start`'s own command line (package.json) with free ports added, run as npm runs it: by sh, with
 * node_modules/.bin first on PATH. The measured tree is the supervisor's (`supervisorPid`): npm and sh are not.
 */
function startCommand(ports: Ports): { command: string; args: string[]; env: NodeJS.ProcessEnv } {
  const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts;
  const extra = ['--gateway-port', String(ports.gateway), '--gateway-tls-port', String(ports.gatewayTls), '--gateway-grpc-port', String(ports.gatewayGrpc), '--apiserver-port', String(ports.apiserver)];
  const path = `${join(ROOT, 'node_modules', '.bin')}:${dirname(process.execPath)}:${process.env.PATH ?? ''}`;
  return { command: 'sh', args: ['-c', `${scripts.start} "$@"`, 'sh', ...extra], env: { ...process.env, PATH: path } };
}

interface Ports {
  gateway: number;
  gatewayTls: number;
  gatewayGrpc: number;
  apiserver: number;
}

function startUp(home: string, ports: Ports): { child: ChildProcess; up: Promise<void>; output: () => string } {
  const { command, args, env } = startCommand(ports);
  const child = spawn(command, args, { cwd: ROOT, env: { ...env, MATRIXINFER_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
  return { child, ...watchUp(child) };
}

/** SIGTERM to the supervisor (a shell does not pass it on), and wait for the shell to end with it. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let target = child.pid!;
  try {
    target = supervisorPid(child.pid!);
  } catch {
    // not started yet: the shell itself
  }
  process.kill(target, 'SIGTERM');
  const timer = setTimeout(() => process.kill(target, 'SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

export async function run(argv: string[]): Promise<void> {
  const options = parseArgs(argv);
  const home = mkdtempSync(join(tmpdir(), 'matrixinfer-footprint-'));
  const ports: Ports = { gateway: await freePort(), gatewayTls: await freePort(), gatewayGrpc: await freePort(), apiserver: await freePort() };
  const gateway = `http://127.0.0.1:${ports.gateway}`;
  const api = `http://127.0.0.1:${ports.apiserver}`;
  let platform = startUp(home, ports);
  const interrupt = () => void stop(platform.child).then(() => process.exit(130));
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    // The first start on a machine fills the compile cache ($MATRIXINFER_HOME/cache/node) and pays for the
    // TypeScript stripper in every process; every later `npm start` does not. The second start is measured.
    let started = Date.now();
    await platform.up;
    await until('a first completion', () => completion(gateway), 60_000, 200);
    process.stdout.write(`first start (fills the compile cache) serving in ${((Date.now() - started) / 1000).toFixed(1)} s; stopping it\n`);
    await stop(platform.child);
    platform = startUp(home, ports);
    started = Date.now();
    await platform.up;
    await until('a first completion', () => completion(gateway), 60_000, 200);
    process.stdout.write(`second start serving in ${((Date.now() - started) / 1000).toFixed(1)} s; settling ${options.settleMs / 1000} s\n\n`);
    await sleep(options.settleMs);
    const root = supervisorPid(platform.child.pid!);
    const one = await measure(root, await readyPods(api), options.samples);
    printTable('one engine replica', one);

    const patch = await fetch(`${api}${MODEL_PATH}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ spec: { runtime: { replicas: options.replicas } } }),
    });
    if (!patch.ok) throw new Error(`scaling the Model: ${patch.status} ${await patch.text()}`);
    await until(`${options.replicas} ready engines`, async () => (await readyPods(api)).size === options.replicas, 120_000, 200);
    // Every replica serves at least once (the gateway picks the least loaded; a few rounds reach them all).
    for (let i = 0; i < options.replicas * 4; i++) await completion(gateway);
    await sleep(options.settleMs);
    const many = await measure(root, await readyPods(api), options.samples);
    printTable(`${options.replicas} engine replicas`, many);

    const firstTotal = total(one) / 1024;
    const further = (total(many) - total(one)) / 1024 / (options.replicas - 1);
    const engines = many.filter((p) => p.name.startsWith('engine'));
    const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
    process.stdout.write(
      [
        `targets:`,
        `  whole tree, one engine:   ${firstTotal.toFixed(1)} MiB (target ≤ ${TARGET_FIRST_MIB} MiB) ${verdict(firstTotal <= TARGET_FIRST_MIB)}`,
        `  each further replica:     ${further.toFixed(1)} MiB (target ≤ ${TARGET_FURTHER_MIB} MiB) ${verdict(further <= TARGET_FURTHER_MIB)}` +
          `  [engine processes: mean ${mib(total(engines) / engines.length)} MiB]`,
        '',
      ].join('\n'),
    );
    if (options.json) {
      const rows = (procs: Proc[]) => procs.map((p) => ({ name: p.name, rssMiB: Number(mib(p.rssKiB)) }));
      writeFileSync(options.json, JSON.stringify({ one: rows(one), many: rows(many), replicas: options.replicas, firstTotalMiB: firstTotal, furtherReplicaMiB: further }, null, 2));
    }
  } catch (error) {
    process.stderr.write(platform.output() + '\n');
    throw error;
  } finally {
    await stop(platform.child);
    rmSync(home, { recursive: true, force: true });
  }
  process.exit(0);
}
