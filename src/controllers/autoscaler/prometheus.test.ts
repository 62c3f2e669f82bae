import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandQuery, readAnswer, queryPrometheus } from './prometheus.ts';

test('expandQuery fills $namespace, $target and $pods as whole words', () => {
  const ctx = { namespace: 'team-a', targets: ['llama-a100', 'llama-h100'], pods: ['p-0', 'p-1'] };
  assert.equal(
    expandQuery('avg(rt{namespace="$namespace",modelinfer=~"$target",pod=~"$pods"}) + $targets', ctx),
    'avg(rt{namespace="team-a",modelinfer=~"llama-a100|llama-h100",pod=~"p-0|p-1"}) + $targets',
  );
});

test('readAnswer: a scalar or one series is a number; anything else says why not', () => {
  assert.deepEqual(readAnswer({ status: 'success', data: { resultType: 'scalar', result: [1, '2.5'] } }), { ok: true, value: 2.5 });
  assert.deepEqual(readAnswer({ status: 'success', data: { resultType: 'vector', result: [{ value: [1, '7'] }] } }), { ok: true, value: 7 });
  assert.deepEqual(readAnswer({ status: 'success', data: { resultType: 'vector', result: [] } }), { ok: false, error: 'the query returned no series' });
  assert.match((readAnswer({ status: 'success', data: { resultType: 'vector', result: [{ value: [1, '1'] }, { value: [1, '2'] }] } }) as { error: string }).error, /2 series; aggregate/);
  assert.deepEqual(readAnswer({ status: 'success', data: { resultType: 'vector', result: [{ value: [1, 'NaN'] }] } }), { ok: false, error: 'the query returned NaN' });
  assert.match((readAnswer({ status: 'success', data: { resultType: 'matrix', result: [] } }) as { error: string }).error, /matrix result/);
  assert.deepEqual(readAnswer({ status: 'error', errorType: 'bad_data', error: 'parse error' }), { ok: false, error: 'prometheus: bad_data: parse error' });
});

test('queryPrometheus: nothing listening is an error naming the address', async () => {
  const r = await queryPrometheus('http://127.0.0.1:9', 'up', 500);
  assert.equal(r.ok, false);
  assert.match((r as { error: string }).error, /prometheus at http:\/\/127\.0\.0\.1:9/);
});
