// The controller runtime's Prometheus series under controller-runtime's and client-go's names, so the dashboards and
// alerts written for Kubernetes controllers read ours: reconciles (controller.ts), work queues (workqueue.ts),
// leader election (leaderelection.ts) and admission webhooks (webhooks/server.ts). Registered on a registry the
// caller passes (the controller manager's), never prom-client's global one: several managers share a test process.
//
//   controller_runtime_reconcile_total{controller,result}   result: success | error | requeue | requeue_after
//   controller_runtime_reconcile_errors_total{controller}
//   controller_runtime_reconcile_time_seconds{controller}   histogram
//   controller_runtime_active_workers{controller}, controller_runtime_max_concurrent_reconciles{controller}
//   workqueue_depth, workqueue_adds_total, workqueue_retries_total{name,controller}
//   workqueue_queue_duration_seconds, workqueue_work_duration_seconds{name,controller}   histograms
//   workqueue_unfinished_work_seconds, workqueue_longest_running_processor_seconds{name,controller}   at scrape time
//   leader_election_master_status{name}   1 while this process holds the Lease, else 0
//   controller_runtime_webhook_requests_total{webhook,code}, controller_runtime_webhook_latency_seconds{webhook}
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** controller-runtime's reconcile time buckets (pkg/internal/controller/metrics). */
export const RECONCILE_TIME_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0,
  2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];
/** client-go's work queue latency buckets: 10 ns to 10 s, ×10 (prometheus.ExponentialBuckets(10e-9, 10, 10)). */
export const WORKQUEUE_BUCKETS = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10];
/** controller-runtime's webhook latency buckets (prometheus.DefBuckets). */
export const WEBHOOK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type ReconcileResult = 'success' | 'error' | 'requeue' | 'requeue_after';

/** What a work queue reports (workqueue.ts calls these; durations in seconds). */
export interface QueueMetrics {
  /** A key entered the queue (not a duplicate of one waiting). */
  added(): void;
  /** A key left the queue for a worker after `queuedSeconds`. */
  taken(queuedSeconds: number): void;
  /** A worker finished a key after `workSeconds`. */
  finished(workSeconds: number): void;
  retried(): void;
  /** Depth now (keys waiting or due again). */
  depth(n: number): void;
}

/** What a controller reports about its reconciles. */
export interface ReconcileMetrics {
  workers(n: number): void;
  /** A reconcile started (the returned function ends it with its result). */
  started(): (result: ReconcileResult) => void;
  queue: QueueMetrics;
  /** Reads the queue's in-progress work at scrape time. */
  inProgress(read: () => { unfinishedSeconds: number; longestSeconds: number }): void;
}

export class ControllerRuntimeMetrics {
  private readonly reconciles: Counter<string>;
  private readonly errors: Counter<string>;
  private readonly reconcileTime: Histogram<string>;
  private readonly activeWorkers: Gauge<string>;
  private readonly maxConcurrent: Gauge<string>;
  private readonly depth: Gauge<string>;
  private readonly adds: Counter<string>;
  private readonly retries: Counter<string>;
  private readonly queueDuration: Histogram<string>;
  private readonly workDuration: Histogram<string>;
  private readonly leader: Gauge<string>;
  private readonly webhookRequests: Counter<string>;
  private readonly webhookLatency: Histogram<string>;
  /** Each controller's in-progress reader, polled when the registry is scraped. */
  private readonly progress = new Map<string, () => { unfinishedSeconds: number; longestSeconds: number }>();

