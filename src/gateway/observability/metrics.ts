// Gateway Prometheus metrics on a private registry (several gateways may live in one process, e.g. in tests).
//
//   matrixinfer_gateway_requests_total{model,code}             requests answered, by status code
//   matrixinfer_gateway_request_duration_seconds{model}        arrival → response end
//   matrixinfer_gateway_time_to_first_token_seconds{model}     arrival → first upstream body byte, streaming only
//   matrixinfer_gateway_inflight_requests{model}               requests being served
//   matrixinfer_gateway_upstream_errors_total{model,kind}      connect | timeout | reset | stream | status
//   matrixinfer_gateway_upstream_attempts_total{model,outcome} every upstream attempt (retries included):
//                                                              success | connect | timeout | status (5xx) | reset | stream
//   matrixinfer_gateway_tokens_total{model,type}               prompt | completion, from the engine's usage
//   matrixinfer_gateway_rate_limited_total{model,limit}        requests rejected by a rate limit (429)
//   matrixinfer_gateway_circuit_ejections_total{namespace,pod} endpoints ejected by the circuit breaker
//   matrixinfer_gateway_endpoint_ejected{namespace,pod,address}  1 while the endpoint's circuit is open, at scrape time
//   matrixinfer_gateway_endpoint_inflight{namespace,pod,address}        per endpoint, read at scrape time
//   matrixinfer_gateway_endpoint_awaiting_first_byte{namespace,pod,address}  of those, the ones whose current attempt
//                                                              has had no upstream response body byte yet (Endpoint.awaiting:
//                                                              +1 when an attempt is dispatched, −1 exactly once at its
//                                                              first body byte or when it ends otherwise: error, retry,
//                                                              timeout, client gone). The body byte, not the response
//                                                              head: an engine may send a stream's head before its first
//                                                              token, and an error's body is its answer. P/D: the prefill
//                                                              phase counts on its prefill pod until its (one-token)
//                                                              response is read whole. Read at scrape time
//   matrixinfer_gateway_endpoint_requests_total{namespace,pod,address}  per endpoint, read at scrape time
//   matrixinfer_gateway_routing_decisions_total{namespace,pod,address,scorer}  picks of each endpoint by what decided
//                                                              them: the scorer that put it ahead of the runner-up, or
//                                                              single | pinned | tie (scheduling/deciders.ts). Read at
//                                                              scrape time
//   matrixinfer_gateway_kv_events_total{namespace,pod,outcome}  KV-event batches and stream incidents per engine pod
//                                                              (kv-events/): applied | replayed | duplicate | gap | epoch |
//                                                              undecodable | replay_failed | stalled | overflow | resynced
//   matrixinfer_gateway_kv_index_state{namespace,pod,state}   1 for the state of each publishing pod's exact index:
//                                                              syncing | live | stale (stale: prefix scoring falls back)
//   matrixinfer_gateway_kv_index_blocks{namespace,pod,address}  blocks in that index, at scrape time
//   matrixinfer_gateway_ready_endpoints{namespace,model_server}         from the routing table, at scrape time
//   matrixinfer_gateway_held_requests{namespace,model_server}           requests waiting for a start from zero now
//   matrixinfer_gateway_hold_wait_seconds{namespace,model_server,outcome} how long held requests waited:
//                                                              dispatched | timeout | client_gone | server_gone | queue_full (0)
//   matrixinfer_gateway_scale_from_zero_total{namespace,model_infer,outcome} 0→1 writes: scaled | not_at_zero | error
//
// `model` is the requested model name when it has a route, otherwise "" (unknown names never become labels).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Endpoint, EndpointRegistry } from '../scheduling/endpoint.ts';
import type { RoutingTable } from '../routing/table.ts';
import { counterChild, gaugeChild, histogramChild } from './fast-children.ts';
import { deciderName } from '../scheduling/deciders.ts';
import type { KvIndexPhase } from '../kv-events/exact-index.ts';

// Not imported from exact-index.ts: that module (and the msgpack codec behind it) loads only when KV events are on.
const KV_INDEX_PHASES: readonly KvIndexPhase[] = ['syncing', 'live', 'stale'];

