// The autoscaler controller: per AutoscalingPolicyBinding, every sync period, scrape the target ModelInfer's READY
// pods, run the pure functions (signals.ts → recommend.ts → compose.ts with forecast.ts and schedule.ts →
// behavior.ts → status.ts), write the ModelInfer's scale
// subresource and the binding's status. It acts only through the Kubernetes API and runs in the controller manager
// under its Lease, like the other controllers.
//
// Rules:
//  - Sources (signals.ts): the engine pods are scraped here; the gateways, metrics.k8s.io and Prometheus are read
//    by readings.ts, only when a metric of the policy needs them.
//  - Only ready pods are scraped; samples of pods that left the ready set are dropped at once. A pod whose scrape
//    fails keeps its last sample until it is older than `staleAfterPeriods` sync periods. With no fresh sample at
//    all the target holds. With some pods stale, the values are partial: they may only raise the count (the load
//    of a pod that does not answer is unknown, and guessing it zero would scale down on garbage).
//  - A binding is synced at most once per period: its own status writes (watch events) do not shorten the period,
//    which is also the latency histograms' window. Spec changes of the binding sync at once.
//  - History (behavior.ts ScalerState) lives in memory per binding and survives policy and binding edits; a new
//    leader starts fresh, which behaviour treats as evidence against scaling down.
//  - Predictive (policy spec.predictive): one forecaster per binding, rebuilt when method, period or season change.
//    Every sync it observes the forecast metric's total over the ready pods, but only when every ready pod has a
//    fresh sample (a partial total would teach it a false dip); it observes while disabled too, so it is warm when
//    enabled. The lead is measured from our scale-ups to the ready count reaching them.
//  - Schedules (binding spec.schedules): the bounds in force come from boundsAt at each sync; a binding is synced
//    again as soon as a window opens or closes (nextTransition), not only on the period.
//  - Heterogeneous cost (binding spec.variants): the ModelInfers' ready pods are scraped together and every count
//    of the pipeline is in capacity units (variants.ts has the units and the distribution rules); one decision for
//    the binding, then one scale write and one `Scaled` Event per variant that changes. A variant with pending pods
//    is not scaled up; as for a single target, pods not ready also hold off scale-down (PodsStarting) — until the
//    binding's provisionTimeout: then the variant is stuck (a `VariantStuck` Warning), its pending replicas are
//    released and it gets none for as long again (variants.ts `stuck`).
//  - One Event per scaling action on the binding (`Scaled`, its message naming the mode and the reason: the
//    metric, the forecast or the window), one Warning per failed write (`FailedScale`); Events when the forecast
//    turns on or off (`ForecastEnabled`/`ForecastDisabled`) and when a window opens or closes (`ScheduleOpened`/
//    `ScheduleClosed`).
import type { AutoscalingPolicy, AutoscalingPolicyBinding, ModelInfer, ScalingVariant } from '../../api/kinds/index.ts';
import type { KubeObject } from '../../api/admission.ts';
import { MODELINFER_NAME_LABEL, WARM_LABEL } from '../../api/labels.ts';
import { patchStatus } from '../../kube/apply.ts';
import type { KubeClient } from '../../kube/client.ts';
import { Controller } from '../../kube/controller.ts';
import type { EventRecorder } from '../../kube/events.ts';
import type { InformerFactory } from '../../kube/informer.ts';
import { errorMessage, type Logger } from '../../kube/log.ts';
import { isDeleting, isPodReady, splitKey } from '../../kube/objects.ts';
import { AUTOSCALING_POLICIES, AUTOSCALING_POLICY_BINDINGS, MODEL_INFERS, PODS } from '../resources.ts';
import { MODELINFER_PODS } from '../modelinfer/controller.ts';
import { newState, type Decision, type ScalerState } from './behavior.ts';
import { compose, demandOf, forecasterSpec, DEFAULT_LEAD_MS } from './compose.ts';
import { createForecaster, forecastFloor, leadSteps, medianLead, recordReady, recordScaleDown, recordScaleUp, EMPTY_LEAD, type Forecaster, type LeadState } from './forecast.ts';
import { boundsAt, nextTransition } from './schedule.ts';
import { parseDuration } from '../../kube/units.ts';
import { recommend } from './recommend.ts';
import { busy, readPod, signalValues, sourcesOf, type PodSample, type SignalInputs } from './signals.ts';
import { GatewayView } from './gateway-view.ts';
import { readExternal, type ReadingsDeps } from './readings.ts';
import { defaultGatewayLocation } from '../networking/controller.ts';
import { gatewayEndpoints, type GatewayLocation } from '../networking/service.ts';
import { bindingStatus, formatValue, type ForecastOutcome, type SyncOutcome, type VariantsOutcome } from './status.ts';
import { capacityOf, costOf, distribute, formatCost, parseCost, stuck, targetsOf, type VariantState } from './variants.ts';

