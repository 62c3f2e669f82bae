// The controller runner: event sources (shared informers) map objects to work-queue keys; workers take keys
// off the queue and call an idempotent, level-triggered `reconcile(key)`. A failed reconcile is retried with
// the key's exponential back-off; a successful one resets it and may ask to be called again later.
// With tracing on (kube/tracing.ts), each reconcile is a span `reconcile <controller>` with the object's key, so
// what it logs carries the trace id; a failed one is marked failed.
// Instrumented (`instrument`, before the informers start), it reports controller-runtime's reconcile and work queue
// series (kube/controller-metrics.ts).
import type { KubeObject } from '../api/admission.ts';
import type { SharedInformer } from './informer.ts';
import { createLogger, errorMessage, type Logger } from './log.ts';
import type { ControllerRuntimeMetrics, ReconcileMetrics } from './controller-metrics.ts';
import { inSpan, spanError, tracing } from './tracing.ts';
import { controllerKey, objectKey } from './objects.ts';
import { WorkQueue, type WorkQueueOptions } from './workqueue.ts';

export interface ReconcileResult {
  /** Reconcile this key again after this many ms (polling for something that produces no event). */
  requeueAfterMs?: number;
}

export type Reconciler = (key: string) => Promise<ReconcileResult | void>;

/** Maps an object from a watched source to the keys of the primary objects to reconcile. */
export type KeyMapper<T> = (object: T) => string | readonly string[] | undefined;

export interface ControllerOptions extends WorkQueueOptions {
  name: string;
  reconcile: Reconciler;
  /** Concurrent workers (default 2). One key is never processed by two workers at once. */
  workers?: number;
  /** Re-enqueue every primary object this often, ms, as a safety net (default 5 min; 0 = never). */
  resyncPeriodMs?: number;
  logger?: Logger;
}

/** Map an object to itself (the primary resource). */
export const self: KeyMapper<KubeObject> = (object) => objectKey(object);

/** Map a child to its controller of the given kind, via its controller ownerReference. */
export function toController(kind: string, group?: string): KeyMapper<KubeObject> {
  return (object) => controllerKey(object, kind, group);
}

/** Map an object to `namespace/<value of label>`. */
export function byLabel(label: string): KeyMapper<KubeObject> {
  return (object) => {
    const value = object.metadata.labels?.[label];
    return value ? `${object.metadata.namespace ?? ''}/${value}`.replace(/^\//, '') : undefined;
  };
}

/** A reconcile starts its own trace (whatever event queued the key). */
const ROOT = { root: true };

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue<string>;
  private readonly reconcile: Reconciler;
  private readonly workers: number;
  private readonly resyncPeriodMs: number;
  private readonly log: Logger;
  private readonly sources: { informer: SharedInformer<any>; map: KeyMapper<any> }[] = [];
  private primary: SharedInformer<any> | undefined;
  private readonly unsubscribe: (() => void)[] = [];
  private running: Promise<void>[] = [];
  private resyncTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private metrics: ReconcileMetrics | undefined;

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.reconcile = options.reconcile;
    this.workers = options.workers ?? 2;
    this.resyncPeriodMs = options.resyncPeriodMs ?? 5 * 60_000;
    this.queue = new WorkQueue<string>(options);
    this.log = options.logger ?? createLogger(`controller/${options.name}`);
  }

  /** Watch the primary resource: each of its objects is reconciled under its own key. */
  watchPrimary<T extends KubeObject>(informer: SharedInformer<T>): this {
    this.primary = informer;
    return this.watch(informer, self as KeyMapper<T>);
  }

  /** Watch a secondary source; `map` says which primary keys an event concerns. */
  watch<T extends KubeObject>(informer: SharedInformer<T>, map: KeyMapper<T>): this {
    this.sources.push({ informer, map });
    this.unsubscribe.push(
      informer.addHandler((_type, object) => {
        let keys: string | readonly string[] | undefined;
        try {
          keys = map(object);
        } catch (err) {
          this.log.error('key mapping failed', { error: errorMessage(err) });
          return;
        }
        if (keys === undefined) return;
        for (const key of typeof keys === 'string' ? [keys] : keys) this.queue.add(key);
      }),
    );
    return this;
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Report this controller's reconciles and work queue on `metrics` (the manager's registry). */
  instrument(metrics: ControllerRuntimeMetrics): this {
    this.metrics = metrics.controller(this.name);
    this.metrics.workers(this.workers);
    this.queue.instrument(this.metrics.queue);
    this.metrics.inProgress(() => this.queue.inProgress());
    return this;
  }

  /** Wait for every source to sync, then start the workers. Resolves once the workers are running. */
  async start(): Promise<void> {
    await Promise.all(this.sources.map((s) => s.informer.waitForSync()));
    if (this.stopped) return;
    this.log.debug('caches synced, starting workers', { workers: this.workers });
    for (let i = 0; i < this.workers; i++) this.running.push(this.worker());
    if (this.resyncPeriodMs > 0 && this.primary) {
      const primary = this.primary;
      this.resyncTimer = setInterval(() => {
        for (const object of primary.list()) this.queue.add(objectKey(object));
      }, this.resyncPeriodMs);
    }
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      if (tracing() === null) await this.process(key);
      else await inSpan(`reconcile ${this.name}`, { 'matrixinfer.controller': this.name, 'matrixinfer.key': key }, () => this.process(key), ROOT);
    }
  }

  /** The object a log line concerns, as every component names it (kube/log.ts): controller, namespace, name. */
  private about(key: string): Record<string, string> {
    const slash = key.indexOf('/');
    return slash < 0 ? { controller: this.name, name: key } : { controller: this.name, namespace: key.slice(0, slash), name: key.slice(slash + 1) };
  }

  /** One reconcile of `key` and what the queue learns from it. */
  private async process(key: string): Promise<void> {
    const started = Date.now();
    const finish = this.metrics?.started();
    try {
      const result = await this.reconcile(key);
      this.queue.forget(key);
      if (result?.requeueAfterMs !== undefined) this.queue.addAfter(key, result.requeueAfterMs);
      finish?.(result?.requeueAfterMs === undefined ? 'success' : result.requeueAfterMs > 0 ? 'requeue_after' : 'requeue');
      this.log.debug('reconciled', { ...this.about(key), ms: Date.now() - started });
    } catch (err) {
      finish?.('error');
      spanError(err);
      const retries = this.queue.numRequeues(key);
      const delay = this.queue.addRateLimited(key);
      const level = retries >= 3 ? 'warn' : 'debug';
      this.log[level]('reconcile failed, will retry', { ...this.about(key), error: errorMessage(err), retryInMs: delay });
    } finally {
      this.queue.done(key);
    }
  }

  /** Stop taking work and wait for in-flight reconciles to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    for (const off of this.unsubscribe.splice(0)) off();
    this.queue.shutDown();
    await Promise.all(this.running);
    this.running = [];
  }
}
