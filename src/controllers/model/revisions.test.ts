import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Model } from '../../api/kinds/index.ts';
import { MODEL_NAME_LABEL } from '../../api/labels.ts';
import { CHANGE_CAUSE_ANNOTATION, REVISION_HASH_LABEL, newRevision, revisionPlan, type ControllerRevision } from './revisions.ts';

function model(args: string[], annotations?: Record<string, string>, uid = 'uid-1'): Model {
  return {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'Model',
    metadata: { name: 'llama', namespace: 'ml', uid, ...(annotations ? { annotations } : {}) },
    spec: {
      modelSpec: { modelId: 'llama', framework: 'pytorch', version: '1.0.0', source: { uri: 'hf://meta/llama' } },
      runtime: { image: 'vllm/vllm-openai:v0.6.0', args },
    },
  } as Model;
}

/** The history after applying plans for these specs in order, as the controller would. */
function history(specs: string[][], limit?: number): ControllerRevision[] {
  let revisions: ControllerRevision[] = [];
  for (const args of specs) {
    const m = model(args);
    const plan = revisionPlan(m, revisions, limit);
    if (plan.action.type === 'create') revisions.push(plan.action.object);
    if (plan.action.type === 'bump') {
      const { name, revision } = plan.action;
      revisions = revisions.map((r) => (r.metadata.name === name ? { ...r, revision } : r));
    }
    revisions = revisions.filter((r) => !plan.deletes.includes(r.metadata.name!));
  }
  return revisions.sort((a, b) => a.revision - b.revision);
}

test('the first spec becomes revision 1, owned by the Model, labelled with its hash and the model name', () => {
  const plan = revisionPlan(model(['--a']), []);
  assert.equal(plan.action.type, 'create');
  assert.equal(plan.current, 1);
  assert.deepEqual(plan.deletes, []);
  const object = (plan.action as { object: ControllerRevision }).object;
  assert.equal(object.revision, 1);
  assert.deepEqual(object.data.spec.runtime?.args, ['--a']);
  const hash = object.metadata.labels![REVISION_HASH_LABEL]!;
  assert.match(hash, /^[0-9a-f]{10}$/);
  assert.equal(object.metadata.name, `llama-${hash}`);
  assert.equal(object.metadata.namespace, 'ml');
  assert.equal(object.metadata.labels![MODEL_NAME_LABEL], 'llama');
  assert.deepEqual(object.metadata.ownerReferences, [
    { apiVersion: 'registry.matrixinfer.ai/v1alpha1', kind: 'Model', name: 'llama', uid: 'uid-1', controller: true, blockOwnerDeletion: true },
  ]);
});

test('an unchanged spec keeps the newest revision; a changed one adds the next number', () => {
  const first = newRevision(model(['--a']), 1);
  const same = revisionPlan(model(['--a']), [first]);
  assert.deepEqual(same, { action: { type: 'keep', name: first.metadata.name }, deletes: [], current: 1 });
  const changed = revisionPlan(model(['--b']), [first]);
  assert.equal(changed.action.type, 'create');
  assert.equal(changed.current, 2);
  assert.notEqual((changed.action as { object: ControllerRevision }).object.metadata.name, first.metadata.name);
});

test('going back to an older spec reuses its revision with the next number, as StatefulSets do', () => {
  const revisions = history([['--a'], ['--b'], ['--a']]);
  assert.deepEqual(revisions.map((r) => [r.revision, r.data.spec.runtime?.args]), [[2, ['--b']], [3, ['--a']]]);
  // Applying the same spec again changes nothing.
  const again = revisionPlan(model(['--a']), revisions);
  assert.equal(again.action.type, 'keep');
  assert.equal(again.current, 3);
});

test('the bump carries the Model\'s change-cause; a new revision copies it', () => {
  const a = newRevision(model(['--a'], { [CHANGE_CAUSE_ANNOTATION]: 'first' }), 1);
  assert.equal(a.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION], 'first');
  const b = newRevision(model(['--b']), 2);
  assert.equal(b.metadata.annotations, undefined);
  const plan = revisionPlan(model(['--a'], { [CHANGE_CAUSE_ANNOTATION]: 'rollback to 1' }), [a, b]);
  assert.deepEqual(plan.action, { type: 'bump', name: a.metadata.name, revision: 3, changeCause: 'rollback to 1' });
});

test('history is limited: the oldest revisions beyond the limit go, the current one never', () => {
  const specs = Array.from({ length: 13 }, (_, i) => [`--v${i}`]);
  const revisions = history(specs);
  assert.equal(revisions.length, 10);
  assert.deepEqual(revisions.map((r) => r.revision), [4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
  // A limit of 0 still keeps the current revision.
  const tight = history([['--a'], ['--b'], ['--c']], 0);
  assert.deepEqual(tight.map((r) => [r.revision, r.data.spec.runtime?.args]), [[3, ['--c']]]);
  // Bumping a kept revision (--v5 was 6) leaves the history at the limit: nothing is deleted.
  const full = history([...specs, ['--v5']]);
  assert.deepEqual(full.map((r) => r.revision), [4, 5, 7, 8, 9, 10, 11, 12, 13, 14]);
  assert.deepEqual(full.at(-1)!.data.spec.runtime?.args, ['--v5']);
});

test('revisions controlled by another uid (an earlier Model of the same name) are ignored', () => {
  const stale = newRevision(model(['--a'], undefined, 'old-uid'), 7);
  const plan = revisionPlan(model(['--a']), [stale]);
  assert.equal(plan.action.type, 'create');
  assert.equal(plan.current, 1);
  assert.deepEqual(plan.deletes, []);
});
