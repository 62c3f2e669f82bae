// A real Prometheus for tests (Debian's `prometheus`; needs('prometheus') gives the skip line): started on a free
// loopback port with a scrape configuration written from static jobs, plus a file of targets it re-reads
// (file_sd_configs, every second) so a test can add engine pods as they appear; and its HTTP API's instant queries.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { findProgram } from './system.ts';
import { freePort, until } from './platform.ts';

export interface ScrapeJob {
  job: string;
  /** URLs of /metrics endpoints (scheme, host and path are taken from each). */
  urls: string[];
}

export interface FileTarget {
  /** host:port */
  target: string;
  labels: Record<string, string>;
}

export interface PromVector {
  metric: Record<string, string>;
  value: [number, string];
}

export interface RunningPrometheus {
  url: string;
  /** Replace the targets of job `files` (file_sd): Prometheus picks them up within a second or two. */
  setFileTargets(targets: FileTarget[]): void;
  /** An instant query; throws with Prometheus's error when it refuses the query. */
  query(expr: string): Promise<PromVector[]>;
  /** GET an API path (e.g. /api/v1/label/__name__/values) and return its `data`. */
  api<T>(path: string): Promise<T>;
  stop(): Promise<void>;
}

function staticJob(job: ScrapeJob, scrapeInterval: string) {
  const first = new URL(job.urls[0]!);
  return {
    job_name: job.job,
    scrape_interval: scrapeInterval,
    scheme: first.protocol.replace(':', ''),
    metrics_path: first.pathname,
    static_configs: [{ targets: job.urls.map((u) => new URL(u).host) }],
  };
}

export async function startPrometheus(jobs: ScrapeJob[], options: { scrapeInterval?: string; fileJob?: string } = {}): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'matrixinfer-prometheus-'));
  const interval = options.scrapeInterval ?? '1s';
  const targetsFile = join(dir, 'targets.json');
  writeFileSync(targetsFile, '[]');
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval },
    scrape_configs: [
      ...jobs.map((j) => staticJob(j, interval)),
      { job_name: options.fileJob ?? 'files', scrape_interval: interval, file_sd_configs: [{ files: [targetsFile], refresh_interval: '1s' }] },
    ],
  };
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  const port = await freePort();
  const child: ChildProcess = spawn(
    findProgram('prometheus')!,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => void (stderr += c.toString()));
  const url = `http://127.0.0.1:${port}`;
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(url + path);
    const body = (await res.json()) as { status: string; data: T; error?: string; errorType?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.errorType}: ${body.error}`);
    return body.data;
  };
  await until(`prometheus ready${stderr ? `: ${stderr}` : ''}`, async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok === true, 30_000, 200);
  return {
    url,
    api,
    setFileTargets(targets) {
      const tmp = `${targetsFile}.tmp`;
      writeFileSync(tmp, JSON.stringify(targets.map((t) => ({ targets: [t.target], labels: t.labels }))));
      renameSync(tmp, targetsFile);
    },
    async query(expr) {
      const data = await api<{ resultType: string; result: PromVector[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
      return data.resultType === 'vector' ? data.result : [];
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
