// The response cache end to end: the embedded API server with the project CRDs, a real simulated engine on its own
// loopback "pod IP", two gateways, a real redis-server, and the `openai` SDK as the client. Whether a response
// came from the cache is read from `x-matrixinfer-cache` and confirmed in the access log (a hit makes no attempt on
// an engine). The simulated engine answers deterministically per prompt, so a replay must equal the engine's answer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import OpenAI from 'openai';
import { Redis } from 'ioredis';
import { startTestApiServer, projectCrds, type TestApiServer } from '../../src/kube/testing/apiserver.ts';
import { startEngine, type EngineServer } from '../../src/engine/server.ts';
import { parseEngineArgs } from '../../src/engine/options.ts';
import { startGateway, type GatewayHandle } from '../../src/gateway/gateway.ts';
import { until } from '../../src/kube/testing/until.ts';
import { API_KEYS_LABEL } from '../../src/gateway/auth/apikey.ts';
import { readyPod } from '../support/pods.ts';
import { freePort } from '../support/platform.ts';
import { needs } from '../support/system.ts';

const NET = '/apis/networking.matrixinfer.ai/v1alpha1/namespaces/default';
const ENGINE_IP = '127.0.0.71';
const REDIS_BIN = process.env.REDIS_SERVER ?? 'redis-server';
const redisSkip = needs(['redis-server', REDIS_BIN]);

let api: TestApiServer;
let engine: EngineServer;
let gw: GatewayHandle;
let gw2: GatewayHandle | undefined;
let redis: ChildProcess | undefined;
let redisPort = 0;
let tmp = '';
const accessLog: Array<Record<string, unknown>> = [];
let requestNo = 0;

const CACHE = { exact: { ttl: '10m' }, semantic: { threshold: 0.85 } };

async function modelServer(name: string, spec: Record<string, unknown> = {}): Promise<void> {
  await api.call('POST', `${NET}/modelservers`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelServer',
    metadata: { name },
    spec: { modelInferRef: { name: 'sim' }, model: 'sim-model', service: { port: engine.port }, ...spec },
  });
}

async function route(name: string, serverName: string, cache: Record<string, unknown>): Promise<void> {
  await api.call('POST', `${NET}/modelroutes`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelRoute',
    metadata: { name },
    spec: { modelName: name, rules: [{ targetModels: [{ modelServerName: serverName }] }], cache },
  });
}

function client(gateway: GatewayHandle, apiKey = 'none'): OpenAI {
  return new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey, maxRetries: 0 });
}

interface Answer {
  cache: string | null;
  content: string;
  /** Engine attempts the gateway made for it (0: served from the cache). */
  attempts: number;
  status: number;
}

/** One chat completion through the SDK; its cache header and, from the access log, the engine attempts. */
async function chat(question: string, opts: { model?: string; gateway?: GatewayHandle; apiKey?: string; headers?: Record<string, string>; extra?: Record<string, unknown> } = {}): Promise<Answer> {
  const id = `req-${++requestNo}`;
  const { data, response } = await client(opts.gateway ?? gw, opts.apiKey)
    .chat.completions.create(
      { model: opts.model ?? 'cached', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: question }], max_tokens: 12, temperature: 0, ...(opts.extra ?? {}) } as OpenAI.ChatCompletionCreateParamsNonStreaming,
      { headers: { 'x-request-id': id, ...(opts.headers ?? {}) } },
    )
    .withResponse();
  const line = await until(`access log of ${id}`, async () => accessLog.find((l) => l.request_id === id));
  return { cache: response.headers.get('x-matrixinfer-cache'), content: data.choices.map((c) => c.message.content).join('|'), attempts: line.attempts as number, status: response.status };
}

/** The status and cache header of a request the SDK would refuse to read (errors), sent with fetch. */
async function raw(body: Record<string, unknown>, model = 'cached'): Promise<{ status: number; cache: string | null }> {
  const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, ...body }) });
  await res.arrayBuffer();
  return { status: res.status, cache: res.headers.get('x-matrixinfer-cache') };
}

async function startRedis(): Promise<void> {
  redisPort = await freePort();
  tmp = mkdtempSync(join(tmpdir(), 'gateway-cache-redis-'));
  redis = spawn(REDIS_BIN, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmp], { stdio: 'ignore' });
  const probe = new Redis({ port: redisPort, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 20, maxRetriesPerRequest: 0 });
  probe.on('error', () => {});
  await until('redis-server', async () => (await probe.ping().catch(() => '')) === 'PONG');
  probe.disconnect();
}

