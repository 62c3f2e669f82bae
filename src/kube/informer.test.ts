// The shared informer against the real embedded API server (one per file, in a temp dir): list, watch events,
// resuming after the server went away and came back, relisting after 410 Gone, retrying while it is unreachable,
// list handlers after every complete list. Against a scripted server: an ERROR event relists after back-off, and the
// selectors reach both the list and the watch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dc from 'node:diagnostics_channel';
import { createServer, type ClientRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeClient, type ResourceType } from './client.ts';
import { loopbackKubeConfig } from './config.ts';
import { SharedInformer, type EventType } from './informer.ts';
import { createLogger } from './log.ts';
import { startTestApiServer, type TestApiServer } from './testing/apiserver.ts';
import { until } from './testing/until.ts';

const THINGS: ResourceType = { group: 'test.matrixinfer.ai', version: 'v1', kind: 'Thing', plural: 'things', namespaced: true };
const THING_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'things.test.matrixinfer.ai' },
  spec: {
    group: 'test.matrixinfer.ai',
    scope: 'Namespaced',
    names: { plural: 'things', singular: 'thing', kind: 'Thing' },
    versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } } }],
  },
};
const thing = (name: string, labels: Record<string, string> = {}, namespace = 'default') =>
  ({ apiVersion: 'test.matrixinfer.ai/v1', kind: 'Thing', metadata: { name, namespace, labels }, spec: { n: 1 } });
const quiet = createLogger('test', 'silent');

// Every HTTP request client-node makes (node-fetch over node:http), observed, not intercepted.
const requests: { method: string; path: string; error?: string }[] = [];
const onStart = (m: unknown) => {
  const req = (m as { request: ClientRequest }).request;
  requests.push({ method: req.method, path: req.path });
};
const onError = (m: unknown) => {
  const { request, error } = m as { request: ClientRequest; error: NodeJS.ErrnoException };
  const r = requests.findLast((x) => x.path === request.path && x.method === request.method);
  if (r) r.error = error.code ?? error.message;
};
const isThings = (r: { path: string }) => /\/things(\?|$)/.test(r.path);
const lists = () => requests.filter((r) => isThings(r) && r.method === 'GET' && !r.path.includes('watch=true'));
const watches = () => requests.filter((r) => isThings(r) && r.path.includes('watch=true'));

let api: TestApiServer;
let client: KubeClient;

before(async () => {
  dc.subscribe('http.client.request.start', onStart);
  dc.subscribe('http.client.request.error', onError);
  api = await startTestApiServer();
  await api.installCrds([THING_CRD]);
  client = new KubeClient(api.kubeConfig);
});

after(async () => {
  dc.unsubscribe('http.client.request.start', onStart);
  dc.unsubscribe('http.client.request.error', onError);
  await api?.close();
});


test('informer: list, watch, reconnect without relisting, relist on 410, restart after errors', async () => {
  const informer = new SharedInformer(client, THINGS, { minBackoffMs: 20, maxBackoffMs: 100, logger: quiet });
  const seen: [EventType, string][] = [];
  informer.addHandler((type, o) => seen.push([type, o.metadata.name!]));
  // Each complete list as its handlers see it: names, and the events that came before the call.
  const views: { names: string[]; after: number }[] = [];
  informer.addListHandler((objects) => views.push({ names: objects.map((o) => o.metadata.name!).sort(), after: seen.length }));
  let late: SharedInformer | undefined;
  try {
    await client.create(THINGS, thing('a'));
    await client.create(THINGS, thing('b'));
    informer.start();
    await informer.waitForSync();
    assert.equal(informer.hasSynced, true);
    assert.deepEqual(informer.list().map((o) => o.metadata.name).sort(), ['a', 'b']);
    assert.equal(informer.get('default', 'a')?.metadata.name, 'a');
    assert.deepEqual(seen.sort(), [['add', 'a'], ['add', 'b']]);
    assert.deepEqual(views, [{ names: ['a', 'b'], after: 2 }]);

    // Watch events.
    seen.length = 0;
    const c = await client.create(THINGS, thing('c'));
    await client.mergePatch(THINGS, 'default', 'c', { spec: { n: 2 } });
    await client.delete(THINGS, 'default', 'a');
    await until('condition', () => seen.length === 3);
    assert.deepEqual(seen, [['add', 'c'], ['update', 'c'], ['delete', 'a']]);
    assert.equal((informer.get('default', 'c')?.spec as { n: number }).n, 2);
    assert.ok(c.metadata.uid);
    const watch = watches().at(-1)!;
    assert.match(watch.path, /allowWatchBookmarks=true/);
    assert.match(watch.path, /timeoutSeconds=\d+/);

    // The server goes away and comes back (same port, same data, nothing written meanwhile): the informer's
    // watches fail while it is down, then it resumes from its resourceVersion — no second list.
    const listsBefore = lists().length;
    const watchesBefore = watches().length;
    await api.down();
    await until('condition', () => watches().slice(watchesBefore).filter((w) => w.error === 'ECONNREFUSED').length >= 2);
    await api.up();
    await client.create(THINGS, thing('d'));
    await until('condition', () => informer.get('default', 'd') !== undefined);
    assert.equal(lists().length, listsBefore, 'no relist after a plain reconnect');
    assert.equal(views.length, 1, 'no list handler call without a list');
    assert.match(watches().at(-1)!.path, /resourceVersion=\d+/, 'the watch resumed from a resourceVersion');

    // Away again, and this time b is deleted while the informer cannot see it: the restarted server's watch
    // history begins after that delete, so resuming gets 410 Expired → one relist, which reports the missed delete.
    const listsBefore410 = lists().length;
    seen.length = 0;
    await api.down();
    await api.whileDown((kubeConfig) => new KubeClient(kubeConfig).delete(THINGS, 'default', 'b'));
    await api.up();
    await until('condition', () => informer.get('default', 'b') === undefined);
    assert.equal(lists().length, listsBefore410 + 1, 'relisted once after 410');
    assert.deepEqual(seen, [['delete', 'b']]);
    assert.deepEqual(informer.list().map((o) => o.metadata.name).sort(), ['c', 'd']);
    assert.deepEqual(views.at(-1), { names: ['c', 'd'], after: 1 }, "the relist's complete view, after its events");

    // Unreachable server: a new informer's list fails, and keeps being retried with back-off, as do the running
    // informer's watches; both recover once the server is back.
    const listsBeforeOutage = lists().length;
    await api.down();
    late = new SharedInformer(client, THINGS, { minBackoffMs: 20, maxBackoffMs: 100, logger: quiet });
    late.start();
    await until('condition', () => lists().slice(listsBeforeOutage).filter((l) => l.error === 'ECONNREFUSED').length >= 2);
    assert.equal(late.hasSynced, false);
    await api.up();
    await late.waitForSync();
    await client.create(THINGS, thing('e'));
    await until('condition', () => informer.get('default', 'e') !== undefined && late!.get('default', 'e') !== undefined);
    assert.deepEqual(late.list().map((o) => o.metadata.name).sort(), ['c', 'd', 'e']);
  } finally {
    informer.stop();
    late?.stop();
    await api.up();
  }
});

