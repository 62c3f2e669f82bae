// Validation rules the CRD schemas cannot express (cross-field constraints, regexes that must compile,
// durations that must parse), defaults, and the registry policy. One implementation, two transports: the embedded
// API server runs these plugins inline; on clusters the webhook server wraps them in AdmissionReview. The Model
// rules beyond the schema are in registry-policy.ts, the pod template rules in pod-template.ts, the policy
// ConfigMap in policy.ts.
import { resolveMetric } from '../controllers/autoscaler/signals.ts';
import type { AdmissionPlugin, AdmissionRequest, FieldError, KubeObject } from '../api/admission.ts';
import {
  REGISTRY_GROUP,
  WORKLOAD_GROUP,
  NETWORKING_GROUP,
  DEFAULT_MAX_SURGE,
  DEFAULT_MAX_UNAVAILABLE,
  resolveFenceposts,
  type Model,
  type ModelInfer,
  type ModelServer,
  type ModelRoute,
  type AutoscalingPolicy,
  type AutoscalingPolicyBinding,
  type StringMatch,
  type MetricTarget,
  PRODUCTION_STACK_GROUP,
  type InferenceCache,
  type InferenceGateway,
  type InferenceService,
  type PrefillDecodingDisaggregation,
  type SpeculativeDecoding,
  type StaticRoute,
} from '../api/kinds/index.ts';
import type { PredictiveScaling } from '../api/kinds/autoscaling-behavior.ts';
import { DEFAULT_METRICS } from '../controllers/model/desired.ts';
import { parseDuration, parseQuantity } from '../kube/units.ts';
import { validatePodSpecResources, validateResourceRequirements } from '../kube/resources.ts';
import { MODEL_NAME_LABEL, ROLE_LABEL } from '../api/labels.ts';
import { validateSchedules } from '../controllers/autoscaler/schedule.ts';
import { parseCost } from '../controllers/autoscaler/variants.ts';
import {
  validateInferenceCache,
  validateInferenceGateway,
  validateInferenceService,
  validatePrefillDecodingDisaggregation,
  validateSpeculativeDecoding,
  validateStaticRoute,
} from './productionstack.ts';
import { noPolicy, podPolicy, type PolicyProvider, type RegistryPolicy } from './policy.ts';
import { checkPolicyLoaded, defaultPodTemplate, validatePodTemplate, type PodTemplate } from './pod-template.ts';
import { checkPolicy, checkSource, checkWholeGpus, defaultModel } from './registry-policy.ts';

type Validator<T> = (object: T, request: AdmissionRequest) => FieldError[];
/** Fills in defaults on `object` in place. Must be idempotent: it runs on every CREATE and UPDATE. */
type Defaulter<T> = (object: T, request: AdmissionRequest) => void;

/** Wrap a validator (and defaulter): only main-resource CREATE/UPDATE requests with an object are handled. */
function plugin<T extends KubeObject>(group: string, kind: string, validate: Validator<T>, defaults?: Defaulter<T>): AdmissionPlugin {
  return {
    group,
    kind,
    ...(defaults
      ? {
          mutate(request: AdmissionRequest): KubeObject {
            const object = request.object!;
            if (request.operation === 'DELETE' || request.subResource || !object) return object;
            if (!object.spec || typeof object.spec !== 'object') return object;
            defaults(object as T, request);
            return object;
          },
        }
      : {}),
    validate(request) {
      if (request.operation === 'DELETE' || request.subResource || !request.object) return [];
      const object = request.object as T;
      if (!object.spec || typeof object.spec !== 'object') return [];
      return validate(object, request);
    },
  };
}

// ---------- shared checks ----------

function checkDuration(errors: FieldError[], field: string, value: unknown, options: { positive?: boolean } = {}): void {
  if (value === undefined || value === null) return;
  const ms = typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined) {
    errors.push({ field, type: 'Invalid value', value, detail: 'must be a duration such as "30s", "1m30s" or "500ms"' });
  } else if (ms < 0 || (options.positive && ms === 0)) {
    errors.push({ field, type: 'Invalid value', value, detail: options.positive ? 'must be greater than 0' : 'must not be negative' });
  }
}

