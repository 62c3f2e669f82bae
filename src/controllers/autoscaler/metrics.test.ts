import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { AutoscalingPolicyBinding } from '../../api/kinds/index.ts';
import type { Decision } from './behavior.ts';
import { AutoscalerMetrics } from './metrics.ts';
import type { Recommendation } from './recommend.ts';
import type { SyncOutcome } from './status.ts';

const binding = (name = 'llama', spec: Partial<AutoscalingPolicyBinding['spec']> = {}): AutoscalingPolicyBinding =>
  ({
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'AutoscalingPolicyBinding',
    metadata: { name, namespace: 'team-a' },
    spec: { policyRef: { name }, targetRef: { kind: 'ModelInfer', name }, minReplicas: 1, maxReplicas: 8, ...spec },
  }) as AutoscalingPolicyBinding;

const recommendation = (replicas: number): Recommendation => {
  const metric = { name: 'num_requests', value: 7, target: 2, targetText: '2', recommended: replicas };
  return { replicas, winner: metric, metrics: [metric, { name: 'kv_cache_usage', value: 0.5, target: 0.8, targetText: '80%', recommended: 2 }] };
};

/** A decided outcome: its signals as read (kv_cache_usage read; a PromQL metric that could not be), its recommendation. */
function decided(current: number, decision: Partial<Decision> & { replicas: number }, extra: Record<string, unknown> = {}): SyncOutcome {
  return {
    kind: 'decided',
    current,
    ready: current,
    decision: { mode: 'Stable', reason: 'num_requests 7 for target 2', ...decision },
    recommendation: recommendation(decision.replicas),
    signals: [
      { name: 'num_requests', aggregate: 'sum', value: 7, target: 2, targetText: '2' },
      { name: 'kv_cache_usage', aggregate: 'average', value: 0.5, target: 0.8, targetText: '80%' },
      { name: 'p95_latency', aggregate: 'average', value: undefined, error: 'prometheus: bad_data: parse error', target: 0.3, targetText: '300m' },
    ],
    ...extra,
  } as SyncOutcome;
}

/** The sample lines of the metrics text whose name starts with `prefix`, comments dropped. */
async function samples(registry: Registry, prefix = 'matrixinfer_autoscaler_'): Promise<string[]> {
  return (await registry.metrics()).split('\n').filter((l) => l.startsWith(prefix));
}

