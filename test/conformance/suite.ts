// The API-level conformance suite: the same checks against the embedded API server (`npm test`,
// test/conformance/embedded.test.ts) and a real kube-apiserver (`npm run test:cluster`, test/cluster/conformance.test.ts).
// The real server is the ground truth: every assertion here holds on it, and any difference is a bug in
// src/apiserver. Checks use raw HTTP so they pin the wire protocol (status codes, Status bodies, messages).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestCluster, type Backend, type TestCluster } from '../support/cluster.ts';
import { until } from '../../src/kube/testing/until.ts';

const NET = 'networking.matrixinfer.ai/v1alpha1';

function route(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: NET,
    kind: 'ModelRoute',
    metadata: { name, ...extra },
    spec: { modelName: name, rules: [{ targetModels: [{ modelServerName: 'server-a' }] }] },
  };
}

function configMap(name: string, metadata: Record<string, unknown> = {}, data: Record<string, string> = { a: '1' }): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...metadata }, data };
}

interface WatchEvent {
  type: string;
  object: any;
}

/** Open a watch and collect its events until `done(events)` or the timeout; always closes the stream. */
async function watch(c: TestCluster, path: string, done: (events: WatchEvent[]) => boolean, timeoutMs = 20_000): Promise<{ status: number; events: WatchEvent[] }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const events: WatchEvent[] = [];
  let status = 0;
  try {
    const res = await c.raw('GET', path, { signal: controller.signal });
    status = res.status;
    if (res.status !== 200) {
      events.push({ type: 'HTTP', object: JSON.parse(await res.text()) });
      return { status, events };
    }
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line) events.push(JSON.parse(line) as WatchEvent);
      }
      if (done(events)) break;
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return { status, events };
}

