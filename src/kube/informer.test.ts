import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loopbackKubeConfig } from './config.ts';
import { KubeClient, type ResourceType } from './client.ts';
import { SharedInformer, type EventType } from './informer.ts';
import { createLogger } from './log.ts';
import { startFakeApiServer } from './testing/fakeapi.ts';

const THINGS: ResourceType = { group: 'test.matrixinfer.ai', version: 'v1', kind: 'Thing', plural: 'things', namespaced: true };
const thing = (name: string, labels: Record<string, string> = {}) => ({ apiVersion: 'test.matrixinfer.ai/v1', kind: 'Thing', metadata: { name, namespace: 'default', labels }, spec: { n: 1 } });
const quiet = createLogger('test', 'silent');

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('informer: list, watch, reconnect without relisting, relist on 410, restart after errors', async () => {
  const api = await startFakeApiServer();
  const client = new KubeClient(loopbackKubeConfig(api.url));
  const informer = new SharedInformer(client, THINGS, { minBackoffMs: 20, maxBackoffMs: 100, logger: quiet });
  const seen: [EventType, string][] = [];
  informer.addHandler((type, o) => seen.push([type, o.metadata.name!]));
  try {
    await client.create(THINGS, thing('a'));
    await client.create(THINGS, thing('b'));
    informer.start();
    await informer.waitForSync();
    assert.equal(informer.hasSynced, true);
    assert.deepEqual(informer.list().map((o) => o.metadata.name).sort(), ['a', 'b']);
    assert.equal(informer.get('default', 'a')?.metadata.name, 'a');
    assert.deepEqual(seen.sort(), [['add', 'a'], ['add', 'b']]);

    // Watch events.
    seen.length = 0;
    const c = await client.create(THINGS, thing('c'));
    await client.mergePatch(THINGS, 'default', 'c', { spec: { n: 2 } });
    await client.delete(THINGS, 'default', 'a');
    await until(() => seen.length === 3);
    assert.deepEqual(seen, [['add', 'c'], ['update', 'c'], ['delete', 'a']]);
    assert.equal((informer.get('default', 'c')?.spec as { n: number }).n, 2);
    assert.ok(c.metadata.uid);

    // The server ends the watch: the informer resumes from its resourceVersion, no second list.
    const lists = () => api.requests.filter((r) => r.method === 'GET' && !r.path.includes('watch=true')).length;
    const listsBefore = lists();
    api.closeWatches();
    await client.create(THINGS, thing('d'));
    await until(() => informer.get('default', 'd') !== undefined);
    assert.equal(lists(), listsBefore, 'no relist after a plain reconnect');
    const watch = api.requests.filter((r) => r.path.includes('watch=true')).at(-1)!;
    assert.match(watch.path, /allowWatchBookmarks=true/);
    assert.match(watch.path, /timeoutSeconds=\d+/);

    // History compacted while disconnected: 410 → relist, and the relist reports the delete it missed.
    const listsBefore410 = lists();
    api.compact();
    seen.length = 0;
    api.closeWatches();
    await client.delete(THINGS, 'default', 'b');
    await until(() => informer.get('default', 'b') === undefined);
    assert.equal(lists(), listsBefore410 + 1, 'relisted once after 410');
    assert.ok(seen.some(([t, n]) => t === 'delete' && n === 'b'));

    // Failing lists and watches: the informer keeps retrying with back-off and recovers.
    api.failNext(/GET .*things\?watch=true/, 500, 2);
    api.failNext(/GET .*things(\?(?!watch)|$)/, 500, 2);
    api.closeWatches();
    api.compact();
    await client.create(THINGS, thing('e'));
    await until(() => informer.get('default', 'e') !== undefined);
  } finally {
    informer.stop();
    await api.close();
  }
});

test('informer: label selectors and namespaces', async () => {
  const api = await startFakeApiServer();
  const client = new KubeClient(loopbackKubeConfig(api.url));
  const informer = new SharedInformer(client, THINGS, { labelSelector: 'pick', namespace: 'default', logger: quiet });
  try {
    await client.create(THINGS, thing('yes', { pick: 'x' }));
    await client.create(THINGS, thing('no'));
    informer.start();
    await informer.waitForSync();
    assert.deepEqual(informer.list().map((o) => o.metadata.name), ['yes']);
    await client.create(THINGS, thing('later', { pick: 'y' }));
    await client.create(THINGS, thing('never'));
    await until(() => informer.get('default', 'later') !== undefined);
    assert.equal(informer.get('default', 'never'), undefined);
  } finally {
    informer.stop();
    await api.close();
  }
});
