// The built-in kinds (core/v1 and friends) with the defaults, validation and field labels the project relies on.
// Each strategy is a small subset of its counterpart in kubernetes/pkg/registry, keeping the observable rules.
import type { FieldError, KubeObject } from '../api/admission.ts';
import { badRequest } from './errors.ts';
import { clone, deepEqual, isObject, type JsonObject } from './meta.ts';
import type { MergeKeys } from './patch.ts';
import {
  CONFIGMAP_TABLE, CONTROLLERREVISION_TABLE, ENDPOINTSLICE_TABLE, EVENT_TABLE, LEASE_TABLE, NAMESPACE_TABLE, NODE_TABLE, POD_TABLE,
  ROLEBINDING_TABLE, SECRET_TABLE, SERVICE_TABLE, SERVICEACCOUNT_TABLE,
} from './printers.ts';
import { ALL_VERBS, type Registry, type ResourceType, type Strategy } from './registry.ts';
import { validatePodSpecResources } from '../kube/resources.ts';
import { readQuantity } from '../kube/units.ts';
import {
  PORT_RANGE_MSG, isDNS1123Label, isValidPortName, isValidPortNum, nameIsDNS1035Label, nameIsDNSLabel, nameIsDNSSubdomain,
  validateLabels,
} from './validation.ts';

const obj = (v: unknown): JsonObject => (isObject(v) ? v : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : String(v));

export function builtin(partial: Partial<ResourceType> & Pick<ResourceType, 'group' | 'version' | 'kind' | 'plural' | 'namespaced' | 'strategy'>): ResourceType {
  return {
    listKind: `${partial.kind}List`,
    singular: partial.kind.toLowerCase(),
    shortNames: [],
    categories: [],
    verbs: ALL_VERBS,
    storageKey: `${partial.group || 'core'}/${partial.plural}`,
    storageApiVersion: partial.group ? `${partial.group}/${partial.version}` : partial.version,
    subresources: [],
    ...partial,
  };
}

export function base(table: Strategy['table'], more: Partial<Strategy> = {}): Strategy {
  return {
    nameValidator: nameIsDNSSubdomain,
    tracksGeneration: false,
    hasStatusSubresource: false,
    allowUnconditionalUpdate: true,
    returnDeletedObject: false,
    table,
    ...more,
  };
}

// ------------------------------------------------------------------------------------------------ namespaces