export function conformance(backend: Backend): void {
  describe(`API conformance (${backend} API server)`, () => {
    let c: TestCluster;
    const ns = 'conformance';
    const cms = `/api/v1/namespaces/${ns}/configmaps`;
    const mrs = `/apis/${NET}/namespaces/${ns}/modelroutes`;

    before(async () => {
      c = await startTestCluster(backend, { watchCacheSize: 50 });
      const res = await c.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      assert.equal(res.status, 201, res.text);
    });
    after(async () => {
      await c?.stop();
    });

    it('create, get, list, update and delete a custom resource', async () => {
      const created = await c.request('POST', mrs, route('crud'));
      assert.equal(created.status, 201, created.text);
      const obj = created.body;
      assert.equal(obj.metadata.namespace, ns);
      assert.equal(obj.metadata.generation, 1);
      assert.match(obj.metadata.uid, /^[0-9a-f-]{36}$/);
      assert.match(obj.metadata.resourceVersion, /^\d+$/);
      assert.match(obj.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(obj.spec.rules[0].targetModels[0].weight, 100, 'schema default applied');

      const got = await c.request('GET', `${mrs}/crud`);
      assert.equal(got.status, 200);
      assert.deepEqual(got.body, obj);

      const list = await c.request('GET', mrs);
      assert.equal(list.status, 200);
      assert.equal(list.body.kind, 'ModelRouteList');
      assert.equal(list.body.apiVersion, NET);
      assert.match(list.body.metadata.resourceVersion, /^\d+$/);
      assert.deepEqual(list.body.items.map((i: any) => i.metadata.name), ['crud']);

      // A spec change bumps generation; a metadata-only change does not.
      obj.spec.modelName = 'renamed';
      const updated = await c.request('PUT', `${mrs}/crud`, obj);
      assert.equal(updated.status, 200, updated.text);
      assert.equal(updated.body.metadata.generation, 2);
      assert.ok(BigInt(updated.body.metadata.resourceVersion) > BigInt(obj.metadata.resourceVersion));
      const labelled = await c.request('PATCH', `${mrs}/crud`, { metadata: { labels: { a: 'b' } } }, { contentType: 'application/merge-patch+json' });
      assert.equal(labelled.status, 200);
      assert.equal(labelled.body.metadata.generation, 2);

      const deleted = await c.request('DELETE', `${mrs}/crud`);
      assert.equal(deleted.status, 200, deleted.text);
      // An immediate delete of a kind without graceful deletion answers with a Success Status.
      assert.deepEqual(deleted.body, {
        kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success',
        details: { name: 'crud', group: 'networking.matrixinfer.ai', kind: 'modelroutes', uid: obj.metadata.uid },
      });
      const gone = await c.request('GET', `${mrs}/crud`);
      assert.equal(gone.status, 404);
      assert.deepEqual(gone.body, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'modelroutes.networking.matrixinfer.ai "crud" not found',
        reason: 'NotFound',
        details: { name: 'crud', group: 'networking.matrixinfer.ai', kind: 'modelroutes' },
        code: 404,
      });
    });

    it('core objects: not found, already exists, and a namespace that does not exist', async () => {
      const missing = await c.request('GET', `${cms}/nope`);
      assert.equal(missing.status, 404);
      assert.deepEqual(missing.body, {
        kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
        message: 'configmaps "nope" not found', reason: 'NotFound', details: { name: 'nope', kind: 'configmaps' }, code: 404,
      });
      assert.equal((await c.request('POST', cms, configMap('dup'))).status, 201);
      const dup = await c.request('POST', cms, configMap('dup'));
      assert.equal(dup.status, 409);
      assert.deepEqual(dup.body, {
        kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
        message: 'configmaps "dup" already exists', reason: 'AlreadyExists', details: { name: 'dup', kind: 'configmaps' }, code: 409,
      });
      const dupCr = await c.request('POST', mrs, route('dup'));
      assert.equal(dupCr.status, 201);
      const dupCr2 = await c.request('POST', mrs, route('dup'));
      assert.equal(dupCr2.status, 409);
      assert.equal(dupCr2.body.message, 'modelroutes.networking.matrixinfer.ai "dup" already exists');
      assert.deepEqual(dupCr2.body.details, { name: 'dup', group: 'networking.matrixinfer.ai', kind: 'modelroutes' });

      const noNs = await c.request('POST', '/api/v1/namespaces/no-such-ns/configmaps', configMap('x'));
      assert.equal(noNs.status, 404);
      assert.equal(noNs.body.message, 'namespaces "no-such-ns" not found');
      assert.equal(noNs.body.reason, 'NotFound');
      assert.deepEqual(noNs.body.details, { name: 'no-such-ns', kind: 'namespaces' });

      const mismatch = await c.request('POST', cms, configMap('x', { namespace: 'other' }));
      assert.equal(mismatch.status, 400);
      assert.equal(mismatch.body.reason, 'BadRequest');
      assert.equal(mismatch.body.message, 'the namespace of the provided object does not match the namespace sent on the request');
    });

    it('optimistic concurrency: a stale resourceVersion conflicts; custom resources need one on update', async () => {
      const created = (await c.request('POST', cms, configMap('occ'))).body;
      const first = await c.request('PUT', `${cms}/occ`, { ...created, data: { a: '2' } });
      assert.equal(first.status, 200);
      const stale = await c.request('PUT', `${cms}/occ`, { ...created, data: { a: '3' } });
      assert.equal(stale.status, 409);
      assert.deepEqual(stale.body, {
        kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
        message: 'Operation cannot be fulfilled on configmaps "occ": the object has been modified; please apply your changes to the latest version and try again',
        reason: 'Conflict', details: { name: 'occ', kind: 'configmaps' }, code: 409,
      });
      // ConfigMaps allow an unconditional update (no resourceVersion).
      const { resourceVersion: _rv, ...metaNoRv } = created.metadata;
      const unconditional = await c.request('PUT', `${cms}/occ`, { ...created, metadata: metaNoRv, data: { a: '4' } });
      assert.equal(unconditional.status, 200, unconditional.text);

      const cr = (await c.request('POST', mrs, route('occ'))).body;
      const staleCr = await c.request('PUT', `${mrs}/occ`, { ...cr, spec: { ...cr.spec, modelName: 'x' }, metadata: { ...cr.metadata, resourceVersion: '1' } });
      assert.equal(staleCr.status, 409);
      assert.equal(staleCr.body.message, 'Operation cannot be fulfilled on modelroutes.networking.matrixinfer.ai "occ": the object has been modified; please apply your changes to the latest version and try again');
      const { resourceVersion: _rv2, ...crMetaNoRv } = cr.metadata;
      const noRv = await c.request('PUT', `${mrs}/occ`, { ...cr, metadata: crMetaNoRv });
      assert.equal(noRv.status, 422, noRv.text);
      assert.equal(noRv.body.reason, 'Invalid');
      assert.equal(noRv.body.message, 'modelroutes.networking.matrixinfer.ai "occ" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update');
      assert.deepEqual(noRv.body.details.causes, [{ reason: 'FieldValueInvalid', message: 'Invalid value: 0: must be specified for an update', field: 'metadata.resourceVersion' }]);
    });

    it('the status subresource: the main resource ignores status, /status ignores spec', async () => {
      const cr = (await c.request('POST', mrs, { ...route('st'), status: { phase: 'Ready' } })).body;
      assert.equal(cr.status, undefined, 'status dropped on create');
      const st = await c.request('PATCH', `${mrs}/st/status`, { spec: { modelName: 'changed' }, status: { phase: 'Ready' } }, { contentType: 'application/merge-patch+json' });
      assert.equal(st.status, 200, st.text);
      assert.equal(st.body.status.phase, 'Ready');
      assert.equal(st.body.spec.modelName, 'st', 'spec unchanged through /status');
      assert.equal(st.body.metadata.generation, 1, 'a status write does not bump generation');
      const main = await c.request('PATCH', `${mrs}/st`, { spec: { modelName: 'changed' }, status: { phase: 'Failed' } }, { contentType: 'application/merge-patch+json' });
      assert.equal(main.status, 200);
      assert.equal(main.body.status.phase, 'Ready', 'status unchanged through the main resource');
      assert.equal(main.body.spec.modelName, 'changed');
      assert.equal(main.body.metadata.generation, 2);
      const got = await c.request('GET', `${mrs}/st/status`);
      assert.equal(got.status, 200);
      assert.equal(got.body.kind, 'ModelRoute');
    });

    it('patch types: merge, JSON, strategic (core only: 415 on custom resources), and failures', async () => {
      await c.request('POST', mrs, route('p'));
      const merge = await c.request('PATCH', `${mrs}/p`, { spec: { modelName: 'm' } }, { contentType: 'application/merge-patch+json' });
      assert.equal(merge.body.spec.modelName, 'm');
      const json = await c.request('PATCH', `${mrs}/p`, [{ op: 'replace', path: '/spec/modelName', value: 'j' }, { op: 'add', path: '/metadata/labels', value: { x: 'y' } }], { contentType: 'application/json-patch+json' });
      assert.equal(json.status, 200, json.text);
      assert.equal(json.body.spec.modelName, 'j');
      assert.deepEqual(json.body.metadata.labels, { x: 'y' });

      const strategic = await c.request('PATCH', `${mrs}/p`, { spec: { modelName: 's' } }, { contentType: 'application/strategic-merge-patch+json' });
      assert.equal(strategic.status, 415);
      assert.equal(strategic.body.reason, 'UnsupportedMediaType');
      assert.equal(
        strategic.body.message,
        'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
      );

      await c.request('POST', cms, configMap('sp', { labels: { keep: 'yes' } }));
      const core = await c.request('PATCH', `${cms}/sp`, { metadata: { labels: { added: 'yes' } }, data: { b: '2' } }, { contentType: 'application/strategic-merge-patch+json' });
      assert.equal(core.status, 200, core.text);
      assert.deepEqual(core.body.metadata.labels, { keep: 'yes', added: 'yes' });
      assert.deepEqual(core.body.data, { a: '1', b: '2' });

      const failedTest = await c.request('PATCH', `${mrs}/p`, [{ op: 'test', path: '/spec/modelName', value: 'other' }], { contentType: 'application/json-patch+json' });
      assert.equal(failedTest.status, 422, failedTest.text);
      assert.equal(failedTest.body.reason, 'Invalid');

      const badJson = await c.request('PATCH', `${mrs}/p`, '{not json', { contentType: 'application/merge-patch+json' });
      assert.equal(badJson.status, 400, badJson.text);
      assert.equal(badJson.body.reason, 'BadRequest');

      const missing = await c.request('PATCH', `${mrs}/absent`, { spec: {} }, { contentType: 'application/merge-patch+json' });
      assert.equal(missing.status, 404);
      assert.equal(missing.body.message, 'modelroutes.networking.matrixinfer.ai "absent" not found');
    });

    it('label and field selectors', async () => {
      await c.request('POST', cms, configMap('sel-a', { labels: { app: 'x', tier: 'web' } }));
      await c.request('POST', cms, configMap('sel-b', { labels: { app: 'y', tier: 'web' } }));
      await c.request('POST', cms, configMap('sel-c', { labels: { app: 'x' } }));
      const names = async (query: string) => {
        const res = await c.request('GET', `${cms}?${query}`);
        assert.equal(res.status, 200, `${query}: ${res.text}`);
        return res.body.items.map((i: any) => i.metadata.name).filter((n: string) => n.startsWith('sel-')).sort();
      };
      assert.deepEqual(await names('labelSelector=app%3Dx'), ['sel-a', 'sel-c']);
      assert.deepEqual(await names('labelSelector=app!%3Dx'), ['sel-b']);
      assert.deepEqual(await names('labelSelector=app%20in%20(x,y),tier'), ['sel-a', 'sel-b']);
      assert.deepEqual(await names('labelSelector=app%20notin%20(y),!tier'), ['sel-c']);
      assert.deepEqual(await names('fieldSelector=metadata.name%3Dsel-b'), ['sel-b']);
      assert.deepEqual(await names('fieldSelector=metadata.name!%3Dsel-b&labelSelector=app'), ['sel-a', 'sel-c']);
      assert.deepEqual(await names(`fieldSelector=metadata.namespace%3D${ns},metadata.name%3Dsel-c`), ['sel-c']);

      const badLabel = await c.request('GET', `${cms}?labelSelector=app%20in%20x`);
      assert.equal(badLabel.status, 400);
      assert.equal(badLabel.body.reason, 'BadRequest');
      const badField = await c.request('GET', `${mrs}?fieldSelector=spec.modelName%3Dx`);
      assert.equal(badField.status, 400);
      assert.equal(badField.body.reason, 'BadRequest');
      assert.equal(badField.body.message, 'field label not supported: spec.modelName');
      // Pods support their own field labels (the node agent relies on spec.nodeName).
      const pods = await c.request('GET', `/api/v1/namespaces/${ns}/pods?fieldSelector=spec.nodeName%3Dnode-a,status.phase%3DRunning`);
      assert.equal(pods.status, 200, pods.text);
    });

    it('watch: events in order from a resourceVersion, initial state without one, and filtering', async () => {
      const listed = await c.request('GET', mrs);
      const rv = listed.body.metadata.resourceVersion as string;
      const watching = watch(c, `${mrs}?watch=1&resourceVersion=${rv}&labelSelector=w%3Dyes`, (e) => e.length >= 3);
      await sleep(300);
      await c.request('POST', mrs, route('w1', { labels: { w: 'yes' } }));
      await c.request('POST', mrs, route('w-ignored', { labels: { w: 'no' } }));
      await c.request('PATCH', `${mrs}/w1`, { spec: { modelName: 'w' } }, { contentType: 'application/merge-patch+json' });
      await c.request('DELETE', `${mrs}/w1`);
      const { status, events } = await watching;
      assert.equal(status, 200);
      assert.deepEqual(events.map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'w1'], ['MODIFIED', 'w1'], ['DELETED', 'w1']]);
      // An immediate delete: the last state, without a deletionTimestamp, at the deletion's resourceVersion.
      assert.equal(events[2]!.object.metadata.deletionTimestamp, undefined);
      assert.equal(events[2]!.object.spec.modelName, 'w');
      const rvs = events.map((e) => BigInt(e.object.metadata.resourceVersion));
      assert.ok(rvs[0]! > BigInt(rv) && rvs[1]! > rvs[0]! && rvs[2]! > rvs[1]!, `increasing resourceVersions ${rvs.join(',')}`);
      assert.equal(events[0]!.object.kind, 'ModelRoute');
      assert.equal(events[0]!.object.apiVersion, NET);

      // Without a resourceVersion (or "0"), a watch starts with the current state as ADDED events.
      await c.request('POST', mrs, route('w2', { labels: { w: 'yes' } }));
      const initial = await watch(c, `${mrs}?watch=1&labelSelector=w%3Dyes`, (e) => e.length >= 1, 5000);
      assert.deepEqual(initial.events.map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'w2']]);
      const fromZero = await watch(c, `${mrs}?watch=1&resourceVersion=0&labelSelector=w%3Dyes`, (e) => e.length >= 1, 5000);
      assert.deepEqual(fromZero.events.map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'w2']]);

      // A field selector on a watch: only the named object.
      const named = watch(c, `${cms}?watch=1&resourceVersion=${(await c.request('GET', cms)).body.metadata.resourceVersion}&fieldSelector=metadata.name%3Dwatched`, (e) => e.length >= 1);
      await sleep(300);
      await c.request('POST', cms, configMap('unwatched'));
      await c.request('POST', cms, configMap('watched'));
      assert.deepEqual((await named).events.map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'watched']]);
    });

    it('watch: a label change out of the selector is a DELETED event', async () => {
      const rv = (await c.request('GET', cms)).body.metadata.resourceVersion;
      const watching = watch(c, `${cms}?watch=1&resourceVersion=${rv}&labelSelector=phase%3Dblue`, (e) => e.length >= 2);
      await sleep(300);
      await c.request('POST', cms, configMap('flip', { labels: { phase: 'blue' } }));
      await c.request('PATCH', `${cms}/flip`, { metadata: { labels: { phase: 'green' } } }, { contentType: 'application/merge-patch+json' });
      const { events } = await watching;
      assert.deepEqual(events.map((e) => [e.type, e.object.metadata.name, e.object.metadata.labels.phase]), [['ADDED', 'flip', 'blue'], ['DELETED', 'flip', 'blue']]);
    });

    it('watch: sendInitialEvents ends the initial state with an initial-events-end bookmark', async () => {
      await c.request('POST', mrs, route('b1', { labels: { bm: 'yes' } }));
      const { status, events } = await watch(
        c,
        `${mrs}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&labelSelector=bm%3Dyes`,
        (e) => e.some((x) => x.type === 'BOOKMARK'),
      );
      assert.equal(status, 200);
      assert.deepEqual(events.map((e) => e.type), ['ADDED', 'BOOKMARK']);
      const bookmark = events[1]!.object;
      assert.equal(bookmark.kind, 'ModelRoute');
      assert.equal(bookmark.apiVersion, NET);
      assert.deepEqual(bookmark.metadata.annotations, { 'k8s.io/initial-events-end': 'true' });
      assert.ok(BigInt(bookmark.metadata.resourceVersion) >= BigInt(events[0]!.object.metadata.resourceVersion));

      const wrong = await c.request('GET', `${mrs}?watch=1&sendInitialEvents=true`, undefined, { signal: AbortSignal.timeout(10_000) });
      assert.equal(wrong.status, 422, wrong.text);
      assert.deepEqual(wrong.body, {
        kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
        message: 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan',
        reason: 'Invalid',
        details: { group: 'meta.k8s.io', kind: 'ListOptions', causes: [{ reason: 'FieldValueForbidden', message: 'Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan', field: 'resourceVersionMatch' }] },
        code: 422,
      });
      const matchOnly = await c.request('GET', `${mrs}?watch=1&resourceVersionMatch=NotOlderThan`, undefined, { signal: AbortSignal.timeout(10_000) });
      assert.equal(matchOnly.status, 422);
      assert.equal(matchOnly.body.message, 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided');
      const onList = await c.request('GET', `${mrs}?sendInitialEvents=true&resourceVersionMatch=NotOlderThan`);
      assert.equal(onList.status, 422);
      assert.equal(onList.body.message, 'ListOptions.meta.k8s.io "" is invalid: [resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided, sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list]');
    });

    it('watch: a too-old resourceVersion is 410 Expired; a malformed one is 400', async () => {
      // The windows differ (the real watch cache of a resource starts when the resource is first served, the
      // embedded server keeps the last N events; the embedded conformance server keeps 50), so first push
      // resourceVersion 1 out of both.
      for (let i = 0; i < 60; i++) await c.request('PATCH', `${cms}/dup`, { data: { i: String(i) } }, { contentType: 'application/merge-patch+json' });
      const old = await watch(c, `${mrs}?watch=1&resourceVersion=1`, (e) => e.length >= 1, 10_000);
      const expired = old.status === 410 ? old.events[0]!.object : old.events.find((e) => e.type === 'ERROR')?.object;
      assert.ok(expired, `an expiry, got ${JSON.stringify(old)}`);
      assert.equal(old.status, 200, 'the expiry comes as an ERROR event on an open watch');
      assert.equal(expired.kind, 'Status');
      assert.equal(expired.code, 410);
      assert.equal(expired.reason, 'Expired');
      assert.match(expired.message, /^too old resource version: 1 \(\d+\)$/);

      // kube-apiserver answers a malformed resourceVersion on a watch with a 500 (its storage layer fails to parse
      // it); what a client can rely on is a Status failure naming the value.
      const bad = await c.request('GET', `${mrs}?watch=1&resourceVersion=abc`);
      assert.ok(bad.status >= 400, bad.text);
      assert.equal(bad.body.kind, 'Status');
      assert.equal(bad.body.status, 'Failure');
      assert.match(bad.body.message, /resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax$/);
      const badList = await c.request('GET', `${mrs}?resourceVersion=abc`);
      assert.equal(badList.status, 400);
      assert.equal(badList.body.reason, 'BadRequest');
      assert.equal(badList.body.message, 'invalid resource version: resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax');
    });

    it('finalizers hold a deleted object until they are removed; no new ones once deleting', async () => {
      await c.request('POST', mrs, route('fin', { finalizers: ['example.com/hold'] }));
      const del = await c.request('DELETE', `${mrs}/fin`);
      assert.equal(del.status, 200, del.text);
      assert.ok(del.body.metadata.deletionTimestamp);
      assert.equal(del.body.metadata.deletionGracePeriodSeconds, 0);
      const held = await c.request('GET', `${mrs}/fin`);
      assert.equal(held.status, 200);
      assert.equal(held.body.metadata.deletionTimestamp, del.body.metadata.deletionTimestamp);
      // Deleting again changes nothing.
      const again = await c.request('DELETE', `${mrs}/fin`);
      assert.equal(again.status, 200);
      assert.equal(again.body.metadata.deletionTimestamp, del.body.metadata.deletionTimestamp);

      const add = await c.request('PATCH', `${mrs}/fin`, { metadata: { finalizers: ['example.com/hold', 'example.com/more'] } }, { contentType: 'application/merge-patch+json' });
      assert.equal(add.status, 422, add.text);
      assert.equal(add.body.reason, 'Invalid');
      assert.equal(add.body.message, 'ModelRoute.networking.matrixinfer.ai "fin" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"example.com/more"}');

      const spec = await c.request('PATCH', `${mrs}/fin`, { spec: { modelName: 'still-updatable' } }, { contentType: 'application/merge-patch+json' });
      assert.equal(spec.status, 200);
      const release = await c.request('PATCH', `${mrs}/fin`, { metadata: { finalizers: null } }, { contentType: 'application/merge-patch+json' });
      assert.equal(release.status, 200, release.text);
      await until('the finalized object is gone', async () => (await c.request('GET', `${mrs}/fin`)).status === 404, 10_000);
    });

    it('validation errors: 422 with the exact messages and causes', async () => {
      const bad = route('bad');
      (bad.spec as any).rules = [{ targetModels: [{ modelServerName: '', weight: 101 }] }];
      (bad.spec as any).scheduling = { policy: 'fastest' };
      const res = await c.request('POST', mrs, bad);
      assert.equal(res.status, 422, res.text);
      assert.equal(res.body.kind, 'Status');
      assert.equal(res.body.reason, 'Invalid');
      assert.deepEqual(res.body.details.name, 'bad');
      assert.deepEqual(res.body.details.group, 'networking.matrixinfer.ai');
      assert.deepEqual(res.body.details.kind, 'ModelRoute');
      const causes = (res.body.details.causes as Array<{ reason: string; message: string; field: string }>).sort((a, b) => a.field.localeCompare(b.field));
      assert.deepEqual(causes, [
        { reason: 'FieldValueInvalid', message: 'Invalid value: "": spec.rules[0].targetModels[0].modelServerName in body should be at least 1 chars long', field: 'spec.rules[0].targetModels[0].modelServerName' },
        { reason: 'FieldValueInvalid', message: 'Invalid value: 101: spec.rules[0].targetModels[0].weight in body should be less than or equal to 100', field: 'spec.rules[0].targetModels[0].weight' },
        { reason: 'FieldValueNotSupported', message: 'Unsupported value: "fastest": supported values: "default", "round-robin", "random", "least-request", "prefix-affinity", "session-affinity"', field: 'spec.scheduling.policy' },
      ]);
      assert.ok(res.body.message.startsWith('ModelRoute.networking.matrixinfer.ai "bad" is invalid: ['), res.body.message);

      const noSpec = await c.request('POST', mrs, { apiVersion: NET, kind: 'ModelRoute', metadata: { name: 'nospec' } });
      assert.equal(noSpec.status, 422);
      assert.equal(noSpec.body.message, 'ModelRoute.networking.matrixinfer.ai "nospec" is invalid: spec: Required value');
      assert.deepEqual(noSpec.body.details.causes, [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec' }]);

      const wrongType = route('wt');
      (wrongType.spec as any).rules = 'all';
      const wt = await c.request('POST', mrs, wrongType);
      assert.equal(wt.status, 422);
      assert.equal(wt.body.message, 'ModelRoute.networking.matrixinfer.ai "wt" is invalid: spec.rules: Invalid value: "string": spec.rules in body must be of type array: "string"');

      const badName = await c.request('POST', cms, configMap('Bad_Name'));
      assert.equal(badName.status, 422);
      assert.equal(
        badName.body.message,
        `ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
      );
    });

    it('Pod resources: a quantity that does not parse is a 400, a request above its limit a 422', async () => {
      const pods = `/api/v1/namespaces/${ns}/pods`;
      const pod = (name: string, resources: Record<string, unknown>) => ({
        apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'busybox', resources }] },
      });
      const lots = await c.request('POST', pods, pod('lots', { requests: { cpu: 'lots' } }));
      assert.equal(lots.status, 400, lots.text);
      assert.equal(lots.body.message, `Pod in version "v1" cannot be handled as a Pod: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`);
      const above = await c.request('POST', pods, pod('above', { requests: { cpu: '2000m', memory: '1Gi' }, limits: { cpu: '1', memory: '1024Mi' } }));
      assert.equal(above.status, 422, above.text);
      assert.equal(above.body.message, 'Pod "above" is invalid: spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1');
      const gpu = await c.request('POST', pods, pod('gpu', { requests: { 'nvidia.com/gpu': '1' } }));
      assert.equal(gpu.status, 422, gpu.text);
      assert.equal(gpu.body.message, 'Pod "gpu" is invalid: spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources');
    });

    it('unknown fields: dropped with a warning by default, rejected with fieldValidation=Strict', async () => {
      const obj = route('unknown');
      (obj.spec as any).color = 'blue';
      const lax = await c.request('POST', mrs, obj);
      assert.equal(lax.status, 201);
      assert.equal(lax.body.spec.color, undefined, 'pruned');
      assert.equal(lax.headers.get('warning'), '299 - "unknown field \\"spec.color\\""');
      const strict = await c.request('POST', `${mrs}?fieldValidation=Strict`, { ...obj, metadata: { name: 'unknown2' } });
      assert.equal(strict.status, 400);
      assert.equal(strict.body.reason, 'BadRequest');
      assert.equal(strict.body.message, 'ModelRoute in version "v1alpha1" cannot be handled as a ModelRoute: strict decoding error: unknown field "spec.color"');
    });

    it('cascading deletion: background, foreground and orphan', async () => {
      const mkOwner = async (name: string) => (await c.request('POST', cms, configMap(name))).body;
      const mkDependent = async (name: string, owner: any, block = false) => {
        const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: owner.metadata.name, uid: owner.metadata.uid, ...(block ? { blockOwnerDeletion: true } : {}) };
        const res = await c.request('POST', cms, configMap(name, { ownerReferences: [ref] }));
        assert.equal(res.status, 201, res.text);
        return res.body;
      };
      const get = (name: string) => c.request('GET', `${cms}/${name}`);

      // Background (the default for most resources): the owner goes at once, dependents after it.
      const bg = await mkOwner('bg-owner');
      await mkDependent('bg-dep', bg);
      const bgDel = await c.request('DELETE', `${cms}/bg-owner`);
      assert.equal(bgDel.status, 200);
      assert.equal((await get('bg-owner')).status, 404);
      await until('background dependent collected', async () => (await get('bg-dep')).status === 404, 30_000);

      // Foreground: the owner stays (deletionTimestamp + foregroundDeletion finalizer) until blocking dependents are gone.
      const fg = await mkOwner('fg-owner');
      await mkDependent('fg-dep', fg, true);
      const fgDel = await c.request('DELETE', `${cms}/fg-owner`, { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Foreground' });
      assert.equal(fgDel.status, 200, fgDel.text);
      assert.ok(fgDel.body.metadata.deletionTimestamp);
      assert.deepEqual(fgDel.body.metadata.finalizers, ['foregroundDeletion']);
      await until('foreground: dependent and then owner gone', async () => (await get('fg-dep')).status === 404 && (await get('fg-owner')).status === 404, 30_000);

      // Orphan: the dependent stays, without the ownerReference.
      const or = await mkOwner('or-owner');
      await mkDependent('or-dep', or);
      const orDel = await c.request('DELETE', `${cms}/or-owner`, { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Orphan' });
      assert.equal(orDel.status, 200, orDel.text);
      await until('orphaned owner gone', async () => (await get('or-owner')).status === 404, 30_000);
      const orphan = await get('or-dep');
      assert.equal(orphan.status, 200);
      assert.equal(orphan.body.metadata.ownerReferences, undefined);

      // A dependent whose owner does not exist (wrong uid) is collected too.
      await mkDependent('dangling', { metadata: { name: 'never-was', uid: '00000000-0000-0000-0000-000000000000' } });
      await until('dangling dependent collected', async () => (await get('dangling')).status === 404, 30_000);
    });

    it('a preconditioned delete with the wrong uid conflicts', async () => {
      await c.request('POST', cms, configMap('pre'));
      const res = await c.request('DELETE', `${cms}/pre`, { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: '00000000-0000-0000-0000-000000000000' } });
      assert.equal(res.status, 409);
      assert.equal(res.body.reason, 'Conflict');
      assert.match(res.body.message, /^Operation cannot be fulfilled on ConfigMap "pre": the UID in the precondition \(00000000-0000-0000-0000-000000000000\) does not match the UID in record \([0-9a-f-]{36}\)\. The object might have been deleted and then recreated$/);
      assert.deepEqual(res.body.details, { name: 'pre', kind: 'ConfigMap' });
      const rv = await c.request('DELETE', `${cms}/pre`, { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { resourceVersion: '1' } });
      assert.equal(rv.status, 409);
      assert.match(rv.body.message, /^Operation cannot be fulfilled on ConfigMap "pre": the ResourceVersion in the precondition \(1\) does not match the ResourceVersion in record \(\d+\)\. The object might have been modified$/);
      await c.request('POST', mrs, route('pre'));
      const cr = await c.request('DELETE', `${mrs}/pre`, { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: 'u' } });
      assert.equal(cr.status, 409);
      assert.match(cr.body.message, /^Operation cannot be fulfilled on ModelRoute\.networking\.matrixinfer\.ai "pre": the UID in the precondition \(u\)/);
      assert.deepEqual(cr.body.details, { name: 'pre', group: 'networking.matrixinfer.ai', kind: 'ModelRoute' });
      // An unscheduled pod is deleted at once, and the response is the pod (with a deletionTimestamp): pods delete gracefully.
      await c.request('POST', `/api/v1/namespaces/${ns}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'a', image: 'b' }] } });
      const pod = await c.request('DELETE', `/api/v1/namespaces/${ns}/pods/p`);
      assert.equal(pod.status, 200);
      assert.equal(pod.body.kind, 'Pod');
      assert.ok(pod.body.metadata.deletionTimestamp);
      assert.equal(pod.body.metadata.deletionGracePeriodSeconds, 0);
      assert.equal((await c.request('GET', `/api/v1/namespaces/${ns}/pods/p`)).status, 404);
    });
  });
}
