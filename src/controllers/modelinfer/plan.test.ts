import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Role } from '../../api/kinds/index.ts';
import { computeRevision, parsePodName, planPods, podName, resolveMaxUnavailable, type PlanInput, type PodState } from './plan.ts';

const role = (name: string, image = 'img:1', replicas = 1): Role => ({ name, replicas, template: { spec: { containers: [{ name: 'engine', image }] } } });

function pod(group: number, revision: string, extra: Partial<PodState> = {}, roleName = 'server', index = 0): PodState {
  return { name: podName('mi', group, roleName, index), group, role: roleName, index, revision, phase: 'Running', ready: true, deleting: false, ...extra };
}

function input(extra: Partial<PlanInput>): PlanInput {
  return { name: 'mi', replicas: 1, roles: [role('server')], revision: 'r2', strategy: 'RollingUpdate', maxUnavailable: undefined, pods: [], ...extra };
}

const names = (list: { name: string }[]) => list.map((x) => x.name).sort();

test('revision: stable, changes with templates, not with replica counts', () => {
  const a = computeRevision([role('server')]);
  assert.match(a, /^[0-9a-f]{10}$/);
  assert.equal(a, computeRevision([role('server')]));
  assert.equal(a, computeRevision([role('server', 'img:1', 5)]), 'role replicas are not part of the revision');
  assert.notEqual(a, computeRevision([role('server', 'img:2')]));
  assert.notEqual(a, computeRevision([role('prefill'), role('decode')]));
  const reordered: Role = { name: 'server', replicas: 1, template: { spec: { containers: [{ image: 'img:1', name: 'engine' }] } } };
  assert.equal(a, computeRevision([reordered]), 'key order does not matter');
});

test('pod names round-trip, including roles with dashes', () => {
  assert.equal(podName('llama-7b', 0, 'server', 0), 'llama-7b-0-server-0');
  assert.deepEqual(parsePodName('llama-7b', 'llama-7b-0-server-0'), { group: 0, role: 'server', index: 0 });
  assert.deepEqual(parsePodName('mi', 'mi-12-pre-fill-3'), { group: 12, role: 'pre-fill', index: 3 });
  assert.equal(parsePodName('mi', 'other-0-server-0'), undefined);
  assert.equal(parsePodName('mi', 'mi-x-server-0'), undefined);
});

test('maxUnavailable: counts and percentages, at least 1', () => {
  assert.equal(resolveMaxUnavailable(undefined, 4), 1);
  assert.equal(resolveMaxUnavailable(2, 4), 2);
  assert.equal(resolveMaxUnavailable('50%', 4), 2);
  assert.equal(resolveMaxUnavailable('10%', 4), 1);
  assert.equal(resolveMaxUnavailable(0, 4), 1);
});

test('creates every pod of every group from scratch', () => {
  const plan = planPods(input({ replicas: 2, roles: [role('prefill', 'i', 2), role('decode')] }));
  assert.deepEqual(names(plan.create), ['mi-0-decode-0', 'mi-0-prefill-0', 'mi-0-prefill-1', 'mi-1-decode-0', 'mi-1-prefill-0', 'mi-1-prefill-1']);
  assert.deepEqual(plan.delete, []);
});

test('steady state: nothing to do', () => {
  const plan = planPods(input({ replicas: 2, pods: [pod(0, 'r2'), pod(1, 'r2')] }));
  assert.deepEqual(plan, { create: [], delete: [] });
});

test('scale down deletes the highest groups and surplus role pods', () => {
  const plan = planPods(input({ replicas: 1, pods: [pod(0, 'r2'), pod(1, 'r2'), pod(2, 'r2'), pod(0, 'r2', {}, 'server', 1), pod(0, 'r2', {}, 'gone', 0)] }));
  assert.deepEqual(names(plan.delete), ['mi-0-gone-0', 'mi-0-server-1', 'mi-1-server-0', 'mi-2-server-0']);
  assert.equal(plan.delete[0]!.name, 'mi-2-server-0', 'highest group first');
  assert.ok(plan.delete.every((d) => d.reason === 'ScaleDown'));
  assert.deepEqual(plan.create, []);
});

test('missing pods are recreated; names held by terminating pods wait', () => {
  const plan = planPods(input({ replicas: 3, pods: [pod(0, 'r2'), pod(2, 'r2', { deleting: true, ready: false })] }));
  assert.deepEqual(names(plan.create), ['mi-1-server-0']);
});

