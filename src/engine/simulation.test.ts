// The simulated engine's model, end to end over HTTP with real timers: prefix caching, batching, queueing, KV
// pressure, LoRA, P/D and the tokenizer endpoints. Latencies are scaled so each effect is tens to hundreds of
// milliseconds and assertions compare ratios or orders of magnitude, so a loaded machine does not fail them.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultEngineOptions } from './options.ts';
import { startEngine, type EngineServer } from './server.ts';

type Overrides = Parameters<typeof defaultEngineOptions>[0];

const QUICK = {
  timeToFirstTokenMs: 2,
  prefillTimePerTokenMs: 0.005,
  interTokenLatencyMs: 2,
  interTokenLatencyPerSeqMs: 0,
  interTokenLatencyPerKvTokenMs: 0,
  prefillAttentionTimeMs: 0,
};

function engine(overrides: Overrides = {}): Promise<EngineServer> {
  return startEngine(defaultEngineOptions({ port: 0, servedModelNames: ['m'], ...overrides, latency: { ...QUICK, ...overrides?.latency } }));
}

async function post(e: EngineServer, path: string, body: unknown): Promise<Response> {
  return fetch(e.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

async function metricsText(e: EngineServer): Promise<string> {
  return (await fetch(e.url + '/metrics')).text();
}

async function metric(e: EngineServer, name: string, labelPart = ''): Promise<number> {
  for (const line of (await metricsText(e)).split('\n')) {
    if (line.startsWith(name + '{') && line.includes(labelPart)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  throw new Error(`metric ${name}{${labelPart}} not found`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Timed {
  ttftMs: number;
  gapsMs: number[];
  usage: { prompt_tokens: number; completion_tokens: number; prompt_tokens_details: { cached_tokens: number } };
}

/** A streamed completion: time to first token and the gaps between tokens, measured by the client. */
async function timed(e: EngineServer, body: Record<string, unknown>): Promise<Timed> {
  const t0 = performance.now();
  const res = await post(e, '/v1/completions', { ...body, stream: true, stream_options: { include_usage: true } });
  assert.equal(res.status, 200);
  const times: number[] = [];
  let usage: Timed['usage'] | undefined;
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body!) {
    const now = performance.now();
    buf += decoder.decode(chunk as Uint8Array, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!event.startsWith('data: {')) continue;
      const j = JSON.parse(event.slice(6)) as { choices: unknown[]; usage?: Timed['usage'] };
      if (j.choices.length > 0) times.push(now - t0);
      if (j.usage) usage = j.usage;
    }
  }
  return { ttftMs: times[0]!, gapsMs: times.slice(1).map((t, k) => t - times[k]!), usage: usage! };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const words = (n: number, salt: string) => Array.from({ length: n }, (_, i) => `${salt}${i % 97} word${i}`).join(' ');

describe('engine simulation: prefix cache and latency', () => {
  it('a repeated long prompt has a lower TTFT and reports cached tokens', async () => {
    // Prefill is made slow (≈ 1.5 s) so the cached/uncached gap dwarfs scheduling noise on a loaded machine.
    const e = await engine({ latency: { prefillTimePerTokenMs: 0.5 } });
    try {
      const prompt = words(800, 'ctx'); // ≈ 3,000 tokens → ≈ 1.5 s of prefill
      const first = await timed(e, { prompt, max_tokens: 2 });
      const second = await timed(e, { prompt, max_tokens: 2 });
      assert.equal(first.usage.prompt_tokens_details.cached_tokens, 0);
      const n = second.usage.prompt_tokens;
      assert.ok(n > 2000, `prompt tokens ${n}`);
      assert.ok(second.usage.prompt_tokens_details.cached_tokens >= n - 16, `cached ${second.usage.prompt_tokens_details.cached_tokens} of ${n}`);
      assert.ok(second.ttftMs < first.ttftMs / 3, `TTFT ${first.ttftMs.toFixed(0)} ms, then ${second.ttftMs.toFixed(0)} ms`);
      // A shared prefix with a new ending hits the prefix, not the ending.
      const third = await timed(e, { prompt: prompt + ' and a different question at the end', max_tokens: 2 });
      assert.ok(third.usage.prompt_tokens_details.cached_tokens >= n - 32);
      assert.equal(await metric(e, 'vllm:prefix_cache_hits_total'), second.usage.prompt_tokens_details.cached_tokens + third.usage.prompt_tokens_details.cached_tokens);
      assert.equal(await metric(e, 'vllm:prefix_cache_queries_total'), n * 2 + third.usage.prompt_tokens);
      assert.match(await metricsText(e), /vllm:cache_config_info\{[^}]*enable_prefix_caching="True"[^}]*num_gpu_blocks="25000"/);
    } finally {
      await e.close();
    }
  });

  it('TTFT grows with the uncached prompt length', async () => {
    const e = await engine({ latency: { prefillTimePerTokenMs: 0.3 } });
    try {
      const short = await timed(e, { prompt: words(50, 'a'), max_tokens: 1 });
      const long = await timed(e, { prompt: words(1000, 'b'), max_tokens: 1 }); // ≈ 4,000 tokens → ≈ 1.2 s
      assert.ok(long.ttftMs > short.ttftMs + 600, `short ${short.ttftMs.toFixed(0)} ms, long ${long.ttftMs.toFixed(0)} ms`);
    } finally {
      await e.close();
    }
  });

  it('inter-token latency grows with the batch size', async () => {
    const e = await engine({ latency: { interTokenLatencyMs: 3, interTokenLatencyPerSeqMs: 1 } });
    try {
      const alone = await timed(e, { prompt: 'solo', max_tokens: 20 });
      const batch = await Promise.all(Array.from({ length: 24 }, (_, i) => timed(e, { prompt: `p${i}`, max_tokens: 20 })));
      const itlAlone = mean(alone.gapsMs);
      const itlBatch = mean(batch.map((b) => mean(b.gapsMs.slice(2)))); // steady state, after the joint prefill
      // Formula: 3 ms alone, 3 + 23 = 26 ms with 24 decoding.
      assert.ok(itlBatch > 3 * itlAlone, `ITL alone ${itlAlone.toFixed(1)} ms, batch of 24 ${itlBatch.toFixed(1)} ms`);
      assert.ok(itlBatch > 15 && itlBatch < 80, `batch ITL ${itlBatch.toFixed(1)} ms`);
    } finally {
      await e.close();
    }
  });
});

describe('engine simulation: queue and KV pressure', () => {
  it('requests beyond max-num-seqs wait; beyond the queue bound they get 429', async () => {
    const e = await engine({ maxNumSeqs: 2, maxWaitingQueueLength: 3, latency: { interTokenLatencyMs: 5 } });
    try {
      const send = (i: number) => post(e, '/v1/completions', { prompt: `q${i}`, max_tokens: 40 });
      const long = [send(0), send(1)];
      for (let i = 0; i < 100 && (await metric(e, 'vllm:num_requests_running')) < 2; i++) await sleep(5);
      long.push(send(2), send(3), send(4));
      for (let i = 0; i < 100 && (await metric(e, 'vllm:num_requests_waiting')) < 3; i++) await sleep(5);
      assert.equal(await metric(e, 'vllm:num_requests_running'), 2);
      assert.equal(await metric(e, 'vllm:num_requests_waiting'), 3);
      const rejected = await post(e, '/v1/completions', { prompt: 'one too many', max_tokens: 1 });
      assert.equal(rejected.status, 429);
      const body = (await rejected.json()) as { error: { type: string; code: number; message: string } };
      assert.equal(body.error.code, 429);
      assert.equal(body.error.type, 'RateLimitError');
      assert.match(body.error.message, /waiting queue is full/);
      const done = await Promise.all(long);
      assert.ok(done.every((r) => r.status === 200));
      assert.equal((await post(e, '/v1/completions', { prompt: 'room again', max_tokens: 1 })).status, 200);
    } finally {
      await e.close();
    }
  });

  it('KV usage rises with concurrent long prompts, stays bounded, and eviction makes room for new ones', async () => {
    // 300 blocks of 16 = 4,800 tokens: four ≈900-token prompts take three quarters of it.
    const e = await engine({ numGpuBlocks: 300, maxModelLen: 4096, latency: { interTokenLatencyMs: 4 } });
    try {
      const burst = (salt: string) =>
        Array.from({ length: 4 }, (_, i) => post(e, '/v1/completions', { prompt: words(150, `${salt}${i}x`), max_tokens: 40 }).then((r) => r.status));
      const first = burst('a');
      let peak = 0;
      for (let i = 0; i < 60; i++) {
        peak = Math.max(peak, await metric(e, 'vllm:kv_cache_usage_perc'));
        await sleep(5);
      }
      assert.ok(peak > 0.6 && peak <= 1, `peak KV usage ${peak}`);
      assert.deepEqual(await Promise.all(first), [200, 200, 200, 200]);
      assert.deepEqual(await Promise.all(burst('b')), [200, 200, 200, 200], 'new prompts evict the old cached blocks');
      assert.equal(await metric(e, 'vllm:kv_cache_usage_perc'), 0, 'cached but unpinned blocks are free');
      assert.ok(e.scheduler.kv.stats.evictions > 0);
      assert.ok((await metric(e, 'vllm:num_preemptions_total')) >= 0);
    } finally {
      await e.close();
    }
  });
});

describe('engine simulation: LoRA, P/D, tokenizer endpoints', () => {
  it('serves LoRA adapters: listed, loadable, at most --max-loras running', async () => {
    const e = await engine({ loraModules: [{ name: 'sql', path: '/adapters/sql' }], maxLoras: 1, latency: { interTokenLatencyMs: 5 } });
    try {
      const models = (await (await fetch(e.url + '/v1/models')).json()) as { data: { id: string; parent: string | null; root: string }[] };
      assert.deepEqual(models.data.map((m) => [m.id, m.parent]), [['m', null], ['sql', 'm']]);
      assert.equal(models.data[1]!.root, '/adapters/sql');
      const load = await post(e, '/v1/load_lora_adapter', { lora_name: 'chat', lora_path: '/adapters/chat' });
      assert.equal(load.status, 200);
      assert.match(await load.text(), /Success: LoRA adapter 'chat' added successfully/);
      assert.equal((await post(e, '/v1/load_lora_adapter', { lora_name: 'chat', lora_path: '/x' })).status, 400);
      const sql = post(e, '/v1/completions', { model: 'sql', prompt: 'select', max_tokens: 30 });
      const chat = post(e, '/v1/completions', { model: 'chat', prompt: 'hello', max_tokens: 2 });
      await sleep(40);
      const info = (await metricsText(e)).split('\n').find((l) => l.startsWith('vllm:lora_requests_info{'))!;
      assert.match(info, /max_lora="1"/);
      assert.match(info, /running_lora_adapters="sql"/);
      assert.match(info, /waiting_lora_adapters="chat"/);
      const [a, b] = await Promise.all([sql, chat]);
      assert.equal(((await a.json()) as { model: string }).model, 'sql');
      assert.equal(b.status, 200);
      assert.equal((await post(e, '/v1/unload_lora_adapter', { lora_name: 'chat' })).status, 200);
      assert.equal((await post(e, '/v1/unload_lora_adapter', { lora_name: 'chat' })).status, 404);
      assert.equal((await post(e, '/v1/completions', { model: 'chat', prompt: 'x' })).status, 404);
    } finally {
      await e.close();
    }
  });

  it('prefill/decode: the prefill side answers with kv_transfer_params; the decode side pays a transfer, not a prefill', async () => {
    const latency = { prefillTimePerTokenMs: 0.2, kvTransferLatencyMs: 10, kvTransferTimePerTokenMs: 0.001 };
    const prefill = await engine({ latency });
    const decode = await engine({ latency });
    try {
      const prompt = words(600, 'pd'); // ≈ 2,400 tokens: ≈ 480 ms to prefill, ≈ 12 ms to transfer
      const p = await post(prefill, '/v1/completions', { prompt, max_tokens: 1, kv_transfer_params: { do_remote_decode: true } });
      assert.equal(p.status, 200);
      const pj = (await p.json()) as { kv_transfer_params: Record<string, unknown>; usage: { prompt_tokens: number } };
      assert.equal(pj.kv_transfer_params.do_remote_prefill, true);
      assert.equal(pj.kv_transfer_params.do_remote_decode, false);
      assert.ok((pj.kv_transfer_params.remote_block_ids as number[]).length >= Math.floor(pj.usage.prompt_tokens / 16));
      const streamed = await post(prefill, '/v1/completions', { prompt, stream: true, kv_transfer_params: { do_remote_decode: true } });
      assert.equal(streamed.status, 400);

      const local = await timed(decode, { prompt: prompt + ' local', max_tokens: 3 });
      const remote = await timed(decode, { prompt: prompt + ' remote', max_tokens: 3, kv_transfer_params: pj.kv_transfer_params });
      assert.ok(remote.ttftMs < local.ttftMs / 2, `decode TTFT with KV transfer ${remote.ttftMs.toFixed(0)} ms vs prefill ${local.ttftMs.toFixed(0)} ms`);
    } finally {
      await Promise.all([prefill.close(), decode.close()]);
    }
  });

  it('/tokenize and /detokenize as vLLM serves them', async () => {
    const e = await engine({ maxModelLen: 8192 });
    try {
      const t = (await (await post(e, '/tokenize', { prompt: 'Hello, my dog is cute', return_token_strs: true })).json()) as {
        count: number;
        max_model_len: number;
        tokens: number[];
        token_strs: string[];
      };
      assert.deepEqual(t.tokens, [128000, 9906, 11, 856, 5679, 374, 19369]);
      assert.equal(t.count, 7);
      assert.equal(t.max_model_len, 8192);
      assert.deepEqual(t.token_strs.slice(0, 3), ['<|begin_of_text|>', 'Hello', ',']);
      const plain = (await (await post(e, '/tokenize', { prompt: 'Hello', add_special_tokens: false })).json()) as { tokens: number[]; token_strs: null };
      assert.deepEqual(plain.tokens, [9906]);
      assert.equal(plain.token_strs, null);
      const chat = (await (await post(e, '/tokenize', { messages: [{ role: 'user', content: 'hi' }] })).json()) as { count: number; tokens: number[] };
      const r = (await (await post(e, '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 })).json()) as { usage: { prompt_tokens: number } };
      assert.equal(chat.count, r.usage.prompt_tokens, 'the chat form counts what a chat request is charged');
      assert.equal(chat.tokens[0], 128000);
      const d = (await (await post(e, '/detokenize', { tokens: [9906, 11, 856, 5679] })).json()) as { prompt: string };
      assert.equal(d.prompt, 'Hello, my dog');
      assert.equal((await post(e, '/detokenize', { tokens: [1e9] })).status, 400);
      assert.equal((await post(e, '/tokenize', { model: 'nope', prompt: 'x' })).status, 404);
    } finally {
      await e.close();
    }
  });
});
