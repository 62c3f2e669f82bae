// LoRA adapters as Models end to end (issue 13, "Dependencies") on the embedded API server: controller manager (the
// Model controller and the LoRA loader) + node agent (simulated engines as processes) + gateway. A base Model with 2
// replicas and an adapter Model (baseModelRef) become Ready; the adapter is loaded into both engines (their
// /v1/models lists it with the base as parent; each pod records it) and served through the gateway under its own name
// (openai SDK). It is loaded again after its engine is killed and restarted, and from its new path when its source
// changes; deprecated, it still serves with the Deprecation headers; deleted, it is unloaded and the gateway answers
// 404 model_not_found. Deleting the base marks the adapter not ready, BaseModelNotFound.
import { readFileSync } from 'node:fs';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { NotFoundError } from 'openai';
import { parse } from 'yaml';
import type { KubeObject } from '../../src/api/admission.ts';
import type { Model } from '../../src/api/kinds/index.ts';
import { MODEL_NAME_LABEL } from '../../src/api/labels.ts';
import { LORA_ADAPTERS_ANNOTATION, LORA_RESTARTS_ANNOTATION, podRestarts } from '../../src/api/lora-adapters.ts';
import { MODELS, PODS } from '../../src/controllers/resources.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { findCondition, isDeleting, isPodReady } from '../../src/kube/objects.ts';
import { until } from '../../src/kube/testing/until.ts';
import { startInProcessPlatform, type InProcessPlatform } from '../support/inprocess.ts';
import { testModel } from '../support/models.ts';

const NS = 'default';
const BASE = 'lora-base';
const ADAPTER = 'sql-lora';
const FAST = ['--time-to-first-token-ms', '2', '--inter-token-latency-ms', '1', '--inter-token-latency-per-seq-ms', '0'];

let platform: InProcessPlatform;
let client: KubeClient;
let openai: OpenAI;

