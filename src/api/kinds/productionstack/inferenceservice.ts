// production-stack.vllm.ai/v1alpha1 InferenceService: serve `modelName` through the gateway from `backendRef`. The
// controller writes one ModelRoute (owned, same name) for the model to the backend's ModelServer, with the routing
// profile of the InferenceGateway that lists it, the weights of its InferenceCache and, with
// nlpFilters.semanticCache, the route's semantic response cache.
import { Type, Obj, type Static } from '../../schema-kit.ts';
import { AGE_COLUMN, type KindDefinition } from '../../kind.ts';
import type { KubeObject } from '../../admission.ts';
import { PRODUCTION_STACK_CATEGORIES, PRODUCTION_STACK_GROUP, PRODUCTION_STACK_VERSION, conditionColumn, statusBase } from './common.ts';

export const SemanticCache = Obj(
  {
    storeRef: Type.String({
      minLength: 1,
      description: 'Where entries are kept: a Service in the same namespace in front of Redis (its port named redis, else 6379, else its first port), or `memory` for each gateway replica\'s own store.',
    }),
    threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Cosine similarity of the last user messages needed for a hit, in (0, 1] (default 0.85).' })),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 31_536_000, format: 'int32', description: 'How long a stored answer can be matched, in seconds (default 600).' })),
  },
  { description: "Answer requests similar to an earlier one from the gateway's semantic cache (the ModelRoute's spec.cache.semantic)." },
);
export type SemanticCache = Static<typeof SemanticCache>;

export const InferenceServiceSpec = Obj({
  modelName: Type.String({ minLength: 1, description: 'Model name clients request (the body `model` field).' }),
  backendRef: Type.String({
    minLength: 1,
    description:
      'Who serves it: a ModelServer in the same namespace, or a Service whose selector picks the pods of a ModelInfer (the ModelServer exposing that ModelInfer is used). A Service in front of engines MatrixInfer does not run is not routed: use a StaticRoute.',
  }),
  inferenceCacheRef: Type.Optional(Type.String({ minLength: 1, description: 'InferenceCache whose KV-cache policy tunes the route (default: the oldest one for modelName).' })),
  nlpFilters: Type.Optional(
    Obj(
      { semanticCache: Type.Optional(SemanticCache) },
      { description: 'Request-path features.' },
    ),
  ),
});
export type InferenceServiceSpec = Static<typeof InferenceServiceSpec>;

export const InferenceServiceStatus = Obj({
  ...statusBase,
  modelRoute: Type.Optional(Type.String({ description: 'The ModelRoute programmed for modelName.' })),
  modelServer: Type.Optional(Type.String({ description: 'The ModelServer the route leads to.' })),
  readyBackends: Type.Optional(Type.Integer({ format: 'int32', description: 'Ready engine pods behind that ModelServer.' })),
  endpoint: Type.Optional(Type.String({ description: "The ModelServer's Service URL (it leads to the gateway)." })),
  inferenceGateway: Type.Optional(Type.String({ description: 'The InferenceGateway whose routing profile the route carries.' })),
  inferenceCache: Type.Optional(Type.String({ description: 'The InferenceCache whose weights the route carries.' })),
});
export type InferenceServiceStatus = Static<typeof InferenceServiceStatus>;

export interface InferenceService extends KubeObject {
  spec: InferenceServiceSpec;
  status?: InferenceServiceStatus;
}

export const inferenceServiceKind: KindDefinition = {
  group: PRODUCTION_STACK_GROUP,
  version: PRODUCTION_STACK_VERSION,
  kind: 'InferenceService',
  plural: 'inferenceservices',
  singular: 'inferenceservice',
  shortNames: ['psisvc'],
  categories: PRODUCTION_STACK_CATEGORIES,
  scope: 'Namespaced',
  description: 'Serves a model name through the MatrixInfer gateway from a ModelServer (production-stack router controller API; becomes a ModelRoute).',
  spec: InferenceServiceSpec,
  status: InferenceServiceStatus,
  printerColumns: [
    { name: 'Model', type: 'string', jsonPath: '.spec.modelName' },
    { name: 'Backend', type: 'string', jsonPath: '.spec.backendRef' },
    { name: 'Route', type: 'string', jsonPath: '.status.modelRoute' },
    { name: 'Backends', type: 'integer', jsonPath: '.status.readyBackends' },
    conditionColumn('Ready'),
    { name: 'Cache', type: 'string', jsonPath: '.status.inferenceCache', priority: 1 },
    { name: 'Gateway', type: 'string', jsonPath: '.status.inferenceGateway', priority: 1 },
    AGE_COLUMN,
  ],
};
