// Two versions of one model side by side, and deprecation, through the gateway. The platform in-process (embedded
// API server with admission, controller manager, node agent running simulated engines, gateway): Models llama-v1 and
// llama-v2 with the same modelId and versions 1.0.0 and 2.0.0, and a user-written ModelRoute `llama` that sends
// `x-model-version: 2.0.0` to v2 and splits everything else 80/20 between their ModelServers (the request's model is
// rewritten to the chosen ModelServer's). Then llama-v1 is deprecated with llama-v2 as its replacement: its responses
// (JSON, streamed, engine errors, its seed paths /v1/models/llama-v1[/infer]) carry Deprecation: @<when the Deprecated condition became true> and
// Link rel="successor-version", /v1/models marks it, other names carry nothing. Clients: the openai SDK and fetch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { Model, ModelRoute } from '../../src/api/kinds/index.ts';
import { MODELS, MODEL_ROUTES } from '../../src/controllers/resources.ts';
import { until } from '../../src/kube/testing/until.ts';
import { startInProcessPlatform, type InProcessPlatform } from '../support/inprocess.ts';
import { testModel } from '../support/models.ts';

const NS = 'default';
let platform: InProcessPlatform;
let openai: OpenAI;

function version(name: string, v: string): Model {
  const model = testModel(name, NS);
  model.spec.modelSpec = { ...model.spec.modelSpec, modelId: 'llama', version: v };
  return model;
}

const route: ModelRoute = {
  apiVersion: 'networking.matrixinfer.ai/v1alpha1',
  kind: 'ModelRoute',
  metadata: { name: 'llama', namespace: NS },
  spec: {
    modelName: 'llama',
    rules: [
      { name: 'pinned-v2', modelMatch: { headers: { 'x-model-version': { exact: '2.0.0' } } }, targetModels: [{ modelServerName: 'llama-v2' }] },
      { name: 'split', targetModels: [{ modelServerName: 'llama-v1', weight: 80 }, { modelServerName: 'llama-v2', weight: 20 }] },
    ],
  },
};

/** The model that answered (the engine names itself by its served model name). */
async function served(headers: Record<string, string> = {}, model = 'llama'): Promise<string> {
  const completion = await openai.completions.create({ model, prompt: 'hello', max_tokens: 2 }, { headers });
  return completion.model;
}