test('informer: label selectors and namespaces', async () => {
  const informer = new SharedInformer(client, THINGS, { labelSelector: 'pick', namespace: 'default', logger: quiet });
  try {
    await client.create(THINGS, thing('yes', { pick: 'x' }));
    await client.create(THINGS, thing('no'));
    await client.create(THINGS, thing('elsewhere', { pick: 'x' }, 'kube-system'));
    informer.start();
    await informer.waitForSync();
    assert.deepEqual(informer.list().map((o) => o.metadata.name), ['yes']);
    await client.create(THINGS, thing('never'));
    await client.create(THINGS, thing('away', { pick: 'y' }, 'kube-system'));
    await client.create(THINGS, thing('later', { pick: 'y' }));
    await until('condition', () => informer.get('default', 'later') !== undefined);
    assert.equal(informer.get('default', 'never'), undefined);
    assert.deepEqual(informer.list().map((o) => o.metadata.name).sort(), ['later', 'yes']);
  } finally {
    informer.stop();
  }
});

test('informer: an ERROR event relists after back-off; field and label selectors reach the list and the watch', async () => {
  // A scripted API server: every list returns the same two things at a new resourceVersion, every watch sends one
  // ERROR event (not 410) and ends.
  const seen: string[] = [];
  let rv = 0;
  const server = createServer((req, res) => {
    seen.push(req.url!);
    res.setHeader('content-type', 'application/json');
    if (new URL(req.url!, 'http://x').searchParams.get('watch') === 'true') {
      res.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 500, message: 'etcd hiccup' } }) + '\n');
      return;
    }
    rv++;
    res.end(JSON.stringify({ apiVersion: 'test.matrixinfer.ai/v1', kind: 'ThingList', metadata: { resourceVersion: String(rv) }, items: [thing('x'), thing('y')].map((t) => ({ ...t, metadata: { ...t.metadata, resourceVersion: '1' } })) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const informer = new SharedInformer(new KubeClient(loopbackKubeConfig(url)), THINGS, {
    fieldSelector: 'metadata.name!=z', labelSelector: 'pick', minBackoffMs: 50, maxBackoffMs: 50, logger: quiet,
  });
  const events: string[] = [];
  informer.addHandler((type, o) => events.push(`${type} ${o.metadata.name}`));
  let views = 0;
  informer.addListHandler((objects) => {
    assert.equal(objects.length, 2);
    views++;
  });
  try {
    informer.start();
    await informer.waitForSync();
    const started = Date.now();
    await until('three lists', () => views >= 3);
    // Two relists, each after the 50 ms back-off: paced, not a busy loop.
    assert.ok(Date.now() - started >= 90, `relisted after ${Date.now() - started} ms`);
    // Unchanged objects (same resourceVersion) are no events on a relist; the list handlers still see them all.
    assert.deepEqual(events.sort(), ['add x', 'add y']);
    const listUrls = seen.filter((u) => !u.includes('watch=true'));
    const watchUrls = seen.filter((u) => u.includes('watch=true'));
    for (const u of [...listUrls, ...watchUrls]) {
      const q = new URL(u, url).searchParams;
      assert.equal(q.get('fieldSelector'), 'metadata.name!=z', u);
      assert.equal(q.get('labelSelector'), 'pick', u);
    }
    assert.equal(new URL(watchUrls[0]!, url).searchParams.get('resourceVersion'), '1');
    assert.equal(new URL(watchUrls[1]!, url).searchParams.get('resourceVersion'), '2', 'the watch after a relist starts from its resourceVersion');
  } finally {
    informer.stop();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
