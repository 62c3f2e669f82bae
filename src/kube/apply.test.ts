import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../api/admission.ts';
import { DESIRED_HASH_ANNOTATION, mergeForUpdate, needsUpdate, stampDesired } from './apply.ts';

const owner: KubeObject = { apiVersion: 'registry.matrixinfer.ai/v1alpha1', kind: 'Model', metadata: { name: 'm', namespace: 'ns', uid: 'owner-uid' } };
const desired = (spec: Record<string, unknown>, labels: Record<string, string> = { l: '1' }): KubeObject => ({
  apiVersion: 'x/v1',
  kind: 'Child',
  metadata: { name: 'm', namespace: 'ns', labels },
  spec,
});

/** What the API server would return after creating `object` (defaults filled in, server metadata). */
function stored(object: KubeObject, defaults: Record<string, unknown> = {}): KubeObject {
  return {
    ...object,
    metadata: { ...object.metadata, uid: 'child-uid', resourceVersion: '7', creationTimestamp: 't' },
    spec: { ...defaults, ...(object.spec as object) },
    status: { phase: 'Ready' },
  };
}

test('stampDesired adds the owner reference and a hash of the desired state', () => {
  const a = stampDesired(desired({ x: 1 }), owner);
  assert.deepEqual(a.metadata.ownerReferences, [{ apiVersion: owner.apiVersion, kind: 'Model', name: 'm', uid: 'owner-uid', controller: true, blockOwnerDeletion: true }]);
  assert.match(a.metadata.annotations![DESIRED_HASH_ANNOTATION]!, /^[0-9a-f]{10}$/);
  assert.equal(stampDesired(desired({ x: 1 }), owner).metadata.annotations![DESIRED_HASH_ANNOTATION], a.metadata.annotations![DESIRED_HASH_ANNOTATION]);
  assert.notEqual(stampDesired(desired({ x: 2 }), owner).metadata.annotations![DESIRED_HASH_ANNOTATION], a.metadata.annotations![DESIRED_HASH_ANNOTATION]);
  assert.notEqual(stampDesired(desired({ x: 1 }, { l: '2' }), owner).metadata.annotations![DESIRED_HASH_ANNOTATION], a.metadata.annotations![DESIRED_HASH_ANNOTATION]);
});

test('needsUpdate: not after server defaulting, yes on desired change, removal, drift, lost labels or owner', () => {
  const want = stampDesired(desired({ x: 1, env: ['a'] }), owner);
  const live = stored(want, { defaulted: true });
  assert.equal(needsUpdate(want, live), false, 'server defaults are not a difference');
  assert.equal(needsUpdate(stampDesired(desired({ x: 2, env: ['a'] }), owner), live), true, 'changed value');
  assert.equal(needsUpdate(stampDesired(desired({ x: 1 }), owner), live), true, 'removed field (hash differs)');
  assert.equal(needsUpdate(want, { ...live, spec: { ...(live.spec as object), x: 9 } }), true, 'someone edited a field we own');
  assert.equal(needsUpdate(want, { ...live, metadata: { ...live.metadata, labels: {} } }), true, 'label removed');
  assert.equal(needsUpdate(want, { ...live, metadata: { ...live.metadata, ownerReferences: [] } }), true, 'owner reference removed');
});

test('mergeForUpdate keeps server metadata, status, foreign labels and non-controller owners', () => {
  const want = stampDesired(desired({ x: 2 }), owner);
  const live = stored(stampDesired(desired({ x: 1 }), owner));
  live.metadata.labels = { ...live.metadata.labels, extra: 'kept' };
  live.metadata.ownerReferences = [...live.metadata.ownerReferences!, { apiVersion: 'v1', kind: 'ConfigMap', name: 'c', uid: 'other' }];
  const merged = mergeForUpdate(want, live);
  assert.deepEqual(merged.spec, { x: 2 });
  assert.equal(merged.metadata.resourceVersion, '7', 'conditional on the version we saw');
  assert.equal(merged.metadata.uid, 'child-uid');
  assert.deepEqual(merged.status, { phase: 'Ready' });
  assert.deepEqual(merged.metadata.labels, { l: '1', extra: 'kept' });
  assert.deepEqual(merged.metadata.ownerReferences!.map((r) => r.uid), ['owner-uid', 'other']);
  assert.equal(merged.metadata.annotations![DESIRED_HASH_ANNOTATION], want.metadata.annotations![DESIRED_HASH_ANNOTATION]);
});
