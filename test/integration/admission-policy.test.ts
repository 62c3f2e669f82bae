// The registry policy and the ModelInfer defaults end to end on the embedded API server with the controller manager
// and the node agent: a Model the policy refuses never gets children; an admitted Model's ModelInfer and engine Pod
// carry the GPU scheduling, the security context, HF_HOME and the policy's --safetensors-only on the download step,
// and still run here (the agent binds every pod to its node and runs containers as processes, so node selectors,
// tolerations and security contexts change nothing locally); the Model controller writing its desired ModelInfer
// back does not fight the webhook's defaults (no new generation). ≈ 10 s.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startNodeAgent, type NodeAgent } from '../../src/agent/agent.ts';
import type { Model, ModelInfer } from '../../src/api/kinds/index.ts';
import { startControllerManager, type ControllerManager } from '../../src/controllers/manager.ts';
import { MODELS, MODEL_INFERS, PODS } from '../../src/controllers/resources.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { createLogger } from '../../src/kube/log.ts';
import { projectCrds, startTestApiServer, type TestApiServer } from '../../src/kube/testing/apiserver.ts';
import { until } from '../../src/kube/testing/until.ts';
import { DOWNLOAD_CONTAINER, NODE_CACHE_PATH } from '../../src/registry/contract.ts';
import { createAdmissionPlugins } from '../../src/webhooks/plugins.ts';
import { LOCAL_POLICY_NAMESPACE, REGISTRY_POLICY_CONFIGMAP, storedPolicy } from '../../src/webhooks/policy.ts';
import { memoryLogger } from '../support/platform.ts';

const NS = 'default';
let api: TestApiServer;
let client: KubeClient;
let manager: ControllerManager;
let agent: NodeAgent;
let home: string;

