// The ModelInfer controller: creates, replaces and deletes the engine pods of each ModelInfer (plan.ts) and
// reports their state (status.ts). Pods are created unbound (no spec.nodeName): a scheduler, or the local node
// agent, binds them.
//
// Warm pool (spec.warmPool, plan.ts): the controller is the only writer of the warm label. It reaches the engines
// through the pod IP on the first container's first port (default 8000), as the autoscaler's scrape does:
//  - sleep: a ready warm pod, once idle (vLLM's num_requests_running + waiting = 0 on /metrics: a demoted group may
//    still finish requests routed before its label), gets POST /sleep?level=N and the annotation
//    SLEEP_LEVEL_ANNOTATION=N; an engine without sleep mode (400/404) gets 0 and stays warm awake;
//  - promote (a claim): POST /wake_up, which answers once awake, then the label and the annotation are removed in
//    one patch, and only then does the gateway route to the pod;
//  - demote: the label is added (the gateway stops routing at once); the sleep follows on a later reconcile.
// While a warm pool is set every pod is created with sleep mode (`--enable-sleep-mode` appended to the first
// container's args, VLLM_SERVER_DEV_MODE=1 in its env), so any group can move into the pool and out of it; the
// revision hashes the templates only, so this is not a rollout.
import type { KubeObject } from '../../api/admission.ts';
import { parseEngineMetrics } from '../../api/engine-metrics/parse.ts';
import { WORKLOAD_GROUP, type ModelInfer, type Role } from '../../api/kinds/index.ts';
import { GROUP_INDEX_LABEL, MODELINFER_NAME_LABEL, REVISION_LABEL, ROLE_LABEL, SLEEP_LEVEL_ANNOTATION, WARM_LABEL } from '../../api/labels.ts';
import { patchStatus } from '../../kube/apply.ts';
import { isConflict, type KubeClient } from '../../kube/client.ts';
import { Controller, toController, type ReconcileResult } from '../../kube/controller.ts';
import type { EventRecorder } from '../../kube/events.ts';
import type { InformerFactory } from '../../kube/informer.ts';
import { errorMessage, type Logger } from '../../kube/log.ts';
import { controllerRef, isControlledBy, isDeleting, isPodReady, splitKey } from '../../kube/objects.ts';
import { MODEL_INFERS, PODS } from '../resources.ts';
import { computeRevision, parsePodName, planPods, type PlanInput, type PodState } from './plan.ts';
import { computeModelInferStatus, podFailure } from './status.ts';

export interface ModelInferControllerDeps {
  client: KubeClient;
  informers: InformerFactory;
  recorder: EventRecorder;
  logger?: Logger;
  workers?: number;
  /** Timeout of the engine calls of the warm pool (POST /sleep, /wake_up, GET /metrics), ms; default 120 s. */
  engineTimeoutMs?: number;
}

const DEFAULT_ENGINE_PORT = 8000;

interface ContainerLike {
  args?: string[];
  env?: { name: string; value?: string }[];
  ports?: { containerPort?: number }[];
}

/** The first container with sleep mode on (vLLM: `--enable-sleep-mode` and VLLM_SERVER_DEV_MODE=1), unless set. */
function withSleepMode(spec: Record<string, unknown>): void {
  const container = (spec.containers as ContainerLike[] | undefined)?.[0];
  if (!container) return;
  const args = container.args ?? [];
  if (!args.includes('--enable-sleep-mode')) container.args = [...args, '--enable-sleep-mode'];
  const env = container.env ?? [];
  if (!env.some((e) => e.name === 'VLLM_SERVER_DEV_MODE')) container.env = [...env, { name: 'VLLM_SERVER_DEV_MODE', value: '1' }];
}

/** Informer options for the pods of all ModelInfers (shared with other controllers). */
export const MODELINFER_PODS = { labelSelector: MODELINFER_NAME_LABEL };

