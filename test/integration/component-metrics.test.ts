// Every component's Prometheus series under the Kubernetes ecosystem's names, from the real processes of
// `matrixinfer up` (the quickstart), found through $MATRIXINFER_HOME/endpoints.json: each named series exists, and
// moves when the platform does work (API requests and a watch, a Model update, a pod run to Ready by its readiness
// probe, a crashing container, a completion through the gateway).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { EndpointsDocument } from '../../src/cli/endpoints.ts';
import { freePort, startPlatform, stopProcess, until } from '../support/platform.ts';
import { COMPONENT_SERIES, has, scrape, select, total, type Exposition } from '../support/prom.ts';

const home = mkdtempSync(join(tmpdir(), 'matrixinfer-metrics-'));
const env = { ...process.env, MATRIXINFER_HOME: home };
let platform: ReturnType<typeof startPlatform> | undefined;
let endpoints: EndpointsDocument;
let agentPort = 0;
type Component = keyof typeof COMPONENT_SERIES;
const COMPONENTS = Object.keys(COMPONENT_SERIES) as Component[];

const metricsUrl = (c: Component): string => endpoints[c].metrics;
const scrapeAll = async (): Promise<Record<Component, Exposition>> =>
  Object.fromEntries(await Promise.all(COMPONENTS.map(async (c) => [c, await scrape(metricsUrl(c))] as const))) as Record<Component, Exposition>;