type Inc = { inc(value?: number): void };
type EndpointLabels = 'namespace' | 'pod' | 'address';

/**
 * A gauge or counter with one series per engine endpoint {namespace, pod, address}, rebuilt at each scrape from
 * `value` (undefined: no series for that endpoint). A counter's value is the endpoint's own running total.
 */
function endpointSeries(
  kind: 'gauge' | 'counter',
  registers: Registry[],
  endpoints: () => Iterable<Endpoint>,
  name: string,
  help: string,
  value: (ep: Endpoint) => number | undefined,
): void {
  const fill = (reset: () => void, put: (labels: Record<EndpointLabels, string>, v: number) => void) => {
    reset();
    for (const ep of endpoints()) {
      const v = value(ep);
      if (v !== undefined) put({ namespace: ep.namespace, pod: ep.podName, address: `${ep.ip}:${ep.port}` }, v);
    }
  };
  const labelNames: EndpointLabels[] = ['namespace', 'pod', 'address'];
  if (kind === 'counter') {
    new Counter({ name, help, labelNames, registers, collect() { fill(() => this.reset(), (l, v) => this.inc(l, v)); } });
  } else {
    new Gauge({ name, help, labelNames, registers, collect() { fill(() => this.reset(), (l, v) => this.set(l, v)); } });
  }
}
type GaugeChild = { inc(value?: number): void; dec(value?: number): void };
type Observe = { observe(value: number): void };

export type UpstreamErrorKind = 'connect' | 'timeout' | 'reset' | 'stream' | 'status';
export type AttemptOutcome = 'success' | 'cancelled' | UpstreamErrorKind;

/** Metric children bound to one model label, cached so the request path does no label hashing. */
export class ModelMetrics {
  readonly model: string;
  readonly inflight: GaugeChild;
  readonly duration: Observe;
  readonly ttft: Observe;
  readonly #metrics: GatewayMetrics;
  readonly #codes = new Map<number, Inc>();
  readonly #errors = new Map<string, Inc>();
  readonly #attempts = new Map<string, Inc>();
  readonly #limited = new Map<string, Inc>();
  readonly promptTokens: Inc;
  readonly completionTokens: Inc;

  constructor(metrics: GatewayMetrics, model: string) {
    this.#metrics = metrics;
    this.model = model;
    this.inflight = gaugeChild(metrics.inflight, model);
    this.duration = histogramChild(metrics.duration, model);
    this.ttft = histogramChild(metrics.ttft, model);
    this.promptTokens = counterChild(metrics.tokens, model, 'prompt');
    this.completionTokens = counterChild(metrics.tokens, model, 'completion');
  }

  attempt(outcome: AttemptOutcome): void {
    let c = this.#attempts.get(outcome);
    if (c === undefined) this.#attempts.set(outcome, (c = counterChild(this.#metrics.attempts, this.model, outcome)));
    c.inc();
  }

  /** A request rejected by a rate limit (`limit` names which: requests, input_tokens, output_tokens, ...). */
  rateLimited(limit: string): void {
    let c = this.#limited.get(limit);
    if (c === undefined) this.#limited.set(limit, (c = counterChild(this.#metrics.rateLimited, this.model, limit)));
    c.inc();
  }

  request(code: number): void {
    let c = this.#codes.get(code);
    if (c === undefined) this.#codes.set(code, (c = counterChild(this.#metrics.requests, this.model, String(code))));
    c.inc();
  }

