// The production-stack kinds end to end (issue 12): the embedded API server, the controller manager, the node agent
// running simulated engines as processes, and the gateway. The seed's examples are applied unchanged next to two Models;
// requests go through the gateway by the InferenceServices' model names. Checked: a Service backendRef serves the
// seed's basic-inference; the seed's gateway profile keeps a session on one pod; with the seed's PDD and SD the
// llama3-70b workload rolls to prefill/decode pods that run speculative decoding, and a request through the gateway is
// prefilled on the prefill pod and decoded, speculating, on the decode pod (the engines' own metrics say so). ≈ 30 s.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { KubeObject } from '../../src/api/admission.ts';
import { ALL_KINDS, type InferenceService, type Model, type ModelServer, type PrefillDecodingDisaggregation, type SpeculativeDecoding } from '../../src/api/kinds/index.ts';
import { readManifests } from '../../src/cli/manifests.ts';
import { INFERENCE_SERVICES, MODELS, MODEL_SERVERS, PD_DISAGGREGATIONS, PODS, SERVICES, SPECULATIVE_DECODINGS } from '../../src/controllers/resources.ts';
import { resourceOf, type KubeClient } from '../../src/kube/client.ts';
import { isDeleting, isPodReady } from '../../src/kube/objects.ts';
import { until } from '../../src/kube/testing/until.ts';
import { startInProcessPlatform, type InProcessPlatform } from '../support/inprocess.ts';

const NS = 'default';
const SEEDS = fileURLToPath(new URL('../../examples/seeds/', import.meta.url));
const ENGINE_ARGS = ['--startup-seconds', '1', '--time-to-first-token-ms', '5', '--inter-token-latency-ms', '2', '--inter-token-latency-per-seq-ms', '0'];

let platform: InProcessPlatform;
let client: KubeClient;

before(async () => {
  platform = await startInProcessPlatform();
  client = platform.client;
});
after(() => platform?.stop());

