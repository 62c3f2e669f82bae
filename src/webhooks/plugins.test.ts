import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatFieldError, type AdmissionRequest, type FieldError, type KubeObject } from '../api/admission.ts';
import { admissionPlugins } from './plugins.ts';

function validate(kind: string, spec: Record<string, unknown>, name = 'x', operation: AdmissionRequest['operation'] = 'CREATE'): string[] {
  const plugin = admissionPlugins.find((p) => p.kind === kind)!;
  const object: KubeObject = { apiVersion: `${plugin.group}/v1alpha1`, kind, metadata: { name, namespace: 'default' }, spec };
  const errors: FieldError[] = plugin.validate!({ operation, group: plugin.group, version: 'v1alpha1', kind, resource: kind.toLowerCase() + 's', name, object });
  return errors.map(formatFieldError);
}

const container = { name: 'engine', image: 'img' };
const model = (extra: Record<string, unknown> = {}, runtime: Record<string, unknown> = {}) => ({
  modelSpec: { modelId: 'm', framework: 'pytorch', version: '1', source: { uri: 'huggingface://a/b' } },
  runtime: { image: 'img', ...runtime },
  ...extra,
});

test('one plugin per kind, groups as in the CRDs', () => {
  assert.deepEqual(
    admissionPlugins.map((p) => `${p.kind}.${p.group}`).sort(),
    [
      'AutoscalingPolicy.registry.matrixinfer.ai',
      'AutoscalingPolicyBinding.registry.matrixinfer.ai',
      'Model.registry.matrixinfer.ai',
      'ModelInfer.workload.matrixinfer.ai',
      'ModelRoute.networking.matrixinfer.ai',
      'ModelServer.networking.matrixinfer.ai',
      'InferenceService.production-stack.vllm.ai',
      'InferenceGateway.production-stack.vllm.ai',
      'InferenceCache.production-stack.vllm.ai',
      'SpeculativeDecoding.production-stack.vllm.ai',
      'PrefillDecodingDisaggregation.production-stack.vllm.ai',
      'StaticRoute.production-stack.vllm.ai',
    ].sort(),
  );
});

test('Model: valid seed, min ≤ max, durations, URIs, env names', () => {
  assert.deepEqual(validate('Model', model()), []);
  assert.deepEqual(validate('Model', model({ autoscaling: { minReplicas: 1, maxReplicas: 4 }, serving: { timeout: '1m30s' } })), []);
  assert.deepEqual(validate('Model', model({ autoscaling: { minReplicas: 5, maxReplicas: 3 } })), [
    'spec.autoscaling.minReplicas: Invalid value: 5: must be less than or equal to maxReplicas (3)',
  ]);
  assert.deepEqual(validate('Model', model({ serving: { timeout: 'soon' } })), [
    'spec.serving.timeout: Invalid value: "soon": must be a duration such as "30s", "1m30s" or "500ms"',
  ]);
  assert.deepEqual(validate('Model', model({ serving: { timeout: '0s' } })), ['spec.serving.timeout: Invalid value: "0s": must be greater than 0']);
  assert.equal(validate('Model', { ...model(), modelSpec: { modelId: 'm', framework: 'f', version: '1', source: { uri: 'meta-llama/x' } } }).length, 1);
  assert.deepEqual(validate('Model', { ...model(), modelSpec: { modelId: 'm', framework: 'f', version: '1', source: { uri: '/models/x' } } }), []);
  assert.deepEqual(validate('Model', model({}, { env: [{ name: 'A' }, { name: 'A' }] })), ['spec.runtime.env[1].name: Duplicate value: "A"']);
  assert.deepEqual(validate('Model', model({ autoscaling: { metrics: [{ metricName: 'num_requests', targetValue: 0 }] } })), [
    'spec.autoscaling.metrics[0].targetValue: Invalid value: 0: must be greater than 0',
  ]);
  // The forecast and the windows a Model passes to its policy and binding are checked where the user wrote them.
  const windows = validate('Model', model({ autoscaling: { predictive: { enabled: true, metricName: 'num_requests' }, schedules: [{ name: 'w', cron: 'every day', duration: '1h', minReplicas: 2 }] } }));
  assert.equal(windows[0], 'spec.autoscaling.predictive.metricName: Invalid value: "num_requests": must name one of spec.autoscaling.metrics');
  assert.ok(windows.slice(1).some((e) => e.startsWith('spec.autoscaling.schedules[0].cron')), windows.join('\n'));
  assert.deepEqual(validate('Model', model({ autoscaling: { predictive: { enabled: true, metricName: 'vllm:num_requests_waiting' } } })), []);
});

