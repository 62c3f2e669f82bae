// workload.matrixinfer.ai/v1alpha1 ModelInfer: a set of identical engine replicas. Each replica is a group of
// pods, one set per role (a single `server` role for aggregated serving; `prefill` and `decode` roles for
// disaggregated serving), so prefill/decode pairs scale and roll together.
import { Type, Obj, StringEnum, StringMap, FreeForm, Conditions, IntOrString, type Static } from '../schema-kit.ts';
import { AGE_COLUMN, type KindDefinition } from '../kind.ts';
import type { KubeObject } from '../admission.ts';

export const WORKLOAD_GROUP = 'workload.matrixinfer.ai';

export const PodTemplate = Obj(
  {
    metadata: Type.Optional(
      Obj({
        labels: Type.Optional(StringMap(Type.String())),
        annotations: Type.Optional(StringMap(Type.String())),
      }),
    ),
    spec: FreeForm({ description: 'A core/v1 PodSpec.' }),
  },
  { description: 'Template of the pods of one role.' },
);
export type PodTemplate = Static<typeof PodTemplate>;

export const Role = Obj({
  name: Type.String({ minLength: 1, maxLength: 12, pattern: '^[a-z]([-a-z0-9]*[a-z0-9])?$', description: 'Role name: server, prefill, decode, ...' }),
  replicas: Type.Optional(Type.Integer({ minimum: 0, default: 1, format: 'int32', description: 'Pods of this role in each replica.' })),
  template: PodTemplate,
});
export type Role = Static<typeof Role>;

export const RolloutStrategy = Obj(
  {
    type: Type.Optional(StringEnum(['RollingUpdate', 'Recreate'] as const, { default: 'RollingUpdate' })),
    maxUnavailable: Type.Optional(IntOrString({ default: 1, description: 'Replicas that may be unavailable during an update (number or percent).' })),
    maxSurge: Type.Optional(IntOrString({ default: 0, description: 'Extra replicas that may be created during an update (number or percent).' })),
  },
  { description: 'How pods are replaced when the template changes.' },
);

export const ModelInferSpec = Obj({
  modelName: Type.Optional(Type.String({ description: 'Name of the Model this workload serves (informational).' })),
  replicas: Type.Optional(Type.Integer({ minimum: 0, default: 1, format: 'int32', description: 'Number of replicas (groups of role pods).' })),
  roles: Type.Array(Role, { minItems: 1, maxItems: 4, description: 'Roles of each replica.' }),
  rolloutStrategy: Type.Optional(RolloutStrategy),
});
export type ModelInferSpec = Static<typeof ModelInferSpec>;

export const ModelInferStatus = Obj({
  observedGeneration: Type.Optional(Type.Integer({ format: 'int64' })),
  replicas: Type.Optional(Type.Integer({ format: 'int32', description: 'Replicas that have at least one pod.' })),
  readyReplicas: Type.Optional(Type.Integer({ format: 'int32', description: 'Replicas whose pods are all ready.' })),
  updatedReplicas: Type.Optional(Type.Integer({ format: 'int32', description: 'Replicas running the current template.' })),
  availableReplicas: Type.Optional(Type.Integer({ format: 'int32' })),
  currentRevision: Type.Optional(Type.String()),
  labelSelector: Type.Optional(Type.String({ description: 'Selector of the pods, for the scale subresource.' })),
  conditions: Type.Optional(Conditions),
});
export type ModelInferStatus = Static<typeof ModelInferStatus>;

export interface ModelInfer extends KubeObject {
  spec: ModelInferSpec;
  status?: ModelInferStatus;
}

export const modelInferKind: KindDefinition = {
  group: WORKLOAD_GROUP,
  version: 'v1alpha1',
  kind: 'ModelInfer',
  plural: 'modelinfers',
  singular: 'modelinfer',
  shortNames: ['mi'],
  categories: ['matrixinfer'],
  scope: 'Namespaced',
  description: 'An inference workload: replicas of engine pods, grouped by role, with rolling updates.',
  spec: ModelInferSpec,
  status: ModelInferStatus,
  printerColumns: [
    { name: 'Desired', type: 'integer', jsonPath: '.spec.replicas' },
    { name: 'Ready', type: 'integer', jsonPath: '.status.readyReplicas' },
    { name: 'Updated', type: 'integer', jsonPath: '.status.updatedReplicas' },
    { name: 'Model', type: 'string', jsonPath: '.spec.modelName', priority: 1 },
    AGE_COLUMN,
  ],
  scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.labelSelector' },
};
