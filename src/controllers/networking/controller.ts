// Networking controllers: ModelServer (its Service and the EndpointSlice that leads it to the gateway — see
// service.ts —, ready endpoints, phase, service endpoint) and ModelRoute (are its target ModelServers there).
// The data plane itself is the gateway's; these controllers make it reachable by name and visible to `kubectl get`.
import type { KubeObject } from '../../api/admission.ts';
import { NETWORKING_GROUP, routingPath, type ModelInfer, type ModelRoute, type ModelServer } from '../../api/kinds/index.ts';
import { MODELINFER_NAME_LABEL } from '../../api/labels.ts';
import { ensureChild, patchStatus } from '../../kube/apply.ts';
import { isPermanent, type KubeClient, type ResourceType } from '../../kube/client.ts';
import { Controller, toController, type ReconcileResult } from '../../kube/controller.ts';
import type { EventRecorder } from '../../kube/events.ts';
import type { InformerFactory } from '../../kube/informer.ts';
import { errorMessage, type Logger } from '../../kube/log.ts';
import { isDeleting, objectKey, splitKey } from '../../kube/objects.ts';
import { MODELINFER_PODS } from '../modelinfer/controller.ts';
import { MODEL_INFERS, MODEL_ROUTES, MODEL_SERVERS, PODS, SERVICES } from '../resources.ts';
import {
  DEFAULT_GATEWAY_SELECTOR, MODELSERVER_NAME_LABEL, SLICE_MANAGED_BY, SLICE_MANAGED_BY_LABEL, desiredEndpointSlice, desiredService,
  endpointSliceName, gatewayEndpoints, keepAllocated, type GatewayLocation,
} from './service.ts';
import { computeModelRouteStatus, computeModelServerStatus, modelInferNamespace, pathOwner, routeTargets } from './status.ts';

export { MODELSERVER_NAME_LABEL } from './service.ts';

export const ENDPOINT_SLICES: ResourceType = { group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices', namespaced: true };

export interface NetworkingControllerDeps {
  client: KubeClient;
  informers: InformerFactory;
  recorder: EventRecorder;
  logger?: Logger;
  workers?: number;
  /** Where ModelServer Services lead (default: pods of the chart's gateway in $POD_NAMESPACE, ports 8080/8443). */
  gateway?: GatewayLocation;
}

export function defaultGatewayLocation(): GatewayLocation {
  return { namespace: process.env.POD_NAMESPACE ?? 'default', selector: DEFAULT_GATEWAY_SELECTOR, port: 8080, tlsPort: 8443 };
}

const SERVICE_RETRY_MS = 60_000;

export function createModelServerController(deps: NetworkingControllerDeps): Controller {
  const { client, informers } = deps;
  const gateway = deps.gateway ?? defaultGatewayLocation();
  const servers = informers.informer<ModelServer>(MODEL_SERVERS);
  const modelInfers = informers.informer<ModelInfer>(MODEL_INFERS);
  const pods = informers.informer(PODS, MODELINFER_PODS);
  const services = informers.informer(SERVICES, { labelSelector: MODELSERVER_NAME_LABEL });
  const slices = informers.informer(ENDPOINT_SLICES, { labelSelector: `${SLICE_MANAGED_BY_LABEL}=${SLICE_MANAGED_BY}` });
  // Gateway pods are in the gateway's namespace, whatever namespace the controllers watch.
  const gatewayPods = gateway.addresses?.length ? undefined : informers.informer(PODS, { namespace: gateway.namespace, labelSelector: gateway.selector });

  /** ModelServers that reference the ModelInfer `namespace/name`. */
  const serversOf = (namespace: string | undefined, name: string | undefined): string[] =>
    servers
      .list()
      .filter((ms) => ms.spec?.modelInferRef?.name === name && modelInferNamespace(ms) === (namespace ?? 'default'))
      .map((ms) => objectKey(ms));

  /** Writes one child; permanent errors are reported in status (and retried slowly), others requeue. */
  async function ensure(ms: ModelServer, rt: ResourceType, desired: KubeObject, existing: KubeObject | undefined, preserve?: (d: KubeObject, e: KubeObject) => KubeObject): Promise<string | undefined> {
    try {
      const result = await ensureChild(client, rt, desired, { owner: ms, existing, ...(preserve ? { preserve } : {}) });
      if (result.action !== 'unchanged' && rt === SERVICES) {
        const verb = result.action === 'created' ? 'Created' : 'Updated';
        deps.recorder.event(ms, 'Normal', verb, `${verb} Service ${desired.metadata.name}`);
      }
      return undefined;
    } catch (err) {
      if (!isPermanent(err)) throw err;
      return `${rt.kind} ${desired.metadata.name}: ${errorMessage(err)}`;
    }
  }

  async function reconcile(key: string): Promise<ReconcileResult | void> {
    const { namespace, name } = splitKey(key);
    const ms = servers.get(namespace, name);
    if (!ms || isDeleting(ms)) return;
    const miNamespace = modelInferNamespace(ms);
    const mi = modelInfers.get(miNamespace, ms.spec.modelInferRef.name);

    const endpoints = gatewayEndpoints(gateway, gatewayPods?.list(gateway.namespace) ?? []);
    const serviceError =
      (await ensure(ms, SERVICES, desiredService(ms, gateway), services.get(namespace, name), keepAllocated)) ??
      (await ensure(ms, ENDPOINT_SLICES, desiredEndpointSlice(ms, gateway, endpoints), slices.get(namespace, endpointSliceName(ms))));

    const status = computeModelServerStatus(ms, {
      modelInfer: mi,
      pods: pods.list(miNamespace),
      gatewayEndpoints: endpoints.length,
      ...(serviceError ? { serviceError } : {}),
      pathOwner: pathOwner(ms, servers.list()),
    });
    await patchStatus(client, MODEL_SERVERS, ms, status as Record<string, unknown>);
    return serviceError ? { requeueAfterMs: SERVICE_RETRY_MS } : undefined;
  }

  const controller = new Controller({ name: 'modelserver', reconcile, workers: deps.workers, logger: deps.logger });
  controller.watchPrimary(servers);
  // A routing.path changing hands: the servers setting it, and those that lost theirs to another (PathConflict).
  controller.watch(servers, (changed) =>
    servers
      .list()
      .filter((ms) => (routingPath(ms.spec) !== undefined && routingPath(ms.spec) === routingPath(changed.spec)) || ms.status?.conditions?.some((c) => c.type === 'PathConflict' && c.status === 'True'))
      .map((ms) => objectKey(ms)),
  );
  controller.watch(modelInfers, (mi) => serversOf(mi.metadata.namespace, mi.metadata.name));
  controller.watch(pods, (pod) => serversOf(pod.metadata.namespace, pod.metadata.labels?.[MODELINFER_NAME_LABEL]));
  controller.watch(services, toController('ModelServer', NETWORKING_GROUP));
  controller.watch(slices, toController('ModelServer', NETWORKING_GROUP));
  // A gateway pod coming, going or changing readiness changes every ModelServer's slice.
  if (gatewayPods) controller.watch(gatewayPods, () => servers.list().map((ms) => objectKey(ms)));
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
