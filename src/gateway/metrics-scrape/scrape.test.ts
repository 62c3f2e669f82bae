import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseEngineMetrics } from '../../api/engine-metrics/parse.ts';
import { MetricsScraper } from './scraper.ts';
import { EndpointRegistry } from '../scheduling/endpoint.ts';
import { startEngine } from '../../engine/server.ts';
import { parseEngineArgs } from '../../engine/options.ts';

const VLLM = `# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="llama"} 3
vllm:num_requests_running{engine="1",model_name="llama"} 2
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="llama"} 7
vllm:kv_cache_usage_perc{engine="0",model_name="llama"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="llama"} 0.5
vllm:cache_config_info{block_size="16",cache_dtype="auto",num_gpu_blocks="1000"} 1
vllm:lora_requests_info{max_lora="4",running_lora_adapters="sql,chat",waiting_lora_adapters="math"} 1.7e9
vllm:lora_requests_info{max_lora="4",running_lora_adapters="old",waiting_lora_adapters=""} 1.6e9
vllm:time_to_first_token_seconds_bucket{le="0.001",model_name="llama"} 0
`;

test('vLLM names: counts summed over series, usage maximised, cache size and LoRA state from info labels', () => {
  const m = parseEngineMetrics(VLLM, 'vllm')!;
  assert.equal(m.engine, 'vllm');
  assert.equal(m.running, 5);
  assert.equal(m.waiting, 7);
  assert.equal(m.kvUsage, 0.5);
  assert.equal(m.cacheTokens, 16000);
  assert.deepEqual([...m.loras!].sort(), ['chat', 'math', 'sql']);
  assert.equal(m.maxLoras, 4);
});

test('older vLLM (gpu_cache_usage_perc) and SGLang names; a wrong inferenceEngine still finds the right mapping', () => {
  const old = parseEngineMetrics('vllm:num_requests_running 1\nvllm:num_requests_waiting 0\nvllm:gpu_cache_usage_perc 0.75 1700000000000\n', 'vllm')!;
  assert.equal(old.kvUsage, 0.75);
  const sg = 'sglang:num_running_reqs{model_name="m"} 4\nsglang:num_queue_reqs{model_name="m"} 9\nsglang:token_usage{model_name="m"} 0.4\nsglang:max_total_num_tokens{model_name="m"} 50000\n';
  const s = parseEngineMetrics(sg, 'sglang')!;
  assert.deepEqual([s.engine, s.running, s.waiting, s.kvUsage, s.cacheTokens], ['sglang', 4, 9, 0.4, 50000]);
  assert.equal(parseEngineMetrics(sg, 'vllm')!.engine, 'sglang');
  assert.equal(parseEngineMetrics('# nothing here\nprocess_cpu_seconds_total 3\n', 'vllm'), null);
  assert.ok(Number.isNaN(parseEngineMetrics('vllm:num_requests_running 0\n', 'vllm')!.kvUsage));
  // The simulated engine's queued prompt tokens, summed over series; NaN where an engine exports none.
  const sim = 'vllm:num_requests_waiting 2\nmatrixinfer_engine_queued_prompt_tokens{engine="0"} 1200\nmatrixinfer_engine_queued_prompt_tokens{engine="1"} 300 1700000000000\nmatrixinfer_engine_queued_prompt_tokens_other 9\n';
  assert.equal(parseEngineMetrics(sim, 'vllm')!.queuedTokens, 1500);
  assert.ok(Number.isNaN(old.queuedTokens));
});

async function listen(server: Server, host = '127.0.0.1'): Promise<number> {
  await new Promise<void>((r) => server.listen(0, host, r));
  return (server.address() as AddressInfo).port;
}

test('scraper: real engines are scraped periodically; a pod that stops answering goes stale; a hung one times out', async () => {
  const engine = await startEngine(parseEngineArgs(['m', '--host', '127.0.0.61', '--port', '0', '--num-gpu-blocks', '512'], { warn: () => {} }));
  const sg = await startEngine(parseEngineArgs(['m', '--host', '127.0.0.62', '--port', '0', '--engine', 'sglang'], { warn: () => {} }));
  // A "pod" that accepts the connection and never answers.
  const hung = createServer(() => {});
  const hungPort = await listen(hung, '127.0.0.63');
  const reg = new EndpointRegistry();
  const a = reg.obtain('default', 'a', '127.0.0.61', engine.port);
  const b = reg.obtain('default', 'b', '127.0.0.62', sg.port);
  b.engine = 'sglang';
  const c = reg.obtain('default', 'c', '127.0.0.63', hungPort);
  const scraper = new MetricsScraper(reg, { intervalMs: 50, timeoutMs: 200, staleAfterMs: 150 });
  try {
    scraper.start();
    const deadline = Date.now() + 5000;
    while (!(a.fresh && b.fresh && c.scrapeFailures > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(a.fresh && b.fresh, 'both engines scraped');
    assert.equal(a.metrics!.cacheTokens, 512 * 16);
    assert.equal(a.metrics!.running, 0);
    assert.equal(a.metrics!.queuedTokens, 0, "the simulated engine's queued prompt tokens");
    assert.ok(b.metrics!.cacheTokens > 0 || b.metrics!.kvUsage >= 0);
    assert.equal(c.fresh, false);
    assert.match(c.scrapeError, /timed out|TIMEOUT/i);
    const okBefore = scraper.ok;
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(scraper.ok >= okBefore + 4, 'keeps scraping every interval');
    // The engine goes away: within a few intervals its metrics are stale.
    await engine.close();
    const d2 = Date.now() + 5000;
    while (a.fresh && Date.now() < d2) await new Promise((r) => setTimeout(r, 20));
    assert.equal(a.fresh, false);
    assert.ok(a.scrapeFailures > 0);
    assert.equal(b.fresh, true);
  } finally {
    await scraper.stop();
    await sg.close();
    hung.closeAllConnections();
    hung.close();
    await engine.close().catch(() => {});
  }
});

test('scraper: a request of ours that ends while the scrape is out is not taken for another sender’s queued work', async () => {
  const reg = new EndpointRegistry();
  let ep: ReturnType<EndpointRegistry['obtain']> | null = null;
  // The engine counts our one request (500 prompt tokens) as queued; before its answer reaches the gateway that
  // request gets its first byte, so the gateway's own counts are back to 0 by the time the scrape is read.
  const server = createServer((_req, res) => {
    ep!.awaiting = 0;
    ep!.pendingPrefill = 0;
    res.end('vllm:num_requests_waiting{model_name="m"} 1\nvllm:num_requests_running{model_name="m"} 0\nmatrixinfer_engine_queued_prompt_tokens 500\n');
  });
  const port = await listen(server, '127.0.0.64');
  ep = reg.obtain('default', 'p', '127.0.0.64', port);
  ep.awaiting = 1;
  ep.pendingPrefill = 500;
  const scraper = new MetricsScraper(reg, { intervalMs: 60_000 });
  try {
    scraper.tick();
    const deadline = Date.now() + 5000;
    while (!ep.fresh && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(ep.metrics!.queuedTokens, 500);
    assert.equal(ep.queuedWork(), 0, 'the 500 queued tokens were our own request');
    assert.equal(ep.queued(), 0, 'the waiting request was our own');
    // Another sender's request on top of ours would still count.
    ep.metrics!.queuedTokens = 800;
    ep.metrics!.waiting = 2;
    assert.equal(ep.queuedWork(), 300);
    assert.equal(ep.queued(), 1);
  } finally {
    await scraper.stop();
    server.closeAllConnections();
    server.close();
  }
});