before(async () => {
  platform = await startInProcessPlatform();
  openai = new OpenAI({ baseURL: `${platform.gateway.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  await platform.client.create(MODELS, version('llama-v1', '1.0.0'));
  await platform.client.create(MODELS, version('llama-v2', '2.0.0'));
  await platform.client.create(MODEL_ROUTES, route);
  for (const name of ['llama-v1', 'llama-v2']) {
    await until(`${name} served`, async () => (await served({}, name).catch(() => '')) === name, 60_000, 100);
  }
  await until('the llama route', async () => (await served({ 'x-model-version': '2.0.0' }).catch(() => '')) === 'llama-v2', 30_000, 100);
});

after(() => platform?.stop());

test('a route splits one model name 80/20 between two versions and pins a version by header', async () => {
  const counts: Record<string, number> = {};
  const N = 200;
  for (let i = 0; i < N; i += 25) {
    const batch = await Promise.all(Array.from({ length: 25 }, () => served()));
    for (const m of batch) counts[m] = (counts[m] ?? 0) + 1;
  }
  // Binomial(200, 0.8): mean 160, standard deviation 5.7; 140..180 is 3.5 standard deviations either way.
  assert.deepEqual(Object.keys(counts).sort(), ['llama-v1', 'llama-v2']);
  assert.ok(counts['llama-v1']! >= 140 && counts['llama-v1']! <= 180, JSON.stringify(counts));
  const pinned = await Promise.all(Array.from({ length: 20 }, () => served({ 'x-model-version': '2.0.0' })));
  assert.deepEqual(new Set(pinned), new Set(['llama-v2']));
  const other = await Promise.all(Array.from({ length: 20 }, () => served({ 'x-model-version': '3.0.0' })));
  assert.ok(other.every((m) => m === 'llama-v1' || m === 'llama-v2'));
});

test('a deprecated Model: Deprecation and Link headers on its responses, marked in /v1/models', async () => {
  const { client, gateway } = platform;
  const v1 = (await client.get<Model>(MODELS, NS, 'llama-v1'))!;
  v1.spec.deprecated = true;
  v1.spec.deprecation = { replacement: 'llama-v2', message: 'llama-v1 goes away on 2026-06-30' };
  await client.replace(MODELS, v1);
  const since = await until('the Deprecated condition', async () => {
    const m = await client.get<Model>(MODELS, NS, 'llama-v1');
    return m?.status?.conditions?.find((c) => c.type === 'Deprecated' && c.status === 'True')?.lastTransitionTime ?? false;
  }, 15_000, 50);
  const expected = `@${Math.floor(Date.parse(since) / 1000)}`;
  await until('the route deprecated since then', async () => {
    const r = await client.get<ModelRoute>(MODEL_ROUTES, NS, 'llama-v1');
    return r?.spec.deprecation?.since === since;
  }, 15_000, 50);

  const call = (body: Record<string, unknown>) =>
    fetch(`${gateway.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'hi', max_tokens: 2, ...body }) });
  const link = '</v1/models/llama-v2>; rel="successor-version"';
  await until('the gateway sends Deprecation', async () => (await call({ model: 'llama-v1' })).headers.get('deprecation') === expected, 15_000, 50);

  const json = await call({ model: 'llama-v1' });
  assert.equal(json.status, 200);
  assert.equal(json.headers.get('deprecation'), expected);
  assert.equal(json.headers.get('link'), link);
  await json.text();
  const stream = await call({ model: 'llama-v1', stream: true });
  assert.equal(stream.status, 200);
  assert.equal(stream.headers.get('deprecation'), expected);
  assert.equal(stream.headers.get('link'), link);
  assert.match(await stream.text(), /data: \[DONE\]/);
  // The engine's error, relayed through that route, says it too.
  const refused = await call({ model: 'llama-v1', max_tokens: 0 });
  assert.equal(refused.status, 400);
  assert.equal(refused.headers.get('deprecation'), expected);
  assert.equal(refused.headers.get('link'), link);
  await refused.text();
  // The openai SDK reads the headers too.
  const raw = await openai.completions.create({ model: 'llama-v1', prompt: 'hi', max_tokens: 2 }).withResponse();
  assert.equal(raw.response.headers.get('deprecation'), expected);

  // Other names: nothing, whichever version serves them.
  for (const model of ['llama-v2', 'llama']) {
    const res = await call({ model });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('deprecation'), null, model);
    assert.equal(res.headers.get('link'), null, model);
    await res.text();
  }

  const list = (await (await fetch(`${gateway.url}/v1/models`)).json()) as { data: Record<string, unknown>[] };
  const byId = Object.fromEntries(list.data.map((m) => [m.id, m]));
  assert.equal(byId['llama-v1']!.deprecated, true);
  assert.equal(byId['llama-v1']!.successor, 'llama-v2');
  assert.equal(byId['llama-v1']!.deprecation_message, 'llama-v1 goes away on 2026-06-30');
  assert.equal(byId['llama-v2']!.deprecated, undefined);
  assert.equal(byId['llama']!.deprecated, undefined);

  // The Model's seed paths (GET P, POST P/infer; P = /v1/models/llama-v1) name its ModelServer: they say it too.
  const described = await fetch(`${gateway.url}/v1/models/llama-v1`);
  assert.equal(described.status, 200);
  assert.equal(described.headers.get('deprecation'), expected);
  assert.equal(described.headers.get('link'), link);
  await described.text();
  const inferred = await fetch(`${gateway.url}/v1/models/llama-v1/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"inputs": "hi", "parameters": {"max_tokens": 2}}' });
  assert.equal(inferred.status, 200);
  assert.equal(inferred.headers.get('deprecation'), expected);
  await inferred.text();
  const v2Seed = await fetch(`${gateway.url}/v1/models/llama-v2`);
  assert.equal(v2Seed.headers.get('deprecation'), null);
  await v2Seed.text();

  // Undeprecated: the headers go.
  const again = (await client.get<Model>(MODELS, NS, 'llama-v1'))!;
  again.spec.deprecated = false;
  delete again.spec.deprecation;
  await client.replace(MODELS, again);
  await until('no Deprecation header', async () => {
    const res = await call({ model: 'llama-v1' });
    await res.text();
    return res.status === 200 && res.headers.get('deprecation') === null;
  }, 15_000, 50);
});