before(async () => {
  platform = await startInProcessPlatform();
  client = platform.client;
  openai = new OpenAI({ baseURL: `${platform.gateway.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

after(() => platform?.stop());

function adapterModel(): Model {
  return {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'Model',
    metadata: { name: ADAPTER, namespace: NS },
    spec: { modelSpec: { modelId: 'sql-lora-v1', framework: 'pytorch', version: '1.0.0', source: { uri: 'hf://acme/sql-lora' }, baseModelRef: { name: BASE } } },
  };
}

const getModel = (name: string) => client.get<Model>(MODELS, NS, name);

async function basePods(): Promise<KubeObject[]> {
  const list = await client.list(PODS, { namespace: NS, labelSelector: `${MODEL_NAME_LABEL}=${BASE}` });
  return list.items.filter((p) => !isDeleting(p) && isPodReady(p));
}

function engineUrl(pod: KubeObject): string {
  const ip = (pod.status as { podIP: string }).podIP;
  const port = (pod.spec as { containers: { ports: { containerPort: number }[] }[] }).containers[0]!.ports[0]!.containerPort;
  return `http://${ip}:${port}`;
}

async function engineAdapters(pod: KubeObject): Promise<{ id: string; parent: string | null; root: string }[]> {
  const body = (await (await fetch(`${engineUrl(pod)}/v1/models`)).json()) as { data: { id: string; parent: string | null; root: string }[] };
  return body.data.filter((m) => m.parent !== null);
}

test('an adapter Model is loaded into both base pods and served under its own name through the gateway', async (t) => {
  const started = performance.now();
  await client.create(MODELS, testModel(BASE, NS, { runtime: { replicas: 2, args: FAST } }));
  await client.create(MODELS, adapterModel());

  const ready = await until('the adapter is Ready on both base pods', async () => {
    const m = await getModel(ADAPTER);
    return m?.status?.phase === 'Ready' && m.status.readyReplicas === 2 ? m : undefined;
  }, 30_000);
  t.diagnostic(`base and adapter Ready, adapter on 2 pods, ${(performance.now() - started).toFixed(0)} ms after creation`);
  assert.equal(findCondition(ready.status!.conditions, 'DependenciesReady')?.status, 'True');
  assert.equal(findCondition(ready.status!.conditions, 'Ready')?.reason, 'AdapterLoaded');
  assert.equal(ready.status!.lifecycle, 'Validated');

  const pods = await basePods();
  assert.equal(pods.length, 2);
  for (const pod of pods) {
    assert.deepEqual(await engineAdapters(pod), [{ ...(await engineAdapters(pod))[0]!, id: ADAPTER, parent: BASE, root: 'acme/sql-lora' }]);
    assert.equal(pod.metadata.annotations?.[LORA_ADAPTERS_ANNOTATION], ADAPTER);
  }

  // Through the gateway under its own name, on both pods.
  for (let i = 0; i < 6; i++) {
    const completion = await openai.chat.completions.create({ model: ADAPTER, messages: [{ role: 'user', content: 'SELECT the answer' }], max_tokens: 4 });
    assert.equal(completion.model, ADAPTER);
    assert.ok(completion.choices[0]!.message.content);
  }
  assert.ok((await openai.models.list()).data.some((m) => m.id === ADAPTER));
  const base = await openai.chat.completions.create({ model: BASE, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
  assert.equal(base.model, BASE);
});

test('an engine restart loses the adapter; the loader loads it again and rewrites the record', async () => {
  const [victim] = await basePods();
  const name = victim!.metadata.name!;
  const pid = platform.agent.inspect(NS, name)!.pids.engine!;
  process.kill(pid, 'SIGKILL');
  const reloaded = await until('the restarted engine has the adapter again, recorded at the new restart count', async () => {
    const pod = await client.get(PODS, NS, name);
    if (!pod || !isPodReady(pod) || podRestarts(pod as never) < 1) return undefined;
    if (pod.metadata.annotations?.[LORA_RESTARTS_ANNOTATION] !== String(podRestarts(pod as never))) return undefined;
    const adapters = await engineAdapters(pod).catch(() => []);
    return adapters.some((a) => a.id === ADAPTER) ? pod : undefined;
  }, 30_000);
  assert.equal(reloaded.metadata.annotations?.[LORA_ADAPTERS_ANNOTATION], ADAPTER);
  const completion = await openai.completions.create({ model: ADAPTER, prompt: 'after the restart', max_tokens: 2 });
  assert.equal(completion.model, ADAPTER);
});

test('changing the adapter\'s source reloads it from the new path on both engines', async () => {
  await client.mergePatch(MODELS, NS, ADAPTER, { spec: { modelSpec: { source: { uri: 'hf://acme/sql-lora-v2' } } } });
  await until('both engines loaded it from the new path', async () => {
    const pods = await basePods();
    if (pods.length !== 2) return false;
    for (const pod of pods) if ((await engineAdapters(pod)).find((a) => a.id === ADAPTER)?.root !== 'acme/sql-lora-v2') return false;
    return true;
  }, 20_000);
  const completion = await openai.completions.create({ model: ADAPTER, prompt: 'v2', max_tokens: 2 });
  assert.equal(completion.model, ADAPTER);
});

test('a deprecated adapter still serves, with the Deprecation and successor Link headers', async () => {
  await client.mergePatch(MODELS, NS, ADAPTER, { spec: { deprecated: true, deprecation: { replacement: 'sql-lora-v2' } } });
  const res = await until('the gateway sends the Deprecation header for the adapter', async () => {
    const r = await fetch(`${platform.gateway.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: ADAPTER, prompt: 'hi', max_tokens: 2 }) });
    await r.text();
    return r.status === 200 && r.headers.get('deprecation') ? r : undefined;
  }, 10_000);
  assert.match(res.headers.get('deprecation')!, /^@\d+$/);
  assert.match(res.headers.get('link') ?? '', /<\/v1\/models\/sql-lora-v2>; rel="successor-version"/);
  const m = (await getModel(ADAPTER))!;
  assert.equal(m.status?.lifecycle, 'Deprecated');
  assert.equal(m.status?.phase, 'Ready');
});

test('deleting the adapter unloads it; the gateway then answers 404 model_not_found', async () => {
  await client.delete(MODELS, NS, ADAPTER);
  await until('both engines unloaded it and the pods record none', async () => {
    const pods = await basePods();
    if (pods.length !== 2) return false;
    for (const pod of pods) {
      if ((await engineAdapters(pod)).length > 0) return false;
      if (pod.metadata.annotations?.[LORA_ADAPTERS_ANNOTATION] !== '') return false;
    }
    return true;
  }, 20_000);
  const err = await until('the gateway dropped the route', async () => {
    try {
      await openai.chat.completions.create({ model: ADAPTER, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
      return undefined;
    } catch (e) {
      return e instanceof NotFoundError ? e : undefined;
    }
  }, 10_000);
  assert.equal(err.status, 404);
  assert.equal(err.code, 'model_not_found');
  assert.equal((err.error as { type?: string }).type, 'invalid_request_error');
});

test('deleting the base marks its (re-created) adapter not ready, BaseModelNotFound', async () => {
  await client.create(MODELS, adapterModel());
  await until('the re-created adapter is Ready', async () => (await getModel(ADAPTER))?.status?.phase === 'Ready', 20_000);
  await client.delete(MODELS, NS, BASE);
  const m = await until('the adapter is not ready, naming its base', async () => {
    const model = await getModel(ADAPTER);
    return findCondition(model?.status?.conditions, 'DependenciesReady')?.reason === 'BaseModelNotFound' ? model : undefined;
  }, 20_000);
  assert.equal(m.status!.phase, 'Pending');
  assert.equal(m.status!.readyReplicas, 0);
  assert.equal(findCondition(m.status!.conditions, 'Ready')?.status, 'False');
  assert.match(findCondition(m.status!.conditions, 'DependenciesReady')?.message ?? '', /"lora-base" not found in namespace default/);
});

test('examples/lora-adapter.yaml is accepted and waits for its base (llama-7b)', async () => {
  const example = parse(readFileSync(new URL('../../examples/lora-adapter.yaml', import.meta.url), 'utf8')) as Model;
  await client.create(MODELS, example);
  const m = await until('the example adapter waits for llama-7b', async () => {
    const model = await getModel(example.metadata.name!);
    return findCondition(model?.status?.conditions, 'DependenciesReady') ? model : undefined;
  }, 10_000);
  assert.equal(findCondition(m.status!.conditions, 'DependenciesReady')?.reason, 'BaseModelNotFound');
  assert.match(findCondition(m.status!.conditions, 'DependenciesReady')?.message ?? '', /"llama-7b"/);
});
