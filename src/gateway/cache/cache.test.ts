// Both tiers over the in-process store with the shipped static embedder, counted on a real prom-client registry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { RouteCache, type RouteCacheConfig } from './cache.ts';
import { MemoryStore } from './memory-store.ts';
import { CacheMetrics } from './metrics.ts';
import { cacheIdentity } from './request.ts';
import { entryFromJson } from './entry.ts';
import { parseCacheControl } from './eligibility.ts';
import { staticEmbedder } from './embedder/static.ts';

const CONFIG: RouteCacheConfig = { exact: { enabled: true, ttlMs: 60_000 }, semantic: { enabled: true, ttlMs: 60_000, threshold: 0.8 }, maxTemperature: 1, shared: false };
const none = parseCacheControl(undefined);

function setup(config = CONFIG) {
  const registry = new Registry();
  const store = new MemoryStore(100);
  const metrics = new CacheMetrics(registry, () => [store]);
  return { registry, store, cache: new RouteCache(config, store, staticEmbedder(), metrics) };
}

const ask = (question: string, extra: Record<string, unknown> = {}) =>
  cacheIdentity('chat', { model: 'm', messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: question }], temperature: 0, ...extra }, 'm', undefined);
const answer = (text: string) => entryFromJson('chat', { model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }] })!;

async function remember(cache: RouteCache, question: string, text: string, extra: Record<string, unknown> = {}) {
  const id = ask(question, extra);
  const miss = await cache.lookup(id, 'm', none);
  assert.equal(miss.result, 'miss');
  await cache.save(id, 'm', answer(text), miss.result === 'miss' ? miss.vector : undefined);
}

test('exact hit, semantic hit on a paraphrase, and no hit across a negation, a number or another system prompt', async () => {
  const { cache, registry } = setup();
  await remember(cache, 'How do I turn on dark mode in the settings?', 'Settings → Display → Dark.');
  const exact = await cache.lookup(ask('How do I turn on dark mode in the settings?'), 'm', none);
  assert.equal(exact.result === 'hit' && exact.tier, 'exact');
  const semantic = await cache.lookup(ask('How can I enable dark mode in the settings?'), 'm', none);
  assert.ok(semantic.result === 'hit' && semantic.tier === 'semantic' && semantic.similarity >= 0.8, JSON.stringify(semantic));
  assert.equal(semantic.result === 'hit' && semantic.entry.choices[0]!.content, 'Settings → Display → Dark.');
  assert.equal((await cache.lookup(ask('How do I turn off dark mode in the settings?'), 'm', none)).result, 'miss');
  await remember(cache, 'Is 5 mg of melatonin a safe dose?', 'Usually.');
  assert.equal((await cache.lookup(ask('Is 50 mg of melatonin a safe dose?'), 'm', none)).result, 'miss');
  const otherSystem = cacheIdentity('chat', { model: 'm', messages: [{ role: 'system', content: 'Answer in French.' }, { role: 'user', content: 'How do I turn on dark mode in the settings?' }], temperature: 0 }, 'm', undefined);
  assert.equal((await cache.lookup(otherSystem, 'm', none)).result, 'miss');

  const text = await registry.metrics();
  assert.match(text, /matrixinfer_gateway_cache_lookups_total\{model="m",tier="exact",result="hit"\} 1/);
  assert.match(text, /matrixinfer_gateway_cache_lookups_total\{model="m",tier="semantic",result="hit"\} 1/);
  assert.match(text, /matrixinfer_gateway_cache_lookups_total\{model="m",tier="semantic",result="miss"\} 5/);
  assert.match(text, /matrixinfer_gateway_cache_writes_total\{model="m",outcome="stored"\} 2/);
  assert.match(text, /matrixinfer_gateway_cache_entries\{store="memory"\} 2/);
  assert.match(text, /matrixinfer_gateway_cache_lookup_duration_seconds_count\{tier="semantic"\} 6/);
});

test('no-cache bypasses both tiers; a tier that is off is not consulted; an expired exact entry misses', async () => {
  const { cache, registry } = setup();
  await remember(cache, 'What is the capital of France?', 'Paris.');
  assert.equal((await cache.lookup(ask('What is the capital of France?'), 'm', parseCacheControl('no-cache'))).result, 'bypass');
  assert.match(await registry.metrics(), /tier="semantic",result="bypass"\} 1/);

  const exactOnly = setup({ ...CONFIG, semantic: { ...CONFIG.semantic, enabled: false } });
  await remember(exactOnly.cache, 'What is the capital of France?', 'Paris.');
  assert.equal((await exactOnly.cache.lookup(ask('Tell me the capital city of France?'), 'm', none)).result, 'miss');
  assert.ok(!(await exactOnly.registry.metrics()).includes('tier="semantic"'));

  const semanticOnly = setup({ ...CONFIG, exact: { enabled: false, ttlMs: 0 } });
  await remember(semanticOnly.cache, 'What is the capital of France?', 'Paris.');
  const hit = await semanticOnly.cache.lookup(ask('What is the capital of France?'), 'm', none);
  assert.equal(hit.result === 'hit' && hit.tier, 'semantic');

  const shortExact = setup({ ...CONFIG, exact: { enabled: true, ttlMs: 1 }, semantic: { ...CONFIG.semantic, enabled: false } });
  await remember(shortExact.cache, 'What is the capital of France?', 'Paris.');
  await new Promise((r) => setTimeout(r, 5));
  assert.equal((await shortExact.cache.lookup(ask('What is the capital of France?'), 'm', none)).result, 'miss');
});

test('n > 1 and hot temperatures are not cacheable', () => {
  const { cache } = setup({ ...CONFIG, maxTemperature: 0.5 });
  assert.equal(cache.notStorable({ n: 3 }), 'n_above_1');
  assert.equal(cache.notStorable({ temperature: 0.9 }), 'temperature');
  assert.equal(cache.notStorable({ temperature: 0.2 }), undefined);
});
