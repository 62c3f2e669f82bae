// The Model controller: one Model → ModelInfer, ModelServer, ModelRoute, AutoscalingPolicy and
// AutoscalingPolicyBinding, kept equal to the desired state (desired.ts), recreated when deleted, and the
// Model's status derived from them (status.ts). Amenders (amend.ts) may rewrite the desired ModelInfer and ModelServer
// first (the production-stack kinds' speculative decoding and prefill/decode roles); the controller stays their only
// writer. Deleting a Model deletes its children by garbage collection (controller ownerReferences with
// blockOwnerDeletion); the controller holds no finalizer. A LoRA adapter (spec.modelSpec.baseModelRef) gets one
// ModelRoute onto its base and a status from the base and its pods instead (adapters.ts); the LoRA loader
// (lora-loader.ts) does the loading.
// Every distinct spec is kept as an apps/v1 ControllerRevision owned by the Model (revisions.ts), for rollout history
// and undo; status.currentRevision names the one in force.
import { REGISTRY_GROUP, isAdapter, isServed, type Model, type ModelInfer, type ModelServer } from '../../api/kinds/index.ts';
import type { KubeObject } from '../../api/admission.ts';
import { ensureChild, OwnershipConflictError } from '../../kube/apply.ts';
import { isPermanent, ROLE_BINDINGS, SERVICE_ACCOUNTS, type KubeClient, type ResourceType } from '../../kube/client.ts';
import { Controller, toController, type ReconcileResult } from '../../kube/controller.ts';
import type { EventRecorder } from '../../kube/events.ts';
import type { InformerFactory, SharedInformer } from '../../kube/informer.ts';
import { errorMessage, type Logger } from '../../kube/log.ts';
import { isDeleting, splitKey } from '../../kube/objects.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, MODEL_NAME_LABEL } from '../../api/labels.ts';
import { MODELINFER_PODS } from '../modelinfer/controller.ts';
import {
  PODS,
  MODELS,
  MODEL_INFERS,
  MODEL_SERVERS,
  MODEL_ROUTES,
  AUTOSCALING_POLICIES,
  AUTOSCALING_POLICY_BINDINGS,
} from '../resources.ts';
import { reconcileAdapter, watchAdapterDependencies } from './adapters.ts';
import { amendChildren, type ModelAmender } from './amend.ts';
import { desiredChildren, preserveReplicas } from './desired.ts';
import { CONTROLLER_REVISIONS, syncRevisions } from './revisions.ts';
import { computeModelStatus, type ChildError } from './status.ts';
import { reportStatus } from './report.ts';
import { modelDownload, type PodLike } from './download-status.ts';
import { DOWNLOAD_IDENTITY, type RoleRef } from './download-identity.ts';
import { ensureDownloadIdentity } from './download-identity-sync.ts';

export interface ModelControllerDeps {
  client: KubeClient;
  informers: InformerFactory;
  recorder: EventRecorder;
  logger?: Logger;
  workers?: number;
  /** The download step's image (desired.ts DesiredOptions). */
  downloaderImage?: string;
  /** Give the download step its own ServiceAccount bound to this role (download-identity.ts); off when unset. */
  downloadRole?: RoleRef;
  /** Other controllers' amendments to the children (amend.ts). */
  amenders?: readonly ModelAmender[];
}


