// The dashboard's time series from a real Prometheus (--dashboard-prometheus-url) instead of its in-memory history:
// Prometheus scrapes the in-process platform's gateway and controller manager every second; after some load through
// the gateway, the timeseries API answers from range queries in the same shape as from memory: one time axis on the
// scrape period's step, the request rate above zero, TTFT measured, the autoscaler's replicas and mode.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODELS } from '../../src/controllers/resources.ts';
import { isPodReady } from '../../src/kube/objects.ts';
import { PODS } from '../../src/controllers/resources.ts';
import { until } from '../../src/kube/testing/until.ts';
import { startInProcessPlatform, type InProcessPlatform } from '../support/inprocess.ts';
import { testModel } from '../support/models.ts';
import { freePort } from '../support/platform.ts';
import { findProgram, needs } from '../support/system.ts';

const skip = needs('prometheus');
const NAME = 'prom-dash';
let platform: InProcessPlatform | undefined;
let prometheus: ChildProcess | undefined;
let address = '';
const dir = mkdtempSync(join(tmpdir(), 'matrixinfer-dashboard-prometheus-'));

before(async () => {
  if (skip) return;
  const port = await freePort();
  address = `http://127.0.0.1:${port}`;
  platform = await startInProcessPlatform({ autoscaler: { syncPeriodMs: 500 }, metrics: true, dashboard: { periodMs: 1000, prometheusUrl: address } });
  const targets = [new URL(platform.gateway.url).host, new URL(platform.manager.metrics!.url).host];
  writeFileSync(join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: matrixinfer\n    static_configs:\n      - targets: ${JSON.stringify(targets)}\n`);
  prometheus = spawn(findProgram('prometheus')!, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: 'ignore' });
});

after(async () => {
  prometheus?.kill('SIGKILL');
  await platform?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('time series from Prometheus range queries, in the in-memory shape', { skip }, async () => {
  const { client, gateway } = platform!;
  await client.create(MODELS, testModel(NAME, 'default', { spec: { autoscaling: { minReplicas: 1, maxReplicas: 2, metrics: [{ metricName: 'num_requests', targetValue: 4 }] } } as never }));
  await until('a ready engine', async () => (await client.list(PODS, { namespace: 'default' })).items.some((p) => p.metadata.name?.startsWith(NAME) && isPodReady(p)), 60_000, 200);
  const complete = async () => {
    const res = await fetch(`${gateway.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: NAME, prompt: 'hello', max_tokens: 8, stream: true }) });
    return res.status === 200 && (await res.text()).includes('[DONE]');
  };
  await until('the gateway serving', complete, 30_000, 100);
  // Prometheus must have seen the model's series before the load: a rate counts increases between its samples.
  await until('the series in Prometheus', async () => {
    const res = await fetch(`${address}/api/v1/query?${new URLSearchParams({ query: `matrixinfer_gateway_time_to_first_token_seconds_count{model="${NAME}"}` })}`).catch(() => undefined);
    const body = res?.ok ? ((await res.json()) as { data: { result: unknown[] } }) : undefined;
    return (body?.data.result.length ?? 0) > 0;
  }, 30_000, 250);
  // 40 streamed requests, 4 at a time.
  let sent = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (sent < 40) {
        sent++;
        await complete();
      }
    }),
  );
  const url = `${platform!.manager.dashboard!.url}api/v1/models/default/${NAME}/timeseries?window=2m`;
  type Series = { t: number[]; columns: Record<string, (number | null)[]>; decisions: unknown[] };
  let last: Series | undefined;
  const series = await until('the figures in Prometheus', async () => {
    const body = (last = (await (await fetch(url)).json()) as Series);
    const has = (column: string) => body.columns[column]?.some((v) => v !== null && v > 0);
    return has('rps') && has('ttft_p99') && has('as_current') && body;
  }, 30_000, 500).catch((err: Error) => {
    throw new Error(`${err.message}: ${JSON.stringify(Object.fromEntries(Object.entries(last?.columns ?? {}).map(([k, v]) => [k, v.filter((x) => x !== null).slice(-3)])))}`);
  });
  // One axis on the 1 s step, over the 2 minutes asked for; every column as long as it.
  assert.equal(series.t.length, 121);
  assert.ok(series.t.every((t, i) => i === 0 || t - series.t[i - 1]! === 1));
  for (const [column, values] of Object.entries(series.columns)) assert.equal(values.length, series.t.length, column);
  assert.equal(series.columns.errors?.filter((v) => v !== null && v > 0).length ?? 0, 0, 'no errors');
  assert.ok(series.columns.as_mode?.some((v) => v === 1), 'the mode as its index (Stable)');
  assert.ok(Math.max(...series.columns.tokens_out!.map((v) => v ?? 0)) > 0);
  assert.deepEqual(series.columns['kv:x'], undefined);
});
