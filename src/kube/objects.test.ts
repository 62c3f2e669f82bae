import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  controllerKey,
  controllerRef,
  deepEqual,
  isSubset,
  setCondition,
  setConditions,
  splitKey,
  stableHash,
  stableStringify,
  topLevelMergePatch,
  objectKey,
  isPodReady,
} from './objects.ts';
import type { KubeObject } from '../api/admission.ts';

const owner: KubeObject = { apiVersion: 'registry.matrixinfer.ai/v1alpha1', kind: 'Model', metadata: { name: 'm', namespace: 'ns', uid: 'u1' } };

test('keys', () => {
  assert.equal(objectKey(owner), 'ns/m');
  assert.deepEqual(splitKey('ns/m'), { namespace: 'ns', name: 'm' });
  assert.deepEqual(splitKey('cluster-scoped'), { namespace: '', name: 'cluster-scoped' });
});

test('controller references map children to their owner', () => {
  const ref = controllerRef(owner);
  assert.deepEqual(ref, { apiVersion: owner.apiVersion, kind: 'Model', name: 'm', uid: 'u1', controller: true, blockOwnerDeletion: true });
  const child: KubeObject = { apiVersion: 'v1', kind: 'X', metadata: { name: 'c', namespace: 'ns', ownerReferences: [ref] } };
  assert.equal(controllerKey(child, 'Model'), 'ns/m');
  assert.equal(controllerKey(child, 'Model', 'registry.matrixinfer.ai'), 'ns/m');
  assert.equal(controllerKey(child, 'Model', 'other.io'), undefined);
  assert.equal(controllerKey(child, 'ModelInfer'), undefined);
});

test('stable hashing ignores key order and undefined fields', () => {
  assert.equal(stableStringify({ b: 1, a: [{ y: 2, x: 1 }] }), '{"a":[{"x":1,"y":2}],"b":1}');
  assert.equal(stableHash({ a: 1, b: 2 }), stableHash({ b: 2, a: 1, c: undefined }));
  assert.notEqual(stableHash({ a: 1 }), stableHash({ a: 2 }));
  assert.match(stableHash('x'), /^[0-9a-f]{10}$/);
  assert.ok(deepEqual({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }));
});

test('isSubset tolerates server defaults but not changed or missing values', () => {
  assert.ok(isSubset({ a: 1, b: { c: 'x' } }, { a: 1, b: { c: 'x', d: 'default' }, e: true }));
  assert.ok(isSubset({ q: '2' }, { q: 2 }), 'quantities may change representation');
  assert.ok(!isSubset({ a: 1 }, { a: 2 }));
  assert.ok(!isSubset({ a: { b: 1 } }, {}));
  assert.ok(!isSubset({ list: [1, 2] }, { list: [1] }), 'arrays must have equal length');
  assert.ok(isSubset({ list: [{ n: 1 }] }, { list: [{ n: 1, w: 100 }] }));
});

test('setCondition changes lastTransitionTime only when the status flips', () => {
  let list = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'Starting' }, 't1');
  assert.deepEqual(list, [{ type: 'Ready', status: 'False', reason: 'Starting', message: '', lastTransitionTime: 't1' }]);
  list = setCondition(list, { type: 'Ready', status: 'False', reason: 'StillStarting', message: 'm', observedGeneration: 2 }, 't2');
  assert.equal(list[0]!.lastTransitionTime, 't1', 'same status: time kept');
  assert.equal(list[0]!.reason, 'StillStarting');
  assert.equal(list[0]!.observedGeneration, 2);
  list = setCondition(list, { type: 'Ready', status: 'True', reason: 'Ok' }, 't3');
  assert.equal(list[0]!.lastTransitionTime, 't3', 'flip: time updated');
  list = setConditions(list, [{ type: 'Other', status: 'Unknown', reason: 'X' }], 't4');
  assert.deepEqual(list.map((c) => c.type), ['Ready', 'Other']);
});

test('topLevelMergePatch sets changed keys and nulls removed ones', () => {
  assert.deepEqual(topLevelMergePatch({ a: 1, b: { x: 1 }, c: 3 }, { a: 1, b: { x: 2 }, d: 4 }), { b: { x: 2 }, d: 4, c: null });
  assert.deepEqual(topLevelMergePatch(undefined, { a: 1 }), { a: 1 });
});

test('pod readiness needs phase Running and Ready=True', () => {
  const pod = (phase: string, ready: string): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: {}, status: { phase, conditions: [{ type: 'Ready', status: ready }] } });
  assert.ok(isPodReady(pod('Running', 'True')));
  assert.ok(!isPodReady(pod('Running', 'False')));
  assert.ok(!isPodReady(pod('Pending', 'True')));
});