test('ModelInfer: unique role names, containers, maxSurge and maxUnavailable, pod name length', () => {
  const roles = [{ name: 'server', template: { spec: { containers: [container] } } }];
  assert.deepEqual(validate('ModelInfer', { roles }), []);
  assert.deepEqual(validate('ModelInfer', { roles: [...roles, ...roles] }), ['spec.roles[1].name: Duplicate value: "server"']);
  assert.deepEqual(validate('ModelInfer', { roles: [{ name: 'server', template: { spec: {} } }] }), [
    'spec.roles[0].template.spec.containers: Required value: at least one container is required',
  ]);
  // As a Deployment's: either may be 0, not both; maxUnavailable at most 100%, maxSurge any percentage.
  assert.deepEqual(validate('ModelInfer', { roles, rolloutStrategy: { maxUnavailable: 0 } }), [], 'maxSurge defaults to 25%');
  assert.deepEqual(validate('ModelInfer', { roles, rolloutStrategy: { maxSurge: 0 } }), [], 'maxUnavailable defaults to 25%');
  assert.deepEqual(validate('ModelInfer', { roles, rolloutStrategy: { maxSurge: 0, maxUnavailable: 0 } }), [
    'spec.rolloutStrategy.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0',
  ]);
  assert.deepEqual(validate('ModelInfer', { roles, rolloutStrategy: { maxSurge: '0%', maxUnavailable: '0%' } }), [
    'spec.rolloutStrategy.maxUnavailable: Invalid value: "0%": may not be 0 when `maxSurge` is 0',
  ]);
  assert.deepEqual(validate('ModelInfer', { roles, rolloutStrategy: { type: 'Recreate', maxSurge: 0, maxUnavailable: 0 } }), [], 'Recreate ignores them');
  assert.deepEqual(validate('ModelInfer', { roles, rolloutStrategy: { maxUnavailable: '25%', maxSurge: '200%' } }), []);
  assert.deepEqual(validate('ModelInfer', { roles, rolloutStrategy: { maxUnavailable: '150%', maxSurge: -1 } }), [
    'spec.rolloutStrategy.maxUnavailable: Invalid value: "150%": must not be greater than 100%',
    'spec.rolloutStrategy.maxSurge: Invalid value: -1: must be greater than or equal to 0',
  ]);
  assert.deepEqual(validate('ModelInfer', { roles, rolloutStrategy: { maxSurge: 'one' } }), [
    `spec.rolloutStrategy.maxSurge: Invalid value: "one": must be an integer or percentage (e.g '5%')`,
  ]);
  assert.equal(validate('ModelInfer', { roles }, 'n'.repeat(250)).length, 1);
  // Surge groups take the next indexes: 10 replicas and maxSurge 90 name a pod `<name>-99-server-0` (253 characters).
  assert.deepEqual(validate('ModelInfer', { roles, replicas: 10, rolloutStrategy: { maxSurge: 90 } }, 'n'.repeat(241)), []);
  assert.deepEqual(validate('ModelInfer', { roles, replicas: 10, rolloutStrategy: { maxSurge: 91 } }, 'n'.repeat(241)), [
    `spec.roles[0].name: Invalid value: "server": generated pod name "${'n'.repeat(241)}-100-server-0" is not a valid DNS subdomain`,
  ]);
});

