// controller-runtime's and client-go's series from a real Controller and WorkQueue: reconcile results, errors and
// retries, queue adds, depth and latencies, work in progress, leader status.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { parseExposition, total, type Exposition } from '../../test/support/prom.ts';
import { Controller } from './controller.ts';
import { ControllerRuntimeMetrics } from './controller-metrics.ts';
import { createLogger } from './log.ts';
import { until } from './testing/until.ts';

const read = async (registry: Registry): Promise<Exposition> => parseExposition(await registry.metrics());

test('a controller reports its reconciles and its work queue', async () => {
  const registry = new Registry();
  const metrics = new ControllerRuntimeMetrics(registry);
  let release: () => void = () => {};
  const blocked = new Promise<void>((resolve) => (release = resolve));
  let failures = 0;
  let nows = 0;
  const controller = new Controller({
    name: 'widgets',
    workers: 3,
    baseDelayMs: 5,
    logger: createLogger('test', 'error'),
    reconcile: async (key) => {
      if (key === 'bad' && failures++ < 2) throw new Error('boom');
      if (key === 'later') return { requeueAfterMs: 60_000 };
      if (key === 'now' && nows++ === 0) return { requeueAfterMs: 0 };
      if (key === 'slow') await blocked;
      return undefined;
    },
  }).instrument(metrics);

  const initial = await read(registry);
  const c = { controller: 'widgets' };
  const q = { name: 'widgets', controller: 'widgets' };
  assert.equal(total(initial, 'controller_runtime_max_concurrent_reconciles', c), 3);
  assert.equal(select0(initial, 'controller_runtime_reconcile_total', { ...c, result: 'success' }), true, 'present at 0 before any reconcile');
  // Queued before the workers run: depth counts them, a duplicate is not an add.
  controller.enqueue('a');
  controller.enqueue('a');
  controller.enqueue('bad');
  let exp = await read(registry);
  assert.equal(total(exp, 'workqueue_depth', q), 2);
  assert.equal(total(exp, 'workqueue_adds_total', q), 2);

  await controller.start();
  await until('the failing key retried to success', async () => total(await read(registry), 'controller_runtime_reconcile_total', { ...c, result: 'success' }) >= 2);
  controller.enqueue('later');
  controller.enqueue('now');
  controller.enqueue('slow');
  exp = await until('the slow reconcile in progress', async () => {
    const e = await read(registry);
    return total(e, 'controller_runtime_active_workers', c) === 1 && total(e, 'workqueue_longest_running_processor_seconds', q) > 0 ? e : undefined;
  });
  // One key in process: the two agree (each read at its own moment of the scrape).
  assert.ok(Math.abs(total(exp, 'workqueue_unfinished_work_seconds', q) - total(exp, 'workqueue_longest_running_processor_seconds', q)) < 0.05);
  release();
  exp = await until('every reconcile done', async () => {
    const e = await read(registry);
    return total(e, 'controller_runtime_active_workers', c) === 0 && total(e, 'controller_runtime_reconcile_total', { ...c, result: 'success' }) === 4 ? e : undefined;
  });
  assert.equal(total(exp, 'controller_runtime_reconcile_total', { ...c, result: 'error' }), 2);
  assert.equal(total(exp, 'controller_runtime_reconcile_errors_total', c), 2);
  assert.equal(total(exp, 'controller_runtime_reconcile_total', { ...c, result: 'requeue_after' }), 1);
  assert.equal(total(exp, 'controller_runtime_reconcile_total', { ...c, result: 'requeue' }), 1);
  assert.equal(total(exp, 'workqueue_retries_total', q), 2);
  // a, bad (+2 retries), later, now (+1 immediate requeue), slow.
  assert.equal(total(exp, 'workqueue_adds_total', q), 8);
  const reconciles = total(exp, 'controller_runtime_reconcile_total', c);
  assert.equal(total(exp, 'controller_runtime_reconcile_time_seconds_count', c), reconciles);
  assert.equal(total(exp, 'workqueue_work_duration_seconds_count', q), reconciles);
  assert.ok(total(exp, 'workqueue_queue_duration_seconds_count', q) >= reconciles);
  assert.equal(total(exp, 'workqueue_longest_running_processor_seconds', q), 0);
  await controller.stop();
  assert.equal(total(await read(registry), 'workqueue_depth', q), 0);
});

test('leader status and webhook requests', async () => {
  const registry = new Registry();
  const metrics = new ControllerRuntimeMetrics(registry);
  metrics.leading('lease', false);
  assert.equal(total(await read(registry), 'leader_election_master_status', { name: 'lease' }), 0);
  metrics.leading('lease', true);
  assert.equal(total(await read(registry), 'leader_election_master_status', { name: 'lease' }), 1);
  metrics.webhook('/validate', 200, 0.002);
  const exp = await read(registry);
  assert.equal(total(exp, 'controller_runtime_webhook_requests_total', { webhook: '/validate', code: '200' }), 1);
  assert.equal(total(exp, 'controller_runtime_webhook_latency_seconds_count', { webhook: '/validate' }), 1);
});

function select0(exp: Exposition, name: string, labels: Record<string, string>): boolean {
  return exp.samples.some((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v) && s.value === 0);
}
