// Container probes (readiness, liveness, startup) with the kubelet's semantics: httpGet (2xx/3xx succeed), tcpSocket
// (connect succeeds) and exec (exit code 0); initialDelaySeconds, periodSeconds (default 10), timeoutSeconds
// (default 1), successThreshold (default 1) and failureThreshold (default 3). One deviation, for local speed:
// readiness and startup probes poll every 0.5 s until their first success; while polling fast a failure counts
// towards failureThreshold at most once per periodSeconds, so the time budget of a startup probe is unchanged.
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { ContainerPort, Probe } from './types.ts';

export type ProbeKind = 'readiness' | 'liveness' | 'startup';

export interface ProbeContext {
  podIP: string;
  /** The container's ports, for named ports. */
  ports?: ContainerPort[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface ProbeOutcome {
  ok: boolean;
  message: string;
}

export const FAST_POLL_MS = 500;

export function probeTiming(p: Probe) {
  return {
    initialDelayMs: Math.max(0, p.initialDelaySeconds ?? 0) * 1000,
    periodMs: Math.max(1, p.periodSeconds ?? 10) * 1000,
    timeoutMs: Math.max(1, p.timeoutSeconds ?? 1) * 1000,
    successThreshold: Math.max(1, p.successThreshold ?? 1),
    failureThreshold: Math.max(1, p.failureThreshold ?? 3),
  };
}

export function resolvePort(port: number | string, ports: ContainerPort[] | undefined): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return ports?.find((p) => p.name === port)?.containerPort;
}

/** Runs a probe once. */
export async function runProbe(probe: Probe, ctx: ProbeContext): Promise<ProbeOutcome> {
  const { timeoutMs } = probeTiming(probe);
  if (probe.httpGet) {
    const port = resolvePort(probe.httpGet.port, ctx.ports);
    if (port === undefined) return { ok: false, message: `unknown named port ${String(probe.httpGet.port)}` };
    return httpProbe(probe.httpGet.scheme === 'HTTPS' ? 'https' : 'http', probe.httpGet.host || ctx.podIP, port,
      probe.httpGet.path || '/', probe.httpGet.httpHeaders ?? [], timeoutMs);
  }
  if (probe.tcpSocket) {
    const port = resolvePort(probe.tcpSocket.port, ctx.ports);
    if (port === undefined) return { ok: false, message: `unknown named port ${String(probe.tcpSocket.port)}` };
    return tcpProbe(probe.tcpSocket.host || ctx.podIP, port, timeoutMs);
  }
  if (probe.exec) return execProbe(probe.exec.command ?? [], ctx, timeoutMs);
  if (probe.grpc) {
    // Not implemented locally; a connectable port is the closest approximation.
    return tcpProbe(ctx.podIP, probe.grpc.port, timeoutMs);
  }
  return { ok: false, message: 'probe has no handler' };
}

function httpProbe(scheme: 'http' | 'https', host: string, port: number, path: string,
  headers: { name: string; value: string }[], timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const hdrs: Record<string, string> = { 'user-agent': 'kube-probe/matrixinfer', accept: '*/*' };
    for (const h of headers) hdrs[h.name.toLowerCase()] = h.value;
    const mod = scheme === 'https' ? https : http;
    let settled = false;
    const done = (o: ProbeOutcome) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        resolve(o);
      }
    };
    const req = mod.request(
      { host, port, path: path.startsWith('/') ? path : `/${path}`, method: 'GET', headers: hdrs, agent: false,
        ...(scheme === 'https' ? { rejectUnauthorized: false } : {}) },
      (res) => {
        const code = res.statusCode ?? 0;
        res.resume();
        res.on('error', () => {});
        req.destroy();
        if (code >= 200 && code < 400) done({ ok: true, message: `HTTP ${code}` });
        else done({ ok: false, message: `HTTP probe failed with statuscode: ${code}` });
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      done({ ok: false, message: `Get "${scheme}://${host}:${port}${path}": timeout after ${timeoutMs} ms` });
    }, timeoutMs);
    req.on('error', (err) => done({ ok: false, message: `Get "${scheme}://${host}:${port}${path}": ${err.message}` }));
    req.end();
  });
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => finish({ ok: false, message: `dial tcp ${host}:${port}: timeout` }), timeoutMs);
    function finish(o: ProbeOutcome) {
      clearTimeout(timer);
      sock.destroy();
      resolve(o);
    }
    sock.once('connect', () => finish({ ok: true, message: 'connected' }));
    sock.once('error', (err) => finish({ ok: false, message: `dial tcp ${host}:${port}: ${err.message}` }));
  });
}

