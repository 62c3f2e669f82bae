// The ModelInfer webhook's pod template rules as pure functions: GPU scheduling, the security context (and what the
// user set staying), HF_HOME on the model cache, safetensors-only on the download step, idempotence, and what
// validation refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatFieldError, type AdmissionRequest, type KubeObject } from '../api/admission.ts';
import type { ModelInfer } from '../api/kinds/index.ts';
import { CACHE_VOLUME, DOWNLOAD_CONTAINER, NODE_CACHE_PATH } from '../registry/contract.ts';
import { createAdmissionPlugins } from './plugins.ts';
import { fixedPolicy, REGISTRY_POLICY_CONFIGMAP } from './policy.ts';
import { ALLOW_PRIVILEGED_ANNOTATION } from './pod-template.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const infer = (spec: Json, annotations?: Record<string, string>): ModelInfer => ({
  apiVersion: 'workload.matrixinfer.ai/v1alpha1',
  kind: 'ModelInfer',
  metadata: { name: 'mi', namespace: 'default' },
  spec: { roles: [{ name: 'server', template: { ...(annotations ? { metadata: { annotations } } : {}), spec } }] },
} as ModelInfer);

const policyMap = (data: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: REGISTRY_POLICY_CONFIGMAP, namespace: 'matrixinfer-system' }, data });

function plugin(configMap?: KubeObject) {
  return createAdmissionPlugins({ policy: fixedPolicy(configMap) }).find((p) => p.kind === 'ModelInfer')!;
}
const request = (object: KubeObject): AdmissionRequest => ({ operation: 'CREATE', group: 'workload.matrixinfer.ai', version: 'v1alpha1', kind: 'ModelInfer', resource: 'modelinfers', name: 'mi', namespace: 'default', object });

/** The first role's pod spec after the mutating plugin; asserts a second pass changes nothing. */
function defaulted(mi: ModelInfer, configMap?: KubeObject): Json {
  const p = plugin(configMap);
  const once = p.mutate!(request(structuredClone(mi)));
  const twice = p.mutate!(request(structuredClone(once)));
  assert.deepEqual(twice, once, 'idempotent');
  return (once.spec as Json).roles[0].template.spec;
}

const errors = (mi: ModelInfer, old?: ModelInfer) => plugin().validate!({ ...request(mi), ...(old ? { operation: 'UPDATE' as const, oldObject: old } : {}) }).map(formatFieldError);

const gpuEngine = (image = 'registry.local/engine:1', extra: Json = {}) => ({ name: 'engine', image, resources: { limits: { 'nvidia.com/gpu': '2' } }, ...extra });

test('GPU pods: the nvidia.com/gpu toleration and the GPU operator\'s node label; CPU pods untouched', () => {
  const spec = defaulted(infer({ containers: [gpuEngine()] }));
  assert.deepEqual(spec.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
  assert.deepEqual(spec.nodeSelector, { 'nvidia.com/gpu.present': 'true' });
  const amd = defaulted(infer({ containers: [{ name: 'e', image: 'x', resources: { limits: { 'amd.com/gpu': 1 } } }] }));
  assert.deepEqual(amd.tolerations, [{ key: 'amd.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
  assert.equal(amd.nodeSelector, undefined, 'no well-known label for other vendors');
  const cpu = defaulted(infer({ containers: [{ name: 'e', image: 'x', resources: { limits: { cpu: '2' } } }] }));
  assert.equal(cpu.tolerations, undefined);
  assert.equal(cpu.nodeSelector, undefined);
});

test('GPU pods: a node selector, a required node affinity or a toleration the user gave is kept; the policy replaces the label', () => {
  const own = defaulted(infer({ containers: [gpuEngine()], nodeSelector: { 'gpu.example.com/model': 'h100' }, tolerations: [{ key: 'nvidia.com/gpu', operator: 'Equal', value: 'present', effect: 'NoSchedule' }] }));
  assert.deepEqual(own.nodeSelector, { 'gpu.example.com/model': 'h100' });
  assert.deepEqual(own.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Equal', value: 'present', effect: 'NoSchedule' }]);
  const affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['gpu'] }] }] } } };
  assert.equal(defaulted(infer({ containers: [gpuEngine()], affinity })).nodeSelector, undefined);
  assert.deepEqual(defaulted(infer({ containers: [gpuEngine()] }), policyMap({ gpuNodeSelector: 'pool=gpu' })).nodeSelector, { pool: 'gpu' });
  assert.equal(defaulted(infer({ containers: [gpuEngine()] }), policyMap({ gpuNodeSelector: '' })).nodeSelector, undefined, 'an empty policy value turns it off');
});

