import { test } from 'node:test';
import assert from 'node:assert/strict';
import { desiredRoleBinding, parseRoleRef, desiredServiceAccount, identityAction, withDownloadIdentity, SERVICE_ACCOUNT_DIR } from './download-identity.ts';

test('the shared identity is created when missing, left when equal, replaced when its roleRef changed', () => {
  const binding = desiredRoleBinding('ns', { kind: 'ClusterRole', name: 'matrixinfer-model-download' });
  assert.equal(identityAction(binding, undefined), 'create');
  assert.equal(identityAction(binding, { ...binding, metadata: { ...binding.metadata, uid: 'u', resourceVersion: '3' } }), 'none', 'server metadata does not count');
  assert.equal(identityAction(binding, desiredRoleBinding('ns', { kind: 'Role', name: 'matrixinfer-model-download' })), 'replace');
  const account = desiredServiceAccount('ns');
  assert.equal(identityAction(account, { ...account, automountServiceAccountToken: true }), 'replace');
});

test('only the download container mounts the token; the pod does not automount it', () => {
  const spec = withDownloadIdentity({
    initContainers: [{ name: 'model-download', volumeMounts: [{ name: 'model-cache', mountPath: '/c' }] }, { name: 'other' }],
    containers: [{ name: 'engine' }],
    volumes: [{ name: 'dshm' }],
  }) as { serviceAccountName: string; automountServiceAccountToken: boolean; initContainers: { volumeMounts?: { name: string; mountPath: string }[] }[]; containers: unknown[]; volumes: { name: string; projected?: { sources: object[] } }[] };
  assert.equal(spec.serviceAccountName, 'matrixinfer-model-download');
  assert.equal(spec.automountServiceAccountToken, false);
  assert.deepEqual(spec.initContainers[0]!.volumeMounts!.map((m) => m.mountPath), ['/c', SERVICE_ACCOUNT_DIR]);
  assert.equal(spec.initContainers[1]!.volumeMounts, undefined);
  assert.deepEqual(spec.containers, [{ name: 'engine' }]);
  assert.deepEqual(spec.volumes.map((v) => v.name), ['dshm', 'model-download-token']);
  assert.equal(spec.volumes[1]!.projected!.sources.length, 3, 'token, CA and namespace: what an in-cluster client reads');
});

test('--download-role names a ClusterRole or a Role', () => {
  assert.deepEqual(parseRoleRef('ClusterRole/matrixinfer-model-download'), { kind: 'ClusterRole', name: 'matrixinfer-model-download' });
  assert.deepEqual(parseRoleRef('Role/dl'), { kind: 'Role', name: 'dl' });
  assert.deepEqual(parseRoleRef('dl'), { kind: 'ClusterRole', name: 'dl' });
  assert.throws(() => parseRoleRef('Group/x'), /ClusterRole\/NAME or Role\/NAME/);
});