test('failed and succeeded pods are deleted, to be recreated once gone', () => {
  const plan = planPods(input({ replicas: 2, pods: [pod(0, 'r2', { phase: 'Failed', ready: false, uid: 'u0' }), pod(1, 'r2', { phase: 'Succeeded', ready: false })] }));
  assert.deepEqual(plan.delete, [
    { name: 'mi-0-server-0', uid: 'u0', reason: 'PodFailed' },
    { name: 'mi-1-server-0', reason: 'PodFailed' },
  ]);
  assert.deepEqual(plan.create, []);
});

test('rolling update replaces one ready group at a time, highest first, and waits for readiness', () => {
  // Three old, ready groups: only one may go.
  let plan = planPods(input({ replicas: 3, pods: [pod(0, 'r1'), pod(1, 'r1'), pod(2, 'r1')] }));
  assert.deepEqual(plan.delete.map((d) => [d.name, d.reason]), [['mi-2-server-0', 'Outdated']]);
  // Group 2 deleted and terminating: nothing else may go (it counts as unavailable).
  plan = planPods(input({ replicas: 3, pods: [pod(0, 'r1'), pod(1, 'r1'), pod(2, 'r1', { deleting: true })] }));
  assert.deepEqual(plan, { create: [], delete: [] });
  // Group 2 gone: recreated with the new revision.
  plan = planPods(input({ replicas: 3, pods: [pod(0, 'r1'), pod(1, 'r1')] }));
  assert.deepEqual(names(plan.create), ['mi-2-server-0']);
  assert.deepEqual(plan.delete, []);
  // New group 2 not ready yet: wait.
  plan = planPods(input({ replicas: 3, pods: [pod(0, 'r1'), pod(1, 'r1'), pod(2, 'r2', { ready: false, phase: 'Pending' })] }));
  assert.deepEqual(plan, { create: [], delete: [] });
  // New group ready: next old group goes.
  plan = planPods(input({ replicas: 3, pods: [pod(0, 'r1'), pod(1, 'r1'), pod(2, 'r2')] }));
  assert.deepEqual(names(plan.delete), ['mi-1-server-0']);
});

test('rolling update with a single replica replaces it (maxUnavailable 1)', () => {
  const plan = planPods(input({ replicas: 1, pods: [pod(0, 'r1', { uid: 'old' })] }));
  assert.deepEqual(plan.delete, [{ name: 'mi-0-server-0', uid: 'old', reason: 'Outdated' }]);
});

test('outdated groups that are not ready are replaced regardless of the budget', () => {
  const plan = planPods(input({ replicas: 3, pods: [pod(0, 'r1', { ready: false }), pod(1, 'r1', { ready: false }), pod(2, 'r1')] }));
  assert.deepEqual(names(plan.delete), ['mi-0-server-0', 'mi-1-server-0']);
});

test('maxUnavailable 2 replaces two groups at once; a whole group goes together', () => {
  const roles = [role('prefill'), role('decode')];
  const pods = [0, 1, 2].flatMap((g) => [pod(g, 'r1', {}, 'prefill'), pod(g, 'r1', {}, 'decode')]);
  const plan = planPods(input({ replicas: 3, roles, maxUnavailable: 2, pods }));
  assert.deepEqual(names(plan.delete), ['mi-1-decode-0', 'mi-1-prefill-0', 'mi-2-decode-0', 'mi-2-prefill-0']);
});

test('Recreate replaces every outdated group at once', () => {
  const plan = planPods(input({ replicas: 3, strategy: 'Recreate', pods: [pod(0, 'r1'), pod(1, 'r1'), pod(2, 'r2')] }));
  assert.deepEqual(names(plan.delete), ['mi-0-server-0', 'mi-1-server-0']);
});

test('a mixed group (one pod new, one old) is outdated', () => {
  const roles = [role('prefill'), role('decode')];
  const plan = planPods(input({ replicas: 1, roles, pods: [pod(0, 'r2', {}, 'prefill'), pod(0, 'r1', {}, 'decode')] }));
  assert.deepEqual(names(plan.delete), ['mi-0-decode-0', 'mi-0-prefill-0']);
});

test('scaling up during a rollout creates new groups at the new revision', () => {
  const plan = planPods(input({ replicas: 2, pods: [pod(0, 'r1')] }));
  assert.deepEqual(names(plan.create), ['mi-1-server-0']);
  assert.deepEqual(plan.delete, [], 'group 1 missing counts as unavailable: group 0 waits');
});