function checkMinMax(errors: FieldError[], path: string, min: number | undefined, max: number | undefined): void {
  if (min !== undefined && max !== undefined && min > max) {
    errors.push({ field: `${path}.minReplicas`, type: 'Invalid value', value: min, detail: `must be less than or equal to maxReplicas (${max})` });
  }
}

function checkMetrics(errors: FieldError[], path: string, metrics: readonly MetricTarget[] | undefined): void {
  const seen = new Set<string>();
  (metrics ?? []).forEach((metric, i) => {
    if (seen.has(metric.metricName)) errors.push({ field: `${path}[${i}].metricName`, type: 'Duplicate value', value: metric.metricName });
    seen.add(metric.metricName);
    if (metric.prometheus) {
      const problem = promqlShapeProblem(metric.prometheus.query);
      if (problem) errors.push({ field: `${path}[${i}].prometheus.query`, type: 'Invalid value', value: metric.prometheus.query, detail: problem });
    } else if (!resolveMetric(metric.metricName)) {
      errors.push({ field: `${path}[${i}].metricName`, type: 'Unsupported value', value: metric.metricName, detail: `supported: ${SUPPORTED_METRICS}; or any name with prometheus.query` });
    }
    const target = parseQuantity(metric.targetValue);
    if (target === undefined) {
      errors.push({ field: `${path}[${i}].targetValue`, type: 'Invalid value', value: metric.targetValue, detail: 'must be a quantity such as 10, 0.5 or 500m' });
    } else if (!(target > 0)) {
      errors.push({ field: `${path}[${i}].targetValue`, type: 'Invalid value', value: metric.targetValue, detail: 'must be greater than 0' });
    }
  });
}

const SUPPORTED_METRICS =
  'num_requests_waiting, num_requests_running, num_requests, queued_prompt_tokens, kv_cache_usage, ttft_seconds_p50|p90|p95|p99, itl_seconds_p50|p90|p95|p99, gpu_utilization, gateway_inflight_requests, gateway_awaiting_first_byte, gateway_request_rate, cpu, memory (and the vLLM/SGLang names of the engine metrics)';

/**
 * What admission can know of a PromQL query without a Prometheus: its brackets and quotes balance. Whether it
 * runs is learnt at the first sync (a condition and the metric's error in the status).
 */
function promqlShapeProblem(query: string): string | undefined {
  const closing: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  const open: string[] = [];
  for (let i = 0; i < query.length; i++) {
    const c = query[i]!;
    if (c === '"' || c === "'" || c === '`') {
      const end = query.indexOf(c, i + 1);
      if (end < 0) return `unterminated ${c} string at offset ${i}`;
      i = end;
    } else if (c === '(' || c === '[' || c === '{') open.push(c);
    else if (c in closing) {
      if (open.pop() !== closing[c]) return `unbalanced ${c} at offset ${i}`;
    }
  }
  return open.length > 0 ? `unclosed ${open[open.length - 1]}` : undefined;
}