const condition = (object: KubeObject | undefined, type: string) => ((object?.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []).find((c) => c.type === type);

async function applySeed(file: string): Promise<void> {
  for (const { object } of readManifests([SEEDS + file])) {
    const kind = ALL_KINDS.find((k) => `${k.group}/${k.version}` === object.apiVersion && k.kind === object.kind)!;
    await client.create(resourceOf(kind), { ...object, metadata: { ...object.metadata, namespace: NS } });
  }
}

function model(name: string, replicas = 1): Model {
  return {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'Model',
    metadata: { name, namespace: NS },
    spec: {
      modelSpec: { modelId: name, framework: 'pytorch', version: '1', source: { uri: 'huggingface://meta-llama/Llama-3.1-8B-Instruct' } },
      runtime: { image: 'vllm/vllm-openai:latest', replicas, args: ENGINE_ARGS },
    },
  };
}

async function readyPods(modelInfer: string): Promise<KubeObject[]> {
  const list = await client.list(PODS, { namespace: NS, labelSelector: `workload.matrixinfer.ai/modelinfer-name=${modelInfer}` });
  return list.items.filter((p) => !isDeleting(p) && isPodReady(p));
}

const engineUrl = (p: KubeObject) => `http://${(p.status as { podIP: string }).podIP}:8000`;

async function engineMetric(pod: KubeObject, name: string): Promise<number> {
  const text = await (await fetch(`${engineUrl(pod)}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(new RegExp(`^${name}\\{[^}]*\\}\\s+(\\S+)`, 'gm'))) n += Number(m[1]);
  return n;
}

async function chat(modelName: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${platform.gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: modelName, messages: [{ role: 'user', content: 'Tell me about speculative decoding.' }], max_tokens: 24 }),
  });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text };
}

test("the seed's basic-inference through the gateway: a Service in front of a Model's engines", async () => {
  await client.create(MODELS, model('llama2'));
  await client.create(SERVICES, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'llama2-service-backend', namespace: NS }, spec: { selector: { 'registry.matrixinfer.ai/model-name': 'llama2' }, ports: [{ port: 8000 }] } });
  await applySeed('production-stack-inference-service.yaml');
  await until('basic-inference Ready', async () => condition(await client.get<InferenceService>(INFERENCE_SERVICES, NS, 'basic-inference'), 'Ready')?.status === 'True', 30_000);
  const answer = await until('served through the gateway', async () => {
    const r = await chat('meta-llama/Llama-2-70b-chat-hf');
    return r.status === 200 ? r : undefined;
  }, 15_000);
  assert.equal(answer.body.object, 'chat.completion');
  assert.equal(answer.body.usage.completion_tokens, 24);
});

test("the seed's gateway, cache, PDD and SD: a session stays on one pod; prefill/decode pods speculate; a request goes through both", async () => {
  await client.create(MODELS, model('llama3-engine', 2));
  await client.create(INFERENCE_SERVICES, { apiVersion: 'production-stack.vllm.ai/v1alpha1', kind: 'InferenceService', metadata: { name: 'llama3-chatbot-service', namespace: NS }, spec: { modelName: 'llama3-70b', backendRef: 'llama3-engine' } });
  await applySeed('production-stack-gateway.yaml');
  await until('two engines ready', async () => (await readyPods('llama3-engine')).length === 2, 30_000);
  await until('chatbot route serves', async () => (await chat('llama3-70b')).status === 200, 15_000);
  await until('the route carries the gateway profile', async () => (await client.get<InferenceService>(INFERENCE_SERVICES, NS, 'llama3-chatbot-service'))?.status?.inferenceGateway === 'llm-gateway', 10_000);
  // Session affinity (x-session-id): one session's requests all land on one engine.
  const pods = await readyPods('llama3-engine');
  const before = await Promise.all(pods.map((p) => engineMetric(p, 'vllm:request_success_total')));
  for (let i = 0; i < 6; i++) assert.equal((await chat('llama3-70b', { 'x-session-id': 'conversation-42' })).status, 200);
  const after = await Promise.all(pods.map((p) => engineMetric(p, 'vllm:request_success_total')));
  assert.deepEqual(after.map((n, i) => n - before[i]!).sort(), [0, 6], 'all six on one pod');

  // The cache, PDD and SD: the workload rolls to prefill/decode pairs running speculative decoding.
  await applySeed('production-stack-cache-pdd-sd.yaml');
  await until('PDD Ready', async () => condition(await client.get<PrefillDecodingDisaggregation>(PD_DISAGGREGATIONS, NS, 'pdd-llama3-chatbot'), 'Ready')?.status === 'True', 60_000);
  await until('SD rolled out', async () => condition(await client.get<SpeculativeDecoding>(SPECULATIVE_DECODINGS, NS, 'sd-llama3-chatbot'), 'Ready')?.status === 'True', 60_000);
  const ms = await client.get<ModelServer>(MODEL_SERVERS, NS, 'llama3-engine');
  assert.deepEqual(ms?.spec.pdDisaggregation, { prefillRole: 'prefill', decodeRole: 'decode' });
  const split = await until('only prefill/decode pods', async () => {
    const p = await readyPods('llama3-engine');
    return p.length === 4 && p.every((x) => ['prefill', 'decode'].includes(x.metadata.labels?.['workload.matrixinfer.ai/role'] ?? '')) ? p : undefined;
  }, 60_000);
  const prefill = split.filter((p) => p.metadata.labels?.['workload.matrixinfer.ai/role'] === 'prefill');
  const decode = split.filter((p) => p.metadata.labels?.['workload.matrixinfer.ai/role'] === 'decode');
  const sum = async (ps: KubeObject[], name: string) => (await Promise.all(ps.map((p) => engineMetric(p, name)))).reduce((a, b) => a + b, 0);
  const prefillBefore = await sum(prefill, 'vllm:request_success_total');
  const draftsBefore = await sum(decode, 'vllm:spec_decode_num_drafts_total');
  const answer = await chat('llama3-70b');
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(answer.body.usage.completion_tokens, 24);
  assert.equal(await sum(prefill, 'vllm:request_success_total'), prefillBefore + 1, 'prefilled on a prefill pod');
  const drafts = (await sum(decode, 'vllm:spec_decode_num_drafts_total')) - draftsBefore;
  const accepted = await sum(decode, 'vllm:spec_decode_num_accepted_tokens_total');
  assert.ok(drafts > 0 && drafts < 23, `decoded speculatively: ${drafts} drafting steps for 23 tokens`);
  assert.ok(accepted > 0);
  assert.equal(await sum(prefill, 'vllm:spec_decode_num_drafts_total'), 0, 'prefill pods do not speculate');
});
