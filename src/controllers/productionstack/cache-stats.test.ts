// An InferenceCache's cacheStats: the engines' figures read from /metrics text, the window arithmetic, and the
// collector against a running simulated engine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../api/admission.ts';
import { parseEngineArgs } from '../../engine/options.ts';
import { startEngine } from '../../engine/server.ts';
import { CacheStatsCollector, readCacheSample, windowStats, type CacheSample } from './cache-stats.ts';

const VLLM = [
  '# TYPE vllm:prefix_cache_queries_total counter',
  'vllm:prefix_cache_queries_total{engine="0",model_name="m"} 1000',
  'vllm:prefix_cache_hits_total{engine="0",model_name="m"} 400',
  'vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25',
  'vllm:num_requests_running{engine="0",model_name="m"} 1',
  'vllm:num_requests_waiting{engine="0",model_name="m"} 0',
].join('\n');

test('the figures of a vLLM and an SGLang exposition', () => {
  assert.deepEqual(readCacheSample(VLLM), { hits: 400, queries: 1000, kvUsage: 0.25 });
  const sglang = readCacheSample('sglang:cache_hit_rate{model_name="m"} 0.5\nsglang:token_usage{model_name="m"} 0.1\nsglang:num_running_reqs{model_name="m"} 0\nsglang:num_queue_reqs{model_name="m"} 0\n');
  assert.deepEqual(sglang, { hits: 0, queries: 0, kvUsage: 0.1, hitRateGauge: 0.5 });
  assert.equal(readCacheSample('# nothing\nhttp_requests_total 3\n'), undefined);
});

test('window: hits over queries since the last round, summed over pods; restarts and quiet windows', () => {
  const s = (hits: number, queries: number, kvUsage: number): CacheSample => ({ hits, queries, kvUsage });
  const first = windowStats(new Map(), new Map([['a', s(40, 100, 0.2)], ['b', s(0, 100, 0.4)]]), undefined, 't1');
  assert.deepEqual(first, { hitRate: 0.2, kvCacheUsage: 0.30000000000000004, pods: 2, observedAt: 't1' });
  const previous = new Map([['a', s(40, 100, 0.2)], ['b', s(0, 100, 0.4)]]);
  // a: 60 more hits of 100 more queries; b restarted (its counters went down): 10 of 20 since its start.
  const second = windowStats(previous, new Map([['a', s(100, 200, 0.5)], ['b', s(10, 20, 0.1)]]), first.hitRate, 't2');
  assert.equal(second.hitRate, 70 / 120);
  // No query in the window: the last rate stays.
  assert.equal(windowStats(new Map([['a', s(5, 10, 0)]]), new Map([['a', s(5, 10, 0)]]), 0.42, 't3').hitRate, 0.42);
  assert.deepEqual(windowStats(new Map(), new Map(), undefined, 't4'), { pods: 0, observedAt: 't4' });
});

test('the collector reads a running engine: prefix hits after a repeated prompt', async (t) => {
  const engine = await startEngine(parseEngineArgs(['m', '--host', '127.0.0.1', '--port', '0', '--time-to-first-token-ms', '1', '--inter-token-latency-ms', '1'], { warn: () => {} }));
  t.after(() => engine.close());
  const port = Number(new URL(engine.url).port);
  const pod: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ ports: [{ containerPort: port }] }] }, status: { podIP: '127.0.0.1' } };
  const rounds: string[] = [];
  const collector = new CacheStatsCollector((key) => rounds.push(key), { periodMs: 200 });
  t.after(() => collector.stop());
  collector.ensure('ns/cache', () => [pod]);
  while (rounds.length < 1) await new Promise((r) => setTimeout(r, 10));
  const prompt = 'The same long prompt, sent twice so that its blocks are found in the prefix cache. '.repeat(20);
  for (let i = 0; i < 2; i++) {
    await fetch(`${engine.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt, max_tokens: 2 }) });
  }
  while (rounds.length < 2) await new Promise((r) => setTimeout(r, 10));
  const stats = collector.results('ns/cache')!;
  assert.equal(stats.pods, 1);
  assert.ok(stats.hitRate! > 0.3 && stats.hitRate! < 0.6, `about half the prompt tokens hit: ${stats.hitRate}`);
  assert.equal(stats.kvCacheUsage, 0);
});