/** Exactly one of exact/prefix/regex; a regex must compile. */
function checkStringMatch(errors: FieldError[], path: string, match: StringMatch | undefined): void {
  if (!match) return;
  const set = (['exact', 'prefix', 'regex'] as const).filter((k) => match[k] !== undefined);
  if (set.length !== 1) {
    errors.push({ field: path, type: 'Invalid value', value: match, detail: 'exactly one of exact, prefix or regex must be set' });
    return;
  }
  if (match.regex !== undefined) {
    try {
      new RegExp(match.regex);
    } catch (err) {
      errors.push({ field: `${path}.regex`, type: 'Invalid value', value: match.regex, detail: `invalid regular expression: ${(err as Error).message}` });
    }
  }
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

// ---------- per kind ----------

/** A Model's own rules; the registry policy's come on top (registry-policy.ts, in createAdmissionPlugins). */
export const validateModel: Validator<Model> = (model, request) => {
  const errors: FieldError[] = [];
  checkSource(model, errors, request?.oldObject as Model | undefined);
  const { runtime, autoscaling, serving, modelSpec } = model.spec;
  const base = modelSpec?.baseModelRef?.name;
  if (!base && !runtime) errors.push({ field: 'spec.runtime', type: 'Required value', detail: 'a Model needs a runtime, unless it is a LoRA adapter (spec.modelSpec.baseModelRef)' });
  if (base && runtime) errors.push({ field: 'spec.runtime', type: 'Forbidden', detail: `a LoRA adapter runs in the engines of its base Model ${base}, not in its own` });
  if (base && autoscaling) errors.push({ field: 'spec.autoscaling', type: 'Forbidden', detail: 'a LoRA adapter scales with its base Model' });
  if (base && base === model.metadata.name) errors.push({ field: 'spec.modelSpec.baseModelRef.name', type: 'Invalid value', value: base, detail: 'a Model cannot be its own base' });
  // A served Model and an adapter have different children (engines, Service, autoscaling vs one route onto the
  // base): switching one into the other in place would leave the old kind's children behind.
  const old = request?.oldObject as Model | undefined;
  if (old?.spec && !!old.spec.modelSpec?.baseModelRef?.name !== !!base) {
    errors.push({
      field: 'spec.modelSpec.baseModelRef',
      type: 'Forbidden',
      detail: base ? 'a served Model cannot become a LoRA adapter; create a new Model for the adapter' : 'a LoRA adapter cannot become a served Model; create a new Model with a runtime',
    });
  }
  if (model.spec.deprecation && model.spec.deprecated !== true) {
    errors.push({ field: 'spec.deprecation', type: 'Forbidden', detail: 'takes effect only with spec.deprecated: true; set that too' });
  }
  if (typeof runtime?.image === 'string' && /\s/.test(runtime.image)) {
    errors.push({ field: 'spec.runtime.image', type: 'Invalid value', value: runtime.image, detail: 'must not contain whitespace' });
  }
  if (autoscaling) {
    checkMinMax(errors, 'spec.autoscaling', autoscaling.minReplicas ?? 1, autoscaling.maxReplicas ?? 1);
    checkMetrics(errors, 'spec.autoscaling.metrics', autoscaling.metrics);
    checkPredictive(errors, 'spec.autoscaling', autoscaling.predictive, autoscaling.metrics ?? DEFAULT_METRICS);
    errors.push(...validateSchedules(autoscaling.schedules ?? [], 'spec.autoscaling.schedules'));
  }
  const names = new Set<string>();
  (runtime?.env ?? []).forEach((env, i) => {
    if (names.has(env.name)) errors.push({ field: `spec.runtime.env[${i}].name`, type: 'Duplicate value', value: env.name });
    names.add(env.name);
  });
  checkDuration(errors, 'spec.serving.timeout', serving?.timeout, { positive: true });
  // The engine container gets these resources, an extended resource's limit filled in from its request.
  errors.push(...validateResourceRequirements(runtime?.resources, 'spec.runtime.resources', { limitsFromRequests: true }));
  errors.push(...checkWholeGpus(runtime?.resources, 'spec.runtime.resources'));
  return errors;
};

/** maxSurge/maxUnavailable as a Deployment's: a count ≥ 0 or a percentage; `N%` above 100% only for maxSurge. */
function checkIntOrPercent(errors: FieldError[], field: string, value: number | string | undefined, upTo100: boolean): void {
  if (value === undefined) return;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) errors.push({ field, type: 'Invalid value', value, detail: 'must be an integer' });
    else if (value < 0) errors.push({ field, type: 'Invalid value', value, detail: 'must be greater than or equal to 0' });
    return;
  }
  const percent = /^(\d+)%$/.exec(value);
  if (!percent) errors.push({ field, type: 'Invalid value', value, detail: "must be an integer or percentage (e.g '5%')" });
  else if (upTo100 && Number(percent[1]) > 100) errors.push({ field, type: 'Invalid value', value, detail: 'must not be greater than 100%' });
}