test('ModelServer: enabled features need their settings', () => {
  const base = { modelInferRef: { name: 'mi' }, service: { port: 8080 } };
  assert.deepEqual(validate('ModelServer', base), []);
  assert.deepEqual(
    validate('ModelServer', {
      ...base,
      rateLimit: { enabled: true },
      tls: { enabled: true },
      authentication: { enabled: true },
    }),
    [
      'spec.rateLimit.requestsPerSecond: Required value: required when rateLimit.enabled is true',
      'spec.tls.secretName: Required value: required when tls.enabled is true',
      'spec.authentication.type: Required value: required when authentication.enabled is true',
    ],
  );
  assert.deepEqual(validate('ModelServer', { ...base, rateLimit: { enabled: true, requestsPerSecond: 10, burstSize: 5 } }), [
    'spec.rateLimit.burstSize: Invalid value: 5: must be at least requestsPerSecond (10)',
  ]);
  assert.deepEqual(validate('ModelServer', { ...base, tls: { enabled: false } }), []);
  assert.deepEqual(
    validate('ModelServer', {
      ...base,
      authentication: { enabled: true, type: 'jwt', config: { audience: 'a', clockSkew: 'soon' } },
      rateLimit: { enabled: true, requestsPerSecond: 1, global: { redis: { address: 'r:6379' }, timeout: '0s' } },
    }),
    [
      'spec.authentication.config.jwksUri: Required value: jwt needs config.jwksUri or config.issuer (OpenID discovery)',
      'spec.authentication.config.clockSkew: Invalid value: "soon": must be a duration such as "30s", "1m30s" or "500ms"',
      'spec.rateLimit.global.timeout: Invalid value: "0s": must be greater than 0',
    ],
  );
  assert.deepEqual(validate('ModelServer', { ...base, authentication: { enabled: true, type: 'apiKey', config: {} } }), [
    'spec.authentication.config.secretName: Required value: apiKey needs config.secretName or config.secretSelector',
  ]);
  assert.deepEqual(validate('ModelServer', { ...base, authentication: { enabled: true, type: 'jwt', config: { issuer: 'https://i' } } }), []);
});

test('ModelRoute cache: durations, a redis store needs an address, a remote embedder a URL and model, an onnx one a model file', () => {
  const rules = [{ targetModels: [{ modelServerName: 'a' }] }];
  assert.deepEqual(validate('ModelRoute', { modelName: 'm', rules, cache: { exact: { ttl: '5m' }, semantic: { threshold: 0.9 } } }), []);
  assert.deepEqual(
    validate('ModelRoute', { modelName: 'm', rules, cache: { exact: { ttl: '0s' }, store: { type: 'redis' }, semantic: { embedder: { type: 'remote' } } } }),
    [
      'spec.cache.exact.ttl: Invalid value: "0s": must be greater than 0',
      'spec.cache.store.redis.address: Required value: a redis store needs an address',
      'spec.cache.semantic.embedder.url: Required value: a remote embedder needs a URL',
      'spec.cache.semantic.embedder.model: Required value: a remote embedder needs a model name',
    ],
  );
  // An onnx embedder needs its model file; its settings mean nothing to another type.
  const onnx = { type: 'onnx', modelPath: '/models/e5/model.onnx', tokenizerPath: '/models/e5/tokenizer.json', pooling: 'cls', outputName: 'last_hidden_state', maxTokens: 128, timeout: '500ms' };
  assert.deepEqual(validate('ModelRoute', { modelName: 'm', rules, cache: { semantic: { embedder: onnx } } }), []);
  assert.deepEqual(validate('ModelRoute', { modelName: 'm', rules, cache: { semantic: { embedder: { type: 'onnx' } } } }), [
    'spec.cache.semantic.embedder.modelPath: Required value: an onnx embedder needs the path of its model file',
  ]);
  assert.deepEqual(validate('ModelRoute', { modelName: 'm', rules, cache: { semantic: { embedder: { modelPath: '/m.onnx', pooling: 'mean' } } } }), [
    'spec.cache.semantic.embedder.modelPath: Forbidden: only for type onnx',
    'spec.cache.semantic.embedder.pooling: Forbidden: only for type onnx',
  ]);
  // The store may be named under the semantic tier (the spelling); it serves both tiers, so two must agree.
  const redis = { type: 'redis', redis: { address: '127.0.0.1:6379' } };
  assert.deepEqual(validate('ModelRoute', { modelName: 'm', rules, cache: { semantic: { store: redis } } }), []);
  assert.deepEqual(validate('ModelRoute', { modelName: 'm', rules, cache: { semantic: { store: { type: 'redis' } } } }), [
    'spec.cache.semantic.store.redis.address: Required value: a redis store needs an address',
  ]);
  assert.deepEqual(validate('ModelRoute', { modelName: 'm', rules, cache: { store: { type: 'memory' }, semantic: { store: redis } } }), [
    'spec.cache.semantic.store: Invalid value: one store serves both tiers: set spec.cache.store or spec.cache.semantic.store, or the same in both',
  ]);
});

