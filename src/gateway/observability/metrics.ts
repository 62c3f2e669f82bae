// Gateway Prometheus metrics on a private registry (several gateways may live in one process, e.g. in tests).
//
//   matrixinfer_gateway_requests_total{model,code}             requests answered, by status code
//   matrixinfer_gateway_request_duration_seconds{model}        arrival → response end
//   matrixinfer_gateway_time_to_first_token_seconds{model}     arrival → first upstream body byte, streaming only
//   matrixinfer_gateway_inflight_requests{model}               requests being served
//   matrixinfer_gateway_upstream_errors_total{model,kind}      connect | timeout | reset | stream
//   matrixinfer_gateway_endpoint_inflight{namespace,pod,address}        per endpoint, read at scrape time
//   matrixinfer_gateway_endpoint_requests_total{namespace,pod,address}  per endpoint, read at scrape time
//   matrixinfer_gateway_ready_endpoints{namespace,model_server}         from the routing table, at scrape time
//
// `model` is the requested model name when it has a route, otherwise "" (unknown names never become labels).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EndpointRegistry } from '../scheduling/endpoint.ts';
import type { RoutingTable } from '../routing/table.ts';

type Inc = { inc(value?: number): void };
type GaugeChild = { inc(value?: number): void; dec(value?: number): void };
type Observe = { observe(value: number): void };

export type UpstreamErrorKind = 'connect' | 'timeout' | 'reset' | 'stream' | 'status';

/** Metric children bound to one model label, cached so the request path does no label hashing. */
export class ModelMetrics {
  readonly model: string;
  readonly inflight: GaugeChild;
  readonly duration: Observe;
  readonly ttft: Observe;
  readonly #metrics: GatewayMetrics;
  readonly #codes = new Map<number, Inc>();
  readonly #errors = new Map<string, Inc>();

  constructor(metrics: GatewayMetrics, model: string) {
    this.#metrics = metrics;
    this.model = model;
    this.inflight = metrics.inflight.labels(model);
    this.duration = metrics.duration.labels(model);
    this.ttft = metrics.ttft.labels(model);
  }

  request(code: number): void {
    let c = this.#codes.get(code);
    if (c === undefined) this.#codes.set(code, (c = this.#metrics.requests.labels(this.model, String(code))));
    c.inc();
  }

  upstreamError(kind: UpstreamErrorKind): void {
    let c = this.#errors.get(kind);
    if (c === undefined) this.#errors.set(kind, (c = this.#metrics.upstreamErrors.labels(this.model, kind)));
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
    new Gauge({
      name: 'matrixinfer_gateway_endpoint_inflight',
      help: "The gateway's outstanding requests per engine endpoint.",
      labelNames: ['namespace', 'pod', 'address'],
      registers,
      collect() {
        this.reset();
        for (const ep of sources.endpoints().all()) this.set({ namespace: ep.namespace, pod: ep.podName, address: `${ep.ip}:${ep.port}` }, ep.inflight);
      },
    });
    new Counter({
      name: 'matrixinfer_gateway_endpoint_requests_total',
      help: 'Requests sent to each engine endpoint (since the endpoint appeared).',
      labelNames: ['namespace', 'pod', 'address'],
      registers,
      collect() {
        this.reset();
        for (const ep of sources.endpoints().all()) this.inc({ namespace: ep.namespace, pod: ep.podName, address: `${ep.ip}:${ep.port}` }, ep.served);
      },
    });
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

  forModel(model: string): ModelMetrics {
    let m = this.#byModel.get(model);
    if (m === undefined) this.#byModel.set(model, (m = new ModelMetrics(this, model)));
    return m;
  }
}
