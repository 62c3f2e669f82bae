// The registry webhook's Model rules and the policy ConfigMap, as pure functions: what is refused (field path,
// reason, policy key), what is defaulted, and how the ConfigMap parses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatFieldError, type AdmissionRequest, type KubeObject } from '../api/admission.ts';
import type { Model } from '../api/kinds/index.ts';
import { createAdmissionPlugins } from './plugins.ts';
import { fixedPolicy, readPolicy, REGISTRY_POLICY_CONFIGMAP } from './policy.ts';
import { defaultModel } from './registry-policy.ts';

const model = (spec: { uri?: string; revision?: string; base?: string; runtime?: Record<string, unknown> | null; autoscaling?: Record<string, unknown> } = {}): Model => ({
  apiVersion: 'registry.matrixinfer.ai/v1alpha1',
  kind: 'Model',
  metadata: { name: 'm', namespace: 'default' },
  spec: {
    modelSpec: {
      modelId: 'llama',
      framework: 'pytorch',
      version: '1',
      source: { uri: spec.uri ?? 'hf://meta-llama/Llama-3.1-8B', ...(spec.revision ? { revision: spec.revision } : {}) },
      ...(spec.base ? { baseModelRef: { name: spec.base } } : {}),
    },
    ...(spec.runtime === null ? {} : { runtime: { image: 'vllm/vllm-openai:v0.9', ...spec.runtime } }),
    ...(spec.autoscaling ? { autoscaling: spec.autoscaling } : {}),
  } as Model['spec'],
});

const policyMap = (data: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: REGISTRY_POLICY_CONFIGMAP, namespace: 'matrixinfer-system' }, data });

/** The Model plugin's refusals for creating `object` (or updating `old` to it), after its defaults. */
function errorsOf(object: Model, configMap?: KubeObject, old?: Model): string[] {
  const plugin = createAdmissionPlugins({ policy: fixedPolicy(configMap) }).find((p) => p.kind === 'Model')!;
  const stored = old && structuredClone(old);
  if (stored) defaultModel(stored, undefined); // as it was stored
  const base = { operation: old ? 'UPDATE' : 'CREATE', group: 'registry.matrixinfer.ai', version: 'v1alpha1', kind: 'Model', resource: 'models', name: 'm', namespace: 'default', ...(stored ? { oldObject: stored } : {}) } as const;
  const request: AdmissionRequest = { ...base, object: plugin.mutate!({ ...base, object: structuredClone(object) }) };
  return plugin.validate!(request).map(formatFieldError);
}

test('source URI: the parser\'s reason on spec.modelSpec.source.uri; every supported store passes', () => {
  assert.deepEqual(errorsOf(model({ uri: 'ftp://host/model' })), [
    'spec.modelSpec.source.uri: Invalid value: "ftp://host/model": "ftp://host/model": scheme ftp:// is not supported (s3, gs, az, https, huggingface, hf, pvc, file)',
  ]);
  assert.deepEqual(errorsOf(model({ uri: 'hf://not a repo' })), ['spec.modelSpec.source.uri: Invalid value: "hf://not a repo": "hf://not a repo": must name a repository as org/name']);
  assert.deepEqual(errorsOf(model({ uri: 'models/llama' })), ['spec.modelSpec.source.uri: Invalid value: "models/llama": "models/llama": is not a URI (scheme://…) or an absolute path']);
  for (const uri of ['s3://bucket/llama/', 'gs://bucket/llama', 'az://container/llama', 'https://acct.blob.core.windows.net/models/llama', 'huggingface://meta-llama/Llama-3.1-8B', 'https://host/m.gguf', 'pvc://models/llama', 'file:///models/llama', '/models/llama']) {
    assert.deepEqual(errorsOf(model({ uri })), [], uri);
  }
});

