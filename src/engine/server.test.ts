import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { defaultEngineOptions, type EngineOptions } from './options.ts';
import { startEngine, type EngineServer } from './server.ts';

// Small latencies keep the suite fast; each test that needs a particular batch size or latency starts its own engine.
const FAST = { timeToFirstTokenMs: 2, prefillTimePerTokenMs: 0.005, interTokenLatencyMs: 1, interTokenLatencyPerSeqMs: 0.05 };

type Overrides = Parameters<typeof defaultEngineOptions>[0];

async function engine(overrides: Overrides = {}): Promise<EngineServer> {
  return startEngine(
    defaultEngineOptions({ port: 0, servedModelNames: ['sim-model', 'alias'], ...overrides, latency: { ...FAST, ...overrides?.latency } }),
  );
}

function client(e: EngineServer): OpenAI {
  return new OpenAI({ baseURL: e.url + '/v1', apiKey: 'unused', maxRetries: 0 });
}

function post(e: EngineServer, path: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(e.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
}

/** Value of the first sample of `name` whose labels contain `labelPart`. */
async function metric(e: EngineServer, name: string, labelPart = ''): Promise<number> {
  const text = await (await fetch(e.url + '/metrics')).text();
  for (const line of text.split('\n')) {
    if (line.startsWith(name + '{') && line.includes(labelPart)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  throw new Error(`metric ${name}{${labelPart}} not found`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting for condition');
    await sleep(10);
  }
}

describe('engine server: OpenAI API', () => {
  let e: EngineServer;
  let ai: OpenAI;
  before(async () => {
    e = await engine();
    ai = client(e);
  });
  after(() => e.close());

  it('chat completion: vLLM shape, max_tokens honoured, usage consistent', async () => {
    const r = await ai.chat.completions.create({
      model: 'sim-model',
      messages: [{ role: 'user', content: 'Tell me about the weather in Paris today.' }],
      max_tokens: 7,
    });
    assert.match(r.id, /^chatcmpl-[0-9a-f]{32}$/);
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, 'sim-model');
    assert.equal(typeof r.created, 'number');
    assert.equal(r.choices.length, 1);
    const c = r.choices[0]!;
    assert.equal(c.finish_reason, 'length');
    assert.equal(c.message.role, 'assistant');
    assert.ok(c.message.content && c.message.content.length > 0);
    assert.equal(r.usage!.completion_tokens, 7);
    assert.ok(r.usage!.prompt_tokens > 10, 'prompt tokens include the chat template');
    assert.equal(r.usage!.total_tokens, r.usage!.prompt_tokens + 7);
  });

  it('chat completion is deterministic for the same prompt and ends by itself without max_tokens', async () => {
    const ask = () => ai.chat.completions.create({ model: 'alias', messages: [{ role: 'user', content: 'hi' }] });
    const [a, b] = await Promise.all([ask(), ask()]);
    assert.equal(a.choices[0]!.message.content, b.choices[0]!.message.content);
    assert.equal(a.model, 'alias', 'the requested served name is echoed');
    assert.equal(a.choices[0]!.finish_reason, 'stop');
    assert.ok(a.usage!.completion_tokens >= 16 && a.usage!.completion_tokens <= 32);
  });

  it('streaming chat: role first, one chunk per token, finish_reason, usage chunk, [DONE]', async () => {
    const stream = await ai.chat.completions.create({
      model: 'sim-model',
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Count to ten.' }],
      max_completion_tokens: 12,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.equal(chunks[0]!.choices[0]!.delta.role, 'assistant');
    const content = chunks.filter((c) => c.choices[0]?.delta.content);
    assert.equal(content.length, 12);
    const finals = chunks.filter((c) => c.choices[0]?.finish_reason);
    assert.equal(finals.length, 1);
    assert.equal(finals[0]!.choices[0]!.finish_reason, 'length');
    const usage = chunks.at(-1)!;
    assert.deepEqual(usage.choices, []);
    assert.equal(usage.usage!.completion_tokens, 12);
    assert.equal(usage.usage!.total_tokens, usage.usage!.prompt_tokens + 12);
    assert.ok(chunks.every((c) => c.id === chunks[0]!.id && c.object === 'chat.completion.chunk'));
  });

  it('raw SSE stream: text/event-stream framing ending in data: [DONE]', async () => {
    const res = await post(e, '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], max_tokens: 3, stream: true });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    const text = await res.text();
    assert.ok(text.endsWith('data: [DONE]\n\n'));
    const events = text.split('\n\n').filter(Boolean);
    assert.ok(events.every((ev) => ev.startsWith('data: ')));
    assert.equal(events.length, 1 + 3 + 1, 'role chunk, three tokens, [DONE]');
    assert.ok(!text.includes('"usage"'), 'no usage chunk unless asked');
  });

  it('completions: non-streaming and streaming agree, max_tokens honoured', async () => {
    const r = await ai.completions.create({ model: 'sim-model', prompt: 'The quick brown fox', max_tokens: 9 });
    assert.match(r.id, /^cmpl-/);
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices[0]!.finish_reason, 'length');
    assert.equal(r.usage!.completion_tokens, 9);
    assert.equal(r.usage!.prompt_tokens, 5, '<|begin_of_text|> + 4 Llama-3 tokens');

    const stream = await ai.completions.create({ model: 'sim-model', prompt: 'The quick brown fox', max_tokens: 9, stream: true });
    let text = '';
    let n = 0;
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]!.text;
      n++;
      finish = chunk.choices[0]!.finish_reason ?? finish;
    }
    assert.equal(n, 9);
    assert.equal(finish, 'length');
    assert.equal(text, r.choices[0]!.text, 'same prompt, same text');
  });

  it('completions: default max_tokens is 16; several prompts and n give indexed choices', async () => {
    const r = await ai.completions.create({ model: 'sim-model', prompt: ['first prompt', 'second prompt'], n: 2, max_tokens: 3 });
    assert.deepEqual(r.choices.map((c) => c.index).sort(), [0, 1, 2, 3]);
    assert.equal(r.usage!.completion_tokens, 12);
    const d = await ai.completions.create({ model: 'sim-model', prompt: 'hello', stop: null });
    assert.ok(d.usage!.completion_tokens <= 16 && d.usage!.completion_tokens >= 8);
    const ids = await ai.completions.create({ model: 'sim-model', prompt: [1, 2, 3, 4, 5], max_tokens: 2 });
    assert.equal(ids.usage!.prompt_tokens, 5);
  });

  it('stop strings end generation with finish_reason stop', async () => {
    const r = await ai.completions.create({ model: 'sim-model', prompt: 'Write sentences', max_tokens: 200, stop: ['.'] });
    assert.equal(r.choices[0]!.finish_reason, 'stop');
    assert.ok(!r.choices[0]!.text.includes('.'));
    assert.ok(r.usage!.completion_tokens < 200);
  });

  it('chat with tools and multi-part content counts the tool definitions as prompt', async () => {
    const messages = [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'What is the weather?' }] }];
    const plain = await ai.chat.completions.create({ model: 'sim-model', messages, max_tokens: 1 });
    const withTools = await ai.chat.completions.create({
      model: 'sim-model',
      messages,
      max_tokens: 1,
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    });
    assert.ok(withTools.usage!.prompt_tokens > plain.usage!.prompt_tokens + 10);
  });

  it('GET /v1/models, /health, /ping, /version', async () => {
    const models = await ai.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ['sim-model', 'alias']);
    const raw = (await (await fetch(e.url + '/v1/models')).json()) as { object: string; data: Record<string, unknown>[] };
    assert.equal(raw.object, 'list');
    assert.equal(raw.data[0]!.owned_by, 'vllm');
    assert.equal(raw.data[0]!.root, e.options.model);
    assert.equal(raw.data[0]!.parent, null);
    assert.equal(raw.data[0]!.max_model_len, 131072);
    const health = await fetch(e.url + '/health');
    assert.equal(health.status, 200);
    assert.equal(await health.text(), '');
    assert.equal((await fetch(e.url + '/ping')).status, 200);
    assert.match(((await (await fetch(e.url + '/version')).json()) as { version: string }).version, /^\d+\.\d+/);
  });
});