const namespaceStrategy = base(NAMESPACE_TABLE, {
  nameValidator: nameIsDNSLabel,
  hasStatusSubresource: true,
  returnDeletedObject: true,
  fieldLabels: { 'status.phase': (o) => str(obj(o.status).phase) },
  prepareForCreate(o) {
    o.status = { phase: 'Active' };
    o.spec = { ...obj(o.spec), finalizers: ['kubernetes'] };
  },
  prepareForUpdate(o, old) {
    o.spec = clone(obj(old.spec));
  },
  applyDefaults(o) {
    // The NamespaceDefaultLabelName feature: every namespace carries its own name as a label.
    o.metadata.labels = { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': o.metadata.name ?? '' };
  },
});

// ------------------------------------------------------------------------------------------------ nodes

const nodeStrategy = base(NODE_TABLE, {
  hasStatusSubresource: true,
  returnDeletedObject: false,
  fieldLabels: { 'spec.unschedulable': (o) => String(obj(o.spec).unschedulable === true) },
});

// ------------------------------------------------------------------------------------------------ pods

export const POD_MERGE_KEYS: MergeKeys = {
  'spec.containers': 'name',
  'spec.initContainers': 'name',
  'spec.ephemeralContainers': 'name',
  'spec.containers.ports': 'containerPort',
  'spec.initContainers.ports': 'containerPort',
  'spec.containers.env': 'name',
  'spec.initContainers.env': 'name',
  'spec.containers.volumeMounts': 'mountPath',
  'spec.initContainers.volumeMounts': 'mountPath',
  'spec.volumes': 'name',
  'spec.imagePullSecrets': 'name',
  'spec.hostAliases': 'ip',
  'status.conditions': 'type',
  'status.podIPs': 'ip',
  'status.hostIPs': 'ip',
};

function defaultProbe(p: unknown): void {
  if (!isObject(p)) return;
  p.timeoutSeconds ??= 1;
  p.periodSeconds ??= 10;
  p.successThreshold ??= 1;
  p.failureThreshold ??= 3;
  if (isObject(p.httpGet)) p.httpGet.scheme ??= 'HTTP';
}

function defaultContainer(c: unknown): void {
  if (!isObject(c)) return;
  if (c.imagePullPolicy === undefined && typeof c.image === 'string') {
    const tagged = /:[^/]+$/.test(c.image.split('@')[0]!) && !c.image.endsWith(':latest');
    c.imagePullPolicy = c.image.includes('@') || tagged ? 'IfNotPresent' : 'Always';
  }
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  c.resources ??= {};
  for (const p of arr(c.ports)) if (isObject(p)) p.protocol ??= 'TCP';
  for (const e of arr(c.env)) if (isObject(e) && isObject(e.valueFrom) && isObject(e.valueFrom.fieldRef)) e.valueFrom.fieldRef.apiVersion ??= 'v1';
  defaultProbe(c.livenessProbe);
  defaultProbe(c.readinessProbe);
  defaultProbe(c.startupProbe);
}

function qosClass(spec: JsonObject): string {
  let any = false;
  let guaranteed = true;
  for (const c of [...arr(spec.containers), ...arr(spec.initContainers)].map(obj)) {
    const res = obj(c.resources);
    const req = obj(res.requests);
    const lim = obj(res.limits);
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    for (const r of ['cpu', 'memory']) {
      if (lim[r] === undefined || (req[r] !== undefined && String(req[r]) !== String(lim[r]))) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

function validateContainers(list: unknown, field: string, required: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const containers = arr(list);
  if (required && containers.length === 0) errs.push({ field, type: 'Required value' });
  const names = new Set<string>();
  containers.forEach((raw, i) => {
    const c = obj(raw);
    const f = `${field}[${i}]`;
    if (!c.name) errs.push({ field: `${f}.name`, type: 'Required value' });
    else {
      const name = String(c.name);
      for (const m of isDNS1123Label(name)) errs.push({ field: `${f}.name`, type: 'Invalid value', value: name, detail: m });
      if (names.has(name)) errs.push({ field: `${f}.name`, type: 'Duplicate value', value: name });
      names.add(name);
    }
    if (!c.image || (typeof c.image === 'string' && c.image.trim() === '')) errs.push({ field: `${f}.image`, type: 'Required value' });
    const portNames = new Set<string>();
    arr(c.ports).forEach((rp, j) => {
      const p = obj(rp);
      const pf = `${f}.ports[${j}]`;
      if (p.containerPort === undefined || p.containerPort === 0) errs.push({ field: `${pf}.containerPort`, type: 'Required value' });
      else if (!isValidPortNum(p.containerPort)) errs.push({ field: `${pf}.containerPort`, type: 'Invalid value', value: p.containerPort, detail: PORT_RANGE_MSG });
      if (p.name !== undefined && p.name !== '') {
        const pn = String(p.name);
        for (const m of isValidPortName(pn)) errs.push({ field: `${pf}.name`, type: 'Invalid value', value: pn, detail: m });
        if (portNames.has(pn)) errs.push({ field: `${pf}.name`, type: 'Duplicate value', value: pn });
        portNames.add(pn);
      }
      if (p.protocol !== undefined && !['TCP', 'UDP', 'SCTP'].includes(String(p.protocol))) {
        errs.push({ field: `${pf}.protocol`, type: 'Unsupported value', value: p.protocol, detail: 'supported values: "SCTP", "TCP", "UDP"' });
      }
    });
    arr(c.env).forEach((re, j) => {
      if (!obj(re).name) errs.push({ field: `${f}.env[${j}].name`, type: 'Required value' });
    });
  });
  return errs;
}

const POD_MUTABLE_MSG = 'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';

const podStrategy = base(POD_TABLE, {
  tracksGeneration: true,
  hasStatusSubresource: true,
  returnDeletedObject: true,
  fieldLabels: {
    'spec.nodeName': (o) => str(obj(o.spec).nodeName),
    'spec.restartPolicy': (o) => str(obj(o.spec).restartPolicy),
    'spec.schedulerName': (o) => str(obj(o.spec).schedulerName),
    'spec.serviceAccountName': (o) => str(obj(o.spec).serviceAccountName),
    'spec.hostNetwork': (o) => String(obj(o.spec).hostNetwork === true),
    'status.phase': (o) => str(obj(o.status).phase),
    'status.podIP': (o) => str(obj(o.status).podIP),
    'status.nominatedNodeName': (o) => str(obj(o.status).nominatedNodeName),
  },
  decode(o) {
    // Quantities are resource.Quantity on the wire: one that does not parse fails decoding (400), like the real server.
    for (const list of ['containers', 'initContainers']) {
      for (const c of arr(obj(o.spec)[list])) {
        const res = obj(obj(c).resources);
        for (const value of [...Object.values(obj(res.requests)), ...Object.values(obj(res.limits))]) {
          try {
            readQuantity(typeof value === 'number' ? value : String(value));
          } catch (err) {
            throw badRequest(`Pod in version "v1" cannot be handled as a Pod: ${(err as Error).message}`);
          }
        }
      }
    }
    return [];
  },
  applyDefaults(o) {
    if (!isObject(o.spec)) return;
    const s = o.spec;
    s.restartPolicy ??= 'Always';
    s.terminationGracePeriodSeconds ??= 30;
    s.dnsPolicy ??= 'ClusterFirst';
    s.schedulerName ??= 'default-scheduler';
    s.securityContext ??= {};
    s.enableServiceLinks ??= true;
    s.priority ??= 0;
    s.preemptionPolicy ??= 'PreemptLowerPriority';
    for (const c of arr(s.containers)) defaultContainer(c);
    for (const c of arr(s.initContainers)) defaultContainer(c);
  },
  prepareForCreate(o) {
    o.status = { phase: 'Pending', qosClass: qosClass(obj(o.spec)) };
  },
  validate(o) {
    const errs: FieldError[] = [];
    if (!isObject(o.spec)) return [{ field: 'spec.containers', type: 'Required value' }];
    const s = o.spec;
    errs.push(...validateContainers(s.containers, 'spec.containers', true));
    errs.push(...validateContainers(s.initContainers, 'spec.initContainers', false));
    errs.push(...validatePodSpecResources(s, 'spec'));
    if (!['Always', 'OnFailure', 'Never'].includes(String(s.restartPolicy))) {
      errs.push({ field: 'spec.restartPolicy', type: 'Unsupported value', value: s.restartPolicy, detail: 'supported values: "Always", "OnFailure", "Never"' });
    }
    if (!['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'].includes(String(s.dnsPolicy))) {
      errs.push({ field: 'spec.dnsPolicy', type: 'Unsupported value', value: s.dnsPolicy, detail: 'supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"' });
    }
    const volumes = new Set<string>();
    arr(s.volumes).forEach((v, i) => {
      const name = str(obj(v).name);
      if (!name) errs.push({ field: `spec.volumes[${i}].name`, type: 'Required value' });
      else if (volumes.has(name)) errs.push({ field: `spec.volumes[${i}].name`, type: 'Duplicate value', value: name });
      else volumes.add(name);
    });
    if (typeof s.terminationGracePeriodSeconds === 'number' && s.terminationGracePeriodSeconds < 0) {
      errs.push({ field: 'spec.terminationGracePeriodSeconds', type: 'Invalid value', value: s.terminationGracePeriodSeconds, detail: 'must be greater than or equal to 0' });
    }
    errs.push(...validateLabels(s.nodeSelector, 'spec.nodeSelector'));
    return errs;
  },
  validateUpdate(o, old) {
    // Only images, activeDeadlineSeconds, tolerations and terminationGracePeriodSeconds may change.
    const strip = (spec: unknown) => {
      const s = clone(obj(spec));
      for (const k of ['containers', 'initContainers']) {
        s[k] = arr(s[k]).map((c) => ({ ...obj(c), image: undefined }));
      }
      delete s.activeDeadlineSeconds;
      delete s.tolerations;
      delete s.terminationGracePeriodSeconds;
      return s;
    };
    if (!deepEqual(JSON.parse(JSON.stringify(strip(o.spec))), JSON.parse(JSON.stringify(strip(old.spec))))) {
      return [{ field: 'spec', type: 'Forbidden', detail: POD_MUTABLE_MSG }];
    }
    return [];
  },
});

// ------------------------------------------------------------------------------------------------ services

const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];

function serviceStrategy(allocate: { clusterIP(): string; nodePort(): number }): Strategy {
  return base(SERVICE_TABLE, {
    nameValidator: nameIsDNS1035Label,
    hasStatusSubresource: true,
    returnDeletedObject: true,
    applyDefaults(o) {
      if (!isObject(o.spec)) o.spec = {};
      const s = o.spec as JsonObject;
      s.type ??= 'ClusterIP';
      s.sessionAffinity ??= 'None';
      for (const p of arr(s.ports)) {
        if (!isObject(p)) continue;
        p.protocol ??= 'TCP';
        if (p.targetPort === undefined || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
      }
      if (s.type !== 'ExternalName') {
        s.internalTrafficPolicy ??= 'Cluster';
      }
    },
    prepareForCreate(o) {
      const s = obj(o.spec);
      o.status = { loadBalancer: {} };
      if (s.type === 'ExternalName') return;
      if (!s.clusterIP) s.clusterIP = allocate.clusterIP();
      if (s.clusterIP !== 'None') {
        s.clusterIPs ??= [s.clusterIP];
        s.ipFamilies ??= ['IPv4'];
        s.ipFamilyPolicy ??= 'SingleStack';
      }
      if (s.type === 'NodePort' || s.type === 'LoadBalancer') {
        for (const p of arr(s.ports)) if (isObject(p) && !p.nodePort) p.nodePort = allocate.nodePort();
        if (s.type === 'LoadBalancer') s.allocateLoadBalancerNodePorts ??= true;
        s.externalTrafficPolicy ??= 'Cluster';
      }
    },
    prepareForUpdate(o, old) {
      const s = obj(o.spec);
      const os = obj(old.spec);
      if (!s.clusterIP && os.clusterIP) s.clusterIP = os.clusterIP;
      if (!s.clusterIPs && os.clusterIPs) s.clusterIPs = clone(os.clusterIPs);
      if (!s.ipFamilies && os.ipFamilies) s.ipFamilies = clone(os.ipFamilies);
      if (!s.ipFamilyPolicy && os.ipFamilyPolicy) s.ipFamilyPolicy = os.ipFamilyPolicy;
      if ((s.type === 'NodePort' || s.type === 'LoadBalancer')) {
        for (const p of arr(s.ports)) {
          if (!isObject(p) || p.nodePort) continue;
          const prev = arr(os.ports).map(obj).find((q) => q.port === p.port && q.protocol === p.protocol);
          p.nodePort = prev?.nodePort ?? allocate.nodePort();
        }
      }
    },
    validate(o) {
      const errs: FieldError[] = [];
      const s = obj(o.spec);
      const type = String(s.type);
      if (!SERVICE_TYPES.includes(type)) errs.push({ field: 'spec.type', type: 'Unsupported value', value: s.type, detail: 'supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"' });
      const ports = arr(s.ports);
      if (ports.length === 0 && s.clusterIP !== 'None' && type !== 'ExternalName') errs.push({ field: 'spec.ports', type: 'Required value' });
      const names = new Set<string>();
      ports.forEach((rp, i) => {
        const p = obj(rp);
        const f = `spec.ports[${i}]`;
        if (ports.length > 1 && !p.name) errs.push({ field: `${f}.name`, type: 'Required value' });
        if (p.name) {
          const n = String(p.name);
          for (const m of isDNS1123Label(n)) errs.push({ field: `${f}.name`, type: 'Invalid value', value: n, detail: m });
          if (names.has(n)) errs.push({ field: `${f}.name`, type: 'Duplicate value', value: n });
          names.add(n);
        }
        if (!isValidPortNum(p.port)) errs.push({ field: `${f}.port`, type: 'Invalid value', value: p.port ?? 0, detail: PORT_RANGE_MSG });
        if (!['TCP', 'UDP', 'SCTP'].includes(String(p.protocol))) errs.push({ field: `${f}.protocol`, type: 'Unsupported value', value: p.protocol, detail: 'supported values: "SCTP", "TCP", "UDP"' });
        if (typeof p.targetPort === 'number' && !isValidPortNum(p.targetPort)) errs.push({ field: `${f}.targetPort`, type: 'Invalid value', value: p.targetPort, detail: PORT_RANGE_MSG });
        if (typeof p.targetPort === 'string') for (const m of isValidPortName(p.targetPort)) errs.push({ field: `${f}.targetPort`, type: 'Invalid value', value: p.targetPort, detail: m });
      });
      errs.push(...validateLabels(s.selector, 'spec.selector'));
      return errs;
    },
    validateUpdate(o, old) {
      const s = obj(o.spec);
      const os = obj(old.spec);
      if (os.clusterIP && s.clusterIP !== os.clusterIP && os.type !== 'ExternalName' && s.type !== 'ExternalName') {
        return [{ field: 'spec.clusterIPs[0]', type: 'Invalid value', value: s.clusterIP ?? '', detail: 'may not change once set' }];
      }
      return [];
    },
  });
}

// ------------------------------------------------------------------------------------------------ configmaps, secrets

const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
const CONFIG_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

function validateKeys(map: unknown, field: string, seen: Set<string>): FieldError[] {
  const errs: FieldError[] = [];
  for (const k of Object.keys(obj(map))) {
    if (!CONFIG_KEY.test(k) || k.length > 253) errs.push({ field, type: 'Invalid value', value: k, detail: CONFIG_KEY_MSG });
    if (seen.has(k)) errs.push({ field, type: 'Invalid value', value: k, detail: 'duplicate of key present in binaryData' });
    seen.add(k);
  }
  return errs;
}

function immutableData(o: KubeObject, old: KubeObject, fields: string[]): FieldError[] {
  if (old.immutable !== true) return [];
  const errs: FieldError[] = [];
  if (o.immutable !== true) errs.push({ field: 'immutable', type: 'Forbidden', detail: 'field is immutable when `immutable` is set' });
  for (const f of fields) if (!deepEqual(o[f] ?? {}, old[f] ?? {})) errs.push({ field: f, type: 'Forbidden', detail: 'field is immutable when `immutable` is set' });
  return errs;
}

const configMapStrategy = base(CONFIGMAP_TABLE, {
  validate(o) {
    const errs: FieldError[] = [];
    const seen = new Set<string>();
    for (const [k, v] of Object.entries(obj(o.data))) if (typeof v !== 'string') errs.push({ field: `data[${k}]`, type: 'Invalid value', value: v, detail: 'must be a string' });
    errs.push(...validateKeys(o.data, 'data', seen), ...validateKeys(o.binaryData, 'binaryData', seen));
    return errs;
  },
  validateUpdate: (o, old) => immutableData(o, old, ['data', 'binaryData']),
});

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const secretStrategy = base(SECRET_TABLE, {
  fieldLabels: { type: (o) => str(o.type) },
  decode(o) {
    // `data` is []byte on the wire: invalid base64 fails decoding (400), like the real server.
    for (const [k, v] of Object.entries(obj(o.data))) {
      if (typeof v !== 'string' || !BASE64.test(v)) {
        throw badRequest(`Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 0 (key ${JSON.stringify(k)})`);
      }
    }
    return [];
  },
  applyDefaults(o) {
    o.type ??= 'Opaque';
    // stringData is write-only: folded into data on every write.
    if (isObject(o.stringData)) {
      const data = obj(o.data);
      for (const [k, v] of Object.entries(o.stringData)) data[k] = Buffer.from(String(v), 'utf8').toString('base64');
      o.data = data;
    }
    delete o.stringData;
  },
  validate(o) {
    const errs = validateKeys(o.data, 'data', new Set());
    let size = 0;
    for (const v of Object.values(obj(o.data))) size += Buffer.from(String(v), 'base64').length;
    if (size > 1024 * 1024) errs.push({ field: 'data', type: 'Too long', detail: 'must have at most 1048576 bytes' });
    return errs;
  },
  validateUpdate(o, old) {
    const errs = immutableData(o, old, ['data']);
    if (o.type !== old.type) errs.push({ field: 'type', type: 'Invalid value', value: o.type, detail: 'field is immutable' });
    return errs;
  },
});

// ------------------------------------------------------------------------------------------------ events

const coreEventFieldLabels: Record<string, (o: KubeObject) => string | undefined> = {
  'involvedObject.kind': (o) => str(obj(o.involvedObject).kind),
  'involvedObject.namespace': (o) => str(obj(o.involvedObject).namespace),
  'involvedObject.name': (o) => str(obj(o.involvedObject).name),
  'involvedObject.uid': (o) => str(obj(o.involvedObject).uid),
  'involvedObject.apiVersion': (o) => str(obj(o.involvedObject).apiVersion),
  'involvedObject.resourceVersion': (o) => str(obj(o.involvedObject).resourceVersion),
  'involvedObject.fieldPath': (o) => str(obj(o.involvedObject).fieldPath),
  reason: (o) => str(o.reason),
  reportingComponent: (o) => str(o.reportingComponent),
  source: (o) => str(obj(o.source).component),
  type: (o) => str(o.type),
};

const coreEventStrategy = base(EVENT_TABLE, {
  fieldLabels: coreEventFieldLabels,
  validate(o) {
    const errs: FieldError[] = [];
    const inv = obj(o.involvedObject);
    if (inv.namespace && o.metadata.namespace && inv.namespace !== o.metadata.namespace && o.metadata.namespace !== 'default') {
      errs.push({ field: 'involvedObject.namespace', type: 'Invalid value', value: inv.namespace, detail: 'does not match event.namespace' });
    }
    return errs;
  },
});

// events.k8s.io/v1 is another view of the same stored core events (as in kube-apiserver).
const EVENT_RENAMES: [string, string][] = [
  ['regarding', 'involvedObject'],
  ['note', 'message'],
  ['deprecatedSource', 'source'],
  ['deprecatedFirstTimestamp', 'firstTimestamp'],
  ['deprecatedLastTimestamp', 'lastTimestamp'],
  ['deprecatedCount', 'count'],
  ['reportingController', 'reportingComponent'],
];

function renameFields(o: KubeObject, pairs: [string, string][], apiVersion: string): KubeObject {
  const out: JsonObject = { ...o, apiVersion };
  for (const [from, to] of pairs) {
    if (from in out) {
      out[to] = out[from];
      delete out[from];
    }
  }
  return out as KubeObject;
}

const eventsV1Strategy = base(EVENT_TABLE, {
  fieldLabels: {
    ...coreEventFieldLabels,
    ...Object.fromEntries(Object.entries(coreEventFieldLabels)
      .filter(([k]) => k.startsWith('involvedObject.'))
      .map(([k, f]) => [`regarding.${k.slice('involvedObject.'.length)}`, f])),
    reportingController: (o) => str(o.reportingComponent),
  },
  convertOut: (stored) => renameFields(stored, EVENT_RENAMES.map(([a, b]) => [b, a]), 'events.k8s.io/v1'),
  convertIn: (served) => renameFields(served, EVENT_RENAMES, 'v1'),
  validate(o) {
    const errs: FieldError[] = [];
    if (!o.eventTime) errs.push({ field: 'eventTime', type: 'Required value' });
    if (!o.reportingController) errs.push({ field: 'reportingController', type: 'Required value' });
    if (!o.reportingInstance) errs.push({ field: 'reportingInstance', type: 'Required value' });
    if (!o.action) errs.push({ field: 'action', type: 'Required value' });
    if (!o.reason) errs.push({ field: 'reason', type: 'Required value' });
    if (o.type !== 'Normal' && o.type !== 'Warning') errs.push({ field: 'type', type: 'Unsupported value', value: o.type ?? '', detail: 'supported values: "Normal", "Warning"' });
    return errs;
  },
});

// ------------------------------------------------------------------------------------------------ leases

// ------------------------------------------------------------------------------------------------ identities

/** ServiceAccounts are stored and listed; no tokens are minted here (the embedded server has no token authenticator). */
const serviceAccountStrategy = base(SERVICEACCOUNT_TABLE);

/**
 * RoleBindings are stored, validated and listed, not enforced (the embedded server authorizes everyone). As the real
 * server: roleRef is required and immutable, subjects need a kind and a name.
 */
const roleBindingStrategy = base(ROLEBINDING_TABLE, {
  validate(o) {
    const errs: FieldError[] = [];
    const ref = obj((o as { roleRef?: unknown }).roleRef);
    if (ref.kind !== 'Role' && ref.kind !== 'ClusterRole') errs.push({ field: 'roleRef.kind', type: 'Unsupported value', value: ref.kind, detail: 'supported values: "Role", "ClusterRole"' });
    if (!ref.name) errs.push({ field: 'roleRef.name', type: 'Required value' });
    arr((o as { subjects?: unknown }).subjects).forEach((s, i) => {
      const subject = obj(s);
      if (!subject.kind) errs.push({ field: `subjects[${i}].kind`, type: 'Required value' });
      if (!subject.name) errs.push({ field: `subjects[${i}].name`, type: 'Required value' });
    });
    return errs;
  },
  validateUpdate(o, old) {
    return deepEqual((o as { roleRef?: unknown }).roleRef, (old as { roleRef?: unknown }).roleRef)
      ? []
      : [{ field: 'roleRef', type: 'Invalid value', value: (o as { roleRef?: unknown }).roleRef, detail: 'cannot change roleRef' }];
  },
});

const leaseStrategy = base(LEASE_TABLE, {
  validate(o) {
    const errs: FieldError[] = [];
    const s = obj(o.spec);
    if (s.leaseDurationSeconds !== undefined && !(typeof s.leaseDurationSeconds === 'number' && s.leaseDurationSeconds > 0)) {
      errs.push({ field: 'spec.leaseDurationSeconds', type: 'Invalid value', value: s.leaseDurationSeconds, detail: 'must be greater than 0' });
    }
    if (s.leaseTransitions !== undefined && !(typeof s.leaseTransitions === 'number' && s.leaseTransitions >= 0)) {
      errs.push({ field: 'spec.leaseTransitions', type: 'Invalid value', value: s.leaseTransitions, detail: 'must be greater than or equal to 0' });
    }
    return errs;
  },
});

// ------------------------------------------------------------------------------------------------ endpointslices

// discovery.k8s.io/v1 EndpointSlice (pkg/apis/discovery/validation): what the ModelServer controller writes for its
// selector-less Services. One deliberate difference: loopback addresses are accepted, because locally the gateway
// and every pod live on 127.0.0.0/8 (the real server refuses them; there, pod IPs are never loopback).
const ADDRESS_TYPES = ['IPv4', 'IPv6', 'FQDN'];
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'];
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

const endpointSliceStrategy = base(ENDPOINTSLICE_TABLE, {
  validate(o) {
    const errs: FieldError[] = [];
    const type = o.addressType;
    if (type === undefined || type === '') errs.push({ field: 'addressType', type: 'Required value', detail: '' });
    else if (!ADDRESS_TYPES.includes(String(type))) errs.push({ field: 'addressType', type: 'Unsupported value', value: type, detail: `supported values: ${ADDRESS_TYPES.map((t) => `"${t}"`).join(', ')}` });
    arr(o.endpoints).forEach((e, i) => {
      const addresses = arr(obj(e).addresses);
      if (addresses.length === 0) errs.push({ field: `endpoints[${i}].addresses`, type: 'Required value', detail: 'must contain at least 1 address' });
      addresses.forEach((a, j) => {
        if (type === 'IPv4' && !IPV4.test(String(a))) errs.push({ field: `endpoints[${i}].addresses[${j}]`, type: 'Invalid value', value: a, detail: 'must be a valid IP address' });
      });
    });
    const names = new Set<string>();
    arr(o.ports).forEach((p, i) => {
      const port = obj(p);
      const name = str(port.name) ?? '';
      if (name && !isDNS1123Label(name)) errs.push({ field: `ports[${i}].name`, type: 'Invalid value', value: name, detail: "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character" });
      if (names.has(name)) errs.push({ field: `ports[${i}].name`, type: 'Duplicate value', value: name });
      names.add(name);
      if (port.protocol === undefined) errs.push({ field: `ports[${i}].protocol`, type: 'Required value', detail: '' });
      else if (!PROTOCOLS.includes(String(port.protocol))) errs.push({ field: `ports[${i}].protocol`, type: 'Unsupported value', value: port.protocol, detail: `supported values: ${PROTOCOLS.map((t) => `"${t}"`).join(', ')}` });
    });
    return errs;
  },
  validateUpdate(o, old) {
    return o.addressType === old.addressType ? [] : [{ field: 'addressType', type: 'Invalid value', value: o.addressType, detail: 'field is immutable' }];
  },
  applyDefaults(o) {
    // The API defaults a port's protocol to TCP (discovery/v1 defaults.go).
    for (const p of arr(o.ports)) if (isObject(p) && p.protocol === undefined) p.protocol = 'TCP';
  },
});

// ------------------------------------------------------------------------------------------------ controllerrevisions

// apps/v1 ControllerRevision (pkg/apis/apps/validation ValidateControllerRevision): an immutable snapshot of a
// controller's state (`data`, any JSON) with a `revision` number; the Model controller keeps its spec history in them.
const controllerRevisionStrategy = base(CONTROLLERREVISION_TABLE, {
  validate(o) {
    const errs: FieldError[] = [];
    if (o.data === undefined || o.data === null) errs.push({ field: 'data', type: 'Required value', detail: '' });
    if (!Number.isInteger(o.revision) || (o.revision as number) < 0) {
      errs.push({ field: 'revision', type: 'Invalid value', value: o.revision, detail: 'must be greater than or equal to 0' });
    }
    return errs;
  },
  validateUpdate(o, old) {
    return deepEqual(o.data, old.data) ? [] : [{ field: 'data', type: 'Invalid value', value: '', detail: 'field is immutable' }];
  },
});

// ------------------------------------------------------------------------------------------------ registration

export interface Allocators {
  clusterIP(): string;
  nodePort(): number;
}

export function registerBuiltins(registry: Registry, allocate: Allocators): void {
  const add = (rt: ResourceType) => registry.add(rt, true);
  add(builtin({
    group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false, shortNames: ['ns'],
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], subresources: ['status', 'finalize'],
    strategy: namespaceStrategy,
  }));
  add(builtin({
    group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false, shortNames: ['no'], subresources: ['status'],
    strategy: nodeStrategy,
  }));
  add(builtin({
    group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true, shortNames: ['po'], categories: ['all'],
    subresources: ['status', 'log', 'binding'], mergeKeys: POD_MERGE_KEYS, strategy: podStrategy,
  }));
  add(builtin({
    group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true, shortNames: ['svc'], categories: ['all'],
    subresources: ['status'], mergeKeys: { 'spec.ports': 'port', 'status.conditions': 'type' },
    strategy: serviceStrategy(allocate),
  }));
  add(builtin({ group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true, shortNames: ['cm'], mergeKeys: {}, strategy: configMapStrategy }));
  add(builtin({ group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true, mergeKeys: {}, strategy: secretStrategy }));
  add(builtin({ group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true, shortNames: ['sa'], mergeKeys: {}, strategy: serviceAccountStrategy }));
  add(builtin({ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true, mergeKeys: {}, strategy: roleBindingStrategy }));
  add(builtin({ group: '', version: 'v1', kind: 'Event', plural: 'events', namespaced: true, shortNames: ['ev'], mergeKeys: {}, strategy: coreEventStrategy }));
  add(builtin({ group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices', namespaced: true, mergeKeys: {}, strategy: endpointSliceStrategy }));
  add(builtin({ group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', namespaced: true, mergeKeys: {}, strategy: leaseStrategy }));
  add(builtin({ group: 'apps', version: 'v1', kind: 'ControllerRevision', plural: 'controllerrevisions', namespaced: true, mergeKeys: {}, strategy: controllerRevisionStrategy }));
  add(builtin({
    group: 'events.k8s.io', version: 'v1', kind: 'Event', plural: 'events', namespaced: true, mergeKeys: {},
    storageKey: 'core/events', storageApiVersion: 'v1', strategy: eventsV1Strategy,
  }));
}

/** Objects every cluster starts with. */
export const INITIAL_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
