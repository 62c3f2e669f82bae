// The Model's children as pure functions of the Model: ModelInfer (the engine pods), ModelServer (exposure),
// ModelRoute (model-name routing), AutoscalingPolicy and AutoscalingPolicyBinding. All are named after the
// Model, live in its namespace and carry the managed-by and model-name labels; the controller adds the owner
// reference and the desired-state hash (src/kube/apply.ts).
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, MODEL_NAME_LABEL } from '../../api/labels.ts';
import { apiVersionOf } from '../../api/kind.ts';
import { isOvercommitAllowed } from '../../kube/resources.ts';
import {
  CACHE_VOLUME,
  DEFAULT_DOWNLOADER_IMAGE,
  DOWNLOAD_CONTAINER,
  HF_HOME_DIR,
  NODE_CACHE_PATH,
  PVC_MOUNT_ROOT,
  PVC_VOLUME,
  engineModelPath,
} from '../../registry/contract.ts';
import { isFetched, parseSource, type Source } from '../../registry/source.ts';
import { withDownloadIdentity } from './download-identity.ts';
import {
  modelInferKind,
  modelServerKind,
  modelRouteKind,
  autoscalingPolicyKind,
  autoscalingPolicyBindingKind,
  type Model,
  type ServedModel,
  type ModelRuntime,
  type ModelInfer,
  type ModelServer,
  type ModelRoute,
  type AutoscalingPolicy,
  type AutoscalingPolicyBinding,
  type InferenceEngine,
  type MetricTarget,
} from '../../api/kinds/index.ts';

export const DEFAULT_ENGINE_PORT = 8000;
export const SERVICE_PORT = 8080;
export const ENGINE_CONTAINER = 'engine';
export const SERVER_ROLE = 'server';
export const DEFAULT_METRICS: MetricTarget[] = [{ metricName: 'vllm:num_requests_waiting', targetValue: 10 }];
export const DEFAULT_TOLERANCE_PERCENT = 10;

type Runtime = ModelRuntime;

/** The engine a runtime runs: `runtime.engine` if given, SGLang for images named *sglang*, vLLM otherwise. */
export function engineOf(runtime: Runtime): InferenceEngine {
  if (runtime.engine) return runtime.engine;
  return /sglang/i.test(runtime.image) ? 'SGLang' : 'vLLM';
}

/** A Hugging Face repo id for huggingface:// and hf:// URIs, the URI itself otherwise (what engines resolve themselves). */
export function modelPath(uri: string): string {
  const match = /^(?:huggingface|hf):\/\/(.*)$/i.exec(uri);
  return match ? match[1]!.replace(/^\/+/, '') : uri;
}

/** The Model's source, or undefined for a URI admission would refuse today (an object stored before the rule). */
export function sourceOf(model: ServedModel): Source | undefined {
  try {
    return parseSource(model.spec.modelSpec.source.uri, model.spec.modelSpec.source.revision);
  } catch {
    return undefined;
  }
}

/** What the engine loads: the artifacts' path in the pod (node cache, PVC mount or node directory). */
export function enginePathOf(model: ServedModel): string {
  const source = sourceOf(model);
  return source ? engineModelPath(source) : modelPath(model.spec.modelSpec.source.uri);
}

export function enginePort(model: ServedModel): number {
  return model.spec.runtime.port ?? DEFAULT_ENGINE_PORT;
}

export const GPU_RESOURCE = 'nvidia.com/gpu';

