// The real kubectl (v1.32) against the embedded API server, with its default flags: discovery (aggregated),
// OpenAPI-driven apply with server-side field validation, tables, watch, describe, explain and deletion.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { needs } from '../../test/support/system.ts';
import { stringify } from 'yaml';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestApiServer, type TestApiServer } from '../kube/testing/apiserver.ts';
import { until } from '../kube/testing/until.ts';
import { GROUP, http, kubectl, widget, widgetCrd } from './testkit.ts';

describe('kubectl against the embedded API server', { skip: needs('kubectl') }, () => {
  let t: TestApiServer;
  const file = (name: string) => join(t.dir, name);

  before(async () => {
    t = await startTestApiServer();
    await writeFile(file('crd.yaml'), stringify(widgetCrd()));
    await writeFile(file('w1.yaml'), stringify(widget('w1', { size: 'small', replicas: 2 })));
  });
  after(() => t.close());

  it('applies a CRD and a custom resource, then gets it as a table and as YAML', async () => {
    const crd = await kubectl(t, ['apply', '-f', file('crd.yaml')]);
    assert.equal(crd.code, 0, crd.stderr);
    assert.equal(crd.stdout.trim(), `customresourcedefinition.apiextensions.k8s.io/widgets.${GROUP} created`);
    const established = await kubectl(t, ['wait', '--for=condition=Established', `crd/widgets.${GROUP}`, '--timeout=5s']);
    assert.equal(established.code, 0, established.stderr);
    const applied = await kubectl(t, ['apply', '-f', file('w1.yaml')]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.equal(applied.stdout.trim(), `widget.${GROUP}/w1 created`);

    const get = await kubectl(t, ['get', 'widgets']);
    assert.equal(get.code, 0, get.stderr);
    const lines = get.stdout.trim().split('\n');
    assert.match(lines[0]!, /^NAME\s+SIZE\s+REPLICAS\s+READY\s+AGE$/);
    assert.match(lines[1]!, /^w1\s+small\s+2\s+\d+s$/); // missing column values print empty, as for CRDs on a cluster

    const yaml = await kubectl(t, ['get', 'wd', 'w1', '-o', 'yaml']);
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.match(yaml.stdout, /^apiVersion: test\.matrixinfer\.ai\/v1\nkind: Widget\n/);
    assert.match(yaml.stdout, /  generation: 1\n/);
    assert.match(yaml.stdout, /  color: blue\n/); // schema default

    const jsonpath = await kubectl(t, ['get', 'widget', 'w1', '-o', 'jsonpath={.spec.replicas}']);
    assert.equal(jsonpath.stdout, '2');
  });

  it('re-applies with a patch, rejects unknown fields (strict) and invalid values', async () => {
    await writeFile(file('w1b.yaml'), stringify(widget('w1', { size: 'large', replicas: 3 })));
    const patched = await kubectl(t, ['apply', '-f', file('w1b.yaml')]);
    assert.equal(patched.code, 0, patched.stderr);
    assert.equal(patched.stdout.trim(), `widget.${GROUP}/w1 configured`);
    const gen = await kubectl(t, ['get', 'wd', 'w1', '-o', 'jsonpath={.metadata.generation} {.spec.size}']);
    assert.equal(gen.stdout, '2 large');

    await writeFile(file('unknown.yaml'), stringify(widget('w2', { size: 'small', bogus: true })));
    const strict = await kubectl(t, ['apply', '-f', file('unknown.yaml')]);
    assert.notEqual(strict.code, 0);
    assert.match(strict.stderr, /Error from server \(BadRequest\).*strict decoding error: unknown field "spec\.bogus"/s);

    await writeFile(file('invalid.yaml'), stringify(widget('w3', { size: 'medium', replicas: -1 })));
    const invalid = await kubectl(t, ['apply', '-f', file('invalid.yaml')]);
    assert.notEqual(invalid.code, 0);
    assert.match(invalid.stderr, /The Widget "w3" is invalid: \n/);
    assert.match(invalid.stderr, /\n\* spec\.size: Unsupported value: "medium": supported values: "small", "large"\n/);
    assert.match(invalid.stderr, /\n\* spec\.replicas: Invalid value: -1: spec\.replicas in body should be greater than or equal to 0\n/);
    const none = await kubectl(t, ['get', 'wd', 'w2', 'w3', '--ignore-not-found', '-o', 'name']);
    assert.equal(none.stdout, '');
  });

  it('an unknown kind is "no matches for kind", with client-side validation reading /openapi/v2 as protobuf', async () => {
    // kubectl (--validate=strict) finds no fieldValidation support for an unknown kind in /openapi/v3, so it falls back
    // to validating against /openapi/v2 and parses that response's Content-Type with Go's mime package first.
    await writeFile(file('unknown-kind.yaml'), stringify({ apiVersion: `${GROUP}/v1`, kind: 'Widgit', metadata: { name: 'x', namespace: 'default' } }));
    const r = await kubectl(t, ['apply', '-f', file('unknown-kind.yaml')]);
    assert.notEqual(r.code, 0);
    assert.doesNotMatch(r.stderr, /mime/);
    assert.match(r.stderr, new RegExp(`no matches for kind "Widgit" in version "${GROUP.replace(/\./g, '\\.')}/v1"\nensure CRDs are installed first`));
    const v2 = await http(t, 'GET', '/openapi/v2', undefined, { accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf' });
    assert.equal(v2.headers.get('content-type'), 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf');
  });

  it('creates built-ins with typed (protobuf) clients and prints them with -A', async () => {
    for (const args of [
      ['create', 'namespace', 'team-a'],
      ['create', 'configmap', 'cfg', '-n', 'team-a', '--from-literal=k=v'],
      ['create', 'secret', 'generic', 'token', '-n', 'team-a', '--from-literal=hf=abc'],
      ['create', 'service', 'clusterip', 'web', '-n', 'team-a', '--tcp=80:8080'],
      ['run', 'pod-a', '-n', 'team-a', '--image=nginx:1.25', '--labels=app=a'],
    ]) {
      const r = await kubectl(t, args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    const secret = await kubectl(t, ['get', 'secret', 'token', '-n', 'team-a', '-o', 'jsonpath={.data.hf}']);
    assert.equal(Buffer.from(secret.stdout, 'base64').toString(), 'abc');
    const all = await kubectl(t, ['get', 'widgets,pods', '-A']);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /NAMESPACE\s+NAME\s+SIZE\s+REPLICAS\s+READY\s+AGE\ndefault\s+widget\.test\.matrixinfer\.ai\/w1\s+large\s+3/);
    assert.match(all.stdout, /NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\nteam-a\s+pod\/pod-a\s+0\/1\s+Pending\s+0\s+\d+s/);
    const wide = await kubectl(t, ['get', 'svc', '-n', 'team-a', '-o', 'wide']);
    assert.match(wide.stdout, /web\s+ClusterIP\s+10\.96\.\d+\.\d+\s+<none>\s+80\/TCP\s+\d+s\s+app=web/);
    const selected = await kubectl(t, ['get', 'pods', '-A', '-l', 'app=a', '-o', 'name']);
    assert.equal(selected.stdout.trim(), 'pod/pod-a');
  });

  it('describes and explains a custom resource', async () => {
    const describe = await kubectl(t, ['describe', 'widget', 'w1']);
    assert.equal(describe.code, 0, describe.stderr);
    assert.match(describe.stdout, /^Name:\s+w1\nNamespace:\s+default\n/);
    assert.match(describe.stdout, /Spec:\n\s+Color:\s+blue\n\s+Replicas:\s+3\n\s+Size:\s+large\n/);
    assert.match(describe.stdout, /Events:\s+<none>/);
    const explain = await kubectl(t, ['explain', 'widgets.spec.size']);
    assert.equal(explain.code, 0, explain.stderr);
    assert.match(explain.stdout, /KIND:\s+Widget/);
    assert.match(explain.stdout, /How big the widget is\./);
  });

  it('streams changes with get -w', async () => {
    const child = spawn('kubectl', ['--kubeconfig', t.kubeconfigPath, '--cache-dir', join(t.dir, 'kcache'), 'get', 'widgets', '-w'], { env: { ...process.env, HOME: t.dir } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    try {
      await until('initial listing', () => out.includes('w1'), 5000);
      await http(t, 'POST', `/apis/${GROUP}/v1/namespaces/default/widgets`, widget('watched', { size: 'large', replicas: 4 }));
      await until('watch event printed', () => /watched\s+large\s+4/.test(out), 5000);
      await sleep(100);
      assert.equal(out.match(/NAME\s+SIZE/g)?.length, 1, out); // header printed once
    } finally {
      child.kill();
    }
  });

  it('scales, labels and deletes', async () => {
    const scale = await kubectl(t, ['scale', 'widget', 'w1', '--replicas=5']);
    assert.equal(scale.code, 0, scale.stderr);
    const label = await kubectl(t, ['label', 'widget', 'w1', 'tier=gold']);
    assert.equal(label.code, 0, label.stderr);
    const got = await kubectl(t, ['get', 'wd', '-l', 'tier=gold', '-o', 'jsonpath={.items[*].spec.replicas}']);
    assert.equal(got.stdout, '5');
    const del = await kubectl(t, ['delete', '-f', file('w1.yaml')]);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(del.stdout.trim(), `widget.${GROUP} "w1" deleted`);
    const ns = await kubectl(t, ['delete', 'namespace', 'team-a']);
    assert.equal(ns.code, 0, ns.stderr);
    const gone = await kubectl(t, ['get', 'ns', 'team-a']);
    assert.match(gone.stderr, /Error from server \(NotFound\): namespaces "team-a" not found/);
    const crd = await kubectl(t, ['delete', 'crd', `widgets.${GROUP}`]);
    assert.equal(crd.code, 0, crd.stderr);
    const kind = await kubectl(t, ['get', 'widgets']);
    assert.notEqual(kind.code, 0);
    // With kubectl's discovery cache still listing widgets the list itself is a 404; without it, an unknown type.
    assert.match(kind.stderr, /the server doesn't have a resource type "widgets"|Error from server \(NotFound\): Unable to list "test\.matrixinfer\.ai\/v1, Resource=widgets"/);
    const fresh = await kubectl(t, ['get', 'widgets', '--cache-dir', join(t.dir, 'fresh-cache')]);
    assert.match(fresh.stderr, /the server doesn't have a resource type "widgets"/);
  });
});
