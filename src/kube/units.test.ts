import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, parseQuantity } from './units.ts';

test('Go durations', () => {
  assert.equal(parseDuration('60s'), 60_000);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('1.5h'), 5_400_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('-2s'), -2000);
  assert.equal(parseDuration('10us'), 0.01);
  for (const bad of ['', '60', 's', '1d', '1m 30s', 'abc', '1.s.']) assert.equal(parseDuration(bad), undefined, bad);
});

test('resource quantities', () => {
  assert.equal(parseQuantity('2'), 2);
  assert.equal(parseQuantity(10), 10);
  assert.equal(parseQuantity('500m'), 0.5);
  assert.equal(parseQuantity('8Gi'), 8 * 2 ** 30);
  assert.equal(parseQuantity('1k'), 1000);
  assert.equal(parseQuantity('1e3'), 1000);
  assert.equal(parseQuantity('0.25'), 0.25);
  for (const bad of ['', 'ten', '1GB', '--1']) assert.equal(parseQuantity(bad), undefined, bad);
});
