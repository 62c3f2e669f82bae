// networking.matrixinfer.ai/v1alpha1 ModelServer: exposes the pods of a ModelInfer with routing and security policy.
import { Type, Obj, StringEnum, StringMap, Conditions, Phase, Duration, type Static } from '../schema-kit.ts';
import { AGE_COLUMN, type KindDefinition } from '../kind.ts';
import { InferenceEngine } from './model.ts';
import type { KubeObject } from '../admission.ts';

export const NETWORKING_GROUP = 'networking.matrixinfer.ai';

/** Counters shared by all gateway replicas through Redis (an atomic Lua token bucket). */
export const GlobalRateLimit = Obj(
  {
    redis: Obj({
      address: Type.String({ minLength: 1, description: 'host:port, or a redis:// / rediss:// URL.' }),
      keyPrefix: Type.Optional(Type.String({ description: 'Prefix of the bucket keys (default "matrixinfer:rl").' })),
    }),
    failureMode: Type.Optional(
      StringEnum(['open', 'closed'] as const, { default: 'open', description: 'When Redis is unreachable: open admits the request, closed answers 503.' }),
    ),
    timeout: Type.Optional(Duration({ description: 'Bound on one Redis call (default 50ms).' })),
  },
  { description: 'Share the limits across gateway replicas through Redis instead of counting per replica.' },
);
export type GlobalRateLimit = Static<typeof GlobalRateLimit>;

/** authentication.config: the fields of `jwt` and of `apiKey`. */
export const AuthenticationConfig = Obj(
  {
    issuer: Type.Optional(Type.String({ description: 'jwt: required `iss`; also the OpenID discovery base when jwksUri is unset.' })),
    audience: Type.Optional(Type.String({ description: 'jwt: required `aud` (one of audience/audiences must match when set).' })),
    audiences: Type.Optional(Type.Array(Type.String(), { description: 'jwt: accepted audiences.' })),
    jwksUri: Type.Optional(Type.String({ description: 'jwt: JWKS URL; defaults to jwks_uri of <issuer>/.well-known/openid-configuration.' })),
    algorithms: Type.Optional(Type.Array(Type.String(), { description: 'jwt: accepted `alg` values (default: RS*, PS*, ES*, EdDSA).' })),
    clockSkew: Type.Optional(Duration({ description: 'jwt: tolerance on exp/nbf/iat (default 30s).' })),
    userClaim: Type.Optional(Type.String({ description: 'jwt: claim naming the user (default sub).' })),
    groupsClaim: Type.Optional(
      Type.String({ description: 'jwt: claim listing the user\'s groups, an array or a space-separated string (default groups); read by ModelRoute authorization.' }),
    ),
    jwksCacheDuration: Type.Optional(Duration({ description: 'jwt: how long fetched keys are used before a refresh (default 10m); an unknown kid refreshes sooner.' })),
    secretName: Type.Optional(Type.String({ description: 'apiKey: Secret (same namespace, labelled networking.matrixinfer.ai/api-keys) whose data entries are user → key.' })),
    secretSelector: Type.Optional(
      Obj({ matchLabels: Type.Optional(StringMap(Type.String())) }, { description: 'apiKey: Secrets (labelled networking.matrixinfer.ai/api-keys) selected by labels.' }),
    ),
    header: Type.Optional(Type.String({ description: 'apiKey: header carrying the key (default Authorization: Bearer <key>).' })),
  },
  { description: 'Type-specific settings: jwt {issuer, audience, jwksUri, ...}, apiKey {secretName | secretSelector, header}.' },
);
export type AuthenticationConfig = Static<typeof AuthenticationConfig>;

