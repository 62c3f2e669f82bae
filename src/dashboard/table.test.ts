import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeriesTable } from './table.ts';

test('rows share one time axis; a missing or late column is null where it had no value', () => {
  const table = new SeriesTable(10);
  table.push(1000, { a: 1 });
  table.push(2000, { a: 2, b: 20 });
  table.push(3000, { b: 30, c: NaN });
  assert.deepEqual(table.window(), { t: [1, 2, 3], columns: { a: [1, 2, null], b: [null, 20, 30] } });
  assert.deepEqual(table.window(2000), { t: [2, 3], columns: { a: [2, null], b: [20, 30] } });
  assert.deepEqual(table.latest(), { a: 2, b: 30 });
});

test('the ring keeps the newest `capacity` rows, and a column with no value left goes', () => {
  const table = new SeriesTable(3);
  table.push(1000, { gone: 1, x: 1 });
  for (let i = 2; i <= 5; i++) table.push(i * 1000, { x: i });
  assert.equal(table.size, 3);
  assert.deepEqual(table.window(), { t: [3, 4, 5], columns: { x: [3, 4, 5] } });
  assert.deepEqual(table.latest(), { x: 5 });
  assert.throws(() => new SeriesTable(0));
});