const isZero = (value: number | string) => value === 0 || /^0+%$/.test(String(value));

export const validateModelInfer: Validator<ModelInfer> = (mi, request) => {
  const errors: FieldError[] = [];
  const oldRoles = (request?.oldObject as ModelInfer | undefined)?.spec?.roles ?? [];
  const names = new Set<string>();
  const replicas = mi.spec.replicas ?? 1;
  const strategy = mi.spec.rolloutStrategy;
  // Surge groups take the indexes after the replicas.
  const surge = strategy?.type === 'Recreate' ? 0 : resolveFenceposts(strategy, replicas).maxSurge;
  (mi.spec.roles ?? []).forEach((role, i) => {
    if (names.has(role.name)) errors.push({ field: `spec.roles[${i}].name`, type: 'Duplicate value', value: role.name });
    names.add(role.name);
    const containers = (role.template?.spec as { containers?: unknown[] } | undefined)?.containers;
    if (!Array.isArray(containers) || containers.length === 0) {
      errors.push({ field: `spec.roles[${i}].template.spec.containers`, type: 'Required value', detail: 'at least one container is required' });
    }
    errors.push(...validatePodSpecResources(role.template?.spec, `spec.roles[${i}].template.spec`));
    if (role.template && typeof role.template === 'object') {
      const before = oldRoles.find((r) => r?.name === role.name)?.template as PodTemplate | undefined;
      errors.push(...validatePodTemplate(role.template as PodTemplate, `spec.roles[${i}].template`, before));
    }
    // The longest pod name this workload will generate must be a valid object name.
    const longest = `${mi.metadata.name ?? ''}-${Math.max(0, replicas + surge - 1)}-${role.name}-${Math.max(0, (role.replicas ?? 1) - 1)}`;
    if (mi.metadata.name && (longest.length > 253 || !DNS_SUBDOMAIN.test(longest))) {
      errors.push({ field: `spec.roles[${i}].name`, type: 'Invalid value', value: role.name, detail: `generated pod name "${longest}" is not a valid DNS subdomain` });
    }
  });
  checkIntOrPercent(errors, 'spec.rolloutStrategy.maxUnavailable', strategy?.maxUnavailable, true);
  checkIntOrPercent(errors, 'spec.rolloutStrategy.maxSurge', strategy?.maxSurge, false);
  const maxSurge = strategy?.maxSurge ?? DEFAULT_MAX_SURGE;
  const maxUnavailable = strategy?.maxUnavailable ?? DEFAULT_MAX_UNAVAILABLE;
  if (strategy?.type !== 'Recreate' && isZero(maxSurge) && isZero(maxUnavailable)) {
    errors.push({ field: 'spec.rolloutStrategy.maxUnavailable', type: 'Invalid value', value: maxUnavailable, detail: 'may not be 0 when `maxSurge` is 0' });
  }
  return errors;
};

/** Scheduling section (ModelServer, ModelRoute): what the schema cannot say. */
function checkScheduling(errors: FieldError[], path: string, sched: ModelServer['spec']['scheduling']): void {
  if (sched === undefined) return;
  const seen = new Set<string>();
  (sched.scorers ?? []).forEach((sc, i) => {
    if (seen.has(sc.name)) errors.push({ field: `${path}.scorers[${i}].name`, type: 'Duplicate value', value: sc.name });
    seen.add(sc.name);
  });
  const header = sched.sessionAffinity?.header;
  if (header !== undefined && !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(header)) {
    errors.push({ field: `${path}.sessionAffinity.header`, type: 'Invalid value', value: header, detail: 'must be an HTTP header name' });
  }
  const cookie = sched.sessionAffinity?.cookie;
  if (cookie !== undefined && !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(cookie)) {
    errors.push({ field: `${path}.sessionAffinity.cookie`, type: 'Invalid value', value: cookie, detail: 'must be a cookie name (an HTTP token)' });
  }
}

