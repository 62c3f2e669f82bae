import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveFenceposts, type Role } from '../../api/kinds/index.ts';
import { computeRevision, parsePodName, planPods, podName, type PlanInput, type PodState } from './plan.ts';

const role = (name: string, image = 'img:1', replicas = 1): Role => ({ name, replicas, template: { spec: { containers: [{ name: 'engine', image }] } } });

function pod(group: number, revision: string, extra: Partial<PodState> = {}, roleName = 'server', index = 0): PodState {
  return { name: podName('mi', group, roleName, index), group, role: roleName, index, revision, phase: 'Running', ready: true, deleting: false, ...extra };
}

function input(extra: Partial<PlanInput>): PlanInput {
  return { name: 'mi', replicas: 1, roles: [role('server')], revision: 'r2', strategy: 'RollingUpdate', maxSurge: undefined, maxUnavailable: undefined, pods: [], ...extra };
}

/** A plan with nothing to do. */
const NOTHING = { create: [], delete: [], promote: [], demote: [], sleep: [] };

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

test('maxSurge and maxUnavailable resolve as a Deployment: 25% each by default, surge rounded up, unavailable down', () => {
  const r = (replicas: number, maxSurge?: number | string, maxUnavailable?: number | string) => {
    const f = resolveFenceposts({ maxSurge, maxUnavailable }, replicas);
    return [f.maxSurge, f.maxUnavailable];
  };
  assert.deepEqual(r(1), [1, 0]);
  assert.deepEqual(r(2), [1, 0]);
  assert.deepEqual(r(3), [1, 0]);
  assert.deepEqual(r(4), [1, 1]);
  assert.deepEqual(r(10), [3, 2]);
  assert.deepEqual(r(4, 2, '50%'), [2, 2]);
  assert.deepEqual(r(4, '10%', '10%'), [1, 0]);
  assert.deepEqual(r(1, 0), [0, 1], 'both 0 after rounding: maxUnavailable 1');
  assert.deepEqual(r(4, 0, 0), [0, 1]);
  assert.deepEqual(r(0), [0, 1]);
  assert.deepEqual(r(4, 'x', -1), [1, 1], 'invalid values (refused by admission) fall back to the defaults');
});

test('creates every pod of every group from scratch', () => {
  const plan = planPods(input({ replicas: 2, roles: [role('prefill', 'i', 2), role('decode')] }));
  assert.deepEqual(names(plan.create), ['mi-0-decode-0', 'mi-0-prefill-0', 'mi-0-prefill-1', 'mi-1-decode-0', 'mi-1-prefill-0', 'mi-1-prefill-1']);
  assert.deepEqual(plan.delete, []);
});

test('steady state: nothing to do', () => {
  const plan = planPods(input({ replicas: 2, pods: [pod(0, 'r2'), pod(1, 'r2')] }));
  assert.deepEqual(plan, { ...NOTHING });
});