before(async () => {
  api = await startTestApiServer();
  await api.installCrds(projectCrds());
  engine = await startEngine(
    parseEngineArgs(['sim-model', '--host', ENGINE_IP, '--port', '0', '--time-to-first-token-ms', '20', '--inter-token-latency-ms', '2', '--inter-token-latency-per-seq-ms', '0'], { warn: () => {} }),
  );
  const log = new PassThrough();
  log.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line) accessLog.push(JSON.parse(line) as Record<string, unknown>);
  });
  gw = await startGateway({ kubeConfig: api.kubeConfig, port: 0, accessLog: log, log: () => {}, scrapeIntervalMs: 0 });
  await gw.ready;
  await readyPod(api, 'sim-0', 'sim', ENGINE_IP);
  await api.call('POST', '/api/v1/namespaces/default/secrets', {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'cache-keys', labels: { [API_KEYS_LABEL]: 'true' } },
    data: { alice: Buffer.from('sk-alice').toString('base64'), bob: Buffer.from('sk-bob').toString('base64') },
  });
  await modelServer('open');
  await modelServer('keyed', { authentication: { enabled: true, type: 'apiKey', config: { secretName: 'cache-keys' } } });
  await route('cached', 'open', CACHE);
  await route('uncached', 'open', {});
  await route('per-user', 'keyed', CACHE);
  await route('shared', 'keyed', { ...CACHE, shared: true });
  const models = ['cached', 'uncached', 'per-user', 'shared'];
  if (!redisSkip) {
    await startRedis();
    await route('redis-cached', 'open', { ...CACHE, store: { type: 'redis', redis: { address: `127.0.0.1:${redisPort}`, keyPrefix: 'it:' } } });
    models.push('redis-cached');
    gw2 = await startGateway({ kubeConfig: api.kubeConfig, port: 0, accessLog: log, log: () => {}, scrapeIntervalMs: 0 });
    await gw2.ready;
  }
  for (const g of [gw, gw2]) {
    if (g === undefined) continue;
    await until('every route served', async () => {
      const ids = ((await (await fetch(`${g.url}/v1/models`)).json()) as { data: { id: string }[] }).data.map((m) => m.id);
      return models.every((m) => ids.includes(m));
    });
  }
});

after(async () => {
  await gw?.close();
  await gw2?.close();
  await engine?.close();
  await api?.close();
  redis?.kill('SIGKILL');
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('an identical request is an exact hit: the engine is not asked again and the answer is the same', async () => {
  const first = await chat('What is the capital of France?');
  assert.deepEqual([first.cache, first.attempts], ['miss', 1]);
  const again = await chat('What is the capital of France?');
  assert.deepEqual([again.cache, again.attempts, again.content], ['hit', 0, first.content]);
  // Another generation parameter is another request.
  const longer = await chat('What is the capital of France?', { extra: { max_tokens: 13 } });
  assert.equal(longer.cache, 'miss');
  // A route without a cache says nothing about one.
  assert.equal((await chat('What is the capital of France?', { model: 'uncached' })).cache, null);
});

test('a paraphrase is a semantic hit; a negation or another number is not', async () => {
  const first = await chat('How do I turn on dark mode in the settings?');
  assert.equal(first.cache, 'miss');
  const para = await chat('How can I enable dark mode in the settings?');
  assert.deepEqual([para.cache, para.attempts, para.content], ['hit', 0, first.content]);
  assert.deepEqual([(await chat('How do I turn off dark mode in the settings?')).cache], ['miss']);
  assert.equal((await chat('Is 5 mg of melatonin a safe dose?')).cache, 'miss');
  const other = await chat('Is 50 mg of melatonin a safe dose?');
  assert.deepEqual([other.cache, other.attempts], ['miss', 1]);
});

test('a streamed request is stored once complete and a streamed hit is replayed as SSE ending in [DONE]', async () => {
  const question = 'Write one sentence about the sea.';
  const stream = async (includeUsage: boolean) => {
    const { data, response } = await client(gw)
      .chat.completions.create({ model: 'cached', messages: [{ role: 'user', content: question }], max_tokens: 16, temperature: 0, stream: true, ...(includeUsage ? { stream_options: { include_usage: true } } : {}) })
      .withResponse();
    let text = '';
    let usage: unknown = null;
    for await (const chunk of data) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    return { cache: response.headers.get('x-matrixinfer-cache'), type: response.headers.get('content-type'), text, usage };
  };
  const first = await stream(false);
  assert.equal(first.cache, 'miss');
  assert.ok(first.text.length > 0);
  const hit = await until('the stream stored', async () => {
    const r = await stream(true);
    return r.cache === 'hit' ? r : undefined;
  });
  assert.equal(hit.text, first.text);
  assert.match(hit.type ?? '', /^text\/event-stream/);
  assert.equal((hit.usage as { completion_tokens: number }).completion_tokens, 16, 'usage kept from the engine, replayed when asked');
  // The same question without stream is served from the same entry as JSON.
  const json = await chat(question, { extra: { max_tokens: 16 } });
  assert.ok(json.cache === 'miss', 'the system prompt differs, so it is not the same request');
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'cached', messages: [{ role: 'user', content: question }], max_tokens: 16, temperature: 0, stream: true }),
  });
  const body = await res.text();
  assert.equal(res.headers.get('x-matrixinfer-cache'), 'hit');
  assert.ok(body.trimEnd().endsWith('data: [DONE]'));
  assert.ok(!body.includes('"usage"'), 'no usage event when the request did not ask for one');
});

