import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { ServedModel as Model } from '../../api/kinds/index.ts';
import { MANAGED_BY_LABEL, MODEL_NAME_LABEL } from '../../api/labels.ts';
import { needsUpdate, stampDesired } from '../../kube/apply.ts';
import { createAdmissionPlugins } from '../../webhooks/plugins.ts';
import {
  desiredChildren,
  engineCommand,
  engineOf,
  initialReplicas,
  modelPath,
  preserveReplicas,
  replicaBounds,
} from './desired.ts';

const seed = parse(readFileSync(new URL('../../../examples/quickstart.yaml', import.meta.url), 'utf8')) as Model;

function model(patch: Partial<Model['spec']> = {}, runtime: Partial<Model['spec']['runtime']> = {}): Model {
  const m = structuredClone(seed);
  m.metadata.uid = 'uid-1';
  Object.assign(m.spec, patch);
  Object.assign(m.spec.runtime, runtime);
  return m;
}

test('the seed Model maps to a vLLM ModelInfer with the expected pod template', () => {
  const { modelInfer } = desiredChildren(model());
  assert.equal(modelInfer.apiVersion, 'workload.matrixinfer.ai/v1alpha1');
  assert.equal(modelInfer.kind, 'ModelInfer');
  assert.deepEqual(modelInfer.metadata, {
    name: 'llama-7b',
    namespace: 'default',
    labels: { [MANAGED_BY_LABEL]: 'registry.matrixinfer.ai', [MODEL_NAME_LABEL]: 'llama-7b' },
  });
  assert.equal(modelInfer.spec.modelName, 'llama-7b');
  assert.equal(modelInfer.spec.replicas, 1);
  assert.equal(modelInfer.spec.roles.length, 1);
  const role = modelInfer.spec.roles[0]!;
  assert.equal(role.name, 'server');
  assert.equal(role.replicas, 1);
  assert.deepEqual(role.template.metadata, { labels: { [MODEL_NAME_LABEL]: 'llama-7b' } });
  const spec = role.template.spec as any;
  assert.equal(spec.restartPolicy, 'Always');
  const cachePath = '/var/lib/matrixinfer/models/Llama-2-7b-hf-09d7a57727f4';
  assert.deepEqual(spec.volumes, [
    { name: 'dshm', emptyDir: { medium: 'Memory' } },
    { name: 'model-cache', hostPath: { path: '/var/lib/matrixinfer/models', type: 'DirectoryOrCreate' } },
  ]);
  // The download step fetches the Hub repository into the node cache before the engine starts.
  assert.equal(spec.initContainers.length, 1);
  const init = spec.initContainers[0];
  assert.equal(init.name, 'model-download');
  assert.deepEqual(init.args, ['download', '--uri', 'huggingface://meta-llama/Llama-2-7b-hf', '--cache-dir', '/var/lib/matrixinfer/models']);
  assert.deepEqual(init.volumeMounts, [{ name: 'model-cache', mountPath: '/var/lib/matrixinfer/models' }]);
  assert.equal(init.envFrom, undefined, 'no Secret named, none mounted');
  assert.equal(spec.containers.length, 1);
  const c = spec.containers[0];
  assert.equal(c.name, 'engine');
  assert.equal(c.image, 'matrixinfer/pytorch-runtime:latest');
  assert.equal(c.command, undefined, 'vLLM images have `vllm serve` as entrypoint');
  assert.deepEqual(c.args, [cachePath, '--served-model-name', 'llama-7b', '--host', '0.0.0.0', '--port', '8000']);
  assert.deepEqual(c.ports, [{ name: 'http', containerPort: 8000, protocol: 'TCP' }]);
  assert.deepEqual(c.resources, { requests: { memory: '8Gi', cpu: '2' }, limits: { memory: '16Gi', cpu: '4' } });
  assert.deepEqual(c.readinessProbe, { httpGet: { path: '/health', port: 8000 }, initialDelaySeconds: 0, periodSeconds: 2, failureThreshold: 3 });
  assert.deepEqual(c.volumeMounts, [{ name: 'dshm', mountPath: '/dev/shm' }, { name: 'model-cache', mountPath: '/var/lib/matrixinfer/models', readOnly: true }]);
  assert.deepEqual(c.env, [{ name: 'HF_HOME', value: '/var/lib/matrixinfer/models/huggingface' }], 'Hugging Face libraries look in the node cache');
});

