// Compiling routes' `spec.cache` on rebuilds: stores survive rebuilds, are shared by routes naming the same Redis,
// and are closed when no route uses them; bad settings fall back to defaults and are reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { ResponseCaches } from './caches.ts';
import type { ModelRoute } from '../../api/kinds/modelroute.ts';

const route = (name: string, cache?: ModelRoute['spec']['cache']): ModelRoute => ({
  apiVersion: 'networking.matrixinfer.ai/v1alpha1',
  kind: 'ModelRoute',
  metadata: { name, namespace: 'ns' },
  spec: { modelName: name, rules: [{ targetModels: [{ modelServerName: 's' }] }], ...(cache ? { cache } : {}) },
});

test('routes compile to caches whose stores outlive rebuilds', () => {
  const caches = new ResponseCaches(new Registry());
  const problems: string[] = [];
  caches.update([route('a', { exact: { maxEntries: 5 } }), route('b'), route('c', { exact: { enabled: false } }), route('d', { semantic: { threshold: 0.9, ttl: 'soon' } })], problems);
  const a = caches.forRoute('ns/a')!;
  assert.equal(a.config.exact.enabled, true);
  assert.equal(a.config.semantic.enabled, false);
  assert.equal(a.config.exact.ttlMs, 600_000);
  assert.equal(caches.forRoute('ns/b'), undefined, 'no spec.cache: no cache');
  assert.equal(caches.forRoute('ns/c'), undefined, 'every tier off: no cache');
  const d = caches.forRoute('ns/d')!;
  assert.deepEqual(d.config.semantic, { enabled: true, ttlMs: 600_000, threshold: 0.9 });
  assert.deepEqual(problems, ['ModelRoute ns/d: invalid cache.semantic.ttl "soon", using 10m']);

  caches.update([route('a', { exact: { maxEntries: 7 } })], []);
  const again = caches.forRoute('ns/a')!;
  assert.notEqual(again, a, 'settings are compiled anew');
  assert.equal(again.store, a.store, 'the store and its entries are kept');
  assert.equal((again.store as unknown as { maxEntries: number }).maxEntries, 7);
  caches.update([], []);
  assert.equal(caches.forRoute('ns/a'), undefined);
  caches.update([route('a', { exact: {} })], []);
  assert.notEqual(caches.forRoute('ns/a')!.store, a.store, 'a store no route used was dropped');
});

test('routes naming the same Redis share one store', () => {
  const caches = new ResponseCaches(new Registry());
  const redis = { type: 'redis' as const, redis: { address: '127.0.0.1:1', keyPrefix: 'p:' } };
  caches.update(
    [
      route('a', { exact: {}, store: redis }),
      // Named under the semantic tier (the spelling), the same store serves both tiers.
      route('b', { exact: {}, semantic: { store: redis } }),
      route('c', { exact: {}, store: { ...redis, redis: { ...redis.redis, keyPrefix: 'q:' } } }),
    ],
    [],
  );
  assert.equal(caches.forRoute('ns/a')!.store, caches.forRoute('ns/b')!.store);
  assert.notEqual(caches.forRoute('ns/a')!.store, caches.forRoute('ns/c')!.store);
  assert.equal(caches.forRoute('ns/a')!.store.type, 'redis');
  caches.close();
});
