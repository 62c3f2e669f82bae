// Prometheus text exposition for tests: a parser (samples with their labels, # TYPE lines), look-ups that sum
// over a label filter, a scrape helper, and the series each component must serve (COMPONENT_SERIES), which the
// component-metrics test proves exist and move and which Grafana queries can be checked against.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  samples: Sample[];
  /** Metric family → its # TYPE (counter, gauge, histogram, summary, untyped). */
  types: Map<string, string>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/y;

function unescape(value: string): string {
  return value.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

function parseValue(text: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (/^nan$/i.test(text)) return Number.NaN; // prom-client writes NaN as `Nan`, which Prometheus reads
  return Number(text);
}

/** Parse the text format (version 0.0.4); throws on a line it cannot read, so a malformed exposition fails a test. */
export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+TYPE\s+(\S+)\s+(\S+)$/.exec(line);
      if (m) types.set(m[1]!, m[2]!);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`unparseable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < body.length) {
      const start = LABEL.lastIndex;
      const l = LABEL.exec(body);
      if (!l) throw new Error(`unparseable labels at ${start} in: ${line}`);
      labels[l[1]!] = unescape(l[2]!);
    }
    const value = parseValue(m[3]!);
    if (Number.isNaN(value) && !/^nan$/i.test(m[3]!)) throw new Error(`bad sample value in: ${line}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { samples, types };
}

export async function scrape(url: string): Promise<Exposition> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain')) throw new Error(`GET ${url}: content-type ${type}`);
  return parseExposition(await res.text());
}

const matches = (labels: Record<string, string>, filter: Record<string, string>) => Object.entries(filter).every(([k, v]) => labels[k] === v);

/** Samples of `name` whose labels include `filter`. */
export function select(exp: Exposition, name: string, filter: Record<string, string> = {}): Sample[] {
  return exp.samples.filter((s) => s.name === name && matches(s.labels, filter));
}

/** The sum of the samples of `name` matching `filter` (0 when there are none). */
export function total(exp: Exposition, name: string, filter: Record<string, string> = {}): number {
  return select(exp, name, filter).reduce((sum, s) => sum + s.value, 0);
}

/** Whether the family `name` is present with at least one sample (a histogram: its `_count`). */
export function has(exp: Exposition, name: string): boolean {
  const type = exp.types.get(name);
  const sampleName = type === 'histogram' || type === 'summary' ? `${name}_count` : name;
  return exp.samples.some((s) => s.name === sampleName);
}

/**
 * The series each component serves under the Kubernetes ecosystem's names (docs/architecture.md, Metrics). The
 * component-metrics test asserts every one is present and moves; the gateway's own series are its module's.
 */
export const COMPONENT_SERIES = {
  apiserver: [
    'apiserver_request_total',
    'apiserver_request_duration_seconds',
    'apiserver_longrunning_requests',
    'apiserver_current_inflight_requests',
    'apiserver_watch_events_total',
    'apiserver_storage_objects',
    'etcd_request_duration_seconds',
    'apiserver_admission_controller_admission_duration_seconds',
    'process_resident_memory_bytes',
  ],
  'controller-manager': [
    'controller_runtime_reconcile_total',
    'controller_runtime_reconcile_errors_total',
    'controller_runtime_reconcile_time_seconds',
    'controller_runtime_active_workers',
    'controller_runtime_max_concurrent_reconciles',
    'workqueue_depth',
    'workqueue_adds_total',
    'workqueue_queue_duration_seconds',
    'workqueue_work_duration_seconds',
    'workqueue_retries_total',
    'workqueue_unfinished_work_seconds',
    'workqueue_longest_running_processor_seconds',
    'leader_election_master_status',
    'process_resident_memory_bytes',
  ],
  agent: [
    'kubelet_running_pods',
    'kubelet_running_containers',
    'kubelet_pod_start_duration_seconds',
    'kubelet_pod_worker_duration_seconds',
    'prober_probe_total',
    'kubelet_started_containers_total',
    'kubelet_started_containers_errors_total',
    'kube_pod_container_status_restarts_total',
    'process_resident_memory_bytes',
  ],
  gateway: [
    'matrixinfer_gateway_requests_total',
    'matrixinfer_gateway_request_duration_seconds',
  ],
} as const satisfies Record<string, readonly string[]>;