  upstreamError(kind: UpstreamErrorKind): void {
    let c = this.#errors.get(kind);
    if (c === undefined) this.#errors.set(kind, (c = counterChild(this.#metrics.upstreamErrors, this.model, kind)));
    c.inc();
  }
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'model' | 'code'>;
  readonly duration: Histogram<'model'>;
  readonly ttft: Histogram<'model'>;
  readonly inflight: Gauge<'model'>;
  readonly upstreamErrors: Counter<'model' | 'kind'>;
  readonly attempts: Counter<'model' | 'outcome'>;
  readonly tokens: Counter<'model' | 'type'>;
  readonly rateLimited: Counter<'model' | 'limit'>;
  readonly ejections: Counter<'namespace' | 'pod'>;
  readonly kvEvents: Counter<'namespace' | 'pod' | 'outcome'>;
  /** Scheduling decisions and their duration, by policy (scheduling/scheduler.ts calls `observeScheduling`). */
  readonly schedulingDuration: Histogram<'policy'>;
  /** Starts from zero (activation/hold.ts): requests held now, their waits, the 0→1 writes. */
  readonly held: Gauge<'namespace' | 'model_server'>;
  readonly holdWait: Histogram<'namespace' | 'model_server' | 'outcome'>;
  readonly scaleWrites: Counter<'namespace' | 'model_infer' | 'outcome'>;
  readonly #byPolicy = new Map<string, Observe>();
  readonly #byModel = new Map<string, ModelMetrics>();