test('cache-control: no-cache skips the lookup, no-store the store', async () => {
  const q = 'Name three primary colors.';
  await chat(q);
  const noCache = await chat(q, { headers: { 'cache-control': 'no-cache' } });
  assert.deepEqual([noCache.cache, noCache.attempts], ['bypass', 1]);
  assert.equal((await chat(q)).cache, 'hit');
  const q2 = 'Name three secondary colors.';
  assert.equal((await chat(q2, { headers: { 'cache-control': 'no-store' } })).cache, 'miss');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal((await chat(q2)).cache, 'miss', 'the no-store response was not kept');
});

test('errors, n > 1 and hot temperatures are not stored', async () => {
  const tooLong = { messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 10_000_000, temperature: 0 };
  const err = await raw(tooLong);
  assert.ok(err.status >= 400 && err.status < 500, `engine refuses: ${err.status}`);
  assert.equal(err.cache, 'miss');
  assert.deepEqual(await raw(tooLong), { status: err.status, cache: 'miss' });
  const multi = await chat('Suggest a name for a cat.', { extra: { n: 2 } });
  assert.equal(multi.cache, 'bypass');
  const multiAgain = await chat('Suggest a name for a cat.', { extra: { n: 2 } });
  assert.deepEqual([multiAgain.cache, multiAgain.attempts], ['bypass', 1]);
  assert.equal((await chat('Suggest a name for a dog.', { extra: { temperature: 1.5 } })).cache, 'bypass');
  assert.equal((await chat('Suggest a name for a dog.', { extra: { temperature: 1.5 } })).cache, 'bypass');
});

test('with authentication, entries belong to their user unless the route shares them', async () => {
  const q = 'What is my favourite colour?';
  assert.equal((await chat(q, { model: 'per-user', apiKey: 'sk-alice' })).cache, 'miss');
  assert.equal((await chat(q, { model: 'per-user', apiKey: 'sk-bob' })).cache, 'miss');
  assert.equal((await chat(q, { model: 'per-user', apiKey: 'sk-alice' })).cache, 'hit');
  assert.equal((await chat(q, { model: 'shared', apiKey: 'sk-alice' })).cache, 'miss');
  assert.equal((await chat(q, { model: 'shared', apiKey: 'sk-bob' })).cache, 'hit');
  // Refused before the lookup: still a response of a cached route, and it says the cache was bypassed.
  assert.deepEqual(await raw({ messages: [{ role: 'user', content: q }] }, 'per-user'), { status: 401, cache: 'bypass' });
});

test('metrics count hits, misses and bypasses per tier', async () => {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  assert.match(text, /matrixinfer_gateway_cache_lookups_total\{model="cached",tier="exact",result="hit"\} [1-9]/);
  assert.match(text, /matrixinfer_gateway_cache_lookups_total\{model="cached",tier="semantic",result="hit"\} [1-9]/);
  assert.match(text, /matrixinfer_gateway_cache_lookups_total\{model="cached",tier="exact",result="bypass"\} [1-9]/);
  assert.match(text, /matrixinfer_gateway_cache_writes_total\{model="cached",outcome="no_store"\} 1/);
  assert.match(text, /matrixinfer_gateway_cache_entries\{store="memory"\} [1-9]/);
});

test('two gateways share a Redis store', { skip: redisSkip }, async () => {
  const first = await chat('Explain what a hash map is.', { model: 'redis-cached', gateway: gw });
  assert.equal(first.cache, 'miss');
  const exact = await until('stored in Redis', async () => {
    const a = await chat('Explain what a hash map is.', { model: 'redis-cached', gateway: gw2 });
    return a.cache === 'hit' ? a : undefined;
  });
  assert.deepEqual([exact.attempts, exact.content], [0, first.content]);
  const para = await chat('Explain what a hashmap is.', { model: 'redis-cached', gateway: gw2 });
  assert.deepEqual([para.cache, para.content], ['hit', first.content]);
  assert.equal((await chat('Explain what a hash map is not.', { model: 'redis-cached', gateway: gw2 })).cache, 'miss');
});