export const validateModelServer: Validator<ModelServer> = (ms) => {
  const errors: FieldError[] = [];
  const { rateLimit, tls, authentication, routing } = ms.spec;
  if (rateLimit?.enabled && rateLimit.requestsPerSecond === undefined) {
    errors.push({ field: 'spec.rateLimit.requestsPerSecond', type: 'Required value', detail: 'required when rateLimit.enabled is true' });
  }
  if (rateLimit?.burstSize !== undefined && rateLimit.requestsPerSecond !== undefined && rateLimit.burstSize < rateLimit.requestsPerSecond) {
    errors.push({ field: 'spec.rateLimit.burstSize', type: 'Invalid value', value: rateLimit.burstSize, detail: `must be at least requestsPerSecond (${rateLimit.requestsPerSecond})` });
  }
  if (tls?.enabled && !tls.secretName) {
    errors.push({ field: 'spec.tls.secretName', type: 'Required value', detail: 'required when tls.enabled is true' });
  }
  if (authentication?.enabled && !authentication.type) {
    errors.push({ field: 'spec.authentication.type', type: 'Required value', detail: 'required when authentication.enabled is true' });
  }
  const authConfig = authentication?.config;
  if (authentication?.enabled && authentication.type === 'jwt' && !authConfig?.issuer && !authConfig?.jwksUri) {
    errors.push({ field: 'spec.authentication.config.jwksUri', type: 'Required value', detail: 'jwt needs config.jwksUri or config.issuer (OpenID discovery)' });
  }
  if (authentication?.enabled && authentication.type === 'apiKey' && !authConfig?.secretName && !authConfig?.secretSelector) {
    errors.push({ field: 'spec.authentication.config.secretName', type: 'Required value', detail: 'apiKey needs config.secretName or config.secretSelector' });
  }
  checkDuration(errors, 'spec.authentication.config.clockSkew', authConfig?.clockSkew);
  checkDuration(errors, 'spec.authentication.config.jwksCacheDuration', authConfig?.jwksCacheDuration, { positive: true });
  checkDuration(errors, 'spec.rateLimit.global.timeout', rateLimit?.global?.timeout, { positive: true });
  checkDuration(errors, 'spec.routing.timeout', routing?.timeout, { positive: true });
  checkDuration(errors, 'spec.routing.circuitBreaker.baseEjectionTime', routing?.circuitBreaker?.baseEjectionTime, { positive: true });
  checkDuration(errors, 'spec.routing.circuitBreaker.maxEjectionTime', routing?.circuitBreaker?.maxEjectionTime, { positive: true });
  checkScheduling(errors, 'spec.scheduling', ms.spec.scheduling);
  const pd = ms.spec.pdDisaggregation;
  if (pd !== undefined && (pd.prefillRole || 'prefill') === (pd.decodeRole || 'decode')) {
    errors.push({ field: 'spec.pdDisaggregation.decodeRole', type: 'Invalid value', value: pd.decodeRole, detail: 'must differ from prefillRole' });
  }
  return errors;
};

export const validateModelRoute: Validator<ModelRoute> = (route) => {
  const errors: FieldError[] = [];
  const { modelName, loraAdapters, rules } = route.spec;
  if (!modelName && !(loraAdapters && loraAdapters.length > 0)) {
    errors.push({ field: 'spec.modelName', type: 'Required value', detail: 'one of modelName or loraAdapters must be set' });
  }
  const adapters = new Set<string>();
  (loraAdapters ?? []).forEach((name, i) => {
    if (adapters.has(name)) errors.push({ field: `spec.loraAdapters[${i}]`, type: 'Duplicate value', value: name });
    adapters.add(name);
  });
  (rules ?? []).forEach((rule, i) => {
    const path = `spec.rules[${i}]`;
    checkStringMatch(errors, `${path}.modelMatch.uri`, rule.modelMatch?.uri);
    for (const [header, match] of Object.entries(rule.modelMatch?.headers ?? {})) {
      checkStringMatch(errors, `${path}.modelMatch.headers[${header}]`, match);
    }
    const total = (rule.targetModels ?? []).reduce((sum, target) => sum + (target.weight ?? 100), 0);
    if ((rule.targetModels ?? []).length > 0 && total <= 0) {
      errors.push({ field: `${path}.targetModels`, type: 'Invalid value', value: total, detail: 'the total weight of the targets must be greater than 0' });
    }
  });
  checkDuration(errors, 'spec.rateLimit.global.timeout', route.spec.rateLimit?.global?.timeout, { positive: true });
  checkScheduling(errors, 'spec.scheduling', route.spec.scheduling);
  checkCache(errors, route.spec.cache);
  return errors;
};

