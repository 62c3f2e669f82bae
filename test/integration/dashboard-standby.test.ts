// The dashboard on a controller manager that does not lead: its informers are its own, so a standby replica shows
// the models, their pods and the autoscaler's decisions as the leader makes them. The in-process platform's manager
// leads (no dashboard); a second manager, standby on the same Lease, serves the dashboard. The Model's pods can
// never start (an image the node agent cannot run), so no engine costs CPU; the decision comes from raising the
// binding's minReplicas, which the autoscaler applies while it holds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ServedModel as Model } from '../../src/api/kinds/index.ts';
import { startControllerManager, type ControllerManager } from '../../src/controllers/manager.ts';
import { AUTOSCALING_POLICY_BINDINGS, MODELS } from '../../src/controllers/resources.ts';
import { createLogger } from '../../src/kube/log.ts';
import { until } from '../../src/kube/testing/until.ts';
import { startInProcessPlatform, type InProcessPlatform } from '../support/inprocess.ts';
import { testModel } from '../support/models.ts';

const NAME = 'standby-view';
let platform: InProcessPlatform;
let standby: ControllerManager;

before(async () => {
  platform = await startInProcessPlatform({ autoscaler: { syncPeriodMs: 300 } });
  standby = await startControllerManager({
    kubeConfig: platform.cluster.kubeConfig,
    logger: createLogger('standby', 'silent'),
    gateway: { namespace: 'default', selector: '', addresses: ['127.0.0.1'], port: Number(new URL(platform.gateway.url).port), tlsPort: 8443 },
    dashboard: { host: '127.0.0.1', port: 0, periodMs: 300 },
  });
});

after(async () => {
  await standby?.stop();
  await platform?.stop();
});

test("a standby manager's dashboard: the Model, its pod and the leader's scaling decision", async () => {
  const { client } = platform;
  const model = testModel(NAME, 'default', {
    runtime: { image: 'example.com/h100-only/engine:latest', command: ['/nonexistent/h100-engine'] } as Partial<Model['spec']['runtime']>,
    spec: { autoscaling: { minReplicas: 1, maxReplicas: 3, metrics: [{ metricName: 'num_requests', targetValue: 2 }] } } as Partial<Model['spec']>,
  });
  await client.create(MODELS, model);
  const api = standby.dashboard!.url + 'api/v1/';
  type Detail = { model: { phase: string; desired: number; autoscaler?: { binding: string } }; pods: { name: string; ready: boolean }[] };
  const detail = await until('the Model with its pod and binding on the standby', async () => {
    const res = await fetch(`${api}models/default/${NAME}`);
    const body = res.status === 200 ? ((await res.json()) as Detail) : undefined;
    return body && body.pods.length === 1 && body.model.autoscaler ? body : undefined;
  }, 20_000, 100);
  assert.equal(detail.model.phase, 'Pending', 'its pod never becomes ready');
  assert.equal(detail.pods[0]!.ready, false);
  assert.equal(detail.model.autoscaler!.binding, NAME);

  // The leader's first sync on the standby's timeline; then it scales 1 → 2 (the bound rises), and the timeline has
  // the decision and the new count.
  type Series = { t: number[]; columns: Record<string, (number | null)[]>; decisions: { from: number; to: number; reason: string }[] };
  await until('the first sync on the timeline', async () => {
    const body = (await (await fetch(`${api}models/default/${NAME}/timeseries?window=5m`)).json()) as Series;
    return body.columns.as_desired?.includes(1);
  }, 20_000, 100);
  await client.mergePatch(AUTOSCALING_POLICY_BINDINGS, 'default', NAME, { spec: { minReplicas: 2 } });
  const series = await until('the decision on the standby', async () => {
    const body = (await (await fetch(`${api}models/default/${NAME}/timeseries?window=5m`)).json()) as Series;
    return body.decisions.length > 0 && body.columns.as_desired?.includes(2) ? body : undefined;
  }, 20_000, 100);
  assert.deepEqual(series.decisions.map((d) => [d.from, d.to]), [[1, 2]]);
  assert.ok(series.columns.as_desired!.indexOf(1) < series.columns.as_desired!.indexOf(2), 'the count before the decision, then after');
  const models = (await (await fetch(`${api}models`)).json()) as { models: { name: string; desired: number }[] };
  assert.equal(models.models.find((m) => m.name === NAME)?.desired, 2);
});