async function value(registry: Registry, series: string): Promise<number | undefined> {
  const line = (await samples(registry)).find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const B = '{namespace="team-a",binding="llama"';

test('a decided sync: counts, bounds, mode one-hot, each metric, the actions by direction and mode', async () => {
  const registry = new Registry();
  const metrics = new AutoscalerMetrics(registry);
  metrics.synced(binding(), decided(2, { replicas: 4 }));
  assert.equal(await value(registry, `matrixinfer_autoscaler_current_replicas${B}}`), 4);
  assert.equal(await value(registry, `matrixinfer_autoscaler_desired_replicas${B}}`), 4);
  assert.equal(await value(registry, `matrixinfer_autoscaler_ready_replicas${B}}`), 2);
  assert.equal(await value(registry, `matrixinfer_autoscaler_min_replicas${B}}`), 1);
  assert.equal(await value(registry, `matrixinfer_autoscaler_max_replicas${B}}`), 8);
  for (const mode of ['Hold', 'Stable', 'Panic', 'Forecast', 'Schedule']) {
    assert.equal(await value(registry, `matrixinfer_autoscaler_mode${B},mode="${mode}"}`), mode === 'Stable' ? 1 : 0, mode);
  }
  assert.equal(await value(registry, `matrixinfer_autoscaler_metric_value${B},metric="num_requests"}`), 7);
  assert.equal(await value(registry, `matrixinfer_autoscaler_metric_target${B},metric="num_requests"}`), 2);
  assert.equal(await value(registry, `matrixinfer_autoscaler_metric_recommended_replicas${B},metric="num_requests"}`), 4);
  assert.equal(await value(registry, `matrixinfer_autoscaler_metric_target${B},metric="kv_cache_usage"}`), 0.8);
  // An unreadable metric keeps its target and has no value nor recommendation (no stale or invented figure).
  assert.equal(await value(registry, `matrixinfer_autoscaler_metric_target${B},metric="p95_latency"}`), 0.3);
  assert.equal(await value(registry, `matrixinfer_autoscaler_metric_value${B},metric="p95_latency"}`), undefined);
  assert.equal(await value(registry, `matrixinfer_autoscaler_metric_recommended_replicas${B},metric="p95_latency"}`), undefined);
  assert.equal(await value(registry, `matrixinfer_autoscaler_scaling_actions_total${B},direction="up",mode="Stable"}`), 1);
  assert.equal(await value(registry, `matrixinfer_autoscaler_syncs_total${B},result="decided"}`), 1);
  assert.equal(await value(registry, `matrixinfer_autoscaler_syncs_total${B},result="invalid"}`), 0);
  assert.equal(await value(registry, `matrixinfer_autoscaler_scale_errors_total${B}}`), 0);
  assert.equal(await value(registry, `matrixinfer_autoscaler_invalid${B},reason="TargetNotFound"}`), 0);
  // No forecast, no variants: no such series.
  assert.deepEqual((await samples(registry)).filter((l) => /forecast|variant|cost/.test(l)), []);

  // Help says what the counts are with variants.
  assert.match(await registry.metrics(), /# HELP matrixinfer_autoscaler_desired_replicas .*Capacity units with spec\.variants/);
  assert.match(await registry.metrics(), /# TYPE matrixinfer_autoscaler_scaling_actions_total counter/);

  // Steady, then down in Panic's absence, then a failed write: only real changes count as actions.
  metrics.synced(binding(), decided(4, { replicas: 4 }));
  metrics.synced(binding(), decided(4, { replicas: 3 }));
  metrics.synced(binding(), decided(3, { replicas: 5, mode: 'Panic' }, { scaleError: 'conflict' }));
  assert.equal(await value(registry, `matrixinfer_autoscaler_scaling_actions_total${B},direction="up",mode="Stable"}`), 1);
  assert.equal(await value(registry, `matrixinfer_autoscaler_scaling_actions_total${B},direction="down",mode="Stable"}`), 1);
  assert.equal(await value(registry, `matrixinfer_autoscaler_scaling_actions_total${B},direction="up",mode="Panic"}`), undefined);
  assert.equal(await value(registry, `matrixinfer_autoscaler_scale_errors_total${B}}`), 1);
  assert.equal(await value(registry, `matrixinfer_autoscaler_syncs_total${B},result="decided"}`), 4);
  // The write failed: the count stayed where it was, the decision is still reported.
  assert.equal(await value(registry, `matrixinfer_autoscaler_current_replicas${B}}`), 3);
  assert.equal(await value(registry, `matrixinfer_autoscaler_desired_replicas${B}}`), 5);
  assert.equal(await value(registry, `matrixinfer_autoscaler_mode${B},mode="Panic"}`), 1);
  assert.equal(await value(registry, `matrixinfer_autoscaler_mode${B},mode="Stable"}`), 0);
});

test('gauges follow the last sync: a metric without a value and a decision of a binding now invalid go', async () => {
  const registry = new Registry();
  const metrics = new AutoscalerMetrics(registry);
  metrics.synced(binding(), decided(2, { replicas: 2 }));
  // Hold: nothing could be read, so no value nor recommendation series (not the last values, stale); targets stay.
  const unread = [{ name: 'num_requests', aggregate: 'sum', value: undefined, error: 'no fresh engine scrape', target: 2, targetText: '2' }];
  metrics.synced(binding(), decided(2, { replicas: 2, mode: 'Hold' }, { recommendation: undefined, signals: unread }));
  assert.deepEqual((await samples(registry)).filter((l) => l.includes('metric_')), [`matrixinfer_autoscaler_metric_target${B},metric="num_requests"} 2`]);
  assert.equal(await value(registry, `matrixinfer_autoscaler_desired_replicas${B}}`), 2);

  metrics.synced(binding(), { kind: 'invalid', reason: 'PolicyNotFound', message: 'AutoscalingPolicy llama not found' });
  assert.equal(await value(registry, `matrixinfer_autoscaler_invalid${B},reason="PolicyNotFound"}`), 1);
  assert.equal(await value(registry, `matrixinfer_autoscaler_invalid${B},reason="InvalidSpec"}`), 0);
  assert.equal(await value(registry, `matrixinfer_autoscaler_syncs_total${B},result="invalid"}`), 1);
  assert.equal(await value(registry, `matrixinfer_autoscaler_mode${B},mode="Hold"}`), 1);
  for (const gone of ['current_replicas', 'desired_replicas', 'ready_replicas', 'min_replicas', 'max_replicas']) {
    assert.equal(await value(registry, `matrixinfer_autoscaler_${gone}${B}}`), undefined, gone);
  }
  // Counters stay.
  assert.equal(await value(registry, `matrixinfer_autoscaler_syncs_total${B},result="decided"}`), 2);

  metrics.synced(binding(), decided(2, { replicas: 2 }));
  assert.equal(await value(registry, `matrixinfer_autoscaler_invalid${B},reason="PolicyNotFound"}`), 0);
});

test('the forecast and an open schedule window: their series, and the bounds in force', async () => {
  const registry = new Registry();
  const metrics = new AutoscalerMetrics(registry);
  const forecast = { enabled: true, horizonMs: 120_000, value: 42.5, recommended: 6, mape: 12.25 };
  const schedule = { min: 3, max: 10, active: ['business-hours'] };
  metrics.synced(binding(), decided(2, { replicas: 6, mode: 'Forecast' }, { forecast, schedule }));
  assert.equal(await value(registry, `matrixinfer_autoscaler_forecast_enabled${B}}`), 1);
  assert.equal(await value(registry, `matrixinfer_autoscaler_forecast_value${B}}`), 42.5);
  assert.equal(await value(registry, `matrixinfer_autoscaler_forecast_recommended_replicas${B}}`), 6);
  assert.equal(await value(registry, `matrixinfer_autoscaler_forecast_error_percent${B}}`), 12.25);
  assert.equal(await value(registry, `matrixinfer_autoscaler_forecast_horizon_seconds${B}}`), 120);
  assert.equal(await value(registry, `matrixinfer_autoscaler_min_replicas${B}}`), 3);
  assert.equal(await value(registry, `matrixinfer_autoscaler_max_replicas${B}}`), 10);
  assert.equal(await value(registry, `matrixinfer_autoscaler_scaling_actions_total${B},direction="up",mode="Forecast"}`), 1);

  // Not enough history yet: disabled, no value, no error; the window closed: the spec's bounds.
  metrics.synced(binding(), decided(6, { replicas: 6 }, { forecast: { enabled: false, horizonMs: 120_000, value: undefined, recommended: undefined, mape: undefined } }));
  assert.equal(await value(registry, `matrixinfer_autoscaler_forecast_enabled${B}}`), 0);
  for (const gone of ['forecast_value', 'forecast_recommended_replicas', 'forecast_error_percent']) {
    assert.equal(await value(registry, `matrixinfer_autoscaler_${gone}${B}}`), undefined, gone);
  }
  assert.equal(await value(registry, `matrixinfer_autoscaler_min_replicas${B}}`), 1);
  assert.equal(await value(registry, `matrixinfer_autoscaler_max_replicas${B}}`), 8);
});

test('variants: replicas per variant, the cost per hour in units, actions by the count reached', async () => {
  const registry = new Registry();
  const metrics = new AutoscalerMetrics(registry);
  const spec = { targetRef: undefined, variants: [] } as unknown as Partial<AutoscalingPolicyBinding['spec']>;
  const rows = [
    { name: 'cheap', current: 3, ready: 2, pending: 0, desired: 3, costPerReplica: '1.5', capacityWeight: 1 },
    { name: 'dear', current: 1, ready: 1, pending: 0, desired: 1, costPerReplica: '4', capacityWeight: 2 },
  ];
  metrics.synced(binding('llama', spec), decided(4, { replicas: 5 }, { variants: { rows, reached: 5, short: 0, costMilli: 8500 } }));
  assert.equal(await value(registry, `matrixinfer_autoscaler_variant_replicas${B},variant="cheap"}`), 3);
  assert.equal(await value(registry, `matrixinfer_autoscaler_variant_replicas${B},variant="dear"}`), 1);
  assert.equal(await value(registry, `matrixinfer_autoscaler_cost_per_hour${B}}`), 8.5);
  assert.equal(await value(registry, `matrixinfer_autoscaler_current_replicas${B}}`), 5);
  assert.equal(await value(registry, `matrixinfer_autoscaler_scaling_actions_total${B},direction="up",mode="Stable"}`), 1);

  // Asked for 7, every variant with room pending: nothing written, no action.
  metrics.synced(binding('llama', spec), decided(5, { replicas: 7 }, { variants: { rows, reached: 5, short: 2, costMilli: 8500 } }));
  assert.equal(await value(registry, `matrixinfer_autoscaler_scaling_actions_total${B},direction="up",mode="Stable"}`), 1);
  assert.equal(await value(registry, `matrixinfer_autoscaler_current_replicas${B}}`), 5);
  assert.equal(await value(registry, `matrixinfer_autoscaler_desired_replicas${B}}`), 7);
});

test('removed() deletes every series of that binding and only those; clear() all of them', async () => {
  const registry = new Registry();
  const metrics = new AutoscalerMetrics(registry);
  metrics.synced(binding('llama'), decided(1, { replicas: 2 }, { forecast: { enabled: true, horizonMs: 60_000, value: 3, recommended: 2, mape: 5 } }));
  metrics.synced(binding('qwen'), decided(1, { replicas: 1 }));
  metrics.removed('team-a', 'llama');
  const left = await samples(registry);
  assert.deepEqual(left.filter((l) => l.includes('binding="llama"')), []);
  assert.ok(left.some((l) => l.startsWith('matrixinfer_autoscaler_desired_replicas{namespace="team-a",binding="qwen"}')), left.join('\n'));
  metrics.removed('team-a', 'unknown'); // never synced: nothing to do

  // A binding that comes back starts its counters over.
  metrics.synced(binding('llama'), decided(1, { replicas: 1 }));
  assert.equal(await value(registry, `matrixinfer_autoscaler_syncs_total${B},result="decided"}`), 1);

  metrics.clear();
  assert.deepEqual(await samples(registry), []);
});