async function api(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<any> {
  const res = await fetch(`${endpoints.apiserver.url}${path}`, { method, headers: { 'content-type': contentType, accept: 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

async function chat(): Promise<number> {
  const res = await fetch(`${endpoints.gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'llama-7b', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4 }),
  });
  await res.arrayBuffer();
  return res.status;
}

before(async () => {
  const ports = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
  const [gateway, tls, grpc, apiserver, metrics, agent, dashboard] = ports.map(String) as [string, string, string, string, string, string, string];
  agentPort = Number(agent);
  platform = startPlatform(['-f', 'examples/quickstart.yaml', '--gateway-port', gateway, '--gateway-tls-port', tls, '--gateway-grpc-port', grpc, '--apiserver-port', apiserver, '--controller-manager-metrics-port', metrics, '--agent-port', agent, '--dashboard-port', dashboard], env);
  await platform.up;
  endpoints = JSON.parse(readFileSync(join(home, 'endpoints.json'), 'utf8')) as EndpointsDocument;
  await until('a first completion', async () => (await chat()) === 200, 60_000, 100);
});

after(async () => {
  await stopProcess(platform?.child);
  rmSync(home, { recursive: true, force: true });
});

test('endpoints.json lists every component, and `up` says where it is', async () => {
  assert.match(platform!.output(), new RegExp(`endpoints: +${join(home, 'endpoints.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.match(endpoints.apiserver.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(endpoints.apiserver.metrics, `${endpoints.apiserver.url}/metrics`);
  assert.equal(endpoints.gateway.metrics, `${endpoints.gateway.url}/metrics`);
  assert.match(endpoints.gateway.tls, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.match(endpoints.gateway.grpc, /^127\.0\.0\.1:\d+$/);
  assert.match(endpoints['controller-manager'].metrics, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  assert.equal(endpoints.agent.metrics, `http://127.0.0.1:${agentPort}/metrics`);
  assert.match(endpoints.dashboard.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const page = await fetch(endpoints.dashboard.url);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<html/i, 'the dashboard answers at its URL');
  if (process.platform === 'linux') assert.equal(endpoints.agent.stats, endpoints.agent.metrics.replace(/\/metrics$/, '/stats/summary'));
});

test("each component serves its named series", async () => {
  const now = await scrapeAll();
  for (const c of COMPONENTS) {
    const missing = COMPONENT_SERIES[c].filter((name) => !has(now[c], name));
    assert.deepEqual(missing, [], `${c} (${metricsUrl(c)}) lacks series`);
  }
});

test('the series move with the work the platform does', async () => {
  const before = await scrapeAll();
  const ns = '/api/v1/namespaces/default';

  // API server: requests of each verb, a watch, stored objects, admission of a Model.
  await api('POST', `${ns}/configmaps`, { metadata: { name: 'metrics-test' }, data: { a: '1' } });
  await api('PATCH', `${ns}/configmaps/metrics-test`, { data: { a: '2' } }, 'application/merge-patch+json');
  await api('GET', `${ns}/configmaps/metrics-test`);
  await api('GET', `${ns}/configmaps`);
  const watch = await fetch(`${endpoints.apiserver.url}${ns}/configmaps?watch=1&timeoutSeconds=1`);
  await watch.text();
  // Controllers: a Model update is reconciled by the model controller.
  await api('PATCH', '/apis/registry.matrixinfer.ai/v1alpha1/namespaces/default/models/llama-7b', { metadata: { labels: { 'metrics-test': 'touched' } } }, 'application/merge-patch+json');
  // Agent: a host process that turns Ready by its readiness probe, and one that keeps crashing.
  const port = await freePort();
  await api('POST', `${ns}/pods`, {
    metadata: { name: 'metrics-web' },
    spec: {
      containers: [{
        name: 'web',
        image: 'node:24',
        command: [process.execPath, '-e', `require('node:http').createServer((q, s) => s.end('ok')).listen(${port}, process.env.POD_IP)`],
        env: [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
        ports: [{ containerPort: port }],
        readinessProbe: { httpGet: { path: '/', port }, periodSeconds: 1 },
      }],
    },
  });
  await api('POST', `${ns}/pods`, { metadata: { name: 'metrics-crash' }, spec: { containers: [{ name: 'main', image: 'node:24', command: [process.execPath, '-e', 'process.exit(3)'] }] } });
  // An executable whose interpreter does not exist: the process cannot be started at all.
  const unstartable = join(home, 'unstartable.sh');
  writeFileSync(unstartable, '#!/nonexistent/interpreter\n', { mode: 0o755 });
  await api('POST', `${ns}/pods`, { metadata: { name: 'metrics-unstartable' }, spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'busybox', command: [unstartable] }] } });
  await until('metrics-web Ready', async () => ((await api('GET', `${ns}/pods/metrics-web`)).status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'), 30_000, 100);
  await until('metrics-unstartable failed to start', async () => (await api('GET', `${ns}/pods/metrics-unstartable`)).status?.containerStatuses?.[0]?.state?.terminated?.reason === 'StartError', 30_000, 100);
  await until('metrics-crash restarted', async () => ((await api('GET', `${ns}/pods/metrics-crash`)).status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1, 30_000, 100);
  // Gateway: a completion.
  assert.equal(await chat(), 200);

  const after = await scrapeAll();
  const grew = (c: Component, name: string, filter: Record<string, string> = {}) => total(after[c], name, filter) - total(before[c], name, filter);

  // API server
  const cm = { resource: 'configmaps', component: 'apiserver' };
  assert.equal(grew('apiserver', 'apiserver_request_total', { ...cm, verb: 'CREATE', code: '201' }), 1);
  assert.equal(grew('apiserver', 'apiserver_request_total', { ...cm, verb: 'PATCH', code: '200' }), 1);
  assert.ok(grew('apiserver', 'apiserver_request_total', { ...cm, verb: 'GET', code: '200' }) >= 1);
  assert.ok(grew('apiserver', 'apiserver_request_total', { ...cm, verb: 'LIST', code: '200' }) >= 1);
  assert.ok(grew('apiserver', 'apiserver_request_total', { ...cm, verb: 'WATCH' }) >= 1);
  assert.ok(grew('apiserver', 'apiserver_watch_events_total', { group: '', version: 'v1', resource: 'configmaps' }) >= 1, 'the initial ADDED of the watch');
  assert.ok(grew('apiserver', 'apiserver_watch_events_total', { resource: 'pods' }) >= 2, 'pod events to the agent and the controllers');
  assert.ok(grew('apiserver', 'apiserver_request_duration_seconds_count', { ...cm, verb: 'CREATE' }) >= 1);
  assert.ok(grew('apiserver', 'apiserver_request_total', { resource: 'pods', verb: 'PATCH', subresource: 'status' }) >= 2, "the agent's pod status writes");
  assert.ok(total(after.apiserver, 'apiserver_longrunning_requests', { verb: 'WATCH' }) >= 3, 'the controllers, agent and gateway watch');
  assert.equal(grew('apiserver', 'apiserver_storage_objects', { resource: 'configmaps' }), 1);
  assert.equal(grew('apiserver', 'apiserver_storage_objects', { resource: 'pods' }), 3);
  assert.ok(total(after.apiserver, 'apiserver_storage_objects', { resource: 'models.registry.matrixinfer.ai' }) >= 1);
  assert.ok(grew('apiserver', 'etcd_request_duration_seconds_count', { operation: 'create', type: 'configmaps' }) >= 1);
  assert.ok(grew('apiserver', 'etcd_request_duration_seconds_count', { operation: 'update', type: 'pods' }) >= 2);
  assert.ok(grew('apiserver', 'apiserver_admission_controller_admission_duration_seconds_count', { operation: 'UPDATE', rejected: 'false' }) >= 1);
  assert.ok(select(after.apiserver, 'apiserver_current_inflight_requests', { request_kind: 'mutating' }).length === 1);

  // Controller manager
  const model = { controller: 'model' };
  const modelQueue = { name: 'model', controller: 'model' };
  assert.ok(grew('controller-manager', 'controller_runtime_reconcile_total', model) >= 1);
  assert.ok(grew('controller-manager', 'controller_runtime_reconcile_time_seconds_count', model) >= 1);
  assert.ok(grew('controller-manager', 'workqueue_adds_total', modelQueue) >= 1);
  assert.ok(grew('controller-manager', 'workqueue_queue_duration_seconds_count', modelQueue) >= 1);
  assert.ok(grew('controller-manager', 'workqueue_work_duration_seconds_count', modelQueue) >= 1);
  assert.equal(total(after['controller-manager'], 'controller_runtime_max_concurrent_reconciles', model), 2);
  assert.equal(total(after['controller-manager'], 'leader_election_master_status', { name: 'matrixinfer-controller-manager' }), 1);
  for (const name of ['workqueue_depth', 'workqueue_unfinished_work_seconds', 'workqueue_longest_running_processor_seconds', 'workqueue_retries_total', 'controller_runtime_active_workers', 'controller_runtime_reconcile_errors_total']) {
    assert.ok(select(after['controller-manager'], name, name.startsWith('workqueue') ? modelQueue : model).length === 1, `${name} for the model controller`);
  }

  // Node agent
  assert.ok(grew('agent', 'kubelet_pod_start_duration_seconds_count') >= 1);
  assert.ok(grew('agent', 'kubelet_pod_worker_duration_seconds_count', { operation: 'create' }) >= 3);
  assert.ok(grew('agent', 'kubelet_started_containers_total', { container_type: 'container' }) >= 3, 'the web container, the crasher, the unstartable');
  assert.equal(grew('agent', 'kubelet_started_containers_errors_total', { container_type: 'container', code: 'Unknown' }), 1);
  assert.ok(total(after.agent, 'prober_probe_total', { probe_type: 'Readiness', result: 'successful', pod: 'metrics-web', container: 'web', namespace: 'default' }) >= 1);
  assert.ok(total(after.agent, 'kube_pod_container_status_restarts_total', { namespace: 'default', pod: 'metrics-crash', container: 'main' }) >= 1);
  assert.equal(total(after.agent, 'kube_pod_container_status_restarts_total', { pod: 'metrics-web' }), 0);
  assert.ok(total(after.agent, 'kubelet_running_containers', { container_state: 'running' }) >= 2, 'the engine and the web container');
  // kubelet_running_pods is the pods with a running container, as the API reports them.
  await until('kubelet_running_pods to equal the running pods', async () => {
    const pods = (await api('GET', '/api/v1/pods')).items as any[];
    const running = pods.filter((p) => (p.status?.containerStatuses ?? []).some((s: any) => s.state?.running)).length;
    return total(await scrape(endpoints.agent.metrics), 'kubelet_running_pods') === running;
  }, 10_000, 100);

  // Gateway (its own series)
  assert.ok(grew('gateway', 'matrixinfer_gateway_requests_total') >= 1);
  assert.ok(grew('gateway', 'matrixinfer_gateway_request_duration_seconds_count') >= 1);
});

test('a clean stop removes endpoints.json', async () => {
  const file = join(home, 'endpoints.json');
  assert.ok(existsSync(file));
  await stopProcess(platform?.child);
  assert.equal(existsSync(file), false);
});
