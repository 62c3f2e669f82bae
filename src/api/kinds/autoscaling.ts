// registry.matrixinfer.ai/v1alpha1 AutoscalingPolicy (how to scale) and AutoscalingPolicyBinding (what to scale,
// within which bounds). One policy can be bound to many workloads. The autoscaler (src/controllers/autoscaler/) acts
// on bindings: it scrapes the target ModelInfer's ready pods, recommends a replica count per metric, shapes it with the
// policy's behaviour and writes the ModelInfer's scale subresource. Every default is in a field's description, so
// `kubectl explain autoscalingpolicy.spec.behavior` shows it (the behaviour itself: autoscaling-behavior.ts).
// Predictive scaling (policy spec.predictive) and schedule windows (binding spec.schedules) are read by
// src/controllers/autoscaler/{forecast,schedule,compose}.ts. Heterogeneous cost (binding spec.variants instead of
// targetRef): src/controllers/autoscaler/variants.ts.
import { Type, Obj, StringEnum, Conditions, Duration, type Static } from '../schema-kit.ts';
import { AGE_COLUMN, type KindDefinition } from '../kind.ts';
import { REGISTRY_GROUP, MetricTarget } from './model.ts';
import { AutoscalingBehavior, PredictiveScaling, ScheduleWindows } from './autoscaling-behavior.ts';
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
  predictive: Type.Optional(PredictiveScaling),
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

const TargetRef = Obj(
  {
    kind: Type.Optional(StringEnum(['ModelInfer'] as const, { default: 'ModelInfer' })),
    name: Type.String({ minLength: 1 }),
  },
  { description: 'The ModelInfer in the same namespace, scaled through its scale subresource.' },
);

/**
 * A cost as a decimal with at most three decimals (e.g. "2.49" per hour): read exactly as integer milli-units
 * (variants.ts parseCost), so the cost order never depends on float rounding, and the CRD pattern refuses anything else.
 */
export const CostPerReplica = Type.String({
  pattern: '^(0|[1-9][0-9]{0,8})(\\.[0-9]{1,3})?$',
  description: 'Cost of one replica per hour (any currency, the same for every variant), a decimal string with at most three decimals, e.g. "2.49". Capacity is added where cost / capacityWeight is lowest and removed where it is highest.',
});

export const ScalingVariant = Obj({
  targetRef: TargetRef,
  costPerReplica: CostPerReplica,
  capacityWeight: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 1,
      format: 'int32',
      description: 'Relative throughput of one replica in capacity units (an H100 replica 2 where an A100 one is 1); whole numbers, so write 1.5× as 2 and 3. Default 1.',
    }),
  ),
  minReplicas: Type.Optional(Type.Integer({ minimum: 0, default: 0, format: 'int32', description: 'Replicas this variant keeps whatever the total. Default 0.' })),
  maxReplicas: Type.Optional(Type.Integer({ minimum: 0, format: 'int32', description: 'Replicas this variant never exceeds (its hardware quota). Default: only the binding\'s total bounds it.' })),
});
export type ScalingVariant = Static<typeof ScalingVariant>;

export const AutoscalingPolicyBindingSpec = Obj({
  policyRef: Obj({ name: Type.String({ minLength: 1, description: 'AutoscalingPolicy in the same namespace.' }) }),
  targetRef: Type.Optional(TargetRef),
  variants: Type.Optional(
    Type.Array(ScalingVariant, {
      minItems: 1,
      maxItems: 16,
      description:
        'Instead of targetRef: ModelInfers of the same model on different hardware, scaled as one. The policy\'s metrics are read over all their ready pods together and recommend a total in capacity units (sum of capacityWeight × replicas); the cheapest capacity per unit is added first, the most expensive removed first, and a variant with pods not yet ready is never scaled further. Exactly one of targetRef and variants.',
    }),
  ),
  minReplicas: Type.Optional(
    Type.Integer({ minimum: 0, default: 1, format: 'int32', description: 'Lower bound; 0 allows scale to zero after the policy\'s scaleToZeroIdle. With variants: of the total capacity units.' }),
  ),
  maxReplicas: Type.Integer({ minimum: 1, format: 'int32', description: 'Upper bound. With variants: of the total capacity units (sum of capacityWeight × replicas).' }),
  schedules: Type.Optional(ScheduleWindows),
  provisionTimeout: Type.Optional(
    // No schema default: it only means something with variants, and the Model controller's bindings stay as written.
    Duration({
      description:
        'With variants: a variant whose replicas stay not ready this long (its hardware is not there: quota, no nodes) is stuck. Its pending replicas are released (down to its minReplicas) and it gets no more for as long again, so the next cheapest variant takes the load and scale-down is not held by pods that never start. Default 10m.',
    }),
  ),
});
export type AutoscalingPolicyBindingSpec = Static<typeof AutoscalingPolicyBindingSpec>;