test('ModelRoute: modelName or loraAdapters, string matches, regexes, weights', () => {
  const rules = [{ targetModels: [{ modelServerName: 'a' }] }];
  assert.deepEqual(validate('ModelRoute', { modelName: 'm', rules }), []);
  assert.deepEqual(validate('ModelRoute', { loraAdapters: ['x'], rules }), []);
  assert.deepEqual(validate('ModelRoute', { rules }), ['spec.modelName: Required value: one of modelName or loraAdapters must be set']);
  assert.deepEqual(validate('ModelRoute', { loraAdapters: [], rules }), ['spec.modelName: Required value: one of modelName or loraAdapters must be set']);
  assert.deepEqual(
    validate('ModelRoute', {
      modelName: 'm',
      rules: [
        { modelMatch: { uri: { exact: '/a', prefix: '/b' }, headers: { 'x-user': { regex: '(' } } }, targetModels: [{ modelServerName: 'a' }] },
        { modelMatch: { headers: { 'x-tier': {} } }, targetModels: [{ modelServerName: 'a', weight: 0 }, { modelServerName: 'b', weight: 0 }] },
      ],
    }),
    [
      'spec.rules[0].modelMatch.uri: Invalid value: {"exact":"/a","prefix":"/b"}: exactly one of exact, prefix or regex must be set',
      'spec.rules[0].modelMatch.headers[x-user].regex: Invalid value: "(": invalid regular expression: Invalid regular expression: /(/: Unterminated group',
      'spec.rules[1].modelMatch.headers[x-tier]: Invalid value: {}: exactly one of exact, prefix or regex must be set',
      'spec.rules[1].targetModels: Invalid value: 0: the total weight of the targets must be greater than 0',
    ],
  );
  assert.deepEqual(validate('ModelRoute', { modelName: 'm', rules: [{ targetModels: [{ modelServerName: 'a', weight: 0 }, { modelServerName: 'b' }] }] }), []);
});

