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

export const DEFAULT_MAX_SURGE = '25%';
export const DEFAULT_MAX_UNAVAILABLE = '25%';

export const RolloutStrategy = Obj(
  {
    type: Type.Optional(StringEnum(['RollingUpdate', 'Recreate'] as const, { default: 'RollingUpdate' })),
    maxUnavailable: Type.Optional(
      IntOrString({
        default: DEFAULT_MAX_UNAVAILABLE,
        description:
          'RollingUpdate: replicas that may be unavailable during an update, below spec.replicas: a number or a percentage of ' +
          'spec.replicas rounded down (default 25%). May be 0 when maxSurge is not; both 0 is invalid.',
      }),
    ),
    maxSurge: Type.Optional(
      IntOrString({
        default: DEFAULT_MAX_SURGE,
        description:
          'RollingUpdate: extra replicas that may be created above spec.replicas during an update (surge replicas take the ' +
          'next group indexes and are removed when the update is done): a number or a percentage of spec.replicas rounded up ' +
          '(default 25%: a single replica is replaced only once its surge replica is ready).',
      }),
    ),
  },
  { description: 'How pods are replaced when the template changes; maxSurge and maxUnavailable as in a Deployment.' },
);
export type RolloutStrategy = Static<typeof RolloutStrategy>;

/**
 * An int-or-percent of `total` as Kubernetes resolves it (GetScaledValueFromIntOrPercent): a count, or `N%` of
 * total rounded up or down. Undefined for anything else (a negative or fractional count, a string without `%`).
 */
export function scaledIntOrPercent(value: number | string, total: number, roundUp: boolean): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  const percent = /^(\d+)%$/.exec(value);
  if (!percent) return undefined;
  const scaled = (total * Number(percent[1])) / 100;
  return roundUp ? Math.ceil(scaled) : Math.floor(scaled);
}

/**
 * maxSurge and maxUnavailable as replica counts, as a Deployment resolves them (ResolveFenceposts): surge rounded up,
 * unavailable rounded down, the defaults for absent (or invalid) values, and maxUnavailable 1 when both come to 0
 * (a rollout must be able to move).
 */
export function resolveFenceposts(strategy: Pick<RolloutStrategy, 'maxSurge' | 'maxUnavailable'> | undefined, replicas: number): { maxSurge: number; maxUnavailable: number } {
  const maxSurge =
    scaledIntOrPercent(strategy?.maxSurge ?? DEFAULT_MAX_SURGE, replicas, true) ?? scaledIntOrPercent(DEFAULT_MAX_SURGE, replicas, true)!;
  const maxUnavailable =
    scaledIntOrPercent(strategy?.maxUnavailable ?? DEFAULT_MAX_UNAVAILABLE, replicas, false) ??
    scaledIntOrPercent(DEFAULT_MAX_UNAVAILABLE, replicas, false)!;
  return { maxSurge, maxUnavailable: maxSurge === 0 && maxUnavailable === 0 ? 1 : maxUnavailable };
}

export const WarmPool = Obj(
  {
    replicas: Type.Optional(
      Type.Integer({
        minimum: 0,
        default: 0,
        format: 'int32',
        description:
          'Replicas started beyond spec.replicas but not served: they take the next group indexes, carry the label ' +
          'workload.matrixinfer.ai/warm=true (the gateway never routes to them) and sleep once ready. Raising spec.replicas ' +
          'claims them first (wake up, label removed: seconds instead of a cold start); lowering it turns served replicas ' +
          'back into warm ones. Counted apart in status.warmReplicas. Default 0.',
      }),
    ),
    sleepLevel: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 2,
        default: 1,
        format: 'int32',
        description:
          "vLLM sleep level of warm replicas (POST /sleep?level=N): 1 offloads the weights to host memory (fastest wake-up), " +
          '2 discards them (less host memory, slower wake-up). Pods get --enable-sleep-mode and VLLM_SERVER_DEV_MODE=1 while ' +
          'a warm pool is set; an engine without sleep mode stays warm awake. Default 1.',
      }),
    ),
  },
  { description: 'Warm pool: replicas started ahead of demand and kept out of routing, asleep.' },
);
export type WarmPool = Static<typeof WarmPool>;

export const ModelInferSpec = Obj({
  modelName: Type.Optional(Type.String({ description: 'Name of the Model this workload serves (informational).' })),
  replicas: Type.Optional(Type.Integer({ minimum: 0, default: 1, format: 'int32', description: 'Number of replicas (groups of role pods).' })),
  roles: Type.Array(Role, { minItems: 1, maxItems: 4, description: 'Roles of each replica.' }),
  rolloutStrategy: Type.Optional(RolloutStrategy),
  warmPool: Type.Optional(WarmPool),
});
export type ModelInferSpec = Static<typeof ModelInferSpec>;

export const ModelInferStatus = Obj({
  observedGeneration: Type.Optional(Type.Integer({ format: 'int64' })),
  replicas: Type.Optional(
    Type.Integer({
      format: 'int32',
      description: 'Replicas with at least one pod that is not terminating, surge replicas included: as for a Deployment, may exceed spec.replicas during a rolling update.',
    }),
  ),
  readyReplicas: Type.Optional(Type.Integer({ format: 'int32', description: 'Replicas whose pods are all ready, surge replicas included.' })),
  updatedReplicas: Type.Optional(Type.Integer({ format: 'int32', description: 'Replicas whose pods all run the current template, surge replicas included.' })),
  availableReplicas: Type.Optional(Type.Integer({ format: 'int32', description: 'Replicas available to serve (all pods ready), surge replicas included.' })),
  warmReplicas: Type.Optional(
    Type.Integer({ format: 'int32', description: 'Warm-pool replicas (spec.warmPool) whose pods are all ready, asleep or about to be; not counted in the fields above.' }),
  ),
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
    { name: 'Warm', type: 'integer', jsonPath: '.status.warmReplicas', priority: 1 },
    { name: 'Model', type: 'string', jsonPath: '.spec.modelName', priority: 1 },
    AGE_COLUMN,
  ],
  scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.labelSelector' },
};
