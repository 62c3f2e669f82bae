// The registry policy through both transports against the embedded API server: inline (the server reads the
// ConfigMap from its own storage) and the webhook server (an informer on the ConfigMap), giving the same answers
// for the same objects; a policy change applies to both; kubectl shows a refusal's field path and reason.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeObject } from '../api/admission.ts';
import { createLogger } from '../kube/log.ts';
import { projectCrds, startTestApiServer, type TestApiServer } from '../kube/testing/apiserver.ts';
import { until } from '../kube/testing/until.ts';
import { kubectl } from '../apiserver/testkit.ts';
import { needs } from '../../test/support/system.ts';
import { CACHE_VOLUME, DOWNLOAD_CONTAINER, NODE_CACHE_PATH } from '../registry/contract.ts';
import { applyJsonPatch } from './jsonpatch.ts';
import { createAdmissionPlugins } from './plugins.ts';
import { LOCAL_POLICY_NAMESPACE, REGISTRY_POLICY_CONFIGMAP, storedPolicy } from './policy.ts';
import type { AdmissionReview } from './review.ts';
import { startWebhookServer, type WebhookServer } from './server.ts';
import { createReview } from './testing/cases.ts';

const NS = LOCAL_POLICY_NAMESPACE;
const CM_PATH = `/api/v1/namespaces/${NS}/configmaps`;
let api: TestApiServer;
let webhook: WebhookServer;

before(async () => {
  api = await startTestApiServer({ admission: (objects) => createAdmissionPlugins({ policy: storedPolicy(objects) }) });
  await api.installCrds(projectCrds());
  await api.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  await setPolicy({ allowedSources: 'hf://meta-llama/,s3://models-prod/', safetensorsOnly: 'true', maxGpusPerModel: '4' });
  // The controller manager's webhook server, in the namespace of the policy: default plugins, reading it by informer.
  webhook = await startWebhookServer({ kubeConfig: api.kubeConfig, namespace: NS, port: 0, host: '127.0.0.1', manageConfigurations: false, logger: createLogger('test', 'silent') });
});
after(async () => {
  await webhook?.close();
  await api?.close();
});

async function setPolicy(data: Record<string, string> | undefined): Promise<void> {
  const existing = await api.request('GET', `${CM_PATH}/${REGISTRY_POLICY_CONFIGMAP}`);
  if (data === undefined) {
    if (existing.status === 200) await api.call('DELETE', `${CM_PATH}/${REGISTRY_POLICY_CONFIGMAP}`);
    return;
  }
  const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: REGISTRY_POLICY_CONFIGMAP, namespace: NS }, data };
  if (existing.status === 200) await api.call('PUT', `${CM_PATH}/${REGISTRY_POLICY_CONFIGMAP}`, body);
  else await api.call('POST', CM_PATH, body);
}

const model = (name: string, uri: string, runtime: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'registry.matrixinfer.ai/v1alpha1',
  kind: 'Model',
  metadata: { name },
  spec: { modelSpec: { modelId: name, framework: 'pytorch', version: '1', source: { uri } }, runtime: { image: 'vllm/vllm-openai:v0.9', ...runtime } },
});

const modelInfer = (name: string): KubeObject => ({
  apiVersion: 'workload.matrixinfer.ai/v1alpha1',
  kind: 'ModelInfer',
  metadata: { name },
  spec: {
    roles: [{
      name: 'server',
      template: {
        spec: {
          initContainers: [{ name: DOWNLOAD_CONTAINER, image: 'matrixinfer/downloader:0.1.0', args: ['download', '--uri', 'hf://meta-llama/x', '--cache-dir', NODE_CACHE_PATH], volumeMounts: [{ name: CACHE_VOLUME, mountPath: NODE_CACHE_PATH }] }],
          containers: [{ name: 'engine', image: 'vllm/vllm-openai:v0.9', env: [{ name: 'A', value: '1' }], resources: { limits: { 'nvidia.com/gpu': '1' } }, volumeMounts: [{ name: CACHE_VOLUME, mountPath: NODE_CACHE_PATH, readOnly: true }] }],
          volumes: [{ name: CACHE_VOLUME, hostPath: { path: NODE_CACHE_PATH, type: 'DirectoryOrCreate' } }],
        },
      },
    }],
  },
});

