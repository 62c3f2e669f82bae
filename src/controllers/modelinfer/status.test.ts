import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../api/admission.ts';
import type { Role } from '../../api/kinds/index.ts';
import { podName, type PodState } from './plan.ts';
import { computeModelInferStatus, podFailure, type StatusInput } from './status.ts';

const role = (name: string, replicas = 1): Role => ({ name, replicas, template: { spec: {} } });
const pod = (group: number, revision: string, extra: Partial<PodState> = {}, roleName = 'server'): PodState => ({
  name: podName('mi', group, roleName, 0), group, role: roleName, index: 0, revision, phase: 'Running', ready: true, deleting: false, ...extra,
});
const input = (extra: Partial<StatusInput>): StatusInput => ({
  name: 'mi', replicas: 1, roles: [role('server')], revision: 'r2', strategy: 'RollingUpdate', maxSurge: undefined, maxUnavailable: undefined, pods: [], generation: 4, previous: undefined, ...extra,
});
const cond = (s: ReturnType<typeof computeModelInferStatus>, type: string) => s.conditions?.find((c) => c.type === type);

test('counts groups: replicas, ready, updated, available', () => {
  const s = computeModelInferStatus(input({ replicas: 3, maxUnavailable: 1, pods: [pod(0, 'r2'), pod(1, 'r1'), pod(2, 'r2', { ready: false })] }), 't');
  assert.equal(s.replicas, 3);
  assert.equal(s.readyReplicas, 2);
  assert.equal(s.updatedReplicas, 2);
  assert.equal(s.availableReplicas, 2);
  assert.equal(s.currentRevision, 'r2');
  assert.equal(s.labelSelector, 'workload.matrixinfer.ai/modelinfer-name=mi');
  assert.equal(s.observedGeneration, 4);
  assert.equal(cond(s, 'Available')?.status, 'True', '2 ready ≥ 3 - 1');
  assert.equal(cond(s, 'Progressing')?.reason, 'Updating');
  assert.equal(cond(s, 'Available')?.observedGeneration, 4);
});

test('a group is ready only when all of its role pods are', () => {
  const roles = [role('prefill'), role('decode')];
  const s = computeModelInferStatus(input({ roles, pods: [pod(0, 'r2', {}, 'prefill'), pod(0, 'r2', { ready: false }, 'decode')] }), 't');
  assert.equal(s.readyReplicas, 0);
  assert.equal(s.updatedReplicas, 1);
  assert.equal(cond(s, 'Available')?.status, 'False');
  assert.equal(cond(s, 'Progressing')?.reason, 'WaitingForReady');
});

test('rollout complete', () => {
  const s = computeModelInferStatus(input({ replicas: 2, pods: [pod(0, 'r2'), pod(1, 'r2')] }), 't');
  assert.equal(cond(s, 'Progressing')?.reason, 'RolloutComplete');
  assert.equal(cond(s, 'ReplicaFailure')?.status, 'False');
});

test('scaling phases', () => {
  assert.equal(cond(computeModelInferStatus(input({ replicas: 2, pods: [pod(0, 'r2')] }), 't'), 'Progressing')?.reason, 'ScalingUp');
  assert.equal(cond(computeModelInferStatus(input({ replicas: 1, pods: [pod(0, 'r2'), pod(1, 'r2')] }), 't'), 'Progressing')?.reason, 'ScalingDown');
  const zero = computeModelInferStatus(input({ replicas: 0 }), 't');
  assert.equal(zero.replicas, 0);
  assert.equal(cond(zero, 'Available')?.status, 'True');
});

test('default maxUnavailable (25%): 3 replicas need 3 ready, 4 need 3', () => {
  const three = computeModelInferStatus(input({ replicas: 3, pods: [pod(0, 'r2'), pod(1, 'r2'), pod(2, 'r2', { ready: false })] }), 't');
  assert.equal(cond(three, 'Available')?.status, 'False');
  const four = computeModelInferStatus(input({ replicas: 4, pods: [pod(0, 'r2'), pod(1, 'r2'), pod(2, 'r2'), pod(3, 'r2', { ready: false })] }), 't');
  assert.equal(cond(four, 'Available')?.status, 'True');
});

