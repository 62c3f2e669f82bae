// metrics.k8s.io/v1beta1 on the embedded API server, fed by a stand-in node agent (a /stats/summary endpoint named by
// its Node's annotation): discovery, metrics-server's object shapes, selectors, errors and read-only verbs.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { NODE_STATS_ENDPOINT_ANNOTATION, type StatsSummary } from '../api/node-stats.ts';
import { startTestApiServer, type TestApiServer } from '../kube/testing/apiserver.ts';
import { http } from './testkit.ts';

const M = '/apis/metrics.k8s.io/v1beta1';
const TIME = '2025-01-02T03:04:05Z';

describe('metrics.k8s.io on the embedded API server', () => {
  let t: TestApiServer;
  let agent: Server;
  let summary: StatsSummary;
  const uids: Record<string, string> = {};

  before(async () => {
    t = await startTestApiServer();
    agent = createServer((req, res) => {
      if (req.url !== '/stats/summary') return void res.writeHead(404).end();
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(summary));
    });
    await new Promise<void>((r) => agent.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(agent.address() as AddressInfo).port}`;
    await t.call('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1', labels: { zone: 'a' }, annotations: { [NODE_STATS_ENDPOINT_ANNOTATION]: endpoint } } });
    await t.call('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-2' } }); // no agent endpoint
    await t.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } });
    const pod = async (ns: string, name: string, labels: Record<string, string>, nodeName: string) => {
      const created = await t.call('POST', `/api/v1/namespaces/${ns}/pods`, {
        apiVersion: 'v1', kind: 'Pod', metadata: { name, labels }, spec: { nodeName, containers: [{ name: 'engine', image: 'e' }, { name: 'sidecar', image: 's' }] },
      });
      uids[`${ns}/${name}`] = (created.metadata as { uid: string }).uid;
    };
    await pod('default', 'a', { app: 'a' }, 'node-1');
    await pod('default', 'b', { app: 'b' }, 'node-1');
    await pod('default', 'quiet', { app: 'a' }, 'node-1'); // no metrics yet
    await pod('default', 'elsewhere', { app: 'a' }, 'node-2');
    await pod('other', 'c', { app: 'a' }, 'node-1');
    const usage = (nanoCores: number, bytes: number) => ({ time: TIME, window: '10.004s', usageNanoCores: nanoCores, workingSetBytes: bytes });
    const ref = (key: string) => ({ namespace: key.split('/')[0]!, name: key.split('/')[1]!, uid: uids[key]! });
    summary = {
      node: { nodeName: 'node-1', ...usage(1_500_000_000, 3 * 1024 ** 3) },
      pods: [
        { podRef: ref('default/a'), containers: [{ name: 'engine', ...usage(250_000_000, 1234 * 1024) }, { name: 'sidecar', ...usage(12345, 1024 ** 2) }] },
        { podRef: ref('default/b'), containers: [{ name: 'engine', ...usage(0, 4096) }] },
        { podRef: ref('other/c'), containers: [{ name: 'engine', ...usage(1, 1000) }] },
        // A pod of the same name recreated since (another uid): its old usage is not the new pod's.
        { podRef: { namespace: 'default', name: 'quiet', uid: 'an-earlier-uid' }, containers: [{ name: 'engine', ...usage(5, 5) }] },
      ],
    };
  });
  after(async () => {
    await t?.close();
    agent?.close();
  });

  it('is in discovery with the resources, kinds and verbs metrics-server has', async () => {
    const groups = await http(t, 'GET', '/apis');
    const group = groups.json.groups.find((g: { name: string }) => g.name === 'metrics.k8s.io');
    assert.deepEqual(group.preferredVersion, { groupVersion: 'metrics.k8s.io/v1beta1', version: 'v1beta1' });
    const list = await http(t, 'GET', M);
    const byName = Object.fromEntries(list.json.resources.map((r: { name: string }) => [r.name, r]));
    assert.deepEqual(byName.pods, { name: 'pods', singularName: '', namespaced: true, kind: 'PodMetrics', verbs: ['get', 'list'] });
    assert.deepEqual(byName.nodes, { name: 'nodes', singularName: '', namespaced: false, kind: 'NodeMetrics', verbs: ['get', 'list'] });
    const agg = await http(t, 'GET', '/apis', undefined, { Accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList' });
    const metrics = agg.json.items.find((g: { metadata: { name: string } }) => g.metadata.name === 'metrics.k8s.io');
    assert.deepEqual(metrics.versions[0].resources.map((r: { resource: string; verbs: string[] }) => [r.resource, r.verbs]), [['nodes', ['get', 'list']], ['pods', ['get', 'list']]]);
  });

  it("lists PodMetrics of a namespace in metrics-server's shape, with the pods' labels", async () => {
    const res = await http(t, 'GET', `${M}/namespaces/default/pods`);
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.json), ['kind', 'apiVersion', 'metadata', 'items']);
    assert.equal(res.json.kind, 'PodMetricsList');
    assert.equal(res.json.apiVersion, 'metrics.k8s.io/v1beta1');
    assert.deepEqual(res.json.items.map((i: { metadata: { name: string } }) => i.metadata.name), ['a', 'b']);
    const [a] = res.json.items;
    assert.ok(Date.now() - Date.parse(a.metadata.creationTimestamp) < 60_000, 'made at the request');
    assert.deepEqual(a, {
      metadata: { name: 'a', namespace: 'default', labels: { app: 'a' }, creationTimestamp: a.metadata.creationTimestamp },
      timestamp: TIME,
      window: '10.004s',
      containers: [
        { name: 'engine', usage: { cpu: '250m', memory: '1234Ki' } },
        { name: 'sidecar', usage: { cpu: '12345n', memory: '1Mi' } },
      ],
    });
    assert.deepEqual(res.json.items[1].containers, [{ name: 'engine', usage: { cpu: '0', memory: '4Ki' } }]);
  });

  it("filters by the pods' labels and by name, across namespaces too", async () => {
    const names = async (path: string) => (await http(t, 'GET', path)).json.items.map((i: { metadata: { namespace: string; name: string } }) => `${i.metadata.namespace}/${i.metadata.name}`);
    assert.deepEqual(await names(`${M}/namespaces/default/pods?labelSelector=app%3Da`), ['default/a']);
    assert.deepEqual(await names(`${M}/pods`), ['default/a', 'default/b', 'other/c']);
    assert.deepEqual(await names(`${M}/pods?labelSelector=app%20in%20(a)`), ['default/a', 'other/c']);
    assert.deepEqual(await names(`${M}/pods?fieldSelector=metadata.name%3Db`), ['default/b']);
    assert.equal((await http(t, 'GET', `${M}/pods?fieldSelector=spec.nodeName%3Dx`)).status, 400);
  });

  it('gets one PodMetrics; NotFound as metrics-server words it', async () => {
    const one = await http(t, 'GET', `${M}/namespaces/default/pods/a`);
    assert.equal(one.status, 200);
    assert.equal(one.json.kind, 'PodMetrics');
    assert.equal(one.json.apiVersion, 'metrics.k8s.io/v1beta1');
    assert.equal(one.json.containers.length, 2);
    const quiet = await http(t, 'GET', `${M}/namespaces/default/pods/quiet`);
    assert.equal(quiet.status, 404);
    assert.equal(quiet.json.message, 'podmetrics.metrics.k8s.io "default/quiet" not found');
    const missing = await http(t, 'GET', `${M}/namespaces/default/pods/nope`);
    assert.equal(missing.status, 404);
    assert.equal(missing.json.message, 'pods "nope" not found');
  });

  it('serves NodeMetrics for nodes whose agent answers', async () => {
    const list = await http(t, 'GET', `${M}/nodes`);
    assert.equal(list.json.kind, 'NodeMetricsList');
    assert.equal(list.json.items.length, 1);
    const [n] = list.json.items;
    assert.deepEqual(n, {
      metadata: { name: 'node-1', labels: { zone: 'a' }, creationTimestamp: n.metadata.creationTimestamp },
      timestamp: TIME,
      window: '10.004s',
      usage: { cpu: '1500m', memory: '3Gi' },
    });
    assert.equal((await http(t, 'GET', `${M}/nodes/node-1`)).json.kind, 'NodeMetrics');
    assert.equal((await http(t, 'GET', `${M}/nodes/node-2`)).json.message, 'nodemetrics.metrics.k8s.io "node-2" not found');
    assert.equal((await http(t, 'GET', `${M}/namespaces/default/nodes`)).status, 404);
  });

  it('renders tables as metrics-server does (`kubectl get podmetrics`)', async () => {
    const res = await http(t, 'GET', `${M}/namespaces/default/pods`, undefined, { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    assert.equal(res.json.kind, 'Table');
    assert.deepEqual(res.json.columnDefinitions.map((c: { name: string; format: string }) => [c.name, c.format]), [['Name', 'name'], ['cpu', 'quantity'], ['memory', 'quantity'], ['Window', 'duration']]);
    assert.deepEqual(res.json.rows[0].cells, ['a', '250012345n', '2258Ki', '10.004s']);
  });

  it('is read-only: writes and watches are 405 MethodNotAllowed', async () => {
    const body = { apiVersion: 'metrics.k8s.io/v1beta1', kind: 'PodMetrics', metadata: { name: 'a' } };
    for (const [method, path] of [['POST', `${M}/namespaces/default/pods`], ['PUT', `${M}/namespaces/default/pods/a`], ['DELETE', `${M}/namespaces/default/pods/a`], ['PATCH', `${M}/nodes/node-1`], ['GET', `${M}/pods?watch=true`]] as const) {
      const res = await http(t, method, path, method === 'GET' ? undefined : body, method === 'PATCH' ? { 'Content-Type': 'application/merge-patch+json' } : {});
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(res.json.reason, 'MethodNotAllowed');
    }
  });

  it('has no metrics for the pods of an agent that does not answer', async () => {
    const saved = summary;
    agent.closeAllConnections();
    await new Promise<void>((r) => agent.close(() => r()));
    try {
      const res = await http(t, 'GET', `${M}/namespaces/default/pods`);
      assert.equal(res.status, 200);
      assert.deepEqual(res.json.items, []);
    } finally {
      summary = saved;
    }
  });
});
