// Admission cases shared by the webhook tests on the embedded API server (npm test) and on the real kube-apiserver
// (test/cluster/webhooks.test.ts): objects that pass the CRD schemas but break a rule only the admission plugins
// know, and objects the mutating defaults fill in. Both servers must answer them the same way.
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { KubeObject } from '../../api/admission.ts';
import type { AdmissionReview } from '../review.ts';
import { MODEL_NAME_LABEL, ROLE_LABEL } from '../../api/labels.ts';

export interface InvalidCase {
  title: string;
  group: string;
  plural: string;
  object: KubeObject;
  /** Text the embedded server's message must contain (the full message is compared between the servers). */
  expect: string;
}

const model = (name: string, spec: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'registry.matrixinfer.ai/v1alpha1',
  kind: 'Model',
  metadata: { name },
  spec: {
    modelSpec: { modelId: 'llama', framework: 'pytorch', version: '1', source: { uri: 'huggingface://meta-llama/Llama-2-7b-hf' } },
    runtime: { image: 'matrixinfer/pytorch-runtime:latest' },
    ...spec,
  },
});

const container = { name: 'engine', image: 'vllm/vllm-openai:latest' };

/** Tests pick some by index (test/cluster/webhooks.test.ts): add new cases at the end. */
export function invalidCases(): InvalidCase[] {
  return [
    {
      title: 'Model: minReplicas above maxReplicas and a timeout that is no duration (two errors)',
      group: 'registry.matrixinfer.ai',
      plural: 'models',
      object: model('bad-model', { autoscaling: { minReplicas: 5, maxReplicas: 3 }, serving: { timeout: 'soon' } }),
      expect: 'Model.registry.matrixinfer.ai "bad-model" is invalid: [spec.autoscaling.minReplicas: Invalid value: 5: must be less than or equal to maxReplicas (3), spec.serving.timeout: Invalid value: "soon"',
    },
    {
      title: 'ModelInfer: two roles with one name',
      group: 'workload.matrixinfer.ai',
      plural: 'modelinfers',
      object: {
        apiVersion: 'workload.matrixinfer.ai/v1alpha1',
        kind: 'ModelInfer',
        metadata: { name: 'bad-infer' },
        spec: { roles: [{ name: 'server', template: { spec: { containers: [container] } } }, { name: 'server', template: { spec: { containers: [container] } } }] },
      },
      expect: 'ModelInfer.workload.matrixinfer.ai "bad-infer" is invalid: spec.roles[1].name: Duplicate value: "server"',
    },
    {
      title: 'ModelServer: rate limit enabled without a rate',
      group: 'networking.matrixinfer.ai',
      plural: 'modelservers',
      object: {
        apiVersion: 'networking.matrixinfer.ai/v1alpha1',
        kind: 'ModelServer',
        metadata: { name: 'bad-server' },
        spec: { modelInferRef: { name: 'x' }, service: { port: 8080 }, rateLimit: { enabled: true } },
      },
      expect: 'ModelServer.networking.matrixinfer.ai "bad-server" is invalid: spec.rateLimit.requestsPerSecond: Required value: required when rateLimit.enabled is true',
    },
    {
      title: 'ModelRoute: neither modelName nor loraAdapters',
      group: 'networking.matrixinfer.ai',
      plural: 'modelroutes',
      object: {
        apiVersion: 'networking.matrixinfer.ai/v1alpha1',
        kind: 'ModelRoute',
        metadata: { name: 'bad-route' },
        spec: { rules: [{ name: 'r', targetModels: [{ modelServerName: 's' }] }] },
      },
      expect: 'ModelRoute.networking.matrixinfer.ai "bad-route" is invalid: spec.modelName: Required value: one of modelName or loraAdapters must be set',
    },
    {
      title: 'Model: a cpu request that is no quantity, a memory request above its limit',
      group: 'registry.matrixinfer.ai',
      plural: 'models',
      object: model('bad-resources', { runtime: { image: 'matrixinfer/pytorch-runtime:latest', resources: { requests: { cpu: 'lots', memory: '32Gi' }, limits: { memory: '16Gi' } } } }),
      expect: `Model.registry.matrixinfer.ai "bad-resources" is invalid: [spec.runtime.resources.requests[cpu]: Invalid value: "lots": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$', spec.runtime.resources.requests: Invalid value: "32Gi": must be less than or equal to memory limit of 16Gi]`,
    },
    {
      title: 'ModelInfer: a pod template whose container requests more cpu than its limit',
      group: 'workload.matrixinfer.ai',
      plural: 'modelinfers',
      object: {
        apiVersion: 'workload.matrixinfer.ai/v1alpha1',
        kind: 'ModelInfer',
        metadata: { name: 'bad-infer-resources' },
        spec: { roles: [{ name: 'server', template: { spec: { containers: [{ ...container, resources: { requests: { cpu: '2' }, limits: { cpu: '1' } } }] } } }] },
      },
      expect: 'ModelInfer.workload.matrixinfer.ai "bad-infer-resources" is invalid: spec.roles[0].template.spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1',
    },
    {
      title: 'ModelInfer: maxSurge and maxUnavailable both 0 (a rolling update could not move)',
      group: 'workload.matrixinfer.ai',
      plural: 'modelinfers',
      object: {
        apiVersion: 'workload.matrixinfer.ai/v1alpha1',
        kind: 'ModelInfer',
        metadata: { name: 'bad-infer-rollout' },
        spec: { roles: [{ name: 'server', template: { spec: { containers: [container] } } }], rolloutStrategy: { maxSurge: 0, maxUnavailable: '0%' } },
      },
      expect: 'ModelInfer.workload.matrixinfer.ai "bad-infer-rollout" is invalid: spec.rolloutStrategy.maxUnavailable: Invalid value: "0%": may not be 0 when `maxSurge` is 0',
    },
    {
      title: 'AutoscalingPolicyBinding: a schedule with an unknown time zone and neither bound',
      group: 'registry.matrixinfer.ai',
      plural: 'autoscalingpolicybindings',
      object: {
        apiVersion: 'registry.matrixinfer.ai/v1alpha1',
        kind: 'AutoscalingPolicyBinding',
        metadata: { name: 'bad-schedule' },
        spec: { policyRef: { name: 'p' }, targetRef: { name: 't' }, maxReplicas: 3, schedules: [{ name: 'day', cron: '0 9 * * 1-5', duration: '9h', timeZone: 'Mars/Olympus' }] },
      },
      expect: 'AutoscalingPolicyBinding.registry.matrixinfer.ai "bad-schedule" is invalid: [spec.schedules[0].timeZone: Invalid value: "Mars/Olympus": unknown IANA time zone, spec.schedules[0]: Required value: minReplicas or maxReplicas must be set]',
    },
    {
      title: 'AutoscalingPolicyBinding: targetRef and variants together',
      group: 'registry.matrixinfer.ai',
      plural: 'autoscalingpolicybindings',
      object: {
        apiVersion: 'registry.matrixinfer.ai/v1alpha1',
        kind: 'AutoscalingPolicyBinding',
        metadata: { name: 'bad-variants' },
        spec: { policyRef: { name: 'p' }, targetRef: { name: 't' }, maxReplicas: 3, variants: [{ targetRef: { name: 'cheap' }, costPerReplica: '1' }] },
      },
      expect: 'AutoscalingPolicyBinding.registry.matrixinfer.ai "bad-variants" is invalid: spec.variants: Forbidden: may not be set together with spec.targetRef: exactly one of targetRef or variants',
    },
    {
      title: 'AutoscalingPolicy: predictive.metricName not among the metrics',
      group: 'registry.matrixinfer.ai',
      plural: 'autoscalingpolicies',
      object: {
        apiVersion: 'registry.matrixinfer.ai/v1alpha1',
        kind: 'AutoscalingPolicy',
        metadata: { name: 'bad-predictive' },
        spec: { metrics: [{ metricName: 'num_requests', targetValue: 4 }], predictive: { enabled: true, metricName: 'kv_cache_usage' } },
      },
      expect: 'AutoscalingPolicy.registry.matrixinfer.ai "bad-predictive" is invalid: spec.predictive.metricName: Invalid value: "kv_cache_usage": must name one of spec.metrics',
    },
    {
      title: 'Model: a source URI with an unsupported scheme, a revision on it and half a GPU',
      group: 'registry.matrixinfer.ai',
      plural: 'models',
      object: {
        ...model('bad-source'),
        spec: {
          modelSpec: { modelId: 'llama', framework: 'pytorch', version: '1', source: { uri: 'ftp://host/llama', revision: 'v1' } },
          runtime: { image: 'vllm/vllm-openai:v0.9.2', resources: { limits: { 'nvidia.com/gpu': '0.5' } } },
        },
      },
      expect: 'Model.registry.matrixinfer.ai "bad-source" is invalid: [spec.modelSpec.source.uri: Invalid value: "ftp://host/llama": "ftp://host/llama": scheme ftp:// is not supported (s3, gs, az, https, huggingface, hf, pvc, file), spec.runtime.resources.limits[nvidia.com/gpu]: Invalid value: "500m": must be an integer]',
    },
    {
      title: 'ModelInfer: a privileged container without the opt-in annotation',
      group: 'workload.matrixinfer.ai',
      plural: 'modelinfers',
      object: {
        apiVersion: 'workload.matrixinfer.ai/v1alpha1',
        kind: 'ModelInfer',
        metadata: { name: 'bad-privileged' },
        spec: { roles: [{ name: 'server', template: { spec: { containers: [{ ...container, securityContext: { privileged: true } }] } } }] },
      },
      expect: 'ModelInfer.workload.matrixinfer.ai "bad-privileged" is invalid: spec.roles[0].template.spec.containers[0].securityContext.privileged: Forbidden: privileged containers are refused unless the pod template carries the annotation workload.matrixinfer.ai/allow-privileged: "true"',
    },
  ];
}