/**
 * What the autoscaler is doing. Hold: no usable metrics (none yet, stale, or a target at zero waiting for the
 * gateway), the count is kept. Stable: following the metrics at the stable rates. Panic: a burst, scaling up at the
 * panic rate and never down. Forecast: the forecast floor decided (above the reactive recommendation). Schedule:
 * an open schedule window's bound decided.
 */
export const AutoscalingMode = StringEnum(['Hold', 'Stable', 'Panic', 'Forecast', 'Schedule'] as const);
export type AutoscalingMode = Static<typeof AutoscalingMode>;

export const MetricStatus = Obj({
  name: Type.String({ description: 'The metric as named in the policy.' }),
  value: Type.Optional(Type.String({ description: 'Its current value: summed over ready pods for counts and rates, averaged for usage and latency. Absent when unreadable.' })),
  target: Type.String({ description: 'The per-replica target.' }),
  recommended: Type.Optional(Type.Integer({ format: 'int32', description: 'Replicas this metric alone asks for.' })),
  partial: Type.Optional(Type.Boolean({ description: 'The value covers only some ready pods (a scrape missing): it may raise the count, never lower it.' })),
  error: Type.Optional(Type.String({ description: 'Why the metric could not be read at the last sync.' })),
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
  forecast: Type.Optional(
    Obj({
      enabled: Type.Boolean({ description: 'The forecast is in use: enough history and an error within maxErrorPercent.' }),
      horizon: Type.String({ description: 'How far ahead the forecast looks (lead plus one period).' }),
      value: Type.Optional(Type.String({ description: 'The forecast demand at now + horizon.' })),
      recommended: Type.Optional(Type.Integer({ format: 'int32', description: 'Replicas that demand needs (the floor, when enabled).' })),
      mape: Type.Optional(Type.String({ description: 'Rolling mean absolute percentage error of the forecasts at the horizon.' })),
    }),
  ),
  schedule: Type.Optional(
    Obj({
      active: Type.Array(Type.String(), { description: 'Names of the open windows.' }),
      effectiveMin: Type.Integer({ format: 'int32', description: 'The lower bound in force.' }),
      effectiveMax: Type.Integer({ format: 'int32', description: 'The upper bound in force.' }),
    }),
  ),
  history: Type.Optional(Type.Array(ScalingDecision, { maxItems: 10, description: 'The last scaling actions, newest last.' })),
  variants: Type.Optional(
    Type.Array(
      Obj({
        name: Type.String({ description: 'The variant\'s ModelInfer.' }),
        current: Type.Integer({ format: 'int32', description: 'Its spec.replicas after this sync\'s write.' }),
        ready: Type.Integer({ format: 'int32', description: 'Its ready pods.' }),
        pending: Type.Integer({ format: 'int32', description: 'Replicas not ready (starting, or stuck on hardware that is not there); while above 0 the variant is not scaled up.' }),
        desired: Type.Integer({ format: 'int32', description: 'What the cost distribution gave it.' }),
        stuckUntil: Type.Optional(Type.String({ format: 'date-time', description: 'Set while the variant is in back-off after its replicas stayed not ready for spec.provisionTimeout: it keeps its ready replicas and gets no more until then.' })),
        costPerReplica: CostPerReplica,
        capacityWeight: Type.Integer({ format: 'int32' }),
      }),
      { description: 'With spec.variants: each variant at the last sync, in spec order. The counts of currentReplicas, readyReplicas and desiredReplicas are then capacity units.' },
    ),
  ),
  costPerHour: Type.Optional(Type.String({ description: 'With spec.variants: the sum of costPerReplica × current replicas, in the variants\' cost unit per hour.' })),
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
  description: 'Binds an AutoscalingPolicy to a ModelInfer, or to several ModelInfers of one model with a cost each, with replica bounds.',
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