test('a rollout with a surge group counts it as a Deployment does, and stays Updating until it is gone', () => {
  // 1 replica: old group 0 and a ready surge group 1 at the new revision.
  let s = computeModelInferStatus(input({ pods: [pod(0, 'r1'), pod(1, 'r2')] }), 't0');
  assert.deepEqual([s.replicas, s.readyReplicas, s.updatedReplicas, s.availableReplicas], [2, 2, 1, 2]);
  assert.equal(cond(s, 'Progressing')?.reason, 'Updating');
  assert.equal(cond(s, 'Progressing')?.message, '0/1 replicas updated to revision r2 (1 beyond spec.replicas, 1 of them at this revision)');
  // Old group 0 terminating: the surge group alone serves; still Updating.
  s = computeModelInferStatus(input({ pods: [pod(0, 'r1', { deleting: true, ready: false }), pod(1, 'r2')], previous: s }), 't1');
  assert.deepEqual([s.replicas, s.readyReplicas, s.updatedReplicas], [1, 1, 1]);
  assert.equal(cond(s, 'Available')?.status, 'True');
  assert.equal(cond(s, 'Progressing')?.reason, 'Updating');
  // Group 0 replaced and ready, the surge group not yet removed: 2/1, still Updating.
  s = computeModelInferStatus(input({ pods: [pod(0, 'r2'), pod(1, 'r2')], previous: s }), 't2');
  assert.deepEqual([s.replicas, s.readyReplicas, s.updatedReplicas], [2, 2, 2]);
  assert.equal(cond(s, 'Progressing')?.reason, 'Updating');
  // Surge group gone: complete.
  s = computeModelInferStatus(input({ pods: [pod(0, 'r2')], previous: s }), 't3');
  assert.deepEqual([s.replicas, s.readyReplicas, s.updatedReplicas], [1, 1, 1]);
  assert.equal(cond(s, 'Progressing')?.reason, 'RolloutComplete');
  // The same pods without a rollout before them: a scale-down.
  s = computeModelInferStatus(input({ pods: [pod(0, 'r2'), pod(1, 'r2')] }), 't');
  assert.equal(cond(s, 'Progressing')?.reason, 'ScalingDown');
});

test('terminating pods do not count', () => {
  const s = computeModelInferStatus(input({ pods: [pod(0, 'r2', { deleting: true })] }), 't');
  assert.equal(s.replicas, 0);
  assert.equal(s.readyReplicas, 0);
});

test('ReplicaFailure reports failing pods', () => {
  const s = computeModelInferStatus(input({ pods: [pod(0, 'r2', { ready: false, failure: 'engine: CrashLoopBackOff' })] }), 't');
  assert.deepEqual(
    { status: cond(s, 'ReplicaFailure')?.status, message: cond(s, 'ReplicaFailure')?.message },
    { status: 'True', message: 'mi-0-server-0: engine: CrashLoopBackOff' },
  );
});

test('podFailure recognizes failed pods and stuck containers', () => {
  const p = (status: unknown): KubeObject => ({ apiVersion: 'v1', kind: 'Pod', metadata: {}, status });
  assert.equal(podFailure(p({ phase: 'Running' })), undefined);
  assert.equal(podFailure(p({ phase: 'Failed', reason: 'Evicted' })), 'Failed (Evicted)');
  assert.equal(podFailure(p({ phase: 'Pending', containerStatuses: [{ name: 'engine', state: { waiting: { reason: 'ImagePullBackOff' } } }] })), 'engine: ImagePullBackOff');
  assert.equal(podFailure(p({ phase: 'Pending', containerStatuses: [{ name: 'engine', state: { waiting: { reason: 'ContainerCreating' } } }] })), undefined);
});

test('condition times survive recomputation', () => {
  const first = computeModelInferStatus(input({ pods: [pod(0, 'r2', { ready: false })] }), 't0');
  const second = computeModelInferStatus(input({ pods: [pod(0, 'r2', { ready: false })], previous: first }), 't1');
  assert.deepEqual(second, first);
});

test('warm pool: warm groups are counted apart, not as replicas; a claimed group counts once awake', () => {
  const warm = (g: number, extra: Partial<PodState> = {}) => pod(g, 'r2', { warm: true, sleepLevel: 1, ...extra });
  let s = computeModelInferStatus(input({ replicas: 1, warm: 2, pods: [pod(0, 'r2'), warm(1), warm(2, { ready: false })] }));
  assert.deepEqual([s.replicas, s.readyReplicas, s.updatedReplicas, s.availableReplicas, s.warmReplicas], [1, 1, 1, 1, 1]);
  assert.equal(cond(s, 'Progressing')?.reason, 'RolloutComplete', 'the pool is not a scale-down');
  // Scaled to 2: group 1 is claimed but still labelled warm (waking).
  s = computeModelInferStatus(input({ replicas: 2, warm: 2, pods: [pod(0, 'r2'), warm(1), warm(2)] }));
  assert.deepEqual([s.readyReplicas, s.warmReplicas], [1, 1]);
  assert.equal(cond(s, 'Progressing')?.reason, 'WaitingForReady');
});
