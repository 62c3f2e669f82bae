import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Endpoint } from './endpoint.ts';
import { Scheduler } from './scheduler.ts';
import { deciderId, deciderName, PINNED, SINGLE, TIE } from './deciders.ts';
import type { Filter, Scorer, SchedulingRequest } from './types.ts';

function eps(n: number): Endpoint[] {
  return Array.from({ length: n }, (_, i) => new Endpoint('default', `p${i}`, `10.0.0.${i + 1}`, 8000));
}
const req = (): SchedulingRequest => ({ model: 'm', body: undefined, headers: {} });

test('least outstanding: picks the endpoint with fewest in-flight requests', () => {
  const s = new Scheduler();
  const e = eps(3);
  e[0]!.inflight = 4;
  e[1]!.inflight = 1;
  e[2]!.inflight = 2;
  assert.equal(s.schedule(req(), e, { rr: 0 }), e[1]);
  e[1]!.inflight = 5;
  assert.equal(s.schedule(req(), e, { rr: 0 }), e[2]);
});

test('ties go to the least recently picked endpoint (a rotation when all tie)', () => {
  const s = new Scheduler();
  const e = eps(3);
  const cursor = { rr: 0 };
  const picks = Array.from({ length: 4 }, () => s.schedule(req(), e, cursor)!.podName);
  assert.deepEqual(picks, ['p0', 'p1', 'p2', 'p0']);
  // p2 drops out of the tie: p1 (picked before p0) goes first, then they alternate. A cursor taken modulo the
  // number of ties (4 % 2) would start on p0, the pod that was just picked.
  e[2]!.inflight = 1;
  const picks2 = Array.from({ length: 4 }, () => s.schedule(req(), e, cursor)!.podName);
  assert.deepEqual(picks2, ['p1', 'p0', 'p1', 'p0']);
});

test('simulated load: counters keep endpoints balanced', () => {
  const s = new Scheduler();
  const e = eps(4);
  const cursor = { rr: 0 };
  for (let i = 0; i < 100; i++) s.schedule(req(), e, cursor)!.inflight++;
  assert.deepEqual(e.map((x) => x.inflight), [25, 25, 25, 25]);
});

test('empty and single candidate', () => {
  const s = new Scheduler();
  const e = eps(2);
  e[1]!.inflight = 9;
  assert.equal(s.schedule(req(), [e[1]!], { rr: 0 }), e[1]);
  assert.equal(s.schedule(req(), [], { rr: 0 }), undefined);
});

test('filters and weighted scorers compose', () => {
  const onlyEven: Filter = { name: 'even', filter: (_r, c) => c.filter((x) => Number(x.podName.slice(1)) % 2 === 0) };
  const preferHigh: Scorer = {
    name: 'high',
    weight: 3,
    score: (_r, c, out) => c.forEach((x, i) => (out[i] = Number(x.podName.slice(1)) * 10)),
  };
  const s = new Scheduler({ filters: [onlyEven], scorers: [preferHigh] });
  const e = eps(6);
  assert.equal(s.schedule(req(), e, { rr: 0 })!.podName, 'p4');
  const many = eps(200);
  assert.equal(s.schedule(req(), many, { rr: 0 })!.podName, 'p198', 'scratch buffers grow');
});

test('each pick counts what decided it: the scorer that put the pod ahead, or single, pinned, tie', () => {
  const counts = (ep: Endpoint) => Object.fromEntries(ep.decisions.flatMap((c, id) => (c > 0 ? [[deciderName(id), c]] : [])));
  // Two scorers: `near` slightly prefers p0, `far` strongly prefers p1 but weighs little.
  const table = (name: string, weight: number, by: Record<string, number>): Scorer => ({ name, weight, score: (_r, c, out) => c.forEach((x, i) => (out[i] = by[x.podName] ?? 0)) });
  const near = table('near', 5, { p0: 60, p1: 50 }); // weighted +50 for p0
  const far = table('far', 1, { p0: 0, p1: 30 }); // weighted +30 for p1
  const s = new Scheduler({ scorers: [near, far] });
  const e = eps(2);
  assert.equal(s.schedule(req(), e, { rr: 0 }), e[0]);
  assert.deepEqual(counts(e[0]!), { near: 1 });
  // The weights turned: p1 wins, and `far` decided it.
  const s2 = new Scheduler({ scorers: [table('near', 1, { p0: 60, p1: 50 }), table('far', 2, { p0: 0, p1: 30 })] });
  assert.equal(s2.schedule(req(), e, { rr: 0 }), e[1]);
  assert.deepEqual(counts(e[1]!), { far: 1 });
  // Equal totals: the picker broke a tie.
  const f = eps(3);
  new Scheduler().schedule(req(), f, { rr: 0 });
  assert.deepEqual(counts(f[0]!), { tie: 1 });
  // The default least-request scorer alone decides when loads differ.
  f[0]!.inflight = 3;
  f[2]!.inflight = 3;
  new Scheduler().schedule(req(), f, { rr: 0 });
  assert.deepEqual(counts(f[1]!), { 'least-request': 1 });
  // One candidate left, and a pinned pick.
  const g = eps(2);
  const sched = new Scheduler();
  sched.schedule(req(), [g[0]!], { rr: 0 });
  const r = req();
  sched.pin(r, g[1]!);
  sched.schedule(r, g, { rr: 0 });
  assert.equal(g[0]!.decisions[SINGLE], 1);
  assert.equal(g[1]!.decisions[PINNED], 1);
  assert.equal(deciderName(TIE), 'tie');
  assert.equal(deciderId('near'), deciderId('near'), 'names are interned');
});