export interface AutoscalerOptions {
  /** How often each binding is synced, ms (default 15 000, the HPA's). */
  syncPeriodMs?: number;
  /** A pod's last good scrape counts for this many periods (default 3). */
  staleAfterPeriods?: number;
  /** Per-scrape timeout, ms (default min(period, 2000)). */
  scrapeTimeoutMs?: number;
  /** Where the gateways are, for the gateway_* metrics (default: the chart's gateway pods, as the networking controllers). */
  gateway?: GatewayLocation;
  /** Prometheus base URL for `prometheus` metrics that name no address. */
  prometheusUrl?: string;
}

export interface AutoscalerDeps {
  client: KubeClient;
  informers: InformerFactory;
  recorder: EventRecorder;
  logger?: Logger;
  workers?: number;
  options?: AutoscalerOptions;
  /** Told every sync's outcome (after the scale writes) and every binding's removal: the autoscaler's own metrics. */
  observer?: AutoscalerObserver;
}

export interface AutoscalerObserver {
  synced(binding: AutoscalingPolicyBinding, outcome: SyncOutcome): void;
  removed(namespace: string, name: string): void;
}

interface PodScrape {
  sample: PodSample;
  at: number;
  /** The sample of the scrape before, for latency windows. */
  previous?: PodSample;
}

interface BindingState {
  scaler: ScalerState;
  pods: Map<string, PodScrape>;
  lastSync: number;
  generation: number | undefined;
  /** The forecaster and the measured lead, with the key of the options it was built with. */
  forecast?: { key: string; forecaster: Forecaster; lead: LeadState; on: boolean };
  /** Names of the windows open at the last sync. */
  windows: string[];
  /** When a schedule window next opens or closes (ms): sync then even within the period. */
  transitionAt: number | undefined;
  /** spec.variants: since when each variant has had replicas not ready, and until when a stuck one is in back-off. */
  pendingSince: Map<string, number>;
  stuckUntil: Map<string, number>;
}

interface PodLike extends KubeObject {
  spec?: { containers?: { ports?: { containerPort?: number }[] }[] };
  status?: { podIP?: string };
}

const DEFAULT_ENGINE_PORT = 8000;

/** The period, or sooner when a schedule window opens or closes before it ends. */
function untilNext(state: BindingState, now: number, periodLeft: number): number {
  return state.transitionAt === undefined ? periodLeft : Math.max(0, Math.min(periodLeft, state.transitionAt - now));
}

/** A variant of spec.variants as the cost distribution sees it: its counts now (pending: replicas not ready). */
function variantState(variant: ScalingVariant, mi: ModelInfer, ready: readonly PodLike[]): VariantState {
  const current = mi.spec.replicas ?? 1;
  const readyCount = ready.filter((p) => p.metadata.labels?.[MODELINFER_NAME_LABEL] === variant.targetRef.name).length;
  return {
    name: variant.targetRef.name,
    costMilli: parseCost(String(variant.costPerReplica)) ?? 0,
    weight: variant.capacityWeight ?? 1,
    min: variant.minReplicas ?? 0,
    max: variant.maxReplicas ?? Infinity,
    current,
    pending: Math.max(0, current - readyCount),
  };
}

