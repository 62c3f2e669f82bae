// The `onnx` embedder on a real ONNX model run by onnxruntime-node: the static embedder's WordLlama weights as an
// ONNX graph (built by scripts/onnx-embedder.sh into ~/.cache/matrixinfer/, no download), so its vectors must equal
// the static embedder's. Also: the pooled output, CLS pooling, the token bound, padded batches, what a broken model,
// tokenizer or output does, and how routes compile onnx embedders (one model per file, exact-only when it cannot
// work). Skipped with one line naming what enables it when onnxruntime-node or the test model is absent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Registry } from 'prom-client';
import { staticEmbedder } from './static.ts';
import { dot } from './embedder.ts';
import { OnnxEmbedder, OnnxModel, onnxRuntimeMissing } from './onnx.ts';
import { ResponseCaches } from '../caches.ts';
import { cacheIdentity } from '../request.ts';
import { entryFromJson } from '../entry.ts';
import { parseCacheControl } from '../eligibility.ts';
import type { ModelRoute } from '../../../api/kinds/modelroute.ts';
import { needsOnnxEmbedder, onnxEmbedderModel } from '../../../../test/support/system.ts';

const skip = needsOnnxEmbedder();
const MODEL = onnxEmbedderModel();
const TOKENIZER = join(dirname(MODEL), 'tokenizer.json');

const SENTENCES = [
  'How do I reset my password?',
  'How can I enable dark mode in the settings?',
  'Recommend a good pasta recipe for dinner tonight',
  'Is 5 mg of melatonin a safe dose?',
  'Explain what a hash map is.',
  'Wie spät ist es in Berlin? 東京は何時ですか',
];

const route = (name: string, embedder: Record<string, unknown>, exact = true): ModelRoute => ({
  apiVersion: 'networking.matrixinfer.ai/v1alpha1',
  kind: 'ModelRoute',
  metadata: { name, namespace: 'ns' },
  spec: { modelName: name, rules: [{ targetModels: [{ modelServerName: 's' }] }], cache: { ...(exact ? { exact: {} } : {}), semantic: { embedder: { type: 'onnx', ...embedder } } } },
});

test('the onnx embedder gives the static embedder\'s vectors from the same weights as an ONNX model', { skip }, async () => {
  const model = new OnnxModel(MODEL);
  try {
    const onnx = new OnnxEmbedder(model, { tokenizerPath: TOKENIZER });
    assert.match(onnx.id, /^onnx:model\.onnx:loading$/);
    await onnx.ready;
    assert.deepEqual(model.info!.inputs, ['input_ids', 'attention_mask', 'token_type_ids']);
    assert.equal(onnx.dims, 128);
    assert.match(onnx.id, /^onnx:model\.onnx@[0-9a-f]{16}:[0-9a-f]{12}$/);
    const s = staticEmbedder();
    for (const text of SENTENCES) {
      const v = await onnx.embed(text);
      assert.equal(v.length, 128);
      assert.ok(Math.abs(dot(v, v) - 1) < 1e-5, 'a unit vector');
      const cos = dot(v, s.embedSync(text));
      assert.ok(cos >= 0.999, `${text}: cosine ${cos}`);
    }
    // Sent together, texts of different lengths run as one padded batch: the mask keeps the padding out.
    const batch = await Promise.all(SENTENCES.map((t) => onnx.embed(t)));
    batch.forEach((v, i) => assert.ok(dot(v, s.embedSync(SENTENCES[i]!)) >= 0.999, `batched: ${SENTENCES[i]}`));
    assert.ok(dot(await onnx.embed('How do I reset my password?'), await onnx.embed('How can I reset my password')) > 0.85);
    assert.equal(dot(await onnx.embed(''), await onnx.embed('')), 0, 'an empty text matches nothing');
    assert.equal((await onnx.embed('')).length, 128);
    assert.equal((await onnx.embed('x '.repeat(50_000))).length, 128, 'a long text is cut, not refused');

    // The same model, the graph's own pooled output: already [batch, dims], taken as it is.
    const pooled = new OnnxEmbedder(model, { tokenizerPath: TOKENIZER, outputName: 'sentence_embedding' });
    await pooled.ready;
    assert.notEqual(pooled.id, onnx.id, 'another output is another vector space');
    for (const text of SENTENCES) assert.ok(dot(await pooled.embed(text), s.embedSync(text)) >= 0.999, text);

    // CLS pooling takes the first token's vector; maxTokens cuts the question.
    const cls = new OnnxEmbedder(model, { tokenizerPath: TOKENIZER, pooling: 'cls' });
    assert.ok(dot(await cls.embed('Password reset please'), s.embedSync('password')) >= 0.999);
    const short = new OnnxEmbedder(model, { tokenizerPath: TOKENIZER, maxTokens: 3 });
    assert.ok(dot(await short.embed('a b c d e f'), s.embedSync('a b c')) >= 0.999);
  } finally {
    await model.close();
  }
});