test('scale down deletes the highest groups and surplus role pods', () => {
  const plan = planPods(input({ replicas: 1, pods: [pod(0, 'r2'), pod(1, 'r2'), pod(2, 'r2'), pod(0, 'r2', {}, 'server', 1), pod(0, 'r2', {}, 'gone', 0)] }));
  assert.deepEqual(names(plan.delete), ['mi-0-gone-0', 'mi-0-server-1', 'mi-1-server-0', 'mi-2-server-0']);
  assert.deepEqual(plan.delete.filter((d) => d.name.endsWith('server-0')).map((d) => d.name), ['mi-2-server-0', 'mi-1-server-0'], 'highest group first');
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

test('maxSurge 0: rolling update replaces one ready group at a time in place, highest first, and waits for readiness', () => {
  const noSurge = { replicas: 3, maxSurge: 0, maxUnavailable: 1 };
  // Three old, ready groups: only one may go.
  let plan = planPods(input({ ...noSurge, pods: [pod(0, 'r1'), pod(1, 'r1'), pod(2, 'r1')] }));
  assert.deepEqual(plan.delete.map((d) => [d.name, d.reason]), [['mi-2-server-0', 'Outdated']]);
  assert.deepEqual(plan.create, []);
  // Group 2 deleted and terminating: nothing else may go (it counts as unavailable).
  plan = planPods(input({ ...noSurge, pods: [pod(0, 'r1'), pod(1, 'r1'), pod(2, 'r1', { deleting: true })] }));
  assert.deepEqual(plan, { ...NOTHING });
  // Group 2 gone: recreated with the new revision.
  plan = planPods(input({ ...noSurge, pods: [pod(0, 'r1'), pod(1, 'r1')] }));
  assert.deepEqual(names(plan.create), ['mi-2-server-0']);
  assert.deepEqual(plan.delete, []);
  // New group 2 not ready yet: wait.
  plan = planPods(input({ ...noSurge, pods: [pod(0, 'r1'), pod(1, 'r1'), pod(2, 'r2', { ready: false, phase: 'Pending' })] }));
  assert.deepEqual(plan, { ...NOTHING });
  // New group ready: next old group goes.
  plan = planPods(input({ ...noSurge, pods: [pod(0, 'r1'), pod(1, 'r1'), pod(2, 'r2')] }));
  assert.deepEqual(names(plan.delete), ['mi-1-server-0']);
});

test('maxSurge 0 with a single replica replaces it in place (maxUnavailable rounds to 0, so it becomes 1)', () => {
  const plan = planPods(input({ replicas: 1, maxSurge: 0, pods: [pod(0, 'r1', { uid: 'old' })] }));
  assert.deepEqual(plan.delete, [{ name: 'mi-0-server-0', uid: 'old', reason: 'Outdated' }]);
  assert.deepEqual(plan.create, []);
});

test('outdated groups that are not ready are replaced regardless of the budget', () => {
  const plan = planPods(input({ replicas: 3, pods: [pod(0, 'r1', { ready: false }), pod(1, 'r1', { ready: false }), pod(2, 'r1')] }));
  assert.deepEqual(names(plan.delete), ['mi-0-server-0', 'mi-1-server-0']);
  assert.deepEqual(names(plan.create), ['mi-3-server-0'], 'and a surge group starts (group 2 keeps serving)');
});

test('maxUnavailable 2 replaces two groups at once; a whole group goes together', () => {
  const roles = [role('prefill'), role('decode')];
  const pods = [0, 1, 2].flatMap((g) => [pod(g, 'r1', {}, 'prefill'), pod(g, 'r1', {}, 'decode')]);
  const plan = planPods(input({ replicas: 3, roles, maxSurge: 0, maxUnavailable: 2, pods }));
  assert.deepEqual(names(plan.delete), ['mi-1-decode-0', 'mi-1-prefill-0', 'mi-2-decode-0', 'mi-2-prefill-0']);
});

test('Recreate replaces every outdated group at once', () => {
  const plan = planPods(input({ replicas: 3, strategy: 'Recreate', pods: [pod(0, 'r1'), pod(1, 'r1'), pod(2, 'r2')] }));
  assert.deepEqual(names(plan.delete), ['mi-0-server-0', 'mi-1-server-0']);
});

test('a mixed group (one pod new, one old) is outdated and replaced whole', () => {
  const roles = [role('prefill'), role('decode')];
  let plan = planPods(input({ replicas: 1, roles, pods: [pod(0, 'r2', {}, 'prefill'), pod(0, 'r1', {}, 'decode')] }));
  assert.deepEqual(plan.delete, [], 'the only ready group serves until the surge group is ready');
  assert.deepEqual(names(plan.create), ['mi-1-decode-0', 'mi-1-prefill-0']);
  plan = planPods(input({ replicas: 1, roles, pods: [pod(0, 'r2', {}, 'prefill'), pod(0, 'r1', {}, 'decode'), pod(1, 'r2', {}, 'prefill'), pod(1, 'r2', {}, 'decode')] }));
  assert.deepEqual(names(plan.delete), ['mi-0-decode-0', 'mi-0-prefill-0']);
});

test('scaling up during a rollout creates new groups at the new revision', () => {
  const plan = planPods(input({ replicas: 2, pods: [pod(0, 'r1')] }));
  assert.deepEqual(names(plan.create), ['mi-1-server-0', 'mi-2-server-0'], 'group 1, and surge group 2');
  assert.deepEqual(plan.delete, [], 'group 1 missing counts as unavailable: group 0 waits');
});

// ---------- surge: the plan run against a simulated cluster ----------

interface World {
  replicas: number;
  revision: string;
  roles: Role[];
  maxSurge?: number | string;
  maxUnavailable?: number | string;
  pods: PodState[];
}

const GROUP_OF = (p: PodState) => p.group;

/** Groups whose pods all exist, are not terminating and are ready (what the gateway can route to). */
function readyGroups(w: World): number[] {
  const perGroup = w.roles.reduce((n, r) => n + (r.replicas ?? 1), 0);
  const byGroup = new Map<number, PodState[]>();
  for (const p of w.pods) if (!p.deleting && p.ready) byGroup.set(p.group, [...(byGroup.get(p.group) ?? []), p]);
  return [...byGroup].filter(([, pods]) => pods.length === perGroup).map(([g]) => g);
}

function planWorld(w: World) {
  return planPods(input({ replicas: w.replicas, revision: w.revision, roles: w.roles, maxSurge: w.maxSurge, maxUnavailable: w.maxUnavailable, pods: w.pods }));
}

/** Apply a plan as the API server would: deleted pods start terminating, created pods are pending. */
function apply(w: World, plan: ReturnType<typeof planPods>): void {
  const gone = new Set(plan.delete.map((d) => d.name));
  for (const p of w.pods) if (gone.has(p.name)) Object.assign(p, { deleting: true, ready: false });
  for (const c of plan.create) w.pods.push({ name: c.name, group: c.group, role: c.role, index: c.index, revision: w.revision, phase: 'Pending', ready: false, deleting: false });
}

/**
 * Reconcile, then let the cluster move one step (terminating pods vanish, pending ones become ready, except those
 * `stuck` names), until nothing changes. Checks, right after every plan is applied (the worst moment): at least
 * `minReady` groups ready, at most `maxGroups` groups with a pod that is not terminating, no group mixing revisions
 * among its live pods. Returns the number of steps and the most groups seen.
 */
function rollOut(w: World, check: { minReady: number; maxGroups: number }, stuck: (p: PodState) => boolean = () => false, steps = 50) {
  let most = 0;
  for (let step = 0; step < steps; step++) {
    const plan = planWorld(w);
    apply(w, plan);
    const ready = readyGroups(w);
    const live = new Set(w.pods.filter((p) => !p.deleting).map(GROUP_OF));
    most = Math.max(most, live.size);
    const state = w.pods.map((p) => `${p.name}@${p.revision}${p.deleting ? '†' : p.ready ? '' : '…'}`).join(' ');
    assert.ok(ready.length >= check.minReady, `step ${step}: ${ready.length} ready groups < ${check.minReady}: ${state}`);
    assert.ok(live.size <= check.maxGroups, `step ${step}: ${live.size} groups > ${check.maxGroups}: ${state}`);
    for (const g of live) {
      const revisions = new Set(w.pods.filter((p) => p.group === g && !p.deleting).map((p) => p.revision));
      assert.ok(revisions.size === 1, `step ${step}: group ${g} mixes revisions: ${state}`);
    }
    const moved = w.pods.some((p) => p.deleting || (!p.ready && !stuck(p)));
    if (plan.create.length === 0 && plan.delete.length === 0 && !moved) return { steps: step, most };
    w.pods = w.pods.filter((p) => !p.deleting);
    for (const p of w.pods) if (!p.ready && !stuck(p)) Object.assign(p, { ready: true, phase: 'Running' });
  }
  return { steps, most };
}

function world(replicas: number, roles: Role[], extra: Partial<World> = {}): World {
  const pods = Array.from({ length: replicas }, (_, g) =>
    roles.flatMap((r) => Array.from({ length: r.replicas ?? 1 }, (_, i) => pod(g, 'r1', {}, r.name, i))),
  ).flat();
  return { replicas, revision: 'r2', roles, pods, ...extra };
}

/** Done: exactly groups 0..replicas-1, every pod ready at the world's revision. */
function assertDone(w: World): void {
  const perGroup = w.roles.reduce((n, r) => n + (r.replicas ?? 1), 0);
  assert.equal(w.pods.length, w.replicas * perGroup, w.pods.map((p) => p.name).join(' '));
  assert.ok(w.pods.every((p) => p.group < w.replicas && p.ready && !p.deleting && p.revision === w.revision));
}

test('surge, 1 replica (surge 1, unavailable 0): a surge group is ready before the only old one goes, never zero ready', () => {
  const w = world(1, [role('server')]);
  let plan = planWorld(w);
  assert.deepEqual(plan, { ...NOTHING, create: [{ name: 'mi-1-server-0', group: 1, role: 'server', index: 0, warm: false }] });
  const { most } = rollOut(w, { minReady: 1, maxGroups: 2 });
  assertDone(w);
  assert.equal(most, 2);
  // The steps by hand: surge ready → old goes; old terminating → surge kept; replaced ready → surge goes.
  plan = planPods(input({ pods: [pod(0, 'r1'), pod(1, 'r2')] }));
  assert.deepEqual(plan.delete.map((d) => [d.name, d.reason]), [['mi-0-server-0', 'Outdated']]);
  plan = planPods(input({ pods: [pod(0, 'r1', { deleting: true, ready: false }), pod(1, 'r2')] }));
  assert.deepEqual(plan, { ...NOTHING });
  plan = planPods(input({ pods: [pod(1, 'r2')] }));
  assert.deepEqual(names(plan.create), ['mi-0-server-0']);
  plan = planPods(input({ pods: [pod(0, 'r2', { ready: false }), pod(1, 'r2')] }));
  assert.deepEqual(plan, { ...NOTHING }, 'the surge group serves until the replaced group is ready');
  plan = planPods(input({ pods: [pod(0, 'r2'), pod(1, 'r2')] }));
  assert.deepEqual(plan.delete.map((d) => [d.name, d.reason]), [['mi-1-server-0', 'ScaleDown']]);
});

test('surge, 2 replicas (surge 1, unavailable 0): never fewer than 2 ready, never more than 3 groups', () => {
  const w = world(2, [role('server')]);
  const { most } = rollOut(w, { minReady: 2, maxGroups: 3 });
  assertDone(w);
  assert.equal(most, 3);
});

test('surge, 4 replicas at 25%/25% (surge 1, unavailable 1): never fewer than 3 ready, never more than 5 groups', () => {
  const w = world(4, [role('server')], { maxSurge: '25%', maxUnavailable: '25%' });
  const first = planWorld(w);
  assert.deepEqual(names(first.delete), ['mi-3-server-0'], 'one old group goes at once');
  assert.deepEqual(names(first.create), ['mi-4-server-0'], 'and one surge group starts');
  const { most } = rollOut(w, { minReady: 3, maxGroups: 5 });
  assertDone(w);
  assert.equal(most, 4, 'one group replaced in place (unavailable) while the surge group serves');
});

test('surge, P/D groups (2 prefill + 1 decode each): the pods of a group move together', () => {
  const roles = [role('prefill', 'i', 2), role('decode')];
  const w = world(2, roles);
  const first = planWorld(w);
  assert.deepEqual(names(first.create), ['mi-2-decode-0', 'mi-2-prefill-0', 'mi-2-prefill-1']);
  rollOut(w, { minReady: 2, maxGroups: 3 });
  assertDone(w);
});

test('surge, a surge group that never becomes ready stalls the rollout; the old groups keep serving', () => {
  for (const replicas of [1, 2]) {
    const w = world(replicas, [role('server')]);
    rollOut(w, { minReady: replicas, maxGroups: replicas + 1 }, (p) => p.revision === 'r2');
    assert.deepEqual(
      w.pods.map((p) => `${p.name}@${p.revision}${p.ready ? '' : '…'}`).sort(),
      [...Array.from({ length: replicas }, (_, g) => `mi-${g}-server-0@r1`), `mi-${replicas}-server-0@r2…`],
    );
    assert.deepEqual(planWorld(w), NOTHING, 'nothing deleted, nothing more created');
  }
  // The stuck surge pod crashes (phase Failed): replaced in place, the old group still serving.
  const plan = planPods(input({ pods: [pod(0, 'r1'), pod(1, 'r2', { ready: false, phase: 'Failed' })] }));
  assert.deepEqual(plan.delete.map((d) => [d.name, d.reason]), [['mi-1-server-0', 'PodFailed']]);
  assert.deepEqual(plan.create, [], 'recreated once gone');
});

test('surge groups are not scale-down surplus while the rollout runs', () => {
  // Group 1 is a surge group (replicas 1, maxSurge 1): kept, even though its index is beyond replicas.
  let plan = planPods(input({ pods: [pod(0, 'r1'), pod(1, 'r2', { ready: false })] }));
  assert.deepEqual(plan, { ...NOTHING });
  // Beyond the surge indexes, or of another revision: surplus.
  plan = planPods(input({ pods: [pod(0, 'r1'), pod(1, 'r2', { ready: false }), pod(2, 'r2', { ready: false }), pod(3, 'r1', { ready: false })] }));
  assert.deepEqual(names(plan.delete), ['mi-2-server-0', 'mi-3-server-0']);
  // No rollout: groups beyond replicas go, not-ready ones at once, ready ones while the others stay available.
  plan = planPods(input({ pods: [pod(0, 'r2', { ready: false }), pod(1, 'r2'), pod(2, 'r2', { ready: false })] }));
  assert.deepEqual(names(plan.delete), ['mi-2-server-0'], 'group 1 serves until group 0 is ready');
});

test('surge, scale change mid-rollout: up makes the surge group a replica, down retires groups within the budget', () => {
  // 2 replicas mid-rollout: group 1 replaced, surge group 2 ready, group 0 old.
  const mid = () => world(2, [role('server')], { pods: [pod(0, 'r1'), pod(1, 'r2'), pod(2, 'r2')] });
  // Scale up to 3: group 2 becomes a replica, group 3 is the surge group; nothing goes before it is ready (3 - 0).
  let w = { ...mid(), replicas: 3 };
  let plan = planWorld(w);
  assert.deepEqual(plan, { ...NOTHING, create: [{ name: 'mi-3-server-0', group: 3, role: 'server', index: 0, warm: false }] });
  rollOut(w, { minReady: 3, maxGroups: 4 });
  assertDone(w);
  // Scale down to 1: group 1 is the surge group now, group 2 goes; then group 0 (old) while group 1 serves.
  w = { ...mid(), replicas: 1 };
  plan = planWorld(w);
  assert.deepEqual(plan.delete.map((d) => [d.name, d.reason]), [['mi-2-server-0', 'ScaleDown'], ['mi-0-server-0', 'Outdated']]);
  rollOut(w, { minReady: 1, maxGroups: 3 });
  assertDone(w);
});

test('surge, revert to the old revision mid-rollout: rolls back within the same budget', () => {
  // 1 replica: group 0 already replaced by r2, surge group 1 at r2; the template goes back to r1.
  let w = world(1, [role('server')], { revision: 'r1', pods: [pod(0, 'r2'), pod(1, 'r2')] });
  let plan = planWorld(w);
  assert.deepEqual(plan.delete.map((d) => [d.name, d.reason]), [['mi-1-server-0', 'ScaleDown']], 'the r2 surge group goes, group 0 serves');
  rollOut(w, { minReady: 1, maxGroups: 2 });
  assertDone(w);
  // Reverted before the surge group was ready: it goes at once, nothing else changes.
  w = world(1, [role('server')], { revision: 'r1', pods: [pod(0, 'r1'), pod(1, 'r2', { ready: false })] });
  plan = planWorld(w);
  assert.deepEqual(plan, { ...NOTHING, delete: [{ name: 'mi-1-server-0', reason: 'ScaleDown' }] });
  // 4 replicas half way (groups 2, 3 at r2, surge group 4 at r2), reverted to r1.
  w = world(4, [role('server')], { revision: 'r1', pods: [pod(0, 'r1'), pod(1, 'r1'), pod(2, 'r2'), pod(3, 'r2'), pod(4, 'r2')] });
  rollOut(w, { minReady: 3, maxGroups: 5 });
  assertDone(w);
});

test('Recreate: no surge, groups beyond replicas go at once', () => {
  const plan = planPods(input({ replicas: 1, strategy: 'Recreate', pods: [pod(0, 'r1'), pod(1, 'r2')] }));
  assert.deepEqual(names(plan.delete), ['mi-0-server-0', 'mi-1-server-0']);
  assert.deepEqual(plan.create, []);
});

// ---------- warm pool ----------

const warmPod = (group: number, revision: string, extra: Partial<PodState> = {}) => pod(group, revision, { warm: true, sleepLevel: 1, ...extra });

test('warm pool: the next w indexes are started warm, and put to sleep once ready', () => {
  let plan = planPods(input({ replicas: 1, warm: 2 }));
  assert.deepEqual(
    plan.create.map((c) => [c.name, c.warm]),
    [['mi-0-server-0', false], ['mi-1-server-0', true], ['mi-2-server-0', true]],
  );
  plan = planPods(input({ replicas: 1, warm: 2, pods: [pod(0, 'r2'), pod(1, 'r2', { warm: true }), pod(2, 'r2', { warm: true, ready: false })] }));
  assert.deepEqual(plan, { ...NOTHING, sleep: [{ name: 'mi-1-server-0' }] }, 'only the ready warm pod sleeps; the other starts');
  plan = planPods(input({ replicas: 1, warm: 2, pods: [pod(0, 'r2'), warmPod(1, 'r2'), warmPod(2, 'r2', { sleepLevel: 2 })] }));
  assert.deepEqual(plan, NOTHING, 'steady state');
});

test('warm pool: scale-up claims the warm groups (promote) and refills the pool beyond', () => {
  const pods = [pod(0, 'r2'), warmPod(1, 'r2'), warmPod(2, 'r2', { ready: false, sleepLevel: undefined })];
  const plan = planPods(input({ replicas: 3, warm: 1, pods }));
  assert.deepEqual(plan.promote, [{ name: 'mi-1-server-0', sleepLevel: 1 }, { name: 'mi-2-server-0' }]);
  assert.deepEqual(plan.create.map((c) => [c.name, c.warm]), [['mi-3-server-0', true]]);
  assert.deepEqual(plan.delete, []);
});

test('warm pool: scale-down demotes the served groups left over and deletes the warm ones beyond at once', () => {
  const pods = [pod(0, 'r2'), pod(1, 'r2'), pod(2, 'r2'), warmPod(3, 'r2')];
  let plan = planPods(input({ replicas: 1, warm: 1, pods }));
  assert.deepEqual(
    plan.delete.map((d) => [d.name, d.reason]),
    [['mi-3-server-0', 'ScaleDown'], ['mi-2-server-0', 'ScaleDown']],
    'the warm group beyond serves nothing (at once), group 2 within the budget (1 of 3 must serve)',
  );
  assert.deepEqual(plan.demote, [{ name: 'mi-1-server-0' }], 'group 1 becomes the warm group');
  // Group 2 (beyond, serving) goes within the budget: 1 replica, maxUnavailable 0, so two of three may go.
  plan = planPods(input({ replicas: 1, warm: 1, maxUnavailable: 0, pods: [pod(0, 'r2', { ready: false }), pod(1, 'r2'), pod(2, 'r2')] }));
  assert.deepEqual(plan.delete.map((d) => d.name), ['mi-2-server-0']);
  assert.deepEqual(plan.demote, [], 'group 1 is the only group serving: it stays until group 0 is ready');
  // A warm pool turned off: the warm groups go at once, claimed ones are promoted.
  plan = planPods(input({ replicas: 1, warm: 0, pods: [warmPod(0, 'r2'), warmPod(1, 'r2')] }));
  assert.deepEqual(plan.delete.map((d) => d.name), ['mi-1-server-0']);
  assert.deepEqual(plan.promote, [{ name: 'mi-0-server-0', sleepLevel: 1 }]);
});

test('warm pool: a warm group at the current revision serves as the surge group of a rollout', () => {
  const pods = [pod(0, 'r1'), pod(1, 'r1'), warmPod(2, 'r2')];
  const plan = planPods(input({ replicas: 2, warm: 1, maxSurge: 1, maxUnavailable: 0, pods }));
  assert.deepEqual(plan.promote, [{ name: 'mi-2-server-0', sleepLevel: 1 }]);
  assert.deepEqual(plan.delete, [], 'the old groups wait until the surge group serves');
  assert.deepEqual(plan.create, []);
});

/** The surge simulation with a warm pool: promote/demote/sleep applied, serving groups checked at every step. */
function warmRollOut(w: World & { warm: number }, minServing: number, steps = 60) {
  let most = 0;
  for (let step = 0; step < steps; step++) {
    const plan = planPods(input({ replicas: w.replicas, revision: w.revision, roles: w.roles, maxSurge: w.maxSurge, maxUnavailable: w.maxUnavailable, warm: w.warm, pods: w.pods }));
    const gone = new Set(plan.delete.map((d) => d.name));
    for (const p of w.pods) if (gone.has(p.name)) Object.assign(p, { deleting: true, ready: false });
    for (const c of plan.create) w.pods.push({ name: c.name, group: c.group, role: c.role, index: c.index, revision: w.revision, phase: 'Pending', ready: false, deleting: false, warm: c.warm });
    const byName = new Map(w.pods.map((p) => [p.name, p]));
    for (const d of plan.demote) byName.get(d.name)!.warm = true;
    // Promotion: the controller wakes the pod, then removes the label (here in one step).
    for (const d of plan.promote) Object.assign(byName.get(d.name)!, { warm: false, sleepLevel: undefined });
    const serving = new Set(w.pods.filter((p) => !p.deleting && p.ready && !p.warm).map(GROUP_OF));
    const state = w.pods.map((p) => `${p.name}@${p.revision}${p.deleting ? '†' : p.ready ? '' : '…'}${p.warm ? 'w' : ''}${p.sleepLevel ? 'z' : ''}`).join(' ');
    assert.ok(serving.size >= minServing, `step ${step}: ${serving.size} serving groups < ${minServing}: ${state}`);
    most = Math.max(most, new Set(w.pods.filter((p) => !p.deleting).map(GROUP_OF)).size);
    for (const s of plan.sleep) byName.get(s.name)!.sleepLevel = 1;
    const idle = plan.create.length + plan.delete.length + plan.promote.length + plan.demote.length + plan.sleep.length === 0;
    if (idle && !w.pods.some((p) => p.deleting || !p.ready)) return { steps: step, most, state };
    w.pods = w.pods.filter((p) => !p.deleting);
    for (const p of w.pods) if (!p.ready) Object.assign(p, { ready: true, phase: 'Running' });
  }
  assert.fail('did not settle');
}

test('warm pool: rollouts keep the served groups available and end with the pool at the new revision, asleep', () => {
  for (const [replicas, warm, maxSurge, maxUnavailable] of [[1, 1, undefined, undefined], [3, 1, 1, 0], [4, 2, 1, 1], [2, 3, 2, 0], [1, 2, 0, 1]] as const) {
    const pods = [
      ...Array.from({ length: replicas }, (_, g) => pod(g, 'r1')),
      ...Array.from({ length: warm }, (_, k) => warmPod(replicas + k, 'r1')),
    ];
    const w = { replicas, warm, revision: 'r2', roles: [role('server')], maxSurge, maxUnavailable, pods };
    const minServing = replicas - resolveFenceposts({ maxSurge, maxUnavailable }, replicas).maxUnavailable;
    const { most, state } = warmRollOut(w, minServing);
    const label = `replicas ${replicas}, warm ${warm}, surge ${maxSurge}, unavailable ${maxUnavailable}: ${state}`;
    assert.ok(most <= replicas + Math.max(warm, resolveFenceposts({ maxSurge, maxUnavailable }, replicas).maxSurge), label);
    assert.deepEqual(w.pods.map((p) => [p.group, p.revision, !!p.warm, p.sleepLevel ?? 0]).sort((a, b) => (a[0] as number) - (b[0] as number)), [
      ...Array.from({ length: replicas }, (_, g) => [g, 'r2', false, 0]),
      ...Array.from({ length: warm }, (_, k) => [replicas + k, 'r2', true, 1]),
    ], label);
  }
});

test('warm pool: scaling up and down through the pool keeps the pool full and never drops a serving group', () => {
  const w = { replicas: 2, warm: 1, revision: 'r2', roles: [role('server')], maxSurge: undefined, maxUnavailable: undefined, pods: [] as PodState[] };
  warmRollOut(w, 0);
  for (const [replicas, min] of [[4, 2], [1, 1], [3, 1], [0, 0]] as const) {
    w.replicas = replicas;
    warmRollOut(w, min);
    assert.equal(w.pods.filter((p) => !p.warm).length, replicas);
    assert.deepEqual(w.pods.filter((p) => p.warm).map((p) => [p.group, p.sleepLevel]), [[replicas, 1]]);
  }
});
