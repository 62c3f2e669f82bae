// StaticRoutes in the routing table (static-routes.ts, table.ts): one server per model with the healthy backends as
// endpoints, the profile from routingLogic, refused backends as problems, host names kept for the pool to resolve, and
// which route serves a model name that a ModelRoute serves too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRoutingTable } from './table.ts';
import { selectRoute } from './select.ts';
import { EndpointRegistry } from '../scheduling/endpoint.ts';
import { modelRoute, modelServer, pod, staticRoute, toServers } from '../testing/fixtures.ts';

const SEED = { routingLogic: 'roundrobin' as const, staticBackends: 'http://localhost:9001,http://localhost:9002,http://localhost:9003', staticModels: 'facebook/opt-125m,meta-llama/Llama-3.1-8B-Instruct,facebook/opt-125m' };

test("the seed's StaticRoute: one server per model, its healthy backends the endpoints; unhealthy or unprobed ones left out", () => {
  const table = buildRoutingTable({ servers: [], routes: [], pods: [], staticRoutes: [staticRoute('staticroute-sample', SEED, ['http://localhost:9001', 'http://localhost:9003'])] });
  const opt = table.servers.get('staticroute/default/staticroute-sample/facebook/opt-125m')!;
  assert.equal(opt.kind, 'StaticRoute');
  assert.deepEqual(opt.endpoints.map((e) => [e.podKey, e.origin]), [
    ['default/localhost:9001', 'http://localhost:9001'],
    ['default/localhost:9003', 'http://localhost:9003'],
  ]);
  assert.equal(opt.model, undefined, 'the request names the backend model: not rewritten');
  assert.equal(opt.scheduling.profile.policy, 'round-robin');
  assert.deepEqual(opt.routeKeys, ['staticroute/default/staticroute-sample']);
  const llama = table.servers.get('staticroute/default/staticroute-sample/meta-llama/Llama-3.1-8B-Instruct')!;
  assert.deepEqual(llama.endpoints, [], 'unhealthy');
  // Both names are served (a 503 for the one without a healthy backend) and listed.
  const optRule = table.models.get('facebook/opt-125m')!.routes[0]!.rules[0]!;
  assert.deepEqual(optRule.targets, [opt]);
  const llamaRule = table.models.get('meta-llama/Llama-3.1-8B-Instruct')!.routes[0]!.rules[0]!;
  assert.deepEqual([llamaRule.targets.length, llamaRule.resolvable], [0, true]);
  assert.equal(selectRoute(table.models.get('meta-llama/Llama-3.1-8B-Instruct')!, {}, '/v1/chat/completions'), 'no_upstream');
  assert.deepEqual(JSON.parse(table.modelList.toString()).data.map((m: { id: string }) => m.id), ['facebook/opt-125m', 'meta-llama/Llama-3.1-8B-Instruct']);
  assert.equal(table.endpoints.size, 2);
  assert.deepEqual(table.problems, []);

  // No status at all (the controller has not probed yet): nothing is served.
  const unprobed = { ...staticRoute('staticroute-sample', SEED), status: undefined };
  assert.deepEqual(buildRoutingTable({ servers: [], routes: [], pods: [], staticRoutes: [unprobed] }).servers.get(opt.key)!.endpoints, []);
});

test('routingLogic → profile: roundrobin, session (sessionKey header, else the cookie of that name), prefixaware, kvaware', () => {
  const profile = (spec: Record<string, string>) => {
    const table = buildRoutingTable({ servers: [], routes: [], pods: [], staticRoutes: [staticRoute('r', { staticBackends: 'http://10.0.0.1:8000', staticModels: 'm', ...spec }, ['http://10.0.0.1:8000'])] });
    return table.servers.get('staticroute/default/r/m')!.scheduling.profile;
  };
  assert.equal(profile({}).policy, 'round-robin', 'the default');
  assert.deepEqual(profile({ routingLogic: 'roundrobin' }).scorers, []);
  const session = profile({ routingLogic: 'session', sessionKey: 'x-user-id' });
  assert.equal(session.policy, 'session-affinity');
  assert.deepEqual(session.scorers.map((s) => s.name), ['session-affinity', 'least-request']);
  assert.deepEqual([(session.scorers[0] as unknown as { header: string }).header, (session.scorers[0] as unknown as { cookie: string }).cookie], ['x-user-id', 'x-user-id']);
  assert.deepEqual(profile({ routingLogic: 'prefixaware' }).scorers.map((s) => s.name), ['prefix-cache', 'least-request']);
  assert.deepEqual(profile({ routingLogic: 'kvaware' }).scorers.map((s) => [s.name, s.weight]), [['prefix-cache', 3], ['queue', 1], ['lora-affinity', 2], ['kv-cache', 1]]);
  // Identical sections share one compiled profile across rebuilds (prefix statistics survive).
  assert.equal(profile({ routingLogic: 'kvaware' }), profile({ routingLogic: 'kvaware' }));
});

