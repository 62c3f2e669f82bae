// The Grafana dashboards (deploy/grafana/, from scripts/grafana-dashboards.ts) checked against real output: the
// platform in one process (API server, controller manager with its autoscaler syncing every 500 ms, node agent,
// gateway, simulated engines) scraped by a real Prometheus — the components' /metrics as static jobs, the engine pods
// as file targets labelled with their namespace and pod, as a PodMonitor labels them on a cluster. A Model with
// autoscaling is loaded until it scales out; then every panel query and every variable of every dashboard runs
// against that Prometheus: each metric name it reads must be one Prometheus has scraped — or, for a counter of
// events this run did not cause (a rate limit, an upstream error, a held request), one a component declares in its
// exposition (# TYPE) — and each query must answer with at least one series (such panels say `or vector(0)`), with
// Grafana's variables set to All and $__rate_interval to 15s.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServedModel as Model } from '../../src/api/kinds/index.ts';
import { MODELS, PODS } from '../../src/controllers/resources.ts';
import { isPodReady } from '../../src/kube/objects.ts';
import { until } from '../../src/kube/testing/until.ts';
import { DASHBOARDS, queries } from '../../scripts/grafana-dashboards.ts';
import { startInProcessPlatform, type InProcessPlatform } from '../support/inprocess.ts';
import { scrape } from '../support/prom.ts';
import { startPrometheus, type RunningPrometheus } from '../support/prometheus.ts';
import { needs } from '../support/system.ts';

const skip = needs('prometheus');
const NS = 'default';
const NAME = 'graphed';
const ENGINE_ARGS = ['--max-num-seqs', '2', '--time-to-first-token-ms', '20', '--inter-token-latency-ms', '20', '--inter-token-latency-per-seq-ms', '0'];

const model: Model = {
  apiVersion: 'registry.matrixinfer.ai/v1alpha1',
  kind: 'Model',
  metadata: { name: NAME, namespace: NS },
  spec: {
    modelSpec: { modelId: 'graphed-v1', framework: 'pytorch', version: '1.0.0', source: { uri: 'huggingface://meta-llama/Llama-2-7b-hf' } },
    runtime: { image: 'matrixinfer/pytorch-runtime:latest', args: ENGINE_ARGS },
    autoscaling: { minReplicas: 1, maxReplicas: 2, metrics: [{ metricName: 'num_requests', targetValue: 2 }], behavior: { scaleUp: { stablePolicy: { instances: 1, period: '1s' } } } },
  },
} as Model;

/** Metric names a PromQL expression reads: our own prefixes and the Kubernetes ecosystem's. */
const METRIC_NAME = /\b(?:matrixinfer_\w+|vllm:\w+|apiserver_\w+|etcd_\w+|controller_runtime_\w+|workqueue_\w+|leader_election_\w+|kubelet_\w+|prober_\w+|kube_pod_\w+)/g;
const metricNames = (expr: string) => [...new Set([...expr.matchAll(METRIC_NAME)].map((m) => m[0].replace(/_bucket$/, '')))];
/** As Grafana sends it with every variable at All. */
const expand = (expr: string) => expr.replaceAll('$__rate_interval', '15s').replace(/\$\w+/g, '.*');

let platform: InProcessPlatform;
let prometheus: RunningPrometheus;

before(async () => {
  if (skip) return;
  platform = await startInProcessPlatform({ autoscaler: { syncPeriodMs: 500 }, metrics: true });
  const { cluster, manager, agent, gateway } = platform;
  prometheus = await startPrometheus([
    { job: 'apiserver', urls: [`${cluster.url}/metrics`] },
    { job: 'controller-manager', urls: [manager.metrics!.url] },
    { job: 'agent', urls: [agent.urls.metrics!] },
    { job: 'gateway', urls: [`${gateway.url}/metrics`] },
  ], { fileJob: 'engines' });
});

after(async () => {
  await prometheus?.stop();
  await platform?.stop();
});

type PodView = { metadata: { name: string }; spec: { containers: { ports?: { containerPort: number }[] }[] }; status?: { podIP?: string } };

