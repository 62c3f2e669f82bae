// StaticRoute: the ConfigMap, backend health and status (pure), and the prober against local HTTP servers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { StaticRoute } from '../../api/kinds/index.ts';
import { BackendProber, probeBackend } from './prober.ts';
import { computeStaticRouteStatus, desiredConfigMap, healthCheckOf, nextHealth, staticConfig, type BackendHealth } from './static-route.ts';
import { meta } from './fixtures.ts';

const seed: StaticRoute = {
  apiVersion: 'production-stack.vllm.ai/v1alpha1',
  kind: 'StaticRoute',
  metadata: meta('staticroute-sample'),
  spec: {
    serviceDiscovery: 'static',
    routingLogic: 'roundrobin',
    staticBackends: 'http://localhost:9001,http://localhost:9002,http://localhost:9003',
    staticModels: 'facebook/opt-125m,meta-llama/Llama-3.1-8B-Instruct,facebook/opt-125m',
    routerRef: { kind: 'Service', apiVersion: 'v1', name: 'vllm-router', namespace: 'default' },
    configMapName: 'vllm-router-config',
  },
};

test("the seed's ConfigMap: static_config.json in the router's dynamic-config keys", () => {
  const cm = desiredConfigMap(seed);
  assert.equal(cm.metadata.name, 'vllm-router-config');
  assert.deepEqual(JSON.parse((cm.data as Record<string, string>)['static_config.json']!), {
    service_discovery: 'static',
    routing_logic: 'roundrobin',
    static_backends: 'http://localhost:9001,http://localhost:9002,http://localhost:9003',
    static_models: 'facebook/opt-125m,meta-llama/Llama-3.1-8B-Instruct,facebook/opt-125m',
  });
  assert.equal(desiredConfigMap({ ...seed, spec: { ...seed.spec, configMapName: undefined } }).metadata.name, 'staticroute-sample-config');
  assert.deepEqual(JSON.parse(staticConfig({ staticBackends: ' http://a/ , http://b', staticModels: 'x, y', routingLogic: 'session', sessionKey: 'x-user-id' })), {
    service_discovery: 'static',
    routing_logic: 'session',
    static_backends: 'http://a,http://b',
    static_models: 'x,y',
    session_key: 'x-user-id',
  });
});

test('health: healthy after successThreshold good probes, unhealthy after failureThreshold bad ones', () => {
  const check = healthCheckOf({ staticBackends: '', staticModels: '', healthCheck: { successThreshold: 2, failureThreshold: 2 } });
  assert.deepEqual(check, { timeoutSeconds: 5, periodSeconds: 10, successThreshold: 2, failureThreshold: 2 });
  let h: BackendHealth | undefined;
  const step = (ok: boolean) => (h = nextHealth(h, ok, ok ? 'GET /health 200' : 'ECONNREFUSED', check, 't'));
  assert.equal(step(true).healthy, false);
  assert.equal(step(true).healthy, true);
  assert.equal(step(false).healthy, true);
  assert.equal(step(false).healthy, false);
  assert.equal(h!.failures, 2);
});

test('status: configMapRef, lastAppliedTime on content changes only, backends, conditions', () => {
  const health = new Map<string, BackendHealth>([
    ['http://localhost:9001', { healthy: true, successes: 1, failures: 0, lastChecked: '2025-01-01T00:00:05Z', message: 'GET /health 200' }],
    ['http://localhost:9002', { healthy: false, successes: 0, failures: 1, lastChecked: '2025-01-01T00:00:05Z', message: 'GET /health: ECONNREFUSED; GET /v1/models: ECONNREFUSED' }],
  ]);
  const status = computeStaticRouteStatus(seed, { applied: true, health, routerFound: false }, '2025-01-01T00:00:06Z');
  assert.equal(status.configMapRef, 'vllm-router-config');
  assert.equal(status.lastAppliedTime, '2025-01-01T00:00:06Z');
  assert.equal(status.healthyBackends, 1);
  assert.deepEqual(status.backends, [
    { url: 'http://localhost:9001', model: 'facebook/opt-125m', healthy: true, lastChecked: '2025-01-01T00:00:05Z', consecutiveFailures: 0, message: 'GET /health 200' },
    { url: 'http://localhost:9002', model: 'meta-llama/Llama-3.1-8B-Instruct', healthy: false, lastChecked: '2025-01-01T00:00:05Z', consecutiveFailures: 1, message: 'GET /health: ECONNREFUSED; GET /v1/models: ECONNREFUSED' },
    { url: 'http://localhost:9003', model: 'facebook/opt-125m', healthy: false, message: 'not probed yet' },
  ]);
  assert.deepEqual(status.conditions!.map((c) => [c.type, c.status, c.reason]), [
    ['Programmed', 'True', 'ConfigMapWritten'],
    ['BackendsHealthy', 'False', 'SomeUnhealthy'],
    ['ResolvedRefs', 'False', 'RouterNotFound'],
    ['Ready', 'True', 'Ready'],
  ]);
  const later = computeStaticRouteStatus({ ...seed, status }, { applied: false, health, routerFound: true }, '2025-01-01T00:01:00Z');
  assert.equal(later.lastAppliedTime, '2025-01-01T00:00:06Z', 'unchanged content keeps the time it was applied');
  const failed = computeStaticRouteStatus(seed, { applied: false, writeError: 'ConfigMap vllm-router-config: taken', health: new Map() });
  assert.equal(failed.configMapRef, undefined);
  assert.deepEqual(failed.conditions!.map((c) => c.reason), ['WriteFailed', 'NotProbed', 'RouterNotFound', 'NotProgrammed']);
});

test('probes: /health, else /v1/models; a refused connection; rounds until forgotten', async (t) => {
  let healthStatus = 503;
  const server: Server = createServer((req, res) => {
    res.statusCode = req.url === '/health' ? healthStatus : req.url === '/v1/models' ? 200 : 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  assert.deepEqual(await probeBackend(url, 1000), { ok: true, message: 'GET /v1/models 200' });
  healthStatus = 200;
  assert.deepEqual(await probeBackend(url, 1000), { ok: true, message: 'GET /health 200' });
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const nobody = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise((resolve) => closed.close(resolve));
  const refused = await probeBackend(nobody, 1000);
  assert.equal(refused.ok, false);
  assert.match(refused.message, /GET \/health: ECONNREFUSED; GET \/v1\/models: ECONNREFUSED/);

  const rounds: string[] = [];
  const prober = new BackendProber((key) => rounds.push(key));
  prober.ensure('ns/a', [url, nobody], { timeoutSeconds: 1, periodSeconds: 1, successThreshold: 1, failureThreshold: 1 });
  while (rounds.length === 0) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual([...prober.results('ns/a').values()].map((h) => h.healthy), [true, false]);
  prober.ensure('ns/a', [url, nobody], { timeoutSeconds: 1, periodSeconds: 1, successThreshold: 1, failureThreshold: 1 });
  assert.equal(prober.results('ns/a').size, 2, 'the same settings change nothing');
  prober.forget('ns/a');
  assert.equal(prober.results('ns/a').size, 0);
  prober.stop();
});
