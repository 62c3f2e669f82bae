// Every example manifest of the seeds (examples/quickstart.yaml and examples/seeds/) is accepted unchanged by
// the API server with strict field validation: no unknown field, no type error, no admission rejection.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { ALL_KINDS } from '../../src/api/kinds/index.ts';
import { readManifests } from '../../src/cli/manifests.ts';
import { admissionPlugins } from '../../src/webhooks/plugins.ts';
import { projectCrds, startTestApiServer, type TestApiServer } from '../../src/kube/testing/apiserver.ts';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));
const PLURALS: Record<string, string> = Object.fromEntries(ALL_KINDS.map((kind) => [kind.kind, kind.plural]));
let api: TestApiServer;

before(async () => {
  api = await startTestApiServer({ admission: admissionPlugins });
  await api.installCrds(projectCrds());
});
after(() => api.close());

const files = [join(EXAMPLES, 'quickstart.yaml'), ...readdirSync(join(EXAMPLES, 'seeds')).map((f) => join(EXAMPLES, 'seeds', f))];

for (const file of files) {
  test(`accepted unchanged: ${file.slice(EXAMPLES.length)}`, async () => {
    for (const { object } of readManifests([file])) {
      const namespace = object.metadata.namespace ?? 'default';
      if (namespace !== 'default') await api.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
      const path = `/apis/${object.apiVersion}/namespaces/${namespace}/${PLURALS[object.kind]}?fieldValidation=Strict`;
      const created = await api.request('POST', path, object);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual(created.body.spec.modelSpec ?? created.body.spec.modelInferRef, (object as any).spec.modelSpec ?? (object as any).spec.modelInferRef, 'content kept as written');
    }
  });
}

test('the seeds\' Model gets the documented defaults', async () => {
  const stored = await api.request('GET', '/apis/registry.matrixinfer.ai/v1alpha1/namespaces/default/models/llama-7b');
  assert.equal(stored.body.spec.runtime.replicas, 1);
  assert.equal(stored.body.spec.runtime.port, 8000);
});