export function createModelController(deps: ModelControllerDeps): Controller {
  const { client, informers, recorder } = deps;
  const models = informers.informer<Model>(MODELS);
  const children: { rt: ResourceType; informer: SharedInformer }[] = [
    MODEL_INFERS,
    MODEL_SERVERS,
    MODEL_ROUTES,
    AUTOSCALING_POLICIES,
    AUTOSCALING_POLICY_BINDINGS,
  ].map((rt) => ({ rt, informer: informers.informer(rt) }));
  const [modelInfers, modelServers] = children;
  // The engine pods carry their download step's progress (download-status.ts); shared with the ModelInfer controller.
  const pods = informers.informer(PODS, MODELINFER_PODS);
  const amenders = deps.amenders ?? [];
  const desiredOptions = { ...(deps.downloaderImage ? { downloaderImage: deps.downloaderImage } : {}), downloadIdentity: !!deps.downloadRole };
  const managed = { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}` };
  const identity = deps.downloadRole
    ? {
        role: deps.downloadRole,
        serviceAccounts: informers.informer(SERVICE_ACCOUNTS, managed),
        roleBindings: informers.informer(ROLE_BINDINGS, managed),
      }
    : undefined;
  const adapterDeps = { client, recorder, models, routes: children[2]!.informer, pods };
  // The Model's spec history (revisions.ts): only revisions carrying the model-name label, not StatefulSets' own.
  const revisions = informers.informer(CONTROLLER_REVISIONS, { labelSelector: MODEL_NAME_LABEL });

  async function reconcile(key: string): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    const model = models.get(namespace, name);
    if (!model || isDeleting(model)) return;
    // A LoRA adapter (spec.modelSpec.baseModelRef) runs no engine: one ModelRoute onto its base (adapters.ts).
    if (isAdapter(model)) return reconcileAdapter(adapterDeps, model);
    if (!isServed(model)) return;
    let modelInfer = modelInfers!.informer.get(namespace, name) as ModelInfer | undefined;
    const live = { modelInfer, modelServer: modelServers!.informer.get(namespace, name) as ModelServer | undefined };
    const desired = amendChildren(desiredChildren(model, desiredOptions), amenders.flatMap((amender) => amender.amendmentsFor(model, live)), live);
    const errors: ChildError[] = [];
    if (identity) {
      try {
        const live = { serviceAccount: identity.serviceAccounts.get(namespace, DOWNLOAD_IDENTITY), roleBinding: identity.roleBindings.get(namespace, DOWNLOAD_IDENTITY) };
        await ensureDownloadIdentity(client, namespace, identity.role, live);
      } catch (err) {
        errors.push({ kind: 'ServiceAccount', message: `the download step's identity: ${errorMessage(err)}`, permanent: false });
      }
    }

    const steps: [ResourceType, KubeObject][] = [
      [MODEL_INFERS, desired.modelInfer],
      [MODEL_SERVERS, desired.modelServer],
      [MODEL_ROUTES, desired.modelRoute],
      [AUTOSCALING_POLICIES, desired.autoscalingPolicy],
      [AUTOSCALING_POLICY_BINDINGS, desired.autoscalingPolicyBinding],
    ];
    for (const [rt, object] of steps) {
      const informer = children.find((c) => c.rt === rt)!.informer;
      try {
        const result = await ensureChild(client, rt, object, {
          owner: model,
          existing: informer.get(namespace, name),
          ...(rt === MODEL_INFERS ? { preserve: preserveReplicas(model) as never } : {}),
        });
        if (rt === MODEL_INFERS) modelInfer = result.object as ModelInfer;
        if (result.action !== 'unchanged') {
          recorder.event(model, 'Normal', result.action === 'created' ? 'Created' : 'Updated', `${result.action === 'created' ? 'Created' : 'Updated'} ${rt.kind} ${name}`);
        }
      } catch (err) {
        const permanent = err instanceof OwnershipConflictError || isPermanent(err);
        errors.push({ kind: rt.kind, message: errorMessage(err), permanent });
        recorder.event(model, 'Warning', 'SyncFailed', `${rt.kind} ${name}: ${errorMessage(err)}`);
      }
    }

    let currentRevision = model.status?.currentRevision;
    try {
      currentRevision = (await syncRevisions(client, model, revisions.list(namespace))).current;
    } catch (err) {
      errors.push({ kind: 'ControllerRevision', message: errorMessage(err), permanent: false });
    }

    const modelPods = pods.list(namespace).filter((p) => p.metadata.labels?.[MODEL_NAME_LABEL] === name) as PodLike[];
    const download = modelDownload(modelPods) ?? model.status?.download;
    const status = computeModelStatus(model, { childErrors: errors, modelInfer, download, currentRevision });
    return reportStatus(client, recorder, model, status, errors);
  }

  const controller = new Controller({ name: 'model', reconcile, workers: deps.workers, logger: deps.logger });
  controller.watchPrimary(models);
  for (const { informer } of [...children, { informer: revisions }]) controller.watch(informer, toController('Model', REGISTRY_GROUP));
  controller.watch(pods, (pod) => {
    const model = pod.metadata.labels?.[MODEL_NAME_LABEL];
    return model ? [`${pod.metadata.namespace}/${model}`] : [];
  });
  for (const amender of amenders) for (const { informer, map } of amender.watches) controller.watch(informer, map);
  watchAdapterDependencies(controller, models, pods);
  return controller;
}
