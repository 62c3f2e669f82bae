// Model revisions and `matrixinfer rollout` against the embedded API server (or a real kube-apiserver:
// MATRIXINFER_TEST_APISERVER=real) with the controller manager, no node agent: every spec change becomes a
// ControllerRevision owned by the Model (status.currentRevision follows), `rollout history` lists them with the
// change-cause and what changed, `rollout undo` writes the previous spec back (the ModelInfer's engine args follow and
// the old revision is reused under the next number), an unknown revision is a clear error, kubectl prints the
// revisions with their controller, and deleting the Model garbage-collects them. The CLI runs as the real command.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { Model, ModelInfer } from '../../src/api/kinds/index.ts';
import { MODEL_NAME_LABEL } from '../../src/api/labels.ts';
import { startControllerManager, type ControllerManager } from '../../src/controllers/manager.ts';
import { CHANGE_CAUSE_ANNOTATION, CONTROLLER_REVISIONS, type ControllerRevision } from '../../src/controllers/model/revisions.ts';
import { MODELS, MODEL_INFERS } from '../../src/controllers/resources.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { createLogger } from '../../src/kube/log.ts';
import { until } from '../../src/kube/testing/until.ts';
import { admissionPlugins } from '../../src/webhooks/plugins.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { needs } from '../support/system.ts';

const NS = 'default';
const NAME = 'hist';
const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');

let cluster: TestCluster;
let client: KubeClient;
let manager: ControllerManager;

function run(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr });
    });
  });
}

const cli = (...args: string[]) => run(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN, ...args, '--kubeconfig', cluster.kubeconfigPath, '-n', NS]);

async function revisions(): Promise<ControllerRevision[]> {
  const list = await client.list(CONTROLLER_REVISIONS, { namespace: NS, labelSelector: `${MODEL_NAME_LABEL}=${NAME}` });
  return (list.items as ControllerRevision[]).sort((a, b) => a.revision - b.revision);
}

async function engineArgs(): Promise<string[] | undefined> {
  const mi = await client.get<ModelInfer>(MODEL_INFERS, NS, NAME);
  const containers = (mi?.spec.roles?.[0]?.template as { spec?: { containers?: { args?: string[] }[] } } | undefined)?.spec?.containers;
  return containers?.[0]?.args;
}

async function edit(change: (model: Model) => void): Promise<void> {
  const model = (await client.get<Model>(MODELS, NS, NAME))!;
  change(model);
  await client.replace(MODELS, model);
}

before(async () => {
  cluster = await startTestCluster(undefined, { admission: admissionPlugins });
  client = new KubeClient(cluster.kubeConfig);
  manager = await startControllerManager({ kubeConfig: cluster.kubeConfig, logger: createLogger('controller-manager', 'warn') });
});

after(async () => {
  await manager?.stop();
  await cluster?.stop();
});

