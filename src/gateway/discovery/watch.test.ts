// WorldWatcher against a minimal fake Kubernetes API (list + watch, no persistence): the request paths and
// selectors it uses, sync, events, and recovery after the API server goes away.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loopbackKubeConfig } from '../../kube/config.ts';
import { WorldWatcher } from './watch.ts';
import { modelRoute, modelServer, pod, toServers } from '../testing/fixtures.ts';

interface Obj {
  metadata: { name?: string; namespace?: string; resourceVersion?: string };
  [k: string]: unknown;
}

function fakeApi() {
  let rv = 1;
  const collections = new Map<string, Obj[]>([
    ['/apis/networking.matrixinfer.ai/v1alpha1/modelroutes', []],
    ['/apis/networking.matrixinfer.ai/v1alpha1/modelservers', []],
    ['/api/v1/pods', []],
  ]);
  const watchers = new Map<string, Set<ServerResponse>>();
  const history: Array<{ path: string; rv: number; line: string }> = [];
  const queries: string[] = [];
  let failing = false;
  const emit = (path: string, line: string) => {
    history.push({ path, rv, line });
    for (const r of watchers.get(path) ?? []) r.write(line);
  };
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    queries.push(`${u.pathname}?${u.searchParams.toString()}`);
    const items = collections.get(u.pathname);
    if (failing || !items) {
      res.writeHead(failing ? 503 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: failing ? 503 : 404 }));
      return;
    }
    if (u.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      const since = Number(u.searchParams.get('resourceVersion') ?? '0');
      for (const e of history) if (e.path === u.pathname && e.rv > since) res.write(e.line);
      let set = watchers.get(u.pathname);
      if (!set) watchers.set(u.pathname, (set = new Set()));
      set.add(res);
      res.on('close', () => set.delete(res));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: String(rv) }, items }));
  });
  return {
    server,
    queries,
    setFailing(v: boolean) {
      failing = v;
      if (v) for (const set of watchers.values()) for (const r of set) r.destroy();
    },
    put(path: string, obj: Obj) {
      const items = collections.get(path)!;
      obj.metadata.resourceVersion = String(++rv);
      const i = items.findIndex((o) => o.metadata.name === obj.metadata.name && o.metadata.namespace === obj.metadata.namespace);
      const type = i < 0 ? 'ADDED' : 'MODIFIED';
      if (i < 0) items.push(obj);
      else items[i] = obj;
      emit(path, JSON.stringify({ type, object: obj }) + '\n');
    },
    remove(path: string, name: string) {
      const items = collections.get(path)!;
      const i = items.findIndex((o) => o.metadata.name === name);
      const [obj] = items.splice(i, 1);
      obj!.metadata.resourceVersion = String(++rv);
      emit(path, JSON.stringify({ type: 'DELETED', object: obj }) + '\n');
    },
  };
}

async function eventually(what: string, fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('lists and watches routes, servers and labelled pods; survives an API outage', async () => {
  const api = fakeApi();
  api.put('/apis/networking.matrixinfer.ai/v1alpha1/modelservers', modelServer('s', {}) as unknown as Obj);
  await new Promise<void>((r) => api.server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  let changes = 0;
  const watcher = new WorldWatcher(loopbackKubeConfig(url), { onChange: () => changes++, retryMs: 50, log: () => {} });
  try {
    assert.equal(watcher.synced, false);
    watcher.start();
    await watcher.ready;
    assert.equal(watcher.synced, true);
    assert.equal(watcher.snapshot().servers.length, 1);
    assert.ok(api.queries.some((q) => q.startsWith('/api/v1/pods?') && q.includes('labelSelector=workload.matrixinfer.ai%2Fmodelinfer-name')));

    api.put('/apis/networking.matrixinfer.ai/v1alpha1/modelroutes', modelRoute('r', 'm', [toServers('s')]) as unknown as Obj);
    api.put('/api/v1/pods', pod('p', 's', { ip: '10.0.0.1' }) as unknown as Obj);
    await eventually('route and pod seen', () => watcher.snapshot().routes.length === 1 && watcher.snapshot().pods.length === 1);
    const before = changes;
    api.remove('/api/v1/pods', 'p');
    await eventually('pod deletion seen', () => watcher.snapshot().pods.length === 0);
    assert.ok(changes > before);

    // Outage: watches drop, relists fail; the watcher keeps retrying and catches up when the API is back.
    api.setFailing(true);
    await new Promise((r) => setTimeout(r, 200));
    api.setFailing(false);
    api.put('/api/v1/pods', pod('q', 's', { ip: '10.0.0.2' }) as unknown as Obj);
    await eventually('pod after the outage', () => watcher.snapshot().pods.some((p) => p.metadata?.name === 'q'), 8000);
  } finally {
    await watcher.stop();
    api.server.closeAllConnections();
    await new Promise<void>((r) => api.server.close(() => r()));
  }
});