test('backends: https and paths refused with a problem; host names kept for the pool to resolve; default port 80; IPv6; a URL listed twice counts once', () => {
  const urls = ['https://vllm.example.com', 'http://10.0.0.1:8000/v1', 'http://vllm.internal', 'http://[fd00::5]:8000', 'http://vllm.internal/'];
  const table = buildRoutingTable({
    servers: [],
    routes: [],
    pods: [],
    staticRoutes: [staticRoute('r', { staticBackends: urls.join(','), staticModels: 'm,m,m,m,m' }, urls.map((u) => u.replace(/\/+$/, '')), { namespace: 'ext' })],
  });
  const m = table.servers.get('staticroute/ext/r/m')!;
  assert.deepEqual(m.endpoints.map((e) => [e.podName, e.ip, e.port, e.origin]), [
    ['[fd00::5]:8000', 'fd00::5', 8000, 'http://[fd00::5]:8000'],
    ['vllm.internal', 'vllm.internal', 80, 'http://vllm.internal:80'],
  ]);
  assert.deepEqual(table.problems, [
    `StaticRoute ext/r: backend "https://vllm.example.com" for m is https: the gateway's upstream client speaks cleartext HTTP only; left out`,
    `StaticRoute ext/r: backend "http://10.0.0.1:8000/v1" for m has a path (/v1): requests go to the backend's root; left out`,
  ]);
});

test('a name served by a ModelRoute and a StaticRoute: ModelRoutes first (oldest first), then StaticRoutes (oldest first); a route without a ready target hands over', () => {
  const world = (podReady: boolean) => ({
    servers: [modelServer('pods', { inferName: 'pods' })],
    routes: [modelRoute('managed', 'shared', [toServers('pods')], { created: '2025-06-01T00:00:00Z' })],
    pods: [pod('pods-0', 'pods', { ip: '10.0.0.9', ready: podReady })],
    staticRoutes: [
      staticRoute('newer', { staticBackends: 'http://10.0.1.2:8000', staticModels: 'shared' }, ['http://10.0.1.2:8000'], { created: '2025-03-01T00:00:00Z' }),
      staticRoute('older', { staticBackends: 'http://10.0.1.1:8000', staticModels: 'shared' }, ['http://10.0.1.1:8000'], { created: '2025-02-01T00:00:00Z' }),
    ],
  });
  // The ModelRoute is the newest object of all, and still comes first.
  const table = buildRoutingTable(world(true));
  const entry = table.models.get('shared')!;
  assert.deepEqual(entry.routes.map((r) => r.key), ['default/managed', 'staticroute/default/older', 'staticroute/default/newer']);
  const pick = selectRoute(entry, {}, '/v1/chat/completions');
  assert.ok(pick !== 'no_rule' && pick !== 'no_upstream');
  assert.equal(pick.server.key, 'default/pods');
  // No ready pod: the older StaticRoute serves.
  const fallback = selectRoute(buildRoutingTable(world(false)).models.get('shared')!, {}, '/v1/chat/completions');
  assert.ok(fallback !== 'no_rule' && fallback !== 'no_upstream');
  assert.equal(fallback.server.key, 'staticroute/default/older/shared');
  // A ModelRoute's LoRA adapter of the same name stays an adapter (its requests are not rewritten).
  const lora = buildRoutingTable({
    servers: [modelServer('pods', { inferName: 'pods', model: 'base' })],
    routes: [modelRoute('managed', 'base', [toServers('pods')], { loraAdapters: ['shared'] })],
    pods: [],
    staticRoutes: world(true).staticRoutes,
  });
  assert.equal(lora.models.get('shared')!.lora, true);
});

test('backend endpoints keep their counters across rebuilds and are shared by StaticRoutes naming the same backend; one that turns unhealthy leaves', () => {
  const registry = new EndpointRegistry();
  const a = staticRoute('a', { staticBackends: 'http://10.0.0.1:8000,http://10.0.0.2:8000', staticModels: 'm,m' }, ['http://10.0.0.1:8000', 'http://10.0.0.2:8000']);
  const b = staticRoute('b', { staticBackends: 'http://10.0.0.1:8000', staticModels: 'other' }, ['http://10.0.0.1:8000']);
  const t1 = buildRoutingTable({ servers: [], routes: [], pods: [], staticRoutes: [a, b] }, registry);
  const [e1, e2] = t1.servers.get('staticroute/default/a/m')!.endpoints;
  assert.equal(t1.servers.get('staticroute/default/b/other')!.endpoints[0], e1);
  e1!.inflight = 2;
  const down = staticRoute('a', a.spec, ['http://10.0.0.1:8000']);
  const t2 = buildRoutingTable({ servers: [], routes: [], pods: [], staticRoutes: [down, b] }, registry);
  assert.deepEqual(t2.servers.get('staticroute/default/a/m')!.endpoints, [e1]);
  assert.equal(e1!.inflight, 2);
  assert.equal(e2!.active, false);
  assert.equal(registry.size, 1, 'the idle one is forgotten');
});