test('AutoscalingPolicy and binding', () => {
  assert.deepEqual(validate('AutoscalingPolicy', { metrics: [{ metricName: 'num_requests', targetValue: '10' }] }), []);
  assert.deepEqual(
    validate('AutoscalingPolicy', {
      metrics: [
        { metricName: 'cpu', targetValue: 'lots' },
        { metricName: 'cpu', targetValue: 1 },
        { metricName: 'queue_depth', targetValue: 1 },
        { metricName: 'rt', targetValue: '200m', prometheus: { query: 'histogram_quantile(0.95, sum(rate(x_bucket{pod=~"$pods"}[1m])) by (le))' } },
        { metricName: 'rt2', targetValue: '200m', prometheus: { query: 'avg(rate(x[1m])' } },
        { metricName: 'rt3', targetValue: '200m', prometheus: { query: 'x{pod="a}' } },
      ],
      behavior: { scaleDown: { period: '0s' } },
    }),
    [
      'spec.metrics[0].targetValue: Invalid value: "lots": must be a quantity such as 10, 0.5 or 500m',
      'spec.metrics[1].metricName: Duplicate value: "cpu"',
      'spec.metrics[2].metricName: Unsupported value: "queue_depth": supported: num_requests_waiting, num_requests_running, num_requests, queued_prompt_tokens, kv_cache_usage, ttft_seconds_p50|p90|p95|p99, itl_seconds_p50|p90|p95|p99, gpu_utilization, gateway_inflight_requests, gateway_awaiting_first_byte, gateway_request_rate, cpu, memory (and the vLLM/SGLang names of the engine metrics); or any name with prometheus.query',
      'spec.metrics[4].prometheus.query: Invalid value: "avg(rate(x[1m])": unclosed (',
      'spec.metrics[5].prometheus.query: Invalid value: "x{pod=\\"a}": unterminated " string at offset 6',
      'spec.behavior.scaleDown.period: Invalid value: "0s": must be greater than 0',
    ],
  );
  const binding = { policyRef: { name: 'p' }, targetRef: { name: 't' } };
  assert.deepEqual(validate('AutoscalingPolicyBinding', { ...binding, minReplicas: 1, maxReplicas: 3 }), []);
  assert.deepEqual(validate('AutoscalingPolicyBinding', { ...binding, minReplicas: 4, maxReplicas: 3 }), [
    'spec.minReplicas: Invalid value: 4: must be less than or equal to maxReplicas (3)',
  ]);
  const variants = [
    { targetRef: { name: 'cheap' }, costPerReplica: '1.5', minReplicas: 2, capacityWeight: 2 },
    { targetRef: { name: 'dear' }, costPerReplica: '4', maxReplicas: 2 },
  ];
  assert.deepEqual(validate('AutoscalingPolicyBinding', { policyRef: { name: 'p' }, variants, maxReplicas: 6 }), []);
  assert.deepEqual(validate('AutoscalingPolicyBinding', { ...binding, variants, maxReplicas: 6 }), [
    'spec.variants: Forbidden: may not be set together with spec.targetRef: exactly one of targetRef or variants',
  ]);
  assert.deepEqual(validate('AutoscalingPolicyBinding', { policyRef: { name: 'p' }, maxReplicas: 6 }), ['spec.targetRef: Required value: exactly one of targetRef or variants must be set']);
  assert.deepEqual(
    validate('AutoscalingPolicyBinding', {
      policyRef: { name: 'p' },
      maxReplicas: 3,
      variants: [...variants, { targetRef: { name: 'dear' }, costPerReplica: '1,5', minReplicas: 3, maxReplicas: 1 }],
    }),
    [
      'spec.variants[2].targetRef.name: Duplicate value: "dear"',
      'spec.variants[2].minReplicas: Invalid value: 3: must be less than or equal to maxReplicas (1)',
      'spec.variants[2].costPerReplica: Invalid value: "1,5": must be a decimal with at most three decimals, e.g. "2.49"',
      "spec.maxReplicas: Invalid value: 3: must be at least the variants' minimum capacity (sum of minReplicas × capacityWeight = 7)",
    ],
  );
});

test('DELETE and status updates are not validated', () => {
  const plugin = admissionPlugins.find((p) => p.kind === 'AutoscalingPolicyBinding')!;
  const object: KubeObject = { apiVersion: 'registry.matrixinfer.ai/v1alpha1', kind: 'AutoscalingPolicyBinding', metadata: { name: 'b' }, spec: { minReplicas: 5, maxReplicas: 1 } };
  const base = { group: plugin.group, version: 'v1alpha1', kind: plugin.kind, resource: 'autoscalingpolicybindings', name: 'b' };
  assert.deepEqual(plugin.validate!({ ...base, operation: 'UPDATE', subResource: 'status', object }), []);
  assert.deepEqual(plugin.validate!({ ...base, operation: 'DELETE', oldObject: object }), []);
});