describe('engine server: errors', () => {
  let e: EngineServer;
  before(async () => {
    e = await engine({ maxModelLen: 256 });
  });
  after(() => e.close());

  async function expectError(res: Response, status: number, type: string, message?: RegExp): Promise<void> {
    assert.equal(res.status, status);
    assert.match(res.headers.get('content-type')!, /application\/json/);
    const body = (await res.json()) as { error: { message: string; type: string; param: unknown; code: number } };
    assert.equal(body.error.type, type);
    assert.equal(body.error.code, status);
    assert.ok('param' in body.error);
    if (message) assert.match(body.error.message, message);
  }

  it('malformed JSON, empty body, wrong types and missing fields are 400s, and the engine keeps serving', async () => {
    await expectError(await post(e, '/v1/chat/completions', '{"messages": [oops'), 400, 'BadRequestError', /JSON/);
    await expectError(await post(e, '/v1/chat/completions', ''), 400, 'BadRequestError');
    await expectError(await post(e, '/v1/chat/completions', '[1,2]'), 400, 'BadRequestError');
    await expectError(await post(e, '/v1/chat/completions', { model: 'sim-model' }), 400, 'BadRequestError', /messages/);
    await expectError(await post(e, '/v1/chat/completions', { messages: [] }), 400, 'BadRequestError', /messages/);
    await expectError(await post(e, '/v1/chat/completions', { messages: [{ content: 'no role' }] }), 400, 'BadRequestError');
    await expectError(await post(e, '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], max_tokens: 0 }), 400, 'BadRequestError', /max_tokens/);
    await expectError(await post(e, '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], max_tokens: 'ten' }), 400, 'BadRequestError');
    await expectError(await post(e, '/v1/completions', { prompt: { not: 'a prompt' } }), 400, 'BadRequestError', /prompt/);
    await expectError(await post(e, '/v1/completions', { prompt: '' }), 400, 'BadRequestError');
    await expectError(await post(e, '/v1/completions', { prompt: 'x', stream_options: { include_usage: true } }), 400, 'BadRequestError');
    // Still serving.
    const ok = await post(e, '/v1/completions', { prompt: 'still alive', max_tokens: 2 });
    assert.equal(ok.status, 200);
  });

  it('the SDK surfaces errors as APIError with status and message', async () => {
    const ai = client(e);
    await assert.rejects(ai.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.NotFoundError);
      assert.equal(err.message, '404 The model `nope` does not exist.');
      return true;
    });
  });

  it('unknown model: 404 NotFoundError in vLLM wording', async () => {
    await expectError(
      await post(e, '/v1/completions', { model: 'gpt-5', prompt: 'x' }),
      404,
      'NotFoundError',
      /^The model `gpt-5` does not exist\.$/,
    );
  });

  it('prompt plus completion beyond max-model-len: 400 with the context-length message', async () => {
    const long = 'word '.repeat(300);
    await expectError(
      await post(e, '/v1/chat/completions', { messages: [{ role: 'user', content: long }] }),
      400,
      'BadRequestError',
      /^This model's maximum context length is 256 tokens\. However, you requested \d+ tokens \(\d+ in the messages, 32 in the completion\)\. Please reduce the length of the messages or completion\.$/,
    );
    await expectError(
      await post(e, '/v1/completions', { prompt: 'short', max_tokens: 300 }),
      400,
      'BadRequestError',
      /you requested 302 tokens \(2 in the prompt, 300 in the completion\)/,
    );
    // Fits exactly (<|begin_of_text|> + "short").
    assert.equal((await post(e, '/v1/completions', { prompt: 'short', max_tokens: 254 })).status, 200);
  });

  it('unknown routes: 404; wrong method: 405 with Allow', async () => {
    await expectError(await fetch(e.url + '/v1/nothing'), 404, 'NotFoundError');
    const res = await fetch(e.url + '/v1/chat/completions');
    assert.equal(res.headers.get('allow'), 'POST');
    await expectError(res, 405, 'MethodNotAllowedError');
    await expectError(await post(e, '/metrics', {}), 405, 'MethodNotAllowedError');
  });
});

describe('engine server: scheduling and metrics', () => {
  it('requests beyond max-num-seqs wait: waiting gauge rises while running stays at the limit', async () => {
    const e = await engine({ maxNumSeqs: 2, latency: { interTokenLatencyMs: 3 } });
    try {
      const ai = client(e);
      const runs = Array.from({ length: 5 }, (_, i) =>
        ai.completions.create({ model: 'sim-model', prompt: `request ${i}`, max_tokens: 60 }),
      );
      await waitFor(async () => (await metric(e, 'vllm:num_requests_waiting')) === 3);
      assert.equal(await metric(e, 'vllm:num_requests_running'), 2);
      assert.ok((await metric(e, 'vllm:kv_cache_usage_perc')) > 0);
      const results = await Promise.all(runs);
      assert.ok(results.every((r) => r.usage!.completion_tokens === 60));
      assert.equal(await metric(e, 'vllm:num_requests_running'), 0);
      assert.equal(await metric(e, 'vllm:num_requests_waiting'), 0);
      assert.equal(await metric(e, 'vllm:kv_cache_usage_perc'), 0);
      assert.equal(await metric(e, 'vllm:request_success_total', 'finished_reason="length"'), 5);
      assert.equal(await metric(e, 'vllm:generation_tokens_total'), 300);
      assert.equal(await metric(e, 'vllm:time_to_first_token_seconds_count'), 5);
      assert.equal(await metric(e, 'vllm:inter_token_latency_seconds_count'), 5 * 59);
      assert.equal(await metric(e, 'vllm:e2e_request_latency_seconds_count'), 5);
      // The three queued requests waited for a slot.
      assert.ok((await metric(e, 'vllm:request_queue_time_seconds_sum')) > 3 * 0.1);
      assert.ok(e.scheduler.idle, 'the loop sleeps when idle');
    } finally {
      await e.close();
    }
  });

  it('TTFT grows with prompt length', async () => {
    const e = await engine({ latency: { prefillTimePerTokenMs: 0.2, timeToFirstTokenMs: 5 } });
    try {
      const ai = client(e);
      const ttft = async (content: string) => {
        const t0 = performance.now();
        const stream = await ai.chat.completions.create({ model: 'sim-model', messages: [{ role: 'user', content }], max_tokens: 2, stream: true });
        let first = 0;
        for await (const chunk of stream) if (!first && chunk.choices[0]?.delta.content) first = performance.now() - t0;
        return first;
      };
      const short = await ttft('hello');
      const long = await ttft('lorem ipsum dolor sit amet '.repeat(300)); // ~1500 tokens → ~300 ms of prefill
      assert.ok(long - short > 150, `long ${long.toFixed(1)} ms vs short ${short.toFixed(1)} ms`);
      assert.ok(short < 200, `short prompt TTFT ${short.toFixed(1)} ms`);
      const ttftSum = await metric(e, 'vllm:time_to_first_token_seconds_sum');
      assert.ok(ttftSum > 0.25 && ttftSum < 1.5);
    } finally {
      await e.close();
    }
  });

  it('a disconnected stream is aborted and frees its slot', async () => {
    const e = await engine({ maxNumSeqs: 1, latency: { interTokenLatencyMs: 5 } });
    try {
      const ai = client(e);
      const stream = await ai.chat.completions.create({
        model: 'sim-model',
        messages: [{ role: 'user', content: 'a very long answer please' }],
        max_tokens: 2000, // 10 s if it ran to the end
        stream: true,
      });
      let n = 0;
      for await (const _chunk of stream) if (++n === 5) break; // breaking out aborts the HTTP request
      await waitFor(async () => (await metric(e, 'vllm:request_success_total', 'finished_reason="abort"')) === 1);
      assert.equal(await metric(e, 'vllm:num_requests_running'), 0);
      const t0 = performance.now();
      const r = await ai.chat.completions.create({ model: 'sim-model', messages: [{ role: 'user', content: 'next' }], max_tokens: 3 });
      assert.equal(r.usage!.completion_tokens, 3);
      assert.ok(performance.now() - t0 < 1000, 'the slot was free');
      assert.equal(await metric(e, 'vllm:kv_cache_usage_perc'), 0);
    } finally {
      await e.close();
    }
  });

  it('--engine sglang: SGLang metric names, owned_by and extra routes', async () => {
    const e = await engine({ engine: 'sglang' });
    try {
      const r = await client(e).completions.create({ model: 'sim-model', prompt: 'hi', max_tokens: 4 });
      assert.equal(r.usage!.completion_tokens, 4);
      const text = await (await fetch(e.url + '/metrics')).text();
      for (const name of ['sglang:num_running_reqs', 'sglang:num_queue_reqs', 'sglang:token_usage', 'sglang:time_to_first_token_seconds_bucket']) {
        assert.ok(text.includes(name + '{'), name);
      }
      assert.ok(!text.includes('vllm:'));
      assert.equal(await metric(e, 'sglang:generation_tokens_total'), 4);
      const models = (await (await fetch(e.url + '/v1/models')).json()) as { data: { owned_by: string }[] };
      assert.equal(models.data[0]!.owned_by, 'sglang');
      assert.equal((await fetch(e.url + '/get_model_info')).status, 200);
    } finally {
      await e.close();
    }
  });

  it('close() ends in-flight streams and frees the port', async () => {
    const e = await engine({ latency: { interTokenLatencyMs: 5 } });
    const res = await post(e, '/v1/completions', { prompt: 'x', max_tokens: 4000, stream: true });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    await reader.read();
    await e.close();
    await assert.rejects(async () => {
      for (;;) if ((await reader.read()).done) break;
    });
    await assert.rejects(fetch(e.url + '/health'));
  });
});

describe('engine options in the server', () => {
  it('rejects inconsistent options before listening', async () => {
    const bad: EngineOptions = { ...defaultEngineOptions({ port: 0 }), numGpuBlocks: 10, blockSize: 16, maxModelLen: 4096 };
    await assert.rejects(startEngine(bad), /KV cache/);
  });
});