/** How the gateway picks a pod (filters → weighted scorers → pick); on a ModelServer, or as a ModelRoute override. */
export const SchedulingSpec = Obj(
  {
    policy: Type.Optional(
      StringEnum(['default', 'round-robin', 'random', 'least-request', 'prefix-affinity', 'session-affinity'] as const, {
        default: 'default',
        description:
          'default: expected time to first token (prompt tokens queued on the pod + the uncached part of this prompt, at the pod\'s measured prefill rate) + LoRA affinity (+ session affinity when sessionAffinity is set); ' +
          'prefix-affinity: prefix-cache with load guard + in-flight; session-affinity: consistent hash of a header (or cookie) + in-flight; ' +
          'least-request: fewest in-flight requests; round-robin; random.',
      }),
    ),
    scorers: Type.Optional(
      Type.Array(
        Obj({
          name: StringEnum(['ttft', 'prefix-cache', 'queue', 'running', 'kv-cache', 'least-request', 'lora-affinity', 'session-affinity'] as const),
          weight: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, default: 1, format: 'int32' })),
        }),
        { maxItems: 16, description: "Replaces the policy's scorers (the policy still chooses the picker: random for `random`, else highest score with round-robin ties)." },
      ),
    ),
    prefixCache: Type.Optional(
      Obj({
        blockChars: Type.Optional(Type.Integer({ minimum: 16, maximum: 8192, format: 'int32', description: 'Characters per hashed prompt block (default 128).' })),
        maxBlocks: Type.Optional(Type.Integer({ minimum: 1, maximum: 16384, format: 'int32', description: 'Blocks hashed per request (default 4096: the first 512 KiB of the prompt).' })),
        capacityBlocks: Type.Optional(
          Type.Integer({ minimum: 0, maximum: 1048576, format: 'int32',  description: "Blocks remembered per pod (LRU); 0 (default) sizes it from the engine's KV capacity." }),
        ),
        loadGuard: Type.Optional(
          Obj(
            {
              enabled: Type.Optional(Type.Boolean({ default: true })),
              absolute: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000, format: 'int32', description: 'Allowed excess load in requests (default 4).' })),
              relative: Type.Optional(Type.Number({ minimum: 0, maximum: 100, description: 'Allowed excess load as a fraction of the mean load (default 0.5).' })),
            },
            { description: 'A pod loses its prefix credit when its load exceeds the least-loaded candidate by more than max(absolute, relative × mean).' },
          ),
        ),
      }),
    ),
    sessionAffinity: Type.Optional(
      Obj({
        header: Type.String({ minLength: 1, description: 'Header whose value is hashed onto the pods, e.g. x-session-id or x-user-id.' }),
        cookie: Type.Optional(Type.String({ minLength: 1, description: 'Cookie whose value is hashed the same way when the request has no such header, e.g. session_id.' })),
      }),
    ),
  },
  { description: 'Pod selection policy.' },
);
export type SchedulingSpec = Static<typeof SchedulingSpec>;

export const ModelServerSpec = Obj({
  modelInferRef: Obj({
    name: Type.String({ minLength: 1, description: 'Name of the ModelInfer resource.' }),
    namespace: Type.Optional(Type.String({ description: 'Namespace of the ModelInfer; defaults to the ModelServer namespace.' })),
  }),
  model: Type.Optional(Type.String({ description: 'Model name the engines serve; requests are rewritten to it. Defaults to the requested name.' })),
  inferenceEngine: Type.Optional(InferenceEngine),
  service: Obj({
    type: Type.Optional(StringEnum(['ClusterIP', 'NodePort', 'LoadBalancer'] as const, { default: 'ClusterIP' })),
    port: Type.Integer({ minimum: 1, maximum: 65535, format: 'int32', description: 'Service port. The Service leads to the gateway pods, which apply this ModelServer\'s policy.' }),
    targetPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, format: 'int32', description: 'Engine port on the pods, where the gateway sends requests; defaults to the pod\'s first containerPort, else port.' })),
    annotations: Type.Optional(StringMap(Type.String())),
  }),
  routing: Type.Optional(
    Obj({
      path: Type.Optional(Type.String({ pattern: '^/', description: 'URL path of the model endpoint, e.g. /v1/models/llama-7b.' })),
      timeout: Type.Optional(Duration({ description: 'Time allowed until the first response byte.' })),
      retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, format: 'int32', description: 'Retry attempts on another pod (default 1).' })),
      circuitBreaker: Type.Optional(
        Obj({
          consecutiveFailures: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, format: 'int32', description: 'Consecutive failed attempts that eject a pod (default 5).' })),
          baseEjectionTime: Type.Optional(Duration({ description: 'First ejection period; doubles on each further ejection (default 5s).' })),
          maxEjectionTime: Type.Optional(Duration({ description: 'Cap on the ejection period (default 60s).' })),
        }),
      ),
    }),
  ),
  rateLimit: Type.Optional(
    Obj({
      enabled: Type.Optional(Type.Boolean()),
      requestsPerSecond: Type.Optional(Type.Integer({ minimum: 1, format: 'int32' })),
      burstSize: Type.Optional(Type.Integer({ minimum: 1, format: 'int32', description: 'Bucket capacity; defaults to requestsPerSecond.' })),
      global: Type.Optional(GlobalRateLimit),
    }),
  ),
  authentication: Type.Optional(
    Obj({
      enabled: Type.Optional(Type.Boolean()),
      type: Type.Optional(StringEnum(['jwt', 'apiKey'] as const)),
      config: Type.Optional(AuthenticationConfig),
    }),
  ),
  tls: Type.Optional(
    Obj({
      enabled: Type.Optional(Type.Boolean()),
      secretName: Type.Optional(Type.String()),
    }),
  ),
  scheduling: Type.Optional(SchedulingSpec),
  pdDisaggregation: Type.Optional(
    Obj(
      {
        prefillRole: Type.Optional(Type.String({ description: 'Value of workload.matrixinfer.ai/role on prefill pods (default prefill).' })),
        decodeRole: Type.Optional(Type.String({ description: 'Value of workload.matrixinfer.ai/role on decode pods (default decode).' })),
        groupLabel: Type.Optional(Type.String({ description: 'Label pairing prefill and decode pods (default workload.matrixinfer.ai/group-index).' })),
      },
      { description: 'Prefill/decode disaggregation: each request is prefilled on a prefill pod of the decode pod\'s group, then decoded with the returned kv_transfer_params.' },
    ),
  ),
});
export type ModelServerSpec = Static<typeof ModelServerSpec>;

