// registry.matrixinfer.ai/v1alpha1 AutoscalingPolicy (how to scale) and AutoscalingPolicyBinding (what to scale,
// within which bounds). One policy can be bound to many workloads.
import { Type, Obj, StringEnum, Conditions, Duration, type Static } from '../schema-kit.ts';
import { AGE_COLUMN, type KindDefinition } from '../kind.ts';
import { REGISTRY_GROUP, MetricTarget } from './model.ts';
import type { KubeObject } from '../admission.ts';

const ScalingRate = Obj({
  instances: Type.Optional(Type.Integer({ minimum: 0, format: 'int32', description: 'At most this many replicas per period.' })),
  percent: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, format: 'int32', description: 'At most this percent of current replicas per period.' })),
  period: Type.Optional(Duration({ default: '15s' })),
  stabilizationWindow: Type.Optional(Duration({ description: 'Recommendations over this window are considered before acting.' })),
});

export const AutoscalingPolicySpec = Obj({
  metrics: Type.Array(MetricTarget, { minItems: 1, description: 'Metrics and per-replica targets; the largest recommendation wins.' }),
  tolerancePercent: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, default: 10, format: 'int32' })),
  behavior: Type.Optional(
    Obj({
      scaleUp: Type.Optional(
        Obj({
          stablePolicy: Type.Optional(ScalingRate),
          panicPolicy: Type.Optional(
            Obj({
              panicThresholdPercent: Type.Optional(Type.Integer({ minimum: 110, maximum: 1000, default: 200, format: 'int32' })),
              panicModeHold: Type.Optional(Duration({ default: '60s' })),
              percent: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, default: 1000, format: 'int32' })),
              period: Type.Optional(Duration({ default: '15s' })),
            }),
          ),
        }),
      ),
      scaleDown: Type.Optional(ScalingRate),
    }),
  ),
});
export type AutoscalingPolicySpec = Static<typeof AutoscalingPolicySpec>;

export const AutoscalingPolicyStatus = Obj({
  observedGeneration: Type.Optional(Type.Integer({ format: 'int64' })),
  conditions: Type.Optional(Conditions),
});

export interface AutoscalingPolicy extends KubeObject {
  spec: AutoscalingPolicySpec;
  status?: Static<typeof AutoscalingPolicyStatus>;
}

export const autoscalingPolicyKind: KindDefinition = {
  group: REGISTRY_GROUP,
  version: 'v1alpha1',
  kind: 'AutoscalingPolicy',
  plural: 'autoscalingpolicies',
  singular: 'autoscalingpolicy',
  shortNames: ['asp'],
  categories: ['matrixinfer'],
  scope: 'Namespaced',
  description: 'How to autoscale: metrics with per-replica targets, tolerance and scaling behaviour.',
  spec: AutoscalingPolicySpec,
  status: AutoscalingPolicyStatus,
  printerColumns: [{ name: 'Metric', type: 'string', jsonPath: '.spec.metrics[0].metricName' }, AGE_COLUMN],
};

export const AutoscalingPolicyBindingSpec = Obj({
  policyRef: Obj({ name: Type.String({ minLength: 1, description: 'AutoscalingPolicy in the same namespace.' }) }),
  targetRef: Obj({
    kind: Type.Optional(StringEnum(['ModelInfer'] as const, { default: 'ModelInfer' })),
    name: Type.String({ minLength: 1 }),
  }),
  minReplicas: Type.Optional(Type.Integer({ minimum: 0, default: 1, format: 'int32' })),
  maxReplicas: Type.Integer({ minimum: 1, format: 'int32' }),
});
export type AutoscalingPolicyBindingSpec = Static<typeof AutoscalingPolicyBindingSpec>;

export const AutoscalingPolicyBindingStatus = Obj({
  observedGeneration: Type.Optional(Type.Integer({ format: 'int64' })),
  currentReplicas: Type.Optional(Type.Integer({ format: 'int32' })),
  desiredReplicas: Type.Optional(Type.Integer({ format: 'int32' })),
  lastScaleTime: Type.Optional(Type.String({ format: 'date-time' })),
  conditions: Type.Optional(Conditions),
});

export interface AutoscalingPolicyBinding extends KubeObject {
  spec: AutoscalingPolicyBindingSpec;
  status?: Static<typeof AutoscalingPolicyBindingStatus>;
}

export const autoscalingPolicyBindingKind: KindDefinition = {
  group: REGISTRY_GROUP,
  version: 'v1alpha1',
  kind: 'AutoscalingPolicyBinding',
  plural: 'autoscalingpolicybindings',
  singular: 'autoscalingpolicybinding',
  shortNames: ['aspb'],
  categories: ['matrixinfer'],
  scope: 'Namespaced',
  description: 'Binds an AutoscalingPolicy to a ModelInfer with replica bounds.',
  spec: AutoscalingPolicyBindingSpec,
  status: AutoscalingPolicyBindingStatus,
  printerColumns: [
    { name: 'Policy', type: 'string', jsonPath: '.spec.policyRef.name' },
    { name: 'Target', type: 'string', jsonPath: '.spec.targetRef.name' },
    { name: 'Min', type: 'integer', jsonPath: '.spec.minReplicas' },
    { name: 'Max', type: 'integer', jsonPath: '.spec.maxReplicas' },
    { name: 'Desired', type: 'integer', jsonPath: '.status.desiredReplicas' },
    AGE_COLUMN,
  ],
};
