// Networking status controllers: ModelServer (ready endpoints, phase, service endpoint; also owns the core
// Service named after it) and ModelRoute (are its target ModelServers there). The data plane itself is the
// gateway's; these controllers only make the state visible to `kubectl get`.
import type { KubeObject } from '../../api/admission.ts';
import { NETWORKING_GROUP, type ModelInfer, type ModelRoute, type ModelServer } from '../../api/kinds/index.ts';
import { MODELINFER_NAME_LABEL } from '../../api/labels.ts';
import { ensureChild, patchStatus } from '../../kube/apply.ts';
import { isPermanent, type KubeClient } from '../../kube/client.ts';
import { Controller, toController, type ReconcileResult } from '../../kube/controller.ts';
import type { EventRecorder } from '../../kube/events.ts';
import type { InformerFactory } from '../../kube/informer.ts';
import { errorMessage, type Logger } from '../../kube/log.ts';
import { isDeleting, objectKey, splitKey } from '../../kube/objects.ts';
import { MODELINFER_PODS } from '../modelinfer/controller.ts';
import { MODEL_INFERS, MODEL_ROUTES, MODEL_SERVERS, PODS, SERVICES } from '../resources.ts';
import { computeModelRouteStatus, computeModelServerStatus, modelInferNamespace, routeTargets } from './status.ts';

/** On Services this controller owns: the ModelServer they expose. */
export const MODELSERVER_NAME_LABEL = 'networking.matrixinfer.ai/modelserver-name';

export interface NetworkingControllerDeps {
  client: KubeClient;
  informers: InformerFactory;
  recorder: EventRecorder;
  logger?: Logger;
  workers?: number;
}

/** The Service of a ModelServer: selects the ModelInfer's pods, port → targetPort. */
export function desiredService(ms: ModelServer): KubeObject {
  const port = ms.spec.service.port;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: ms.metadata.name!,
      namespace: ms.metadata.namespace ?? 'default',
      labels: { [MODELSERVER_NAME_LABEL]: ms.metadata.name! },
      ...(ms.spec.service.annotations ? { annotations: { ...ms.spec.service.annotations } } : {}),
    },
    spec: {
      type: ms.spec.service.type ?? 'ClusterIP',
      selector: { [MODELINFER_NAME_LABEL]: ms.spec.modelInferRef.name },
      ports: [{ name: 'http', protocol: 'TCP', port, targetPort: ms.spec.service.targetPort ?? port }],
    },
  };
}

/** Keep server-allocated Service fields (clusterIP, nodePorts, ...) when rewriting the spec. */
function keepAllocated(desired: KubeObject, existing: KubeObject): KubeObject {
  const spec = { ...((existing.spec as Record<string, unknown>) ?? {}), ...((desired.spec as Record<string, unknown>) ?? {}) };
  const existingPorts = ((existing.spec as { ports?: { name?: string; nodePort?: number }[] })?.ports ?? []);
  spec.ports = ((desired.spec as { ports: { name: string }[] }).ports ?? []).map((p) => {
    const nodePort = existingPorts.find((e) => e.name === p.name)?.nodePort;
    return nodePort ? { ...p, nodePort } : p;
  });
  return { ...desired, spec };
}

const SERVICE_RETRY_MS = 60_000;

export function createModelServerController(deps: NetworkingControllerDeps): Controller {
  const { client, informers } = deps;
  const servers = informers.informer<ModelServer>(MODEL_SERVERS);
  const modelInfers = informers.informer<ModelInfer>(MODEL_INFERS);
  const pods = informers.informer(PODS, MODELINFER_PODS);
  const services = informers.informer(SERVICES, { labelSelector: MODELSERVER_NAME_LABEL });

  /** ModelServers that reference the ModelInfer `namespace/name`. */
  const serversOf = (namespace: string | undefined, name: string | undefined): string[] =>
    servers
      .list()
      .filter((ms) => ms.spec?.modelInferRef?.name === name && modelInferNamespace(ms) === (namespace ?? 'default'))
      .map((ms) => objectKey(ms));

  async function reconcile(key: string): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    const ms = servers.get(namespace, name);
    if (!ms || isDeleting(ms)) return;
    const miNamespace = modelInferNamespace(ms);
    const mi = modelInfers.get(miNamespace, ms.spec.modelInferRef.name);

    // The Service can only select pods in its own namespace.
    let serviceError: string | undefined;
    let retry: ReconcileResult | undefined;
    if (miNamespace === namespace) {
      try {
        const result = await ensureChild(client, SERVICES, desiredService(ms), {
          owner: ms,
          existing: services.get(namespace, name),
          preserve: keepAllocated,
        });
        if (result.action !== 'unchanged') deps.recorder.event(ms, 'Normal', result.action === 'created' ? 'Created' : 'Updated', `${result.action === 'created' ? 'Created' : 'Updated'} Service ${name}`);
      } catch (err) {
        serviceError = errorMessage(err);
        if (!isPermanent(err)) throw err;
        retry = { requeueAfterMs: SERVICE_RETRY_MS };
      }
    } else {
      serviceError = `ModelInfer is in namespace ${miNamespace}; a Service can only select pods of its own namespace`;
    }

    const status = computeModelServerStatus(ms, { modelInfer: mi, pods: pods.list(miNamespace), ...(serviceError ? { serviceError } : {}) });
    await patchStatus(client, MODEL_SERVERS, ms, status as Record<string, unknown>);
    return retry;
  }

  const controller = new Controller({ name: 'modelserver', reconcile, workers: deps.workers, logger: deps.logger });
  controller.watchPrimary(servers);
  controller.watch(modelInfers, (mi) => serversOf(mi.metadata.namespace, mi.metadata.name));
  controller.watch(pods, (pod) => serversOf(pod.metadata.namespace, pod.metadata.labels?.[MODELINFER_NAME_LABEL]));
  controller.watch(services, toController('ModelServer', NETWORKING_GROUP));
  return controller;
}

export function createModelRouteController(deps: NetworkingControllerDeps): Controller {
  const { client, informers } = deps;
  const routes = informers.informer<ModelRoute>(MODEL_ROUTES);
  const servers = informers.informer<ModelServer>(MODEL_SERVERS);

  async function reconcile(key: string): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    const route = routes.get(namespace, name);
    if (!route || isDeleting(route)) return;
    const found = new Map<string, ModelServer>();
    for (const target of routeTargets(route)) {
      const ms = servers.get(namespace, target);
      if (ms && !isDeleting(ms)) found.set(target, ms);
    }
    const status = computeModelRouteStatus(route, found);
    await patchStatus(client, MODEL_ROUTES, route, status as Record<string, unknown>);
  }

  const controller = new Controller({ name: 'modelroute', reconcile, workers: deps.workers, logger: deps.logger });
  controller.watchPrimary(routes);
  controller.watch(servers, (ms) =>
    routes
      .list(ms.metadata.namespace)
      .filter((route) => routeTargets(route).includes(ms.metadata.name!))
      .map((route) => objectKey(route)),
  );
  return controller;
}