/** A pod of `role` in group g, from the role's template. */
export function buildPod(mi: ModelInfer, role: Role, group: number, name: string, revision: string, warm = false): KubeObject {
  const template = role.template;
  const spec = structuredClone(template.spec ?? {}) as Record<string, unknown>;
  if ((mi.spec.warmPool?.replicas ?? 0) > 0) withSleepMode(spec);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: mi.metadata.namespace ?? 'default',
      labels: {
        ...(template.metadata?.labels ?? {}),
        [MODELINFER_NAME_LABEL]: mi.metadata.name!,
        [GROUP_INDEX_LABEL]: String(group),
        [ROLE_LABEL]: role.name,
        [REVISION_LABEL]: revision,
        ...(warm ? { [WARM_LABEL]: 'true' } : {}),
      },
      ...(template.metadata?.annotations ? { annotations: { ...template.metadata.annotations } } : {}),
      ownerReferences: [controllerRef(mi)],
    },
    spec,
  };
}

export function podState(mi: string, pod: KubeObject): PodState | undefined {
  const parsed = parsePodName(mi, pod.metadata.name ?? '');
  if (!parsed) return undefined;
  const failure = podFailure(pod);
  const sleepLevel = pod.metadata.annotations?.[SLEEP_LEVEL_ANNOTATION];
  return {
    name: pod.metadata.name!,
    uid: pod.metadata.uid,
    ...parsed,
    revision: pod.metadata.labels?.[REVISION_LABEL] ?? '',
    phase: (pod.status as { phase?: string } | undefined)?.phase ?? '',
    ready: isPodReady(pod),
    deleting: isDeleting(pod),
    ...(failure ? { failure } : {}),
    ...(pod.metadata.labels?.[WARM_LABEL] === 'true' ? { warm: true } : {}),
    ...(sleepLevel !== undefined && /^[0-2]$/.test(sleepLevel) ? { sleepLevel: Number(sleepLevel) } : {}),
  };
}

/** Base URL of a pod's engine (first container's first port), or undefined without a pod IP. */
function engineUrl(pod: KubeObject): string | undefined {
  const ip = (pod.status as { podIP?: string } | undefined)?.podIP;
  if (!ip) return undefined;
  const port = ((pod.spec as { containers?: ContainerLike[] } | undefined)?.containers?.[0]?.ports?.[0]?.containerPort) ?? DEFAULT_ENGINE_PORT;
  return `http://${ip}:${port}`;
}

/** Requests running or waiting on an engine (its /metrics), or undefined when unknown. */
function engineLoad(metrics: string): number | undefined {
  const parsed = parseEngineMetrics(metrics, 'vllm');
  return parsed ? parsed.waiting + parsed.running : undefined;
}

