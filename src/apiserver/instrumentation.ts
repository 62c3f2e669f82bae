// The API server's own Prometheus metrics, under kube-apiserver's names and label sets so that the dashboards and
// alerts written for it (kube-prometheus, the Kubernetes mixin) read ours unchanged. Served on GET /metrics of the
// API server's port, as kube-apiserver does, with prom-client's default process metrics, from a private registry.
// (Not to be confused with metrics.ts: the metrics.k8s.io resource API.)
//
//   apiserver_request_total{verb,group,version,resource,subresource,scope,component,code}   counter
//   apiserver_request_duration_seconds{verb,group,version,resource,subresource,scope,component}   histogram (not WATCH)
//   apiserver_longrunning_requests{verb,group,version,resource,subresource,scope,component}   gauge (open watches)
//   apiserver_current_inflight_requests{request_kind}   gauge (readOnly | mutating; watches not counted)
//   apiserver_watch_events_total{group,version,resource}   counter: events sent on watches (bookmarks included)
//   apiserver_storage_objects{resource}   gauge, read from storage at scrape time
//   etcd_request_duration_seconds{operation,type}   histogram: our SQLite-backed store stands in for etcd
//   apiserver_admission_controller_admission_duration_seconds{name,operation,rejected,type}   histogram
//
// Verbs are kube-apiserver's (GET, LIST, WATCH, CREATE, UPDATE, PATCH, APPLY, DELETE, DELETECOLLECTION), scope its
// CleanScope (resource | namespace | cluster | ''), component `apiserver`. Label children are cached per label
// string, so a request costs two Map lookups and the updates.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ResourceRequest } from './request.ts';

/** kube-apiserver's request duration buckets (k8s.io/apiserver/pkg/endpoints/metrics). */
export const REQUEST_DURATION_BUCKETS = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60];
/** etcd3 storage latency buckets (k8s.io/apiserver/pkg/storage/etcd3/metrics). */
export const ETCD_DURATION_BUCKETS = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60];
/** Admission latency buckets (k8s.io/apiserver/pkg/admission/metrics). */
export const ADMISSION_DURATION_BUCKETS = [0.005, 0.025, 0.1, 0.5, 1.0, 2.5];

export type Verb = 'GET' | 'LIST' | 'WATCH' | 'CREATE' | 'UPDATE' | 'PATCH' | 'APPLY' | 'DELETE' | 'DELETECOLLECTION' | 'POST' | 'PUT' | 'HEAD' | 'OPTIONS';
export type StorageOperation = 'get' | 'list' | 'create' | 'update' | 'delete';

/** What a request is, in the metrics' terms. */
export interface RequestLabels {
  verb: Verb;
  group: string;
  version: string;
  resource: string;
  subresource: string;
  scope: 'resource' | 'namespace' | 'cluster' | '';
}

const REQUEST_LABELS = ['verb', 'group', 'version', 'resource', 'subresource', 'scope', 'component'] as const;

/**
 * kube-apiserver's verb and scope for a request (RequestInfoFactory, then metrics.CleanVerb and CleanScope): a GET of
 * a collection is LIST, of a collection with watch=true (or /watch/) WATCH; a DELETE of a collection
 * DELETECOLLECTION; a PATCH with an apply content type APPLY. Non-resource requests keep their HTTP method.
 */
export function requestLabels(method: string, info: ResourceRequest | undefined, watch: boolean, contentType: string | undefined): RequestLabels {
  if (info === undefined) return { verb: nonResourceVerb(method), group: '', version: '', resource: '', subresource: '', scope: '' };
  let verb: Verb;
  switch (method) {
    case 'GET':
    case 'HEAD':
      verb = info.legacyWatch || (watch && info.subresource === undefined) ? 'WATCH' : info.name === undefined ? 'LIST' : 'GET';
      break;
    case 'POST':
      verb = 'CREATE';
      break;
    case 'PUT':
      verb = 'UPDATE';
      break;
    case 'PATCH':
      verb = contentType?.startsWith('application/apply-patch') ? 'APPLY' : 'PATCH';
      break;
    case 'DELETE':
      verb = info.name === undefined ? 'DELETECOLLECTION' : 'DELETE';
      break;
    default:
      verb = nonResourceVerb(method);
  }
  const scope = info.name !== undefined || verb === 'CREATE' ? 'resource' : info.namespace !== undefined ? 'namespace' : 'cluster';
  return { verb, group: info.group, version: info.version, resource: info.resource, subresource: info.subresource ?? '', scope };
}

function nonResourceVerb(method: string): Verb {
  return method === 'POST' || method === 'PUT' || method === 'HEAD' || method === 'OPTIONS' ? method : 'GET';
}

/** kube-apiserver's name of a stored resource: `pods`, `deployments.apps`, `models.matrixinfer.ai`. */
export function storageResourceName(storageKey: string): string {
  const slash = storageKey.indexOf('/');
  const group = storageKey.slice(0, slash);
  const plural = storageKey.slice(slash + 1);
  return group === 'core' || group === '' ? plural : `${plural}.${group}`;
}

const isReadOnly = (verb: Verb) => verb === 'GET' || verb === 'LIST' || verb === 'HEAD' || verb === 'OPTIONS';

/** One request in flight; `done(code)` records it once. */
export interface RequestTracker {
  done(code: number): void;
}