before(async () => {
  api = await startTestApiServer({ admission: (objects) => createAdmissionPlugins({ policy: storedPolicy(objects) }) });
  await api.installCrds(projectCrds());
  await api.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: LOCAL_POLICY_NAMESPACE } });
  await api.call('POST', `/api/v1/namespaces/${LOCAL_POLICY_NAMESPACE}/configmaps`, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: REGISTRY_POLICY_CONFIGMAP },
    data: { allowedSchemes: 'hf', safetensorsOnly: 'true', maxGpusPerModel: '4' },
  });
  client = new KubeClient(api.kubeConfig);
  manager = await startControllerManager({ kubeConfig: api.kubeConfig, leaderElection: false, logger: createLogger('test', 'silent') });
  home = mkdtempSync(join(tmpdir(), 'matrixinfer-admission-'));
  const kubeconfigPath = join(home, 'kubeconfig');
  writeFileSync(kubeconfigPath, api.kubeConfig.exportConfig(), { mode: 0o600 });
  agent = await startNodeAgent({ kubeConfig: api.kubeConfig, kubeconfigPath, home, log: memoryLogger([]) });
});
after(async () => {
  await agent?.stop();
  await manager?.stop();
  await api?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

const model = (name: string, uri: string, runtime: Record<string, unknown>): Model => ({
  apiVersion: 'registry.matrixinfer.ai/v1alpha1',
  kind: 'Model',
  metadata: { name, namespace: NS },
  spec: { modelSpec: { modelId: name, framework: 'pytorch', version: '1', source: { uri } }, runtime: { image: 'vllm/vllm-openai:v0.9.2', args: ['--startup-seconds', '0'], ...runtime } } as Model['spec'],
});

test('refused by the policy: the reason names field and key, and no children appear', async () => {
  await assert.rejects(client.create(MODELS, model('from-s3', 's3://bucket/llama', {})), (err: Error) => {
    assert.match(err.message, /spec\.modelSpec\.source\.uri: Forbidden: scheme s3:\/\/ is not allowed by the registry policy's allowedSchemes/);
    return true;
  });
  await assert.rejects(client.create(MODELS, model('too-big', 'hf://org/llama', { replicas: 3, resources: { limits: { 'nvidia.com/gpu': 2 } } })), /2 GPUs per pod × 3 replicas \(spec\.runtime\.replicas\) = 6 GPUs, above the registry policy's maxGpusPerModel/);
  assert.equal(await client.get(MODEL_INFERS, NS, 'from-s3'), undefined);
});

test('an admitted Model\'s ModelInfer and Pod carry the defaults; the controller\'s write-backs are no-ops', async () => {
  const created = await client.create<Model>(MODELS, model('llama', 'hf://org/llama', { replicas: 2, env: [{ name: 'VLLM_LOGGING_LEVEL', value: 'INFO' }], resources: { limits: { 'nvidia.com/gpu': 2 } } }));
  assert.equal(created.spec.runtime!.engine, 'vLLM', 'the engine resolved from the image');
  const mi = await until('ModelInfer', () => client.get<ModelInfer>(MODEL_INFERS, NS, 'llama'));
  const template = mi.spec.roles![0]!.template as { spec: Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
  const spec = template.spec;
  assert.deepEqual(spec.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
  assert.deepEqual(spec.nodeSelector, { 'nvidia.com/gpu.present': 'true' });
  assert.deepEqual(spec.securityContext, { seccompProfile: { type: 'RuntimeDefault' } }, 'vllm/vllm-openai runs as root: no runAsNonRoot');
  const engine = spec.containers[0];
  assert.deepEqual(engine.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
  assert.deepEqual(engine.env.map((e: { name: string }) => e.name), ['VLLM_LOGGING_LEVEL', 'HF_HOME']);
  assert.equal(engine.env[1].value, `${NODE_CACHE_PATH}/huggingface`);
  const download = spec.initContainers.find((c: { name: string }) => c.name === DOWNLOAD_CONTAINER);
  assert.equal(download.args.at(-1), '--safetensors-only');

  const pod = await until('engine pod', () => client.get(PODS, NS, 'llama-0-server-0'));
  const podSpec = pod.spec as typeof spec;
  assert.deepEqual(podSpec.tolerations, spec.tolerations);
  assert.deepEqual(podSpec.initContainers.find((c: { name: string }) => c.name === DOWNLOAD_CONTAINER).args, download.args);

  // Both replicas run here all the same: the simulated engine serves, the Model becomes Ready.
  await until('Model Ready', async () => (await client.get<Model>(MODELS, NS, 'llama'))?.status?.phase === 'Ready', 30_000, 100);

  // A non-root image's pod gets runAsNonRoot and runs here too.
  await client.create(MODELS, model('tiny', 'hf://org/tiny', { image: 'matrixinfer/pytorch-runtime:latest' }));
  const tinyPod = await until('tiny pod', () => client.get(PODS, NS, 'tiny-0-server-0'));
  assert.deepEqual((tinyPod.spec as { securityContext?: unknown }).securityContext, { seccompProfile: { type: 'RuntimeDefault' }, runAsNonRoot: true });
  await until('tiny Ready', async () => (await client.get<Model>(MODELS, NS, 'tiny'))?.status?.phase === 'Ready', 30_000, 100);

  // Touch the Model (a label: no spec change) a few times; every reconcile writes the desired ModelInfer back
  // without the defaults, which admission restores: the ModelInfer's spec and generation must stay as they were.
  const before = (await client.get<ModelInfer>(MODEL_INFERS, NS, 'llama'))!;
  for (let i = 0; i < 3; i++) {
    const current = (await client.get<Model>(MODELS, NS, 'llama'))!;
    await client.replace(MODELS, { ...current, metadata: { ...current.metadata, labels: { ...current.metadata.labels, touch: String(i) } } });
    await sleep(300);
  }
  const after = (await client.get<ModelInfer>(MODEL_INFERS, NS, 'llama'))!;
  assert.equal(after.metadata.generation, before.metadata.generation, 'no new generation (status writes move resourceVersion, not this)');
  assert.deepEqual(after.spec, before.spec);
});
