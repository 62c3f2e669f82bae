// Unit tests of the small pure modules (selectors, patches, JSONPath, structural schemas, protobuf), plus a
// robustness sweep: malformed or hostile requests get 4xx Status answers, never a 500 or a crash.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evalJsonPath } from './jsonpath.ts';
import { humanDuration } from './meta.ts';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch.ts';
import { decodeProtobufObject } from './protobuf.ts';
import { StructuralSchema } from './schema.ts';
import { matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { startTestApiServer } from '../kube/testing/apiserver.ts';
import { GROUP, http, widget, widgetCrd } from './testkit.ts';

describe('selectors', () => {
  it('parses and matches label selectors like apimachinery', () => {
    const m = (sel: string, labels: Record<string, string>) => matchesLabels(parseLabelSelector(sel), labels);
    assert.ok(m('a=b, c in (d, e), !f, g', { a: 'b', c: 'e', g: '' }));
    assert.ok(!m('a=b', {}));
    assert.ok(m('a!=b', {}));
    assert.ok(m('a notin (x)', {}));
    assert.ok(!m('a in (x)', {}));
    assert.ok(m('example.com/tier=web', { 'example.com/tier': 'web' }));
    assert.ok(m('n>3,n<10', { n: '5' }));
    assert.throws(() => parseLabelSelector('a in b'), /unable to parse requirement/);
    assert.throws(() => parseLabelSelector('a=b,,'), /unable to parse requirement/);
  });
  it('parses field selectors with escapes', () => {
    assert.deepEqual(parseFieldSelector('a=b,c!=d,e==f\\,g'), [
      { field: 'a', op: '=', value: 'b' }, { field: 'c', op: '!=', value: 'd' }, { field: 'e', op: '=', value: 'f,g' },
    ]);
    assert.throws(() => parseFieldSelector('nonsense'), /invalid selector/);
  });
});

describe('patches', () => {
  it('merge patch (RFC 7386)', () => {
    assert.deepEqual(mergePatch({ a: 1, b: { c: 2, d: 3 }, l: [1] }, { b: { c: null, e: 4 }, l: [2], n: null }), { a: 1, b: { d: 3, e: 4 }, l: [2] });
  });
  it('JSON patch (RFC 6902)', () => {
    const doc = { a: { b: [1, 2] }, 'x/y': 1 };
    assert.deepEqual(jsonPatch(doc, [
      { op: 'add', path: '/a/b/1', value: 9 }, { op: 'remove', path: '/x~1y' }, { op: 'copy', from: '/a/b/0', path: '/c' },
      { op: 'move', from: '/c', path: '/d' }, { op: 'replace', path: '/a/b/0', value: 0 }, { op: 'test', path: '/d', value: 1 },
    ]), { a: { b: [0, 9, 2] }, d: 1 });
    assert.deepEqual(doc, { a: { b: [1, 2] }, 'x/y': 1 }, 'input untouched');
    assert.throws(() => jsonPatch(doc, [{ op: 'remove', path: '/nope' }]), /missing path/);
  });
  it('strategic merge patch with keys and directives', () => {
    const keys = { 'spec.containers': 'name', 'metadata.finalizers': '' };
    const target = { metadata: { finalizers: ['a'] }, spec: { containers: [{ name: 'x', image: '1' }, { name: 'y', image: '1' }], other: [1, 2] } };
    assert.deepEqual(strategicMergePatch(target, {
      metadata: { finalizers: ['b', 'a'] },
      spec: { containers: [{ name: 'y', $patch: 'delete' }, { name: 'z', image: '2' }, { name: 'x', image: '3' }], other: [3] },
    }, keys), { metadata: { finalizers: ['a', 'b'] }, spec: { containers: [{ name: 'x', image: '3' }, { name: 'z', image: '2' }], other: [3] } });
    assert.deepEqual(strategicMergePatch(target, { spec: { $patch: 'replace', containers: [] } }, keys), { metadata: { finalizers: ['a'] }, spec: { containers: [] } });
    assert.deepEqual(strategicMergePatch({ a: { b: 1, c: 2 } }, { a: { $retainKeys: ['b'], b: 5 } }, {}), { a: { b: 5 } });
    assert.deepEqual(strategicMergePatch({ l: ['a', 'b'] }, { '$deleteFromPrimitiveList/l': ['a'] }, { l: '' }), { l: ['b'] });
  });
});

describe('jsonpath', () => {
  const obj = { status: { conditions: [{ type: 'A', status: 'False' }, { type: 'Ready', status: 'True' }], n: 3 }, metadata: { labels: { 'app.kubernetes.io/name': 'x' } } };
  it('evaluates the expressions printer columns use', () => {
    assert.deepEqual(evalJsonPath(obj, '.status.conditions[?(@.type=="Ready")].status'), ['True']);
    assert.deepEqual(evalJsonPath(obj, '.status.conditions[*].type'), ['A', 'Ready']);
    assert.deepEqual(evalJsonPath(obj, '.status.conditions[-1].type'), ['Ready']);
    assert.deepEqual(evalJsonPath(obj, ".metadata.labels['app.kubernetes.io/name']"), ['x']);
    assert.deepEqual(evalJsonPath(obj, '.metadata.labels.app\\.kubernetes\\.io/name'), ['x']);
    assert.deepEqual(evalJsonPath(obj, '{.status.n}'), [3]);
    assert.deepEqual(evalJsonPath(obj, '.status.missing.deep'), []);
  });
  it('formats ages like HumanDuration', () => {
    assert.deepEqual([5e3, 125e3, 600e3, 4 * 3600e3 + 60e3, 3 * 86400e3].map(humanDuration), ['5s', '2m5s', '10m', '4h1m', '3d']);
  });
});

describe('structural schema', () => {
  const schema = new StructuralSchema({
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        properties: {
          a: { type: 'string', default: 'x' },
          nested: { type: 'object', default: {}, properties: { b: { type: 'integer', default: 2 } } },
          items: { type: 'array', items: { type: 'object', properties: { k: { type: 'string' }, v: { type: 'string', default: 'dv' } } }, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['k'] },
          free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
          map: { type: 'object', additionalProperties: { type: 'object', properties: { z: { type: 'integer', default: 1 } } } },
          opt: { type: 'string', nullable: true },
          notnull: { type: 'string' },
        },
      },
    },
  });
  it('prunes unknown fields, reporting their paths', () => {
    const obj = { apiVersion: 'g/v1', kind: 'K', metadata: { name: 'n', bogus: 1 }, spec: { a: 'q', x: 1, items: [{ k: '1', junk: true }], free: { any: { thing: 1 } }, map: { m: { z: 3, w: 4 } } }, top: 1 };
    const unknown = schema.prune(obj);
    assert.deepEqual(unknown, ['metadata.bogus', 'spec.items[0].junk', 'spec.map.m.w', 'spec.x', 'top']);
    assert.deepEqual(obj.spec, { a: 'q', items: [{ k: '1' }], free: { any: { thing: 1 } }, map: { m: { z: 3 } } });
  });
  it('defaults recursively, drops non-nullable nulls, keeps nullable ones', () => {
    const obj: Record<string, any> = { spec: { items: [{ k: '1' }], map: { m: {} }, opt: null, notnull: null, a: null } };
    schema.applyDefaults(obj);
    assert.deepEqual(obj.spec, { a: 'x', nested: { b: 2 }, items: [{ k: '1', v: 'dv' }], map: { m: { z: 1 } }, opt: null });
  });
  it('validates list-map keys and types', () => {
    const errs = schema.validate({ spec: { items: [{ k: '1' }, { k: '1' }], nested: { b: 'x' } } });
    assert.deepEqual(errs.map((e) => `${e.field}: ${e.type}`), ['spec.nested.b: Invalid value', 'spec.items[1]: Duplicate value']);
  });
});

