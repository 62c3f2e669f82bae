// Table columns for the built-in kinds, following kubectl's/kube-apiserver's printers (pkg/printers/internalversion)
// closely enough that `kubectl get` output looks the same as on a cluster.
import type { KubeObject } from '../api/admission.ts';
import { humanDuration, isObject, type JsonObject } from './meta.ts';
import type { TableSpec } from './registry.ts';
import { AGE_COLUMN, NAME_COLUMN, ageOf, column } from './table.ts';

const obj = (v: unknown): JsonObject => (isObject(v) ? v : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

export const NAMESPACE_TABLE: TableSpec = {
  columns: [NAME_COLUMN, column('Status', 'string', 'The status of the namespace'), AGE_COLUMN],
  cells: (o, now) => [o.metadata.name, obj(o.status).phase ?? '', ageOf(o, now)],
};

export const NODE_TABLE: TableSpec = {
  columns: [
    NAME_COLUMN,
    column('Status', 'string', 'The status of the node'),
    column('Roles', 'string', 'The roles of the node'),
    AGE_COLUMN,
    column('Version', 'string', 'Kubelet Version reported by the node.'),
    column('Internal-IP', 'string', 'List of internal IPs of the node.', 1),
    column('External-IP', 'string', 'List of external IPs of the node.', 1),
    column('OS-Image', 'string', 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', 1),
    column('Kernel-Version', 'string', 'Kernel Version reported by the node.', 1),
    column('Container-Runtime', 'string', 'Container Runtime Version reported by the node.', 1),
  ],
  cells(o, now) {
    const status = obj(o.status);
    const ready = arr(status.conditions).map(obj).find((c) => c.type === 'Ready');
    const states = [ready?.status === 'True' ? 'Ready' : ready ? 'NotReady' : 'Unknown'];
    if (obj(o.spec).unschedulable) states.push('SchedulingDisabled');
    const roles = Object.keys(o.metadata.labels ?? {})
      .filter((k) => k.startsWith('node-role.kubernetes.io/'))
      .map((k) => k.slice('node-role.kubernetes.io/'.length))
      .filter(Boolean);
    const info = obj(status.nodeInfo);
    const addr = (type: string) => arr(status.addresses).map(obj).find((a) => a.type === type)?.address ?? '<none>';
    return [
      o.metadata.name, states.join(','), roles.length ? roles.sort().join(',') : '<none>', ageOf(o, now), info.kubeletVersion ?? '',
      addr('InternalIP'), addr('ExternalIP'), info.osImage ?? '<unknown>', info.kernelVersion ?? '<unknown>', info.containerRuntimeVersion ?? '<unknown>',
    ];
  },
};

/** kubectl's pod STATUS column: the phase, refined by container states and deletion. */
export function podStatusReason(pod: KubeObject): string {
  const status = obj(pod.status);
  let reason = String(status.reason ?? status.phase ?? 'Pending');
  let initializing = false;
  const initStatuses = arr(status.initContainerStatuses).map(obj);
  const initCount = arr(obj(pod.spec).initContainers).length;
  initStatuses.forEach((cs, i) => {
    const state = obj(cs.state);
    const term = isObject(state.terminated) ? state.terminated : undefined;
    const wait = isObject(state.waiting) ? state.waiting : undefined;
    if (term && term.exitCode === 0) return;
    if (term) {
      reason = term.reason ? `Init:${String(term.reason)}` : term.signal ? `Init:Signal:${String(term.signal)}` : `Init:ExitCode:${String(term.exitCode)}`;
    } else if (wait && wait.reason && wait.reason !== 'PodInitializing') {
      reason = `Init:${String(wait.reason)}`;
    } else {
      reason = `Init:${i}/${initCount}`;
    }
    initializing = true;
  });
  if (!initializing) {
    let hasRunning = false;
    const statuses = arr(status.containerStatuses).map(obj);
    for (let i = statuses.length - 1; i >= 0; i--) {
      const state = obj(statuses[i]!.state);
      const wait = isObject(state.waiting) ? state.waiting : undefined;
      const term = isObject(state.terminated) ? state.terminated : undefined;
      if (wait?.reason) reason = String(wait.reason);
      else if (term?.reason) reason = String(term.reason);
      else if (term) reason = term.signal ? `Signal:${String(term.signal)}` : `ExitCode:${String(term.exitCode)}`;
      else if (statuses[i]!.ready && isObject(state.running)) hasRunning = true;
    }
    if (reason === 'Completed' && hasRunning) {
      const ready = arr(status.conditions).map(obj).some((c) => c.type === 'Ready' && c.status === 'True');
      reason = ready ? 'Running' : 'NotReady';
    }
  }
  if (pod.metadata.deletionTimestamp) reason = status.reason === 'NodeLost' ? 'Unknown' : 'Terminating';
  return reason;
}

export const POD_TABLE: TableSpec = {
  columns: [
    NAME_COLUMN,
    column('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
    column('Status', 'string', 'The aggregate status of the containers in this pod.'),
    column('Restarts', 'string', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
    AGE_COLUMN,
    column('IP', 'string', 'IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.', 1),
    column('Node', 'string', "NodeName is a request to schedule this pod onto a specific node. If it is non-empty, the scheduler simply schedules this pod onto that node, assuming that it fits resource requirements.", 1),
    column('Nominated Node', 'string', 'nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.', 1),
    column('Readiness Gates', 'string', 'If specified, all readiness gates will be evaluated for pod readiness.', 1),
  ],
  cells(pod, now) {
    const spec = obj(pod.spec);
    const status = obj(pod.status);
    const statuses = arr(status.containerStatuses).map(obj);
    const total = arr(spec.containers).length;
    const ready = statuses.filter((c) => c.ready === true).length;
    let restarts = 0;
    let lastRestart = 0;
    for (const cs of statuses) {
      restarts += typeof cs.restartCount === 'number' ? cs.restartCount : 0;
      const finished = obj(obj(cs.lastState).terminated).finishedAt;
      if (typeof finished === 'string') lastRestart = Math.max(lastRestart, Date.parse(finished));
    }
    const restartCell = restarts > 0 && lastRestart > 0 ? `${restarts} (${humanDuration(now - lastRestart)} ago)` : String(restarts);
    const gates = arr(spec.readinessGates).map(obj);
    const gateCell = gates.length === 0 ? '<none>'
      : `${gates.filter((g) => arr(status.conditions).map(obj).some((c) => c.type === g.conditionType && c.status === 'True')).length}/${gates.length}`;
    return [
      pod.metadata.name, `${ready}/${total}`, podStatusReason(pod), restartCell, ageOf(pod, now),
      status.podIP ?? '<none>', spec.nodeName ?? '<none>', status.nominatedNodeName ?? '<none>', gateCell,
    ];
  },
};

function servicePorts(spec: JsonObject): string {
  const ports = arr(spec.ports).map(obj);
  if (ports.length === 0) return '<none>';
  return ports.map((p) => `${String(p.port)}${p.nodePort ? `:${String(p.nodePort)}` : ''}/${String(p.protocol ?? 'TCP')}`).join(',');
}

export const SERVICE_TABLE: TableSpec = {
  columns: [
    NAME_COLUMN,
    column('Type', 'string', 'type determines how the Service is exposed.'),
    column('Cluster-IP', 'string', 'clusterIP is the IP address of the service and is usually assigned randomly.'),
    column('External-IP', 'string', 'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.'),
    column('Port(s)', 'string', 'The list of ports that are exposed by this service.'),
    AGE_COLUMN,
    column('Selector', 'string', 'Route service traffic to pods with label keys and values matching this selector.', 1),
  ],
  cells(svc, now) {
    const spec = obj(svc.spec);
    const type = String(spec.type ?? 'ClusterIP');
    const ingress = arr(obj(obj(svc.status).loadBalancer).ingress).map(obj).map((i) => i.ip ?? i.hostname).filter(Boolean);
    const externalIPs = arr(spec.externalIPs).map(String);
    let external = '<none>';
    if (type === 'ExternalName') external = String(spec.externalName ?? '<none>');
    else if (type === 'LoadBalancer') external = [...ingress, ...externalIPs].join(',') || '<pending>';
    else if (externalIPs.length) external = externalIPs.join(',');
    const selector = Object.entries(obj(spec.selector)).map(([k, v]) => `${k}=${String(v)}`).sort().join(',');
    return [svc.metadata.name, type, spec.clusterIP ?? '<none>', external, servicePorts(spec), ageOf(svc, now), selector || '<none>'];
  },
};

export const CONFIGMAP_TABLE: TableSpec = {
  columns: [NAME_COLUMN, column('Data', 'string', 'Data contains the configuration data.'), AGE_COLUMN],
  cells: (o, now) => [o.metadata.name, Object.keys(obj(o.data)).length + Object.keys(obj(o.binaryData)).length, ageOf(o, now)],
};

export const SECRET_TABLE: TableSpec = {
  columns: [NAME_COLUMN, column('Type', 'string', 'The type of the secret'), column('Data', 'string', 'The number of entries in the secret'), AGE_COLUMN],
  cells: (o, now) => [o.metadata.name, o.type ?? 'Opaque', Object.keys(obj(o.data)).length, ageOf(o, now)],
};

export const ENDPOINTSLICE_TABLE: TableSpec = {
  columns: [
    NAME_COLUMN,
    column('AddressType', 'string', 'The IP protocol for this slice'),
    column('Ports', 'string', 'The ports contained in this slice'),
    column('Endpoints', 'string', 'Endpoints contained in this slice'),
    AGE_COLUMN,
  ],
  cells(o, now) {
    const ports = arr(o.ports).map(obj).map((p) => (p.port === undefined || p.port === null ? '<unset>' : String(p.port)));
    const addresses = arr(o.endpoints).flatMap((e) => arr(obj(e).addresses).map(String));
    const shown = addresses.length > 3 ? `${addresses.slice(0, 3).join(',')} + ${addresses.length - 3} more...` : addresses.join(',');
    return [o.metadata.name, o.addressType ?? '', ports.length ? ports.join(',') : '<unset>', shown || '<none>', ageOf(o, now)];
  },
};

export const SERVICEACCOUNT_TABLE: TableSpec = {
  columns: [NAME_COLUMN, column('Secrets', 'string', 'Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.'), AGE_COLUMN],
  cells: (o, now) => [o.metadata.name, ((o as { secrets?: unknown[] }).secrets ?? []).length, ageOf(o, now)],
};

/** rbac.authorization.k8s.io/v1 RoleBinding: ROLE as `Kind/name`, as kubectl prints it. */
export const ROLEBINDING_TABLE: TableSpec = {
  columns: [NAME_COLUMN, column('Role', 'string', 'RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.'), AGE_COLUMN],
  cells: (o, now) => {
    const ref = obj((o as { roleRef?: unknown }).roleRef);
    return [o.metadata.name, `${String(ref.kind ?? '')}/${String(ref.name ?? '')}`, ageOf(o, now)];
  },
};

export const LEASE_TABLE: TableSpec = {
  columns: [NAME_COLUMN, column('Holder', 'string', 'holderIdentity contains the identity of the holder of a current lease.'), AGE_COLUMN],
  cells: (o, now) => [o.metadata.name, obj(o.spec).holderIdentity ?? '', ageOf(o, now)],
};

/** apps/v1 ControllerRevision: CONTROLLER is `kind.group/name` of the controller ownerReference, as kubectl prints it. */
export const CONTROLLERREVISION_TABLE: TableSpec = {
  columns: [
    NAME_COLUMN,
    column('Controller', 'string', 'Controller of the object'),
    column('Revision', 'integer', 'Revision indicates the revision of the state represented by Data.'),
    AGE_COLUMN,
  ],
  cells(o, now) {
    const ref = arr(o.metadata.ownerReferences).map(obj).find((r) => r.controller === true);
    const group = typeof ref?.apiVersion === 'string' && ref.apiVersion.includes('/') ? `.${ref.apiVersion.split('/')[0]}` : '';
    const controller = ref ? `${String(ref.kind).toLowerCase()}${group}/${String(ref.name)}` : '<none>';
    return [o.metadata.name, controller, o.revision ?? 0, ageOf(o, now)];
  },
};

/** Works on both core/v1 and events.k8s.io/v1 shapes. */
export const EVENT_TABLE: TableSpec = {
  columns: [
    column('Last Seen', 'string', 'Time when this Event was last seen'),
    column('Type', 'string', "Type of this event (Normal, Warning), new types could be added in the future."),
    column('Reason', 'string', 'Reason why this event was generated.'),
    column('Object', 'string', 'The object that this event is about.'),
    column('Subobject', 'string', 'The subobject that this event is about.', 1),
    column('Source', 'string', 'The component reporting this event.', 1),
    column('Message', 'string', 'A human-readable description of the status of this operation.'),
    column('First Seen', 'string', 'Time when this Event was first seen', 1),
    column('Count', 'string', 'The number of times this event has occurred.', 1),
    column('Name', 'string', NAME_COLUMN.description, 1, 'name'),
  ],
  cells(ev, now) {
    const involved = obj(ev.involvedObject ?? ev.regarding);
    const series = obj(ev.series);
    const last = ev.lastTimestamp ?? series.lastObservedTime ?? ev.deprecatedLastTimestamp ?? ev.eventTime ?? ev.metadata.creationTimestamp;
    const first = ev.firstTimestamp ?? ev.deprecatedFirstTimestamp ?? ev.eventTime ?? ev.metadata.creationTimestamp;
    const since = (t: unknown) => (typeof t === 'string' && t ? humanDuration(now - Date.parse(t)) : '<unknown>');
    const source = obj(ev.source ?? ev.deprecatedSource);
    const sourceText = ev.reportingComponent || ev.reportingController || [source.component, source.host].filter(Boolean).join(', ');
    const kind = String(involved.kind ?? '').toLowerCase();
    return [
      since(last), ev.type ?? '', ev.reason ?? '', `${kind}/${String(involved.name ?? '')}`, involved.fieldPath ?? '',
      sourceText || '', ev.message ?? ev.note ?? '', since(first), ev.count ?? series.count ?? ev.deprecatedCount ?? 1, ev.metadata.name,
    ];
  },
};

export const CRD_TABLE: TableSpec = {
  columns: [NAME_COLUMN, column('Created At', 'date', AGE_COLUMN.description)],
  cells: (o) => [o.metadata.name, o.metadata.creationTimestamp],
};
