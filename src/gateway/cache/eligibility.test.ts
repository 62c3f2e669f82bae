import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCacheControl, requestNotStorable, statusStorable } from './eligibility.ts';

test('cache-control request directives', () => {
  assert.deepEqual(parseCacheControl(undefined), { noCache: false, noStore: false });
  assert.deepEqual(parseCacheControl('No-Cache'), { noCache: true, noStore: false });
  assert.deepEqual(parseCacheControl('max-age=0, no-store'), { noCache: false, noStore: true });
  assert.deepEqual(parseCacheControl('no-cache,no-store'), { noCache: true, noStore: true });
});

test('n > 1 and temperatures above the bound are never stored; errors neither', () => {
  assert.equal(requestNotStorable({ n: 2 }, 1), 'n_above_1');
  assert.equal(requestNotStorable({ n: 1, temperature: 0.7 }, 1), undefined);
  assert.equal(requestNotStorable({ temperature: 1.2 }, 1), 'temperature');
  assert.equal(requestNotStorable({}, 1), undefined);
  assert.equal(requestNotStorable({}, 0.5), 'temperature', 'no temperature means the engine default, 1');
  assert.ok(statusStorable(200));
  for (const s of [400, 429, 500, 502]) assert.ok(!statusStorable(s));
});
