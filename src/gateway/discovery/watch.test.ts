// WorldWatcher against the embedded API server (with the networking, ModelInfer and StaticRoute CRDs): initial sync,
// add/update/delete events for routes, servers, pods and StaticRoutes (their status too), the ModelInfer label selector
// on pods, and recovery after the API server goes away
// (closed, then restarted on the same port and data directory, so watches must resume or relist).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { startApiServer, type RunningApiServer } from '../../apiserver/server.ts';
import { loopbackKubeConfig } from '../../kube/config.ts';
import { scaleFromZeroWriter, WorldWatcher } from './watch.ts';
import { modelRoute, modelServer, pod, toServers } from '../testing/fixtures.ts';
import { until } from '../../kube/testing/until.ts';

const NET = '/apis/networking.matrixinfer.ai/v1alpha1/namespaces/default';
const PODS = '/api/v1/namespaces/default/pods';
const WORKLOAD = '/apis/workload.matrixinfer.ai/v1alpha1/namespaces/default';
const STATIC = '/apis/production-stack.vllm.ai/v1alpha1/namespaces/default/staticroutes';
/** The CRDs the watcher lists. */
const CRDS = ['networking.matrixinfer.ai_modelroutes', 'networking.matrixinfer.ai_modelservers', 'workload.matrixinfer.ai_modelinfers', 'production-stack.vllm.ai_staticroutes'];