test('the token bound keeps a tokenizer\'s trailing special tokens', { skip }, async () => {
  // The test tokenizer with a BERT-like template: <s> $A </s>.
  const dir = mkdtempSync(join(tmpdir(), 'onnx-tokenizer-'));
  const model = new OnnxModel(MODEL);
  try {
    const json = JSON.parse(readFileSync(TOKENIZER, 'utf8')) as Record<string, unknown>;
    json.post_processor = {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] }, '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } },
    };
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
    const cut = new OnnxEmbedder(model, { tokenizerPath: join(dir, 'tokenizer.json'), maxTokens: 4 });
    const whole = new OnnxEmbedder(model, { tokenizerPath: join(dir, 'tokenizer.json') });
    // <s> a b c d e f </s> cut to 4 is <s> a b </s>.
    assert.ok(dot(await cut.embed('a b c d e f'), await whole.embed('a b')) > 0.99999);
    assert.ok(dot(await cut.embed('a b c d e f'), await whole.embed('a b c')) < 0.99);
    assert.notEqual(cut.id, whole.id, 'another token bound is another vector space');
  } finally {
    await model.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a broken model, tokenizer or output fails with the reason; a missing runtime is told without loading anything', { skip }, async () => {
  assert.equal(onnxRuntimeMissing(), undefined);
  assert.match(onnxRuntimeMissing('onnxruntime-node-absent')!, /onnxruntime-node-absent is not installed/);
  const dir = mkdtempSync(join(tmpdir(), 'onnx-broken-'));
  try {
    writeFileSync(join(dir, 'bad.onnx'), 'not a model');
    const failures: Error[] = [];
    const bad = new OnnxModel(join(dir, 'bad.onnx'), { onFailed: (err) => failures.push(err) });
    await assert.rejects(bad.ready, /protobuf|parse|load/i);
    assert.equal(failures.length, 1);
    await assert.rejects(new OnnxEmbedder(bad, { tokenizerPath: TOKENIZER }).embed('hi'), /protobuf|parse|load/i);

    const absent = new OnnxModel(MODEL, { runtime: 'onnxruntime-node-absent' });
    await assert.rejects(absent.ready, /onnxruntime-node-absent/);

    const model = new OnnxModel(MODEL);
    try {
      const told: Error[] = [];
      const noOutput = new OnnxEmbedder(model, { tokenizerPath: TOKENIZER, outputName: 'pooler_output', onFailed: (err) => told.push(err) });
      await assert.rejects(noOutput.embed('hi'), /has no output pooler_output \(outputs: last_hidden_state, sentence_embedding\)/);
      writeFileSync(join(dir, 'tokenizer.json'), '{');
      const badTokenizer = new OnnxEmbedder(model, { tokenizerPath: join(dir, 'tokenizer.json'), onFailed: (err) => told.push(err) });
      await assert.rejects(badTokenizer.ready, /tokenizer .*tokenizer\.json/);
      assert.equal(told.length, 2);
      assert.ok(noOutput.failure && badTokenizer.failure);
      // The model itself is fine for the other settings.
      assert.equal((await new OnnxEmbedder(model, { tokenizerPath: TOKENIZER }).embed('hi')).length, 128);
    } finally {
      await model.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('routes naming one model file share one session across rebuilds; a route whose onnx embedder cannot work is exact-only', { skip }, async () => {
  const logs: string[] = [];
  const caches = new ResponseCaches(new Registry(), (m) => logs.push(m));
  const dir = mkdtempSync(join(tmpdir(), 'onnx-routes-'));
  try {
    const problems: string[] = [];
    caches.update([route('a', { modelPath: MODEL }), route('b', { modelPath: MODEL, pooling: 'cls' }), route('c', { modelPath: MODEL })], problems);
    assert.deepEqual(problems, []);
    const a = caches.forRoute('ns/a')!;
    const onnxOf = (name: string) => caches.forRoute(`ns/${name}`)!.embedder as OnnxEmbedder;
    assert.ok(onnxOf('a') instanceof OnnxEmbedder);
    assert.equal(onnxOf('a').model, onnxOf('b').model, 'one session per model file');
    assert.equal(onnxOf('a'), onnxOf('c'), 'one embedder per setting');
    assert.notEqual(onnxOf('a'), onnxOf('b'));
    const model = onnxOf('a').model;

    // Through the route's cache: a stored question is found again by a paraphrase, not by its negation.
    const none = parseCacheControl(undefined);
    const ask = (q: string) => cacheIdentity('chat', { model: 'a', messages: [{ role: 'user', content: q }], temperature: 0 }, 'a', undefined);
    const answer = entryFromJson('chat', { model: 'a', choices: [{ index: 0, message: { role: 'assistant', content: 'Settings → Display → Dark.' }, finish_reason: 'stop' }] })!;
    const miss = await a.lookup(ask('How do I turn on dark mode in the settings?'), 'a', none);
    assert.ok(miss.result === 'miss' && miss.vector?.length === 128);
    await a.save(ask('How do I turn on dark mode in the settings?'), 'a', answer, miss.vector);
    const hit = await a.lookup(ask('How can I enable dark mode in the settings?'), 'a', none);
    assert.ok(hit.result === 'hit' && hit.tier === 'semantic', JSON.stringify(hit));
    assert.equal((await a.lookup(ask('How do I not turn on dark mode in the settings?'), 'a', none)).result, 'miss');

    // A rebuild keeps the model, its session and the embedder: the same vector space over the same store.
    caches.update([route('a', { modelPath: MODEL })], []);
    const again = await caches.forRoute('ns/a')!.lookup(ask('How can I enable dark mode in the settings?'), 'a', none);
    assert.ok(again.result === 'hit' && again.tier === 'semantic');
    assert.equal(onnxOf('a').model, model);

    // No model file, no tokenizer, no modelPath: exact-only, a problem each rebuild, logged once.
    writeFileSync(join(dir, 'lonely.onnx'), readFileSync(MODEL));
    const broken = [route('nofile', { modelPath: join(dir, 'missing.onnx') }), route('notok', { modelPath: join(dir, 'lonely.onnx') }), route('nopath', {}), route('semantic-only', { modelPath: join(dir, 'missing.onnx') }, false)];
    for (let i = 0; i < 2; i++) {
      const p: string[] = [];
      caches.update(broken, p);
      assert.deepEqual(p, [
        `ModelRoute ns/nofile: cache.semantic.embedder onnx: model file ${join(dir, 'missing.onnx')}: ENOENT; the route's cache is exact-only`,
        `ModelRoute ns/notok: cache.semantic.embedder onnx: tokenizer ${join(dir, 'tokenizer.json')} not found (set tokenizerPath, or put tokenizer.json next to the model); the route's cache is exact-only`,
        "ModelRoute ns/nopath: cache.semantic.embedder onnx: modelPath is required; the route's cache is exact-only",
        `ModelRoute ns/semantic-only: cache.semantic.embedder onnx: model file ${join(dir, 'missing.onnx')}: ENOENT; the route's cache is exact-only`,
      ]);
      assert.deepEqual(caches.forRoute('ns/nofile')!.config.semantic.enabled, false);
      assert.equal(caches.forRoute('ns/nofile')!.config.exact.enabled, true);
      assert.equal(caches.forRoute('ns/semantic-only'), undefined, 'no tier left: no cache');
    }
    assert.equal(logs.length, 4, logs.join('\n'));
    await assert.rejects(model.embed('hi', { tokenizerPath: TOKENIZER, pooling: 'mean', outputName: undefined, maxTokens: 8 }, 1000), /closed/, 'a model no route names is closed');

    // A model that does not load: the owner is asked for a rebuild, which reports it and compiles the route exact-only.
    writeFileSync(join(dir, 'bad.onnx'), 'not a model');
    writeFileSync(join(dir, 'tokenizer.json'), readFileSync(TOKENIZER));
    let changed = 0;
    caches.onChange = () => changed++;
    caches.update([route('bad', { modelPath: join(dir, 'bad.onnx') })], []);
    assert.equal(caches.forRoute('ns/bad')!.config.semantic.enabled, true, 'not known yet: the load runs in the worker');
    await new Promise<void>((resolve) => {
      const t = setInterval(() => changed > 0 && (clearInterval(t), resolve()), 10);
    });
    const p: string[] = [];
    caches.update([route('bad', { modelPath: join(dir, 'bad.onnx') })], p);
    assert.equal(p.length, 1);
    assert.match(p[0]!, /^ModelRoute ns\/bad: cache\.semantic\.embedder onnx: model .*bad\.onnx failed to load: .*; the route's cache is exact-only$/);
    assert.equal(caches.forRoute('ns/bad')!.config.semantic.enabled, false);
  } finally {
    caches.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without onnxruntime-node a route asking for onnx is exact-only, with the reason', () => {
  const logs: string[] = [];
  const caches = new ResponseCaches(new Registry(), (m) => logs.push(m), { onnxRuntime: 'onnxruntime-node-absent' });
  const problems: string[] = [];
  caches.update([route('r', { modelPath: '/models/any/model.onnx' })], problems);
  assert.deepEqual(problems, [
    "ModelRoute ns/r: cache.semantic.embedder onnx: onnxruntime-node-absent is not installed (an optional dependency of the gateway: npm ci installs it on platforms it has binaries for); the route's cache is exact-only",
  ]);
  assert.equal(logs.length, 1);
  assert.match(logs[0]!, /^cache ns\/r: onnx embedder: onnxruntime-node-absent is not installed/);
  const r = caches.forRoute('ns/r')!;
  assert.deepEqual([r.config.exact.enabled, r.config.semantic.enabled], [true, false]);
  caches.close();
});
