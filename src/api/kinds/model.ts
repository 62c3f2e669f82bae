// registry.matrixinfer.ai/v1alpha1 Model: one object that deploys, exposes, routes and autoscales a model.
import { Type, Obj, StringEnum, Conditions, Phase, ResourceRequirements, EnvVar, Quantity, Duration, type Static } from '../schema-kit.ts';
import { AGE_COLUMN, type KindDefinition } from '../kind.ts';
import type { KubeObject } from '../admission.ts';
import { AutoscalingBehavior, PredictiveScaling, ScheduleWindows } from './autoscaling-behavior.ts';

export const REGISTRY_GROUP = 'registry.matrixinfer.ai';

export const InferenceEngine = StringEnum(['vLLM', 'SGLang'] as const, { description: 'Inference engine the runtime image runs.' });
export type InferenceEngine = Static<typeof InferenceEngine>;

export const ModelSource = Obj(
  { uri: Type.String({ minLength: 1, description: 'URI of the model artifacts (huggingface://, s3://, gs://, pvc://, file://).' }) },
  { description: 'Where the model artifacts come from.' },
);

export const ModelSpecSection = Obj(
  {
    modelId: Type.String({ minLength: 1, description: 'Unique identifier for the model.' }),
    framework: Type.String({ minLength: 1, description: 'ML framework (pytorch, tensorflow, onnx, ...).' }),
    version: Type.String({ minLength: 1, description: 'Model version.' }),
    source: ModelSource,
  },
  { description: 'What the model is.' },
);

export const MetricTarget = Obj({
  metricName: Type.String({
    minLength: 1,
    description:
      'What to track, over the target\'s ready pods. From the engines, summed: num_requests_waiting (vllm:num_requests_waiting, sglang:num_queue_reqs), num_requests_running (vllm:num_requests_running, sglang:num_running_reqs), num_requests (both), queued_prompt_tokens (matrixinfer_engine_queued_prompt_tokens: the simulated engine\'s; vLLM and SGLang export no such count). From the engines, averaged: kv_cache_usage (vllm:kv_cache_usage_perc, vllm:gpu_cache_usage_perc, sglang:token_usage; 0..1), ttft_seconds_p50|p90|p95|p99 and itl_seconds_p50|p90|p95|p99 (vllm:|sglang:time_to_first_token_seconds and inter_token_latency_seconds, p95 unless suffixed :p50 etc.; over the last sync period), gpu_utilization (DCGM_FI_DEV_GPU_UTIL exported by the pod, 0..100). From the gateways, summed: gateway_inflight_requests, gateway_awaiting_first_byte, gateway_request_rate (requests per second). From metrics.k8s.io, averaged: cpu (cores), memory (bytes). With `prometheus`: any name, read by its query.',
  }),
  targetValue: Quantity({ description: 'Desired per-replica value of the metric (cpu in cores such as 500m, memory in bytes such as 8Gi).' }),
  prometheus: Type.Optional(
    Obj(
      {
        query: Type.String({
          minLength: 1,
          description: 'PromQL instant query answering one number (a scalar or one series: aggregate with sum, avg, max). $namespace, $target (the ModelInfer, or the variants joined by |) and $pods (the ready pods joined by |) are filled in.',
        }),
        address: Type.Optional(
          Type.String({ pattern: '^https?://[^\\s/]+', description: 'Prometheus base URL, e.g. http://prometheus.monitoring:9090. Default: the controller manager\'s --prometheus-url.' }),
        ),
        aggregate: Type.Optional(
          StringEnum(['Sum', 'Average'] as const, {
            default: 'Average',
            description: 'Sum: the query answers a total over all replicas (such as a request rate); replicas = ceil(value / targetValue). Average: it answers a per-replica level (such as a latency); replicas = ceil(ready × value / targetValue). Default Average.',
          }),
        ),
      },
      { description: 'Read this metric from Prometheus instead of a named signal (custom metrics such as response time).' },
    ),
  ),
});
export type MetricTarget = Static<typeof MetricTarget>;