test('engine detection and command lines', () => {
  assert.equal(engineOf({ image: 'vllm/vllm-openai:v0.9' }), 'vLLM');
  assert.equal(engineOf({ image: 'lmsysorg/sglang:latest' }), 'SGLang');
  assert.equal(engineOf({ image: 'lmsysorg/sglang:latest', engine: 'vLLM' }), 'vLLM');
  assert.equal(engineOf({ image: 'custom', engine: 'SGLang' }), 'SGLang');
  const sglang = engineCommand(model({}, { image: 'lmsysorg/sglang:latest', port: 30000, args: ['--tp', '2'] }));
  assert.deepEqual(sglang, {
    command: ['python3', '-m', 'sglang.launch_server'],
    args: ['--model-path', '/var/lib/matrixinfer/models/Llama-2-7b-hf-09d7a57727f4', '--served-model-name', 'llama-7b', '--host', '0.0.0.0', '--port', '30000', '--tp', '2'],
  });
  const vllm = engineCommand(model({}, { args: ['--max-model-len', '4096'] }));
  assert.deepEqual(vllm.args.slice(-2), ['--max-model-len', '4096']);
});

test('the engine opens the artifacts where the pod has them: node cache, PVC mount or node directory; credentials from the named Secret', () => {
  const s3 = desiredChildren(model({ modelSpec: { ...seed.spec.modelSpec, source: { uri: 's3://models/llama/7b', secretRef: { name: 'aws' } } } })).modelInfer;
  const s3Spec = s3.spec.roles[0]!.template.spec as any;
  assert.match(s3Spec.containers[0].args[0], /^\/var\/lib\/matrixinfer\/models\/7b-[0-9a-f]{12}$/);
  assert.deepEqual(s3Spec.initContainers[0].envFrom, [{ secretRef: { name: 'aws' } }]);
  const pvc = desiredChildren(model({ modelSpec: { ...seed.spec.modelSpec, source: { uri: 'pvc://weights/llama' } } })).modelInfer;
  const pvcSpec = pvc.spec.roles[0]!.template.spec as any;
  assert.equal(pvcSpec.containers[0].args[0], '/mnt/models/weights/llama');
  assert.deepEqual(pvcSpec.volumes[1], { name: 'model-pvc', persistentVolumeClaim: { claimName: 'weights', readOnly: true } });
  assert.deepEqual(pvcSpec.initContainers[0].volumeMounts, [{ name: 'model-pvc', mountPath: '/mnt/models/weights', readOnly: true }]);
  const hf = desiredChildren(model({ modelSpec: { ...seed.spec.modelSpec, source: { uri: 'hf://org/m', revision: 'v2' } } })).modelInfer;
  const hfSpec = hf.spec.roles[0]!.template.spec as any;
  assert.deepEqual(hfSpec.initContainers[0].args.slice(3, 5), ['--revision', 'v2']);
  const hfMain = desiredChildren(model({ modelSpec: { ...seed.spec.modelSpec, source: { uri: 'hf://org/m' } } })).modelInfer;
  assert.notEqual((hfMain.spec.roles[0]!.template.spec as any).containers[0].args[0], hfSpec.containers[0].args[0], 'each revision has its own cache entry');
});

test('model path strips the Hugging Face schemes only', () => {
  assert.equal(modelPath('huggingface://meta-llama/Llama-2-7b-hf'), 'meta-llama/Llama-2-7b-hf');
  assert.equal(modelPath('hf://Qwen/Qwen2.5-0.5B'), 'Qwen/Qwen2.5-0.5B');
  assert.equal(modelPath('s3://my-models/custom-model-v2/'), 's3://my-models/custom-model-v2/');
  assert.equal(modelPath('pvc://claim/path'), 'pvc://claim/path');
});

test('port, env and replicas flow into the ModelInfer and ModelServer', () => {
  const { modelInfer, modelServer } = desiredChildren(model({}, { port: 9000, replicas: 3, env: [{ name: 'A', value: '1' }] }));
  const c = (modelInfer.spec.roles[0]!.template.spec as any).containers[0];
  assert.deepEqual(c.ports, [{ name: 'http', containerPort: 9000, protocol: 'TCP' }]);
  assert.equal(c.readinessProbe.httpGet.port, 9000);
  assert.deepEqual(c.env, [{ name: 'A', value: '1' }, { name: 'HF_HOME', value: '/var/lib/matrixinfer/models/huggingface' }]);
  const own = desiredChildren(model({}, { env: [{ name: 'HF_HOME', value: '/scratch/hf' }] })).modelInfer;
  assert.deepEqual((own.spec.roles[0]!.template.spec as any).containers[0].env, [{ name: 'HF_HOME', value: '/scratch/hf' }], 'the runtime\'s HF_HOME wins');
  assert.equal(modelInfer.spec.replicas, 3);
  assert.deepEqual(modelServer.spec.service, { type: 'ClusterIP', port: 8080, targetPort: 9000 });
});

