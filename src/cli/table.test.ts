import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignColumns, humanAge, renderTable } from './table.ts';

test('ages read like kubectl: seconds, minutes, hours, days', () => {
  const now = Date.parse('2026-01-02T00:00:00Z');
  assert.equal(humanAge('2026-01-01T23:59:30Z', now), '30s');
  assert.equal(humanAge('2026-01-01T23:55:00Z', now), '5m');
  assert.equal(humanAge('2026-01-01T21:00:00Z', now), '3h');
  assert.equal(humanAge('2025-12-28T00:00:00Z', now), '5d');
});

test('tables hide wide-only columns, add NAMESPACE with -A and prefix the kind when listing several', () => {
  const table = {
    columnDefinitions: [
      { name: 'Name', type: 'string' },
      { name: 'Phase', type: 'string' },
      { name: 'Image', type: 'string', priority: 1 },
    ],
    rows: [{ cells: ['llama-7b', 'Ready', 'img'], object: { metadata: { namespace: 'default', name: 'llama-7b' } } }],
  };
  assert.deepEqual(renderTable(table, { wide: false, withNamespace: true, prefix: 'model.registry.matrixinfer.ai' }), [
    ['NAMESPACE', 'NAME', 'PHASE'],
    ['default', 'model.registry.matrixinfer.ai/llama-7b', 'Ready'],
  ]);
  assert.deepEqual(renderTable(table, { wide: true, withNamespace: false })[1], ['llama-7b', 'Ready', 'img']);
  assert.equal(alignColumns([['A', 'B'], ['long-name', 'x']]), 'A           B\nlong-name   x');
});

test('missing cells print as <none>', () => {
  const rows = renderTable({ columnDefinitions: [{ name: 'Name', type: 'string' }, { name: 'Ready', type: 'integer' }], rows: [{ cells: ['a', undefined] }] }, { wide: false, withNamespace: false });
  assert.deepEqual(rows[1], ['a', '<none>']);
});

test('cells are printed as the server wrote them: a date printer column already reads as an age', () => {
  const table = {
    columnDefinitions: [{ name: 'Name', type: 'string' }, { name: 'Age', type: 'date' }, { name: 'Created At', type: 'date' }],
    rows: [{ cells: ['llama-7b', '5m', '2026-01-01T00:00:00Z'] }],
  };
  assert.deepEqual(renderTable(table, { wide: false, withNamespace: false })[1], ['llama-7b', '5m', '2026-01-01T00:00:00Z']);
});