test('security context: RuntimeDefault seccomp, runAsNonRoot, no escalation, all capabilities dropped', () => {
  const spec = defaulted(infer({ containers: [gpuEngine()], initContainers: [{ name: 'init', image: 'busybox' }] }));
  assert.deepEqual(spec.securityContext, { seccompProfile: { type: 'RuntimeDefault' }, runAsNonRoot: true });
  for (const c of [...spec.initContainers, ...spec.containers]) {
    assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } }, c.name);
  }
});

test('security context: images known to run as root (vllm/vllm-openai, lmsysorg/sglang, the policy\'s rootImages) get no runAsNonRoot', () => {
  for (const image of ['vllm/vllm-openai:v0.9.2', 'docker.io/vllm/vllm-openai@sha256:abc', 'mirror.local:5000/proxy/lmsysorg/sglang:latest']) {
    const spec = defaulted(infer({ containers: [gpuEngine(image)] }));
    assert.deepEqual(spec.securityContext, { seccompProfile: { type: 'RuntimeDefault' } }, image);
    assert.deepEqual(spec.containers[0].securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
  }
  const listed = defaulted(infer({ containers: [gpuEngine('acme/engine:2')] }), policyMap({ rootImages: 'acme/engine' }));
  assert.equal(listed.securityContext.runAsNonRoot, undefined);
});

test('security context: what the user set is never overwritten', () => {
  const spec = defaulted(infer({
    securityContext: { runAsUser: 0, seccompProfile: { type: 'Unconfined' } },
    containers: [gpuEngine('x', { securityContext: { allowPrivilegeEscalation: true, capabilities: { add: ['IPC_LOCK'] } } })],
  }));
  assert.deepEqual(spec.securityContext, { runAsUser: 0, seccompProfile: { type: 'Unconfined' } });
  assert.deepEqual(spec.containers[0].securityContext, { allowPrivilegeEscalation: true, capabilities: { add: ['IPC_LOCK'], drop: ['ALL'] } });
  const container = defaulted(infer({ containers: [gpuEngine('x', { securityContext: { runAsNonRoot: false, capabilities: { drop: ['NET_RAW'] } } })] }));
  assert.equal(container.securityContext.runAsNonRoot, true, 'a container\'s own runAsNonRoot overrides the pod\'s for itself only');
  assert.deepEqual(container.containers[0].securityContext, { runAsNonRoot: false, allowPrivilegeEscalation: false, capabilities: { drop: ['NET_RAW'] } });
  // A root download step that says so (runAsUser 0, runAsNonRoot false) leaves the engine's default in place ...
  const rootInit = defaulted(infer({ initContainers: [{ name: 'fetch', image: 'x', securityContext: { runAsUser: 0, runAsNonRoot: false } }], containers: [gpuEngine()] }));
  assert.equal(rootInit.securityContext.runAsNonRoot, true);
  // ... but runAsUser 0 alone would inherit runAsNonRoot and not start: no pod default then.
  const rootOnly = defaulted(infer({ containers: [gpuEngine('x', { securityContext: { runAsUser: 0 } })] }));
  assert.equal(rootOnly.securityContext.runAsNonRoot, undefined);
  // CAP_SYS_ADMIN and allowPrivilegeEscalation: false are refused together by Kubernetes.
  const sysAdmin = defaulted(infer({ containers: [gpuEngine('x', { securityContext: { capabilities: { add: ['CAP_SYS_ADMIN'] } } })] }));
  assert.equal(sysAdmin.containers[0].securityContext.allowPrivilegeEscalation, undefined);
  // An opted-in privileged container gets none of the container defaults (they would contradict it).
  const privileged = defaulted(infer({ containers: [gpuEngine('x', { securityContext: { privileged: true } })] }, { [ALLOW_PRIVILEGED_ANNOTATION]: 'true' }));
  assert.deepEqual(privileged.containers[0].securityContext, { privileged: true });
});

test('configuration: HF_HOME into the model cache mount of engine containers; the policy\'s safetensors-only on the download step', () => {
  const template = {
    initContainers: [{ name: DOWNLOAD_CONTAINER, image: 'matrixinfer/downloader:0.1.0', args: ['download', '--uri', 'hf://org/m', '--cache-dir', NODE_CACHE_PATH], volumeMounts: [{ name: CACHE_VOLUME, mountPath: NODE_CACHE_PATH }] }],
    containers: [
      { name: 'engine', image: 'vllm/vllm-openai:v0.9', env: [{ name: 'A', value: '1' }], volumeMounts: [{ name: 'dshm', mountPath: '/dev/shm' }, { name: CACHE_VOLUME, mountPath: NODE_CACHE_PATH, readOnly: true }] },
      { name: 'sidecar', image: 'busybox' },
    ],
    volumes: [{ name: 'dshm', emptyDir: { medium: 'Memory' } }, { name: CACHE_VOLUME, hostPath: { path: NODE_CACHE_PATH, type: 'DirectoryOrCreate' } }],
  };
  const plain = defaulted(infer(structuredClone(template)));
  assert.deepEqual(plain.containers[0].env, [{ name: 'A', value: '1' }, { name: 'HF_HOME', value: `${NODE_CACHE_PATH}/huggingface` }]);
  assert.equal(plain.containers[1].env, undefined, 'no cache mount, no HF_HOME');
  assert.equal(plain.initContainers[0].env, undefined, 'the download step is told --cache-dir');
  assert.deepEqual(plain.initContainers[0].args, template.initContainers[0]!.args, 'no policy, no flag');
  const strict = defaulted(infer(structuredClone(template)), policyMap({ safetensorsOnly: 'true' }));
  assert.deepEqual(strict.initContainers[0].args, [...template.initContainers[0]!.args, '--safetensors-only']);
  // A policy with a bad key refuses Models, but what parsed still holds for pods: a typo must not drop the flag.
  const typo = defaulted(infer(structuredClone(template)), policyMap({ safetensorsOnly: 'true', maxGpusPerModel: 'lots' }));
  assert.deepEqual(typo.initContainers[0].args.at(-1), '--safetensors-only');
  // Policy not read yet (the webhook server's informer): a ModelInfer with a download step waits; others do not.
  const unread = createAdmissionPlugins({ policy: { current: () => ({ state: 'unavailable', reason: 'not read yet' }) } }).find((p) => p.kind === 'ModelInfer')!;
  assert.deepEqual(unread.validate!(request(infer(structuredClone(template)))).map(formatFieldError), [
    `spec.roles[0].template.spec.initContainers[0]: Forbidden: the registry policy is not loaded yet (not read yet); retry`,
  ]);
  assert.deepEqual(unread.validate!(request(infer({ containers: [{ name: 'e', image: 'x' }] }))), []);
  // An HF_HOME the user set stays.
  const own = structuredClone(template);
  own.containers[0]!.env = [{ name: 'HF_HOME', value: '/data/hf' }];
  assert.deepEqual(defaulted(infer(own)).containers[0].env, [{ name: 'HF_HOME', value: '/data/hf' }]);
});

test('validation: privileged only with the opt-in annotation; fractional GPUs and requests above limits refused on every container', () => {
  assert.deepEqual(errors(infer({ containers: [{ name: 'e', image: 'x', securityContext: { privileged: true } }] })), [
    `spec.roles[0].template.spec.containers[0].securityContext.privileged: Forbidden: privileged containers are refused unless the pod template carries the annotation ${ALLOW_PRIVILEGED_ANNOTATION}: "true"`,
  ]);
  assert.deepEqual(errors(infer({ containers: [{ name: 'e', image: 'x', securityContext: { privileged: true } }] }, { [ALLOW_PRIVILEGED_ANNOTATION]: 'true' })), []);
  // Stored before the rule: still updatable (scaled, re-imaged); a newly privileged container is refused.
  const legacy = infer({ containers: [{ name: 'e', image: 'x', securityContext: { privileged: true } }] });
  const scaled = { ...structuredClone(legacy), spec: { ...structuredClone(legacy.spec), replicas: 3 } } as ModelInfer;
  assert.deepEqual(errors(scaled, legacy), []);
  const another = infer({ containers: [{ name: 'e', image: 'x', securityContext: { privileged: true } }, { name: 'f', image: 'x', securityContext: { privileged: true } }] });
  assert.equal(errors(another, legacy).length, 1);
  assert.deepEqual(errors(infer({ initContainers: [{ name: 'i', image: 'x', resources: { requests: { 'nvidia.com/gpu': '0.5' }, limits: { 'nvidia.com/gpu': '0.5' } } }], containers: [{ name: 'e', image: 'x', resources: { requests: { memory: '2Gi' }, limits: { memory: '1Gi' } } }] })), [
    'spec.roles[0].template.spec.containers[0].resources.requests: Invalid value: "2Gi": must be less than or equal to memory limit of 1Gi',
    'spec.roles[0].template.spec.initContainers[0].resources.limits[nvidia.com/gpu]: Invalid value: "500m": must be an integer',
    'spec.roles[0].template.spec.initContainers[0].resources.requests[nvidia.com/gpu]: Invalid value: "500m": must be an integer',
  ]);
});