/** The model's ready engine pods: name, IP and the engine's port (the first container port). */
async function readyEngines(): Promise<{ name: string; target: string }[]> {
  const pods = await platform.client.list(PODS, { namespace: NS, labelSelector: `workload.matrixinfer.ai/modelinfer-name=${NAME}` });
  return pods.items.filter(isPodReady).map((p) => {
    const pod = p as unknown as PodView;
    const port = pod.spec.containers.flatMap((c) => c.ports ?? [])[0]?.containerPort ?? 8000;
    return { name: pod.metadata.name, target: `${pod.status?.podIP}:${port}` };
  });
}

async function complete(i: number): Promise<boolean> {
  const res = await fetch(`${platform.gateway.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: NAME, prompt: `request ${i}: the same opening words for the prefix cache`, max_tokens: 20, ignore_eos: true, stream: true }),
  }).catch(() => undefined);
  return res?.status === 200 && (await res.text()).includes('[DONE]');
}

test('every Grafana query reads series the components export, and answers', { skip }, async (t) => {
  await platform.client.create(MODELS, model);
  await until('one ready engine', async () => (await readyEngines()).length === 1, 60_000, 100);
  await until('the gateway serving', () => complete(-1), 30_000, 100);

  // Engines are scraped as Prometheus would find them on a cluster: their pod's IP and the engine port, labelled.
  const engineTargets = async () => prometheus.setFileTargets((await readyEngines()).map((p) => ({ target: p.target, labels: { namespace: NS, pod: p.name } })));
  await engineTargets();

  // Load until the autoscaler scales out (a scaling action, a second engine), then a little more for rates.
  let stop = false;
  let ok = 0;
  const clients = Array.from({ length: 8 }, async (_, c) => {
    for (let i = 0; !stop; i++) if (await complete(c * 1000 + i)) ok++;
  });
  try {
    await until('scaled out to 2 ready engines', async () => (await readyEngines()).length === 2, 60_000, 200);
    await engineTargets();
    await until('Prometheus scraping both engines', async () => (await prometheus.query('count(vllm:num_requests_running)'))[0]?.value[1] === '2', 20_000, 500);
    await new Promise((r) => setTimeout(r, 5_000));
  } finally {
    stop = true;
    await Promise.all(clients);
  }
  t.diagnostic(`${ok} completions under load`);

  const scraped = new Set(await prometheus.api<string[]>('/api/v1/label/__name__/values'));
  const endpoints = [`${platform.cluster.url}/metrics`, platform.manager.metrics!.url, platform.agent.urls.metrics!, `${platform.gateway.url}/metrics`];
  const declared = new Set((await Promise.all(endpoints.map(scrape))).flatMap((e) => [...e.types.keys()]));
  const failures: string[] = [];
  let checked = 0;
  for (const dashboard of DASHBOARDS) {
    for (const { panel, expr } of queries(dashboard)) {
      checked++;
      const unknown = metricNames(expr).filter((name) => !scraped.has(name) && !scraped.has(`${name}_bucket`) && !declared.has(name) && !declared.has(name.replace(/_total$/, '')));
      if (unknown.length > 0) {
        failures.push(`${dashboard.file} "${panel}": reads ${unknown.join(', ')}, which no component exports`);
        continue;
      }
      try {
        const result = await prometheus.query(expand(expr));
        if (result.length === 0) failures.push(`${dashboard.file} "${panel}": no series for ${expand(expr)}`);
      } catch (err) {
        failures.push(`${dashboard.file} "${panel}": ${(err as Error).message}`);
      }
    }
    for (const variable of dashboard.variables) {
      const m = /^label_values\((.+), (\w+)\)$/.exec(variable.query);
      assert.ok(m, `${dashboard.file} variable ${variable.name}: label_values(selector, label)`);
      const values = await prometheus.api<string[]>(`/api/v1/label/${m[2]}/values?match[]=${encodeURIComponent(expand(m[1]!))}`);
      if (values.length === 0) failures.push(`${dashboard.file} variable ${variable.name}: no values for ${variable.query}`);
    }
  }
  t.diagnostic(`${checked} panel queries checked against ${scraped.size} scraped series names`);
  assert.deepEqual(failures, []);
});