export interface DefaultingCase {
  title: string;
  group: string;
  plural: string;
  object: KubeObject;
  /**
   * Checks the object; returns a problem, or undefined when the defaults are there. `stored`: it came back from an
   * API server (so the CRD schema defaults must be there as well), not just from applying the webhook's patch.
   */
  check(object: KubeObject, stored: boolean): string | undefined;
}

export function defaultingCases(): DefaultingCase[] {
  return [
    {
      title: 'ModelServer: burstSize from requestsPerSecond; targetPort (the engine port) not copied from the Service port',
      group: 'networking.matrixinfer.ai',
      plural: 'modelservers',
      object: {
        apiVersion: 'networking.matrixinfer.ai/v1alpha1',
        kind: 'ModelServer',
        metadata: { name: 'defaulted-server' },
        spec: { modelInferRef: { name: 'llama' }, service: { port: 8080 }, rateLimit: { enabled: true, requestsPerSecond: 20 } },
      },
      check(object) {
        const spec = object.spec as { service: { targetPort?: number }; rateLimit: { burstSize?: number } };
        if (spec.service.targetPort !== undefined) return `service.targetPort is ${spec.service.targetPort}, want it unset`;
        if (spec.rateLimit.burstSize !== 20) return `rateLimit.burstSize is ${spec.rateLimit.burstSize}, want 20`;
        return undefined;
      },
    },
    {
      title: 'ModelInfer: role label on each pod template, modelName from the model label, rollout defaults 25%/25%',
      group: 'workload.matrixinfer.ai',
      plural: 'modelinfers',
      object: {
        apiVersion: 'workload.matrixinfer.ai/v1alpha1',
        kind: 'ModelInfer',
        metadata: { name: 'defaulted-infer', labels: { [MODEL_NAME_LABEL]: 'llama' } },
        spec: {
          replicas: 0,
          rolloutStrategy: {},
          roles: [
            { name: 'prefill', template: { spec: { containers: [container] } } },
            { name: 'decode', template: { metadata: { labels: { team: 'a' } }, spec: { containers: [container] } } },
          ],
        },
      },
      check(object, stored) {
        const spec = object.spec as {
          modelName?: string;
          rolloutStrategy?: Record<string, unknown>;
          roles: { name: string; replicas?: number; template: { metadata?: { labels?: Record<string, string> } } }[];
        };
        if (spec.modelName !== 'llama') return `modelName is ${spec.modelName}, want llama`;
        const rollout = spec.rolloutStrategy;
        if (stored && (rollout?.type !== 'RollingUpdate' || rollout.maxSurge !== '25%' || rollout.maxUnavailable !== '25%')) {
          return `rolloutStrategy ${JSON.stringify(rollout)} (schema defaults RollingUpdate, 25%, 25% lost)`;
        }
        for (const role of spec.roles) {
          if (role.template.metadata?.labels?.[ROLE_LABEL] !== role.name) return `role ${role.name}: template labels ${JSON.stringify(role.template.metadata?.labels)}`;
          if (stored && role.replicas !== 1) return `role ${role.name}: replicas ${role.replicas} (schema default 1 lost)`;
        }
        if (spec.roles[1]!.template.metadata!.labels!.team !== 'a') return 'user label lost';
        return undefined;
      },
    },
    {
      title: 'Model: the engine resolved from the image',
      group: 'registry.matrixinfer.ai',
      plural: 'models',
      object: model('defaulted-model', { runtime: { image: 'lmsysorg/sglang:v0.4.6' } }),
      check(object) {
        const engine = (object.spec as { runtime: { engine?: string } }).runtime.engine;
        return engine === 'SGLang' ? undefined : `runtime.engine is ${engine}, want SGLang`;
      },
    },
    {
      title: 'ModelInfer: a GPU pod gets the GPU toleration and node label, a restricted security context; set fields stay',
      group: 'workload.matrixinfer.ai',
      plural: 'modelinfers',
      object: {
        apiVersion: 'workload.matrixinfer.ai/v1alpha1',
        kind: 'ModelInfer',
        metadata: { name: 'defaulted-gpu' },
        spec: {
          roles: [{
            name: 'server',
            template: {
              spec: {
                containers: [
                  { name: 'engine', image: 'registry.local/engine:1', resources: { limits: { 'nvidia.com/gpu': '1' } } },
                  { name: 'sidecar', image: 'registry.local/sidecar:1', securityContext: { capabilities: { drop: ['NET_RAW'] } } },
                ],
              },
            },
          }],
        },
      },
      check(object) {
        type C = { securityContext?: { allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[] } } };
        const spec = (object.spec as { roles: { template: { spec: { containers: C[]; tolerations?: unknown; nodeSelector?: unknown; securityContext?: unknown } } }[] }).roles[0]!.template.spec;
        const want = (what: string, got: unknown, expected: unknown) => (isDeepStrictEqual(got, expected) ? undefined : `${what} is ${JSON.stringify(got)}, want ${JSON.stringify(expected)}`);
        return want('tolerations', spec.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }])
          ?? want('nodeSelector', spec.nodeSelector, { 'nvidia.com/gpu.present': 'true' })
          ?? want('pod securityContext', spec.securityContext, { seccompProfile: { type: 'RuntimeDefault' }, runAsNonRoot: true })
          ?? want('engine securityContext', spec.containers[0]!.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } })
          ?? want('sidecar capabilities', spec.containers[1]!.securityContext?.capabilities, { drop: ['NET_RAW'] });
      },
    },
  ];
}

/** The AdmissionReview the API server would send for creating `object` (of resource `plural`) in `default`. */
export function createReview(object: KubeObject, plural: string): AdmissionReview {
  const [group, version] = object.apiVersion.split('/') as [string, string];
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: randomUUID(),
      kind: { group, version, kind: object.kind },
      resource: { group, version, resource: plural },
      name: object.metadata.name!,
      namespace: 'default',
      operation: 'CREATE',
      object: { ...object, metadata: { ...object.metadata, namespace: 'default' } },
    },
  };
}
