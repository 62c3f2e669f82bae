// The Grafana dashboards shipped in deploy/grafana/ (and, through `npm run render`, in the Helm chart's
// dashboards/ as a ConfigMap with Grafana's sidecar label). The panels and their PromQL are the product's own; the
// JSON around them is Grafana's dashboard model (schemaVersion 39), written by the few helpers below rather than
// by hand for each panel so that every panel has the same datasource, legend and layout rules.
//
// Rules: every query uses only series the components export (test/e2e/grafana.test.ts runs each one against
// a real Prometheus scraping a running platform and fails on an unknown name or an empty answer); rates use
// $__rate_interval; a dashboard's variables come from label_values() of our own series.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const GRAFANA_DIR = fileURLToPath(new URL('../deploy/grafana/', import.meta.url));

interface Target {
  expr: string;
  legend: string;
}
interface PanelSpec {
  title: string;
  description?: string;
  kind?: 'timeseries' | 'stat';
  unit?: string;
  /** Draw as steps (replica counts, modes). */
  steps?: boolean;
  /** Stack the series (shares of a whole). */
  stacked?: boolean;
  targets: Target[];
  /** Grid width out of 24 (default 12; stats 6). */
  width?: number;
}
interface Row {
  title: string;
  panels: PanelSpec[];
}
interface Variable {
  name: string;
  label: string;
  query: string;
  multi?: boolean;
}
export interface DashboardSpec {
  file: string;
  uid: string;
  title: string;
  description: string;
  variables: Variable[];
  rows: Row[];
}

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
const q = (expr: string, legend: string): Target => ({ expr, legend });
const hq = (metric: string, quantile: number, by: string, selector = '') =>
  `histogram_quantile(${quantile}, sum by (le${by ? ', ' + by : ''}) (rate(${metric}_bucket${selector}[$__rate_interval])))`;

function panelJson(p: PanelSpec, id: number, x: number, y: number, w: number, h: number): object {
  const kind = p.kind ?? 'timeseries';
  return {
    id,
    type: kind,
    title: p.title,
    ...(p.description ? { description: p.description } : {}),
    datasource: DATASOURCE,
    gridPos: { x, y, w, h },
    targets: p.targets.map((t, i) => ({ refId: String.fromCharCode(65 + i), datasource: DATASOURCE, expr: t.expr, legendFormat: t.legend, range: true })),
    fieldConfig: {
      defaults: {
        unit: p.unit ?? 'short',
        ...(kind === 'timeseries'
          ? { custom: { lineInterpolation: p.steps ? 'stepAfter' : 'linear', fillOpacity: p.stacked ? 30 : 5, showPoints: 'never', stacking: { mode: p.stacked ? 'normal' : 'none' } } }
          : {}),
      },
      overrides: [],
    },
    options:
      kind === 'stat'
        ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'area' }
        : { legend: { displayMode: 'table', placement: 'bottom', calcs: ['lastNotNull', 'max'] }, tooltip: { mode: 'multi', sort: 'desc' } },
  };
}

export function dashboardJson(d: DashboardSpec): object {
  const panels: object[] = [];
  let id = 1;
  let y = 0;
  for (const row of d.rows) {
    panels.push({ id: id++, type: 'row', title: row.title, collapsed: false, gridPos: { x: 0, y, w: 24, h: 1 }, panels: [] });
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const p of row.panels) {
      const w = p.width ?? (p.kind === 'stat' ? 6 : 12);
      const h = p.kind === 'stat' ? 4 : 8;
      if (x + w > 24) {
        x = 0;
        y += rowHeight;
        rowHeight = 0;
      }
      panels.push(panelJson(p, id++, x, y, w, h));
      x += w;
      rowHeight = Math.max(rowHeight, h);
    }
    y += rowHeight;
  }
  return {
    uid: d.uid,
    title: d.title,
    description: d.description,
    tags: ['matrixinfer'],
    timezone: 'browser',
    editable: true,
    graphTooltip: 1,
    refresh: '10s',
    schemaVersion: 39,
    time: { from: 'now-1h', to: 'now' },
    templating: {
      list: [
        { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: {}, hide: 0 },
        ...d.variables.map((v) => ({
          name: v.name,
          label: v.label,
          type: 'query',
          datasource: DATASOURCE,
          query: { query: v.query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
          definition: v.query,
          refresh: 2,
          includeAll: true,
          multi: v.multi ?? true,
          allValue: '.*',
          current: { selected: true, text: ['All'], value: ['$__all'] },
          sort: 1,
        })),
      ],
    },
    annotations: { list: [] },
    panels,
  };
}

