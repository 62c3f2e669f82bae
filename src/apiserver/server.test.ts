// The embedded API server through @kubernetes/client-node, as controllers use it, plus raw HTTP where the exact
// status code, header or message text is the point.
import assert from 'node:assert/strict';
import { mkdir, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import {
  ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, KubernetesObjectApi, PatchStrategy, Watch, makeInformer, setHeaderOptions,
  type KubernetesObject, type V1Pod,
} from '@kubernetes/client-node';
import type { AdmissionPlugin } from '../api/admission.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestApiServer, type TestApiServer } from '../kube/testing/apiserver.ts';
import { until } from '../kube/testing/until.ts';
import { GROUP, http, statusOf, widget, widgetCrd } from './testkit.ts';

type Obj = Record<string, any>;

const rejects = async (p: Promise<unknown>, code: number): Promise<{ code: number; reason?: string; message?: string; details?: any }> => {
  try {
    await p;
  } catch (err) {
    const status = statusOf(err);
    assert.equal(status.code, code, `expected ${code}, got ${JSON.stringify(status)}`);
    return status;
  }
  assert.fail(`expected HTTP ${code}`);
};

const admission: AdmissionPlugin[] = [{
  group: GROUP,
  kind: 'Widget',
  mutate(req) {
    const obj = req.object!;
    obj.metadata.labels = { ...(obj.metadata.labels ?? {}), 'admitted-by': 'test' };
    return obj;
  },
  validate(req) {
    const spec = req.object!.spec as Obj;
    return spec.color === 'red' ? [{ field: 'spec.color', type: 'Invalid value', value: 'red', detail: 'red widgets are not allowed' }] : [];
  },
}];

describe('embedded API server via client-node', () => {
  let t: TestApiServer;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  const w = { group: GROUP, version: 'v1', namespace: 'default', plural: 'widgets' };
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
  const smp = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

  before(async () => {
    t = await startTestApiServer({ admission, bookmarkIntervalMs: 200 });
    custom = t.kubeConfig.makeApiClient(CustomObjectsApi);
    core = t.kubeConfig.makeApiClient(CoreV1Api);
    // Raw POST: client-node's typed serializer drops `default` and x-kubernetes-* keys from plain objects.
    assert.equal((await http(t, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', widgetCrd())).status, 201);
    const crd = await t.kubeConfig.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name: `widgets.${GROUP}` });
    const conds = Object.fromEntries((crd.status?.conditions ?? []).map((c) => [c.type, c.status]));
    assert.deepEqual(conds, { NamesAccepted: 'True', Established: 'True' });
    assert.equal(crd.status?.acceptedNames?.kind, 'Widget');
  });
  after(() => t.close());

  it('serves discovery for built-ins and the CRD', async () => {
    const version = await http(t, 'GET', '/version');
    assert.equal(version.json.major, '1');
    assert.match(version.json.gitVersion, /^v1\.34\./);
    const groups = await http(t, 'GET', '/apis');
    assert.ok(groups.json.groups.some((g: Obj) => g.name === GROUP && g.preferredVersion.version === 'v1'));
    const list = await http(t, 'GET', `/apis/${GROUP}/v1`);
    const names = list.json.resources.map((r: Obj) => r.name);
    assert.deepEqual(names, ['widgets', 'widgets/status', 'widgets/scale']);
    assert.deepEqual(list.json.resources[0].shortNames, ['wd']);
    const corev1 = await http(t, 'GET', '/api/v1');
    for (const n of ['pods', 'pods/status', 'pods/log', 'pods/binding', 'namespaces', 'services', 'configmaps', 'secrets', 'events', 'nodes']) {
      assert.ok(corev1.json.resources.some((r: Obj) => r.name === n), n);
    }
    const agg = await http(t, 'GET', '/apis', undefined, { Accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json' });
    assert.equal(agg.headers.get('content-type'), 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
    const item = agg.json.items.find((i: Obj) => i.metadata.name === GROUP);
    assert.equal(item.versions[0].resources[0].scope, 'Namespaced');
    assert.equal((await http(t, 'GET', '/healthz')).text, 'ok');
    assert.equal((await http(t, 'GET', '/apis/nope.example.com/v1/things')).status, 404);
  });

  it('does CRUD on custom resources with defaults, admission, generateName and dryRun', async () => {
    const created = (await custom.createNamespacedCustomObject({ ...w, body: widget('crud', { size: 'large', limits: {} }) })) as Obj;
    assert.equal(created.metadata.generation, 1);
    assert.match(created.metadata.uid, /^[0-9a-f-]{36}$/);
    assert.match(created.metadata.resourceVersion, /^\d+$/);
    assert.deepEqual(created.spec, { size: 'large', replicas: 1, color: 'blue', limits: { cpu: '1' } }); // schema defaults, nested too
    assert.equal(created.metadata.labels['admitted-by'], 'test');
    const got = (await custom.getNamespacedCustomObject({ ...w, name: 'crud' })) as Obj;
    assert.deepEqual(got, created);
    const generated = (await custom.createNamespacedCustomObject({ ...w, body: { ...widget(''), metadata: { generateName: 'gen-' } } })) as Obj;
    assert.match(generated.metadata.name, /^gen-[a-z0-9]{5}$/);
    const dry = (await custom.createNamespacedCustomObject({ ...w, body: widget('dry'), dryRun: 'All' })) as Obj;
    assert.equal(dry.metadata.name, 'dry');
    await rejects(custom.getNamespacedCustomObject({ ...w, name: 'dry' }), 404);
    const dup = await rejects(custom.createNamespacedCustomObject({ ...w, body: widget('crud') }), 409);
    assert.equal(dup.reason, 'AlreadyExists');
    assert.equal(dup.message, `widgets.${GROUP} "crud" already exists`);
    const red = await rejects(custom.createNamespacedCustomObject({ ...w, body: widget('red', { size: 'small', color: 'red' }) }), 422);
    assert.equal(red.message, `Widget.${GROUP} "red" is invalid: spec.color: Invalid value: "red": red widgets are not allowed`);
    const list = (await custom.listNamespacedCustomObject(w)) as Obj;
    assert.equal(list.kind, 'WidgetList');
    assert.ok(list.items.some((i: Obj) => i.metadata.name === 'crud'));
    const all = (await custom.listClusterCustomObject({ group: GROUP, version: 'v1', plural: 'widgets' })) as Obj;
    assert.ok(all.items.length >= 2);
    const del = (await custom.deleteNamespacedCustomObject({ ...w, name: 'crud' })) as Obj;
    assert.equal(del.status, 'Success');
    const nf = await rejects(custom.getNamespacedCustomObject({ ...w, name: 'crud' }), 404);
    assert.equal(nf.message, `widgets.${GROUP} "crud" not found`);
    assert.equal(nf.reason, 'NotFound');
  });

  it('rejects stale updates with 409 and requires resourceVersion on PUT', async () => {
    const v1 = (await custom.createNamespacedCustomObject({ ...w, body: widget('occ') })) as Obj;
    const v2 = (await custom.replaceNamespacedCustomObject({ ...w, name: 'occ', body: { ...v1, spec: { ...v1.spec, replicas: 2 } } })) as Obj;
    assert.notEqual(v2.metadata.resourceVersion, v1.metadata.resourceVersion);
    assert.ok(Number(v2.metadata.resourceVersion) > Number(v1.metadata.resourceVersion));
    const stale = await rejects(custom.replaceNamespacedCustomObject({ ...w, name: 'occ', body: { ...v1, spec: { ...v1.spec, replicas: 3 } } }), 409);
    assert.equal(stale.reason, 'Conflict');
    assert.equal(stale.message, `Operation cannot be fulfilled on widgets.${GROUP} "occ": the object has been modified; please apply your changes to the latest version and try again`);
    const noRv = { ...v2, metadata: { ...v2.metadata, resourceVersion: undefined } };
    const invalid = await rejects(custom.replaceNamespacedCustomObject({ ...w, name: 'occ', body: noRv }), 422);
    assert.match(invalid.message!, /metadata.resourceVersion: Invalid value: 0: must be specified for an update/);
    const current = (await custom.getNamespacedCustomObject({ ...w, name: 'occ' })) as Obj;
    assert.equal(current.spec.replicas, 2);
    // A no-op update neither writes nor changes the resourceVersion.
    const same = (await custom.replaceNamespacedCustomObject({ ...w, name: 'occ', body: current })) as Obj;
    assert.equal(same.metadata.resourceVersion, current.metadata.resourceVersion);
  });

  it('bumps generation only on spec changes and keeps status behind /status', async () => {
    const v1 = (await custom.createNamespacedCustomObject({ ...w, body: { ...widget('gen'), status: { phase: 'Ignored' } } })) as Obj;
    assert.equal(v1.status, undefined); // create drops status when the status subresource is on
    const labeled = (await custom.patchNamespacedCustomObject({ ...w, name: 'gen', body: { metadata: { labels: { a: 'b' } } } }, merge)) as Obj;
    assert.equal(labeled.metadata.generation, 1);
    const viaMain = (await custom.patchNamespacedCustomObject({ ...w, name: 'gen', body: { status: { phase: 'Nope' } } }, merge)) as Obj;
    assert.equal(viaMain.status, undefined);
    assert.equal(viaMain.metadata.resourceVersion, labeled.metadata.resourceVersion); // nothing changed: no write
    const st = (await custom.patchNamespacedCustomObjectStatus({ ...w, name: 'gen', body: { status: { phase: 'Ready', replicas: 1 }, spec: { size: 'large' } } }, merge)) as Obj;
    assert.equal(st.status.phase, 'Ready');
    assert.equal(st.spec.size, 'small'); // /status ignores everything but status
    assert.equal(st.metadata.generation, 1);
    const specChanged = (await custom.patchNamespacedCustomObject({ ...w, name: 'gen', body: { spec: { size: 'large' } } }, merge)) as Obj;
    assert.equal(specChanged.metadata.generation, 2);
    assert.equal(specChanged.status.phase, 'Ready');
    const replaced = (await custom.replaceNamespacedCustomObjectStatus({ ...w, name: 'gen', body: { ...specChanged, status: { phase: 'Done' } } })) as Obj;
    assert.equal(replaced.status.phase, 'Done');
    assert.equal(replaced.metadata.generation, 2);
  });

  it('applies merge, JSON and strategic merge patches (415 for custom resources)', async () => {
    await custom.createNamespacedCustomObject({ ...w, body: widget('patch', { size: 'small', tags: ['a'], extra: { x: 1 } }) });
    const merged = (await custom.patchNamespacedCustomObject({ ...w, name: 'patch', body: { spec: { extra: { y: 2, x: null } } } }, merge)) as Obj;
    assert.deepEqual(merged.spec.extra, { y: 2 });
    const jp = (await custom.patchNamespacedCustomObject({ ...w, name: 'patch', body: [
      { op: 'test', path: '/spec/size', value: 'small' },
      { op: 'add', path: '/spec/tags/-', value: 'b' },
      { op: 'replace', path: '/spec/replicas', value: 4 },
    ] }, jsonPatch)) as Obj;
    assert.deepEqual(jp.spec.tags, ['a', 'b']);
    assert.equal(jp.spec.replicas, 4);
    const failed = await rejects(custom.patchNamespacedCustomObject({ ...w, name: 'patch', body: [{ op: 'test', path: '/spec/size', value: 'large' }] }, jsonPatch), 422);
    assert.match(failed.message!, /test failed/);
    const unsupported = await rejects(custom.patchNamespacedCustomObject({ ...w, name: 'patch', body: { spec: { replicas: 1 } } }, smp), 415);
    assert.equal(unsupported.reason, 'UnsupportedMediaType');
    // Strategic merge on a pod merges containers by name.
    await core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'smp' }, spec: { containers: [{ name: 'a', image: 'img:1' }, { name: 'b', image: 'img:1' }] } } });
    const pod = await core.patchNamespacedPod({ namespace: 'default', name: 'smp', body: { spec: { containers: [{ name: 'b', image: 'img:2' }] } } }, smp);
    assert.deepEqual(pod.spec!.containers.map((c) => `${c.name}=${c.image}`), ['a=img:1', 'b=img:2']);
    const forbidden = await rejects(core.patchNamespacedPod({ namespace: 'default', name: 'smp', body: { spec: { restartPolicy: 'Never' } } }, smp), 422);
    assert.match(forbidden.message!, /spec: Forbidden: pod updates may not change fields other than/);
  });

  it('prunes unknown fields (Warning header by default, 400 with Strict) and validates schemas', async () => {
    const body = widget('prune', { size: 'small', bogus: 1, extra: { kept: true } });
    const warn = await http(t, 'POST', `/apis/${GROUP}/v1/namespaces/default/widgets`, body);
    assert.equal(warn.status, 201);
    assert.equal(warn.json.spec.bogus, undefined);
    assert.deepEqual(warn.json.spec.extra, { kept: true }); // x-kubernetes-preserve-unknown-fields
    assert.equal(warn.headers.get('warning'), '299 - "unknown field \\"spec.bogus\\""');
    const strict = await http(t, 'POST', `/apis/${GROUP}/v1/namespaces/default/widgets?fieldValidation=Strict`, widget('strict', { size: 'small', bogus: 1, deep: { x: 1 } }));
    assert.equal(strict.status, 400);
    assert.equal(strict.json.message, 'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.bogus", unknown field "spec.deep"');
    assert.equal((await http(t, 'GET', `/apis/${GROUP}/v1/namespaces/default/widgets/strict`)).status, 404);
    const ignore = await http(t, 'POST', `/apis/${GROUP}/v1/namespaces/default/widgets?fieldValidation=Ignore`, widget('ignore', { size: 'small', bogus: 1 }));
    assert.equal(ignore.status, 201);
    assert.equal(ignore.headers.get('warning'), null);

    const bad = await rejects(custom.createNamespacedCustomObject({ ...w, body: widget('bad', { replicas: -1, port: true, tags: ['x', 'x'] }) }), 422);
    assert.equal(bad.reason, 'Invalid');
    assert.equal(bad.message, `Widget.${GROUP} "bad" is invalid: [spec.size: Required value, spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0, spec.port: Invalid value: "boolean": spec.port in body must be of type integer/string: "boolean", spec.tags[1]: Duplicate value: "x"]`);
    assert.deepEqual(bad.details.causes.map((c: Obj) => [c.reason, c.field]), [
      ['FieldValueRequired', 'spec.size'], ['FieldValueInvalid', 'spec.replicas'], ['FieldValueInvalid', 'spec.port'], ['FieldValueDuplicate', 'spec.tags[1]'],
    ]);
    assert.equal(bad.details.kind, 'Widget');
    assert.equal(bad.details.group, GROUP);
    const one = await rejects(custom.createNamespacedCustomObject({ ...w, body: widget('Bad_Name') }), 422);
    assert.match(one.message!, /^Widget\.test\.matrixinfer\.ai "Bad_Name" is invalid: metadata\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/);
    const intOrString = (await custom.createNamespacedCustomObject({ ...w, body: widget('ios', { size: 'small', port: 'http', template: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x', junk: 1 }, spec: {} } }) })) as Obj;
    assert.equal(intOrString.spec.port, 'http');
    assert.deepEqual(intOrString.spec.template.metadata, { name: 'x' }); // embedded resource metadata is ObjectMeta
    const embedded = await rejects(custom.createNamespacedCustomObject({ ...w, body: widget('emb', { size: 'small', template: { spec: {} } }) }), 422);
    assert.match(embedded.message!, /spec\.template\.apiVersion: Required value/);
    const malformed = await http(t, 'POST', `/apis/${GROUP}/v1/namespaces/default/widgets`, '{"apiVersion": ');
    assert.equal(malformed.status, 400);
    assert.equal(malformed.json.reason, 'BadRequest');
    const yamlBody = await http(t, 'POST', `/apis/${GROUP}/v1/namespaces/default/widgets`, `apiVersion: ${GROUP}/v1\nkind: Widget\nmetadata:\n  name: from-yaml\nspec:\n  size: large\n`, { 'Content-Type': 'application/yaml' });
    assert.equal(yamlBody.status, 201);
    assert.equal(yamlBody.json.spec.size, 'large');
  });

  it('filters lists and watches by label and field selectors', async () => {
    const mk = (name: string, labels: Record<string, string>, nodeName?: string) => core.createNamespacedPod({
      namespace: 'default', body: { metadata: { name, labels }, spec: { ...(nodeName ? { nodeName } : {}), containers: [{ name: 'c', image: 'img' }] } },
    });
    await mk('sel-a', { app: 'x', tier: 'web' }, 'node-1');
    await mk('sel-b', { app: 'y', tier: 'web' }, 'node-2');
    await mk('sel-c', { app: 'z' });
    const names = async (opts: { labelSelector?: string; fieldSelector?: string }) =>
      (await core.listNamespacedPod({ namespace: 'default', ...opts })).items.map((p) => p.metadata!.name).filter((n) => n!.startsWith('sel-'));
    assert.deepEqual(await names({ labelSelector: 'app=x' }), ['sel-a']);
    assert.deepEqual(await names({ labelSelector: 'app==x' }), ['sel-a']);
    assert.deepEqual(await names({ labelSelector: 'tier!=web' }), ['sel-c']);
    assert.deepEqual(await names({ labelSelector: 'app in (x,z)' }), ['sel-a', 'sel-c']);
    assert.deepEqual(await names({ labelSelector: 'app notin (x,z)' }), ['sel-b']);
    assert.deepEqual(await names({ labelSelector: 'tier' }), ['sel-a', 'sel-b']);
    assert.deepEqual(await names({ labelSelector: '!tier' }), ['sel-c']);
    assert.deepEqual(await names({ labelSelector: 'tier=web,app!=x' }), ['sel-b']);
    assert.deepEqual(await names({ fieldSelector: 'spec.nodeName=node-2' }), ['sel-b']);
    assert.deepEqual(await names({ fieldSelector: 'spec.nodeName=' }), ['sel-c']);
    assert.deepEqual(await names({ fieldSelector: 'metadata.name=sel-c,status.phase=Pending' }), ['sel-c']);
    assert.deepEqual(await names({ fieldSelector: 'status.phase!=Pending' }), []);
    const unsupported = await rejects(core.listNamespacedPod({ namespace: 'default', fieldSelector: 'spec.bogus=1' }), 400);
    assert.match(unsupported.message!, /field label not supported: spec.bogus/);
    await rejects(core.listNamespacedPod({ namespace: 'default', labelSelector: 'a in (b' }), 400);
    const all = await core.listPodForAllNamespaces({ labelSelector: 'app=x' });
    assert.deepEqual(all.items.map((p) => p.metadata!.name), ['sel-a']);
    const paged = await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app', limit: 2 });
    assert.equal(paged.items.length, 2);
    assert.ok(paged.metadata?._continue);
    const rest = await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app', limit: 2, _continue: paged.metadata!._continue! });
    assert.ok(rest.items.length >= 1 && !rest.items.some((p) => paged.items.some((q) => q.metadata!.name === p.metadata!.name)));

    // A watch with a selector sees objects enter (ADDED) and leave (DELETED) the selection.
    const events: string[] = [];
    const watch = new Watch(t.kubeConfig);
    const list = await core.listNamespacedPod({ namespace: 'default' });
    const req = await watch.watch('/api/v1/namespaces/default/pods', { labelSelector: 'app=x', resourceVersion: list.metadata!.resourceVersion }, (type, obj) => events.push(`${type} ${obj.metadata.name}`), () => {});
    await core.patchNamespacedPod({ namespace: 'default', name: 'sel-b', body: { metadata: { labels: { app: 'x' } } } }, merge);
    await core.patchNamespacedPod({ namespace: 'default', name: 'sel-a', body: { metadata: { labels: { app: 'q' } } } }, merge);
    await core.patchNamespacedPod({ namespace: 'default', name: 'sel-c', body: { metadata: { labels: { other: '1' } } } }, merge);
    await core.patchNamespacedPod({ namespace: 'default', name: 'sel-b', body: { metadata: { labels: { more: '1' } } } }, merge);
    await until('selector watch events', () => events.length >= 3, 2000);
    await sleep(50);
    req.abort();
    assert.deepEqual(events, ['ADDED sel-b', 'DELETED sel-a', 'MODIFIED sel-b']);
  });

  it('watches from a resourceVersion, with initial events when none is given, and bookmarks', async () => {
    const first = (await custom.createNamespacedCustomObject({ ...w, body: widget('watch-1') })) as Obj;
    const rv = first.metadata.resourceVersion;
    await custom.createNamespacedCustomObject({ ...w, body: widget('watch-2') });
    await custom.patchNamespacedCustomObject({ ...w, name: 'watch-1', body: { spec: { replicas: 5 } } }, merge);
    await custom.deleteNamespacedCustomObject({ ...w, name: 'watch-2' });
    const events: string[] = [];
    let bookmarks = 0;
    const watch = new Watch(t.kubeConfig);
    const req = await watch.watch(`/apis/${GROUP}/v1/namespaces/default/widgets`, { resourceVersion: rv, allowWatchBookmarks: true }, (type, obj) => {
      if (type === 'BOOKMARK') bookmarks++;
      else if (obj.metadata.name.startsWith('watch-')) events.push(`${type} ${obj.metadata.name}${type === 'MODIFIED' ? ` ${obj.spec.replicas}` : ''}`);
    }, () => {});
    await until('replayed events', () => events.length >= 3, 2000);
    assert.deepEqual(events, ['ADDED watch-2', 'MODIFIED watch-1 5', 'DELETED watch-2']);
    await custom.createNamespacedCustomObject({ ...w, body: widget('watch-3') });
    await until('live event', () => events.includes('ADDED watch-3'), 2000);
    await until('a bookmark', () => bookmarks > 0, 2000);
    req.abort();

    // No resourceVersion: synthetic ADDED events for what exists, then live events.
    const initial: string[] = [];
    const req2 = await watch.watch(`/apis/${GROUP}/v1/namespaces/default/widgets`, { fieldSelector: 'metadata.name=watch-1' }, (type, obj) => initial.push(`${type} ${obj.metadata.name}`), () => {});
    await until('initial event', () => initial.length >= 1, 2000);
    req2.abort();
    assert.deepEqual(initial, ['ADDED watch-1']);

    // timeoutSeconds ends the stream.
    const started = Date.now();
    const res = await http(t, 'GET', `/apis/${GROUP}/v1/namespaces/default/widgets?watch=1&timeoutSeconds=1&resourceVersion=${(await custom.listNamespacedCustomObject(w) as Obj).metadata.resourceVersion}`);
    assert.equal(res.status, 200);
    assert.equal(res.text, '');
    assert.ok(Date.now() - started >= 900);
  });

  it('keeps an informer (makeInformer) in sync', async () => {
    const informer = makeInformer<KubernetesObject>(t.kubeConfig, `/apis/${GROUP}/v1/namespaces/default/widgets`,
      () => custom.listNamespacedCustomObject({ ...w, labelSelector: 'inf=1' }) as never, 'inf=1');
    const seen: string[] = [];
    informer.on('add', (o) => seen.push(`add ${o.metadata!.name}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata!.name}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata!.name}`));
    await custom.createNamespacedCustomObject({ ...w, body: widget('inf-a', { size: 'small' }, { labels: { inf: '1' } }) });
    await informer.start();
    await custom.createNamespacedCustomObject({ ...w, body: widget('inf-b', { size: 'small' }, { labels: { inf: '1' } }) });
    await custom.patchNamespacedCustomObject({ ...w, name: 'inf-a', body: { spec: { replicas: 3 } } }, merge);
    await custom.deleteNamespacedCustomObject({ ...w, name: 'inf-b' });
    await until('informer events', () => seen.length >= 4, 3000);
    await informer.stop();
    assert.deepEqual(seen, ['add inf-a', 'add inf-b', 'update inf-a', 'delete inf-b']);
    assert.deepEqual(informer.list().map((o) => o.metadata!.name), ['inf-a']);
  });

  it('holds objects with finalizers until the finalizers are removed', async () => {
    await custom.createNamespacedCustomObject({ ...w, body: widget('fin', { size: 'small' }, { finalizers: ['test.matrixinfer.ai/hold'] }) });
    const pending = (await custom.deleteNamespacedCustomObject({ ...w, name: 'fin' })) as Obj;
    assert.ok(pending.metadata.deletionTimestamp);
    assert.equal(pending.metadata.deletionGracePeriodSeconds, 0);
    const still = (await custom.getNamespacedCustomObject({ ...w, name: 'fin' })) as Obj;
    assert.ok(still.metadata.deletionTimestamp);
    const noNew = await rejects(custom.patchNamespacedCustomObject({ ...w, name: 'fin', body: { metadata: { finalizers: ['test.matrixinfer.ai/hold', 'x.io/more'] } } }, merge), 422);
    assert.match(noNew.message!, /no new finalizers can be added if the object is being deleted/);
    await custom.patchNamespacedCustomObject({ ...w, name: 'fin', body: { metadata: { finalizers: null } } }, merge);
    await rejects(custom.getNamespacedCustomObject({ ...w, name: 'fin' }), 404);
  });

  it('cascades deletion to dependents: background, foreground and orphan', async () => {
    const owner = async (name: string) => (await custom.createNamespacedCustomObject({ ...w, body: widget(name) })) as Obj;
    const ref = (o: Obj, block = false) => [{ apiVersion: `${GROUP}/v1`, kind: 'Widget', name: o.metadata.name, uid: o.metadata.uid, controller: true, blockOwnerDeletion: block }];
    const cm = (name: string, refs: unknown, finalizers?: string[]) => core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name, ownerReferences: refs as never, ...(finalizers ? { finalizers } : {}) }, data: { a: 'b' } } });
    const exists = async (name: string) => core.readNamespacedConfigMap({ namespace: 'default', name }).then(() => true, () => false);

    const bg = await owner('own-bg');
    await cm('dep-bg', ref(bg));
    await custom.deleteNamespacedCustomObject({ ...w, name: 'own-bg', propagationPolicy: 'Background' });
    await until('background cascade', async () => !(await exists('dep-bg')), 3000);

    const fg = await owner('own-fg');
    await cm('dep-fg', ref(fg, true), ['test.matrixinfer.ai/slow']);
    await custom.deleteNamespacedCustomObject({ ...w, name: 'own-fg', propagationPolicy: 'Foreground' });
    const waiting = (await custom.getNamespacedCustomObject({ ...w, name: 'own-fg' })) as Obj;
    assert.ok(waiting.metadata.deletionTimestamp);
    assert.deepEqual(waiting.metadata.finalizers, ['foregroundDeletion']);
    const dep = await until('dependent marked for deletion', async () => {
      const d = await core.readNamespacedConfigMap({ namespace: 'default', name: 'dep-fg' });
      return d.metadata!.deletionTimestamp ? d : undefined;
    }, 3000);
    await sleep(50);
    assert.ok(await custom.getNamespacedCustomObject({ ...w, name: 'own-fg' })); // owner waits for the blocking dependent
    await core.patchNamespacedConfigMap({ namespace: 'default', name: 'dep-fg', body: { metadata: { finalizers: null, resourceVersion: dep.metadata!.resourceVersion } } }, merge);
    await until('owner gone after dependent', async () => custom.getNamespacedCustomObject({ ...w, name: 'own-fg' }).then(() => false, (e) => statusOf(e).code === 404), 3000);

    const or = await owner('own-or');
    await cm('dep-or', ref(or));
    await custom.deleteNamespacedCustomObject({ ...w, name: 'own-or', propagationPolicy: 'Orphan' });
    await sleep(100);
    const orphan = await core.readNamespacedConfigMap({ namespace: 'default', name: 'dep-or' });
    assert.equal(orphan.metadata!.ownerReferences, undefined);

    // A dependent with one owner left keeps living, minus the reference to the deleted one.
    const a = await owner('own-a');
    const b = await owner('own-b');
    await cm('dep-ab', [...ref(a), { ...ref(b)[0], controller: false }]);
    await custom.deleteNamespacedCustomObject({ ...w, name: 'own-a' });
    const survivor = await until('dangling reference removed', async () => {
      const d = await core.readNamespacedConfigMap({ namespace: 'default', name: 'dep-ab' });
      return d.metadata!.ownerReferences!.length === 1 ? d : undefined;
    }, 3000);
    assert.equal(survivor.metadata!.ownerReferences![0]!.uid, b.metadata.uid);
  });

  it('deletes pods bound to a node gracefully and others at once', async () => {
    const make = (name: string, nodeName?: string) => core.createNamespacedPod({
      namespace: 'default', body: { metadata: { name }, spec: { ...(nodeName ? { nodeName } : {}), terminationGracePeriodSeconds: 45, containers: [{ name: 'c', image: 'img' }] } },
    });
    await make('unbound');
    const gone = await core.deleteNamespacedPod({ namespace: 'default', name: 'unbound' });
    assert.equal(gone.metadata!.name, 'unbound'); // pods answer DELETE with the object
    await rejects(core.readNamespacedPod({ namespace: 'default', name: 'unbound' }), 404);

    await make('bound', 'node-1');
    const before = Date.now();
    const terminating = await core.deleteNamespacedPod({ namespace: 'default', name: 'bound' });
    assert.equal(terminating.metadata!.deletionGracePeriodSeconds, 45);
    const ts = new Date(terminating.metadata!.deletionTimestamp!).getTime();
    assert.ok(ts >= before + 43_000 && ts <= Date.now() + 46_000, 'deletionTimestamp = now + grace');
    const shorter = await core.deleteNamespacedPod({ namespace: 'default', name: 'bound', gracePeriodSeconds: 5 });
    assert.equal(shorter.metadata!.deletionGracePeriodSeconds, 5);
    const table = await http(t, 'GET', '/api/v1/namespaces/default/pods/bound', undefined, { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    assert.equal(table.json.rows[0].cells[2], 'Terminating');
    await core.deleteNamespacedPod({ namespace: 'default', name: 'bound', gracePeriodSeconds: 0 }); // the node agent's final delete
    await rejects(core.readNamespacedPod({ namespace: 'default', name: 'bound' }), 404);

    // Binding assigns a node to a pending pod, once.
    await make('to-bind');
    await core.createNamespacedPodBinding({ namespace: 'default', name: 'to-bind', body: { metadata: { name: 'to-bind' }, target: { kind: 'Node', name: 'node-9' } } });
    const bound = await core.readNamespacedPod({ namespace: 'default', name: 'to-bind' });
    assert.equal(bound.spec!.nodeName, 'node-9');
    assert.equal(bound.status!.conditions!.find((c) => c.type === 'PodScheduled')!.status, 'True');
    await rejects(core.createNamespacedPodBinding({ namespace: 'default', name: 'to-bind', body: { metadata: { name: 'to-bind' }, target: { kind: 'Node', name: 'node-8' } } }), 409);
  });

  it('validates built-in kinds and namespaces', async () => {
    const noContainers = await rejects(core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'p' }, spec: { containers: [] } } }), 422);
    assert.equal(noContainers.message, 'Pod "p" is invalid: spec.containers: Required value');
    const noImage = await rejects(core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c' } as never, { name: 'c', image: 'x', ports: [{ containerPort: 70000 }] }] } } }), 422);
    assert.equal(noImage.message, 'Pod "p" is invalid: [spec.containers[0].image: Required value, spec.containers[1].name: Duplicate value: "c", spec.containers[1].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive]');
    const svc = await rejects(core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 's' }, spec: { ports: [{ port: 0 }] } } }), 422);
    // targetPort defaults to port, so both are reported (as by kube-apiserver).
    assert.equal(svc.message, 'Service "s" is invalid: [spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive, spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive]');
    const noNs = await rejects(core.createNamespacedConfigMap({ namespace: 'missing', body: { metadata: { name: 'c' } } }), 404);
    assert.equal(noNs.message, 'namespaces "missing" not found');
    const secret = await core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'sec' }, stringData: { token: 'hunter2' }, data: { other: Buffer.from('x').toString('base64') } } });
    assert.deepEqual(secret.data, { other: 'eA==', token: Buffer.from('hunter2').toString('base64') });
    assert.equal(secret.stringData, undefined);
    assert.equal(secret.type, 'Opaque');
    const badB64 = await http(t, 'POST', '/api/v1/namespaces/default/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'b64' }, data: { a: '!!!' } });
    assert.equal(badB64.status, 400);
    const created = await core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'svc' }, spec: { selector: { app: 'x' }, ports: [{ port: 80 }] } } });
    assert.match(created.spec!.clusterIP!, /^10\.96\./);
    assert.equal(created.spec!.ports![0]!.targetPort, 80);

    // Deleting a namespace removes its content, then the namespace.
    await core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    await core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'c' } } });
    const ns = await core.deleteNamespace({ name: 'doomed' }) as Obj;
    assert.equal(ns.status.phase, 'Terminating');
    await until('namespace removal', async () => core.readNamespace({ name: 'doomed' }).then(() => false, (e) => statusOf(e).code === 404), 3000);
    await rejects(core.readNamespacedConfigMap({ namespace: 'doomed', name: 'c' }), 404);
    await rejects(core.deleteNamespace({ name: 'default' }), 403);
    for (const [name, tier] of [['dc-1', 'a'], ['dc-2', 'a'], ['dc-3', 'b']]) {
      await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name, labels: { dc: tier! } } } });
    }
    const removed = await http(t, 'DELETE', '/api/v1/namespaces/default/configmaps?labelSelector=dc%3Da');
    assert.equal(removed.status, 200);
    assert.deepEqual(removed.json.items.map((i: Obj) => i.metadata.name), ['dc-1', 'dc-2']);
    assert.deepEqual((await core.listNamespacedConfigMap({ namespace: 'default', labelSelector: 'dc' })).items.map((c) => c.metadata!.name), ['dc-3']);
    const lease = await http(t, 'POST', '/apis/coordination.k8s.io/v1/namespaces/default/leases', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'leader' }, spec: { holderIdentity: 'me', leaseDurationSeconds: 15 } });
    assert.equal(lease.status, 201);
  });

  it('serves events through core/v1 and events.k8s.io/v1 alike', async () => {
    const target = (await custom.createNamespacedCustomObject({ ...w, body: widget('evented') })) as Obj;
    const created = await http(t, 'POST', '/apis/events.k8s.io/v1/namespaces/default/events', {
      apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'evented.1' },
      eventTime: '2025-01-01T00:00:00.000000Z', reportingController: 'test/ctl', reportingInstance: 'ctl-1', action: 'Reconcile', reason: 'Synced', type: 'Normal',
      note: 'all good', regarding: { apiVersion: `${GROUP}/v1`, kind: 'Widget', name: 'evented', namespace: 'default', uid: target.metadata.uid },
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.json.note, 'all good');
    const coreEvents = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=evented,involvedObject.kind=Widget,involvedObject.uid=${target.metadata.uid}` });
    assert.equal(coreEvents.items.length, 1);
    assert.equal(coreEvents.items[0]!.message, 'all good');
    assert.equal(coreEvents.items[0]!.reportingComponent, 'test/ctl');
    const invalid = await http(t, 'POST', '/apis/events.k8s.io/v1/namespaces/default/events', { apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'bad' }, type: 'Normal' });
    assert.equal(invalid.status, 422);
    assert.match(invalid.json.message, /eventTime: Required value/);
    await core.createNamespacedEvent({ namespace: 'default', body: { metadata: { name: 'core.1' }, involvedObject: { kind: 'Widget', name: 'evented', namespace: 'default' }, reason: 'Old', message: 'style', type: 'Warning' } });
    const viaNew = await http(t, 'GET', '/apis/events.k8s.io/v1/namespaces/default/events/core.1');
    assert.deepEqual([viaNew.json.apiVersion, viaNew.json.note, viaNew.json.regarding.name], ['events.k8s.io/v1', 'style', 'evented']);
  });

  it('serves Tables, the scale subresource and pod logs', async () => {
    await custom.createNamespacedCustomObject({ ...w, body: widget('tbl', { size: 'large', replicas: 2 }) });
    await custom.patchNamespacedCustomObjectStatus({ ...w, name: 'tbl', body: { status: { replicas: 2, selector: 'app=tbl', conditions: [{ type: 'Ready', status: 'True' }] } } }, merge);
    const table = await http(t, 'GET', `/apis/${GROUP}/v1/namespaces/default/widgets?fieldSelector=metadata.name=tbl`, undefined, { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' });
    assert.equal(table.json.kind, 'Table');
    assert.deepEqual(table.json.columnDefinitions.map((c: Obj) => c.name), ['Name', 'Size', 'Replicas', 'Ready', 'Age']);
    assert.deepEqual(table.json.rows[0].cells.slice(0, 4), ['tbl', 'large', 2, 'True']);
    assert.match(table.json.rows[0].cells[4], /^\d+s$/);
    assert.equal(table.json.rows[0].object.kind, 'PartialObjectMetadata');

    const scale = await custom.getNamespacedCustomObjectScale({ ...w, name: 'tbl' }) as Obj;
    assert.deepEqual([scale.kind, scale.apiVersion, scale.spec.replicas, scale.status.replicas, scale.status.selector], ['Scale', 'autoscaling/v1', 2, 2, 'app=tbl']);
    const scaled = await custom.patchNamespacedCustomObjectScale({ ...w, name: 'tbl', body: { spec: { replicas: 7 } } }, merge) as Obj;
    assert.equal(scaled.spec.replicas, 7);
    const after = await custom.getNamespacedCustomObject({ ...w, name: 'tbl' }) as Obj;
    assert.equal(after.spec.replicas, 7);
    assert.equal(after.metadata.generation, 2);
    await rejects(custom.replaceNamespacedCustomObjectScale({ ...w, name: 'tbl', body: { ...scale, spec: { replicas: 1 } } }), 409);

    const logDir = join(t.dataDir, 'pod-logs');
    await mkdir(logDir, { recursive: true });
    await core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'logger' }, spec: { nodeName: 'n', containers: [{ name: 'main', image: 'img' }, { name: 'side', image: 'img' }] } } });
    await writeFile(join(logDir, 'default_logger_main.log'), 'one\ntwo\nthree\n');
    assert.equal(await core.readNamespacedPodLog({ namespace: 'default', name: 'logger', container: 'main' }), 'one\ntwo\nthree\n');
    assert.equal(await core.readNamespacedPodLog({ namespace: 'default', name: 'logger', container: 'main', tailLines: 2 }), 'two\nthree\n');
    const noContainer = await http(t, 'GET', '/api/v1/namespaces/default/pods/logger/log');
    assert.equal(noContainer.status, 400);
    assert.match(noContainer.json.message, /a container name must be specified for pod logger, choose one of: \[main side\]/);
    const res = await fetch(`${t.url}/api/v1/namespaces/default/pods/logger/log?container=main&follow=true&tailLines=1`);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value);
    await appendFile(join(logDir, 'default_logger_main.log'), 'four\n');
    while (!text.includes('four')) text += decoder.decode((await reader.read()).value);
    assert.equal(text, 'three\nfour\n');
    await core.deleteNamespacedPod({ namespace: 'default', name: 'logger', gracePeriodSeconds: 0 });
    while (!(await reader.read()).done); // the stream ends when the pod is gone
  });

  it('applies objects through KubernetesObjectApi (server-side apply approximation included)', async () => {
    const api = KubernetesObjectApi.makeApiClient(t.kubeConfig);
    const created = await api.create(widget('koa', { size: 'small' }) as KubernetesObject) as Obj;
    assert.equal(created.spec.color, 'blue');
    const read = await api.read({ apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name: 'koa', namespace: 'default' } }) as Obj;
    assert.equal(read.metadata.uid, created.metadata.uid);
    const applied = await api.patch(widget('koa-ssa', { size: 'large' }) as KubernetesObject, undefined, undefined, 'test', true, PatchStrategy.ServerSideApply) as Obj;
    assert.equal(applied.spec.size, 'large');
    const again = await api.patch(widget('koa-ssa', { size: 'small', replicas: 3 }) as KubernetesObject, undefined, undefined, 'test', true, PatchStrategy.ServerSideApply) as Obj;
    assert.deepEqual([again.spec.size, again.spec.replicas], ['small', 3]);
    const pods = await api.list('v1', 'Pod', 'default');
    assert.ok(pods.items.length > 0);
  });

  it('serves every served version of a CRD from one storage', async () => {
    const crd = widgetCrd() as Obj;
    crd.metadata.name = `gizmos.${GROUP}`;
    crd.spec.names = { plural: 'gizmos', kind: 'Gizmo' };
    crd.spec.scope = 'Cluster';
    const v1 = crd.spec.versions[0];
    crd.spec.versions = [{ ...v1, name: 'v1beta1', storage: false }, { ...v1, name: 'v2alpha1', served: false, storage: false }, v1];
    assert.equal((await http(t, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)).status, 201);
    const group = await http(t, 'GET', `/apis/${GROUP}`);
    assert.deepEqual(group.json.versions.map((v: Obj) => v.version), ['v1', 'v1beta1']);
    const made = await http(t, 'POST', `/apis/${GROUP}/v1beta1/gizmos`, { apiVersion: `${GROUP}/v1beta1`, kind: 'Gizmo', metadata: { name: 'gz' }, spec: { size: 'small' } });
    assert.equal(made.status, 201, made.text);
    assert.equal(made.json.apiVersion, `${GROUP}/v1beta1`);
    const asV1 = await custom.getClusterCustomObject({ group: GROUP, version: 'v1', plural: 'gizmos', name: 'gz' }) as Obj;
    assert.equal(asV1.apiVersion, `${GROUP}/v1`);
    assert.equal(asV1.metadata.namespace, undefined);
    assert.equal((await http(t, 'GET', `/apis/${GROUP}/v2alpha1/gizmos`)).status, 404);
    assert.equal((await http(t, 'GET', `/apis/${GROUP}/v1/namespaces/default/gizmos`)).status, 404);
  });

  it('stops serving a CRD\'s kind and deletes its objects when the CRD is deleted', async () => {
    const ext = t.kubeConfig.makeApiClient(ApiextensionsV1Api);
    const crd = widgetCrd() as Obj;
    crd.metadata.name = `gadgets.${GROUP}`;
    crd.spec.names = { plural: 'gadgets', kind: 'Gadget' };
    assert.equal((await http(t, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)).status, 201);
    const g = { group: GROUP, version: 'v1', namespace: 'default', plural: 'gadgets' };
    await custom.createNamespacedCustomObject({ ...g, body: { apiVersion: `${GROUP}/v1`, kind: 'Gadget', metadata: { name: 'g1' }, spec: { size: 'small' } } });
    const seen: string[] = [];
    let ended = false;
    await new Watch(t.kubeConfig).watch(`/apis/${GROUP}/v1/gadgets`, {}, (type, obj) => seen.push(`${type} ${obj.metadata.name}`), () => { ended = true; });
    await ext.deleteCustomResourceDefinition({ name: `gadgets.${GROUP}` });
    await until('CRD removal', async () => ext.readCustomResourceDefinition({ name: `gadgets.${GROUP}` }).then(() => false, (e) => statusOf(e).code === 404), 3000);
    const res = await http(t, 'GET', `/apis/${GROUP}/v1/namespaces/default/gadgets`);
    assert.equal(res.status, 404);
    await until('watch closed with the CRD', () => ended, 2000);
    assert.deepEqual(seen.filter((e) => e.startsWith('ADDED') || e.startsWith('DELETED')).slice(0, 1), ['ADDED g1']);
    assert.ok(seen.includes('DELETED g1'), seen.join());
    const discovery = await http(t, 'GET', `/apis/${GROUP}/v1`);
    assert.ok(!discovery.json.resources.some((r: Obj) => r.name === 'gadgets'));
    const invalid = await rejects(ext.createCustomResourceDefinition({ body: { metadata: { name: 'wrong' }, spec: { group: 'x', names: { plural: 'things', kind: 'Thing' }, scope: 'Everywhere', versions: [] } } as never }), 422);
    assert.match(invalid.message!, /spec.group: Invalid value: "x": should be a domain with at least one dot/);
    assert.match(invalid.message!, /spec.scope: Unsupported value: "Everywhere"/);
  });
});

describe('persistence and watch history', () => {
  it('keeps objects and the resourceVersion counter across restarts, and collects orphans on start', async () => {
    const t = await startTestApiServer();
    try {
      assert.equal((await http(t, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', widgetCrd())).status, 201);
      let custom = t.kubeConfig.makeApiClient(CustomObjectsApi);
      const w = { group: GROUP, version: 'v1', namespace: 'default', plural: 'widgets' };
      const created = await custom.createNamespacedCustomObject({ ...w, body: widget('durable', { size: 'large', replicas: 3 }) }) as Obj;
      const core = t.kubeConfig.makeApiClient(CoreV1Api);
      const pod: V1Pod = await core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i' }] } } });
      await t.down();

      // While the server is down, plant a dependent whose owner never existed: the collector must find it on start.
      const db = new DatabaseSync(join(t.dataDir, 'state.db'));
      const orphan = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'orphan', namespace: 'default', uid: 'u-orphan', resourceVersion: '1', ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'gone', uid: 'no-such-uid' }] } };
      db.prepare('INSERT INTO objects (resource, namespace, name, rv, data) VALUES (?, ?, ?, ?, ?)').run('core/configmaps', 'default', 'orphan', 1, JSON.stringify(orphan));
      db.close();

      await t.up();
      custom = t.kubeConfig.makeApiClient(CustomObjectsApi);
      const read = await custom.getNamespacedCustomObject({ ...w, name: 'durable' }) as Obj;
      assert.deepEqual(read, created);
      const pod2 = await t.kubeConfig.makeApiClient(CoreV1Api).readNamespacedPod({ namespace: 'default', name: 'p' });
      assert.equal(pod2.metadata!.uid, pod.metadata!.uid);
      const next = await custom.createNamespacedCustomObject({ ...w, body: widget('after') }) as Obj;
      assert.ok(Number(next.metadata.resourceVersion) > Number(pod.metadata!.resourceVersion));
      await until('orphan collected', async () => (await http(t, 'GET', '/api/v1/namespaces/default/configmaps/orphan')).status === 404, 3000);
      // Watch history starts empty after a restart: resuming from before it is 410.
      const old = await http(t, 'GET', `/apis/${GROUP}/v1/namespaces/default/widgets?watch=1&resourceVersion=${created.metadata.resourceVersion}`);
      assert.equal(JSON.parse(old.text.trim()).object.code, 410);
    } finally {
      await t.close();
    }
  });

  it('answers a watch from a compacted resourceVersion with 410 Expired', async () => {
    const t = await startTestApiServer({ watchCacheSize: 5 });
    try {
      const core = t.kubeConfig.makeApiClient(CoreV1Api);
      const first = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'cm-0' } } });
      for (let i = 1; i < 10; i++) await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: `cm-${i}` } } });
      const events: Obj[] = [];
      let doneErr: unknown = 'not called';
      await new Watch(t.kubeConfig).watch('/api/v1/namespaces/default/configmaps', { resourceVersion: first.metadata!.resourceVersion }, (type, obj) => events.push({ type, obj }), (err) => { doneErr = err; });
      await until('watch end', () => doneErr !== 'not called', 2000);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.type, 'ERROR');
      assert.equal(events[0]!.obj.code, 410);
      assert.equal(events[0]!.obj.reason, 'Expired');
      assert.match(events[0]!.obj.message, /^too old resource version: \d+ \(\d+\)$/);
      // A recent resourceVersion still resumes.
      const list = await core.listNamespacedConfigMap({ namespace: 'default' });
      const live: string[] = [];
      const req = await new Watch(t.kubeConfig).watch('/api/v1/namespaces/default/configmaps', { resourceVersion: list.metadata!.resourceVersion }, (type, obj) => live.push(`${type} ${obj.metadata.name}`), () => {});
      await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'cm-3' });
      await until('live event', () => live.length === 1, 2000);
      req.abort();
      assert.deepEqual(live, ['DELETED cm-3']);
    } finally {
      await t.close();
    }
  });
});
