// The Service of a ModelServer, and where it leads: to the gateway, never around it.
//
// A ModelServer's Service (named after it, `spec.service` type/port/annotations) has no selector. This module
// writes its EndpointSlice (`<name>-gateway`) listing the gateway's addresses, so `http://<name>.<ns>:<port>` is
// answered by the gateway with the ModelServer's authentication, rate limits and seed paths, and a client inside
// the cluster cannot reach an engine pod through it. A selector could not do this: gateway pods live in their own
// namespace (matrixinfer-system) and a Service selects pods of its own namespace only.
//
// Rules:
//  - Gateway addresses come from ready, non-terminating pods matching the gateway selector in the gateway
//    namespace (clusters), or from fixed addresses (`matrixinfer up`, where the gateway is a process).
//  - The port is the gateway's plain port, or its TLS port when `spec.tls.enabled` (port name `http`/`https`,
//    the same on the Service and the slice, as kube-proxy pairs them by name).
//  - `spec.service.targetPort` keeps its seed meaning, the engine port on the pods the gateway sends to; the
//    Service's own targetPort is the gateway port (informational for a selector-less Service).
//  - Engine pods get no Service: the gateway finds them by watching Pods.
// Pure: the controller (controller.ts) reads the world and writes what these return.
import type { KubeObject } from '../../api/admission.ts';
import type { ModelServer } from '../../api/kinds/index.ts';
import { isDeleting, isPodReady } from '../../kube/objects.ts';

/** On Services and EndpointSlices this controller owns: the ModelServer they expose. */
export const MODELSERVER_NAME_LABEL = 'networking.matrixinfer.ai/modelserver-name';
/** EndpointSlice labels the Kubernetes API defines: the Service a slice belongs to, and who manages it. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const SLICE_MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const SLICE_MANAGED_BY = 'controller-manager.matrixinfer.ai';

/** Where the gateway is. */
export interface GatewayLocation {
  /** Gateway pods: namespace and equality label selector (`a=b,c=d`). Ignored when `addresses` is set. */
  namespace: string;
  selector: string;
  /** Fixed gateway addresses (IPs), e.g. 127.0.0.1 for `matrixinfer up`; pods are not watched then. */
  addresses?: string[];
  /** The gateway's plain HTTP port and TLS port. */
  port: number;
  tlsPort: number;
}

export const DEFAULT_GATEWAY_SELECTOR = 'app.kubernetes.io/name=matrixinfer,app.kubernetes.io/component=gateway';

/** `a=b,c=d` → `{a: 'b', c: 'd'}`; throws on anything but equality terms (NetworkPolicies need matchLabels). */
export function parseEqualitySelector(selector: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const term of selector.split(',').map((t) => t.trim()).filter(Boolean)) {
    const m = /^([^=!\s]+)==?([^=!\s]*)$/.exec(term);
    if (!m) throw new Error(`selector term ${JSON.stringify(term)}: only key=value terms are supported`);
    labels[m[1]!] = m[2]!;
  }
  return labels;
}

export interface GatewayEndpoint {
  address: string;
  /** The pod behind the address, when the gateway runs in pods. */
  pod?: { namespace: string; name: string; uid?: string; nodeName?: string };
}

/** The addresses a ModelServer's Service leads to: ready gateway pods (sorted by name), or the fixed addresses. */
export function gatewayEndpoints(location: GatewayLocation, pods: readonly KubeObject[]): GatewayEndpoint[] {
  if (location.addresses?.length) return location.addresses.map((address) => ({ address }));
  const want = parseEqualitySelector(location.selector);
  return pods
    .filter((pod) => pod.metadata.namespace === location.namespace)
    .filter((pod) => Object.entries(want).every(([k, v]) => pod.metadata.labels?.[k] === v))
    .filter((pod) => !isDeleting(pod) && isPodReady(pod) && !!(pod.status as { podIP?: string } | undefined)?.podIP)
    .sort((a, b) => (a.metadata.name! < b.metadata.name! ? -1 : 1))
    .map((pod) => {
      const nodeName = (pod.spec as { nodeName?: string } | undefined)?.nodeName;
      return {
        address: (pod.status as { podIP: string }).podIP,
        pod: { namespace: pod.metadata.namespace!, name: pod.metadata.name!, ...(pod.metadata.uid ? { uid: pod.metadata.uid } : {}), ...(nodeName ? { nodeName } : {}) },
      };
    });
}

/** The gateway port a ModelServer's traffic goes to, and its name on the Service and the slice. */
export function gatewayPort(ms: ModelServer, location: GatewayLocation): { name: 'http' | 'https'; port: number } {
  return ms.spec.tls?.enabled ? { name: 'https', port: location.tlsPort } : { name: 'http', port: location.port };
}

/** The Service of a ModelServer: no selector (its EndpointSlice lists the gateway), port → the gateway's port. */
export function desiredService(ms: ModelServer, location: GatewayLocation): KubeObject {
  const target = gatewayPort(ms, location);
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
      ports: [{ name: target.name, protocol: 'TCP', port: ms.spec.service.port, targetPort: target.port }],
    },
  };
}

export function endpointSliceName(ms: ModelServer): string {
  return `${ms.metadata.name}-gateway`;
}

/** The EndpointSlice of a ModelServer's Service: the gateway's addresses and port. */
export function desiredEndpointSlice(ms: ModelServer, location: GatewayLocation, endpoints: readonly GatewayEndpoint[]): KubeObject {
  const target = gatewayPort(ms, location);
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: endpointSliceName(ms),
      namespace: ms.metadata.namespace ?? 'default',
      labels: {
        [SERVICE_NAME_LABEL]: ms.metadata.name!,
        [SLICE_MANAGED_BY_LABEL]: SLICE_MANAGED_BY,
        [MODELSERVER_NAME_LABEL]: ms.metadata.name!,
      },
    },
    addressType: 'IPv4',
    endpoints: endpoints.map((ep) => ({
      addresses: [ep.address],
      conditions: { ready: true, serving: true, terminating: false },
      ...(ep.pod
        ? {
            targetRef: { kind: 'Pod', namespace: ep.pod.namespace, name: ep.pod.name, ...(ep.pod.uid ? { uid: ep.pod.uid } : {}) },
            ...(ep.pod.nodeName ? { nodeName: ep.pod.nodeName } : {}),
          }
        : {}),
    })),
    ports: [{ name: target.name, protocol: 'TCP', port: target.port }],
  };
}

/**
 * Keep server-allocated Service fields (clusterIP, nodePorts, ...) when rewriting the spec, but not a selector:
 * Services written before the gateway took over selected the engine pods directly.
 */
export function keepAllocated(desired: KubeObject, existing: KubeObject): KubeObject {
  const spec: Record<string, unknown> = { ...((existing.spec as Record<string, unknown>) ?? {}), ...((desired.spec as Record<string, unknown>) ?? {}) };
  if (!(desired.spec as Record<string, unknown>)?.selector) delete spec.selector;
  const existingPorts = (existing.spec as { ports?: { name?: string; nodePort?: number }[] })?.ports ?? [];
  spec.ports = ((desired.spec as { ports: { name: string }[] }).ports ?? []).map((p) => {
    const nodePort = existingPorts.find((e) => e.name === p.name)?.nodePort;
    return nodePort ? { ...p, nodePort } : p;
  });
  return { ...desired, spec };
}
