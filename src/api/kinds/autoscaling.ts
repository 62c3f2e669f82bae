// registry.matrixinfer.ai/v1alpha1 AutoscalingPolicy (how to scale) and AutoscalingPolicyBinding (what to scale,
// within which bounds). One policy can be bound to many workloads. The autoscaler (src/controllers/autoscaler/) acts
// on bindings: it scrapes the target ModelInfer's ready pods, recommends a replica count per metric, shapes it with the
// policy's behaviour and writes the ModelInfer's scale subresource. Every default is in a field's description, so
// `kubectl explain autoscalingpolicy.spec.behavior` shows it (the behaviour itself: autoscaling-behavior.ts).
import { Type, Obj, StringEnum, Conditions, Duration, type Static } from '../schema-kit.ts';
import { AGE_COLUMN, type KindDefinition } from '../kind.ts';
import { REGISTRY_GROUP, MetricTarget } from './model.ts';
import { AutoscalingBehavior } from './autoscaling-behavior.ts';
import type { KubeObject } from '../admission.ts';


export const AutoscalingPolicySpec = Obj({
  metrics: Type.Array(MetricTarget, { minItems: 1, description: 'Metrics and per-replica targets; the largest recommendation wins.' }),
  tolerancePercent: Type.Optional(
    Type.Integer({ minimum: 0, maximum: 100, default: 10, format: 'int32', description: 'Keep the replica count while every metric is within this percent of its target. Default 10.' }),
  ),
  scaleToZeroIdle: Type.Optional(
    Duration({
      description:
        'With minReplicas 0: scale to zero after no request ran or waited on any pod for this long. Default: the scale-down stabilization window (300s). Scaling back from zero is the gateway\'s.',
    }),
  ),
  behavior: Type.Optional(AutoscalingBehavior),
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
  minReplicas: Type.Optional(Type.Integer({ minimum: 0, default: 1, format: 'int32', description: 'Lower bound; 0 allows scale to zero after the policy\'s scaleToZeroIdle.' })),
  maxReplicas: Type.Integer({ minimum: 1, format: 'int32' }),
});
export type AutoscalingPolicyBindingSpec = Static<typeof AutoscalingPolicyBindingSpec>;

/**
 * What the autoscaler is doing. Hold: no usable metrics (none yet, stale, or a target at zero waiting for the
 * gateway), the count is kept. Stable: following the metrics at the stable rates. Panic: a burst, scaling up at the
 * panic rate and never down. Forecast and Schedule are set by the predictive and the scheduled scalers.
 */
export const AutoscalingMode = StringEnum(['Hold', 'Stable', 'Panic', 'Forecast', 'Schedule'] as const);
export type AutoscalingMode = Static<typeof AutoscalingMode>;

export const MetricStatus = Obj({
  name: Type.String({ description: 'The metric as named in the policy.' }),
  value: Type.String({ description: 'Its current value: summed over ready pods for counts, averaged for usage and latency.' }),
  target: Type.String({ description: 'The per-replica target.' }),
  recommended: Type.Integer({ format: 'int32', description: 'Replicas this metric alone asks for.' }),
});

export const ScalingDecision = Obj({
  time: Type.String({ format: 'date-time' }),
  from: Type.Integer({ format: 'int32' }),
  to: Type.Integer({ format: 'int32' }),
  reason: Type.String(),
});
export type ScalingDecision = Static<typeof ScalingDecision>;

export const AutoscalingPolicyBindingStatus = Obj({
  observedGeneration: Type.Optional(Type.Integer({ format: 'int64' })),
  currentReplicas: Type.Optional(Type.Integer({ format: 'int32', description: 'spec.replicas of the target.' })),
  readyReplicas: Type.Optional(Type.Integer({ format: 'int32', description: 'Ready pods of the target; only these are scraped.' })),
  desiredReplicas: Type.Optional(Type.Integer({ format: 'int32', description: 'What the autoscaler wants now, within the bounds.' })),
  mode: Type.Optional(AutoscalingMode),
  lastScaleTime: Type.Optional(Type.String({ format: 'date-time' })),
  currentMetrics: Type.Optional(Type.Array(MetricStatus, { description: 'Each metric of the policy against its target, at the last sync.' })),
  history: Type.Optional(Type.Array(ScalingDecision, { maxItems: 10, description: 'The last scaling actions, newest last.' })),
  conditions: Type.Optional(Conditions),
});
export type AutoscalingPolicyBindingStatus = Static<typeof AutoscalingPolicyBindingStatus>;

export interface AutoscalingPolicyBinding extends KubeObject {
  spec: AutoscalingPolicyBindingSpec;
  status?: AutoscalingPolicyBindingStatus;
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
    { name: 'Current', type: 'integer', jsonPath: '.status.currentReplicas' },
    { name: 'Desired', type: 'integer', jsonPath: '.status.desiredReplicas' },
    { name: 'Mode', type: 'string', jsonPath: '.status.mode' },
    AGE_COLUMN,
  ],
};
