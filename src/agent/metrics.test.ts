// The kubelet's series from the agent's view of its pods, read at scrape time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseExposition, select, total } from '../../test/support/prom.ts';
import { AgentMetrics, type PodView } from './metrics.ts';

test('running pods and containers, restarts as kube-state-metrics counts them, probes and starts', async () => {
  let pods: PodView[] = [
    { namespace: 'ns', name: 'web', containers: [{ name: 'init', init: true, state: 'exited', restartCount: 2 }, { name: 'main', init: false, state: 'running', restartCount: 0 }] },
    { namespace: 'ns', name: 'crash', containers: [{ name: 'main', init: false, state: 'exited', restartCount: 4 }] },
    { namespace: 'ns', name: 'new', containers: [{ name: 'main', init: false, state: 'waiting', restartCount: 0 }] },
  ];
  const metrics = new AgentMetrics(() => pods, { processMetrics: false });
  metrics.probed('readiness', true, { namespace: 'ns', name: 'web' }, 'main');
  metrics.probed('liveness', false, { namespace: 'ns', name: 'web' }, 'main');
  metrics.probed('startup', undefined, { namespace: 'ns', name: 'web' }, 'main');
  metrics.containerStarted('container');
  metrics.containerStartFailed('container');
  metrics.podStarted(1.5);
  metrics.podSynced('create', 0.001);
  let exp = parseExposition(await metrics.registry.metrics());
  assert.equal(total(exp, 'kubelet_running_pods'), 1);
  assert.equal(total(exp, 'kubelet_running_containers', { container_state: 'running' }), 1);
  assert.equal(total(exp, 'kubelet_running_containers', { container_state: 'exited' }), 2);
  assert.deepEqual(select(exp, 'kube_pod_container_status_restarts_total').map((s) => [s.labels.pod, s.labels.container, s.value]), [['web', 'main', 0], ['crash', 'main', 4], ['new', 'main', 0]]);
  assert.equal(exp.types.get('kube_pod_container_status_restarts_total'), 'counter');
  for (const [type, result] of [['Readiness', 'successful'], ['Liveness', 'failed'], ['Startup', 'unknown']]) {
    assert.equal(total(exp, 'prober_probe_total', { probe_type: type!, result: result!, pod: 'web', container: 'main', namespace: 'ns' }), 1);
  }
  assert.equal(total(exp, 'kubelet_started_containers_total', { container_type: 'container' }), 1);
  assert.equal(total(exp, 'kubelet_started_containers_total', { container_type: 'init_container' }), 0);
  assert.equal(total(exp, 'kubelet_started_containers_errors_total', { container_type: 'container', code: 'Unknown' }), 1);
  assert.equal(total(exp, 'kubelet_pod_start_duration_seconds_count'), 1);
  assert.equal(total(exp, 'kubelet_pod_start_duration_seconds_bucket', { le: '2' }), 1);
  assert.equal(total(exp, 'kubelet_pod_worker_duration_seconds_count', { operation: 'create' }), 1);

  // A pod gone: its restart series go with it.
  pods = pods.slice(0, 1);
  exp = parseExposition(await metrics.registry.metrics());
  assert.deepEqual(select(exp, 'kube_pod_container_status_restarts_total').map((s) => s.labels.pod), ['web']);
  assert.equal(total(exp, 'kubelet_running_containers', { container_state: 'exited' }), 1);
});
