// The API server's kube-apiserver metrics: verbs and scopes as kube names them, and GET /metrics moving with the
// requests, the watches, the store and admission.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AdmissionPlugin } from '../api/admission.ts';
import { startTestApiServer, type TestApiServer } from '../kube/testing/apiserver.ts';
import { until } from '../kube/testing/until.ts';
import { parseExposition, select, total, type Exposition } from '../../test/support/prom.ts';
import { requestLabels, storageResourceName } from './instrumentation.ts';
import { parseResourcePath } from './request.ts';

describe('requestLabels', () => {
  const labels = (method: string, path: string, watch = false, contentType?: string) => requestLabels(method, parseResourcePath(path), watch, contentType);
  it('names verbs as kube-apiserver does', () => {
    assert.equal(labels('GET', '/api/v1/namespaces/default/pods').verb, 'LIST');
    assert.equal(labels('GET', '/api/v1/namespaces/default/pods/p').verb, 'GET');
    assert.equal(labels('GET', '/api/v1/namespaces/default/pods', true).verb, 'WATCH');
    assert.equal(labels('GET', '/api/v1/watch/namespaces/default/pods').verb, 'WATCH');
    assert.equal(labels('GET', '/api/v1/namespaces/default/pods/p/log').verb, 'GET');
    assert.equal(labels('POST', '/api/v1/namespaces/default/pods').verb, 'CREATE');
    assert.equal(labels('PUT', '/api/v1/namespaces/default/pods/p/status').verb, 'UPDATE');
    assert.equal(labels('PATCH', '/api/v1/namespaces/default/pods/p').verb, 'PATCH');
    assert.equal(labels('PATCH', '/api/v1/namespaces/default/pods/p', false, 'application/apply-patch+yaml').verb, 'APPLY');
    assert.equal(labels('DELETE', '/api/v1/namespaces/default/pods/p').verb, 'DELETE');
    assert.equal(labels('DELETE', '/api/v1/namespaces/default/pods').verb, 'DELETECOLLECTION');
  });
  it('scopes, groups and subresources', () => {
    assert.deepEqual(labels('PUT', '/apis/apps/v1/namespaces/ns/deployments/d/scale'), { verb: 'UPDATE', group: 'apps', version: 'v1', resource: 'deployments', subresource: 'scale', scope: 'resource' });
    assert.equal(labels('POST', '/api/v1/namespaces/ns/pods').scope, 'resource');
    assert.equal(labels('GET', '/api/v1/namespaces/ns/pods').scope, 'namespace');
    assert.equal(labels('GET', '/api/v1/pods').scope, 'cluster');
    assert.deepEqual(requestLabels('GET', undefined, false, undefined), { verb: 'GET', group: '', version: '', resource: '', subresource: '', scope: '' });
  });
  it("names stored resources as apiserver_storage_objects does", () => {
    assert.equal(storageResourceName('core/pods'), 'pods');
    assert.equal(storageResourceName('apps/deployments'), 'deployments.apps');
    assert.equal(storageResourceName('matrixinfer.ai/models'), 'models.matrixinfer.ai');
  });
});