/** GPUs per engine pod: `nvidia.com/gpu` from the runtime's limits, else its requests; undefined when none. */
export function gpuCount(runtime: Runtime): number | undefined {
  const value = runtime.resources?.limits?.[GPU_RESOURCE] ?? runtime.resources?.requests?.[GPU_RESOURCE];
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Whether the user's extra args already set one of these flags (`--flag v` or `--flag=v`). */
function hasFlag(args: string[], flags: string[]): boolean {
  return args.some((a) => flags.some((f) => a === f || a.startsWith(`${f}=`)));
}

/**
 * Engine command line, as the engines document it:
 * - vLLM: the `vllm/vllm-openai` images have `ENTRYPOINT ["vllm", "serve"]`, so only args are given, the model as the
 *   positional `model_tag` (`vllm serve` rejects `--model`): `MODEL --served-model-name N --host 0.0.0.0 --port P
 *   [--tensor-parallel-size G]`.
 * - SGLang: `python3 -m sglang.launch_server --model-path MODEL --served-model-name N --host 0.0.0.0 --port P [--tp G]`.
 * The tensor-parallel size is the pod's GPU count (when given and not set in `runtime.args`); `runtime.args` (for
 * example `--max-model-len 4096`) come last.
 */
export function engineCommand(model: ServedModel): { command?: string[]; args: string[] } {
  const name = model.metadata.name!;
  const runtime = model.spec.runtime;
  const path = enginePathOf(model);
  const port = String(enginePort(model));
  const extra = runtime.args ?? [];
  const gpus = gpuCount(runtime);
  if (engineOf(runtime) === 'SGLang') {
    const tp = gpus && !hasFlag(extra, ['--tp', '--tp-size', '--tensor-parallel-size']) ? ['--tp', String(gpus)] : [];
    return {
      command: ['python3', '-m', 'sglang.launch_server'],
      args: ['--model-path', path, '--served-model-name', name, '--host', '0.0.0.0', '--port', port, ...tp, ...extra],
    };
  }
  const tp = gpus && !hasFlag(extra, ['--tensor-parallel-size', '-tp']) ? ['--tensor-parallel-size', String(gpus)] : [];
  return { args: [path, '--served-model-name', name, '--host', '0.0.0.0', '--port', port, ...tp, ...extra] };
}

export function childLabels(model: ServedModel): Record<string, string> {
  return { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [MODEL_NAME_LABEL]: model.metadata.name! };
}

function childMeta(model: ServedModel) {
  return { name: model.metadata.name!, namespace: model.metadata.namespace ?? 'default', labels: childLabels(model) };
}

/** Quantities as strings, the form the API server returns them in. */
function quantities(map: Record<string, string | number> | undefined): Record<string, string> | undefined {
  if (!map) return undefined;
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, String(v)]));
}

/** Replica bounds: from spec.autoscaling, else pinned to the runtime replica count. */
export function replicaBounds(model: ServedModel): { min: number; max: number } {
  const autoscaling = model.spec.autoscaling;
  if (autoscaling) {
    const min = autoscaling.minReplicas ?? 1;
    return { min, max: Math.max(min, autoscaling.maxReplicas ?? 1, 1) };
  }
  const replicas = model.spec.runtime.replicas ?? 1;
  return { min: replicas, max: Math.max(1, replicas) };
}

/**
 * Replicas the ModelInfer is created with: runtime.replicas (default 1), clamped into the autoscaling bounds
 * when the Model is autoscaled. With autoscaling the controller sets this only at creation; afterwards the
 * autoscaler owns `spec.replicas` (see `preserveReplicas`).
 */
export function initialReplicas(model: ServedModel): number {
  const replicas = model.spec.runtime.replicas;
  if (!model.spec.autoscaling) return replicas ?? 1;
  const { min, max } = replicaBounds(model);
  return Math.min(max, Math.max(min, replicas ?? min));
}

/**
 * The engine container's resources: the runtime's, with each resource that cannot be overcommitted (`nvidia.com/gpu`
 * and other extended resources, huge pages) in both requests and limits (Kubernetes requires such a request to equal
 * its limit, and rejects a request without a limit; admission has refused requests that differ from their limits).
 */