test('revision only with Hugging Face sources; adapters only from hf, pvc or a node path', () => {
  assert.deepEqual(errorsOf(model({ uri: 'hf://org/name', revision: 'v1.0' })), []);
  assert.deepEqual(errorsOf(model({ uri: 's3://bucket/llama', revision: 'v1.0' })), [
    'spec.modelSpec.source.revision: Forbidden: only huggingface:// and hf:// sources have revisions; s3 sources are versioned by their URI',
  ]);
  assert.deepEqual(errorsOf(model({ uri: 'hf://org/lora', base: 'llama', runtime: null })), []);
  assert.deepEqual(errorsOf(model({ uri: 'pvc://adapters/sql', base: 'llama', runtime: null })), []);
  assert.deepEqual(errorsOf(model({ uri: 's3://bucket/lora', base: 'llama', runtime: null })), [
    'spec.modelSpec.source.uri: Unsupported value: "s3://bucket/lora": a LoRA adapter is loaded from huggingface:// or hf://, pvc:// or a node path (file:// or /path); s3 sources are not fetched for adapters yet',
  ]);
});

test('resources: quantities parse, requests within limits, GPUs whole (any vendor)', () => {
  const resources = (r: Record<string, unknown>) => model({ runtime: { resources: r } });
  assert.deepEqual(errorsOf(resources({ requests: { 'nvidia.com/gpu': '0.5' } })), ['spec.runtime.resources.requests[nvidia.com/gpu]: Invalid value: "500m": must be an integer']);
  assert.deepEqual(errorsOf(resources({ limits: { 'amd.com/gpu': 1.5 } })), ['spec.runtime.resources.limits[amd.com/gpu]: Invalid value: "1500m": must be an integer']);
  assert.deepEqual(errorsOf(resources({ requests: { cpu: '4', memory: '32Gi' }, limits: { cpu: '2', memory: 'a lot' } })), [
    "spec.runtime.resources.limits[memory]: Invalid value: \"a lot\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
    'spec.runtime.resources.requests: Invalid value: "4": must be less than or equal to cpu limit of 2',
  ]);
  assert.deepEqual(errorsOf(resources({ requests: { 'nvidia.com/gpu': 2, cpu: '8' }, limits: { 'nvidia.com/gpu': 2 } })), []);
});

test('defaults: the engine from the image, kept when set, resolved again when a defaulted image changes', () => {
  const vllm = model();
  defaultModel(vllm, undefined);
  assert.equal(vllm.spec.runtime!.engine, 'vLLM');
  const sglang = model({ runtime: { image: 'lmsysorg/sglang:v0.4' } });
  defaultModel(sglang, undefined);
  assert.equal(sglang.spec.runtime!.engine, 'SGLang');
  const again = structuredClone(sglang);
  defaultModel(again, sglang);
  assert.deepEqual(again, sglang, 'idempotent');
  const explicit = model({ runtime: { image: 'registry.local/my-engine:1', engine: 'SGLang' } });
  defaultModel(explicit, undefined);
  assert.equal(explicit.spec.runtime!.engine, 'SGLang', 'what the user set stays');
  // kubectl apply of a new image keeps the defaulted engine of the old object: resolved again.
  const applied = structuredClone(vllm);
  applied.spec.runtime!.image = 'lmsysorg/sglang:v0.4';
  defaultModel(applied, vllm);
  assert.equal(applied.spec.runtime!.engine, 'SGLang');
  // An adapter has no runtime: nothing to default.
  const adapter = model({ base: 'llama', runtime: null });
  defaultModel(adapter, undefined);
  assert.equal(adapter.spec.runtime, undefined);
});

