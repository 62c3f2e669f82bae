// The production-stack router controller's environment variables as controller-manager defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAddress, seedEnvironment } from './seed-env.ts';

test('addresses in controller-runtime form', () => {
  assert.deepEqual(parseAddress(':8080'), { port: 8080 });
  assert.deepEqual(parseAddress('0.0.0.0:8081'), { host: '0.0.0.0', port: 8081 });
  assert.deepEqual(parseAddress('[::1]:9000'), { host: '::1', port: 9000 });
  assert.deepEqual(parseAddress('8080'), { port: 8080 });
  assert.equal(parseAddress('0'), null);
  assert.equal(parseAddress('http://x:80'), undefined);
  assert.equal(parseAddress(':70000'), undefined);
});

test("the seed's variables as controller-manager defaults", () => {
  assert.deepEqual(
    seedEnvironment({ KUBERNETES_NAMESPACE: 'router-system', METRICS_ADDR: ':8080', HEALTH_PROBE_ADDR: ':8081', LEADER_ELECTION_ENABLED: 'false', GPU_METRICS_ENDPOINT: 'http://dcgm:9400/metrics' }),
    {
      podNamespace: 'router-system',
      metrics: { port: 8080 },
      health: { port: 8081 },
      leaderElect: false,
      ignored: [
        'GPU_METRICS_ENDPOINT: not used; the autoscaler reads DCGM_FI_DEV_GPU_UTIL from the engine pods (or through a prometheus query) and the gateway scores engines on their queue and KV-cache metrics',
      ],
      errors: [],
    },
  );
  assert.deepEqual(seedEnvironment({ KUBERNETES_NAMESPACE: 'a', POD_NAMESPACE: 'b' }), { ignored: [], errors: [] }, 'POD_NAMESPACE wins');
  assert.deepEqual(seedEnvironment({ METRICS_ADDR: '0' }).metrics, null);
  assert.deepEqual(seedEnvironment({ METRICS_ADDR: 'x', LEADER_ELECTION_ENABLED: 'maybe' }).errors, ['METRICS_ADDR=x: expected [host]:port or 0', 'LEADER_ELECTION_ENABLED=maybe: expected true or false']);
});
