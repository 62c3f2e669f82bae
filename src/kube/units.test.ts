import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QUANTITY_FORMAT_ERROR, QUANTITY_SUFFIX_ERROR, formatQuantity, parseDuration, parseQuantity, readQuantity } from './units.ts';

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

test('resource quantities read exactly, with the API server’s errors, and print in canonical form', () => {
  const canonical = (text: string) => formatQuantity(readQuantity(text));
  const cases: [string, string][] = [
    ['2', '2'], ['2000m', '2'], ['1500m', '1500m'], ['0.5', '500m'], ['.5', '500m'], ['1000', '1k'], ['1500', '1500'],
    ['8Gi', '8Gi'], ['1024Mi', '1Gi'], ['1536Mi', '1536Mi'], ['1.5Gi', '1536Mi'], ['512Ki', '512Ki'], ['1Ki', '1Ki'],
    ['100', '100'], ['1e3', '1e3'], ['1E6', '1e6'], ['0', '0'], ['-1', '-1'], ['0.1n', '1n'], ['+3', '3'], ['1.', '1'],
  ];
  for (const [text, want] of cases) assert.equal(canonical(text), want, text);
  assert.equal(canonical(String(2)), '2');
  assert.ok(readQuantity('2').nanos > readQuantity('1').nanos);
  assert.ok(readQuantity('1Gi').nanos > readQuantity('1G').nanos);
  for (const bad of ['lots', '', '1GB', '1.2.3', '1 Gi', 'ten']) assert.throws(() => readQuantity(bad), { message: QUANTITY_FORMAT_ERROR }, bad);
  for (const bad of ['1K', '1Mm', '--1', '1e']) assert.throws(() => readQuantity(bad), { message: QUANTITY_SUFFIX_ERROR }, bad);
});