export function engineResources(runtime: Runtime): { requests?: Record<string, string>; limits?: Record<string, string> } | undefined {
  const res = runtime.resources;
  if (!res || (!res.requests && !res.limits)) return undefined;
  const requests = quantities(res.requests);
  const limits = quantities(res.limits);
  const names = new Set([...Object.keys(requests ?? {}), ...Object.keys(limits ?? {})]);
  const fixed = Object.fromEntries([...names].filter((name) => !isOvercommitAllowed(name)).map((name) => [name, limits?.[name] ?? requests![name]!]));
  if (Object.keys(fixed).length === 0) return { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) };
  return { requests: { ...requests, ...fixed }, limits: { ...limits, ...fixed } };
}

/**
 * Volumes for the artifacts: the node cache (hostPath, shared by the pods of a node) for fetched sources, the claim
 * (read-only) for pvc://, the directory for a node path; the download step mounts them read-write (cache) and the
 * engine read-only.
 */
function artifactVolumes(source: Source | undefined): { volumes: Record<string, unknown>[]; download: Record<string, unknown>[]; engine: Record<string, unknown>[] } {
  if (!source) return { volumes: [], download: [], engine: [] };
  if (isFetched(source)) {
    return {
      volumes: [{ name: CACHE_VOLUME, hostPath: { path: NODE_CACHE_PATH, type: 'DirectoryOrCreate' } }],
      download: [{ name: CACHE_VOLUME, mountPath: NODE_CACHE_PATH }],
      engine: [{ name: CACHE_VOLUME, mountPath: NODE_CACHE_PATH, readOnly: true }],
    };
  }
  const mount = source.store === 'pvc'
    ? { volume: { name: PVC_VOLUME, persistentVolumeClaim: { claimName: source.claim, readOnly: true } }, mountPath: `${PVC_MOUNT_ROOT}/${source.claim}` }
    : { volume: { name: PVC_VOLUME, hostPath: { path: source.path, type: 'Directory' } }, mountPath: source.path };
  const volumeMount = { name: PVC_VOLUME, mountPath: mount.mountPath, readOnly: true };
  return { volumes: [mount.volume], download: [volumeMount], engine: [volumeMount] };
}

/**
 * The download step (src/registry/contract.ts): fetches into the node cache, or only scans a mounted source, before
 * the engine starts; credentials from the source's Secret under their standard names; progress on its own Pod.
 */
function downloadContainer(model: ServedModel, mounts: Record<string, unknown>[], image: string): Record<string, unknown> {
  const source = model.spec.modelSpec.source;
  return {
    name: DOWNLOAD_CONTAINER,
    image,
    args: ['download', '--uri', source.uri, ...(source.revision ? ['--revision', source.revision] : []), '--cache-dir', NODE_CACHE_PATH],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    ],
    ...(source.secretRef ? { envFrom: [{ secretRef: { name: source.secretRef.name } }] } : {}),
    volumeMounts: mounts,
    terminationMessagePolicy: 'FallbackToLogsOnError',
    // The kubelet creates the hostPath cache owned by root (0755): the step writes there as root, with no capability
    // and no privilege escalation; the files it leaves are world-readable for an engine running as any user.
    securityContext: { runAsUser: 0, runAsNonRoot: false, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true },
  };
}

/** Hugging Face libraries' home inside the node cache, as the ModelInfer webhook would default it (pod-template.ts). */
export const ENGINE_HF_HOME = `${NODE_CACHE_PATH}/${HF_HOME_DIR}`;

/**
 * The engine's environment: the runtime's, and HF_HOME in the node cache when the pod mounts it. Admission would add
 * HF_HOME anyway (webhooks/pod-template.ts); setting it here keeps the stored ModelInfer equal to the desired one, so
 * the controller does not rewrite it on every reconcile. A runtime.env HF_HOME wins (an engine that must write there:
 * the cache is read-only in the engine).
 */