test('policy ConfigMap: keys parse; a value that does not is reported by key; an absent ConfigMap is no policy', () => {
  assert.deepEqual(readPolicy(undefined), { state: 'none' });
  const parsed = readPolicy(policyMap({ allowedSchemes: 'huggingface, s3', allowedSources: 'huggingface://meta-llama/,/models/', safetensorsOnly: 'true', maxGpusPerModel: '8', gpuNodeSelector: 'pool=gpu, zone=a', rootImages: 'Acme/Engine' }));
  assert.deepEqual(parsed, {
    state: 'active',
    policy: {
      source: `matrixinfer-system/${REGISTRY_POLICY_CONFIGMAP}`,
      allowedSchemes: ['hf', 's3'],
      allowedSources: ['hf://meta-llama/', 'file:///models/'],
      safetensorsOnly: true,
      maxGpusPerModel: 8,
      gpuNodeSelector: { pool: 'gpu', zone: 'a' },
      rootImages: ['acme/engine'],
    },
  });
  assert.deepEqual(readPolicy(policyMap({ gpuNodeSelector: '' })), { state: 'active', policy: { source: `matrixinfer-system/${REGISTRY_POLICY_CONFIGMAP}`, safetensorsOnly: false, gpuNodeSelector: {} } });
  const bad = readPolicy(policyMap({ maxGpusPerModel: 'eight', safetensorsOnly: 'yes', allowedSources: 'meta-llama/', maxGPUs: '1' }));
  assert.equal(bad.state, 'invalid');
  assert.deepEqual(bad.state === 'invalid' && bad.problems, [
    'data.maxGPUs: unknown key (known: allowedSchemes, allowedSources, safetensorsOnly, maxGpusPerModel, gpuNodeSelector, rootImages)',
    'data.allowedSources: "meta-llama/" is not a URI prefix (scheme://… or /path)',
    'data.safetensorsOnly: "yes" must be "true" or "false"',
    'data.maxGpusPerModel: "eight" must be a whole number',
  ]);
});

test('policy: schemes and source prefixes (hf and huggingface alike), refusals naming the key and the ConfigMap', () => {
  const cm = policyMap({ allowedSchemes: 'hf,s3,pvc', allowedSources: 'hf://meta-llama/,s3://models-prod/,pvc://' });
  assert.deepEqual(errorsOf(model({ uri: 'huggingface://meta-llama/Llama-3.1-8B' }), cm), []);
  assert.deepEqual(errorsOf(model({ uri: 's3://models-prod/llama' }), cm), []);
  assert.deepEqual(errorsOf(model({ uri: 'hf://someone/llama' }), cm), [
    'spec.modelSpec.source.uri: Forbidden: "hf://someone/llama" is not under the registry policy\'s allowedSources (ConfigMap matrixinfer-system/matrixinfer-registry-policy): hf://meta-llama/, s3://models-prod/, pvc://',
  ]);
  assert.deepEqual(errorsOf(model({ uri: 'gs://models-prod/llama' }), cm), [
    'spec.modelSpec.source.uri: Forbidden: scheme gs:// is not allowed by the registry policy\'s allowedSchemes (ConfigMap matrixinfer-system/matrixinfer-registry-policy): hf, s3, pvc',
    'spec.modelSpec.source.uri: Forbidden: "gs://models-prod/llama" is not under the registry policy\'s allowedSources (ConfigMap matrixinfer-system/matrixinfer-registry-policy): hf://meta-llama/, s3://models-prod/, pvc://',
  ]);
});

test('policy: maxGpusPerModel caps GPUs per pod × the most replicas (runtime.replicas, or autoscaling.maxReplicas)', () => {
  const cm = policyMap({ maxGpusPerModel: '8' });
  const gpus = (n: number | string, extra: Record<string, unknown> = {}) => ({ resources: { limits: { 'nvidia.com/gpu': n } }, ...extra });
  assert.deepEqual(errorsOf(model({ runtime: gpus(4, { replicas: 2 }) }), cm), []);
  assert.deepEqual(errorsOf(model({ runtime: gpus(4, { replicas: 3 }) }), cm), [
    'spec.runtime.resources: Forbidden: 4 GPUs per pod × 3 replicas (spec.runtime.replicas) = 12 GPUs, above the registry policy\'s maxGpusPerModel (ConfigMap matrixinfer-system/matrixinfer-registry-policy): 8',
  ]);
  assert.deepEqual(errorsOf(model({ runtime: gpus('2'), autoscaling: { minReplicas: 1, maxReplicas: 5 } }), cm), [
    'spec.runtime.resources: Forbidden: 2 GPUs per pod × 5 replicas (spec.autoscaling.maxReplicas) = 10 GPUs, above the registry policy\'s maxGpusPerModel (ConfigMap matrixinfer-system/matrixinfer-registry-policy): 8',
  ]);
  assert.deepEqual(errorsOf(model({ runtime: { replicas: 30 } }), cm), [], 'no GPUs, no cap');
});

