import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRoutingTable, isPodReady } from './table.ts';
import { EndpointRegistry } from '../scheduling/endpoint.ts';
import { modelRoute, modelServer, pod, toServers } from '../testing/fixtures.ts';

test('pod readiness: Ready=True, podIP set, not deleting', () => {
  assert.ok(isPodReady(pod('a', 'x', { ip: '10.0.0.1' })));
  assert.ok(!isPodReady(pod('a', 'x', { ip: '10.0.0.1', ready: false })));
  assert.ok(!isPodReady(pod('a', 'x', {})), 'no podIP');
  assert.ok(!isPodReady(pod('a', 'x', { ip: '10.0.0.1', deleting: true })));
  assert.ok(!isPodReady({ metadata: { name: 'a' }, status: { podIP: '1.2.3.4' } }), 'no conditions');
});

test('endpoints: selected by ModelInfer label in the right namespace, only ready ones, targetPort ?? port', () => {
  const table = buildRoutingTable({
    servers: [
      modelServer('s1', { inferName: 'llama', service: { port: 8080, targetPort: 8000 } }),
      modelServer('s2', { inferName: 'llama', modelInferRef: { name: 'llama', namespace: 'ml' }, service: { port: 9000 } }),
      modelServer('s3', { inferName: 'nothing' }),
    ],
    routes: [],
    pods: [
      pod('llama-0', 'llama', { ip: '10.0.0.2' }),
      pod('llama-1', 'llama', { ip: '10.0.0.1' }),
      pod('llama-2', 'llama', { ip: '10.0.0.3', ready: false }),
      pod('llama-3', 'llama', { ip: '10.0.0.4', deleting: true }),
      pod('llama-4', 'llama', {}),
      pod('other-0', 'other', { ip: '10.0.0.5' }),
      pod('llama-ml', 'llama', { ip: '10.1.0.1', namespace: 'ml' }),
    ],
  });
  const s1 = table.servers.get('default/s1')!;
  assert.deepEqual(s1.endpoints.map((e) => `${e.podName}@${e.ip}:${e.port}`), ['llama-0@10.0.0.2:8000', 'llama-1@10.0.0.1:8000']);
  const s2 = table.servers.get('default/s2')!;
  assert.deepEqual(s2.endpoints.map((e) => `${e.podKey}@${e.ip}:${e.port}`), ['ml/llama-ml@10.1.0.1:9000']);
  assert.equal(table.servers.get('default/s3')!.endpoints.length, 0);
  assert.equal(table.endpoints.size, 3);
});

test('endpoint objects (and their counters) survive rebuilds; departed idle ones are forgotten', () => {
  const registry = new EndpointRegistry();
  const servers = [modelServer('s', { inferName: 'm' })];
  const routes = [modelRoute('r', 'm', [toServers('s')])];
  const t1 = buildRoutingTable({ servers, routes, pods: [pod('p0', 'm', { ip: '10.0.0.1' }), pod('p1', 'm', { ip: '10.0.0.2' })] }, registry);
  const [e0, e1] = t1.servers.get('default/s')!.endpoints;
  e0!.inflight = 3;
  e1!.inflight = 1;
  const t2 = buildRoutingTable({ servers, routes, pods: [pod('p0', 'm', { ip: '10.0.0.1' })] }, registry);
  assert.equal(t2.servers.get('default/s')!.endpoints[0], e0);
  assert.equal(e0!.inflight, 3);
  assert.equal(e1!.active, false, 'removed but still busy');
  assert.equal(registry.size, 2);
  e1!.inflight = 0;
  buildRoutingTable({ servers, routes, pods: [pod('p0', 'm', { ip: '10.0.0.1' })] }, registry);
  assert.equal(registry.size, 1);
});