export const ModelRuntime = Obj(
  {
    image: Type.String({ minLength: 1, description: 'Container image for the model runtime.' }),
    engine: Type.Optional(InferenceEngine),
    replicas: Type.Optional(Type.Integer({ minimum: 0, default: 1, format: 'int32', description: 'Number of engine replicas when not autoscaled.' })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: 8000, format: 'int32', description: 'Port the engine listens on.' })),
    args: Type.Optional(Type.Array(Type.String(), { description: 'Extra engine arguments, appended to the generated ones.' })),
    env: Type.Optional(Type.Array(EnvVar, { description: 'Extra environment variables for the engine container.' })),
    resources: Type.Optional(ResourceRequirements),
  },
  { description: 'How to run the model.' },
);

export const ModelAutoscaling = Obj(
  {
    minReplicas: Type.Optional(Type.Integer({ minimum: 0, format: 'int32', default: 1 })),
    maxReplicas: Type.Optional(Type.Integer({ minimum: 1, format: 'int32', default: 1 })),
    tolerancePercent: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, default: 10, format: 'int32' })),
    metrics: Type.Optional(Type.Array(MetricTarget, { minItems: 1, description: 'Default: vllm:num_requests_waiting with target 10.' })),
    scaleToZeroIdle: Type.Optional(Duration({ description: 'With minReplicas 0: idle time before scaling to zero; see AutoscalingPolicy.spec.scaleToZeroIdle.' })),
    behavior: Type.Optional(AutoscalingBehavior),
    predictive: Type.Optional(PredictiveScaling),
    schedules: Type.Optional(ScheduleWindows),
  },
  { description: 'Autoscaling bounds, metrics, behaviour, forecast and schedule windows for the generated AutoscalingPolicy (metrics, behavior, predictive) and binding (bounds, schedules).' },
);

export const ModelServing = Obj(
  {
    path: Type.Optional(Type.String({ pattern: '^/', description: 'Path prefix of the seed-style endpoint; default /v1/models/<name>.' })),
    timeout: Type.Optional(Type.String({ default: '60s', description: 'Time to first byte from the engine.' })),
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, default: 2, format: 'int32' })),
  },
  { description: 'How the gateway serves the model.' },
);

export const ModelSpec = Obj({
  modelSpec: ModelSpecSection,
  runtime: ModelRuntime,
  autoscaling: Type.Optional(ModelAutoscaling),
  serving: Type.Optional(ModelServing),
});
export type ModelSpec = Static<typeof ModelSpec>;

export const ModelStatus = Obj({
  phase: Type.Optional(Phase),
  observedGeneration: Type.Optional(Type.Integer({ format: 'int64' })),
  replicas: Type.Optional(Type.Integer({ format: 'int32', description: 'Engine replicas that exist.' })),
  readyReplicas: Type.Optional(Type.Integer({ format: 'int32', description: 'Engine replicas ready to serve.' })),
  conditions: Type.Optional(Conditions),
});
export type ModelStatus = Static<typeof ModelStatus>;

export interface Model extends KubeObject {
  spec: ModelSpec;
  status?: ModelStatus;
}

export const modelKind: KindDefinition = {
  group: REGISTRY_GROUP,
  version: 'v1alpha1',
  kind: 'Model',
  plural: 'models',
  singular: 'model',
  shortNames: ['mdl'],
  categories: ['matrixinfer'],
  scope: 'Namespaced',
  description: 'An AI model with metadata and runtime requirements; the Model controller deploys, exposes, routes and autoscales it.',
  spec: ModelSpec,
  status: ModelStatus,
  printerColumns: [
    { name: 'Model-ID', type: 'string', jsonPath: '.spec.modelSpec.modelId' },
    { name: 'Framework', type: 'string', jsonPath: '.spec.modelSpec.framework' },
    { name: 'Version', type: 'string', jsonPath: '.spec.modelSpec.version' },
    { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    { name: 'Image', type: 'string', jsonPath: '.spec.runtime.image', priority: 1 },
    AGE_COLUMN,
  ],
};