/** Response cache (ModelRoute `cache`): durations, and what a store or embedder type needs. */
function checkCache(errors: FieldError[], cache: ModelRoute['spec']['cache']): void {
  if (cache === undefined) return;
  checkDuration(errors, 'spec.cache.exact.ttl', cache.exact?.ttl, { positive: true });
  checkDuration(errors, 'spec.cache.semantic.ttl', cache.semantic?.ttl, { positive: true });
  checkDuration(errors, 'spec.cache.semantic.embedder.timeout', cache.semantic?.embedder?.timeout, { positive: true });
  if (cache.store !== undefined && cache.semantic?.store !== undefined && JSON.stringify(cache.store) !== JSON.stringify(cache.semantic.store)) {
    errors.push({ field: 'spec.cache.semantic.store', type: 'Invalid value', detail: 'one store serves both tiers: set spec.cache.store or spec.cache.semantic.store, or the same in both' });
  }
  const store = cache.store ?? cache.semantic?.store;
  if (store?.type === 'redis' && !store.redis?.address) {
    errors.push({ field: `spec.cache.${cache.store ? '' : 'semantic.'}store.redis.address`, type: 'Required value', detail: 'a redis store needs an address' });
  }
  const embedder = cache.semantic?.embedder;
  if (embedder?.type === 'remote') {
    if (!embedder.url) errors.push({ field: 'spec.cache.semantic.embedder.url', type: 'Required value', detail: 'a remote embedder needs a URL' });
    if (!embedder.model) errors.push({ field: 'spec.cache.semantic.embedder.model', type: 'Required value', detail: 'a remote embedder needs a model name' });
  }
  if (embedder?.type === 'onnx' && !embedder.modelPath) {
    errors.push({ field: 'spec.cache.semantic.embedder.modelPath', type: 'Required value', detail: 'an onnx embedder needs the path of its model file' });
  }
  if (embedder !== undefined && embedder.type !== 'onnx') {
    for (const field of ['modelPath', 'tokenizerPath', 'pooling', 'outputName', 'maxTokens'] as const) {
      if (embedder[field] !== undefined) errors.push({ field: `spec.cache.semantic.embedder.${field}`, type: 'Forbidden', detail: 'only for type onnx' });
    }
  }
}

export const validateAutoscalingPolicy: Validator<AutoscalingPolicy> = (policy) => {
  const errors: FieldError[] = [];
  checkMetrics(errors, 'spec.metrics', policy.spec.metrics);
  const behavior = policy.spec.behavior;
  const up = behavior?.scaleUp;
  checkDuration(errors, 'spec.behavior.scaleUp.stablePolicy.period', up?.stablePolicy?.period, { positive: true });
  checkDuration(errors, 'spec.behavior.scaleUp.stablePolicy.stabilizationWindow', up?.stablePolicy?.stabilizationWindow);
  checkDuration(errors, 'spec.behavior.scaleUp.panicPolicy.period', up?.panicPolicy?.period, { positive: true });
  checkDuration(errors, 'spec.behavior.scaleUp.panicPolicy.panicModeHold', up?.panicPolicy?.panicModeHold);
  checkDuration(errors, 'spec.behavior.scaleDown.period', behavior?.scaleDown?.period, { positive: true });
  checkDuration(errors, 'spec.behavior.scaleDown.stabilizationWindow', behavior?.scaleDown?.stabilizationWindow);
  checkPredictive(errors, 'spec', policy.spec.predictive, policy.spec.metrics ?? []);
  return errors;
};