const PLURALS: Record<string, string> = { Model: 'models', ModelInfer: 'modelinfers' };
const pathOf = (object: KubeObject) => `/apis/${object.apiVersion}/namespaces/default/${PLURALS[object.kind]}`;

const review = (object: KubeObject) => createReview(object, PLURALS[object.kind]!);

function post(path: string, body: AdmissionReview): Promise<AdmissionReview> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${webhook.url}${path}`, { method: 'POST', ca: webhook.certificates().caBundle, servername: 'localhost', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text) as AdmissionReview) : reject(new Error(`HTTP ${res.statusCode}: ${text}`))));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** Inline and webhook answers for creating `object`: the Status message (undefined when admitted) of each. */
async function bothAnswers(object: KubeObject): Promise<{ inline?: string; webhook?: string; causes?: unknown }> {
  const inline = await api.request('POST', pathOf(object), object);
  const answer = await post('/validate', review(object));
  if (inline.status === 201) await api.call('DELETE', `${pathOf(object)}/${object.metadata.name}`);
  else assert.equal(inline.status, 422, inline.text);
  const body = inline.body as { message?: string; details?: { causes?: unknown } };
  if (inline.status === 422) assert.deepEqual(answer.response!.status?.details, body.details, 'same causes');
  return { ...(inline.status === 422 ? { inline: body.message, causes: body.details?.causes } : {}), ...(answer.response!.allowed ? {} : { webhook: answer.response!.status!.message }) };
}

test('the policy refuses the same Models inline and by webhook, with the same Status naming field, key and ConfigMap', async () => {
  const outside = await bothAnswers(model('outside', 'hf://someone/llama'));
  const expected = `Model.registry.matrixinfer.ai "outside" is invalid: spec.modelSpec.source.uri: Forbidden: "hf://someone/llama" is not under the registry policy's allowedSources (ConfigMap ${NS}/${REGISTRY_POLICY_CONFIGMAP}): hf://meta-llama/, s3://models-prod/`;
  assert.equal(outside.inline, expected);
  assert.equal(outside.webhook, expected);
  assert.deepEqual(outside.causes, [{ reason: 'FieldValueForbidden', message: expected.split('is invalid: spec.modelSpec.source.uri: ')[1], field: 'spec.modelSpec.source.uri' }]);

  const greedy = await bothAnswers(model('greedy', 's3://models-prod/llama', { replicas: 3, resources: { limits: { 'nvidia.com/gpu': 2 } } }));
  assert.match(greedy.inline!, /spec\.runtime\.resources: Forbidden: 2 GPUs per pod × 3 replicas \(spec\.runtime\.replicas\) = 6 GPUs, above the registry policy's maxGpusPerModel/);
  assert.equal(greedy.webhook, greedy.inline);

  assert.deepEqual(await bothAnswers(model('allowed', 'huggingface://meta-llama/Llama-3.1-8B')), {});
});

test('a policy change applies inline at once and to the webhook when its informer sees it; no ConfigMap, no policy', async () => {
  const object = model('moved', 'gs://bucket/llama');
  assert.ok((await bothAnswers(object)).inline);
  await setPolicy({ allowedSchemes: 'hf,gs' });
  assert.equal((await api.request('POST', pathOf(object), object)).status, 201, 'inline reads the stored ConfigMap on every request');
  await api.call('DELETE', `${pathOf(object)}/moved`);
  await until('the webhook to admit under the new policy', async () => (await post('/validate', review(object))).response!.allowed);
  await setPolicy({ maxGpusPerModel: 'many' });
  const invalid = await bothAnswers(model('any', 'hf://meta-llama/x'));
  assert.match(invalid.inline!, /spec: Forbidden: the registry policy ConfigMap matrixinfer-system\/matrixinfer-registry-policy is invalid, so no Model is admitted until it is fixed: data\.maxGpusPerModel: "many" must be a whole number/);
  await until('the webhook to see the invalid policy', async () => !(await post('/validate', review(model('any', 'hf://meta-llama/x')))).response!.allowed);
  await setPolicy(undefined);
  await until('the webhook to see no policy', async () => (await post('/validate', review(object))).response!.allowed);
  assert.deepEqual(await bothAnswers(object), {});
});