test('Model and ModelInfer: resource quantities must parse, requests stay within limits, as for Pods', () => {
  const resources = (r: Record<string, unknown>) => model({}, { resources: r });
  assert.deepEqual(validate('Model', resources({ requests: { cpu: '2', memory: '8Gi', 'nvidia.com/gpu': 1 }, limits: { cpu: 4, memory: '16Gi' } })), []);
  assert.deepEqual(validate('Model', resources({ requests: { cpu: 'lots' } })), [
    `spec.runtime.resources.requests[cpu]: Invalid value: "lots": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`,
  ]);
  assert.deepEqual(validate('Model', resources({ requests: { cpu: '2' }, limits: { cpu: '1', memory: '1K' } })), [
    "spec.runtime.resources.limits[memory]: Invalid value: \"1K\": unable to parse quantity's suffix",
    'spec.runtime.resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1',
  ]);
  assert.deepEqual(validate('Model', resources({ requests: { 'nvidia.com/gpu': '2' }, limits: { 'nvidia.com/gpu': '1', gpu: '1' } })), [
    'spec.runtime.resources.limits[gpu]: Invalid value: "gpu": must be a standard resource for containers',
    'spec.runtime.resources.requests: Invalid value: "2": must be equal to nvidia.com/gpu limit of 1',
  ]);
  assert.deepEqual(validate('Model', resources({ requests: { 'nvidia.com/gpu': '0.5', memory: '-1' } })), [
    'spec.runtime.resources.requests[nvidia.com/gpu]: Invalid value: "500m": must be an integer',
    'spec.runtime.resources.requests[memory]: Invalid value: "-1": must be greater than or equal to 0',
  ]);
  const infer = (res: Record<string, unknown>) => ({ roles: [{ name: 'server', template: { spec: { containers: [{ ...container, resources: res }] } } }] });
  assert.deepEqual(validate('ModelInfer', infer({ requests: { cpu: '500m' }, limits: { cpu: '1' } })), []);
  assert.deepEqual(validate('ModelInfer', infer({ requests: { cpu: '2' }, limits: { cpu: '1' } })), [
    'spec.roles[0].template.spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1',
  ]);
  // A pod template becomes the Pod as it is: an extended resource needs its limit there.
  assert.deepEqual(validate('ModelInfer', infer({ requests: { 'nvidia.com/gpu': '1' } })), [
    'spec.roles[0].template.spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources',
  ]);
});

test('Model: a served Model and a LoRA adapter cannot turn into each other in place', () => {
  const plugin = admissionPlugins.find((p) => p.kind === 'Model')!;
  const served = { modelSpec: { modelId: 'm', framework: 'pytorch', version: '1', source: { uri: 'hf://a/b' } }, runtime: { image: 'img' } };
  const adapter = { modelSpec: { modelId: 'm', framework: 'pytorch', version: '1', source: { uri: 'hf://a/lora' }, baseModelRef: { name: 'base' } } };
  const update = (from: object, to: object) =>
    plugin
      .validate!({
        operation: 'UPDATE', group: plugin.group, version: 'v1alpha1', kind: 'Model', resource: 'models', name: 'x',
        object: { apiVersion: 'registry.matrixinfer.ai/v1alpha1', kind: 'Model', metadata: { name: 'x', namespace: 'default' }, spec: to },
        oldObject: { apiVersion: 'registry.matrixinfer.ai/v1alpha1', kind: 'Model', metadata: { name: 'x', namespace: 'default' }, spec: from },
      })
      .map(formatFieldError);
  assert.deepEqual(update(served, adapter), ['spec.modelSpec.baseModelRef: Forbidden: a served Model cannot become a LoRA adapter; create a new Model for the adapter']);
  assert.deepEqual(update(adapter, served), ['spec.modelSpec.baseModelRef: Forbidden: a LoRA adapter cannot become a served Model; create a new Model with a runtime']);
  assert.deepEqual(update(adapter, { ...adapter, modelSpec: { ...adapter.modelSpec, baseModelRef: { name: 'other' } } }), [], 'another base is fine: the loader moves it');
  assert.deepEqual(update(served, { ...served, runtime: { image: 'img2' } }), []);
});