function execProbe(command: string[], ctx: ProbeContext, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    if (command.length === 0) {
      resolve({ ok: false, message: 'exec probe has no command' });
      return;
    }
    let output = '';
    const child = spawn(command[0]!, command.slice(1), {
      cwd: ctx.cwd,
      env: ctx.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const collect = (b: Buffer) => {
      if (output.length < 1024) output += b.toString();
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      resolve({ ok: false, message: `command timed out after ${timeoutMs} ms` });
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, message: err.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve({ ok: true, message: output.trim() });
      else resolve({ ok: false, message: `exit code ${code}${output ? `: ${output.trim()}` : ''}` });
    });
  });
}

/**
 * The kubelet's result smoothing: the reported result flips only after `successThreshold` consecutive successes
 * or `failureThreshold` consecutive failures.
 */
export class ProbeTracker {
  result: boolean | undefined;
  private run = 0;
  private last: boolean | undefined;
  private readonly successThreshold: number;
  private readonly failureThreshold: number;

  constructor(successThreshold: number, failureThreshold: number, initial?: boolean) {
    this.successThreshold = successThreshold;
    this.failureThreshold = failureThreshold;
    this.result = initial;
  }

  /** Records one outcome; returns true when the reported result changed. */
  record(ok: boolean): boolean {
    if (this.last === ok) this.run++;
    else {
      this.last = ok;
      this.run = 1;
    }
    const threshold = ok ? this.successThreshold : this.failureThreshold;
    if (this.run < threshold || this.result === ok) return false;
    this.result = ok;
    return true;
  }
}

export interface ProbeRunnerOptions {
  kind: ProbeKind;
  probe: Probe;
  ctx: ProbeContext;
  /** Called when the smoothed result changes (readiness: ready or not; liveness/startup: false means kill). */
  onResult: (ok: boolean, message: string) => void;
  /** When the container started (initialDelaySeconds counts from here). */
  startedAtMs: number;
  /** Probe function, replaceable in tests. */
  run?: (probe: Probe, ctx: ProbeContext) => Promise<ProbeOutcome>;
  /** Told every run's raw result (prober_probe_total): true, false, or undefined when the probe itself errored. */
  observe?: (ok: boolean | undefined) => void;
}

/** Runs one probe of one container on its schedule until stopped. */
export class ProbeRunner {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly tracker: ProbeTracker;
  private everSucceeded = false;
  private lastCountedFailure = 0;
  private readonly timing: ReturnType<typeof probeTiming>;
  lastMessage = '';
  private readonly opts: ProbeRunnerOptions;

  constructor(opts: ProbeRunnerOptions) {
    this.opts = opts;
    this.timing = probeTiming(opts.probe);
    // Liveness starts out passing, readiness failing (not ready yet); startup has no result until its first verdict.
    // Thresholds: startup and liveness use successThreshold 1 as Kubernetes requires.
    const success = opts.kind === 'readiness' ? this.timing.successThreshold : 1;
    this.tracker = new ProbeTracker(success, this.timing.failureThreshold, opts.kind === 'liveness' ? true : opts.kind === 'readiness' ? false : undefined);
  }

  get result(): boolean | undefined {
    return this.tracker.result;
  }

  start(): void {
    const delay = Math.max(0, this.opts.startedAtMs + this.timing.initialDelayMs - Date.now());
    this.schedule(delay);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private get fast(): boolean {
    return this.opts.kind !== 'liveness' && !this.everSucceeded;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref?.();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const run = this.opts.run ?? runProbe;
    let outcome: ProbeOutcome;
    let errored = false;
    try {
      outcome = await run(this.opts.probe, this.opts.ctx);
    } catch (err) {
      outcome = { ok: false, message: (err as Error).message };
      errored = true;
    }
    if (this.stopped) return;
    this.opts.observe?.(errored ? undefined : outcome.ok);
    this.lastMessage = outcome.message;
    let count = true;
    if (!outcome.ok && this.fast) {
      const now = Date.now();
      if (this.lastCountedFailure && now - this.lastCountedFailure < this.timing.periodMs) count = false;
      else this.lastCountedFailure = now;
    }
    const wasFast = this.fast;
    if (outcome.ok) this.everSucceeded = true;
    if (count && this.tracker.record(outcome.ok)) this.opts.onResult(outcome.ok, outcome.message);
    if (this.stopped) return;
    if (this.opts.kind === 'startup' && this.tracker.result === true) return; // startup probes stop on success
    this.schedule(wasFast && !outcome.ok ? Math.min(FAST_POLL_MS, this.timing.periodMs) : this.timing.periodMs);
  }
}
