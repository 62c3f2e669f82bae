import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Model, ModelSpec } from '../api/kinds/index.ts';
import { CHANGE_CAUSE_ANNOTATION, newRevision, type ControllerRevision } from '../controllers/model/revisions.ts';
import { changeSummary, historyRows, parseTarget, rolledBack, undoTarget } from './rollout.ts';

function spec(over: { image?: string; args?: string[]; version?: string; uri?: string; replicas?: number } = {}): ModelSpec {
  return {
    modelSpec: { modelId: 'llama', framework: 'pytorch', version: over.version ?? '1.0.0', source: { uri: over.uri ?? 'hf://meta/llama' } },
    runtime: { image: over.image ?? 'vllm:0.6', ...(over.args ? { args: over.args } : {}), ...(over.replicas ? { replicas: over.replicas } : {}) },
  };
}

function model(s: ModelSpec, annotations?: Record<string, string>): Model {
  return { apiVersion: 'registry.matrixinfer.ai/v1alpha1', kind: 'Model', metadata: { name: 'llama', namespace: 'ml', uid: 'u1', resourceVersion: '7', ...(annotations ? { annotations } : {}) }, spec: s };
}

function revisions(...specs: [ModelSpec, string?][]): ControllerRevision[] {
  return specs.map(([s, cause], i) => newRevision(model(s, cause ? { [CHANGE_CAUSE_ANNOTATION]: cause } : undefined), i + 1));
}

test('targets: model/NAME or model NAME; other kinds and a missing name are refused', () => {
  assert.equal(parseTarget('model/llama'), 'llama');
  assert.equal(parseTarget('models', 'llama'), 'llama');
  assert.equal(parseTarget('mdl/llama'), 'llama');
  assert.throws(() => parseTarget('deployment/web'), /models only.*"deployment"/);
  assert.throws(() => parseTarget('model'), /needs a model name/);
});

test('the change summary names image, args, source and version, then other fields by path', () => {
  assert.equal(changeSummary(undefined, spec({ args: ['--a'] })), 'image vllm:0.6, version 1.0.0, source hf://meta/llama, args --a');
  assert.equal(changeSummary(spec(), spec({ image: 'vllm:0.7' })), 'image vllm:0.6 → vllm:0.7');
  assert.equal(changeSummary(spec({ args: ['--a'] }), spec()), 'args --a → <none>');
  assert.equal(changeSummary(spec(), spec({ version: '2.0.0', uri: 's3://b/llama-2' })), 'source hf://meta/llama → s3://b/llama-2; version 1.0.0 → 2.0.0');
  assert.equal(changeSummary(spec(), spec({ replicas: 3 })), 'changed runtime.replicas');
  assert.equal(changeSummary(spec(), { ...spec(), deprecated: true }), 'changed deprecated');
  assert.equal(changeSummary(spec(), spec()), 'no change');
});

test('history rows: oldest first, change-cause or <none>, each compared with the one before', () => {
  const rows = historyRows(revisions([spec()], [spec({ args: ['--x'] }), 'add --x']).reverse());
  assert.deepEqual(rows, [
    ['REVISION', 'CHANGE-CAUSE', 'CHANGES'],
    ['1', '<none>', 'image vllm:0.6, version 1.0.0, source hf://meta/llama'],
    ['2', 'add --x', 'args <none> → --x'],
  ]);
});

test('undo goes to the previous revision by default, or the one asked for; unknown revisions are an error', () => {
  const history = revisions([spec()], [spec({ args: ['--x'] })], [spec({ args: ['--y'] })]);
  const current = model(spec({ args: ['--y'] }));
  const previous = undoTarget(current, history);
  assert.equal(previous.type, 'rollback');
  assert.equal(previous.revision.revision, 2);
  assert.equal(undoTarget(current, history, 0).revision.revision, 2);
  assert.equal(undoTarget(current, history, 1).revision.revision, 1);
  assert.deepEqual(undoTarget(current, history, 3).type, 'skip');
  assert.throws(() => undoTarget(current, history, 9), /unable to find specified revision 9 in history of model\/llama \(revisions: 1, 2, 3\)/);
  assert.throws(() => undoTarget(current, history.slice(0, 1)), /nothing to undo \(revisions: 1\)/);
});

test('the rolled-back Model has the revision\'s spec and change-cause, and keeps its identity for a conditional PUT', () => {
  const [first, second] = revisions([spec(), 'initial'], [spec({ image: 'vllm:0.7' })]);
  const live = model(spec({ image: 'vllm:0.7', replicas: 2 }), { [CHANGE_CAUSE_ANNOTATION]: 'upgrade', team: 'ml' });
  const back = rolledBack(live, first!);
  assert.deepEqual(back.spec, spec());
  assert.deepEqual(back.metadata.annotations, { [CHANGE_CAUSE_ANNOTATION]: 'initial', team: 'ml' });
  assert.equal(back.metadata.resourceVersion, '7');
  const noCause = rolledBack(model(spec(), { [CHANGE_CAUSE_ANNOTATION]: 'x' }), second!);
  assert.equal(noCause.metadata.annotations, undefined);
});
