// The semantic cache with an `onnx` embedder end to end: the embedded API server with the project CRDs, a simulated
// engine on its own loopback "pod IP", a gateway, the `openai` SDK as the client, and ModelRoutes whose
// spec.cache.semantic.embedder is {type: onnx, modelPath} on a real ONNX model file (the static embedder's WordLlama
// weights as an ONNX graph, built by scripts/onnx-embedder.sh; no download) run by onnxruntime-node in the gateway.
// A route whose model file is missing or does not load serves exact hits only, and says why (routing-table problem
// and log line). Skipped with one line naming what enables it when onnxruntime-node or the test model is absent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import OpenAI from 'openai';
import { startTestApiServer, projectCrds, type TestApiServer } from '../../src/kube/testing/apiserver.ts';
import { startEngine, type EngineServer } from '../../src/engine/server.ts';
import { parseEngineArgs } from '../../src/engine/options.ts';
import { startGateway, type GatewayHandle } from '../../src/gateway/gateway.ts';
import { until } from '../../src/kube/testing/until.ts';
import { readyPod } from '../support/pods.ts';
import { needsOnnxEmbedder, onnxEmbedderModel } from '../support/system.ts';

const skip = needsOnnxEmbedder();
const NET = '/apis/networking.matrixinfer.ai/v1alpha1/namespaces/default';
const ENGINE_IP = '127.0.0.74';
const MODEL = onnxEmbedderModel();

let api: TestApiServer;
let engine: EngineServer;
let gw: GatewayHandle;
let tmp = '';
const accessLog: Array<Record<string, unknown>> = [];
const logs: string[] = [];
let requestNo = 0;

async function route(name: string, embedder: Record<string, unknown>): Promise<void> {
  await api.call('POST', `${NET}/modelroutes`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelRoute',
    metadata: { name },
    spec: { modelName: name, rules: [{ targetModels: [{ modelServerName: 'open' }] }], cache: { exact: {}, semantic: { threshold: 0.85, embedder: { type: 'onnx', ...embedder } } } },
  });
}

/** One chat completion through the SDK; its cache header and, from the access log, the engine attempts. */
async function chat(model: string, question: string): Promise<{ cache: string | null; content: string; attempts: number }> {
  const id = `onnx-req-${++requestNo}`;
  const { data, response } = await new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'none', maxRetries: 0 })
    .chat.completions.create({ model, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: question }], max_tokens: 12, temperature: 0 }, { headers: { 'x-request-id': id } })
    .withResponse();
  const line = await until(`access log of ${id}`, async () => accessLog.find((l) => l.request_id === id));
  return { cache: response.headers.get('x-matrixinfer-cache'), content: data.choices.map((c) => c.message.content).join('|'), attempts: line.attempts as number };
}

before(async () => {
  if (skip) return;
  tmp = mkdtempSync(join(tmpdir(), 'gateway-cache-onnx-'));
  // A model file that is not one, with a good tokenizer beside it: it fails in the gateway's worker, after compiling.
  writeFileSync(join(tmp, 'broken.onnx'), 'not an onnx model');
  copyFileSync(join(dirname(MODEL), 'tokenizer.json'), join(tmp, 'tokenizer.json'));
  api = await startTestApiServer();
  await api.installCrds(projectCrds());
  engine = await startEngine(
    parseEngineArgs(['sim-model', '--host', ENGINE_IP, '--port', '0', '--time-to-first-token-ms', '20', '--inter-token-latency-ms', '2', '--inter-token-latency-per-seq-ms', '0'], { warn: () => {} }),
  );
  const log = new PassThrough();
  log.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line) accessLog.push(JSON.parse(line) as Record<string, unknown>);
  });
  gw = await startGateway({ kubeConfig: api.kubeConfig, port: 0, accessLog: log, log: (m) => logs.push(m), scrapeIntervalMs: 0 });
  await gw.ready;
  await readyPod(api, 'sim-0', 'sim', ENGINE_IP);
  await api.call('POST', `${NET}/modelservers`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelServer',
    metadata: { name: 'open' },
    spec: { modelInferRef: { name: 'sim' }, model: 'sim-model', service: { port: engine.port } },
  });
  await route('onnx-cached', { modelPath: MODEL });
  await route('onnx-missing', { modelPath: join(tmp, 'missing.onnx') });
  await route('onnx-broken', { modelPath: join(tmp, 'broken.onnx') });
  await until('every route served', async () => {
    const ids = ((await (await fetch(`${gw.url}/v1/models`)).json()) as { data: { id: string }[] }).data.map((m) => m.id);
    return ['onnx-cached', 'onnx-missing', 'onnx-broken'].every((m) => ids.includes(m));
  });
});

after(async () => {
  await gw?.close();
  await engine?.close();
  await api?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('through a route with embedder.type onnx, a paraphrase is a semantic hit and a negation is not', { skip }, async () => {
  const first = await chat('onnx-cached', 'How do I turn on dark mode in the settings?');
  assert.deepEqual([first.cache, first.attempts], ['miss', 1]);
  // The model loads in the gateway's worker thread; until it has, a lookup is a miss (bounded by the timeout).
  const para = await until('a semantic hit through the onnx embedder', async () => {
    const a = await chat('onnx-cached', 'How can I enable dark mode in the settings?');
    return a.cache === 'hit' ? a : undefined;
  });
  assert.deepEqual([para.attempts, para.content], [0, first.content]);
  const again = await chat('onnx-cached', 'How could I enable dark mode in the settings?');
  assert.deepEqual([again.cache, again.attempts, again.content], ['hit', 0, first.content]);
  const negation = await chat('onnx-cached', 'How do I not turn on dark mode in the settings?');
  assert.deepEqual([negation.cache, negation.attempts], ['miss', 1]);
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  assert.match(text, /matrixinfer_gateway_cache_lookups_total\{model="onnx-cached",tier="semantic",result="hit"\} [1-9]/);
  assert.ok(!logs.some((l) => l.includes('ns/onnx-cached') || l.includes('default/onnx-cached')), logs.join('\n'));
});

test('a route whose onnx model is missing or does not load is exact-only and says why', { skip }, async () => {
  for (const model of ['onnx-missing', 'onnx-broken']) {
    const first = await chat(model, 'How do I turn on dark mode in the settings?');
    assert.equal(first.cache, 'miss');
    const exact = await until(`${model}: the exact tier still serves`, async () => {
      const a = await chat(model, 'How do I turn on dark mode in the settings?');
      return a.cache === 'hit' ? a : undefined;
    });
    assert.deepEqual([exact.attempts, exact.content], [0, first.content]);
    const para = await chat(model, 'How can I enable dark mode in the settings?');
    assert.deepEqual([para.cache, para.attempts], ['miss', 1]);
  }
  await until('the problems reported', async () =>
    logs.some((l) => l.startsWith('routing table:') && l.includes(`ModelRoute default/onnx-missing: cache.semantic.embedder onnx: model file ${join(tmp, 'missing.onnx')}: ENOENT; the route's cache is exact-only`)) &&
    logs.some((l) => l.startsWith('routing table:') && /ModelRoute default\/onnx-broken: cache\.semantic\.embedder onnx: model \S+broken\.onnx failed to load: .*Protobuf parsing failed/.test(l)),
  );
  assert.ok(logs.some((l) => l.startsWith('cache default/onnx-broken: onnx embedder: model')), logs.join('\n'));
});