test('routes: indexed by model name and LoRA adapters, oldest first; targets resolve in the route namespace', () => {
  const table = buildRoutingTable({
    servers: [
      modelServer('a', { inferName: 'a', model: 'meta-llama/Llama-2-7b' }),
      modelServer('b', { inferName: 'b' }),
      modelServer('a', { inferName: 'a' }, { namespace: 'team' }),
    ],
    routes: [
      modelRoute('newer', 'llama', [toServers('b')], { created: '2025-02-01T00:00:00Z' }),
      modelRoute('older', 'llama', [toServers('a', 'missing')], { created: '2025-01-01T00:00:00Z', loraAdapters: ['sql-lora'] }),
      modelRoute('team', 'team-model', [toServers('a')], { namespace: 'team' }),
    ],
    pods: [pod('a-0', 'a', { ip: '10.0.0.1' }), pod('b-0', 'b', { ip: '10.0.0.2' })],
  });
  const llama = table.models.get('llama')!;
  assert.deepEqual(llama.routes.map((r) => r.key), ['default/older', 'default/newer']);
  assert.equal(llama.lora, false);
  assert.equal(table.models.get('sql-lora')!.lora, true);
  // 'missing' is reported, 'a' stays.
  const rule = llama.routes[0]!.rules[0]!;
  assert.deepEqual(rule.targets.map((t) => t.key), ['default/a']);
  assert.ok(table.problems.some((p) => p.includes('default/missing')));
  // team/a has no endpoints (its pods would be in namespace team): not in the weighted set, but resolvable.
  const teamRule = table.models.get('team-model')!.routes[0]!.rules[0]!;
  assert.equal(teamRule.total, 0);
  assert.equal(teamRule.resolvable, true);
  const list = JSON.parse(table.modelList.toString());
  assert.equal(list.object, 'list');
  assert.deepEqual(list.data.map((m: { id: string }) => m.id), ['llama', 'sql-lora', 'team-model']);
  assert.ok(list.data.every((m: { owned_by: string; object: string }) => m.owned_by === 'matrixinfer' && m.object === 'model'));
});

test('weights: default 100, 0 excluded, servers without endpoints excluded, cumulative sums', () => {
  const table = buildRoutingTable({
    servers: ['a', 'b', 'c', 'd'].map((n) => modelServer(n, { inferName: n })),
    routes: [modelRoute('r', 'm', [toServers(['a', 70], ['b', 30], ['c', 0], 'd')])],
    pods: [pod('a-0', 'a', { ip: '10.0.0.1' }), pod('b-0', 'b', { ip: '10.0.0.2' }), pod('c-0', 'c', { ip: '10.0.0.3' })],
  });
  const rule = table.models.get('m')!.routes[0]!.rules[0]!;
  assert.deepEqual(rule.targets.map((t) => t.name), ['a', 'b']);
  assert.deepEqual(rule.cumulative, [70, 100]);
  assert.equal(rule.total, 100);
});

test('seed paths, infer model name and timeouts', () => {
  const table = buildRoutingTable({
    servers: [
      modelServer('llama-server', { inferName: 'x', routing: { path: '/v1/models/llama-7b/', timeout: '30s' } }),
      modelServer('dup', { inferName: 'y', routing: { path: '/v1/models/llama-7b' } }, { created: '2025-03-01T00:00:00Z' }),
      modelServer('spec-model', { inferName: 'z', model: 'qwen', routing: { path: '/q', timeout: 'bogus' } }),
      modelServer('routed', { inferName: 'w', routing: { path: '/w' } }),
    ],
    routes: [modelRoute('r', 'w-model', [toServers('routed')])],
    pods: [],
  });
  const s = table.inferPaths.get('/v1/models/llama-7b/infer')!;
  assert.equal(s.name, 'llama-server');
  assert.equal(table.metaPaths.get('/v1/models/llama-7b')!.name, 'llama-server');
  assert.equal(s.inferModel, 'llama-7b');
  assert.equal(s.timeoutMs, 30_000);
  assert.ok(table.problems.some((p) => p.includes('default/dup')));
  const q = table.servers.get('default/spec-model')!;
  assert.equal(q.inferModel, 'qwen');
  assert.equal(q.timeoutMs, undefined);
  assert.equal(table.servers.get('default/routed')!.inferModel, 'w-model');
});

test('malformed objects do not break the build', () => {
  const table = buildRoutingTable({
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    servers: [{ metadata: { name: 'x' } } as any, modelServer('ok', {})],
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    routes: [{ metadata: { name: 'r' }, spec: {} } as any, { metadata: {}, spec: { rules: [] } } as any],
    pods: [{}, { metadata: { name: 'p', labels: null } }],
  });
  assert.ok(table.servers.has('default/ok'));
  assert.equal(table.models.size, 0);
});