function engineEnv(runtime: Runtime, mountsCache: boolean): { env?: { name: string; value: string }[] } {
  const env = (runtime.env ?? []).map((e) => ({ name: e.name, value: e.value ?? '' }));
  if (mountsCache && !env.some((e) => e.name === 'HF_HOME')) env.push({ name: 'HF_HOME', value: ENGINE_HF_HOME });
  return env.length > 0 ? { env } : {};
}

/** What the desired state depends on besides the Model: the controller manager's configuration. */
export interface DesiredOptions {
  /** Image of the download step (--downloader-image). Default DEFAULT_DOWNLOADER_IMAGE. */
  downloaderImage?: string;
  /** The download step reports progress with its own ServiceAccount token (download-identity.ts; clusters). */
  downloadIdentity?: boolean;
}

export function desiredModelInfer(model: ServedModel, options: DesiredOptions = {}): ModelInfer {
  const name = model.metadata.name!;
  const runtime = model.spec.runtime;
  const port = enginePort(model);
  const { command, args } = engineCommand(model);
  const resources = engineResources(runtime);
  const artifacts = artifactVolumes(sourceOf(model));
  const withIdentity = (spec: Record<string, unknown>) => (options.downloadIdentity ? withDownloadIdentity(spec) : spec);
  const container: Record<string, unknown> = {
    name: ENGINE_CONTAINER,
    image: runtime.image,
    ...(command ? { command } : {}),
    args,
    ...(engineEnv(runtime, artifacts.engine.length > 0 && artifacts.volumes[0]?.name === CACHE_VOLUME)),
    ports: [{ name: 'http', containerPort: port, protocol: 'TCP' }],
    ...(resources ? { resources } : {}),
    // vLLM and SGLang listen only once the model is loaded (minutes for large models): the startup probe allows 10 min
    // (as KServe's vLLM templates, kserve#5062) before liveness or readiness count; then readiness follows /health.
    startupProbe: { httpGet: { path: '/health', port }, periodSeconds: 10, failureThreshold: 60 },
    readinessProbe: { httpGet: { path: '/health', port }, initialDelaySeconds: 0, periodSeconds: 2, failureThreshold: 3 },
    volumeMounts: [{ name: 'dshm', mountPath: '/dev/shm' }, ...artifacts.engine],
  };
  return {
    apiVersion: apiVersionOf(modelInferKind),
    kind: modelInferKind.kind,
    metadata: childMeta(model),
    spec: {
      modelName: name,
      replicas: initialReplicas(model),
      roles: [
        {
          name: SERVER_ROLE,
          replicas: 1,
          template: {
            metadata: { labels: { [MODEL_NAME_LABEL]: name } },
            spec: withIdentity({
              initContainers: [downloadContainer(model, artifacts.download, options.downloaderImage ?? DEFAULT_DOWNLOADER_IMAGE)],
              containers: [container],
              volumes: [{ name: 'dshm', emptyDir: { medium: 'Memory' } }, ...artifacts.volumes],
              restartPolicy: 'Always',
            }),
          },
        },
      ],
    },
  };
}

/** With autoscaling, keep the live `spec.replicas` (the autoscaler's) instead of the Model's. */
export function preserveReplicas(model: ServedModel) {
  return (desired: ModelInfer, existing: ModelInfer): ModelInfer => {
    if (!model.spec.autoscaling || existing.spec?.replicas === undefined) return desired;
    return { ...desired, spec: { ...desired.spec, replicas: existing.spec.replicas } };
  };
}

export function servingPath(model: ServedModel): string {
  return model.spec.serving?.path ?? `/v1/models/${model.metadata.name}`;
}

export function desiredModelServer(model: ServedModel): ModelServer {
  const name = model.metadata.name!;
  return {
    apiVersion: apiVersionOf(modelServerKind),
    kind: modelServerKind.kind,
    metadata: childMeta(model),
    spec: {
      modelInferRef: { name },
      model: name,
      inferenceEngine: engineOf(model.spec.runtime),
      service: { type: 'ClusterIP', port: SERVICE_PORT, targetPort: enginePort(model) },
      routing: {
        path: servingPath(model),
        timeout: model.spec.serving?.timeout ?? '60s',
        retries: model.spec.serving?.retries ?? 2,
      },
    },
  };
}