const NS = 'namespace=~"$namespace"';

export const DASHBOARDS: DashboardSpec[] = [
  {
    file: 'platform-overview.json',
    uid: 'matrixinfer-overview',
    title: 'MatrixInfer / Platform overview',
    description: 'Traffic through the gateways, the engines behind them, and the control plane that runs them: API server, controllers, node agents.',
    variables: [],
    rows: [
      {
        title: 'Serving',
        panels: [
          { title: 'Requests per second', kind: 'stat', unit: 'reqps', targets: [q('sum(rate(matrixinfer_gateway_requests_total[$__rate_interval]))', 'req/s')] },
          { title: 'Error ratio (5xx)', kind: 'stat', unit: 'percentunit', targets: [q('(sum(rate(matrixinfer_gateway_requests_total{code=~"5.."}[$__rate_interval])) or vector(0)) / clamp_min(sum(rate(matrixinfer_gateway_requests_total[$__rate_interval])), 1e-9)', 'errors')] },
          { title: 'Ready engine endpoints', kind: 'stat', targets: [q('sum(matrixinfer_gateway_ready_endpoints)', 'ready')] },
          { title: 'Generated tokens per second', kind: 'stat', unit: 'short', targets: [q('sum(rate(matrixinfer_gateway_tokens_total{type="completion"}[$__rate_interval]))', 'tokens/s')] },
          { title: 'Requests by model and status', unit: 'reqps', stacked: true, targets: [q('sum by (model, code) (rate(matrixinfer_gateway_requests_total[$__rate_interval]))', '{{model}} {{code}}')] },
          { title: 'Time to first token p90 by model', unit: 's', targets: [q(hq('matrixinfer_gateway_time_to_first_token_seconds', 0.9, 'model'), '{{model}}')] },
        ],
      },
      {
        title: 'API server',
        panels: [
          { title: 'Requests by verb and code', unit: 'reqps', stacked: true, targets: [q('sum by (verb, code) (rate(apiserver_request_total[$__rate_interval]))', '{{verb}} {{code}}')] },
          { title: 'Request latency p99 by verb (watches excluded)', unit: 's', targets: [q(hq('apiserver_request_duration_seconds', 0.99, 'verb', '{verb!="WATCH"}'), '{{verb}}')] },
          { title: 'Open watches by resource', targets: [q('sum by (resource) (apiserver_longrunning_requests{verb="WATCH"})', '{{resource}}')] },
          { title: 'Storage latency p99 by operation', unit: 's', targets: [q(hq('etcd_request_duration_seconds', 0.99, 'operation'), '{{operation}}')] },
        ],
      },
      {
        title: 'Controllers',
        panels: [
          { title: 'Reconciles by controller and result', unit: 'ops', stacked: true, targets: [q('sum by (controller, result) (rate(controller_runtime_reconcile_total[$__rate_interval]))', '{{controller}} {{result}}')] },
          { title: 'Reconcile time p99 by controller', unit: 's', targets: [q(hq('controller_runtime_reconcile_time_seconds', 0.99, 'controller'), '{{controller}}')] },
          { title: 'Work queue depth', targets: [q('sum by (name) (workqueue_depth)', '{{name}}')] },
          { title: 'Queue wait p99', unit: 's', targets: [q(hq('workqueue_queue_duration_seconds', 0.99, 'name'), '{{name}} wait p99')] },
          { title: 'Work queue adds per second', unit: 'ops', targets: [q('sum by (name) (rate(workqueue_adds_total[$__rate_interval]))', '{{name}}')] },
          { title: 'Leader', steps: true, targets: [q('max by (name, instance) (leader_election_master_status)', '{{instance}} {{name}}')] },
        ],
      },
      {
        title: 'Nodes',
        panels: [
          { title: 'Running pods per node agent', steps: true, targets: [q('sum by (instance) (kubelet_running_pods)', '{{instance}}')] },
          { title: 'Pod start latency p90', unit: 's', targets: [q(hq('kubelet_pod_start_duration_seconds', 0.9, 'instance'), '{{instance}}')] },
          { title: 'Probe results', unit: 'ops', stacked: true, targets: [q('sum by (probe_type, result) (rate(prober_probe_total[$__rate_interval]))', '{{probe_type}} {{result}}')] },
          { title: 'Container restarts (last hour)', targets: [q('sum by (namespace, pod) (increase(kube_pod_container_status_restarts_total[1h]))', '{{namespace}}/{{pod}}')] },
        ],
      },
    ],
  },
  {
    file: 'model-serving.json',
    uid: 'matrixinfer-model-serving',
    title: 'MatrixInfer / Model serving',
    description: 'Per model: traffic, latency, tokens and errors at the gateway; per engine pod: batch, KV cache and prefix-cache hits.',
    variables: [
      { name: 'model', label: 'Model', query: 'label_values(matrixinfer_gateway_requests_total, model)' },
      { name: 'namespace', label: 'Namespace', query: 'label_values(vllm:num_requests_running, namespace)' },
    ],
    rows: [
      {
        title: 'Traffic and latency (gateway)',
        panels: [
          { title: 'Requests per second by status', unit: 'reqps', stacked: true, targets: [q('sum by (model, code) (rate(matrixinfer_gateway_requests_total{model=~"$model"}[$__rate_interval]))', '{{model}} {{code}}')] },
          { title: 'Time to first token', unit: 's', targets: [0.5, 0.9, 0.99].map((p) => q(hq('matrixinfer_gateway_time_to_first_token_seconds', p, 'model', '{model=~"$model"}'), `{{model}} p${p * 100}`)) },
          { title: 'Request duration p50 / p99', unit: 's', targets: [0.5, 0.99].map((p) => q(hq('matrixinfer_gateway_request_duration_seconds', p, 'model', '{model=~"$model"}'), `{{model}} p${p * 100}`)) },
          { title: 'Tokens per second', unit: 'short', targets: [q('sum by (model, type) (rate(matrixinfer_gateway_tokens_total{model=~"$model"}[$__rate_interval]))', '{{model}} {{type}}')] },
          { title: 'In flight', targets: [q('sum by (model) (matrixinfer_gateway_inflight_requests{model=~"$model"})', '{{model}}')] },
          { title: 'Upstream attempts by outcome', unit: 'ops', stacked: true, targets: [q('sum by (model, outcome) (rate(matrixinfer_gateway_upstream_attempts_total{model=~"$model"}[$__rate_interval]))', '{{model}} {{outcome}}')] },
        ],
      },
      {
        title: 'Engines',
        panels: [
          { title: 'Inter-token latency p50 / p99', unit: 's', targets: [0.5, 0.99].map((p) => q(hq('vllm:inter_token_latency_seconds', p, 'model_name', `{${NS}}`), `{{model_name}} p${p * 100}`)) },
          { title: 'Engine time to first token p90 by pod', unit: 's', targets: [q(hq('vllm:time_to_first_token_seconds', 0.9, 'pod', `{${NS}}`), '{{pod}}')] },
          { title: 'KV-cache usage by pod', unit: 'percentunit', targets: [q(`max by (pod) (vllm:kv_cache_usage_perc{${NS}})`, '{{pod}}')] },
          { title: 'Prefix-cache hit rate by pod', unit: 'percentunit', targets: [q(`sum by (pod) (rate(vllm:prefix_cache_hits_total{${NS}}[$__rate_interval])) / clamp_min(sum by (pod) (rate(vllm:prefix_cache_queries_total{${NS}}[$__rate_interval])), 1e-9)`, '{{pod}}')] },
          { title: 'Running and waiting by pod', targets: [q(`sum by (pod) (vllm:num_requests_running{${NS}})`, '{{pod}} running'), q(`sum by (pod) (vllm:num_requests_waiting{${NS}})`, '{{pod}} waiting')] },
          { title: 'Queue, prefill and decode time p90', unit: 's', targets: [q(hq('vllm:request_queue_time_seconds', 0.9, '', `{${NS}}`), 'queue'), q(hq('vllm:request_prefill_time_seconds', 0.9, '', `{${NS}}`), 'prefill'), q(hq('vllm:request_decode_time_seconds', 0.9, '', `{${NS}}`), 'decode')] },
        ],
      },
    ],
  },
  {
    file: 'gateway-routing.json',
    uid: 'matrixinfer-gateway-routing',
    title: 'MatrixInfer / Gateway routing',
    description: 'Where the gateway sends requests and why: picks per pod by deciding scorer, scheduling time, load per endpoint, retries, circuit breaking, limits and holds.',
    variables: [{ name: 'namespace', label: 'Namespace', query: 'label_values(matrixinfer_gateway_endpoint_requests_total, namespace)' }],
    rows: [
      {
        title: 'Decisions',
        panels: [
          { title: 'Picks per pod by deciding scorer', unit: 'ops', stacked: true, width: 24, description: 'The scorer that put the chosen pod furthest ahead of the runner-up; tie: the picker broke a tie; single: one candidate; pinned: a P/D decode pod.', targets: [q(`sum by (pod, scorer) (rate(matrixinfer_gateway_routing_decisions_total{${NS}}[$__rate_interval]))`, '{{pod}} {{scorer}}')] },
          { title: 'Share of picks by scorer', unit: 'percentunit', stacked: true, targets: [q(`sum by (scorer) (rate(matrixinfer_gateway_routing_decisions_total{${NS}}[$__rate_interval])) / scalar(clamp_min(sum(rate(matrixinfer_gateway_routing_decisions_total{${NS}}[$__rate_interval])), 1e-9))`, '{{scorer}}')] },
          { title: 'Scheduling time p99 by policy', unit: 's', targets: [q(hq('matrixinfer_gateway_scheduling_duration_seconds', 0.99, 'policy'), '{{policy}}')] },
        ],
      },
      {
        title: 'Endpoints',
        panels: [
          { title: 'Requests sent per pod', unit: 'reqps', targets: [q(`sum by (pod) (rate(matrixinfer_gateway_endpoint_requests_total{${NS}}[$__rate_interval]))`, '{{pod}}')] },
          { title: 'In flight and awaiting first byte per pod', targets: [q(`sum by (pod) (matrixinfer_gateway_endpoint_inflight{${NS}})`, '{{pod}} in flight'), q(`sum by (pod) (matrixinfer_gateway_endpoint_awaiting_first_byte{${NS}})`, '{{pod}} awaiting')] },
          { title: 'Last score per pod', targets: [q(`max by (pod) (matrixinfer_gateway_endpoint_score{${NS}})`, '{{pod}}')] },
          { title: 'Circuit state per pod (1 open, 0.5 half-open)', steps: true, targets: [q(`max by (pod) (matrixinfer_gateway_endpoint_ejected{${NS}})`, '{{pod}}')] },
          { title: 'Ready endpoints per ModelServer', steps: true, targets: [q(`sum by (namespace, model_server) (matrixinfer_gateway_ready_endpoints{${NS}})`, '{{namespace}}/{{model_server}}')] },
          { title: 'Upstream errors by kind', unit: 'ops', stacked: true, targets: [q('sum by (kind) (rate(matrixinfer_gateway_upstream_errors_total[$__rate_interval])) or vector(0)', '{{kind}}')] },
        ],
      },
      {
        title: 'Limits and holds',
        panels: [
          { title: 'Rate-limited requests by limit', unit: 'reqps', targets: [q('sum by (model, limit) (rate(matrixinfer_gateway_rate_limited_total[$__rate_interval])) or vector(0)', '{{model}} {{limit}}')] },
          { title: 'Requests held for a start from zero', targets: [q('sum by (namespace, model_server) (matrixinfer_gateway_held_requests) or vector(0)', '{{namespace}}/{{model_server}}')] },
        ],
      },
    ],
  },
  {
    file: 'autoscaling.json',
    uid: 'matrixinfer-autoscaling',
    title: 'MatrixInfer / Autoscaling',
    description: "Each AutoscalingPolicyBinding's decisions: replicas, the driving metrics against their targets, the mode, the forecast, and every scaling action.",
    variables: [
      { name: 'namespace', label: 'Namespace', query: 'label_values(matrixinfer_autoscaler_current_replicas, namespace)' },
      { name: 'binding', label: 'Binding', query: 'label_values(matrixinfer_autoscaler_current_replicas{namespace=~"$namespace"}, binding)' },
    ],
    rows: [
      {
        title: 'Replicas',
        panels: [
          { title: 'Current, desired and ready replicas', steps: true, width: 24, targets: ['current', 'desired', 'ready', 'min', 'max'].map((k) => q(`max by (binding) (matrixinfer_autoscaler_${k}_replicas{${NS}, binding=~"$binding"})`, `{{binding}} ${k}`)) },
          { title: 'Mode', steps: true, description: '1 for the mode in force at each sync.', targets: [q(`max by (binding, mode) (matrixinfer_autoscaler_mode{${NS}, binding=~"$binding"}) > 0`, '{{binding}} {{mode}}')] },
          { title: 'Scaling actions', unit: 'short', targets: [q(`sum by (binding, direction, mode) (increase(matrixinfer_autoscaler_scaling_actions_total{${NS}, binding=~"$binding"}[$__rate_interval]))`, '{{binding}} {{direction}} ({{mode}})')] },
        ],
      },
      {
        title: 'Signals',
        panels: [
          { title: 'Metric value against target', targets: [q(`max by (binding, metric) (matrixinfer_autoscaler_metric_value{${NS}, binding=~"$binding"})`, '{{binding}} {{metric}}'), q(`max by (binding, metric) (matrixinfer_autoscaler_metric_target{${NS}, binding=~"$binding"})`, '{{binding}} {{metric}} target')] },
          { title: 'Replicas each metric asks for', steps: true, targets: [q(`max by (binding, metric) (matrixinfer_autoscaler_metric_recommended_replicas{${NS}, binding=~"$binding"})`, '{{binding}} {{metric}}')] },
          { title: 'Syncs by result', unit: 'ops', targets: [q(`sum by (binding, result) (rate(matrixinfer_autoscaler_syncs_total{${NS}, binding=~"$binding"}[$__rate_interval]))`, '{{binding}} {{result}}')] },
        ],
      },
    ],
  },
];

/** Every panel query of a dashboard, with the target's title (for the test). */
export function queries(d: DashboardSpec): { panel: string; expr: string }[] {
  return d.rows.flatMap((r) => r.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr }))));
}

export function renderDashboards(): Map<string, string> {
  return new Map(DASHBOARDS.map((d) => [d.file, JSON.stringify(dashboardJson(d), null, 2) + '\n']));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  mkdirSync(GRAFANA_DIR, { recursive: true });
  for (const [file, text] of renderDashboards()) writeFileSync(join(GRAFANA_DIR, file), text);
  console.log(`wrote ${DASHBOARDS.length} dashboards to ${GRAFANA_DIR}`);
}
