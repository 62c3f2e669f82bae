// networking.matrixinfer.ai/v1alpha1 ModelRoute: which ModelServers serve a model name, by ordered rules.
import { Type, Obj, StringEnum, StringMap, Conditions, Phase, Duration, type Static } from '../schema-kit.ts';
import { AGE_COLUMN, type KindDefinition } from '../kind.ts';
import { NETWORKING_GROUP, GlobalRateLimit, SchedulingSpec } from './modelserver.ts';
import type { KubeObject } from '../admission.ts';

export const StringMatch = Obj(
  {
    exact: Type.Optional(Type.String()),
    prefix: Type.Optional(Type.String()),
    regex: Type.Optional(Type.String()),
  },
  { description: 'Exactly one of exact, prefix or regex.' },
);
export type StringMatch = Static<typeof StringMatch>;

export const TargetModel = Obj({
  modelServerName: Type.String({ minLength: 1, description: 'ModelServer in the same namespace.' }),
  weight: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, default: 100, format: 'int32', description: 'Relative share of traffic.' })),
});
export type TargetModel = Static<typeof TargetModel>;

export const RouteRule = Obj({
  name: Type.Optional(Type.String()),
  modelMatch: Type.Optional(
    Obj({
      headers: Type.Optional(StringMap(StringMatch, { description: 'Header name to match.' })),
      uri: Type.Optional(StringMatch),
    }),
  ),
  targetModels: Type.Array(TargetModel, { minItems: 1, maxItems: 16 }),
});
export type RouteRule = Static<typeof RouteRule>;

export const RouteAuthorization = Obj(
  {
    allow: Obj(
      {
        users: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 1024, description: 'Users (the authenticated identity: JWT userClaim, or the API-key entry name).' })),
        groups: Type.Optional(
          Type.Array(Type.String({ minLength: 1 }), {
            maxItems: 1024,
            description: 'Groups (JWT groupsClaim, or labels groups.matrixinfer.ai/<group> on the API-key Secret).',
          }),
        ),
      },
      { description: 'Who may use the model: an authenticated caller listed by user or by one of its groups.' },
    ),
  },
  {
    description:
      'Who may use this route. Callers need an identity from the target ModelServer\'s authentication; one not allowed gets 403, one without an identity 401.',
  },
);
export type RouteAuthorization = Static<typeof RouteAuthorization>;

/** Where a route's cache keeps its entries. */
export const CacheStoreSpec = Obj(
  {
    type: Type.Optional(StringEnum(['memory', 'redis'] as const, { default: 'memory', description: 'memory: each gateway replica its own; redis: shared by the replicas.' })),
    redis: Type.Optional(
      Obj({
        address: Type.String({ minLength: 1, description: 'host:port or redis://… URL.' }),
        keyPrefix: Type.Optional(Type.String({ description: 'Default matrixinfer:cache:.' })),
      }),
    ),
  },
  { description: 'Where both tiers keep their entries (spec.cache.store, or spec.cache.semantic.store: one store serves both tiers).' },
);
export type CacheStoreSpec = Static<typeof CacheStoreSpec>;

/** The store a cache spec names: `store`, or `semantic.store` (the same thing under the semantic tier). */
export function cacheStoreOf(cache: { store?: CacheStoreSpec; semantic?: { store?: CacheStoreSpec } }): CacheStoreSpec | undefined {
  return cache.store ?? cache.semantic?.store;
}