describe('protobuf bodies', () => {
  it('decodes a kubectl-encoded Namespace', () => {
    // Captured from `kubectl create namespace foo -v=9`.
    const hex = '6b3873000a0f0a02763112094e616d657370616365121b0a130a03666f6f12001a00220' + '02a0032003800420012001a020a001a002200';
    const obj = decodeProtobufObject(Buffer.from(hex, 'hex'));
    assert.deepEqual(obj, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'foo' }, spec: {} });
  });
});

describe('robustness', () => {
  it('answers hostile requests with 4xx Status objects', async () => {
    const t = await startTestApiServer();
    try {
      assert.equal((await http(t, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', widgetCrd())).status, 201);
      const base = `/apis/${GROUP}/v1/namespaces/default/widgets`;
      const cases: [string, string, unknown, Record<string, string>?][] = [
        ['POST', base, '[1,2]'],
        ['POST', base, 'null'],
        ['POST', base, '"str"'],
        ['POST', base, '{"apiVersion":'],
        ['POST', base, '::: not yaml', { 'Content-Type': 'application/yaml' }],
        ['POST', base, { ...widget('x'), metadata: [] }],
        ['POST', base, { ...widget('x'), metadata: { name: 5 } }],
        ['POST', base, { ...widget('x'), metadata: { name: 'x', labels: { a: { b: 1 } } } }],
        ['POST', base, { ...widget('x'), metadata: { name: 'x', ownerReferences: [1] } }],
        ['POST', base, { ...widget('x'), metadata: { name: 'x', finalizers: 'f' } }],
        ['POST', base, { ...widget('x'), kind: 'Other' }],
        ['POST', base, { ...widget('x'), apiVersion: 'other/v1' }],
        ['POST', base, { ...widget('x'), spec: 'string' }],
        ['POST', base, widget('x'), { 'Content-Type': 'application/vnd.kubernetes.protobuf' }],
        ['POST', base, widget('x'), { 'Content-Type': 'text/plain' }],
        ['POST', `/apis/${GROUP}/v1/widgets`, widget('x')],
        ['GET', `${base}?labelSelector=a%20in%20(`, undefined],
        ['GET', `${base}?fieldSelector=spec.size=x`, undefined],
        ['GET', `${base}?watch=1&resourceVersion=abc`, undefined],
        ['GET', `${base}?timeoutSeconds=x`, undefined],
        ['GET', `${base}?continue=garbage`, undefined],
        ['GET', base, undefined, { Accept: 'application/vnd.kubernetes.protobuf' }],
        ['GET', '/api/v1/namespaces/default/nodes', undefined],
        ['GET', '/api/v1/pods/x', undefined],
        ['GET', '/api/v1/namespaces/default/pods/x/exec', undefined],
        ['PUT', base, widget('x')],
        ['PATCH', `${base}/nope`, '{}', { 'Content-Type': 'application/merge-patch+json' }],
        ['DELETE', `${base}/nope`, undefined],
        ['DELETE', base, { propagationPolicy: 'Sideways' }],
        ['POST', `${base}?dryRun=Some`, widget('x')],
        ['POST', `${base}?fieldValidation=Loose`, widget('x')],
        ['GET', '/nowhere', undefined],
      ];
      for (const [method, path, body, headers] of cases) {
        const res = await http(t, method, path, body, headers);
        assert.ok(res.status >= 400 && res.status < 500, `${method} ${path} ${JSON.stringify(body)} -> ${res.status} ${res.text}`);
        assert.equal(res.json?.kind, 'Status', `${method} ${path}: ${res.text}`);
      }
      const rv = await http(t, 'POST', base, { ...widget('x'), metadata: { name: 'x', resourceVersion: '5' } });
      assert.deepEqual([rv.status, rv.json.message, rv.json.reason], [500, 'resourceVersion should not be set on objects to be created', undefined]);
      // After all that, a valid object goes through and patches of bad shape are refused.
      assert.equal((await http(t, 'POST', base, widget('ok'))).status, 201);
      for (const [type, patch] of [
        ['application/merge-patch+json', '{"metadata": 5}'], ['application/merge-patch+json', '[1]'], ['application/json-patch+json', '{"op":"add"}'],
        ['application/json-patch+json', '[{"op":"bogus","path":"/a"}]'], ['application/json-patch+json', '[{"op":"remove","path":"/metadata"}]'],
        ['application/merge-patch+json', '{"metadata":{"name":"renamed"}}'], ['application/merge-patch+json', '{"spec":{"replicas":"many"}}'],
        ['application/apply-patch+yaml', 'spec: {size: large}'],
      ] as const) {
        const res = await http(t, 'PATCH', `${base}/ok`, patch, { 'Content-Type': type });
        assert.ok(res.status >= 400 && res.status < 500, `${type} ${patch} -> ${res.status} ${res.text}`);
      }
    } finally {
      await t.close();
    }
  });
});
