// registry.matrixinfer.ai/v1alpha1 Model: one object that deploys, exposes, routes and autoscales a model.
import { Type, Obj, StringEnum, Conditions, Phase, ResourceRequirements, EnvVar, Quantity, Duration, type Static } from '../schema-kit.ts';
import { AGE_COLUMN, type KindDefinition } from '../kind.ts';
import type { KubeObject } from '../admission.ts';
import { AutoscalingBehavior, PredictiveScaling, ScheduleWindows } from './autoscaling-behavior.ts';

export const REGISTRY_GROUP = 'registry.matrixinfer.ai';

export const InferenceEngine = StringEnum(['vLLM', 'SGLang'] as const, { description: 'Inference engine the runtime image runs.' });
export type InferenceEngine = Static<typeof InferenceEngine>;

export const ModelSource = Obj(
  {
    uri: Type.String({
      minLength: 1,
      description:
        'URI of the model artifacts: s3://bucket/prefix (AWS_ENDPOINT_URL for S3-compatible stores), gs://bucket/prefix, az://container/prefix or https://<account>.blob.core.windows.net/container/prefix, huggingface://org/repo or hf://org/repo, https://host/path (one file), pvc://claim/path (mounted, not copied), file:///path or /path (a directory on the node).',
    }),
    revision: Type.Optional(
      Type.String({ minLength: 1, maxLength: 255, description: 'Hugging Face revision (branch, tag or commit); default main. Only for huggingface:// and hf:// sources (admission refuses it on others).' }),
    ),
    secretRef: Type.Optional(
      Obj(
        { name: Type.String({ minLength: 1, description: 'Secret in the Model\'s namespace.' }) },
        {
          description:
            'Credentials for the store, with its standard variable names as keys: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL; GOOGLE_APPLICATION_CREDENTIALS (the JSON key itself); AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY; HF_TOKEN.',
        },
      ),
    ),
  },
  { description: 'Where the model artifacts come from.' },
);


export const ModelSpecSection = Obj(
  {
    modelId: Type.String({ minLength: 1, description: 'Unique identifier for the model.' }),
    framework: Type.String({ minLength: 1, description: 'ML framework (pytorch, tensorflow, onnx, ...).' }),
    version: Type.String({ minLength: 1, description: 'Model version.' }),
    source: ModelSource,
    baseModelRef: Type.Optional(
      Obj(
        { name: Type.String({ minLength: 1, description: 'Name of the base Model in the same namespace.' }) },
        {
          description:
            'Makes this Model a LoRA adapter of another Model: it has no runtime of its own, waits until its base is Ready, is loaded into the base\'s engines and is served under its own name.',
        },
      ),
    ),
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

export const ModelDeprecation = Obj(
  {
    replacement: Type.Optional(Type.String({ minLength: 1, description: 'The Model clients should move to (a served model name); sent as Link: <…>; rel="successor-version".' })),
    message: Type.Optional(Type.String({ maxLength: 1024, description: 'Why, and until when; shown in the Warning Event and /v1/models.' })),
  },
  { description: 'With deprecated: true, what clients are told.' },
);

export const ModelSpec = Obj({
  modelSpec: ModelSpecSection,
  runtime: Type.Optional(ModelRuntime),
  autoscaling: Type.Optional(ModelAutoscaling),
  serving: Type.Optional(ModelServing),
  deprecated: Type.Optional(
    Type.Boolean({
      default: false,
      description:
        'A deprecated model still serves, but every response carries Deprecation (RFC 9745) and, with a replacement, Link rel="successor-version" headers, and /v1/models marks it.',
    }),
  ),
  deprecation: Type.Optional(ModelDeprecation),
});
export type ModelSpec = Static<typeof ModelSpec>;

export const Lifecycle = StringEnum(['Registered', 'Validated', 'Deprecated'] as const, {
  description:
    'Registered: accepted. Validated: artifacts fetched and scanned, runtime resolved (an adapter: its base is Ready). Deprecated: spec.deprecated.',
});
export type Lifecycle = Static<typeof Lifecycle>;

export const DownloadPhase = StringEnum(['Pending', 'Downloading', 'Complete', 'Failed'] as const);
export type DownloadPhase = Static<typeof DownloadPhase>;

export const DownloadStatus = Obj(
  {
    phase: DownloadPhase,
    bytesDone: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
    bytesTotal: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
    filesDone: Type.Optional(Type.Integer({ minimum: 0, format: 'int32' })),
    filesTotal: Type.Optional(Type.Integer({ minimum: 0, format: 'int32' })),
    reason: Type.Optional(Type.String({ description: 'Why it failed (InvalidSource, MissingCredentials, StoreUnreachable, NotFound, Forbidden, ChecksumMismatch, DiskFull, Stalled, UnsafeArtifact, InvalidArtifact, PolicyViolation).' })),
    message: Type.Optional(Type.String()),
    path: Type.Optional(Type.String({ description: 'Where the artifacts are on the nodes (the engine\'s model path).' })),
    progress: Type.Optional(Type.String({ description: 'For people and printer columns: "42%", "100%", or the phase when the size is not known yet.' })),
  },
  { description: 'The artifacts\' download into the node cache, over the pods that need it (the least advanced one).' },
);
export type DownloadStatus = Static<typeof DownloadStatus>;

export const ModelStatus = Obj({
  phase: Type.Optional(Phase),
  lifecycle: Type.Optional(Lifecycle),
  download: Type.Optional(DownloadStatus),
  currentRevision: Type.Optional(Type.Integer({ minimum: 1, format: 'int64', description: 'The ControllerRevision number the current spec is kept as.' })),
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

export type ModelRuntime = Static<typeof ModelRuntime>;

/** A Model that runs engines of its own: every Model but a LoRA adapter (admission requires one of the two). */
export interface ServedModel extends Model {
  spec: ModelSpec & { runtime: ModelRuntime };
}

/** A LoRA adapter of another Model (`spec.modelSpec.baseModelRef`): served by its base's engines. */
export interface AdapterModel extends Model {
  spec: ModelSpec & { modelSpec: ModelSpec['modelSpec'] & { baseModelRef: { name: string } } };
}

export function isAdapter(model: Model): model is AdapterModel {
  return !!model.spec.modelSpec?.baseModelRef?.name;
}

export function isServed(model: Model): model is ServedModel {
  return !isAdapter(model) && !!model.spec.runtime;
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
    { name: 'Lifecycle', type: 'string', jsonPath: '.status.lifecycle' },
    { name: 'Download', type: 'string', jsonPath: '.status.download.progress' },
    { name: 'Image', type: 'string', jsonPath: '.spec.runtime.image', priority: 1 },
    AGE_COLUMN,
  ],
};
