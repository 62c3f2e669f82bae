// The autoscaler's own decisions as Prometheus metrics, on a registry the caller owns (the controller manager's). Names
// follow kube-state-metrics' HPA series and KEDA's, with our prefix; every series carries {namespace, binding}
// (the AutoscalingPolicyBinding). With spec.variants every replica count is in capacity units (variants.ts).
//
//   matrixinfer_autoscaler_current_replicas                    count after this sync's writes (status.currentReplicas)
//   matrixinfer_autoscaler_desired_replicas                    the decision (status.desiredReplicas)
//   matrixinfer_autoscaler_ready_replicas                      ready, not warm-pool (status.readyReplicas)
//   matrixinfer_autoscaler_min_replicas / _max_replicas        the bounds in force: an open schedule window's, else the spec's
//   matrixinfer_autoscaler_mode{mode}                          1 for the current mode, 0 for the others (Hold … Schedule)
//   matrixinfer_autoscaler_metric_value{metric}                each metric's value at the last sync
//   matrixinfer_autoscaler_metric_target{metric}               its target
//   matrixinfer_autoscaler_metric_recommended_replicas{metric} what it alone asks for
//   matrixinfer_autoscaler_forecast_enabled                    1 while the forecast floor is in use (spec.predictive only)
//   matrixinfer_autoscaler_forecast_value                      the forecast metric's total at the horizon
//   matrixinfer_autoscaler_forecast_horizon_seconds            that horizon (the measured lead)
//   matrixinfer_autoscaler_forecast_recommended_replicas       the floor it asks for
//   matrixinfer_autoscaler_forecast_error_percent              its rolling MAPE
//   matrixinfer_autoscaler_scaling_actions_total{direction,mode}  syncs that changed the count: up | down
//   matrixinfer_autoscaler_scale_errors_total                  syncs whose scale write failed
//   matrixinfer_autoscaler_syncs_total{result}                 decided | invalid
//   matrixinfer_autoscaler_invalid{reason}                     1 for the reason the binding cannot be acted on
//                                                              (TargetNotFound | PolicyNotFound | InvalidSpec), else 0
//   matrixinfer_autoscaler_variant_replicas{variant}           spec.variants: each ModelInfer's replicas after the writes
//   matrixinfer_autoscaler_cost_per_hour                       spec.variants: Σ cost × replicas (the status' costPerHour)
//
// Gauges say what the last sync saw: a series the last sync did not set (a metric without a value, a forecast
// without an error yet, the decision of a binding now invalid) is removed, not left stale. Counters stay until the
// binding goes: `removed` deletes every series of the binding, and `clear` every series (a manager that lost the
// Lease reports no autoscaler series).
import { Counter, Gauge, type Registry } from 'prom-client';
import { AutoscalingMode, type AutoscalingPolicyBinding } from '../../api/kinds/index.ts';
import type { AutoscalerObserver } from './controller.ts';
import type { SyncOutcome } from './status.ts';

const PREFIX = 'matrixinfer_autoscaler_';
/** The modes, from the schema (a new mode gets its series without a change here). */
const MODES: readonly string[] = (AutoscalingMode as unknown as { enum: string[] }).enum;
const INVALID_REASONS: readonly Extract<SyncOutcome, { kind: 'invalid' }>['reason'][] = ['TargetNotFound', 'PolicyNotFound', 'InvalidSpec'];
const UNITS = 'Capacity units with spec.variants.';

type Labels = Record<string, string>;
type Metric = Gauge<string> | Counter<string>;
interface Series {
  metric: Metric;
  labels: Labels;
}
interface BindingSeries {
  gauges: Map<string, Series>;
  counters: Map<string, Series>;
}

const seriesId = (metric: Metric, extra: Labels) => `${(metric as unknown as { name: string }).name}${JSON.stringify(extra)}`;

