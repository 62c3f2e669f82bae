// The autoscaler's signals beyond the engines' queues, end to end on the embedded API server (or a real
// kube-apiserver: MATRIXINFER_TEST_APISERVER=real), each driving a real scale-out:
//  - the gateway's own view: gateway_inflight_requests, scraped from the gateway's /metrics;
//  - GPU utilisation: DCGM_FI_DEV_GPU_UTIL as the simulated engine exports it;
//  - memory from metrics.k8s.io (served locally from the node agent's measurements of the engine processes; on a
//    bare kube-apiserver, which serves no metrics.k8s.io, the count holds and the status says why);
//  - a Prometheus query: a real Prometheus scraping the gateway, the policy's PromQL read through its HTTP API;
//    and a query Prometheus refuses, which holds the count and says why in the status.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AutoscalingPolicyBinding, Model, ModelInfer } from '../../src/api/kinds/index.ts';
import { AUTOSCALING_POLICY_BINDINGS, MODELS, MODEL_INFERS, PODS } from '../../src/controllers/resources.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { isPodReady } from '../../src/kube/objects.ts';
import { until } from '../../src/kube/testing/until.ts';
import { freePort } from '../support/platform.ts';
import { startInProcessPlatform, type InProcessPlatform } from '../support/inprocess.ts';
import { findProgram, needs } from '../support/system.ts';
import { testModel } from '../support/models.ts';

const NS = 'default';
// Two sequences per engine, 40 ms per token: a 40-token request holds a slot for about 1.6 s.
const ENGINE_ARGS = ['--max-num-seqs', '2', '--time-to-first-token-ms', '20', '--inter-token-latency-ms', '40', '--inter-token-latency-per-seq-ms', '0'];

let platform: InProcessPlatform;
let client: KubeClient;

before(async () => {
  platform = await startInProcessPlatform({ autoscaler: { syncPeriodMs: 500 } });
  client = platform.client;
});
after(() => platform?.stop());

function model(name: string, metrics: NonNullable<Model['spec']['autoscaling']>['metrics']): Model {
  return testModel(name, NS, {
    runtime: { args: ENGINE_ARGS },
    spec: {
      autoscaling: {
        minReplicas: 1,
        maxReplicas: 3,
        metrics,
        behavior: { scaleUp: { stablePolicy: { instances: 2, period: '1s' } }, scaleDown: { percent: 100, period: '1s', stabilizationWindow: '2s' } },
      },
    },
  });
}

const replicas = async (name: string) => (await client.get<ModelInfer>(MODEL_INFERS, NS, name))?.spec.replicas;
const status = async (name: string) => (await client.get<AutoscalingPolicyBinding>(AUTOSCALING_POLICY_BINDINGS, NS, name))?.status;
const readyPods = async (name: string) =>
  (await client.list(PODS, { namespace: NS, labelSelector: `workload.matrixinfer.ai/modelinfer-name=${name}` })).items.filter(isPodReady).length;

