// Amendments to a Model's children: applied in order, sources recorded, the annotation cleared when none remain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServedModel as Model } from '../../api/kinds/index.ts';
import { AMENDED_BY_ANNOTATION, amendChildren, amendedBy } from './amend.ts';
import { desiredChildren } from './desired.ts';

const model: Model = {
  apiVersion: 'registry.matrixinfer.ai/v1alpha1',
  kind: 'Model',
  metadata: { name: 'llama', namespace: 'default' },
  spec: { modelSpec: { modelId: 'm', framework: 'pytorch', version: '1', source: { uri: 'hf://meta/llama' } }, runtime: { image: 'vllm/vllm-openai' } },
};

test('amendments apply in order on top of the desired children, and name their sources', () => {
  const base = desiredChildren(model);
  const out = amendChildren(base, [
    { source: 'A/a', modelInfer: (mi) => ({ ...mi, spec: { ...mi.spec, replicas: 3 } }) },
    { source: 'B/b', modelInfer: (mi) => ({ ...mi, spec: { ...mi.spec, replicas: mi.spec.replicas! * 2 } }), modelServer: (ms) => ({ ...ms, spec: { ...ms.spec, pdDisaggregation: {} } }) },
  ]);
  assert.equal(out.modelInfer.spec.replicas, 6);
  assert.deepEqual(amendedBy(out.modelInfer), ['A/a', 'B/b']);
  assert.deepEqual(out.modelServer.spec.pdDisaggregation, {});
  assert.deepEqual(amendedBy(out.modelServer), ['B/b']);
  assert.equal(out.modelRoute, base.modelRoute, 'what no amendment touches is the desired object itself');
  assert.equal(base.modelInfer.spec.replicas, 1, 'the desired state is not modified');
});

test('no amendments: no annotation, unless a live child still carries one (an update keeps annotations)', () => {
  const base = desiredChildren(model);
  assert.equal(amendChildren(base, []).modelInfer.metadata.annotations, undefined);
  const live = { modelInfer: { ...base.modelInfer, metadata: { ...base.modelInfer.metadata, annotations: { [AMENDED_BY_ANNOTATION]: 'A/a' } } } };
  assert.equal(amendChildren(base, [], live).modelInfer.metadata.annotations?.[AMENDED_BY_ANNOTATION], '');
});
