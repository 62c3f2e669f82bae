import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDurationMs } from './duration.ts';

test('Go durations', () => {
  assert.equal(parseDurationMs('30s'), 30_000);
  assert.equal(parseDurationMs('1m30s'), 90_000);
  assert.equal(parseDurationMs('500ms'), 500);
  assert.equal(parseDurationMs('1.5h'), 5_400_000);
  assert.equal(parseDurationMs('2us'), 0.002);
  assert.equal(parseDurationMs(''), undefined);
  assert.equal(parseDurationMs('30'), undefined);
  assert.equal(parseDurationMs('s'), undefined);
  assert.equal(parseDurationMs('10s x'), undefined);
  assert.equal(parseDurationMs(undefined), undefined);
});
