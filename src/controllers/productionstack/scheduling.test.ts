// InferenceGateway and InferenceCache as scheduling sections, checked against what the gateway compiles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileProfile } from '../../gateway/scheduling/profiles.ts';
import { CACHE_BASE_SCORERS, cacheScheduling, describeScheduling, gatewayScheduling } from './scheduling.ts';

test('the base an InferenceCache weighs over compiles in the gateway, scorer for scorer', () => {
  const profile = compileProfile({ scorers: CACHE_BASE_SCORERS.map(([name, weight]) => ({ name, weight })) });
  assert.deepEqual(
    profile.scorers.map((s) => [s.name, s.weight]),
    CACHE_BASE_SCORERS,
  );
});

test("the seed's gateway: gpu-load-aware + PrefixHash + sessionAffinity", () => {
  const spec = gatewayScheduling({ schedulingPolicy: 'gpu-load-aware', routeStrategy: 'PrefixHash', sessionAffinity: true });
  assert.deepEqual(spec, {
    policy: 'prefix-affinity',
    scorers: [
      { name: 'session-affinity', weight: 10 },
      { name: 'prefix-cache', weight: 3 },
      { name: 'queue', weight: 1 },
      { name: 'kv-cache', weight: 1 },
    ],
    sessionAffinity: { header: 'x-session-id', cookie: 'session_id' },
  });
  assert.equal(describeScheduling(spec), 'prefix-affinity: session-affinity 10, prefix-cache 3, queue 1, kv-cache 1 (session header x-session-id, cookie session_id)');
  // What the gateway compiles from it.
  const profile = compileProfile(spec);
  assert.deepEqual(profile.scorers.map((s) => s.name), ['session-affinity', 'prefix-cache', 'queue', 'kv-cache']);
});

test('strategies and policies, aliases, and the default left alone', () => {
  assert.equal(gatewayScheduling({}), undefined);
  assert.equal(gatewayScheduling({ schedulingPolicy: 'default' }), undefined);
  assert.deepEqual(gatewayScheduling({ routeStrategy: 'roundrobin', schedulingPolicy: 'round-robin' }), { policy: 'round-robin', scorers: [] });
  assert.deepEqual(gatewayScheduling({ routeStrategy: 'session', sessionHeader: 'x-user-id', sessionCookie: 'uid' }), {
    policy: 'session-affinity',
    scorers: [
      { name: 'session-affinity', weight: 10 },
      { name: 'queue', weight: 1 },
      { name: 'lora-affinity', weight: 2 },
    ],
    sessionAffinity: { header: 'x-user-id', cookie: 'uid' },
  });
  assert.equal(gatewayScheduling({ routeStrategy: 'PrefixHash', schedulingPolicy: 'random' })!.policy, 'random');
  assert.deepEqual(gatewayScheduling({ schedulingPolicy: 'least-loaded' }), {
    policy: 'default',
    scorers: [
      { name: 'prefix-cache', weight: 3 },
      { name: 'least-request', weight: 1 },
    ],
  });
});

test("the seed's cache: affinity from a 0.8 prefix match, spread from 0.9 KV usage", () => {
  const tuned = cacheScheduling(undefined, { modelName: 'llama3-70b', kvCacheTransferPolicy: { thresholdHitRate: 0.8, evictionThreshold: 0.9 } });
  assert.deepEqual(tuned.weights, { prefixCache: 13, kvCache: 14, load: 10 });
  assert.deepEqual(tuned.scheduling.scorers, [
    { name: 'prefix-cache', weight: 13 },
    { name: 'queue', weight: 10 },
    { name: 'lora-affinity', weight: 20 },
    { name: 'kv-cache', weight: 14 },
  ]);
  assert.ok(Math.abs(tuned.affinityFrom - 10 / 13) < 1e-9);
  assert.ok(Math.abs(tuned.spreadFrom - 13 / 14) < 1e-9);
  // On the seed gateway's profile: its kv-cache weight is replaced, session affinity stays in front.
  const onGateway = cacheScheduling(gatewayScheduling({ schedulingPolicy: 'gpu-load-aware', routeStrategy: 'PrefixHash', sessionAffinity: true }), {
    modelName: 'llama3-70b',
    kvCacheTransferPolicy: { thresholdHitRate: 0.8, evictionThreshold: 0.9 },
  });
  assert.deepEqual(onGateway.scheduling, {
    policy: 'prefix-affinity',
    scorers: [
      { name: 'prefix-cache', weight: 13 },
      { name: 'session-affinity', weight: 100 },
      { name: 'queue', weight: 10 },
      { name: 'kv-cache', weight: 14 },
    ],
    sessionAffinity: { header: 'x-session-id', cookie: 'session_id' },
  });
});

test('cache weights: a load scorer is added when the profile has none; low thresholds cap at 100', () => {
  const rr = cacheScheduling(gatewayScheduling({ routeStrategy: 'RoundRobin', schedulingPolicy: 'round-robin' }), { modelName: 'm', kvCacheTransferPolicy: { thresholdHitRate: 0.05, evictionThreshold: 0 } });
  assert.deepEqual(rr.weights, { prefixCache: 100, kvCache: 100, load: 10 });
  assert.equal(rr.affinityFrom, 0.1);
  assert.equal(rr.spreadFrom, 1);
  const none = cacheScheduling(undefined, { modelName: 'm' });
  assert.deepEqual(none.weights, { prefixCache: 20, kvCache: 25, load: 10 });
});