export const RouteCache = Obj(
  {
    exact: Type.Optional(
      Obj(
        {
          enabled: Type.Optional(Type.Boolean({ default: true })),
          ttl: Type.Optional(Duration({ description: 'How long a stored response serves identical requests (default 10m).' })),
          maxEntries: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000, format: 'int32', description: 'Responses held per gateway replica by the memory store, least recently used out first (default 10000).' })),
        },
        { description: 'Exact tier: a hit needs the same model, messages or prompt and every generation parameter.' },
      ),
    ),
    semantic: Type.Optional(
      Obj(
        {
          enabled: Type.Optional(Type.Boolean({ default: true })),
          threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Cosine similarity of the last user messages needed for a hit (default 0.85, chosen for the static embedder).' })),
          ttl: Type.Optional(Duration({ description: 'How long a stored question can be matched (default 10m).' })),
          embedder: Type.Optional(
            Obj({
              type: Type.Optional(
                StringEnum(['static', 'remote', 'onnx'] as const, {
                  default: 'static',
                  description: 'static: WordLlama shipped with the gateway; remote: an OpenAI /v1/embeddings endpoint; onnx: an ONNX sentence-embedding model file from a volume, run on the gateway\'s CPU.',
                }),
              ),
              url: Type.Optional(Type.String({ description: 'remote: the embeddings URL, e.g. http://embedder.ns:8000/v1/embeddings.' })),
              model: Type.Optional(Type.String({ description: 'remote: the model name sent.' })),
              timeout: Type.Optional(Duration({ description: 'remote, onnx: bound on one embedding (default 2s); past it the lookup is a miss.' })),
              modelPath: Type.Optional(Type.String({ minLength: 1, description: 'onnx: path of the .onnx file in the gateway container (a mounted volume).' })),
              tokenizerPath: Type.Optional(Type.String({ minLength: 1, description: 'onnx: path of its tokenizer.json (default: tokenizer.json next to the model).' })),
              pooling: Type.Optional(StringEnum(['mean', 'cls'] as const, { description: 'onnx: mean of the token vectors over the attention mask (default), or the first token\'s; ignored for an output that is already pooled ([batch, dims]).' })),
              outputName: Type.Optional(Type.String({ minLength: 1, description: 'onnx: the output read (default: the model\'s first), [batch, tokens, dims] or [batch, dims].' })),
              maxTokens: Type.Optional(Type.Integer({ minimum: 1, maximum: 8192, format: 'int32', description: 'onnx: tokens of a question embedded, longer ones are cut (default 256).' })),
            }),
          ),
          store: Type.Optional(CacheStoreSpec),
        },
        { description: 'Semantic tier: a similar last user message under the same system prompt, history, tools and parameters; a negation, an antonym, another number or unit, or another name never hits.' },
      ),
    ),
    store: Type.Optional(CacheStoreSpec),
    shared: Type.Optional(Type.Boolean({ default: false, description: 'With authentication on, entries are per user unless this is true.' })),
    maxTemperature: Type.Optional(Type.Number({ minimum: 0, description: 'Responses to requests with a higher temperature are not stored (default 1; a request without one counts as 1).' })),
  },
  {
    description:
      'Response cache for /v1/chat/completions and /v1/completions. Off unless a tier is given. Responses carry x-matrixinfer-cache: hit, miss or bypass; cache-control: no-cache skips the lookup, no-store the store.',
  },
);
export type RouteCache = Static<typeof RouteCache>;

export const ModelRouteSpec = Obj({
  modelName: Type.Optional(Type.String({ description: 'Model name clients request (the body `model` field).' })),
  loraAdapters: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 64, description: 'LoRA adapter names routed by this route.' })),
  rules: Type.Array(RouteRule, { minItems: 1, maxItems: 16, description: 'Ordered rules; the first match wins.' }),
  scheduling: Type.Optional(SchedulingSpec),
  authorization: Type.Optional(RouteAuthorization),
  cache: Type.Optional(RouteCache),
  deprecation: Type.Optional(
    Obj(
      {
        since: Type.String({ format: 'date-time', description: 'When the model was deprecated; sent as Deprecation: @<unix seconds> (RFC 9745).' }),
        successor: Type.Optional(Type.String({ minLength: 1, description: 'Model name clients should move to; sent as Link: </v1/models/NAME>; rel="successor-version".' })),
        message: Type.Optional(Type.String({ maxLength: 1024 })),
      },
      { description: 'The route serves a deprecated model: responses carry the Deprecation and Link headers and /v1/models marks it. The Model controller sets this from Model.spec.deprecated.' },
    ),
  ),
  rateLimit: Type.Optional(
    Obj({
      inputTokensPerUnit: Type.Optional(Type.Integer({ minimum: 1, format: 'int32' })),
      outputTokensPerUnit: Type.Optional(Type.Integer({ minimum: 1, format: 'int32' })),
      unit: Type.Optional(StringEnum(['second', 'minute', 'hour'] as const, { default: 'second' })),
      perUser: Type.Optional(
        Obj(
          {
            inputTokensPerUnit: Type.Optional(Type.Integer({ minimum: 1, format: 'int32' })),
            outputTokensPerUnit: Type.Optional(Type.Integer({ minimum: 1, format: 'int32' })),
            header: Type.Optional(Type.String({ description: 'Header naming the user when the request carries no authenticated identity.' })),
          },
          { description: 'Limits for each user (the authenticated identity), per the same unit.' },
        ),
      ),
      global: Type.Optional(GlobalRateLimit),
    }),
  ),
});
export type ModelRouteSpec = Static<typeof ModelRouteSpec>;

export const ModelRouteStatus = Obj({
  phase: Type.Optional(Phase),
  observedGeneration: Type.Optional(Type.Integer({ format: 'int64' })),
  conditions: Type.Optional(Conditions),
});

export interface ModelRoute extends KubeObject {
  spec: ModelRouteSpec;
  status?: Static<typeof ModelRouteStatus>;
}

export const modelRouteKind: KindDefinition = {
  group: NETWORKING_GROUP,
  version: 'v1alpha1',
  kind: 'ModelRoute',
  plural: 'modelroutes',
  singular: 'modelroute',
  shortNames: ['mr'],
  categories: ['matrixinfer'],
  scope: 'Namespaced',
  description: 'Routes requests for a model name (or LoRA adapter) to ModelServers by ordered rules with weighted targets.',
  spec: ModelRouteSpec,
  status: ModelRouteStatus,
  printerColumns: [
    { name: 'Model', type: 'string', jsonPath: '.spec.modelName' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    AGE_COLUMN,
  ],
};
