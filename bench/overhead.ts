// Benchmark 1, overhead: the same closed-loop load sent directly to simulated engines, through the MatrixInfer
// gateway, and through nginx (Debian's /usr/sbin/nginx, one worker, plain round-robin `upstream` with keepalive),
// for non-streaming small requests, streaming, and 32 KB / 220 KB prompts at 1, 64 and 512 concurrent requests.
// Prints req/s, p50/p99 latency, the latency each proxy adds over going direct, and gateway/nginx throughput.
//
//   node bench/overhead.ts [--smoke] [--duration S] [--workloads small,stream,32k,220k] [--concurrency 1,64,512]
//                          [--engines 2] [--targets direct,gateway,nginx] [--gateway-workers N] [--policy P] [--pin] [--json FILE]
//
// Every part runs in its own process on loopback: two engines (near-zero latency model, so what is measured is
// transport and proxy cost), the gateway (createCore over a hand-built world: the informers don't matter for the
// hot path), nginx, and the load generator (undici, µs timing, bounded by --duration). Targets (the issue): the
// gateway adds < 1 ms at p50 for small requests at 64 concurrent and sustains ≥ 0.5× nginx's req/s.
// On a 2-core machine all of them share the cores, so absolute figures are modest; the comparison is what counts.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { missingReason, requireAll } from '../test/support/system.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const NGINX = '/usr/sbin/nginx';
const ENGINE_IPS = ['127.0.0.61', '127.0.0.62', '127.0.0.63', '127.0.0.64'];
const MODEL = 'bench-model';

interface Workload {
  name: string;
  body: Buffer;
}

function prompt(bytes: number): string {
  const words = 'the quick brown fox jumps over a lazy dog while seven wizards quietly hex jumbo pies '.split(' ');
  let s = '';
  for (let i = 0; s.length < bytes; i++) s += words[(i * 7 + (i >> 3)) % words.length] + ' ';
  return s.slice(0, bytes);
}

function workloads(names: string[]): Workload[] {
  const all: Record<string, () => unknown> = {
    small: () => ({ model: MODEL, prompt: 'Say hello to the benchmark.', max_tokens: 4 }),
    stream: () => ({ model: MODEL, prompt: 'Stream a few tokens.', max_tokens: 16, stream: true }),
    '32k': () => ({ model: MODEL, prompt: prompt(32 * 1024), max_tokens: 4 }),
    '220k': () => ({ model: MODEL, prompt: prompt(220 * 1024), max_tokens: 4 }),
  };
  return names.map((n) => {
    const make = all[n];
    if (!make) throw new Error(`unknown workload ${n} (small, stream, 32k, 220k)`);
    return { name: n, body: Buffer.from(JSON.stringify(make())) };
  });
}

// ---- processes -----------------------------------------------------------------------------------------------

const children: ChildProcess[] = [];

/**
 * --pin: the proxy under test (gateway or nginx) runs alone on CPU 0 and everything else (engines, load generator)
 * on the other CPUs, for every target including direct — as in production, where the gateway does not share its
 * cores with the engines and the clients. Without it, every process shares every core.
 */
type Role = 'proxy' | 'rest';
let pinning: Record<Role, string> | null = null;

function start(cmd: string, args: string[], name: string, role: Role = 'rest'): ChildProcess {
  const [file, argv] = pinning === null ? [cmd, args] : ['taskset', ['-c', pinning[role], cmd, ...args]];
  const child = spawn(file, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  child.on('exit', (code, signal) => {
    if (!stopping && code !== 0) process.stderr.write(`${name} exited (${code ?? signal}): ${err}\n`);
  });
  children.push(child);
  return child;
}

let stopping = false;
function stopAll(): void {
  stopping = true;
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
}

async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function waitHttp(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status < 500) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not come up`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function node(args: string[], name: string, role: Role = 'rest'): ChildProcess {
  return start(process.execPath, ['--disable-warning=ExperimentalWarning', ...args], name, role);
}

async function startEngines(n: number, port: number): Promise<string[]> {
  const urls: string[] = [];
  for (let i = 0; i < n; i++) {
    const ip = ENGINE_IPS[i]!;
    node(
      [
        'src/cli/main.ts', 'engine', MODEL, '--host', ip, '--port', String(port), '--startup-seconds', '0',
        // Near-zero latency: what remains is the engine's own request handling.
        '--time-to-first-token-ms', '0', '--inter-token-latency-ms', '0', '--inter-token-latency-per-seq-ms', '0', '--prefill-time-per-token-ms', '0',
        '--max-num-seqs', '1024', '--max-num-batched-tokens', '1000000', '--max-model-len', '200000', '--num-gpu-blocks', '4000000',
      ],
      `engine ${ip}`,
    );
    urls.push(`http://${ip}:${port}`);
  }
  await Promise.all(urls.map((u) => waitHttp(u + '/health')));
  return urls;
}