test('ModelServer, ModelRoute, policy and binding of the seed Model', () => {
  const c = desiredChildren(model());
  for (const child of Object.values(c)) {
    assert.equal(child.metadata.name, 'llama-7b');
    assert.equal(child.metadata.namespace, 'default');
    assert.equal(child.metadata.labels?.[MANAGED_BY_LABEL], 'registry.matrixinfer.ai');
    assert.equal(child.metadata.labels?.[MODEL_NAME_LABEL], 'llama-7b');
  }
  assert.deepEqual(c.modelServer.spec, {
    modelInferRef: { name: 'llama-7b' },
    model: 'llama-7b',
    inferenceEngine: 'vLLM',
    service: { type: 'ClusterIP', port: 8080, targetPort: 8000 },
    routing: { path: '/v1/models/llama-7b', timeout: '60s', retries: 2 },
  });
  assert.deepEqual(c.modelRoute.spec, { modelName: 'llama-7b', rules: [{ name: 'default', targetModels: [{ modelServerName: 'llama-7b', weight: 100 }] }] });
  assert.deepEqual(c.autoscalingPolicy.spec, { metrics: [{ metricName: 'vllm:num_requests_waiting', targetValue: 10 }], tolerancePercent: 10 });
  assert.deepEqual(c.autoscalingPolicyBinding.spec, { policyRef: { name: 'llama-7b' }, targetRef: { kind: 'ModelInfer', name: 'llama-7b' }, minReplicas: 1, maxReplicas: 1 });
});

test('serving overrides', () => {
  const { modelServer } = desiredChildren(model({ serving: { path: '/custom', timeout: '5m', retries: 0 } }));
  assert.deepEqual(modelServer.spec.routing, { path: '/custom', timeout: '5m', retries: 0 });
});

test('autoscaling: bounds, metrics and replicas owned by the autoscaler', () => {
  const m = model({ autoscaling: { minReplicas: 2, maxReplicas: 5, tolerancePercent: 20, metrics: [{ metricName: 'vllm:gpu_cache_usage_perc', targetValue: '800m' }] } });
  const c = desiredChildren(m);
  assert.deepEqual(replicaBounds(m), { min: 2, max: 5 });
  assert.equal(c.modelInfer.spec.replicas, 2, 'created at minReplicas when runtime.replicas is unset');
  assert.deepEqual(c.autoscalingPolicy.spec, { metrics: [{ metricName: 'vllm:gpu_cache_usage_perc', targetValue: '800m' }], tolerancePercent: 20 });
  assert.equal(c.autoscalingPolicyBinding.spec.minReplicas, 2);
  assert.equal(c.autoscalingPolicyBinding.spec.maxReplicas, 5);
  assert.equal(initialReplicas(model({ autoscaling: { minReplicas: 1, maxReplicas: 3 } }, { replicas: 9 })), 3, 'clamped into bounds');
  const live = structuredClone(c.modelInfer);
  live.spec.replicas = 4;
  assert.equal(preserveReplicas(m)(c.modelInfer, live).spec.replicas, 4, 'live replicas kept');
  assert.equal(preserveReplicas(model())(desiredChildren(model()).modelInfer, live).spec.replicas, 1, 'not autoscaled: Model wins');
});

test('autoscaling: behavior and scaleToZeroIdle reach the generated policy (a copy, not the Model\'s object)', () => {
  const behavior = {
    scaleUp: { stablePolicy: { instances: 2, percent: 50, selectPolicy: 'Min' as const, period: '30s', stabilizationWindow: '10s' }, panicPolicy: { panicThresholdPercent: 300, panicModeHold: '90s', percent: 500, period: '10s' } },
    scaleDown: { instances: 1, period: '60s', stabilizationWindow: '10m', selectPolicy: 'Min' as const },
  };
  const m = model({ autoscaling: { minReplicas: 0, maxReplicas: 4, scaleToZeroIdle: '15m', behavior, metrics: [{ metricName: 'num_requests', targetValue: 8 }] } });
  const policy = desiredChildren(m).autoscalingPolicy;
  assert.deepEqual(policy.spec, { metrics: [{ metricName: 'num_requests', targetValue: 8 }], tolerancePercent: 10, scaleToZeroIdle: '15m', behavior });
  assert.notEqual(policy.spec.behavior, m.spec.autoscaling!.behavior, 'cloned: the policy never aliases the Model');
  assert.equal(desiredChildren(m).autoscalingPolicyBinding.spec.minReplicas, 0, 'minReplicas 0 reaches the binding (scale to zero)');
  const plain = desiredChildren(model({ autoscaling: { minReplicas: 1, maxReplicas: 2 } })).autoscalingPolicy.spec;
  assert.equal(plain.behavior, undefined);
  assert.equal(plain.scaleToZeroIdle, undefined);
});

