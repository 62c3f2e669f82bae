import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildPodStatus, canonical, podPhase, type PodSnapshot, statusPatch } from './pod-status.ts';
import type { ContainerStatus } from './types.ts';

const T0 = '2025-01-01T00:00:00Z';
const T1 = '2025-01-01T00:00:05Z';

function cs(name: string, state: ContainerStatus['state'], ready = false, lastState: ContainerStatus['lastState'] = {}): ContainerStatus {
  return { name, image: 'busybox', imageID: '', ready, started: !!state?.running, restartCount: 0, state, lastState };
}

function snap(containers: ContainerStatus[], extra: Partial<PodSnapshot> = {}): PodSnapshot {
  return {
    podIP: '127.0.1.2',
    hostIP: '127.0.0.1',
    startTime: T0,
    restartPolicy: 'Always',
    initialized: true,
    initContainerStatuses: [],
    containerStatuses: containers,
    ...extra,
  };
}

describe('podPhase', () => {
  it('Pending while any container waits to be created', () => {
    assert.equal(podPhase(snap([cs('a', { waiting: { reason: 'ContainerCreating' } }), cs('b', { running: {} })])), 'Pending');
    assert.equal(podPhase(snap([cs('a', { running: {} })], { initialized: false })), 'Pending');
  });
  it('Running when running or crash-looping', () => {
    assert.equal(podPhase(snap([cs('a', { running: {} })])), 'Running');
    assert.equal(podPhase(snap([cs('a', { waiting: { reason: 'CrashLoopBackOff' } }, false, { terminated: { exitCode: 1 } })])), 'Running');
  });
  it('terminal phases per restart policy', () => {
    const done0 = cs('a', { terminated: { exitCode: 0 } });
    const done1 = cs('b', { terminated: { exitCode: 1 } });
    assert.equal(podPhase(snap([done0], { restartPolicy: 'Never' })), 'Succeeded');
    assert.equal(podPhase(snap([done0, done1], { restartPolicy: 'Never' })), 'Failed');
    assert.equal(podPhase(snap([done0], { restartPolicy: 'OnFailure' })), 'Succeeded');
    assert.equal(podPhase(snap([done0], { restartPolicy: 'Always' })), 'Running');
    assert.equal(podPhase(snap([], { initFailed: true })), 'Failed');
  });
});

describe('buildPodStatus', () => {
  it('writes IPs, conditions and container statuses', () => {
    const s = buildPodStatus(snap([cs('a', { running: { startedAt: T0 } }, true)]), undefined, T0);
    assert.equal(s.phase, 'Running');
    assert.equal(s.podIP, '127.0.1.2');
    assert.deepEqual(s.podIPs, [{ ip: '127.0.1.2' }]);
    assert.equal(s.hostIP, '127.0.0.1');
    assert.equal(s.startTime, T0);
    const conds = Object.fromEntries(s.conditions!.map((c) => [c.type, c.status]));
    assert.deepEqual(conds, { PodScheduled: 'True', Initialized: 'True', ContainersReady: 'True', Ready: 'True' });
  });
  it('not ready lists the unready containers; keeps transition times; keeps foreign conditions', () => {
    const prev = buildPodStatus(snap([cs('a', { running: {} }, false), cs('b', { running: {} }, true)]), undefined, T0);
    prev.conditions!.push({ type: 'example.com/gate', status: 'True' });
    const ready = prev.conditions!.find((c) => c.type === 'Ready')!;
    assert.equal(ready.status, 'False');
    assert.equal(ready.message, 'containers with unready status: [a]');
    const next = buildPodStatus(snap([cs('a', { running: {} }, true), cs('b', { running: {} }, true)]), prev, T1);
    assert.equal(next.conditions!.find((c) => c.type === 'Ready')!.lastTransitionTime, T1);
    assert.equal(next.conditions!.find((c) => c.type === 'PodScheduled')!.lastTransitionTime, T0);
    assert.ok(next.conditions!.some((c) => c.type === 'example.com/gate'));
  });
  it('terminal pods are not ready with reason PodCompleted', () => {
    const s = buildPodStatus(snap([cs('a', { terminated: { exitCode: 0 } })], { restartPolicy: 'Never' }), undefined, T0);
    assert.equal(s.phase, 'Succeeded');
    assert.equal(s.conditions!.find((c) => c.type === 'Ready')!.reason, 'PodCompleted');
  });
});

describe('statusPatch', () => {
  it('is empty when nothing changed, whatever the key order', () => {
    const s = buildPodStatus(snap([cs('a', { running: { startedAt: T0 } }, true)]), undefined, T0);
    const reordered = JSON.parse(canonical(s)) as typeof s;
    assert.equal(statusPatch(s, reordered), undefined);
    assert.equal(statusPatch(buildPodStatus(snap([cs('a', { running: { startedAt: T0 } }, true)]), s, T1), s), undefined);
  });
  it('carries only changed fields', () => {
    const a = buildPodStatus(snap([cs('a', { running: { startedAt: T0 } }, false)]), undefined, T0);
    const b = buildPodStatus(snap([cs('a', { running: { startedAt: T0 } }, true)]), a, T1);
    const p = statusPatch(b, a)!;
    assert.deepEqual(Object.keys(p.status).sort(), ['conditions', 'containerStatuses']);
  });
  it('first write from an empty status carries everything', () => {
    const a = buildPodStatus(snap([cs('a', { waiting: { reason: 'ContainerCreating' } })]), undefined, T0);
    const p = statusPatch(a, {})!;
    assert.equal(p.status.phase, 'Pending');
    assert.equal(p.status.podIP, '127.0.1.2');
  });
});
