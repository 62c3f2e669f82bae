// The scaling behaviour shared by the AutoscalingPolicy and the Model's `autoscaling` section: rates per period,
// stabilization windows and KPA-style panic mode. Rate defaults are not schema defaults because they differ between
// scale-up and scale-down and apply only when neither `instances` nor `percent` is given; they are in the
// descriptions so `kubectl explain` shows them, and the autoscaler applies them (controllers/autoscaler/behavior.ts).
// Its own file because model.ts and autoscaling.ts both use it and autoscaling.ts imports model.ts.
import { Type, Obj, StringEnum, Duration, type Static } from '../schema-kit.ts';

export const ScalingRate = (direction: 'up' | 'down') =>
  Obj({
    instances: Type.Optional(
      Type.Integer({
        minimum: 0,
        format: 'int32',
        description: `At most this many replicas ${direction === 'up' ? 'added' : 'removed'} per period. When neither instances nor percent is given: ${direction === 'up' ? '4 instances and 100 percent' : '100 percent'} (the HPA's defaults).`,
      }),
    ),
    percent: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 1000, format: 'int32', description: `At most this percent of the replicas at the start of the period ${direction === 'up' ? 'added' : 'removed'} per period.` }),
    ),
    selectPolicy: Type.Optional(
      StringEnum(['Max', 'Min'] as const, {
        default: 'Max',
        description: 'With both instances and percent: Max allows the larger change of the two (the most permissive, as the HPA), Min the smaller.',
      }),
    ),
    period: Type.Optional(Duration({ default: '15s', description: 'The window the rate is measured over. Default 15s.' })),
    stabilizationWindow: Type.Optional(
      Duration({
        description:
          direction === 'up'
            ? 'Scale up only to the smallest recommendation of this window. Default 0s (act at once).'
            : 'Scale down only to the largest recommendation of this window (no flapping). Default 300s, as the HPA.',
      }),
    ),
  });

export const PanicPolicy = Obj(
  {
    panicThresholdPercent: Type.Optional(Type.Integer({
      minimum: 110,
      maximum: 1000,
      default: 200,
      format: 'int32',
      description: 'Enter panic when the recommendation of the latest scrape is at least this percent of the ready replicas. Default 200.',
    })),
    panicModeHold: Type.Optional(Duration({ default: '60s', description: 'Stay in panic this long after the last scrape over the threshold; no scale-down meanwhile. Default 60s.' })),
    percent: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, default: 1000, format: 'int32', description: 'In panic, add at most this percent of the replicas per period. Default 1000.' })),
    period: Type.Optional(Duration({ default: '15s', description: 'The window the panic rate is measured over. Default 15s.' })),
  },
  { description: 'KPA-style panic mode for bursts: present means enabled (fields default as described); absent means no panic mode.' },
);

export const AutoscalingBehavior = Obj(
  {
    scaleUp: Type.Optional(
      Obj({
        stablePolicy: Type.Optional(ScalingRate('up')),
        panicPolicy: Type.Optional(PanicPolicy),
      }),
    ),
    scaleDown: Type.Optional(ScalingRate('down')),
  },
  { description: 'How fast to follow the recommendation. Scale-up: 4 instances or 100 percent per 15s, whichever is more, no window. Scale-down: 100 percent per 15s after a 300s window.' },
);
export type AutoscalingBehavior = Static<typeof AutoscalingBehavior>;