async function startGatewayProcess(enginePort: number, n: number, workers: number, policy: string | undefined): Promise<{ url: string; pid: number | undefined }> {
  const port = await freePort();
  const extra = process.env.OVERHEAD_GATEWAY_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = node(
    [...extra, SELF, '--role', 'gateway', '--port', String(port), '--engine-port', String(enginePort), '--engines', String(n), '--gateway-workers', String(workers), ...(policy ? ['--policy', policy] : [])],
    'gateway',
    'proxy',
  );
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(url + '/ready');
  return { url, pid: child.pid };
}

async function startNginx(engineUrls: string[], dir: string): Promise<{ url: string; pid: number | undefined }> {
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'client_body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  client_max_body_size 16m;
  client_body_buffer_size 1m;
  keepalive_requests 1000000;
  upstream engines {
${engineUrls.map((u) => `    server ${u.slice(7)};`).join('\n')}
    keepalive 1024;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://engines;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering on;
    }
  }
}
`,
  );
  chmodSync(dir, 0o755);
  const child = start(NGINX, ['-c', conf, '-p', dir, '-e', join(dir, 'error.log')], 'nginx', 'proxy');
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(url + '/health');
  return { url, pid: child.pid };
}

// ---- CPU time of the proxy processes (Linux /proc; NaN elsewhere) --------------------------------------------

interface CpuTime {
  user: number;
  system: number;
}

/** User and system CPU seconds of `pid` and its child processes (nginx: the master and its worker). */
function cpuSeconds(pid: number | undefined): CpuTime {
  if (pid === undefined || !existsSync('/proc/self/stat')) return { user: NaN, system: NaN };
  const total: CpuTime = { user: 0, system: 0 };
  const add = (p: number): void => {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8');
      const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
      total.user += Number(rest[11]) / 100; // utime, USER_HZ
      total.system += Number(rest[12]) / 100; // stime
    } catch {
      // gone
    }
  };
  add(pid);
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(f.slice(f.lastIndexOf(')') + 2).split(' ')[1]) === pid) add(Number(d));
    } catch {
      // gone
    }
  }
  return total;
}

// ---- load generation (its own process) --------------------------------------------------------------------------

interface LoadResult {
  requests: number;
  /** Responses completed, warm-up included (for CPU per request). */
  total: number;
  /** CPU µs the proxy process spent per request (gateway, nginx), from /proc: user + system, and system alone. */
  cpuUs?: number;
  sysUs?: number;
  errors: number;
  non2xx: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/**
 * Closed loop: `connections` workers, each sending the body as soon as its previous response fully arrived. Requests
 * started after the warm-up and before the end are measured (slow ones are waited for, up to 60 s each), and the
 * rate is over the time until the last of them finished.
 */
async function generateLoad(urls: string[], connections: number, seconds: number, warmup: number, body: Buffer): Promise<LoadResult> {
  const pools = urls.map(
    (u) => new Pool(u, { connections: Math.ceil(connections / urls.length) + 1, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: 60_000, bodyTimeout: 60_000 }),
  );
  let last = 0;
  let lat = new Float64Array(1 << 16);
  let n = 0;
  let errors = 0;
  let non2xx = 0;
  let total = 0;
  const t0 = performance.now();
  const measureFrom = t0 + warmup * 1000;
  const end = measureFrom + seconds * 1000;
  const headers = { 'content-type': 'application/json', 'content-length': String(body.length) };
  async function worker(i: number): Promise<void> {
    const pool = pools[i % pools.length]!;
    while (performance.now() < end) {
      const s = performance.now();
      try {
        const res = await pool.request({ path: '/v1/completions', method: 'POST', headers, body });
        for await (const _ of res.body);
        const e = performance.now();
        total++;
        if (s >= measureFrom) {
          if (e > last) last = e;
          if (res.statusCode >= 300) non2xx++;
          if (n === lat.length) {
            const bigger = new Float64Array(lat.length * 2);
            bigger.set(lat);
            lat = bigger;
          }
          lat[n++] = e - s;
        }
      } catch {
        errors++;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  }
  await Promise.all(Array.from({ length: connections }, (_, i) => worker(i)));
  await Promise.all(pools.map((p) => p.destroy()));
  const sorted = lat.slice(0, n).sort();
  const elapsed = Math.max(end, last) - measureFrom;
  return { requests: n, total, errors, non2xx, seconds: elapsed / 1000, rps: n / (elapsed / 1000), p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
}

async function runLoad(urls: string[], connections: number, seconds: number, warmup: number, body: Buffer, dir: string, proxyPid?: number): Promise<LoadResult> {
  const cpu0 = cpuSeconds(proxyPid);
  const bodyFile = join(dir, `body-${body.length}.json`);
  if (!existsSync(bodyFile)) writeFileSync(bodyFile, body);
  const child = node([SELF, '--role', 'load', '--urls', urls.join(','), '--connections', String(connections), '--duration', String(seconds), '--warmup', String(warmup), '--body-file', bodyFile], 'load');
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  if (code !== 0) throw new Error(`load generator exited ${code}`);
  const r = JSON.parse(out) as LoadResult;
  if (proxyPid !== undefined) {
    const cpu1 = cpuSeconds(proxyPid);
    r.cpuUs = ((cpu1.user + cpu1.system - cpu0.user - cpu0.system) * 1e6) / r.total;
    r.sysUs = ((cpu1.system - cpu0.system) * 1e6) / r.total;
  }
  return r;
}

// ---- roles ------------------------------------------------------------------------------------------------------

async function gatewayRole(args: Map<string, string>): Promise<void> {
  // --gateway-workers N: N gateway processes sharing the port (node:cluster; the primary only accepts and hands
  // connections round-robin to the workers).
  const workers = Number(args.get('gateway-workers') ?? 1);
  if (workers > 1) {
    const cluster = (await import('node:cluster')).default;
    if (cluster.isPrimary) {
      for (let i = 0; i < workers; i++) cluster.fork();
      process.on('SIGTERM', () => {
        for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
        process.exit(0);
      });
      return;
    }
  }
  const { createCore } = await import('../src/gateway/gateway.ts');
  const { createGatewayServer } = await import('../src/gateway/http/server.ts');
  const { modelRoute, modelServer, pod, toServers } = await import('../src/gateway/testing/fixtures.ts');
  const n = Number(args.get('engines'));
  // With OTEL_EXPORTER_OTLP_ENDPOINT set (and passed on), the gateway traces as `matrixinfer gateway` does.
  const { startTracing } = await import('../src/kube/tracing.ts');
  const tracing = await startTracing('gateway');
  const core = createCore({ accessLog: false, maxBodyBytes: 16 * 1024 * 1024 });
  core.rebuild({
    servers: [modelServer('bench', { inferName: 'bench', service: { port: Number(args.get('engine-port')) }, ...(args.has('policy') ? { scheduling: { policy: args.get('policy') } } : {}) } as never)],
    routes: [modelRoute('bench', MODEL, [toServers('bench')])],
    pods: ENGINE_IPS.slice(0, n).map((ip, i) => pod(`bench-${i}`, 'bench', { ip })),
  });
  core.synced = true;
  const server = createGatewayServer(core);
  server.listen(Number(args.get('port')), '127.0.0.1');
  process.on('SIGTERM', () => void tracing.shutdown().then(() => process.exit(0)));
}

async function loadRole(args: Map<string, string>): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const r = await generateLoad(
    args.get('urls')!.split(','),
    Number(args.get('connections')),
    Number(args.get('duration')),
    Number(args.get('warmup')),
    readFileSync(args.get('body-file')!),
  );
  process.stdout.write(JSON.stringify(r));
}

// ---- the benchmark ----------------------------------------------------------------------------------------------

function parseArgs(argv: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) m.set(a.slice(2), 'true');
    else {
      m.set(a.slice(2), next);
      i++;
    }
  }
  return m;
}

const fmt = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : '—');
const cpu = (r: LoadResult): string => `${fmt(r.cpuUs ?? NaN, 0)} (${fmt(r.sysUs ?? NaN, 0)})`;

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  if (args.get('role') === 'gateway') return gatewayRole(args);
  if (args.get('role') === 'load') return loadRole(args);
  const smoke = args.has('smoke');
  const seconds = Number(args.get('duration') ?? (smoke ? 0.5 : 3));
  const warmup = smoke ? 0.2 : 0.5;
  const wl = workloads((args.get('workloads') ?? (smoke ? 'small,stream' : 'small,stream,32k,220k')).split(','));
  const conc = (args.get('concurrency') ?? (smoke ? '1,8' : '1,64,512')).split(',').map(Number);
  const nEngines = Math.min(ENGINE_IPS.length, Number(args.get('engines') ?? 2));
  const targets = new Set((args.get('targets') ?? 'direct,gateway,nginx').split(','));
  const nginxMissing = targets.has('nginx') ? missingReason('nginx', NGINX) : undefined;
  if (nginxMissing !== undefined && requireAll()) throw new Error(`MATRIXINFER_REQUIRE_ALL=1: the overhead benchmark ${nginxMissing}`);
  const withNginx = nginxMissing === undefined && targets.has('nginx');
  if (args.has('pin')) {
    const cpus = availableParallelism();
    if (cpus < 2) throw new Error('--pin needs at least 2 CPUs');
    pinning = { proxy: '0', rest: cpus === 2 ? '1' : `1-${cpus - 1}` };
  }
  const dir = mkdtempSync(join(tmpdir(), 'matrixinfer-overhead-'));
  process.on('exit', stopAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
  try {
    const enginePort = await freePort(ENGINE_IPS[0]);
    const engines = await startEngines(nEngines, enginePort);
    const gateway = await startGatewayProcess(enginePort, nEngines, Number(args.get('gateway-workers') ?? 1), args.get('policy'));
    const nginx = withNginx ? await startNginx(engines, dir) : undefined;
    process.stdout.write(
      `overhead: ${nEngines} engines, ${seconds} s per cell (+${warmup} s warm-up), closed loop; latency in ms; "+p50/+p99" = added over direct; ` +
        `${pinning === null ? 'all processes share all CPUs' : `proxy pinned to CPU ${pinning.proxy}, engines and load generator to CPU ${pinning.rest}`}\n` +
        (nginxMissing !== undefined ? `no nginx columns: the comparison ${nginxMissing}\n` : '') +
        '\n',
    );
    const header = withNginx
      ? '| workload | conc | direct req/s | p50 | p99 | gateway req/s | +p50 | +p99 | nginx req/s | +p50 | +p99 | gw/nginx req/s | gw CPU µs/req (sys) | nginx CPU µs/req (sys) |'
      : '| workload | conc | direct req/s | p50 | p99 | gateway req/s | +p50 | +p99 | gw CPU µs/req (sys) |';
    process.stdout.write(header + '\n' + header.replace(/[^|]/g, '-') + '\n');
    const rows: Array<Record<string, unknown>> = [];
    for (const w of wl) {
      for (const c of conc) {
        const skipped: LoadResult = { requests: 0, total: 0, errors: 0, non2xx: 0, seconds: 0, rps: NaN, p50: NaN, p99: NaN };
        const direct = targets.has('direct') ? await runLoad(engines, c, seconds, warmup, w.body, dir) : skipped;
        const gw = targets.has('gateway') ? await runLoad([gateway.url], c, seconds, warmup, w.body, dir, gateway.pid) : skipped;
        const ng = nginx && targets.has('nginx') ? await runLoad([nginx.url], c, seconds, warmup, w.body, dir, nginx.pid) : undefined;
        const bad = [direct, gw, ng].some((r) => r && (r.errors > 0 || r.non2xx > 0));
        rows.push({ workload: w.name, concurrency: c, direct, gateway: gw, nginx: ng ?? null });
        const nginxCells = withNginx
          ? `${ng ? fmt(ng.rps, 0) : '—'} | ${ng ? fmt(ng.p50 - direct.p50) : '—'} | ${ng ? fmt(ng.p99 - direct.p99) : '—'} | ${ng ? fmt(gw.rps / ng.rps) : '—'} | `
          : '';
        process.stdout.write(
          `| ${w.name} | ${c} | ${fmt(direct.rps, 0)} | ${fmt(direct.p50)} | ${fmt(direct.p99)} | ${fmt(gw.rps, 0)} | ${fmt(gw.p50 - direct.p50)} | ${fmt(gw.p99 - direct.p99)} | ` +
            `${nginxCells}${cpu(gw)} |${withNginx ? ` ${ng ? cpu(ng) : '—'} |` : ''}` +
            (bad ? ` errors: direct ${direct.errors}/${direct.non2xx}, gw ${gw.errors}/${gw.non2xx}${ng ? `, nginx ${ng.errors}/${ng.non2xx}` : ''}` : '') +
            '\n',
        );
      }
    }
    const small64 = rows.find((r) => r.workload === 'small' && r.concurrency === 64) as
      | { direct: LoadResult; gateway: LoadResult; nginx: LoadResult | null }
      | undefined;
    if (small64) {
      const added = small64.gateway.p50 - small64.direct.p50;
      const ratio = small64.nginx ? small64.gateway.rps / small64.nginx.rps : NaN;
      process.stdout.write(
        `\ntargets (small, 64 concurrent): gateway adds ${fmt(added)} ms at p50 (target < 1 ms: ${added < 1 ? 'met' : 'MISSED'}); ` +
          `gateway/nginx req/s ${fmt(ratio)} (target ≥ 0.5: ${ratio >= 0.5 ? 'met' : Number.isNaN(ratio) ? 'n/a' : 'MISSED'})\n`,
      );
    }
    const jsonFile = args.get('json');
    if (jsonFile) writeFileSync(jsonFile, JSON.stringify({ seconds, engines: nEngines, rows }, null, 2));
  } finally {
    stopAll();
    await new Promise((r) => setTimeout(r, 200));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === SELF) {
  run(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`overhead: ${(err as Error).stack ?? String(err)}\n`);
    stopAll();
    process.exit(1);
  });
}