export class AutoscalerMetrics implements AutoscalerObserver {
  readonly current: Gauge<string>;
  readonly desired: Gauge<string>;
  readonly ready: Gauge<string>;
  readonly min: Gauge<string>;
  readonly max: Gauge<string>;
  readonly mode: Gauge<string>;
  readonly metricValue: Gauge<string>;
  readonly metricTarget: Gauge<string>;
  readonly metricRecommended: Gauge<string>;
  readonly forecastEnabled: Gauge<string>;
  readonly forecastValue: Gauge<string>;
  readonly forecastHorizon: Gauge<string>;
  readonly forecastRecommended: Gauge<string>;
  readonly forecastError: Gauge<string>;
  readonly actions: Counter<string>;
  readonly scaleErrors: Counter<string>;
  readonly syncs: Counter<string>;
  readonly invalid: Gauge<string>;
  readonly variantReplicas: Gauge<string>;
  readonly cost: Gauge<string>;
  /** Series set per binding (`namespace/name`), so a binding's series can go without scanning the metrics. */
  readonly #bindings = new Map<string, BindingSeries>();

  constructor(registry: Registry) {
    const registers = [registry];
    const gauge = (name: string, help: string, extra: string[] = []) => new Gauge({ name: PREFIX + name, help, labelNames: ['namespace', 'binding', ...extra], registers });
    const counter = (name: string, help: string, extra: string[] = []) => new Counter({ name: PREFIX + name, help, labelNames: ['namespace', 'binding', ...extra], registers });
    this.current = gauge('current_replicas', `Replicas of the binding's target after the last sync's scale writes. ${UNITS}`);
    this.desired = gauge('desired_replicas', `Replicas the autoscaler decided at its last sync. ${UNITS}`);
    this.ready = gauge('ready_replicas', `Ready replicas of the target (warm-pool pods not counted) at the last sync. ${UNITS}`);
    this.min = gauge('min_replicas', `Lower replica bound in force: an open schedule window's, else the binding's minReplicas. ${UNITS}`);
    this.max = gauge('max_replicas', `Upper replica bound in force: an open schedule window's, else the binding's maxReplicas. ${UNITS}`);
    this.mode = gauge('mode', `1 for the autoscaler's mode at the last sync (${MODES.join(', ')}), 0 for the others.`, ['mode']);
    this.metricValue = gauge('metric_value', "Each scaling metric's value at the last sync (a sum over the ready pods or their average, as the metric is defined).", ['metric']);
    this.metricTarget = gauge('metric_target', "Each scaling metric's target value.", ['metric']);
    this.metricRecommended = gauge('metric_recommended_replicas', `Replicas each scaling metric alone recommended at the last sync. ${UNITS}`, ['metric']);
    this.forecastEnabled = gauge('forecast_enabled', '1 while the predictive floor is in use (enabled and its error within maxErrorPercent), else 0; only with spec.predictive.');
    this.forecastValue = gauge('forecast_value', "The forecast of the predictive metric's total at the horizon.");
    this.forecastHorizon = gauge('forecast_horizon_seconds', 'How far ahead the forecast looks (the measured scale-up-to-ready lead).');
    this.forecastRecommended = gauge('forecast_recommended_replicas', `Replicas the forecast asks for (the predictive floor). ${UNITS}`);
    this.forecastError = gauge('forecast_error_percent', "The forecast's rolling mean absolute percentage error (MAPE).");
    this.actions = counter('scaling_actions_total', 'Syncs that changed the replica count, by direction (up, down) and the mode that decided.', ['direction', 'mode']);
    this.scaleErrors = counter('scale_errors_total', 'Syncs whose write of the scale subresource failed (a Warning FailedScale Event each).');
    this.syncs = counter('syncs_total', 'Syncs of the binding: decided, or invalid (no decision: target or policy missing, invalid spec).', ['result']);
    this.invalid = gauge('invalid', `1 for the reason the binding could not be acted on at the last sync (${INVALID_REASONS.join(', ')}), else 0.`, ['reason']);
    this.variantReplicas = gauge('variant_replicas', "With spec.variants: each variant's (ModelInfer's) replicas after the last sync's writes.", ['variant']);
    this.cost = gauge('cost_per_hour', "With spec.variants: the sum of each variant's costPerReplica times its replicas, after the last sync's writes.");
  }