function checkPredictive(errors: FieldError[], path: string, predictive: PredictiveScaling | undefined, metrics: readonly { metricName: string }[]): void {
  if (!predictive) return;
  // The forecast metric must be one the policy reads: its target is the capacity of one replica.
  const name = predictive.metricName;
  if (name !== undefined && !metrics.some((m) => m.metricName === name)) {
    errors.push({ field: `${path}.predictive.metricName`, type: 'Invalid value', value: name, detail: `must name one of ${path}.metrics` });
  }
  checkDuration(errors, `${path}.predictive.seasonLength`, predictive.seasonLength, { positive: true });
  checkDuration(errors, `${path}.predictive.lead`, predictive.lead);
}

export const validateAutoscalingPolicyBinding: Validator<AutoscalingPolicyBinding> = (binding) => {
  const errors: FieldError[] = [];
  checkMinMax(errors, 'spec', binding.spec.minReplicas ?? 1, binding.spec.maxReplicas);
  errors.push(...validateSchedules(binding.spec.schedules ?? [], 'spec.schedules'));
  checkDuration(errors, 'spec.provisionTimeout', binding.spec.provisionTimeout, { positive: true });
  checkBindingTargets(errors, binding.spec);
  return errors;
};

/** Exactly one of targetRef and variants; variants name distinct ModelInfers whose minima fit the total's max. */
function checkBindingTargets(errors: FieldError[], spec: AutoscalingPolicyBinding['spec']): void {
  const { targetRef, variants } = spec;
  if (targetRef && variants) {
    errors.push({ field: 'spec.variants', type: 'Forbidden', detail: 'may not be set together with spec.targetRef: exactly one of targetRef or variants' });
    return;
  }
  if (!targetRef && !variants) {
    errors.push({ field: 'spec.targetRef', type: 'Required value', detail: 'exactly one of targetRef or variants must be set' });
    return;
  }
  if (!variants) return;
  const seen = new Set<string>();
  let minCapacity = 0;
  variants.forEach((variant, i) => {
    const name = variant.targetRef?.name;
    if (seen.has(name)) errors.push({ field: `spec.variants[${i}].targetRef.name`, type: 'Duplicate value', value: name });
    seen.add(name);
    checkMinMax(errors, `spec.variants[${i}]`, variant.minReplicas, variant.maxReplicas);
    if (parseCost(String(variant.costPerReplica)) === undefined) {
      errors.push({ field: `spec.variants[${i}].costPerReplica`, type: 'Invalid value', value: variant.costPerReplica, detail: 'must be a decimal with at most three decimals, e.g. "2.49"' });
    }
    minCapacity += (variant.minReplicas ?? 0) * (variant.capacityWeight ?? 1);
  });
  if (minCapacity > spec.maxReplicas) {
    errors.push({ field: 'spec.maxReplicas', type: 'Invalid value', value: spec.maxReplicas, detail: `must be at least the variants' minimum capacity (sum of minReplicas × capacityWeight = ${minCapacity})` });
  }
}

// ---------- defaults the schema cannot express (cross-field), applied by the mutating webhook / inline ----------

/**
 * ModelServer: `rateLimit.burstSize` from `requestsPerSecond` (as the gateway would). `service.targetPort` stays
 * unset when not given: it is the engine port the gateway sends to, and `service.port` is the port of a Service
 * that leads to the gateway, so copying one into the other would send engine traffic to e.g. 443. The gateway
 * uses the pod's first containerPort instead (gateway/routing/table.ts).
 */
export const defaultModelServer: Defaulter<ModelServer> = (ms) => {
  const spec = ms.spec;
  if (spec.rateLimit && spec.rateLimit.requestsPerSecond !== undefined && spec.rateLimit.burstSize === undefined) spec.rateLimit.burstSize = spec.rateLimit.requestsPerSecond;
};