export const ModelServerStatus = Obj({
  phase: Type.Optional(Phase),
  serviceEndpoint: Type.Optional(Type.String()),
  readyEndpoints: Type.Optional(Type.Integer({ format: 'int32', description: 'Ready engine pods behind this server.' })),
  observedGeneration: Type.Optional(Type.Integer({ format: 'int64' })),
  conditions: Type.Optional(Conditions),
});
export type ModelServerStatus = Static<typeof ModelServerStatus>;

export interface ModelServer extends KubeObject {
  spec: ModelServerSpec;
  status?: ModelServerStatus;
}

/**
 * The gateway's key for `routing.path` (trailing slashes dropped), undefined when unset. The oldest ModelServer
 * with a path owns it (servesPathBefore); the gateway gives the others' seed paths no route.
 */
export function routingPath(spec: Pick<ModelServerSpec, 'routing'> | undefined): string | undefined {
  const path = spec?.routing?.path;
  if (typeof path !== 'string' || !path.startsWith('/')) return undefined;
  let out = path;
  while (out.length > 1 && out.endsWith('/')) out = out.slice(0, -1);
  return out;
}

type Aged = { metadata: { creationTimestamp?: unknown; namespace?: string; name?: string } };

/** Age order, as the gateway builds its table (ModelServers, ModelRoutes): creationTimestamp, then namespace/name. */
export function olderFirst(a: Aged, b: Aged): number {
  const millis = ({ metadata: { creationTimestamp: t } }: Aged) => (t instanceof Date ? t.getTime() : typeof t === 'string' ? Date.parse(t) || 0 : 0);
  const d = millis(a) - millis(b);
  if (d !== 0) return d;
  const ka = `${a.metadata.namespace ?? ''}/${a.metadata.name ?? ''}`;
  const kb = `${b.metadata.namespace ?? ''}/${b.metadata.name ?? ''}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

export const modelServerKind: KindDefinition = {
  group: NETWORKING_GROUP,
  version: 'v1alpha1',
  kind: 'ModelServer',
  plural: 'modelservers',
  singular: 'modelserver',
  shortNames: ['ms'],
  categories: ['matrixinfer'],
  scope: 'Namespaced',
  description: 'Exposes the engine pods of a ModelInfer through the gateway, with routing, rate-limit, authentication and TLS policy.',
  spec: ModelServerSpec,
  status: ModelServerStatus,
  printerColumns: [
    { name: 'ModelInfer', type: 'string', jsonPath: '.spec.modelInferRef.name' },
    { name: 'Path', type: 'string', jsonPath: '.spec.routing.path' },
    { name: 'Endpoints', type: 'integer', jsonPath: '.status.readyEndpoints' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
    { name: 'Endpoint', type: 'string', jsonPath: '.status.serviceEndpoint', priority: 1 },
    AGE_COLUMN,
  ],
};