  synced(binding: AutoscalingPolicyBinding, outcome: SyncOutcome): void {
    const namespace = binding.metadata.namespace ?? '';
    const name = binding.metadata.name ?? '';
    const key = `${namespace}/${name}`;
    let series = this.#bindings.get(key);
    if (!series) this.#bindings.set(key, (series = { gauges: new Map(), counters: new Map() }));
    const base = { namespace, binding: name };
    const fresh = new Map<string, Series>();
    const set = (metric: Gauge<string>, value: number, extra: Labels = {}) => {
      const labels = { ...base, ...extra };
      metric.set(labels, value);
      fresh.set(seriesId(metric, extra), { metric, labels });
    };
    const inc = (metric: Counter<string>, extra: Labels = {}, by = 1) => {
      const labels = { ...base, ...extra };
      metric.inc(labels, by);
      series.counters.set(seriesId(metric, extra), { metric, labels });
    };
    // Both results and the errors from the first sync on, so a rate sees their first increase.
    for (const result of ['decided', 'invalid']) inc(this.syncs, { result }, result === outcome.kind ? 1 : 0);
    inc(this.scaleErrors, {}, outcome.kind === 'decided' && outcome.scaleError ? 1 : 0);
    for (const reason of INVALID_REASONS) set(this.invalid, outcome.kind === 'invalid' && outcome.reason === reason ? 1 : 0, { reason });
    // An invalid binding holds (its status says mode Hold) and has no decision to report.
    const mode = outcome.kind === 'invalid' ? 'Hold' : outcome.decision.mode;
    for (const m of MODES) set(this.mode, m === mode ? 1 : 0, { mode: m });

    if (outcome.kind === 'decided') {
      const { current, ready, decision, recommendation, signals, forecast, schedule, variants } = outcome;
      // As the status counts it: with variants the count reached by the writes that succeeded (pending variants can
      // hold it below the decision); else the decision, unless its write failed.
      const to = variants ? variants.reached : decision.replicas;
      const scaled = variants ? to !== current : decision.replicas !== current && !outcome.scaleError;
      if (scaled) inc(this.actions, { direction: to > current ? 'up' : 'down', mode: decision.mode });
      set(this.current, scaled ? to : current);
      set(this.desired, decision.replicas);
      set(this.ready, ready);
      set(this.min, schedule?.min ?? binding.spec.minReplicas ?? 1);
      set(this.max, schedule?.max ?? binding.spec.maxReplicas);
      // Every metric of the policy has its target; a value when it could be read; a recommendation when it was used.
      for (const s of signals) {
        if (Number.isFinite(s.target)) set(this.metricTarget, s.target, { metric: s.name });
        if (s.value !== undefined && Number.isFinite(s.value)) set(this.metricValue, s.value, { metric: s.name });
      }
      for (const m of recommendation?.metrics ?? []) set(this.metricRecommended, m.recommended, { metric: m.name });
      if (forecast) {
        set(this.forecastEnabled, forecast.enabled ? 1 : 0);
        set(this.forecastHorizon, forecast.horizonMs / 1000);
        if (forecast.value !== undefined && Number.isFinite(forecast.value)) set(this.forecastValue, forecast.value);
        if (forecast.recommended !== undefined) set(this.forecastRecommended, forecast.recommended);
        if (forecast.mape !== undefined && Number.isFinite(forecast.mape)) set(this.forecastError, forecast.mape);
      }
      if (variants) {
        for (const row of variants.rows) set(this.variantReplicas, row.current, { variant: row.name });
        set(this.cost, variants.costMilli / 1000);
      }
    }

    for (const [id, s] of series.gauges) if (!fresh.has(id)) s.metric.remove(s.labels);
    series.gauges = fresh;
  }

  removed(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const series = this.#bindings.get(key);
    if (!series) return;
    for (const s of [...series.gauges.values(), ...series.counters.values()]) s.metric.remove(s.labels);
    this.#bindings.delete(key);
  }

  /** Every binding's series gone (the controllers stopped: this manager no longer leads). */
  clear(): void {
    for (const key of [...this.#bindings.keys()]) {
      const slash = key.indexOf('/');
      this.removed(key.slice(0, slash), key.slice(slash + 1));
    }
  }
}