async function complete(name: string): Promise<boolean> {
  try {
    const res = await fetch(`${platform.gateway.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: name, prompt: 'hello', max_tokens: 40, ignore_eos: true, stream: true }),
    });
    return res.status === 200 && (await res.text()).includes('[DONE]');
  } catch {
    return false;
  }
}

/** `clients` callers sending one request after another until `done` resolves. */
async function load(name: string, clients: number, done: () => Promise<unknown>): Promise<void> {
  let stop = false;
  const callers = Array.from({ length: clients }, async () => {
    while (!stop) await complete(name);
  });
  try {
    await done();
  } finally {
    stop = true;
    await Promise.all(callers);
  }
}

async function deployed(name: string, metrics: Parameters<typeof model>[1]): Promise<void> {
  await client.create(MODELS, model(name, metrics));
  await until(`${name}: one ready engine`, async () => (await readyPods(name)) === 1, 60_000, 100);
  await until(`${name}: the gateway serving`, () => complete(name), 30_000, 100);
}

test('the gateway\'s in-flight count drives a scale-out, and its value is in the status', async () => {
  const name = 'by-gateway';
  await deployed(name, [{ metricName: 'gateway_inflight_requests', targetValue: 2 }]);
  await load(name, 8, () => until('scaled out on the gateway view', async () => (await replicas(name))! >= 2, 20_000, 100));
  const s = (await status(name))!;
  const metric = s.currentMetrics?.find((m) => m.name === 'gateway_inflight_requests');
  assert.ok(metric?.value !== undefined, JSON.stringify(s.currentMetrics));
  assert.match(s.history?.find((h) => h.to > h.from)?.reason ?? '', /gateway_inflight_requests/);
  await until('back to 1 once idle', async () => (await replicas(name)) === 1, 30_000, 250);
});

test('GPU utilisation (DCGM_FI_DEV_GPU_UTIL from the engine) drives a scale-out', async () => {
  const name = 'by-gpu';
  await deployed(name, [{ metricName: 'gpu_utilization', targetValue: 30 }]);
  const gpu = async () => Number((await status(name))?.currentMetrics?.find((m) => m.name === 'gpu_utilization')?.value ?? NaN);
  const idle = await gpu();
  // The highest value seen while scaling out: once the second replica is counted, the average over the pods drops
  // (the new pod is idle), so the value read afterwards may be below the target that triggered the scale-out.
  let peak = -Infinity;
  await load(name, 6, () => until('scaled out on GPU utilisation', async () => ((peak = Math.max(peak, (await gpu()) || -Infinity)), (await replicas(name))! >= 2), 20_000, 100));
  assert.ok(peak > 30, `busy GPU peaked at ${peak}%, idle was ${idle}%`);
});

test('memory from metrics.k8s.io drives a scale-out; cpu is read beside it (a bare kube-apiserver: held, with the reason)', async () => {
  const name = 'by-memory';
  // An engine process holds tens of MiB: a 1Mi target asks for the maximum.
  await deployed(name, [{ metricName: 'memory', targetValue: '1Mi' }, { metricName: 'cpu', targetValue: '100' }]);
  if (platform.cluster.backend === 'real') {
    // No metrics-server behind this kube-apiserver: the metric is unreadable, the count holds, the status says why.
    await until('the reason in the status', async () => (await status(name))?.conditions?.find((c) => c.type === 'ScalingActive')?.reason === 'FailedGetMetrics', 20_000, 200);
    const s = (await status(name))!;
    assert.match(s.currentMetrics!.find((m) => m.name === 'memory')!.error ?? '', /metrics\.k8s\.io\/v1beta1 is not served.*install metrics-server/);
    assert.equal(await replicas(name), 1);
    return;
  }
  await until('scaled out on memory', async () => (await replicas(name)) === 3, 30_000, 200);
  const s = (await status(name))!;
  const memory = s.currentMetrics!.find((m) => m.name === 'memory')!;
  const cpu = s.currentMetrics!.find((m) => m.name === 'cpu')!;
  assert.ok(Number(memory.value) > 10 * 1024 * 1024, `memory ${memory.value}`);
  assert.ok(cpu.value !== undefined && Number(cpu.value) >= 0, JSON.stringify(cpu));
  assert.match(s.history!.at(-1)!.reason, /memory/);
});

test('a Prometheus query drives a scale-out; a query Prometheus refuses holds and says why', { skip: needs('prometheus') }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'matrixinfer-prometheus-'));
  const port = await freePort();
  const gatewayAddress = new URL(platform.gateway.url).host;
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: gateway\n    static_configs:\n      - targets: ['${gatewayAddress}']\n`,
  );
  const prometheus: ChildProcess = spawn(
    findProgram('prometheus')!,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: 'ignore' },
  );
  t.after(() => {
    prometheus.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const address = `http://127.0.0.1:${port}`;
  await until('prometheus scraping the gateway', async () => {
    const res = await fetch(`${address}/api/v1/query?query=up`).catch(() => undefined);
    const body = res?.ok ? ((await res.json()) as { data: { result: { value: [number, string] }[] } }) : undefined;
    return body?.data.result[0]?.value[1] === '1';
  }, 30_000, 250);

  const name = 'by-prometheus';
  await deployed(name, [
    { metricName: 'inflight_by_promql', targetValue: 2, prometheus: { address, query: 'sum(matrixinfer_gateway_inflight_requests{model="$target"}) or vector(0)', aggregate: 'Sum' } },
  ]);
  await load(name, 8, () => until('scaled out on the PromQL value', async () => (await replicas(name))! >= 2, 30_000, 100));
  const s = (await status(name))!;
  assert.match(s.history!.find((h) => h.to > h.from)!.reason, /inflight_by_promql/);
  await until('back to 1 once idle', async () => (await replicas(name)) === 1, 30_000, 250);

  // A query that parses here but that Prometheus refuses (a range vector where an instant vector is needed).
  await client.mergePatch(MODELS, NS, name, {
    spec: { autoscaling: { metrics: [{ metricName: 'inflight_by_promql', targetValue: 2, prometheus: { address, query: 'matrixinfer_gateway_inflight_requests[1m]', aggregate: 'Sum' } }] } },
  });
  await until('the reason in the status', async () => (await status(name))?.conditions?.find((c) => c.type === 'ScalingActive')?.reason === 'FailedGetMetrics', 20_000, 200);
  const failed = (await status(name))!;
  assert.match(failed.currentMetrics![0]!.error ?? '', /range vector|matrix/);
  assert.equal(await replicas(name), 1);
});