test('ModelInfer: defaults (GPU scheduling, security context, HF_HOME, safetensors-only) the same inline and by webhook', async () => {
  await setPolicy({ safetensorsOnly: 'true' });
  await until('the webhook to see safetensorsOnly', async () => {
    const answer = await post('/mutate', review(modelInfer('probe')));
    return Buffer.from(answer.response!.patch ?? '', 'base64').toString().includes('--safetensors-only');
  });
  const object = modelInfer('defaulted');
  const inline = (await api.call('POST', pathOf(object), object)) as unknown as KubeObject;
  const request = review(object);
  const answer = await post('/mutate', request);
  const patched = applyJsonPatch(request.request!.object!, JSON.parse(Buffer.from(answer.response!.patch!, 'base64').toString())) as KubeObject;
  const podSpec = (o: KubeObject) => (o.spec as { roles: { template: { spec: Record<string, unknown> } }[] }).roles[0]!.template.spec;
  const stored = podSpec(inline);
  assert.deepEqual((stored.initContainers as { args: string[] }[])[0]!.args.at(-1), '--safetensors-only');
  assert.deepEqual(stored.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
  assert.deepEqual(stored.nodeSelector, { 'nvidia.com/gpu.present': 'true' });
  assert.deepEqual(stored.securityContext, { seccompProfile: { type: 'RuntimeDefault' } }, 'vllm/vllm-openai runs as root: no runAsNonRoot');
  assert.deepEqual((stored.containers as { env: unknown }[])[0]!.env, [{ name: 'A', value: '1' }, { name: 'HF_HOME', value: `${NODE_CACHE_PATH}/huggingface` }]);
  for (const key of ['initContainers', 'containers', 'tolerations', 'nodeSelector', 'securityContext']) {
    assert.deepEqual(podSpec(patched)[key], stored[key], key);
  }

  // A controller writing its desired template back (without the defaults) is a no-op: no new generation, no event.
  const meta = inline.metadata;
  const rewritten = structuredClone(inline);
  const spec = podSpec(rewritten);
  (spec.initContainers as { args: string[] }[])[0]!.args.pop();
  (spec.containers as { env: unknown[] }[])[0]!.env.pop();
  delete spec.tolerations;
  const put = (await api.call('PUT', `${pathOf(object)}/defaulted`, rewritten)) as unknown as KubeObject;
  assert.equal(put.metadata.resourceVersion, meta.resourceVersion);
  assert.equal(put.metadata.generation, meta.generation);
  await api.call('DELETE', `${pathOf(object)}/defaulted`);
});

test('kubectl shows a refusal\'s field path and reason', { skip: needs('kubectl') }, async () => {
  await setPolicy({ allowedSchemes: 'hf,s3' });
  const file = join(api.dir, 'bad-model.yaml');
  await writeFile(file, JSON.stringify({ ...model('bad', 'gs://bucket/llama', { resources: { requests: { 'nvidia.com/gpu': '0.5' } } }), metadata: { name: 'bad', namespace: 'default' } }));
  const res = await kubectl(api, ['apply', '-f', file]);
  assert.notEqual(res.code, 0);
  assert.match(res.stderr, /The Model "bad" is invalid: \n\* spec\.runtime\.resources\.requests\[nvidia\.com\/gpu\]: Invalid value: "500m": must be an integer\n\* spec\.modelSpec\.source\.uri: Forbidden: scheme gs:\/\/ is not allowed by the registry policy's allowedSchemes \(ConfigMap matrixinfer-system\/matrixinfer-registry-policy\): hf, s3\n/);
  await setPolicy(undefined);
});