test('spec changes become revisions; rollout history and undo work on them; they go with the Model', async () => {
  await client.create(MODELS, {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'Model',
    metadata: { name: NAME, namespace: NS, annotations: { [CHANGE_CAUSE_ANNOTATION]: 'first deploy' } },
    spec: {
      modelSpec: { modelId: 'hist', framework: 'pytorch', version: '1.0.0', source: { uri: 'huggingface://meta-llama/Llama-2-7b-hf' } },
      runtime: { image: 'matrixinfer/pytorch-runtime:latest', args: ['--max-model-len', '4096'] },
    },
  });
  await until('revision 1', async () => (await client.get<Model>(MODELS, NS, NAME))?.status?.currentRevision === 1, 15_000, 50);

  await edit((m) => {
    m.spec.runtime!.args = ['--max-model-len', '8192'];
    m.metadata.annotations = { [CHANGE_CAUSE_ANNOTATION]: 'longer context' };
  });
  await until('revision 2', async () => (await client.get<Model>(MODELS, NS, NAME))?.status?.currentRevision === 2, 15_000, 50);
  await until('the ModelInfer on 8192', async () => (await engineArgs())?.includes('8192') ?? false, 15_000, 50);
  // A change that is not the spec (a label) is no revision.
  await edit((m) => (m.metadata.labels = { team: 'ml' }));
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual((await revisions()).map((r) => r.revision), [1, 2]);

  const [first] = await revisions();
  assert.equal(first!.metadata.ownerReferences?.[0]?.kind, 'Model');
  assert.equal(first!.metadata.ownerReferences?.[0]?.controller, true);
  assert.match(first!.metadata.labels?.['controller-revision-hash'] ?? '', /^[0-9a-f]{10}$/);
  assert.deepEqual(first!.data.spec.runtime?.args, ['--max-model-len', '4096']);

  const history = await cli('rollout', 'history', `model/${NAME}`);
  assert.equal(history.code, 0, history.stderr);
  const lines = history.stdout.trim().split('\n');
  assert.equal(lines[0], `model.registry.matrixinfer.ai/${NAME}`);
  assert.match(lines[1]!, /^REVISION\s+CHANGE-CAUSE\s+CHANGES$/);
  assert.match(lines[2]!, /^1\s+first deploy\s+image matrixinfer\/pytorch-runtime:latest, version 1\.0\.0, source huggingface:\/\/meta-llama\/Llama-2-7b-hf, args --max-model-len 4096$/);
  assert.match(lines[3]!, /^2\s+longer context\s+args --max-model-len 4096 → --max-model-len 8192$/);

  const detail = await cli('rollout', 'history', 'model', NAME, '--revision', '1');
  assert.equal(detail.code, 0, detail.stderr);
  assert.match(detail.stdout, /with revision #1\nChange-Cause: first deploy\nspec:\n/);

  const unknown = await cli('rollout', 'undo', `model/${NAME}`, '--to-revision', '7');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /unable to find specified revision 7 in history of model\/hist \(revisions: 1, 2\)/);
  assert.equal((await client.get<Model>(MODELS, NS, NAME))!.spec.runtime?.args?.[1], '8192');

  const undo = await cli('rollout', 'undo', `model/${NAME}`);
  assert.equal(undo.code, 0, undo.stderr);
  assert.equal(undo.stdout.trim(), `model.registry.matrixinfer.ai/${NAME} rolled back (to revision 1)`);
  const model = (await client.get<Model>(MODELS, NS, NAME))!;
  assert.deepEqual(model.spec.runtime?.args, ['--max-model-len', '4096']);
  assert.equal(model.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION], 'first deploy');
  assert.equal(model.metadata.labels?.team, 'ml');
  await until('revision 1 reused as 3', async () => (await client.get<Model>(MODELS, NS, NAME))?.status?.currentRevision === 3, 15_000, 50);
  await until('the ModelInfer back on 4096', async () => (await engineArgs())?.includes('4096') ?? false, 15_000, 50);
  const after = await revisions();
  assert.deepEqual(after.map((r) => [r.revision, r.data.spec.runtime?.args?.[1]]), [[2, '8192'], [3, '4096']]);
  assert.equal(after[1]!.metadata.name, first!.metadata.name);

  const again = await cli('rollout', 'undo', `model/${NAME}`, '--to-revision', '3');
  assert.match(again.stdout, /skipped rollback \(current template already matches revision 3\)/);

  if (!needs('kubectl')) {
    const table = await run('kubectl', ['--kubeconfig', cluster.kubeconfigPath, 'get', 'controllerrevisions', '-n', NS]);
    assert.equal(table.code, 0, table.stderr);
    const rows = table.stdout.trim().split('\n');
    assert.match(rows[0]!, /^NAME\s+CONTROLLER\s+REVISION\s+AGE$/);
    assert.ok(rows.some((row) => new RegExp(`^${first!.metadata.name}\\s+model\\.registry\\.matrixinfer\\.ai/${NAME}\\s+3\\s`).test(row)), table.stdout);
  }

  await client.delete(MODELS, NS, NAME);
  await until('revisions collected with the Model', async () => (await revisions()).length === 0, 30_000, 100);
});