  constructor(registry: Registry) {
    const registers = [registry];
    const progress = this.progress;
    this.reconciles = new Counter({ name: 'controller_runtime_reconcile_total', help: 'Total number of reconciliations per controller', labelNames: ['controller', 'result'], registers });
    this.errors = new Counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Total number of reconciliation errors per controller', labelNames: ['controller'], registers });
    this.reconcileTime = new Histogram({ name: 'controller_runtime_reconcile_time_seconds', help: 'Length of time per reconciliation per controller', labelNames: ['controller'], buckets: RECONCILE_TIME_BUCKETS, registers });
    this.activeWorkers = new Gauge({ name: 'controller_runtime_active_workers', help: 'Number of currently used workers per controller', labelNames: ['controller'], registers });
    this.maxConcurrent = new Gauge({ name: 'controller_runtime_max_concurrent_reconciles', help: 'Maximum number of concurrent reconciles per controller', labelNames: ['controller'], registers });
    this.depth = new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: ['name', 'controller'], registers });
    this.adds = new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames: ['name', 'controller'], registers });
    this.retries = new Counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue', labelNames: ['name', 'controller'], registers });
    this.queueDuration = new Histogram({ name: 'workqueue_queue_duration_seconds', help: 'How long in seconds an item stays in workqueue before being requested', labelNames: ['name', 'controller'], buckets: WORKQUEUE_BUCKETS, registers });
    this.workDuration = new Histogram({ name: 'workqueue_work_duration_seconds', help: 'How long in seconds processing an item from workqueue takes.', labelNames: ['name', 'controller'], buckets: WORKQUEUE_BUCKETS, registers });
    new Gauge({
      name: 'workqueue_unfinished_work_seconds',
      help: 'How many seconds of work has been done that is in progress and hasn\'t been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.',
      labelNames: ['name', 'controller'],
      registers,
      collect() {
        for (const [name, read] of progress) this.labels(name, name).set(read().unfinishedSeconds);
      },
    });
    new Gauge({
      name: 'workqueue_longest_running_processor_seconds',
      help: 'How many seconds has the longest running processor for workqueue been running.',
      labelNames: ['name', 'controller'],
      registers,
      collect() {
        for (const [name, read] of progress) this.labels(name, name).set(read().longestSeconds);
      },
    });
    this.leader = new Gauge({ name: 'leader_election_master_status', help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. \'name\' is the string used to identify the lease.', labelNames: ['name'], registers });
    this.webhookRequests = new Counter({ name: 'controller_runtime_webhook_requests_total', help: 'Total number of admission requests by HTTP status code.', labelNames: ['webhook', 'code'], registers });
    this.webhookLatency = new Histogram({ name: 'controller_runtime_webhook_latency_seconds', help: 'Histogram of the latency of processing admission requests', labelNames: ['webhook'], buckets: WEBHOOK_BUCKETS, registers });
  }

  /** The series of one controller (its work queue is named after it, as controller-runtime names it). */
  controller(name: string): ReconcileMetrics {
    const activeWorkers = this.activeWorkers.labels(name);
    const maxConcurrent = this.maxConcurrent.labels(name);
    const time = this.reconcileTime.labels(name);
    const errors = this.errors.labels(name);
    const results = {
      success: this.reconciles.labels(name, 'success'),
      error: this.reconciles.labels(name, 'error'),
      requeue: this.reconciles.labels(name, 'requeue'),
      requeue_after: this.reconciles.labels(name, 'requeue_after'),
    } satisfies Record<ReconcileResult, Counter.Internal>;
    // Present at 0 from the start, as controller-runtime initialises them, so rate() sees the first reconcile.
    for (const c of Object.values(results)) c.inc(0);
    errors.inc(0);
    activeWorkers.set(0);
    const depth = this.depth.labels(name, name);
    const adds = this.adds.labels(name, name);
    const retries = this.retries.labels(name, name);
    const queued = this.queueDuration.labels(name, name);
    const work = this.workDuration.labels(name, name);
    depth.set(0);
    adds.inc(0);
    retries.inc(0);
    return {
      workers: (n) => maxConcurrent.set(n),
      started: () => {
        const t0 = performance.now();
        activeWorkers.inc();
        return (result) => {
          activeWorkers.dec();
          time.observe((performance.now() - t0) / 1000);
          results[result].inc();
          if (result === 'error') errors.inc();
        };
      },
      queue: {
        added: () => adds.inc(),
        taken: (s) => queued.observe(s),
        finished: (s) => work.observe(s),
        retried: () => retries.inc(),
        depth: (n) => depth.set(n),
      },
      inProgress: (read) => {
        this.progress.set(name, read);
      },
    };
  }

  /** Leader election status of the Lease `name` (every replica reports, 0 on a standby). */
  leading(name: string, isLeader: boolean): void {
    this.leader.labels(name).set(isLeader ? 1 : 0);
  }

  /** One admission review served on `webhook` (its path). */
  webhook(webhook: string, code: number, seconds: number): void {
    this.webhookRequests.labels(webhook, String(code)).inc();
    this.webhookLatency.labels(webhook).observe(seconds);
  }
}