describe('GET /metrics', () => {
  let t: TestApiServer;
  const admission: AdmissionPlugin[] = [{
    group: '',
    kind: 'ConfigMap',
    validate: (req) => (req.object?.data as Record<string, string> | undefined)?.bad ? [{ field: 'data.bad', type: 'Invalid value', detail: 'refused' }] : [],
  }];
  before(async () => {
    t = await startTestApiServer({ admission });
  });
  after(() => t.close());
  const scrape = async (): Promise<Exposition> => {
    const res = await fetch(`${t.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    return parseExposition(await res.text());
  };
  const requests = (exp: Exposition, verb: string, code: string) => total(exp, 'apiserver_request_total', { verb, resource: 'configmaps', code, component: 'apiserver' });

  it('counts requests, watches, storage and admission', async () => {
    const before = await scrape();
    const path = '/api/v1/namespaces/default/configmaps';
    assert.equal((await t.request('POST', path, { metadata: { name: 'a' }, data: { x: '1' } })).status, 201);
    assert.equal((await t.request('POST', path, { metadata: { name: 'b' }, data: { bad: '1' } })).status, 422);
    assert.equal((await t.request('GET', `${path}/a`)).status, 200);
    assert.equal((await t.request('GET', `${path}/missing`)).status, 404);
    assert.equal((await t.request('GET', path)).status, 200);
    assert.equal((await t.request('PATCH', `${path}/a`, { data: { x: '2' } }, { contentType: 'application/merge-patch+json' })).status, 200);
    const watch = new AbortController();
    const res = await fetch(`${t.url}${path}?watch=1`, { signal: watch.signal });
    assert.equal(res.status, 200);
    const mid = await until('the watch counted as long-running', async () => {
      const exp = await scrape();
      return total(exp, 'apiserver_longrunning_requests', { verb: 'WATCH', resource: 'configmaps', scope: 'namespace' }) === 1 ? exp : undefined;
    });
    assert.equal(total(mid, 'apiserver_current_inflight_requests', { request_kind: 'mutating' }), 0);
    // The scrape itself is a read-only request in flight while it renders.
    assert.equal(total(mid, 'apiserver_current_inflight_requests', { request_kind: 'readOnly' }), 1);
    watch.abort();
    await res.body?.cancel().catch(() => {});
    assert.equal((await t.request('DELETE', `${path}/a`)).status, 200);
    const after = await until('the watch ended', async () => {
      const exp = await scrape();
      return total(exp, 'apiserver_longrunning_requests', { verb: 'WATCH', resource: 'configmaps' }) === 0 ? exp : undefined;
    });

    for (const [verb, code] of [['CREATE', '201'], ['CREATE', '422'], ['GET', '200'], ['GET', '404'], ['LIST', '200'], ['PATCH', '200'], ['DELETE', '200'], ['WATCH', '200']] as const) {
      assert.equal(requests(after, verb, code) - requests(before, verb, code), 1, `${verb} ${code}`);
    }
    const created = select(after, 'apiserver_request_total', { verb: 'CREATE', code: '201', resource: 'configmaps' })[0]!;
    assert.deepEqual(created.labels, { verb: 'CREATE', group: '', version: 'v1', resource: 'configmaps', subresource: '', scope: 'resource', component: 'apiserver', code: '201' });
    const count = (exp: Exposition, verb: string) => total(exp, 'apiserver_request_duration_seconds_count', { verb, resource: 'configmaps' });
    assert.equal(count(after, 'CREATE') - count(before, 'CREATE'), 2);
    assert.equal(count(after, 'WATCH'), 0, 'watches are not in the duration histogram');
    const le = select(after, 'apiserver_request_duration_seconds_bucket', { verb: 'CREATE', resource: 'configmaps' }).map((s) => s.labels.le);
    assert.deepEqual(le.slice(0, 3), ['0.005', '0.025', '0.05']);

    // The watch got the initial ADDED of `a` (it ended before the DELETE).
    const events = (exp: Exposition) => total(exp, 'apiserver_watch_events_total', { group: '', version: 'v1', resource: 'configmaps' });
    assert.equal(events(after) - events(before), 1);
    const storage = (exp: Exposition, operation: string) => total(exp, 'etcd_request_duration_seconds_count', { operation, type: 'configmaps' });
    assert.ok(storage(after, 'create') - storage(before, 'create') >= 1);
    assert.ok(storage(after, 'update') - storage(before, 'update') >= 1);
    assert.ok(storage(after, 'delete') - storage(before, 'delete') >= 1);
    assert.ok(storage(after, 'get') > storage(before, 'get'));
    const admitted = (exp: Exposition, rejected: string) => total(exp, 'apiserver_admission_controller_admission_duration_seconds_count', { name: 'ConfigMap', type: 'validate', rejected });
    assert.equal(admitted(after, 'true') - admitted(before, 'true'), 1);
    assert.ok(admitted(after, 'false') - admitted(before, 'false') >= 2); // the create and the patch
    assert.ok(total(after, 'apiserver_storage_objects', { resource: 'namespaces' }) >= 4);
    assert.ok(total(after, 'process_resident_memory_bytes') > 0);
  });

  it('counts stored objects per resource at scrape time', async () => {
    const path = '/api/v1/namespaces/default/configmaps';
    const before = total(await scrape(), 'apiserver_storage_objects', { resource: 'configmaps' });
    await t.call('POST', path, { metadata: { name: 'counted' } });
    assert.equal(total(await scrape(), 'apiserver_storage_objects', { resource: 'configmaps' }), before + 1);
    await t.call('DELETE', `${path}/counted`);
    assert.equal(total(await scrape(), 'apiserver_storage_objects', { resource: 'configmaps' }), before);
  });
});
