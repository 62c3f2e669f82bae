// The ModelInfer controller: creates, replaces and deletes the engine pods of each ModelInfer (plan.ts) and
// reports their state (status.ts). Pods are created unbound (no spec.nodeName): a scheduler, or the local node
// agent, binds them.
import type { KubeObject } from '../../api/admission.ts';
import { WORKLOAD_GROUP, type ModelInfer, type Role } from '../../api/kinds/index.ts';
import { GROUP_INDEX_LABEL, MODELINFER_NAME_LABEL, REVISION_LABEL, ROLE_LABEL } from '../../api/labels.ts';
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
}

/** Informer options for the pods of all ModelInfers (shared with other controllers). */
export const MODELINFER_PODS = { labelSelector: MODELINFER_NAME_LABEL };

/** A pod of `role` in group g, from the role's template. */
export function buildPod(mi: ModelInfer, role: Role, group: number, name: string, revision: string): KubeObject {
  const template = role.template;
  const spec = structuredClone(template.spec ?? {}) as Record<string, unknown>;
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
  return {
    name: pod.metadata.name!,
    uid: pod.metadata.uid,
    ...parsed,
    revision: pod.metadata.labels?.[REVISION_LABEL] ?? '',
    phase: (pod.status as { phase?: string } | undefined)?.phase ?? '',
    ready: isPodReady(pod),
    deleting: isDeleting(pod),
    ...(failure ? { failure } : {}),
  };
}

export function createModelInferController(deps: ModelInferControllerDeps): Controller {
  const { client, informers, recorder } = deps;
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
          await client.create(PODS, buildPod(mi, role, c.group, c.name, revision));
          recorder.event(mi, 'Normal', 'SuccessfulCreate', `Created pod ${c.name}`);
        } catch (err) {
          if (isConflict(err)) return; // AlreadyExists: our cache was behind
          errors.push(`create ${c.name}: ${errorMessage(err)}`);
          recorder.event(mi, 'Warning', 'FailedCreate', `Error creating pod ${c.name}: ${errorMessage(err)}`);
        }
      }),
    );

    // Status reflects the pods as observed; the writes above show up in the next reconcile.
    const status = computeModelInferStatus({ ...input, generation: mi.metadata.generation, previous: mi.status });
    await patchStatus(client, MODEL_INFERS, mi, status as Record<string, unknown>);
    if (errors.length > 0) throw new Error(errors.join('; '));
  }

  const controller = new Controller({ name: 'modelinfer', reconcile, workers: deps.workers, logger: deps.logger });
  controller.watchPrimary(modelInfers);
  controller.watch(pods, toController('ModelInfer', WORKLOAD_GROUP));
  return controller;
}
