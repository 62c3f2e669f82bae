// What the node agent's pods use, measured from /proc as a kubelet's cAdvisor measures cgroups, and served on
// `GET /stats/summary` for the embedded API server's metrics.k8s.io (src/api/node-stats.ts says why it is pulled).
//
// A container is its process (the agent starts it detached, so it leads its own process group) and every process
// below it: its descendants by parent pid, plus any process still in its group (a daemonized child reparented to
// init). Per container, each sample reads:
//   - CPU: utime + stime + cutime + cstime of each process (/proc/<pid>/stat, clock ticks of USER_HZ = 100 on every
//     Linux architecture Node.js runs on). cutime/cstime hold the children each process has reaped, so the sum stays
//     continuous as children come and go; a child reaped by someone outside the tree takes its time with it (the
//     rate is then clamped at 0). The usage is the rate between this sample and the previous one.
//   - memory: the sum of VmRSS (/proc/<pid>/status). Pages shared between the processes count once per process, so
//     this overstates a little what a cgroup's working set would say; no page cache is counted.
// The node's usage is the whole machine's, as the kubelet's node stats are its root cgroup's: busy CPU ticks of
// /proc/stat (all but idle and iowait) and MemTotal - MemAvailable of /proc/meminfo.
//
// One sample per window (10 s by default, as metrics-server's resolution); a container is reported from its second
// sample on, a restarted one (a new pid) again only after a window. Linux only: elsewhere there is no /proc, nothing
// is sampled and /stats/summary is not served, so the API server reports no metrics for its pods. The same endpoint
// serves the agent's Prometheus registry on GET /metrics (metrics.ts), everywhere, as the kubelet serves both.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { formatGoDuration, NODE_STATS_PATH, type PodStats, type StatsSummary, type UsageStats } from '../api/node-stats.ts';
import { rfc3339 } from './types.ts';

/** Clock ticks per second of /proc's times (sysconf(_SC_CLK_TCK); fixed at 100 in the Linux ABI for x86, ARM, …). */
export const USER_HZ = 100;

export const usageSupported = (): boolean => process.platform === 'linux' && existsSync('/proc/self/stat');

export interface ProcStat {
  pid: number;
  ppid: number;
  pgrp: number;
  /** utime + stime + cutime + cstime, clock ticks. */
  ticks: number;
}

/** One line of /proc/<pid>/stat; comm (field 2) may hold spaces and parentheses, so fields are split after the last ')'. */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf(' (');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state): ppid 4, pgrp 5, utime 14, stime 15, cutime 16, cstime 17.
  const n = (field: number) => Number(rest[field - 3]);
  const stat = { pid: Number(text.slice(0, open)), ppid: n(4), pgrp: n(5), ticks: n(14) + n(15) + n(16) + n(17) };
  return Object.values(stat).every(Number.isFinite) ? stat : undefined;
}

export function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined; // gone
  }
}

/** Every process on the machine. */
export function listProcesses(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat) out.push(stat);
  }
  return out;
}

/** VmRSS of a process in bytes (0 for a zombie or a process gone meanwhile). */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** `root` and every process below it (by parent pid), plus the members of its process group; `taken` are skipped. */
export function processTree(root: number, procs: ProcStat[], taken: Set<number> = new Set()): ProcStat[] {
  const byParent = new Map<number, ProcStat[]>();
  for (const p of procs) {
    const siblings = byParent.get(p.ppid);
    if (siblings) siblings.push(p);
    else byParent.set(p.ppid, [p]);
  }
  const seen = new Set<number>();
  const out: ProcStat[] = [];
  const add = (p: ProcStat) => {
    if (seen.has(p.pid) || taken.has(p.pid)) return;
    seen.add(p.pid);
    out.push(p);
    for (const child of byParent.get(p.pid) ?? []) add(child);
  };
  const rootStat = procs.find((p) => p.pid === root);
  if (rootStat) add(rootStat);
  for (const p of procs) if (p.pgrp === root) add(p);
  return out;
}

/** Cumulative CPU (ticks) and resident memory (bytes) of a process tree. */
export function treeUsage(tree: ProcStat[]): { ticks: number; memoryBytes: number } {
  let ticks = 0;
  let memoryBytes = 0;
  for (const p of tree) {
    ticks += p.ticks;
    memoryBytes += rssBytes(p.pid);
  }
  return { ticks, memoryBytes };
}

/** The machine's busy CPU ticks (all CPUs) from /proc/stat: user, nice, system, irq, softirq, steal (guest is in user). */
export function parseNodeCpuTicks(procStat: string): number | undefined {
  const line = /^cpu\s+(.*)$/m.exec(procStat)?.[1];
  if (!line) return undefined;
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  return Number.isFinite(busy) ? busy : undefined;
}

