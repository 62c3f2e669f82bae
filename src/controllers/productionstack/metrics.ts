// The production-stack controllers' metrics, on the controller manager's registry (its /metrics), named after what the
// seed's router controller lists: reconciliations, the custom resources' status, cache performance and routing.
//
//   matrixinfer_production_stack_reconciles_total{controller, result}         success | error
//   matrixinfer_production_stack_condition{kind, namespace, name, condition, status}
//                                                                             1 for each condition's current status
//   matrixinfer_production_stack_ready_backends{namespace, name}              InferenceService: ready engine pods
//                                                                             behind its route
//   matrixinfer_production_stack_gateway_routes{namespace, name, programmed}  InferenceGateway: listed routes carrying
//                                                                             its profile (true) or not (false)
//   matrixinfer_production_stack_cache_hit_rate{namespace, name}              InferenceCache: the engines' prefix-cache
//   matrixinfer_production_stack_kv_cache_usage{namespace, name}              hit rate and mean KV usage (cacheStats)
//   matrixinfer_production_stack_static_backends{namespace, name, healthy}    StaticRoute: backends by health
//   matrixinfer_production_stack_ready_pairs{namespace, name}                 PrefillDecodingDisaggregation
//   matrixinfer_production_stack_updated_replicas{namespace, name}            SpeculativeDecoding: replicas running it
//
// GPU utilisation is the engines' own DCGM_FI_DEV_GPU_UTIL (scraped by Prometheus from the pods; the autoscaler reads
// it). Gauges are computed from the last status each object was given; an object that goes (or a manager that loses
// the Lease: `clear`) leaves no series behind.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Condition } from '../../api/schema-kit.ts';

const PREFIX = 'matrixinfer_production_stack_';

interface Observed {
  kind: string;
  namespace: string;
  name: string;
  conditions: Condition[];
  /** Gauge name (without prefix) → extra labels → value. */
  values: Array<{ metric: string; labels: Record<string, string>; value: number }>;
}

type Status = Record<string, unknown> & { conditions?: Condition[] };

/** The kind-specific gauges of a status. */
function valuesOf(kind: string, status: Status): Observed['values'] {
  const num = (v: unknown) => (typeof v === 'number' ? v : typeof v === 'string' && v !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined);
  const out: Observed['values'] = [];
  const add = (metric: string, value: number | undefined, labels: Record<string, string> = {}) => value !== undefined && out.push({ metric, labels, value });
  switch (kind) {
    case 'InferenceService':
      add('ready_backends', num(status.readyBackends));
      break;
    case 'InferenceGateway': {
      const routes = (status.routes as { programmed: boolean }[] | undefined) ?? [];
      add('gateway_routes', routes.filter((r) => r.programmed).length, { programmed: 'true' });
      add('gateway_routes', routes.filter((r) => !r.programmed).length, { programmed: 'false' });
      break;
    }
    case 'InferenceCache': {
      const stats = status.cacheStats as { hitRate?: string; kvCacheUsage?: string } | undefined;
      add('cache_hit_rate', num(stats?.hitRate));
      add('kv_cache_usage', num(stats?.kvCacheUsage));
      break;
    }
    case 'StaticRoute': {
      const backends = (status.backends as { healthy: boolean }[] | undefined) ?? [];
      add('static_backends', backends.filter((b) => b.healthy).length, { healthy: 'true' });
      add('static_backends', backends.filter((b) => !b.healthy).length, { healthy: 'false' });
      break;
    }
    case 'PrefillDecodingDisaggregation':
      add('ready_pairs', num(status.readyPairs));
      break;
    case 'SpeculativeDecoding':
      add('updated_replicas', ((status.workloads as { applied: boolean; updatedReplicas?: number }[] | undefined) ?? []).reduce((n, w) => n + (w.applied ? (w.updatedReplicas ?? 0) : 0), 0));
      break;
  }
  return out;
}

export class ProductionStackMetrics {
  private readonly objects = new Map<string, Observed>();
  private readonly reconciles: Counter<string>;

  constructor(registry: Registry) {
    this.reconciles = new Counter({ name: `${PREFIX}reconciles_total`, help: 'Reconciles of the production-stack.vllm.ai controllers, by result.', labelNames: ['controller', 'result'], registers: [registry] });
    const objects = this.objects;
    new Gauge({
      name: `${PREFIX}condition`,
      help: 'A production-stack.vllm.ai object\'s conditions: 1 for the current status of each.',
      labelNames: ['kind', 'namespace', 'name', 'condition', 'status'],
      registers: [registry],
      collect() {
        this.reset();
        for (const o of objects.values()) for (const c of o.conditions) this.set({ kind: o.kind, namespace: o.namespace, name: o.name, condition: c.type, status: c.status }, 1);
      },
    });
    const gauges: Array<[string, string, string[]]> = [
      ['ready_backends', 'InferenceService: ready engine pods behind its route.', []],
      ['gateway_routes', 'InferenceGateway: listed routes carrying its profile (programmed="true") or not.', ['programmed']],
      ['cache_hit_rate', "InferenceCache: the engines' prefix-cache hit rate over the last window (0..1).", []],
      ['kv_cache_usage', "InferenceCache: the engines' mean KV-cache usage (0..1).", []],
      ['static_backends', 'StaticRoute: backends by health.', ['healthy']],
      ['ready_pairs', 'PrefillDecodingDisaggregation: ready prefill/decode pairs.', []],
      ['updated_replicas', 'SpeculativeDecoding: replicas running the speculative configuration.', []],
    ];
    for (const [metric, help, extra] of gauges) {
      new Gauge({
        name: `${PREFIX}${metric}`,
        help,
        labelNames: ['namespace', 'name', ...extra],
        registers: [registry],
        collect() {
          this.reset();
          for (const o of objects.values()) for (const v of o.values) if (v.metric === metric) this.set({ namespace: o.namespace, name: o.name, ...v.labels }, v.value);
        },
      });
    }
  }

  reconciled(controller: string, ok: boolean): void {
    this.reconciles.inc({ controller, result: ok ? 'success' : 'error' });
  }

  /** The status just written for an object. */
  observe(kind: string, namespace: string, name: string, status: Status): void {
    this.objects.set(`${kind}/${namespace}/${name}`, { kind, namespace, name, conditions: status.conditions ?? [], values: valuesOf(kind, status) });
  }

  forget(kind: string, namespace: string, name: string): void {
    this.objects.delete(`${kind}/${namespace}/${name}`);
  }

  /** No longer leading: no series of objects. */
  clear(): void {
    this.objects.clear();
  }
}
