import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AutoscalingPolicyBinding } from '../../api/kinds/index.ts';
import { bindingStatus } from './status.ts';
import { capacityOf, costOf, distribute, formatCost, parseCost, stuck, targetsOf, type VariantState } from './variants.ts';

/** A variant with defaults: weight 1, bounds 0..∞, nothing pending. */
const v = (name: string, cost: string, over: Partial<VariantState> = {}): VariantState => ({ name, costMilli: parseCost(cost)!, weight: 1, min: 0, max: Infinity, current: 0, pending: 0, ...over });

test('costs parse exactly as milli-units and print back', () => {
  assert.equal(parseCost('2.49'), 2490);
  assert.equal(parseCost('0.001'), 1);
  assert.equal(parseCost('12'), 12000);
  assert.equal(parseCost('0'), 0);
  for (const bad of ['', '-1', '1.2345', '01', '1e3', '.5', ' 1']) assert.equal(parseCost(bad), undefined, bad);
  assert.equal(formatCost(2490), '2.49');
  assert.equal(formatCost(3000), '3');
  assert.equal(formatCost(5), '0.005');
});

test('scale-up fills the cheapest variant to its max, then the next cheapest', () => {
  const variants = [v('dear', '4', { current: 1, max: 4 }), v('cheap', '1', { current: 1, max: 3 })];
  assert.deepEqual(distribute(3, variants), { desired: [1, 2], capacity: 3, short: 0 });
  assert.deepEqual(distribute(4, variants), { desired: [1, 3], capacity: 4, short: 0 });
  assert.deepEqual(distribute(6, variants), { desired: [3, 3], capacity: 6, short: 0 });
  assert.deepEqual(distribute(9, variants), { desired: [4, 3], capacity: 7, short: 2 });
});

test('scale-down removes the most expensive first, down to each variant min', () => {
  const variants = [v('dear', '4', { current: 3, min: 1 }), v('cheap', '1', { current: 3, min: 1 })];
  assert.deepEqual(distribute(4, variants).desired, [1, 3]);
  assert.deepEqual(distribute(2, variants).desired, [1, 1]);
  assert.deepEqual(distribute(1, variants), { desired: [1, 1], capacity: 2, short: 0 });
});

test('a variant with pending pods is never scaled further; the next cheapest takes the load', () => {
  const stuck = [v('cheap', '1', { current: 1, pending: 1 }), v('dear', '4', { current: 1 })];
  assert.deepEqual(distribute(4, stuck).desired, [1, 3]);
  // Pending everywhere, or the only free variant at its max: the shortfall is reported, nothing else moves.
  assert.deepEqual(distribute(4, [v('cheap', '1', { current: 1, pending: 1 }), v('dear', '4', { current: 1, pending: 1 })]), { desired: [1, 1], capacity: 2, short: 2 });
  assert.deepEqual(distribute(4, [v('cheap', '1', { current: 1, pending: 1 }), v('dear', '4', { current: 2, max: 2 })]).short, 1);
  // Pending pods do not stop a scale-down (most expensive first as ever).
  assert.deepEqual(distribute(1, [v('cheap', '1', { current: 1, pending: 1 }), v('dear', '4', { current: 2 })]).desired, [1, 0]);
});

test('per-variant bounds apply at once, whatever pending or the total', () => {
  const variants = [v('a', '1', { current: 0, min: 2, pending: 0 }), v('b', '2', { current: 5, max: 3 })];
  assert.deepEqual(distribute(5, variants).desired, [2, 3]);
  assert.deepEqual(distribute(1, variants).desired, [2, 0]);
  assert.deepEqual(distribute(0, [v('a', '1', { current: 0, min: 1, pending: 1 })]).desired, [1]);
});