test('a routing.path several ModelServers set belongs to the oldest, whatever order they are seen in', () => {
  const older = modelServer('zeta', { routing: { path: '/v1/models/shared' } }, { namespace: 'b', created: '2025-01-01T00:00:00Z' });
  const newer = modelServer('alpha', { routing: { path: '/v1/models/shared/' } }, { namespace: 'a', created: '2025-02-01T00:00:00Z' });
  const sameAge = modelServer('beta', { routing: { path: '/v1/models/shared' } }, { namespace: 'b', created: '2025-01-01T00:00:00Z' });
  for (const servers of [[older, newer, sameAge], [newer, sameAge, older], [sameAge, newer, older]]) {
    const table = buildRoutingTable({ servers, routes: [], pods: [] });
    // Same age: namespace/name decides (b/beta before b/zeta).
    assert.equal(table.metaPaths.get('/v1/models/shared')!.key, 'b/beta');
    assert.equal(table.inferPaths.get('/v1/models/shared/infer')!.key, 'b/beta');
    assert.deepEqual(table.problems.filter((p) => p.includes('already used')).sort(), [
      'ModelServer a/alpha: routing.path /v1/models/shared already used by b/beta',
      'ModelServer b/zeta: routing.path /v1/models/shared already used by b/beta',
    ]);
    assert.ok(table.servers.has('a/alpha'), 'the others stay in the table, reachable through routes');
  }
});

test("a rolling update's pods are routed only while ready and not terminating: the surge pod once ready, the old one until deleted", () => {
  const servers = [modelServer('s', { inferName: 'm' })];
  const at = (...pods: ReturnType<typeof pod>[]) =>
    buildRoutingTable({ servers, routes: [], pods }).servers.get('default/s')!.endpoints.map((e) => e.podName);
  // The ModelInfer controller's steps for one replica with a surge pod (plan.ts): never an empty set.
  assert.deepEqual(at(pod('m-0-server-0', 'm', { ip: '10.0.0.1' }), pod('m-1-server-0', 'm', { ip: '10.0.0.2', ready: false })), ['m-0-server-0']);
  assert.deepEqual(at(pod('m-0-server-0', 'm', { ip: '10.0.0.1' }), pod('m-1-server-0', 'm', { ip: '10.0.0.2' })), ['m-0-server-0', 'm-1-server-0']);
  assert.deepEqual(at(pod('m-0-server-0', 'm', { ip: '10.0.0.1', deleting: true }), pod('m-1-server-0', 'm', { ip: '10.0.0.2' })), ['m-1-server-0']);
  assert.deepEqual(at(pod('m-0-server-0', 'm', { ip: '10.0.0.3', ready: false }), pod('m-1-server-0', 'm', { ip: '10.0.0.2' })), ['m-1-server-0']);
  assert.deepEqual(at(pod('m-0-server-0', 'm', { ip: '10.0.0.3' }), pod('m-1-server-0', 'm', { ip: '10.0.0.2', deleting: true })), ['m-0-server-0']);
});

test('warm-pool pods (workload.matrixinfer.ai/warm=true) are never endpoints, though Ready; once the label goes, they are', () => {
  const servers = [modelServer('s', { inferName: 'm' })];
  const at = (...pods: ReturnType<typeof pod>[]) =>
    buildRoutingTable({ servers, routes: [], pods }).servers.get('default/s')!.endpoints.map((e) => e.podName);
  const warm = (p: ReturnType<typeof pod>, value = 'true') => ({ ...p, metadata: { ...p.metadata, labels: { ...p.metadata?.labels, 'workload.matrixinfer.ai/warm': value } } });
  const served = pod('m-0-server-0', 'm', { ip: '10.0.0.1' });
  const pool = pod('m-1-server-0', 'm', { ip: '10.0.0.2' });
  assert.deepEqual(at(served, warm(pool)), ['m-0-server-0'], 'asleep in the pool');
  assert.deepEqual(at(warm(served), warm(pool)), [], 'all warm: no endpoint');
  assert.deepEqual(at(served, pool), ['m-0-server-0', 'm-1-server-0'], 'claimed: the label removed');
  assert.deepEqual(at(served, warm(pool, 'false')), ['m-0-server-0', 'm-1-server-0'], 'only `true` means warm');
});