/**
 * ModelInfer: each role's pod template carries its role label, then its scheduling, security and configuration
 * defaults (pod-template.ts, under the registry policy); `modelName` from the owning Model's label.
 */
export function defaultModelInfer(mi: ModelInfer, policy: RegistryPolicy | undefined = undefined): void {
  const modelLabel = mi.metadata.labels?.[MODEL_NAME_LABEL];
  if (!mi.spec.modelName && modelLabel) mi.spec.modelName = modelLabel;
  for (const role of mi.spec.roles ?? []) {
    if (!role || typeof role !== 'object' || typeof role.name !== 'string' || !role.template || typeof role.template !== 'object') continue;
    const metadata = (role.template.metadata ??= {});
    const labels = (metadata.labels ??= {});
    labels[ROLE_LABEL] ??= role.name;
    defaultPodTemplate(role.template as PodTemplate, policy);
  }
}

export interface AdmissionDependencies {
  /** The registry policy ConfigMap (policy.ts); default: none. */
  policy?: PolicyProvider;
}

/**
 * The project's admission plugins. The Model and ModelInfer plugins read the registry policy from `policy` on every
 * request; the embedded API server passes its storage, the webhook server an informer (policy.ts, policy-informer.ts).
 */
export function createAdmissionPlugins(deps: AdmissionDependencies = {}): AdmissionPlugin[] {
  const policy = deps.policy ?? noPolicy;
  const validateModelWithPolicy: Validator<Model> = (model, request) => {
    const errors = validateModel(model, request);
    const old = request.oldObject as Model | undefined;
    return [...errors, ...checkPolicy(model, checkSource(model, [], old), policy, old)];
  };
  return [
    plugin<Model>(REGISTRY_GROUP, 'Model', validateModelWithPolicy, (model, request) => defaultModel(model, request.oldObject as Model | undefined)),
    plugin<ModelInfer>(WORKLOAD_GROUP, 'ModelInfer', (mi, request) => [...validateModelInfer(mi, request), ...checkPolicyLoaded(mi, policy)], (mi) => defaultModelInfer(mi, podPolicy(policy))),
    ...commonPlugins,
  ];
}

/** The plugins that read no cluster configuration. */
const commonPlugins: AdmissionPlugin[] = [
  plugin<AutoscalingPolicy>(REGISTRY_GROUP, 'AutoscalingPolicy', validateAutoscalingPolicy),
  plugin<AutoscalingPolicyBinding>(REGISTRY_GROUP, 'AutoscalingPolicyBinding', validateAutoscalingPolicyBinding),
  plugin<ModelServer>(NETWORKING_GROUP, 'ModelServer', validateModelServer, defaultModelServer),
  plugin<ModelRoute>(NETWORKING_GROUP, 'ModelRoute', validateModelRoute),
  // production-stack.vllm.ai (seed 004): productionstack.ts.
  plugin<InferenceService>(PRODUCTION_STACK_GROUP, 'InferenceService', validateInferenceService),
  plugin<InferenceGateway>(PRODUCTION_STACK_GROUP, 'InferenceGateway', validateInferenceGateway),
  plugin<InferenceCache>(PRODUCTION_STACK_GROUP, 'InferenceCache', validateInferenceCache),
  plugin<SpeculativeDecoding>(PRODUCTION_STACK_GROUP, 'SpeculativeDecoding', validateSpeculativeDecoding),
  plugin<PrefillDecodingDisaggregation>(PRODUCTION_STACK_GROUP, 'PrefillDecodingDisaggregation', validatePrefillDecodingDisaggregation),
  plugin<StaticRoute>(PRODUCTION_STACK_GROUP, 'StaticRoute', validateStaticRoute),
];

/** The plugins without a registry policy (tests, and servers that configure none). */
export const admissionPlugins: AdmissionPlugin[] = createAdmissionPlugins();
