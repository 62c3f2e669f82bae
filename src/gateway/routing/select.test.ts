import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRoutingTable } from './table.ts';
import { selectRoute, type RouteSelection } from './select.ts';
import { modelRoute, modelServer, pod, toServers } from '../testing/fixtures.ts';

const servers = ['gold', 'silver', 'canary', 'stable', 'empty'].map((n) => modelServer(n, { inferName: n }));
const pods = ['gold', 'silver', 'canary', 'stable'].map((n, i) => pod(`${n}-0`, n, { ip: `10.0.0.${i + 1}` }));

function sel(r: RouteSelection | string): string {
  return typeof r === 'string' ? r : `${r.route.name}/${r.rule.index}/${r.server.name}`;
}

test('rules in order: first match wins; header exact/prefix/regex and uri', () => {
  const table = buildRoutingTable({
    servers,
    pods,
    routes: [
      modelRoute('r', 'm', [
        { name: 'gold', modelMatch: { headers: { 'x-tier': { exact: 'gold' } } }, targetModels: [{ modelServerName: 'gold' }] },
        { name: 'beta', modelMatch: { headers: { 'x-user': { prefix: 'beta-' } } }, targetModels: [{ modelServerName: 'canary' }] },
        { name: 'chat', modelMatch: { uri: { regex: '^/v1/chat/' } }, targetModels: [{ modelServerName: 'silver' }] },
        { name: 'rest', targetModels: [{ modelServerName: 'stable' }] },
      ]),
    ],
  });
  const m = table.models.get('m')!;
  assert.equal(sel(selectRoute(m, { 'x-tier': 'gold', 'x-user': 'beta-1' }, '/v1/chat/completions')), 'r/0/gold');
  assert.equal(sel(selectRoute(m, { 'x-user': 'beta-1' }, '/v1/chat/completions')), 'r/1/canary');
  assert.equal(sel(selectRoute(m, { 'x-user': 'alpha' }, '/v1/chat/completions')), 'r/2/silver');
  assert.equal(sel(selectRoute(m, {}, '/v1/completions')), 'r/3/stable');
});

test('no matching rule; matched rule without ready servers; fall through to the next route', () => {
  const table = buildRoutingTable({
    servers,
    pods,
    routes: [
      modelRoute('only-gold', 'a', [{ modelMatch: { headers: { 'x-tier': { exact: 'gold' } } }, targetModels: [{ modelServerName: 'gold' }] }]),
      modelRoute('empty', 'b', [toServers('empty')]),
      modelRoute('first', 'c', [toServers('empty')], { created: '2025-01-01T00:00:00Z' }),
      modelRoute('second', 'c', [toServers('stable')], { created: '2025-01-02T00:00:00Z' }),
    ],
  });
  assert.equal(selectRoute(table.models.get('a')!, {}, '/v1/completions'), 'no_rule');
  assert.equal(selectRoute(table.models.get('b')!, {}, '/v1/completions'), 'no_upstream');
  assert.equal(sel(selectRoute(table.models.get('c')!, {}, '/v1/completions')), 'second/0/stable');
});

test('weighted targets: 70/30 and 50:30 normalised to 5/8:3/8', () => {
  const table = buildRoutingTable({
    servers,
    pods,
    routes: [modelRoute('r1', 'a', [toServers(['stable', 70], ['canary', 30])]), modelRoute('r2', 'b', [toServers(['stable', 50], ['canary', 30])])],
  });
  const N = 20_000;
  for (const [model, expected] of [['a', 0.3], ['b', 3 / 8]] as const) {
    let canary = 0;
    const entry = table.models.get(model)!;
    for (let i = 0; i < N; i++) {
      const r = selectRoute(entry, {}, '/v1/completions');
      assert.notEqual(typeof r, 'string');
      if ((r as RouteSelection).server.name === 'canary') canary++;
    }
    // 5 sigma of a binomial at N = 20000 is about 0.017.
    assert.ok(Math.abs(canary / N - expected) < 0.02, `${model}: canary share ${canary / N}, expected ${expected}`);
  }
  // Deterministic edges of the draw.
  const rule = table.models.get('a')!.routes[0]!.rules[0]!;
  assert.equal(sel(selectRoute(table.models.get('a')!, {}, '/', () => 0)), 'r1/0/stable');
  assert.equal(sel(selectRoute(table.models.get('a')!, {}, '/', () => 0.6999)), 'r1/0/stable');
  assert.equal(sel(selectRoute(table.models.get('a')!, {}, '/', () => 0.7)), 'r1/0/canary');
  assert.equal(sel(selectRoute(table.models.get('a')!, {}, '/', () => 0.99999)), 'r1/0/canary');
  assert.equal(rule.total, 100);
});