test('lists and watches routes, servers and labelled pods; survives an API server restart', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'matrixinfer-gw-watch-'));
  let api: RunningApiServer = await startApiServer({ dataDir, port: 0 });
  const url = api.url;
  const k = async (method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<void> => {
    const res = await fetch(url + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': contentType },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  };
  for (const file of CRDS) {
    const crd = await readFile(new URL(`../../../deploy/crds/${file}.yaml`, import.meta.url), 'utf8');
    await k('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', parseYaml(crd));
  }
  const crdsServed = async () =>
    (await fetch(`${url}${NET}/modelroutes`)).ok && (await fetch(`${url}${NET}/modelservers`)).ok && (await fetch(`${url}${WORKLOAD}/modelinfers`)).ok && (await fetch(`${url}${STATIC}`)).ok;
  for (let i = 0; !(await crdsServed()); i++) {
    if (i > 200) throw new Error('the networking CRDs are not served');
    await new Promise((r) => setTimeout(r, 10));
  }
  await k('POST', `${NET}/modelservers`, modelServer('s', {}));

  let changes = 0;
  const logs: string[] = [];
  const watcher = new WorldWatcher(loopbackKubeConfig(url), { onChange: () => changes++, retryMs: 50, log: (m) => logs.push(m) });
  try {
    assert.equal(watcher.synced, false);
    watcher.start();
    await watcher.ready;
    assert.equal(watcher.synced, true);
    assert.deepEqual(watcher.snapshot().servers.map((s) => s.metadata?.name), ['s']);

    // Only pods labelled with a ModelInfer name are watched.
    await k('POST', PODS, { ...pod('plain', 's'), metadata: { name: 'plain', namespace: 'default', labels: { app: 'other' } } });
    await k('POST', `${NET}/modelroutes`, modelRoute('r', 'm', [toServers('s')]));
    await k('POST', PODS, pod('p', 's'));
    await until('route and pod seen', () => watcher.snapshot().routes.length === 1 && watcher.snapshot().pods.length === 1);
    assert.deepEqual(watcher.snapshot().pods.map((p) => p.metadata?.name), ['p']);

    await k('PATCH', `${NET}/modelservers/s`, { spec: { model: 'meta-llama/Llama-2-7b' } }, 'application/merge-patch+json');
    await until('server update seen', () => watcher.snapshot().servers[0]?.spec.model === 'meta-llama/Llama-2-7b');

    // StaticRoutes, and the backends' health the controller writes into their status.
    await k('POST', STATIC, { apiVersion: 'production-stack.vllm.ai/v1alpha1', kind: 'StaticRoute', metadata: { name: 'ext' }, spec: { staticBackends: 'http://10.9.0.1:8000', staticModels: 'm' } });
    await k('PATCH', `${STATIC}/ext/status`, { status: { backends: [{ url: 'http://10.9.0.1:8000', model: 'm', healthy: true }] } }, 'application/merge-patch+json');
    await until('StaticRoute status seen', () => watcher.snapshot().staticRoutes?.[0]?.status?.backends?.[0]?.healthy === true);

    const before = changes;
    await k('DELETE', `${PODS}/p`);
    await until('pod deletion seen', () => watcher.snapshot().pods.length === 0);
    assert.ok(changes > before);

    // Outage: the API server goes away (watches cut, relists refused); the watcher keeps retrying and catches up
    // with the restarted server, whose watch cache starts empty.
    await api.close();
    await new Promise((r) => setTimeout(r, 200));
    api = await startApiServer({ dataDir, port: api.port });
    assert.equal(api.url, url);
    await k('POST', PODS, pod('q', 's'));
    await k('DELETE', `${NET}/modelroutes/r`);
    await until(
      'changes after the outage',
      () => watcher.snapshot().pods.some((p) => p.metadata?.name === 'q') && watcher.snapshot().routes.length === 0,
      8000,
    );
    assert.equal(watcher.synced, true);
    assert.deepEqual(watcher.snapshot().servers.map((s) => s.metadata?.name), ['s']);
    // The outage was noticed and retried, not slept through.
    assert.ok(logs.some((m) => /informer\/[a-z]+: list\/watch failed, restarting \(.*retryInMs=\d+/.test(m)), logs.join('\n'));
  } finally {
    await watcher.stop();
    await api.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('ModelInfers are watched; the 0→1 write through the scale subresource: two racing writers end with 1 replica', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'matrixinfer-gw-scale-'));
  const api: RunningApiServer = await startApiServer({ dataDir, port: 0 });
  const url = api.url;
  const k = async (method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Record<string, unknown>> => {
    const res = await fetch(url + path, { method, headers: body === undefined ? {} : { 'content-type': contentType }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  };
  for (const file of CRDS) {
    await k('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', parseYaml(await readFile(new URL(`../../../deploy/crds/${file}.yaml`, import.meta.url), 'utf8')));
  }
  await until('CRDs served', async () => (await fetch(`${url}${WORKLOAD}/modelinfers`)).ok);
  const template = { spec: { containers: [{ name: 'engine', image: 'e' }] } };
  await k('POST', `${WORKLOAD}/modelinfers`, {
    apiVersion: 'workload.matrixinfer.ai/v1alpha1', kind: 'ModelInfer', metadata: { name: 'mi' }, spec: { replicas: 0, roles: [{ name: 'server', template }] },
  });
  const watcher = new WorldWatcher(loopbackKubeConfig(url), { onChange: () => {}, retryMs: 50, secrets: false });
  try {
    watcher.start();
    await watcher.ready;
    assert.deepEqual(watcher.snapshot().infers?.map((m) => [m.metadata?.name, m.spec?.replicas]), [['mi', 0]]);
    const scale = scaleFromZeroWriter(loopbackKubeConfig(url));
    const outcomes = await Promise.all([scale('default', 'mi'), scale('default', 'mi')]);
    assert.deepEqual(outcomes.sort(), ['not_at_zero', 'scaled']);
    const mi = await k('GET', `${WORKLOAD}/modelinfers/mi`);
    assert.equal((mi.spec as { replicas: number }).replicas, 1);
    assert.equal(await scale('default', 'mi'), 'not_at_zero');
    await until('replicas 1 seen', () => watcher.snapshot().infers?.[0]?.spec?.replicas === 1);
    await assert.rejects(scale('default', 'absent'), (err: { code?: number }) => err.code === 404);
  } finally {
    await watcher.stop();
    await api.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