test('autoscaling: predictive reaches the policy, schedules the binding, a Prometheus metric its query (copies)', () => {
  const predictive = { enabled: true, method: 'SeasonalNaive' as const, metricName: 'rt', seasonLength: '24h', seasons: 7 };
  const schedules = [{ name: 'business-hours', cron: '0 9 * * 1-5', duration: '9h', timeZone: 'Europe/Berlin', minReplicas: 3 }];
  const metrics = [{ metricName: 'rt', targetValue: '300m', prometheus: { query: 'avg(rt{pod=~"$pods"})', aggregate: 'Average' as const } }];
  const m = model({ autoscaling: { minReplicas: 1, maxReplicas: 6, metrics, predictive, schedules } });
  const { autoscalingPolicy, autoscalingPolicyBinding } = desiredChildren(m);
  assert.deepEqual(autoscalingPolicy.spec.predictive, predictive);
  assert.deepEqual(autoscalingPolicy.spec.metrics, metrics);
  assert.deepEqual(autoscalingPolicyBinding.spec.schedules, schedules);
  assert.notEqual(autoscalingPolicyBinding.spec.schedules, schedules, 'cloned');
  assert.equal(desiredChildren(model({ autoscaling: { minReplicas: 1, maxReplicas: 2 } })).autoscalingPolicyBinding.spec.schedules, undefined);
});

test('replicas 0 without autoscaling still yields a valid binding', () => {
  const c = desiredChildren(model({}, { replicas: 0 }));
  assert.equal(c.modelInfer.spec.replicas, 0);
  assert.equal(c.autoscalingPolicyBinding.spec.minReplicas, 0);
  assert.equal(c.autoscalingPolicyBinding.spec.maxReplicas, 1);
});

test('desired children are a pure function of the Model', () => {
  assert.deepEqual(desiredChildren(model()), desiredChildren(model()));
});

test('a deprecated Model\'s route carries since (the Deprecated condition\'s transition, else creation), successor and message', () => {
  assert.equal(desiredChildren(model()).modelRoute.spec.deprecation, undefined);
  const deprecated = model({ deprecated: true, deprecation: { replacement: 'llama-13b', message: 'retiring in June' } });
  deprecated.metadata.creationTimestamp = '2026-01-01T00:00:00Z';
  assert.deepEqual(desiredChildren(deprecated).modelRoute.spec.deprecation, { since: '2026-01-01T00:00:00Z', successor: 'llama-13b', message: 'retiring in June' });
  deprecated.status = { conditions: [{ type: 'Deprecated', status: 'True', reason: 'Deprecated', message: '', lastTransitionTime: '2026-03-01T12:00:00Z' }] };
  assert.deepEqual(desiredChildren(deprecated).modelRoute.spec.deprecation, { since: '2026-03-01T12:00:00Z', successor: 'llama-13b', message: 'retiring in June' });
  const bare = model({ deprecated: true });
  bare.metadata.creationTimestamp = '2026-01-01T00:00:00Z';
  assert.deepEqual(desiredChildren(bare).modelRoute.spec.deprecation, { since: '2026-01-01T00:00:00Z' });
});

test('admission leaves the desired ModelInfer as it is where the controller compares it, so reconciles write nothing', () => {
  const mutate = createAdmissionPlugins().find((p) => p.kind === 'ModelInfer')!.mutate!;
  const owner = { apiVersion: 'registry.matrixinfer.ai/v1alpha1', kind: 'Model', metadata: { name: 'llama-7b', uid: 'uid-1' } };
  // What the controller writes, and what the API server stores after the ModelInfer webhook's defaults.
  const written = stampDesired(desiredChildren(model({}, { env: [{ name: 'A', value: '1' }] })).modelInfer, owner);
  const stored = mutate({ operation: 'CREATE', group: 'workload.matrixinfer.ai', version: 'v1alpha1', kind: 'ModelInfer', resource: 'modelinfers', name: 'llama-7b', namespace: 'default', object: structuredClone(written) });
  assert.notDeepEqual(stored, written, 'admission does add its defaults (security context, …)');
  assert.equal(needsUpdate(written, stored), false, 'but only fields the desired state leaves unset');
});
