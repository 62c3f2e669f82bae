// The controller manager's /metrics on the in-process platform (embedded API server, or a real kube-apiserver:
// MATRIXINFER_TEST_APISERVER=real): after a sync the binding's series are there, a scale-out counts one scaling
// action, and once the binding is deleted none of its series is left. The ModelInfer's pods can never start (an
// image the node agent cannot run), so no engine costs CPU: the scale-out comes from raising the binding's
// minReplicas, which the autoscaler applies while it holds (no ready pods, no metrics). A second manager, standby
// while the first holds the Lease, serves /metrics too, without autoscaler series.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { AutoscalingPolicy, AutoscalingPolicyBinding, ServedModel as Model, ModelInfer } from '../../src/api/kinds/index.ts';
import { startControllerManager } from '../../src/controllers/manager.ts';
import { desiredModelInfer } from '../../src/controllers/model/desired.ts';
import { AUTOSCALING_POLICIES, AUTOSCALING_POLICY_BINDINGS, MODEL_INFERS } from '../../src/controllers/resources.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { createLogger } from '../../src/kube/log.ts';
import { until } from '../../src/kube/testing/until.ts';
import { startInProcessPlatform, type InProcessPlatform } from '../support/inprocess.ts';
import { testModel } from '../support/models.ts';

const NS = 'default';
const NAME = 'metered';
const SERIES = `{namespace="${NS}",binding="${NAME}"`;

let platform: InProcessPlatform;
let client: KubeClient;

before(async () => {
  platform = await startInProcessPlatform({ autoscaler: { syncPeriodMs: 300 }, metrics: true });
  client = platform.client;
});

after(() => platform?.stop());

/** The scraped text, and its samples by series (`name{labels}` → value). */
async function scrape(): Promise<{ text: string; samples: Map<string, number> }> {
  const res = await fetch(platform.manager.metrics!.url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await res.text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return { text, samples };
}

/** Σ of the binding's scaling actions in `direction`, whatever the mode. */
function actions(samples: Map<string, number>, direction: 'up' | 'down'): number {
  let sum = 0;
  for (const [series, value] of samples) if (series.startsWith(`matrixinfer_autoscaler_scaling_actions_total${SERIES},direction="${direction}"`)) sum += value;
  return sum;
}

test('GET /metrics: the binding after a sync, a scaling action after a scale-out, none on a standby, nothing once it is gone', async () => {
  const model = testModel(NAME, NS);
  const mi = desiredModelInfer(model);
  delete mi.metadata.ownerReferences;
  mi.spec.replicas = 1;
  const container = (mi.spec.roles[0]!.template as { spec: { containers: { image?: string; command?: string[] }[] } }).spec.containers[0]!;
  container.image = 'example.com/h100-only/engine:latest';
  container.command = ['/nonexistent/h100-engine'];
  await client.create(MODEL_INFERS, mi);
  const policy: AutoscalingPolicy = {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'AutoscalingPolicy',
    metadata: { name: NAME, namespace: NS },
    spec: { metrics: [{ metricName: 'num_requests', targetValue: 2 }] },
  };
  await client.create(AUTOSCALING_POLICIES, policy);
  const binding: AutoscalingPolicyBinding = {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'AutoscalingPolicyBinding',
    metadata: { name: NAME, namespace: NS },
    spec: { policyRef: { name: NAME }, targetRef: { kind: 'ModelInfer', name: NAME }, minReplicas: 1, maxReplicas: 3 },
  };
  await client.create(AUTOSCALING_POLICY_BINDINGS, binding);

  const first = await until('the first sync on /metrics', async () => {
    const scraped = await scrape();
    return scraped.samples.has(`matrixinfer_autoscaler_desired_replicas${SERIES}}`) && scraped;
  }, 20_000, 100);
  assert.equal(first.samples.get(`matrixinfer_autoscaler_desired_replicas${SERIES}}`), 1);
  assert.equal(first.samples.get(`matrixinfer_autoscaler_current_replicas${SERIES}}`), 1);
  assert.equal(first.samples.get(`matrixinfer_autoscaler_max_replicas${SERIES}}`), 3);
  assert.equal(first.samples.get(`matrixinfer_autoscaler_mode${SERIES},mode="Hold"}`), 1, 'no ready pod: Hold');
  assert.ok(first.samples.get(`matrixinfer_autoscaler_syncs_total${SERIES},result="decided"}`)! >= 1);
  assert.equal(actions(first.samples, 'up'), 0);
  // prom-client's default process metrics, with their standard names.
  assert.match(first.text, /^process_cpu_user_seconds_total \d/m);
  assert.match(first.text, /^nodejs_heap_size_used_bytes \d/m);

  // Scale-out: the bound rises to 2 (a spec change: synced at once).
  await client.mergePatch(AUTOSCALING_POLICY_BINDINGS, NS, NAME, { spec: { minReplicas: 2 } });
  const after = await until('a scaling action up on /metrics', async () => {
    const scraped = await scrape();
    return actions(scraped.samples, 'up') >= 1 && scraped;
  }, 20_000, 100);
  assert.equal(after.samples.get(`matrixinfer_autoscaler_desired_replicas${SERIES}}`), 2);
  assert.equal(after.samples.get(`matrixinfer_autoscaler_min_replicas${SERIES}}`), 2);
  assert.equal(after.samples.get(`matrixinfer_autoscaler_scaling_actions_total${SERIES},direction="up",mode="Hold"}`), 1);
  assert.equal(actions(after.samples, 'down'), 0);
  assert.equal((await client.get<ModelInfer>(MODEL_INFERS, NS, NAME))?.spec.replicas, 2);

  // A second manager, standby while the first holds the Lease, serves /metrics too: no autoscaler series.
  const standby = await startControllerManager({ kubeConfig: platform.cluster.kubeConfig, logger: createLogger('standby', 'silent'), metrics: { host: '127.0.0.1', port: 0 } });
  try {
    const res = await fetch(standby.metrics!.url);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^process_cpu_user_seconds_total \d/m);
    assert.doesNotMatch(text, /^matrixinfer_autoscaler_\w+\{/m);
  } finally {
    await standby.stop();
  }

  // Gone: no stale series.
  await client.delete(AUTOSCALING_POLICY_BINDINGS, NS, NAME);
  await until('no series of the deleted binding', async () => !(await scrape()).text.includes(`binding="${NAME}"`), 20_000, 100);
});