test('mixed weights: cost per capacity unit decides, and the total is in units', () => {
  // H100 does 2 units at 3/h (1.5 per unit), A100 does 1 unit at 2/h: the H100 is cheaper per unit.
  const variants = [v('a100', '2', { current: 1 }), v('h100', '3', { weight: 2, current: 0, max: 2 })];
  assert.equal(capacityOf(variants), 1);
  assert.deepEqual(distribute(4, variants), { desired: [1, 2], capacity: 5, short: 0 });
  // An odd remainder overshoots by less than one heavy replica.
  assert.deepEqual(distribute(2, variants), { desired: [1, 1], capacity: 3, short: 0 });
  // No flapping on the overshoot: at 4 units for a total of 3 nothing can go without falling below 3.
  assert.deepEqual(distribute(3, [v('a100', '2', { current: 0 }), v('h100', '3', { weight: 2, current: 2 })]).desired, [0, 2]);
  // 3 units for a total of 2: the a100 replica goes (dearer per unit), which is exact.
  assert.deepEqual(distribute(2, [v('a100', '2', { current: 1 }), v('h100', '3', { weight: 2, current: 1 })]).desired, [0, 1]);
  // Scale-down takes the dearer per unit (a100) first, then h100 as far as the total allows.
  assert.deepEqual(distribute(2, [v('a100', '2', { current: 2 }), v('h100', '3', { weight: 2, current: 2 })]).desired, [0, 1]);
  assert.equal(costOf(variants, [1, 2]), 8000);
});

test('ties are broken by name: up fills the first name, down empties the last', () => {
  const variants = [v('zeta', '1', { current: 1 }), v('alpha', '1', { current: 1 })];
  assert.deepEqual(distribute(3, variants).desired, [1, 2]);
  assert.deepEqual(distribute(1, [v('zeta', '1', { current: 1 }), v('alpha', '1', { current: 1 })]).desired, [0, 1]);
  // Same cost per unit through different weights is a tie too.
  assert.deepEqual(distribute(3, [v('b', '2', { weight: 2, current: 0 }), v('a', '1', { current: 0 })]).desired, [0, 3]);
});

test('targetsOf: exactly one of targetRef and variants', () => {
  const base = { policyRef: { name: 'p' }, maxReplicas: 3 };
  assert.deepEqual(targetsOf({ ...base, targetRef: { name: 't' } }), { kind: 'single', name: 't' });
  const variants = [{ targetRef: { name: 'a' }, costPerReplica: '1' }];
  assert.deepEqual(targetsOf({ ...base, variants }), { kind: 'variants', variants });
  assert.equal(targetsOf({ ...base, targetRef: { name: 't' }, variants }), undefined);
  assert.equal(targetsOf(base), undefined);
});

test('binding status with variants: counts in capacity units, per-variant rows, cost per hour, VariantsPending', () => {
  const binding = { metadata: { name: 'b', generation: 1 }, spec: { policyRef: { name: 'p' }, variants: [], maxReplicas: 6 } } as unknown as AutoscalingPolicyBinding;
  const rows = [
    { name: 'cheap', current: 1, ready: 0, pending: 1, desired: 1, costPerReplica: '0.5', capacityWeight: 1 },
    { name: 'dear', current: 3, ready: 1, pending: 0, desired: 3, costPerReplica: '3', capacityWeight: 1 },
  ];
  const s = bindingStatus(
    binding,
    { kind: 'decided', current: 2, ready: 1, decision: { replicas: 6, mode: 'Stable', reason: 'recommended 6' }, recommendation: undefined,
      signals: [], variants: { rows, reached: 4, short: 2, costMilli: 9500 } },
    new Date('2025-01-01T00:00:00Z'),
  );
  assert.equal(s.currentReplicas, 4);
  assert.equal(s.desiredReplicas, 6);
  assert.deepEqual(s.history?.map((h) => [h.from, h.to]), [[2, 4]]);
  assert.deepEqual(s.variants, rows);
  assert.equal(s.costPerHour, '9.5');
  assert.equal(s.conditions?.find((c) => c.type === 'ScalingLimited')?.reason, 'VariantsPending');
});

test('a stuck variant keeps what is ready (not below its min): its pending replicas go and the next cheapest takes them', () => {
  const v = (name: string, costMilli: number, current: number, pending: number, min = 0): VariantState => ({ name, costMilli, weight: 1, min, max: 8, current, pending });
  const cheapStuck = stuck(v('h100', 500, 3, 2));
  assert.equal(cheapStuck.max, 1);
  const plan = distribute(4, [cheapStuck, v('a100', 3000, 1, 0)]);
  assert.deepEqual(plan.desired, [1, 3]);
  assert.equal(stuck(v('h100', 500, 3, 3, 2)).max, 2, 'the operator\'s min stays');
});