test('policy: an invalid ConfigMap refuses every Model, naming the key; a missing one refuses nothing', () => {
  assert.deepEqual(errorsOf(model(), policyMap({ maxGpusPerModel: '-1' })), [
    'spec: Forbidden: the registry policy ConfigMap matrixinfer-system/matrixinfer-registry-policy is invalid, so no Model is admitted until it is fixed: data.maxGpusPerModel: "-1" must be a whole number',
  ]);
  assert.deepEqual(errorsOf(model({ uri: 'gs://anything/x' })), []);
});

test('UPDATE: rules hold for what changes, so a Model stored before a rule or a stricter policy can be relabelled and deleted', () => {
  const cm = policyMap({ allowedSources: 'hf://meta-llama/', maxGpusPerModel: '4' });
  // Stored before the URI rule: a relabel passes, a new URI that does not parse is refused.
  const legacy = model({ uri: 'models/llama' });
  const relabelled = { ...structuredClone(legacy), metadata: { ...legacy.metadata, labels: { team: 'a' } } };
  assert.deepEqual(errorsOf(relabelled, undefined, legacy), []);
  const moved = model({ uri: 'models/other' });
  assert.equal(errorsOf(moved, undefined, legacy).length, 1);
  // Admitted before the policy: a new image passes, a new source outside the policy does not.
  const outside = model({ uri: 'hf://someone/llama', runtime: { resources: { limits: { 'nvidia.com/gpu': 8 } } } });
  assert.deepEqual(errorsOf(model({ uri: 'hf://someone/llama', runtime: { image: 'vllm/vllm-openai:v0.10', resources: { limits: { 'nvidia.com/gpu': 8 } } } }), cm, outside), []);
  assert.match(errorsOf(model({ uri: 'hf://someone/other', runtime: { resources: { limits: { 'nvidia.com/gpu': 8 } } } }), cm, outside)[0]!, /allowedSources/);
  // Above the GPU cap already: fewer GPUs pass, more do not.
  assert.deepEqual(errorsOf(model({ uri: 'hf://someone/llama', runtime: { resources: { limits: { 'nvidia.com/gpu': 6 } } } }), cm, outside), []);
  assert.match(errorsOf(model({ uri: 'hf://someone/llama', runtime: { replicas: 2, resources: { limits: { 'nvidia.com/gpu': 8 } } } }), cm, outside)[0]!, /16 GPUs, above the registry policy's maxGpusPerModel/);
  // Being deleted: never refused by the policy, even an invalid one (finalizers must come off).
  const unchanged = { ...structuredClone(outside), metadata: { ...outside.metadata, finalizers: [] } };
  assert.deepEqual(errorsOf(unchanged, policyMap({ maxGpusPerModel: 'x' }), outside), []);
  const deleting = model({ uri: 'hf://someone/llama', runtime: { image: 'vllm/vllm-openai:v0.10' } });
  deleting.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
  assert.deepEqual(errorsOf(deleting, policyMap({ maxGpusPerModel: 'x' }), outside), []);
  assert.equal(errorsOf({ ...deleting, metadata: { ...deleting.metadata, deletionTimestamp: undefined } }, policyMap({ maxGpusPerModel: 'x' }), outside).length, 1, 'not being deleted: refused');
});