export class ApiServerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<string>;
  private readonly durations: Histogram<string>;
  private readonly longRunning: Gauge<string>;
  private readonly inflight: Gauge<string>;
  private readonly storageLatency: Histogram<string>;
  private readonly admissionLatency: Histogram<string>;
  private readonly children = new Map<string, { count: Map<number, Counter.Internal>; duration: Histogram.Internal<string>; longRunning: Gauge.Internal<string> }>();
  private readonly storageChildren = new Map<string, Histogram.Internal<string>>();
  private readonly admissionChildren = new Map<string, Histogram.Internal<string>>();
  private readonly watchEventCounter: Counter<string>;
  private readonly watchEventChildren = new Map<string, Counter.Internal>();
  private readonly readOnly: Gauge.Internal<string>;
  private readonly mutating: Gauge.Internal<string>;

  /** `objectCounts` answers apiserver_storage_objects at scrape time: storage key → stored objects. */
  constructor(objectCounts: () => Iterable<[storageKey: string, count: number]>, options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({ name: 'apiserver_request_total', help: 'Counter of apiserver requests broken out for each verb, group, version, resource, scope, component, and HTTP response code.', labelNames: [...REQUEST_LABELS, 'code'], registers });
    this.durations = new Histogram({ name: 'apiserver_request_duration_seconds', help: 'Response latency distribution in seconds for each verb, group, version, resource, subresource, scope and component (WATCH excluded).', labelNames: REQUEST_LABELS, buckets: REQUEST_DURATION_BUCKETS, registers });
    this.longRunning = new Gauge({ name: 'apiserver_longrunning_requests', help: 'Gauge of all active long-running apiserver requests (watches) broken out by verb, group, version, resource, scope and component.', labelNames: REQUEST_LABELS, registers });
    this.inflight = new Gauge({ name: 'apiserver_current_inflight_requests', help: 'Maximal number of currently used inflight request limit of this apiserver per request kind (here: the requests in flight, watches excluded).', labelNames: ['request_kind'], registers });
    this.watchEventCounter = new Counter({ name: 'apiserver_watch_events_total', help: 'Number of events sent in watch clients', labelNames: ['group', 'version', 'resource'], registers });
    this.readOnly = this.inflight.labels('readOnly');
    this.mutating = this.inflight.labels('mutating');
    this.readOnly.set(0);
    this.mutating.set(0);
    new Gauge({
      name: 'apiserver_storage_objects',
      help: 'Number of stored objects at the time of last check split by kind.',
      labelNames: ['resource'],
      registers,
      collect() {
        this.reset();
        for (const [key, count] of objectCounts()) this.labels(storageResourceName(key)).set(count);
      },
    });
    // The embedded server's storage is SQLite with the objects held in memory, standing in for etcd: the name is the
    // one dashboards read for kube-apiserver's storage latency.
    this.storageLatency = new Histogram({ name: 'etcd_request_duration_seconds', help: 'Storage request latency in seconds for each operation and object type (the embedded store stands in for etcd).', labelNames: ['operation', 'type'], buckets: ETCD_DURATION_BUCKETS, registers });
    this.admissionLatency = new Histogram({ name: 'apiserver_admission_controller_admission_duration_seconds', help: 'Admission controller latency histogram in seconds, identified by name and broken out for each operation and API resource and type (validate or admit).', labelNames: ['name', 'operation', 'rejected', 'type'], buckets: ADMISSION_DURATION_BUCKETS, registers });
  }

  /** Count a request from its start: the returned tracker records its code and (but for watches) its duration. */
  begin(labels: RequestLabels): RequestTracker {
    const key = `${labels.verb}|${labels.group}|${labels.version}|${labels.resource}|${labels.subresource}|${labels.scope}`;
    let child = this.children.get(key);
    if (child === undefined) {
      const values = [labels.verb, labels.group, labels.version, labels.resource, labels.subresource, labels.scope, 'apiserver'] as const;
      child = { count: new Map(), duration: this.durations.labels(...values), longRunning: this.longRunning.labels(...values) };
      this.children.set(key, child);
    }
    const started = performance.now();
    const watch = labels.verb === 'WATCH';
    const gauge = watch ? child.longRunning : isReadOnly(labels.verb) ? this.readOnly : this.mutating;
    gauge.inc();
    let recorded = false;
    const counts = child.count;
    const duration = child.duration;
    return {
      done: (code: number) => {
        if (recorded) return;
        recorded = true;
        gauge.dec();
        let counter = counts.get(code);
        if (counter === undefined) {
          counter = this.requests.labels(labels.verb, labels.group, labels.version, labels.resource, labels.subresource, labels.scope, 'apiserver', String(code));
          counts.set(code, counter);
        }
        counter.inc();
        if (!watch) duration.observe((performance.now() - started) / 1000);
      },
    };
  }

  /** The counter of events sent on watches of one resource (looked up once per watch). */
  watchEvents(group: string, version: string, resource: string): Counter.Internal {
    const key = `${group}|${version}|${resource}`;
    let child = this.watchEventChildren.get(key);
    if (child === undefined) {
      child = this.watchEventCounter.labels(group, version, resource);
      this.watchEventChildren.set(key, child);
    }
    return child;
  }

  /** One storage operation on `storageKey` took `seconds`. */
  storage(operation: StorageOperation, storageKey: string, seconds: number): void {
    const key = `${operation}|${storageKey}`;
    let child = this.storageChildren.get(key);
    if (child === undefined) {
      child = this.storageLatency.labels(operation, storageResourceName(storageKey));
      this.storageChildren.set(key, child);
    }
    child.observe(seconds);
  }

  /** One admission plugin's call: `type` admit (mutating) or validate. */
  admission(name: string, operation: string, type: 'admit' | 'validate', rejected: boolean, seconds: number): void {
    const key = `${name}|${operation}|${type}|${rejected}`;
    let child = this.admissionChildren.get(key);
    if (child === undefined) {
      child = this.admissionLatency.labels(name, operation, String(rejected), type);
      this.admissionChildren.set(key, child);
    }
    child.observe(seconds);
  }
}
