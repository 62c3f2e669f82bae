// networking.matrixinfer.ai/v1alpha1 ModelServer: exposes the pods of a ModelInfer with routing and security policy.
import { Type, Obj, StringEnum, StringMap, FreeForm, Conditions, Phase, Duration, type Static } from '../schema-kit.ts';
import { AGE_COLUMN, type KindDefinition } from '../kind.ts';
import { InferenceEngine } from './model.ts';
import type { KubeObject } from '../admission.ts';

export const NETWORKING_GROUP = 'networking.matrixinfer.ai';

export const ModelServerSpec = Obj({
  modelInferRef: Obj({
    name: Type.String({ minLength: 1, description: 'Name of the ModelInfer resource.' }),
    namespace: Type.Optional(Type.String({ description: 'Namespace of the ModelInfer; defaults to the ModelServer namespace.' })),
  }),
  model: Type.Optional(Type.String({ description: 'Model name the engines serve; requests are rewritten to it. Defaults to the requested name.' })),
  inferenceEngine: Type.Optional(InferenceEngine),
  service: Obj({
    type: Type.Optional(StringEnum(['ClusterIP', 'NodePort', 'LoadBalancer'] as const, { default: 'ClusterIP' })),
    port: Type.Integer({ minimum: 1, maximum: 65535, format: 'int32', description: 'Service port.' }),
    targetPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, format: 'int32', description: 'Engine port on the pods; defaults to port.' })),
    annotations: Type.Optional(StringMap(Type.String())),
  }),
  routing: Type.Optional(
    Obj({
      path: Type.String({ pattern: '^/', description: 'URL path of the model endpoint, e.g. /v1/models/llama-7b.' }),
      timeout: Type.Optional(Duration({ description: 'Time allowed until the first response byte.' })),
      retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, format: 'int32', description: 'Retry attempts on another pod.' })),
    }),
  ),
  rateLimit: Type.Optional(
    Obj({
      enabled: Type.Optional(Type.Boolean()),
      requestsPerSecond: Type.Optional(Type.Integer({ minimum: 1, format: 'int32' })),
      burstSize: Type.Optional(Type.Integer({ minimum: 1, format: 'int32' })),
    }),
  ),
  authentication: Type.Optional(
    Obj({
      enabled: Type.Optional(Type.Boolean()),
      type: Type.Optional(StringEnum(['jwt', 'apiKey'] as const)),
      config: Type.Optional(FreeForm({ description: 'Type-specific settings (issuer, audience, jwksUri, secretName, ...).' })),
    }),
  ),
  tls: Type.Optional(
    Obj({
      enabled: Type.Optional(Type.Boolean()),
      secretName: Type.Optional(Type.String()),
    }),
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
