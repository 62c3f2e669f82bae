// kubectl (the real binary on the machine) against both API servers with our CRDs: apply (created, unchanged,
// configured), get with our printer columns (and -o wide for the priority-1 ones), describe, get -w, delete, and
// explain with our field docs. Run by test/conformance/kubectl-embedded.test.ts and test/cluster/kubectl.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startTestCluster, type Backend, type TestCluster } from '../support/cluster.ts';
import { kubectl, REPO, until } from '../support/platform.ts';
import { needs } from '../support/system.ts';

export function kubectlSuite(backend: Backend): void {
  describe(`kubectl against the ${backend} API server`, { skip: needs('kubectl') }, () => {
    let c: TestCluster;
    const k = (args: string[], input?: string) => kubectl(c.kubeconfigPath, args, input === undefined ? {} : { input });
    const quickstart = readFileSync(`${REPO}examples/quickstart.yaml`, 'utf8');

    before(async () => {
      c = await startTestCluster(backend);
    });
    after(async () => {
      await c?.stop();
    });

    it('apply: created, unchanged, configured', async () => {
      const first = await k(['apply', '-f', '-'], quickstart);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.stdout.trim(), 'model.registry.matrixinfer.ai/llama-7b created');
      const again = await k(['apply', '-f', '-'], quickstart);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.stdout.trim(), 'model.registry.matrixinfer.ai/llama-7b unchanged');
      const changed = await k(['apply', '-f', '-'], quickstart.replace('version: "1.0.0"', 'version: "1.1.0"'));
      assert.equal(changed.code, 0, changed.stderr);
      assert.equal(changed.stdout.trim(), 'model.registry.matrixinfer.ai/llama-7b configured');
      const bad = await k(['apply', '-f', '-'], quickstart.replace('framework: "pytorch"', 'framework: "pytorch"\n    color: blue'));
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /unknown field "spec\.modelSpec\.color"/);
    });

    it('apply of an unknown kind: no matches for kind', async () => {
      const r = await k(['apply', '-f', '-'], 'apiVersion: registry.matrixinfer.ai/v1alpha1\nkind: Modle\nmetadata:\n  name: x\n  namespace: default\n');
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /no matches for kind "Modle" in version "registry\.matrixinfer\.ai\/v1alpha1"\nensure CRDs are installed first/);
    });

    it('get prints our printer columns; -o wide adds the priority ones; short names and categories work', async () => {
      const get = await k(['get', 'models']);
      assert.equal(get.code, 0, get.stderr);
      const [header, row] = get.stdout.trim().split('\n');
      assert.deepEqual(header!.split(/\s{2,}/), ['NAME', 'MODEL-ID', 'FRAMEWORK', 'VERSION', 'READY', 'PHASE', 'LIFECYCLE', 'DOWNLOAD', 'AGE']);
      assert.match(row!, /^llama-7b {3}llama-7b-v1 {3}pytorch {5}1\.1\.0 {44}\d+s$/, 'no status yet: READY, PHASE, LIFECYCLE and DOWNLOAD empty');
      const wide = await k(['get', 'models', '-o', 'wide']);
      assert.deepEqual(wide.stdout.trim().split('\n')[0]!.split(/\s{2,}/), ['NAME', 'MODEL-ID', 'FRAMEWORK', 'VERSION', 'READY', 'PHASE', 'LIFECYCLE', 'DOWNLOAD', 'IMAGE', 'AGE']);
      assert.match(wide.stdout, /matrixinfer\/pytorch-runtime:latest/);
      const all = await k(['get', 'matrixinfer']);
      assert.equal(all.code, 0, all.stderr);
      assert.match(all.stdout, /model\.registry\.matrixinfer\.ai\/llama-7b/);
      const yaml = await k(['get', 'model', 'llama-7b', '-o', 'jsonpath={.spec.modelSpec.version}']);
      assert.equal(yaml.stdout, '1.1.0');
    });

    it('describe shows the spec', async () => {
      const d = await k(['describe', 'model', 'llama-7b']);
      assert.equal(d.code, 0, d.stderr);
      assert.match(d.stdout, /^Name:\s+llama-7b$/m);
      assert.match(d.stdout, /^Namespace:\s+default$/m);
      assert.match(d.stdout, /^API Version:\s+registry\.matrixinfer\.ai\/v1alpha1$/m);
      assert.match(d.stdout, /^Kind:\s+Model$/m);
      assert.match(d.stdout, /Model Id:\s+llama-7b-v1/);
      assert.match(d.stdout, /Image:\s+matrixinfer\/pytorch-runtime:latest/);
    });

    it('get -w streams a change', async () => {
      const child = spawn('kubectl', ['--kubeconfig', c.kubeconfigPath, 'get', 'models', '-w', '--output-watch-events'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      try {
        await until('the initial row', () => /ADDED\s+llama-7b\s+llama-7b-v1\s+pytorch\s+1\.1\.0/.test(out), 20_000, 50);
        const patched = await k(['patch', 'model', 'llama-7b', '--type=merge', '-p', '{"spec":{"modelSpec":{"version":"2.0.0"}}}']);
        assert.equal(patched.code, 0, patched.stderr);
        await until('the modified row', () => /MODIFIED\s+llama-7b\s+llama-7b-v1\s+pytorch\s+2\.0\.0/.test(out), 20_000, 50);
      } finally {
        child.kill('SIGTERM');
      }
    });

    it('explain shows our field docs', async () => {
      const e = await k(['explain', 'models.spec.modelSpec']);
      assert.equal(e.code, 0, e.stderr);
      assert.match(e.stdout, /GROUP:\s+registry\.matrixinfer\.ai/);
      assert.match(e.stdout, /KIND:\s+Model/);
      assert.match(e.stdout, /What the model is\./);
      assert.match(e.stdout, /modelId\s+<string> -required-/);
      const source = await k(['explain', 'models.spec.modelSpec.source']);
      assert.equal(source.code, 0, source.stderr);
      assert.match(source.stdout, /uri\s+<string>/);
    });

    it('delete', async () => {
      const del = await k(['delete', 'model', 'llama-7b']);
      assert.equal(del.code, 0, del.stderr);
      assert.equal(del.stdout.trim(), 'model.registry.matrixinfer.ai "llama-7b" deleted');
      const get = await k(['get', 'model', 'llama-7b']);
      assert.notEqual(get.code, 0);
      assert.match(get.stderr, /Error from server \(NotFound\): models\.registry\.matrixinfer\.ai "llama-7b" not found/);
    });
  });
}