  constructor(sources: { endpoints: () => EndpointRegistry; table: () => RoutingTable }) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'matrixinfer_gateway_requests_total',
      help: 'Requests answered by the gateway, by model and HTTP status code.',
      labelNames: ['model', 'code'],
      registers,
    });
    this.duration = new Histogram({
      name: 'matrixinfer_gateway_request_duration_seconds',
      help: 'Time from request arrival to the end of the response.',
      labelNames: ['model'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    });
    this.ttft = new Histogram({
      name: 'matrixinfer_gateway_time_to_first_token_seconds',
      help: 'Time from request arrival to the first upstream body byte of streaming responses.',
      labelNames: ['model'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.inflight = new Gauge({
      name: 'matrixinfer_gateway_inflight_requests',
      help: 'Requests being served by the gateway.',
      labelNames: ['model'],
      registers,
    });
    this.upstreamErrors = new Counter({
      name: 'matrixinfer_gateway_upstream_errors_total',
      help: 'Upstream failures: connect, timeout (no response headers in time), reset (before headers), stream (after headers).',
      labelNames: ['model', 'kind'],
      registers,
    });
    this.attempts = new Counter({
      name: 'matrixinfer_gateway_upstream_attempts_total',
      help: 'Upstream attempts (a retried request counts each), by outcome: success, connect, timeout, status (5xx), reset, stream.',
      labelNames: ['model', 'outcome'],
      registers,
    });
    this.tokens = new Counter({
      name: 'matrixinfer_gateway_tokens_total',
      help: "Tokens by type (prompt, completion), from the engines' usage reports.",
      labelNames: ['model', 'type'],
      registers,
    });
    this.rateLimited = new Counter({
      name: 'matrixinfer_gateway_rate_limited_total',
      help: 'Requests rejected by a rate limit, by limit.',
      labelNames: ['model', 'limit'],
      registers,
    });
    this.ejections = new Counter({
      name: 'matrixinfer_gateway_circuit_ejections_total',
      help: 'Engine endpoints ejected by the circuit breaker.',
      labelNames: ['namespace', 'pod'],
      registers,
    });
    this.kvEvents = new Counter({
      name: 'matrixinfer_gateway_kv_events_total',
      help: 'KV-event batches and stream incidents per engine pod: applied, replayed, duplicate, gap, epoch (the engine restarted), undecodable, replay_failed, stalled, overflow, resynced.',
      labelNames: ['namespace', 'pod', 'outcome'],
      registers,
    });
    this.schedulingDuration = new Histogram({
      name: 'matrixinfer_gateway_scheduling_duration_seconds',
      help: 'Time to choose an engine pod (filters, scorers, pick), by scheduling policy; the count is the number of decisions.',
      labelNames: ['policy'],
      buckets: [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01],
      registers,
    });
    this.held = new Gauge({
      name: 'matrixinfer_gateway_held_requests',
      help: 'Requests waiting for their ModelServer to start from zero replicas.',
      labelNames: ['namespace', 'model_server'],
      registers,
    });
    this.holdWait = new Histogram({
      name: 'matrixinfer_gateway_hold_wait_seconds',
      help: 'Time requests waited for their ModelServer to start from zero replicas, by outcome: dispatched, timeout, client_gone, server_gone, queue_full (refused, 0).',
      labelNames: ['namespace', 'model_server', 'outcome'],
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600],
      registers,
    });
    this.scaleWrites = new Counter({
      name: 'matrixinfer_gateway_scale_from_zero_total',
      help: 'Writes of the 0→1 step of a ModelInfer by the gateway, by outcome: scaled, not_at_zero (another writer was first), error.',
      labelNames: ['namespace', 'model_infer', 'outcome'],
      registers,
    });
    // Per engine endpoint, computed at scrape time from the registry (nothing on the request path).
    const endpoints = () => sources.endpoints().all();
    endpointSeries('gauge', registers, endpoints, 'matrixinfer_gateway_endpoint_score', 'Total score of the endpoint in the last scheduling decision it took part in (scheduling/).', (ep) =>
      ep.lastScoredAt > 0 ? ep.lastScore : undefined,
    );
    endpointSeries('gauge', registers, endpoints, 'matrixinfer_gateway_endpoint_ejected', "1 while the endpoint's circuit is open (ejected), 0.5 half-open, 0 closed.", (ep) => {
      const st = ep.breaker?.state ?? 'closed';
      return st === 'open' ? 1 : st === 'half-open' ? 0.5 : 0;
    });
    endpointSeries('gauge', registers, endpoints, 'matrixinfer_gateway_endpoint_inflight', "The gateway's outstanding requests per engine endpoint.", (ep) => ep.inflight);
    endpointSeries('gauge', registers, endpoints, 'matrixinfer_gateway_endpoint_awaiting_first_byte', "The gateway's requests per engine endpoint still awaiting the first byte of the upstream response body.", (ep) => ep.awaiting);
    endpointSeries('counter', registers, endpoints, 'matrixinfer_gateway_endpoint_requests_total', 'Requests sent to each engine endpoint (since the endpoint appeared).', (ep) => ep.served);
    new Counter({
      name: 'matrixinfer_gateway_routing_decisions_total',
      help: 'Scheduling picks of each engine endpoint by what decided them: the scorer that put the pod ahead of the runner-up, or single, pinned, tie.',
      labelNames: ['namespace', 'pod', 'address', 'scorer'],
      registers,
      collect() {
        this.reset();
        for (const ep of endpoints()) {
          const d = ep.decisions;
          for (let id = 0; id < d.length; id++) {
            if (d[id]! > 0) this.inc({ namespace: ep.namespace, pod: ep.podName, address: `${ep.ip}:${ep.port}`, scorer: deciderName(id) }, d[id]!);
          }
        }
      },
    });
    new Gauge({
      name: 'matrixinfer_gateway_kv_index_state',
      help: "1 for the state of each KV-event publishing pod's exact prefix index: syncing, live, stale (prefix scoring falls back to the approximate index).",
      labelNames: ['namespace', 'pod', 'state'],
      registers,
      collect() {
        this.reset();
        for (const ep of endpoints()) {
          const ix = ep.kvIndex;
          if (ix === null || !ep.active) continue;
          for (const state of KV_INDEX_PHASES) this.set({ namespace: ep.namespace, pod: ep.podName, state }, ix.phase === state ? 1 : 0);
        }
      },
    });
    endpointSeries('gauge', registers, endpoints, 'matrixinfer_gateway_kv_index_blocks', "Blocks in the pod's exact prefix index (from its KV events).", (ep) => (ep.kvIndex === null ? undefined : ep.kvIndex.size));
    new Gauge({
      name: 'matrixinfer_gateway_ready_endpoints',
      help: 'Ready engine endpoints per ModelServer in the routing table.',
      labelNames: ['namespace', 'model_server'],
      registers,
      collect() {
        this.reset();
        for (const s of sources.table().servers.values()) this.set({ namespace: s.namespace, model_server: s.name }, s.endpoints.length);
      },
    });
  }

  observeScheduling(policy: string, seconds: number): void {
    let h = this.#byPolicy.get(policy);
    if (h === undefined) this.#byPolicy.set(policy, (h = histogramChild(this.schedulingDuration, policy)));
    h.observe(seconds);
  }

  forModel(model: string): ModelMetrics {
    let m = this.#byModel.get(model);
    if (m === undefined) this.#byModel.set(model, (m = new ModelMetrics(this, model)));
    return m;
  }
}