/** MemTotal - MemAvailable of /proc/meminfo, bytes. */
export function parseNodeMemoryBytes(meminfo: string): number | undefined {
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(meminfo)?.[1] ?? NaN);
  const used = (kb('MemTotal') - kb('MemAvailable')) * 1024;
  return Number.isFinite(used) ? used : undefined;
}

export interface PodProcesses {
  namespace: string;
  name: string;
  uid: string;
  /** Running containers and the pid each was started as. */
  containers: { name: string; pid: number }[];
}

interface Point {
  ms: number;
  ticks: number;
  memoryBytes: number;
  pid: number;
}

/** Samples pods' process trees and the node; reports the usage between the last two samples. */
export class UsageSampler {
  private points = new Map<string, Point>(); // `${uid}/${container}`
  private nodePoint: Point | undefined;
  private pods: PodStats[] = [];
  private node: UsageStats | undefined;

  sample(pods: PodProcesses[], now = Date.now()): void {
    const procs = listProcesses();
    const taken = new Set<number>();
    const points = new Map<string, Point>();
    const stats: PodStats[] = [];
    for (const pod of pods) {
      const containers: PodStats['containers'] = [];
      for (const c of pod.containers) {
        const tree = processTree(c.pid, procs, taken);
        if (tree.length === 0) continue; // exited since
        for (const p of tree) taken.add(p.pid);
        const point = { ms: now, pid: c.pid, ...treeUsage(tree) };
        const key = `${pod.uid}/${c.name}`;
        points.set(key, point);
        const prev = this.points.get(key);
        if (prev && prev.pid === point.pid && now > prev.ms) containers.push({ name: c.name, ...usageBetween(prev, point) });
      }
      if (containers.length) stats.push({ podRef: { namespace: pod.namespace, name: pod.name, uid: pod.uid }, containers });
    }
    this.points = points;
    this.pods = stats;

    let nodePoint: Point | undefined;
    try {
      const ticks = parseNodeCpuTicks(readFileSync('/proc/stat', 'utf8'));
      const memoryBytes = parseNodeMemoryBytes(readFileSync('/proc/meminfo', 'utf8'));
      if (ticks !== undefined && memoryBytes !== undefined) nodePoint = { ms: now, ticks, memoryBytes, pid: 0 };
    } catch {
      // no /proc/stat: no node usage
    }
    this.node = nodePoint && this.nodePoint && now > this.nodePoint.ms ? usageBetween(this.nodePoint, nodePoint) : undefined;
    this.nodePoint = nodePoint;
  }

  summary(nodeName: string): StatsSummary {
    return { node: { nodeName, ...this.node }, pods: this.pods };
  }
}

function usageBetween(prev: Point, last: Point): UsageStats {
  const seconds = (last.ms - prev.ms) / 1000;
  const cores = Math.max(0, last.ticks - prev.ticks) / USER_HZ / seconds;
  return {
    time: rfc3339(last.ms),
    window: formatGoDuration(last.ms - prev.ms),
    usageNanoCores: Math.round(cores * 1e9),
    workingSetBytes: last.memoryBytes,
  };
}

export interface StatsEndpoint {
  /** `http://<host>:<port>`, for the Node's annotation. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serves, at host:port (0: a free port), the summary on `GET /stats/summary`, sampled every `windowMs` (first at
 * once), when `pods` is given (where usage is supported), and `metrics` on `GET /metrics` when given.
 */
export async function startStatsEndpoint(opts: {
  nodeName: string;
  host: string;
  port?: number;
  windowMs: number;
  pods?: () => PodProcesses[];
  metrics?: Registry;
  onError?: (err: unknown) => void;
}): Promise<StatsEndpoint> {
  const sampler = new UsageSampler();
  const pods = opts.pods;
  const sample = () => {
    try {
      if (pods) sampler.sample(pods());
    } catch (err) {
      opts.onError?.(err);
    }
  };
  sample();
  const timer = pods ? setInterval(sample, opts.windowMs) : undefined;
  timer?.unref();
  const metrics = opts.metrics;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics' && metrics) {
      metrics.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': metrics.contentType, 'Content-Length': Buffer.byteLength(text) }).end(text),
        (err: unknown) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${String(err)}\n`),
      );
      return;
    }
    if (req.method === 'GET' && path === NODE_STATS_PATH && pods) {
      const body = JSON.stringify(sampler.summary(opts.nodeName));
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('404 page not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