/**
 * A deprecated Model's route deprecation, which the gateway turns into Deprecation and Link headers: `since` is when
 * the Model's Deprecated condition became true (status.ts), its creationTimestamp until that condition is written.
 */
export function routeDeprecation(model: Model): ModelRoute['spec']['deprecation'] {
  if (!model.spec.deprecated) return undefined;
  const condition = model.status?.conditions?.find((c) => c.type === 'Deprecated' && c.status === 'True');
  const since = condition?.lastTransitionTime ?? model.metadata.creationTimestamp;
  if (!since) return undefined;
  const { replacement, message } = model.spec.deprecation ?? {};
  return { since, ...(replacement ? { successor: replacement } : {}), ...(message ? { message } : {}) };
}

export function desiredModelRoute(model: ServedModel): ModelRoute {
  const name = model.metadata.name!;
  const deprecation = routeDeprecation(model);
  return {
    apiVersion: apiVersionOf(modelRouteKind),
    kind: modelRouteKind.kind,
    metadata: childMeta(model),
    spec: {
      modelName: name,
      rules: [{ name: 'default', targetModels: [{ modelServerName: name, weight: 100 }] }],
      ...(deprecation ? { deprecation } : {}),
    },
  };
}

export function desiredAutoscalingPolicy(model: ServedModel): AutoscalingPolicy {
  const autoscaling = model.spec.autoscaling;
  return {
    apiVersion: apiVersionOf(autoscalingPolicyKind),
    kind: autoscalingPolicyKind.kind,
    metadata: childMeta(model),
    spec: {
      metrics: (autoscaling?.metrics ?? DEFAULT_METRICS).map((m) => ({ metricName: m.metricName, targetValue: m.targetValue, ...(m.prometheus ? { prometheus: m.prometheus } : {}) })),
      tolerancePercent: autoscaling?.tolerancePercent ?? DEFAULT_TOLERANCE_PERCENT,
      ...(autoscaling?.scaleToZeroIdle ? { scaleToZeroIdle: autoscaling.scaleToZeroIdle } : {}),
      ...(autoscaling?.behavior ? { behavior: structuredClone(autoscaling.behavior) } : {}),
      ...(autoscaling?.predictive ? { predictive: structuredClone(autoscaling.predictive) } : {}),
    },
  };
}

export function desiredAutoscalingPolicyBinding(model: ServedModel): AutoscalingPolicyBinding {
  const name = model.metadata.name!;
  const { min, max } = replicaBounds(model);
  return {
    apiVersion: apiVersionOf(autoscalingPolicyBindingKind),
    kind: autoscalingPolicyBindingKind.kind,
    metadata: childMeta(model),
    spec: {
      policyRef: { name },
      targetRef: { kind: 'ModelInfer', name },
      minReplicas: min,
      maxReplicas: max,
      ...(model.spec.autoscaling?.schedules ? { schedules: structuredClone(model.spec.autoscaling.schedules) } : {}),
    },
  };
}

export interface DesiredChildren {
  modelInfer: ModelInfer;
  modelServer: ModelServer;
  modelRoute: ModelRoute;
  autoscalingPolicy: AutoscalingPolicy;
  autoscalingPolicyBinding: AutoscalingPolicyBinding;
}

export function desiredChildren(model: ServedModel, options: DesiredOptions = {}): DesiredChildren {
  return {
    modelInfer: desiredModelInfer(model, options),
    modelServer: desiredModelServer(model),
    modelRoute: desiredModelRoute(model),
    autoscalingPolicy: desiredAutoscalingPolicy(model),
    autoscalingPolicyBinding: desiredAutoscalingPolicyBinding(model),
  };
}