export function createAutoscalerController(deps: AutoscalerDeps): Controller {
  const { client, informers, recorder } = deps;
  const periodMs = deps.options?.syncPeriodMs ?? 15_000;
  const staleMs = (deps.options?.staleAfterPeriods ?? 3) * periodMs;
  const timeoutMs = deps.options?.scrapeTimeoutMs ?? Math.min(periodMs, 2000);
  const bindings = informers.informer<AutoscalingPolicyBinding>(AUTOSCALING_POLICY_BINDINGS);
  const policies = informers.informer<AutoscalingPolicy>(AUTOSCALING_POLICIES);
  const modelInfers = informers.informer<ModelInfer>(MODEL_INFERS);
  const pods = informers.informer<PodLike>(PODS, MODELINFER_PODS);
  const states = new Map<string, BindingState>();
  const gateway = deps.options?.gateway ?? defaultGatewayLocation();
  // Gateway pods live in the gateway's namespace, whatever namespace the controllers watch (the informer is shared
  // with the ModelServer controller's).
  const gatewayPods = gateway.addresses?.length ? undefined : informers.informer(PODS, { namespace: gateway.namespace, labelSelector: gateway.selector });
  const readings: ReadingsDeps = {
    client,
    gateway: new GatewayView({ timeoutMs, staleMs, reuseMs: periodMs / 2 }),
    gatewayUrls: () => gatewayEndpoints(gateway, gatewayPods?.list(gateway.namespace) ?? []).map((e) => `http://${e.address.includes(':') ? `[${e.address}]` : e.address}:${gateway.port}/metrics`),
    ...(deps.options?.prometheusUrl ? { prometheusUrl: deps.options.prometheusUrl } : {}),
    timeoutMs,
  };

  async function scrape(pod: PodLike): Promise<PodSample | null> {
    const port = pod.spec?.containers?.[0]?.ports?.[0]?.containerPort ?? DEFAULT_ENGINE_PORT;
    try {
      const res = await fetch(`http://${pod.status!.podIP}:${port}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
      const text = await res.text();
      return res.ok ? readPod(text, 'vllm') : null;
    } catch {
      return null;
    }
  }

  async function sync(key: string, binding: AutoscalingPolicyBinding, state: BindingState): Promise<SyncOutcome> {
    const { namespace } = splitKey(key);
    const policy = policies.get(namespace, binding.spec.policyRef.name);
    if (!policy) return { kind: 'invalid', reason: 'PolicyNotFound', message: `AutoscalingPolicy ${binding.spec.policyRef.name} not found` };
    const targets = targetsOf(binding.spec);
    if (!targets) return { kind: 'invalid', reason: 'InvalidSpec', message: 'exactly one of targetRef or variants must be set' };
    // One ModelInfer, or the variants': everything below counts capacity units (weight 1 each for a single target).
    const refs = targets.kind === 'single' ? [{ name: targets.name, weight: 1 }] : targets.variants.map((v) => ({ name: v.targetRef.name, weight: v.capacityWeight ?? 1 }));
    const infers: ModelInfer[] = [];
    for (const ref of refs) {
      const mi = modelInfers.get(namespace, ref.name);
      if (!mi || isDeleting(mi)) return { kind: 'invalid', reason: 'TargetNotFound', message: `ModelInfer ${ref.name} not found` };
      infers.push(mi);
    }
    const weights = new Map(refs.map((r) => [r.name, r.weight]));
    const min = binding.spec.minReplicas ?? 1;
    const max = binding.spec.maxReplicas;
    if (min > max) return { kind: 'invalid', reason: 'InvalidSpec', message: `minReplicas ${min} is above maxReplicas ${max}` };

    // Warm-pool pods (ModelInfer spec.warmPool) are Ready but serve nothing: neither capacity nor load.
    const ready = pods.list().filter(
      (p) => p.metadata.namespace === namespace && weights.has(p.metadata.labels?.[MODELINFER_NAME_LABEL] ?? '') && !isDeleting(p) && isPodReady(p) && !!p.status?.podIP && p.metadata.labels?.[WARM_LABEL] !== 'true',
    );
    const podUnits = new Map(ready.map((p) => [p.metadata.name!, weights.get(p.metadata.labels![MODELINFER_NAME_LABEL]!)!]));
    const units = (names: Iterable<string>) => [...names].reduce((sum, name) => sum + (podUnits.get(name) ?? 0), 0);
    const readyUnits = units(podUnits.keys());
    const names = new Set(ready.map((p) => p.metadata.name!));
    for (const name of state.pods.keys()) if (!names.has(name)) state.pods.delete(name);
    const now = Date.now();
    const scraped = await Promise.all(ready.map(async (p) => [p.metadata.name!, await scrape(p)] as const));
    for (const [name, sample] of scraped) {
      if (!sample) continue;
      const before = state.pods.get(name);
      state.pods.set(name, { sample, at: now, ...(before ? { previous: before.sample } : {}) });
    }
    const fresh = new Map<string, PodSample>();
    const previous = new Map<string, PodSample>();
    for (const [name, s] of state.pods) {
      if (now - s.at > staleMs) continue;
      fresh.set(name, s.sample);
      if (s.previous) previous.set(name, s.previous);
    }
    // spec.variants: each variant's counts, a stuck one capped at what is ready; its pending replicas are not part
    // of the count the pipeline keeps (they would hold every scale-down as pods still starting).
    const timeoutMs = parseDuration(binding.spec.provisionTimeout ?? '10m') ?? 600_000;
    const variantStates =
      targets.kind === 'variants'
        ? targets.variants.map((v, i) => {
            const s = variantState(v, infers[i]!, ready);
            return isStuck(binding, state, s, now, timeoutMs) ? stuck(s) : s;
          })
        : undefined;
    const current = variantStates
      ? capacityOf(variantStates, variantStates.map((v) => Math.min(v.current, v.max)))
      : infers.reduce((sum, mi, i) => sum + refs[i]!.weight * (mi.spec.replicas ?? 1), 0);
    const readyNames = ready.map((p) => p.metadata.name!);
    const external = await readExternal(readings, policy.spec.metrics, sourcesOf(policy.spec.metrics), { namespace, targets: refs.map((r) => r.name), pods: readyNames, now });
    const inputs: SignalInputs = { ready: readyNames, engine: fresh, previous, ...external };
    const values = signalValues(policy.spec.metrics, inputs);
    const recommendation = recommend(values, readyUnits, current, policy.spec.tolerancePercent ?? 10);

    const predictive = policy.spec.predictive;
    let forecast: ForecastOutcome | undefined;
    if (predictive) {
      const spec = forecasterSpec(predictive, periodMs);
      if (state.forecast?.key !== spec.key) state.forecast = { key: spec.key, forecaster: createForecaster(spec.options), lead: state.forecast?.lead ?? EMPTY_LEAD, on: false };
      const f = state.forecast;
      const metric = values.find((v) => v.name === (predictive.metricName ?? policy.spec.metrics[0]?.metricName));
      // Only a complete reading teaches the forecaster (a partial total would look like a dip in demand).
      const demand = ready.length > 0 && !metric?.partial ? demandOf(metric, readyUnits) : undefined;
      if (demand !== undefined) f.forecaster.observe(now, demand);
      f.lead = recordReady(f.lead, now, readyUnits);
      const configured = predictive.lead !== undefined ? parseDuration(predictive.lead) : undefined;
      const steps = leadSteps(configured ?? medianLead(f.lead), DEFAULT_LEAD_MS, periodMs);
      const floor = forecastFloor({ forecaster: f.forecaster, leadSteps: steps, capacityPerReplica: metric?.target ?? NaN, maxErrorPercent: predictive.maxErrorPercent ?? 30 });
      const enabled = predictive.enabled === true && floor !== undefined;
      if (enabled !== f.on) {
        const mape = f.forecaster.error();
        recorder.event(binding, 'Normal', enabled ? 'ForecastEnabled' : 'ForecastDisabled', enabled ? `forecast in use, error ${formatValue(mape ?? 0)}%` : `forecast not used${mape !== undefined ? `: error ${formatValue(mape)}%` : ''}`);
        f.on = enabled;
      }
      forecast = { enabled, horizonMs: steps * periodMs, value: f.forecaster.forecast(steps), recommended: floor, mape: f.forecaster.error() };
    }

    const schedules = binding.spec.schedules ?? [];
    const nowDate = new Date(now);
    const bounds = boundsAt(schedules, { min, max }, nowDate);
    state.transitionAt = nextTransition(schedules, nowDate)?.getTime();
    for (const name of bounds.active) if (!state.windows.includes(name)) recorder.event(binding, 'Normal', 'ScheduleOpened', `window ${name} open: replicas ${bounds.min} to ${bounds.max}`);
    for (const name of state.windows) if (!bounds.active.includes(name)) recorder.event(binding, 'Normal', 'ScheduleClosed', `window ${name} closed`);
    state.windows = bounds.active;

    const result = compose(
      {
        now,
        current,
        ready: readyUnits,
        base: { min, max },
        bounds,
        reactive: recommendation?.replicas,
        ...(recommendation ? { why: `${recommendation.winner.name} ${formatValue(recommendation.winner.value)} (target ${recommendation.winner.targetText} per replica)` } : {}),
        floor: forecast?.enabled ? forecast.recommended : undefined,
        busy: busy(inputs),
        behavior: policy.spec.behavior,
        ...(policy.spec.scaleToZeroIdle ? { scaleToZeroIdle: policy.spec.scaleToZeroIdle } : {}),
      },
      state.scaler,
    );
    const { decision } = result;
    let scaleError: string | undefined;
    let variantsOutcome: VariantsOutcome | undefined;
    if (targets.kind === 'variants') {
      ({ outcome: variantsOutcome, error: scaleError } = await scaleVariants(binding, namespace, variantStates!, decision, state.stuckUntil));
      if (!scaleError) state.scaler = result.state;
      if (state.forecast && variantsOutcome.reached > current) state.forecast.lead = recordScaleUp(state.forecast.lead, now, variantsOutcome.reached);
      else if (state.forecast && variantsOutcome.reached < current) state.forecast.lead = recordScaleDown(state.forecast.lead, variantsOutcome.reached);
    } else if (decision.replicas !== current) {
      const target = infers[0]!;
      try {
        await client.patchScale(MODEL_INFERS, namespace, target.metadata.name!, decision.replicas);
        state.scaler = result.state;
        if (state.forecast) state.forecast.lead = decision.replicas > current ? recordScaleUp(state.forecast.lead, now, decision.replicas) : recordScaleDown(state.forecast.lead, decision.replicas);
        recorder.event(binding, 'Normal', 'Scaled', `Scaled ModelInfer ${target.metadata.name} from ${current} to ${decision.replicas} (${decision.mode}: ${decision.reason})`);
      } catch (err) {
        scaleError = errorMessage(err);
        recorder.event(binding, 'Warning', 'FailedScale', `ModelInfer ${target.metadata.name} to ${decision.replicas}: ${scaleError}`);
      }
    } else {
      state.scaler = result.state;
    }
    return {
      kind: 'decided',
      current,
      ready: readyUnits,
      decision,
      recommendation,
      signals: values,
      ...(forecast ? { forecast } : {}),
      ...(schedules.length > 0 ? { schedule: bounds } : {}),
      ...(scaleError ? { scaleError } : {}),
      ...(variantsOutcome ? { variants: variantsOutcome } : {}),
    };
  }

  /**
   * spec.variants: the decided total → replicas per variant (variants.ts), one scale write per variant that
   * changes and one Event each. A failed write leaves that variant as it was and the others written.
   */
  /**
   * Whether a variant is stuck: replicas not ready for the provision timeout (an Event, and a back-off as long
   * starts), or still in that back-off. A variant that is all ready again ends its back-off early.
   */
  function isStuck(binding: AutoscalingPolicyBinding, state: BindingState, v: VariantState, now: number, timeoutMs: number): boolean {
    if (v.pending === 0) state.pendingSince.delete(v.name);
    else if (!state.pendingSince.has(v.name)) state.pendingSince.set(v.name, now);
    const until = state.stuckUntil.get(v.name);
    if (until !== undefined && now < until) return true;
    if (until !== undefined) state.stuckUntil.delete(v.name);
    const since = state.pendingSince.get(v.name);
    if (since === undefined || now - since < timeoutMs) return false;
    state.stuckUntil.set(v.name, now + timeoutMs);
    state.pendingSince.delete(v.name);
    const minutes = formatValue(timeoutMs / 60_000);
    recorder.event(binding, 'Warning', 'VariantStuck', `ModelInfer ${v.name}: ${v.pending} replicas not ready for ${minutes}m; releasing them and adding none there for ${minutes}m (the next cheapest variant takes the load)`);
    return true;
  }

  async function scaleVariants(binding: AutoscalingPolicyBinding, namespace: string, variants: VariantState[], decision: Decision, stuckUntil: ReadonlyMap<string, number>): Promise<{ outcome: VariantsOutcome; error?: string }> {
    const plan = distribute(decision.replicas, variants);
    const after = variants.map((v) => v.current);
    const errors: string[] = [];
    for (const [i, v] of variants.entries()) {
      const to = plan.desired[i]!;
      if (to === v.current) continue;
      const why = to > v.current ? 'cheapest per capacity unit with room first' : 'most expensive per capacity unit first';
      try {
        await client.patchScale(MODEL_INFERS, namespace, v.name, to);
        after[i] = to;
        recorder.event(binding, 'Normal', 'Scaled', `Scaled ModelInfer ${v.name} from ${v.current} to ${to} (${decision.mode}: ${decision.reason}; cost ${formatCost(v.costMilli)}/replica, ${why})`);
      } catch (err) {
        errors.push(`${v.name}: ${errorMessage(err)}`);
        recorder.event(binding, 'Warning', 'FailedScale', `ModelInfer ${v.name} to ${to}: ${errorMessage(err)}`);
      }
    }
    const rows = variants.map((v, i) => {
      const until = stuckUntil.get(v.name);
      return {
        name: v.name,
        current: after[i]!,
        ready: v.current - v.pending,
        pending: v.pending,
        desired: plan.desired[i]!,
        ...(until !== undefined ? { stuckUntil: new Date(until).toISOString().replace(/\.\d{3}Z$/, 'Z') } : {}),
        costPerReplica: formatCost(v.costMilli),
        capacityWeight: v.weight,
      };
    });
    const outcome: VariantsOutcome = { rows, reached: capacityOf(variants, after), short: plan.short, costMilli: costOf(variants, after) };
    return errors.length > 0 ? { outcome, error: errors.join('; ') } : { outcome };
  }

  async function reconcile(key: string) {
    const { namespace, name } = splitKey(key);
    const binding = bindings.get(namespace, name);
    if (!binding || isDeleting(binding)) {
      if (states.delete(key)) deps.observer?.removed(namespace, name);
      return;
    }
    let state = states.get(key);
    if (!state) states.set(key, (state = { scaler: newState(), pods: new Map(), lastSync: 0, generation: undefined, windows: [], transitionAt: undefined, pendingSince: new Map(), stuckUntil: new Map() }));
    const now = Date.now();
    const since = now - state.lastSync;
    const transitionDue = state.transitionAt !== undefined && now >= state.transitionAt;
    if (since < periodMs && state.generation === binding.metadata.generation && !transitionDue) return { requeueAfterMs: untilNext(state, now, periodMs - since) };
    state.lastSync = Date.now();
    state.generation = binding.metadata.generation;
    const outcome = await sync(key, binding, state);
    deps.observer?.synced(binding, outcome);
    await patchStatus(client, AUTOSCALING_POLICY_BINDINGS, binding, bindingStatus(binding, outcome, new Date()) as Record<string, unknown>);
    return { requeueAfterMs: untilNext(state, Date.now(), periodMs) };
  }

  const controller = new Controller({ name: 'autoscaler', reconcile, workers: deps.workers, logger: deps.logger });
  controller.watchPrimary(bindings);
  // A new or edited policy concerns every binding naming it; the target and pods are read on the period.
  controller.watch(policies, (policy) =>
    bindings
      .list()
      .filter((b) => b.metadata.namespace === policy.metadata.namespace && b.spec.policyRef.name === policy.metadata.name)
      .map((b) => `${b.metadata.namespace}/${b.metadata.name}`),
  );
  controller.watch(modelInfers, () => undefined); // synced before the first reconcile
  controller.watch(pods, () => undefined);
  return controller;
}
