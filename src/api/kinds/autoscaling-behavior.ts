// The scaling behaviour shared by the AutoscalingPolicy and the Model's `autoscaling` section: rates per period,
// stabilization windows and KPA-style panic mode. Rate defaults are not schema defaults because they differ between
// scale-up and scale-down and apply only when neither `instances` nor `percent` is given; they are in the
// descriptions so `kubectl explain` shows them, and the autoscaler applies them (controllers/autoscaler/behavior.ts).
// Also the predictive section (AutoscalingPolicy spec.predictive) and the schedule windows (AutoscalingPolicyBinding
// spec.schedules), which the Model's `autoscaling` section passes through to the policy and binding it creates.
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

export const PredictiveScaling = Obj(
  {
    enabled: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'Hold replicas at or above ceil(forecast(now + lead) / target of metricName), taken as max with the reactive recommendation (so rates and windows apply), only while the forecast error (MAPE) is at most maxErrorPercent. Default false.',
      }),
    ),
    method: Type.Optional(
      StringEnum(['SeasonalNaive', 'HoltWinters'] as const, {
        default: 'HoltWinters',
        description: 'SeasonalNaive: the demand one season ago (mean over `seasons`). HoltWinters: additive level, trend and season with fixed smoothing. Default HoltWinters.',
      }),
    ),
    metricName: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Which of spec.metrics is forecast: its total over ready pods is the demand, its target the capacity of one replica. Best a demand such as num_requests. Default: the first metric.',
      }),
    ),
    seasonLength: Type.Optional(Duration({ default: '24h', description: 'Length of one season (the demand repeats after it), at least two sync periods. Default 24h.' })),
    seasons: Type.Optional(Type.Integer({ minimum: 1, maximum: 7, default: 1, format: 'int32', description: 'Seasons of history kept (SeasonalNaive averages them). Default 1.' })),
    lead: Type.Optional(
      Duration({
        description: 'How far ahead to forecast, instead of the measured scale-up-to-ready time (median of the last 9); one sync period is added. Default: measured, 120s until the first measurement.',
      }),
    ),
    maxErrorPercent: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, default: 30, format: 'int32', description: 'The forecast is used only while its rolling MAPE is at most this. Default 30.' }),
    ),
  },
  { description: 'Predictive scaling: a forecast of the demand sets a floor under the reactive recommendation. Off unless enabled.' },
  )
export type PredictiveScaling = Static<typeof PredictiveScaling>;

export const ScheduleWindows = Type.Array(
  Obj({
    name: Type.String({ minLength: 1, maxLength: 63, description: 'Unique in the list; status.schedule.active names open windows by it.' }),
    cron: Type.String({ minLength: 1, description: 'When the window opens: 5-field cron (minute hour day-of-month month day-of-week) or @daily, @hourly…, read in timeZone.' }),
    duration: Duration({ description: 'How long the window stays open (elapsed time), e.g. 9h.' }),
    timeZone: Type.Optional(Type.String({ minLength: 1, default: 'UTC', description: 'IANA time zone of the cron, e.g. Europe/Berlin. Default UTC.' })),
    minReplicas: Type.Optional(Type.Integer({ minimum: 0, format: 'int32', description: 'Lower bound while open (the largest of the open windows wins); raised at once, not at the scale-up rate.' })),
    maxReplicas: Type.Optional(Type.Integer({ minimum: 0, format: 'int32', description: 'Upper bound while open, replacing spec.maxReplicas (the largest of the open windows wins).' })),
  }),
  {
    maxItems: 16,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['name'],
    description: 'Time windows that replace minReplicas and/or maxReplicas while open. At least one of the two per window.',
  },
);
