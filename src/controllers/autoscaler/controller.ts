// The autoscaler controller: per AutoscalingPolicyBinding, every sync period, scrape the target ModelInfer's READY
// pods, run the pure functions (signals.ts → recommend.ts → compose.ts with forecast.ts and schedule.ts →
// behavior.ts → status.ts), write the ModelInfer's scale
// subresource and the binding's status. It acts only through the Kubernetes API and runs in the controller manager
// under its Lease, like the other controllers.
//
// Rules:
//  - Only ready pods are scraped; samples of pods that left the ready set are dropped at once. A pod whose scrape
//    fails keeps its last sample until it is older than `staleAfterPeriods` sync periods. With no fresh sample at
//    all the target holds. With some pods stale, the fresh ones' recommendation may only raise the count (the load
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
//  - One Event per scaling action on the binding (`Scaled`, its message naming the mode and the reason: the
//    metric, the forecast or the window), one Warning per failed write (`FailedScale`); Events when the forecast
//    turns on or off (`ForecastEnabled`/`ForecastDisabled`) and when a window opens or closes (`ScheduleOpened`/
//    `ScheduleClosed`).
import type { AutoscalingPolicy, AutoscalingPolicyBinding, ModelInfer } from '../../api/kinds/index.ts';
import type { KubeObject } from '../../api/admission.ts';
import { MODELINFER_NAME_LABEL } from '../../api/labels.ts';
import { patchStatus } from '../../kube/apply.ts';
import type { KubeClient } from '../../kube/client.ts';
import { Controller } from '../../kube/controller.ts';
import type { EventRecorder } from '../../kube/events.ts';
import type { InformerFactory } from '../../kube/informer.ts';
import { errorMessage, type Logger } from '../../kube/log.ts';
import { isDeleting, isPodReady, splitKey } from '../../kube/objects.ts';
import { AUTOSCALING_POLICIES, AUTOSCALING_POLICY_BINDINGS, MODEL_INFERS, PODS } from '../resources.ts';
import { MODELINFER_PODS } from '../modelinfer/controller.ts';
import { newState, type ScalerState } from './behavior.ts';
import { compose, demandOf, forecasterSpec, DEFAULT_LEAD_MS } from './compose.ts';
import { createForecaster, forecastFloor, leadSteps, medianLead, recordReady, recordScaleDown, recordScaleUp, EMPTY_LEAD, type Forecaster, type LeadState } from './forecast.ts';
import { boundsAt, nextTransition } from './schedule.ts';
import { parseDuration } from '../../kube/units.ts';
import { recommend } from './recommend.ts';
import { busy, readPod, signalValues, type PodSample } from './signals.ts';
import { bindingStatus, formatValue, type ForecastOutcome, type SyncOutcome } from './status.ts';

export interface AutoscalerOptions {
  /** How often each binding is synced, ms (default 15 000, the HPA's). */
  syncPeriodMs?: number;
  /** A pod's last good scrape counts for this many periods (default 3). */
  staleAfterPeriods?: number;
  /** Per-scrape timeout, ms (default min(period, 2000)). */
  scrapeTimeoutMs?: number;
}

export interface AutoscalerDeps {
  client: KubeClient;
  informers: InformerFactory;
  recorder: EventRecorder;
  logger?: Logger;
  workers?: number;
  options?: AutoscalerOptions;
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
    const target = modelInfers.get(namespace, binding.spec.targetRef.name);
    if (!target || isDeleting(target)) return { kind: 'invalid', reason: 'TargetNotFound', message: `ModelInfer ${binding.spec.targetRef.name} not found` };
    const min = binding.spec.minReplicas ?? 1;
    const max = binding.spec.maxReplicas;
    if (min > max) return { kind: 'invalid', reason: 'InvalidSpec', message: `minReplicas ${min} is above maxReplicas ${max}` };

    const ready = pods.list().filter(
      (p) => p.metadata.namespace === namespace && p.metadata.labels?.[MODELINFER_NAME_LABEL] === target.metadata.name && !isDeleting(p) && isPodReady(p) && !!p.status?.podIP,
    );
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
    const current = target.spec.replicas ?? 1;
    const values = signalValues(policy.spec.metrics, fresh, previous);
    let recommendation = recommend(values, fresh.size, current, policy.spec.tolerancePercent ?? 10);
    if (recommendation && fresh.size < ready.length && recommendation.replicas < current) recommendation = { ...recommendation, replicas: current };

    const predictive = policy.spec.predictive;
    let forecast: ForecastOutcome | undefined;
    if (predictive) {
      const spec = forecasterSpec(predictive, periodMs);
      if (state.forecast?.key !== spec.key) state.forecast = { key: spec.key, forecaster: createForecaster(spec.options), lead: state.forecast?.lead ?? EMPTY_LEAD, on: false };
      const f = state.forecast;
      const metric = values.find((v) => v.name === (predictive.metricName ?? policy.spec.metrics[0]?.metricName));
      const demand = ready.length > 0 && fresh.size === ready.length ? demandOf(metric, fresh.size) : undefined;
      if (demand !== undefined) f.forecaster.observe(now, demand);
      f.lead = recordReady(f.lead, now, ready.length);
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
        ready: ready.length,
        base: { min, max },
        bounds,
        reactive: recommendation?.replicas,
        floor: forecast?.enabled ? forecast.recommended : undefined,
        busy: busy(fresh),
        behavior: policy.spec.behavior,
        ...(policy.spec.scaleToZeroIdle ? { scaleToZeroIdle: policy.spec.scaleToZeroIdle } : {}),
      },
      state.scaler,
    );
    const { decision } = result;
    let scaleError: string | undefined;
    if (decision.replicas !== current) {
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
      ready: ready.length,
      decision,
      recommendation,
      ...(forecast ? { forecast } : {}),
      ...(schedules.length > 0 ? { schedule: bounds } : {}),
      ...(scaleError ? { scaleError } : {}),
    };
  }

  async function reconcile(key: string) {
    const { namespace, name } = splitKey(key);
    const binding = bindings.get(namespace, name);
    if (!binding || isDeleting(binding)) {
      states.delete(key);
      return;
    }
    let state = states.get(key);
    if (!state) states.set(key, (state = { scaler: newState(), pods: new Map(), lastSync: 0, generation: undefined, windows: [], transitionAt: undefined }));
    const now = Date.now();
    const since = now - state.lastSync;
    const transitionDue = state.transitionAt !== undefined && now >= state.transitionAt;
    if (since < periodMs && state.generation === binding.metadata.generation && !transitionDue) return { requeueAfterMs: untilNext(state, now, periodMs - since) };
    state.lastSync = Date.now();
    state.generation = binding.metadata.generation;
    const outcome = await sync(key, binding, state);
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
