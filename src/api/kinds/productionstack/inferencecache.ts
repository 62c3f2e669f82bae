// production-stack.vllm.ai/v1alpha1 InferenceCache: the KV-cache policy of a model, not a response cache. Its
// thresholds become scorer weights on the ModelRoutes of the InferenceServices serving `modelName` (those naming it in
// inferenceCacheRef, and those of that model naming none): prefix affinity outweighs the load spread from a prefix
// match of `thresholdHitRate`, and free KV cache outweighs a full prefix match once a pod's KV usage passes
// `evictionThreshold` (controllers/productionstack/scheduling.ts says how). `pddRef` and `sdRef` name the
// PrefillDecodingDisaggregation and SpeculativeDecoding of the same model; each applies itself, the cache reports them.
// status.cacheStats is what the model's engines report (controllers/productionstack/cache-stats.ts).
import { Type, Obj, type Static } from '../../schema-kit.ts';
import { AGE_COLUMN, type KindDefinition } from '../../kind.ts';
import type { KubeObject } from '../../admission.ts';
import { PRODUCTION_STACK_CATEGORIES, PRODUCTION_STACK_GROUP, PRODUCTION_STACK_VERSION, conditionColumn, statusBase } from './common.ts';

export const DEFAULT_THRESHOLD_HIT_RATE = 0.5;
export const DEFAULT_EVICTION_THRESHOLD = 0.8;

export const InferenceCacheSpec = Obj({
  modelName: Type.String({ minLength: 1, description: 'Model name (as clients request it) whose routes and engines this policy is for.' }),
  kvCacheTransferPolicy: Type.Optional(
    Obj(
      {
        thresholdHitRate: Type.Optional(
          Type.Number({ minimum: 0, maximum: 1, description: `Prefix match (0..1) from which cache affinity outweighs the load spread (default ${DEFAULT_THRESHOLD_HIT_RATE}).` }),
        ),
        evictionThreshold: Type.Optional(
          Type.Number({ minimum: 0, maximum: 1, description: `KV-cache usage (0..1) from which spreading load outweighs a full prefix match (default ${DEFAULT_EVICTION_THRESHOLD}).` }),
        ),
      },
      { description: 'When to prefer the pod holding a prompt\'s KV cache, and when to spread instead.' },
    ),
  ),
  pddRef: Type.Optional(Type.String({ minLength: 1, description: 'PrefillDecodingDisaggregation of the same model.' })),
  sdRef: Type.Optional(Type.String({ minLength: 1, description: 'SpeculativeDecoding of the same model.' })),
});
export type InferenceCacheSpec = Static<typeof InferenceCacheSpec>;

export const InferenceCacheStatus = Obj({
  ...statusBase,
  modelRoutes: Type.Optional(Type.Array(Type.String(), { description: 'ModelRoutes carrying these weights.' })),
  weights: Type.Optional(
    Obj(
      {
        prefixCache: Type.Integer({ format: 'int32' }),
        kvCache: Type.Integer({ format: 'int32' }),
        load: Type.Integer({ format: 'int32', description: 'Sum of the load scorers (queue, running, least-request).' }),
      },
      { description: 'Scorer weights programmed on the routes.' },
    ),
  ),
  cacheStats: Type.Optional(
    Obj(
      {
        hitRate: Type.Optional(Type.String({ description: 'Observed prefix-cache hit rate of the engines (0..1).' })),
        kvCacheUsage: Type.Optional(Type.String({ description: 'Observed mean KV-cache usage of the engines (0..1).' })),
      },
      { description: "From the engines' metrics, every 30 s: the prefix-cache hit rate over the last window, the mean KV-cache usage now (MetricsObserved says from how many pods)." },
    ),
  ),
});
export type InferenceCacheStatus = Static<typeof InferenceCacheStatus>;

export interface InferenceCache extends KubeObject {
  spec: InferenceCacheSpec;
  status?: InferenceCacheStatus;
}

export const inferenceCacheKind: KindDefinition = {
  group: PRODUCTION_STACK_GROUP,
  version: PRODUCTION_STACK_VERSION,
  kind: 'InferenceCache',
  plural: 'inferencecaches',
  singular: 'inferencecache',
  shortNames: ['pscache'],
  categories: PRODUCTION_STACK_CATEGORIES,
  scope: 'Namespaced',
  description: "A model's KV-cache policy: prefix-affinity and KV-spread thresholds programmed as scorer weights on its routes.",
  spec: InferenceCacheSpec,
  status: InferenceCacheStatus,
  printerColumns: [
    { name: 'Model', type: 'string', jsonPath: '.spec.modelName' },
    { name: 'Hit-Threshold', type: 'number', jsonPath: '.spec.kvCacheTransferPolicy.thresholdHitRate' },
    { name: 'Eviction', type: 'number', jsonPath: '.spec.kvCacheTransferPolicy.evictionThreshold' },
    conditionColumn('Programmed'),
    { name: 'PDD', type: 'string', jsonPath: '.spec.pddRef', priority: 1 },
    { name: 'SD', type: 'string', jsonPath: '.spec.sdRef', priority: 1 },
    AGE_COLUMN,
  ],
};