export function createModelInferController(deps: ModelInferControllerDeps): Controller {
  const { client, informers, recorder } = deps;
  const engineTimeoutMs = deps.engineTimeoutMs ?? 120_000;
  const modelInfers = informers.informer<ModelInfer>(MODEL_INFERS);
  const pods = informers.informer(PODS, MODELINFER_PODS);

  async function reconcile(key: string): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    const mi = modelInfers.get(namespace, name);
    if (!mi || isDeleting(mi)) return;
    const roles = mi.spec.roles ?? [];
    const revision = computeRevision(roles);
    const owned = pods
      .list(namespace)
      .filter((p) => p.metadata.labels?.[MODELINFER_NAME_LABEL] === name && isControlledBy(p, mi.metadata.uid));
    const states = owned.map((p) => podState(name, p)).filter((s): s is PodState => s !== undefined);
    const input: PlanInput = {
      name,
      replicas: mi.spec.replicas ?? 1,
      roles,
      revision,
      strategy: mi.spec.rolloutStrategy?.type ?? 'RollingUpdate',
      maxSurge: mi.spec.rolloutStrategy?.maxSurge,
      maxUnavailable: mi.spec.rolloutStrategy?.maxUnavailable,
      warm: mi.spec.warmPool?.replicas ?? 0,
      pods: states,
    };
    const plan = planPods(input);
    const errors: string[] = [];

    await Promise.all(
      plan.delete.map(async (d) => {
        try {
          if (await client.delete(PODS, namespace, d.name, d.uid ? { uid: d.uid } : {})) {
            recorder.event(mi, 'Normal', 'SuccessfulDelete', `Deleted pod ${d.name} (${d.reason})`);
          }
        } catch (err) {
          if (isConflict(err)) return; // uid precondition failed: already replaced
          errors.push(`delete ${d.name}: ${errorMessage(err)}`);
          recorder.event(mi, 'Warning', 'FailedDelete', `Error deleting pod ${d.name}: ${errorMessage(err)}`);
        }
      }),
    );
    await Promise.all(
      plan.create.map(async (c) => {
        const role = roles.find((r) => r.name === c.role)!;
        try {
          await client.create(PODS, buildPod(mi, role, c.group, c.name, revision, c.warm));
          recorder.event(mi, 'Normal', 'SuccessfulCreate', `Created pod ${c.name}`);
        } catch (err) {
          if (isConflict(err)) return; // AlreadyExists: our cache was behind
          errors.push(`create ${c.name}: ${errorMessage(err)}`);
          recorder.event(mi, 'Warning', 'FailedCreate', `Error creating pod ${c.name}: ${errorMessage(err)}`);
        }
      }),
    );

    // Warm pool: label changes, then the engine calls.
    const byName = new Map(owned.map((p) => [p.metadata.name!, p]));
    let requeueAfterMs: number | undefined;
    const patchPod = async (name: string, patch: unknown, what: string) => {
      try {
        await client.mergePatch(PODS, namespace, name, patch);
      } catch (err) {
        errors.push(`${what} ${name}: ${errorMessage(err)}`);
      }
    };
    await Promise.all(plan.demote.map((d) => patchPod(d.name, { metadata: { labels: { [WARM_LABEL]: 'true' } } }, 'demote')));
    await Promise.all(
      plan.promote.map(async (p) => {
        const pod = byName.get(p.name);
        const url = pod && engineUrl(pod);
        // Asleep (or maybe: a level recorded, or a sleep whose annotation was lost): wake first, then route.
        if (url && p.sleepLevel !== 0 && isPodReady(pod)) {
          try {
            const res = await fetch(`${url}/wake_up`, { method: 'POST', signal: AbortSignal.timeout(engineTimeoutMs) });
            await res.body?.cancel();
            if (!res.ok && res.status !== 400 && res.status !== 404) throw new Error(`HTTP ${res.status}`);
          } catch (err) {
            errors.push(`wake ${p.name}: ${errorMessage(err)}`);
            return;
          }
        }
        await patchPod(p.name, { metadata: { labels: { [WARM_LABEL]: null }, annotations: { [SLEEP_LEVEL_ANNOTATION]: null } } }, 'promote');
        recorder.event(mi, 'Normal', 'WarmReplicaClaimed', `Claimed warm pod ${p.name}${p.sleepLevel ? ` (woken from sleep level ${p.sleepLevel})` : ''}`);
      }),
    );
    const level = mi.spec.warmPool?.sleepLevel ?? 1;
    await Promise.all(
      plan.sleep.map(async (s) => {
        const pod = byName.get(s.name);
        const url = pod && engineUrl(pod);
        if (!url) return;
        try {
          const metrics = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(engineTimeoutMs) });
          const load = metrics.ok ? engineLoad(await metrics.text()) : undefined;
          if (!metrics.ok) await metrics.body?.cancel();
          if (load !== undefined && load > 0) {
            requeueAfterMs = 1000; // still finishing requests routed before it was demoted
            return;
          }
          const res = await fetch(`${url}/sleep?level=${level}`, { method: 'POST', signal: AbortSignal.timeout(engineTimeoutMs) });
          await res.body?.cancel();
          const recorded = res.ok ? String(level) : res.status === 400 || res.status === 404 ? '0' : undefined;
          if (recorded === undefined) throw new Error(`HTTP ${res.status}`);
          await patchPod(s.name, { metadata: { annotations: { [SLEEP_LEVEL_ANNOTATION]: recorded } } }, 'sleep');
        } catch (err) {
          errors.push(`sleep ${s.name}: ${errorMessage(err)}`);
        }
      }),
    );

    // Status reflects the pods as observed; the writes above show up in the next reconcile.
    const status = computeModelInferStatus({ ...input, generation: mi.metadata.generation, previous: mi.status });
    await patchStatus(client, MODEL_INFERS, mi, status as Record<string, unknown>);
    if (errors.length > 0) throw new Error(errors.join('; '));
    if (requeueAfterMs !== undefined) return { requeueAfterMs };
  }

  const controller = new Controller({ name: 'modelinfer', reconcile, workers: deps.workers, logger: deps.logger });
  controller.watchPrimary(modelInfers);
  controller.watch(pods, toController('ModelInfer', WORKLOAD_GROUP));
  return controller;
}
