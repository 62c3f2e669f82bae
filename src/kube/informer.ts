// Shared informers: a client-node ListWatch (list, then watch from the list's resourceVersion, relist on
// 410 Gone) with what it lacks for long-running controllers:
//  - restart after errors (failed list, refused or broken watch) with exponential back-off;
//  - back-off between watch reconnects when watches end quickly (a server that closes at once);
//  - watches with `allowWatchBookmarks` and a server-side `timeoutSeconds`, plus a client-side deadline so a
//    silently dead connection is noticed;
//  - `waitForSync()` for the first complete list, and one shared cache per (resource, namespace, selector).
import { ListWatch, Watch, type KubernetesObject } from '@kubernetes/client-node';
import type { KubeObject } from '../api/admission.ts';
import { collectionPath, type KubeClient, type ResourceType } from './client.ts';
import { createLogger, errorMessage, type Logger } from './log.ts';

export type EventType = 'add' | 'update' | 'delete';
export type EventHandler<T> = (type: EventType, object: T) => void;

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  /** Server-side watch timeout, s (default 300, ±10% jitter). */
  watchTimeoutSeconds?: number;
  /** Back-off after errors, ms (default 500 doubling up to 30 000). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  logger?: Logger;
}

/** Watch that paces reconnects and enforces a client-side deadline; owned by one ListWatch. */
class PacedWatch extends Watch {
  stopped = false;
  private lastStart = 0;
  private quickEnds = 0;
  private readonly timeoutSeconds: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private current: AbortController | undefined;

  constructor(informer: { client: KubeClient }, timeoutSeconds: number, minBackoffMs: number, maxBackoffMs: number) {
    super(informer.client.kubeConfig);
    this.timeoutSeconds = timeoutSeconds;
    this.minBackoffMs = minBackoffMs;
    this.maxBackoffMs = maxBackoffMs;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    done: (err: any) => void,
  ): Promise<AbortController> {
    // A watch that ended within 2 s of starting counts as a quick end; consecutive quick ends back off.
    const now = Date.now();
    if (this.lastStart && now - this.lastStart < 2000) this.quickEnds++;
    else this.quickEnds = 0;
    if (this.quickEnds > 0) {
      const delay = Math.min(this.maxBackoffMs, this.minBackoffMs * 2 ** (this.quickEnds - 1));
      await sleep(delay);
    }
    if (this.stopped) return new AbortController();
    this.lastStart = Date.now();
    const timeout = Math.round(this.timeoutSeconds * (0.9 + Math.random() * 0.2));
    let deadlineHit = false;
    let controller: AbortController | undefined;
    const deadline = setTimeout(() => {
      deadlineHit = true;
      controller?.abort();
    }, (timeout + 30) * 1000);
    deadline.unref?.();
    controller = await super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: timeout },
      callback,
      (err: any) => {
        clearTimeout(deadline);
        // Our own deadline abort is a normal end: resume from the last resourceVersion.
        done(deadlineHit || this.stopped ? null : err);
      },
    );
    this.current = controller;
    return controller;
  }

  abort(): void {
    this.stopped = true;
    this.current?.abort();
  }
}

export class SharedInformer<T extends KubeObject = KubeObject> {
  readonly client: KubeClient;
  readonly resource: ResourceType;
  readonly namespace: string | undefined;
  readonly labelSelector: string | undefined;
  private readonly options: InformerOptions;
  private readonly log: Logger;
  private listWatch: ListWatch<KubernetesObject> | undefined;
  private watch: PacedWatch | undefined;
  private handlers: EventHandler<T>[] = [];
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private stopped = true;
  private failures = 0;
  private lastError = 0;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(client: KubeClient, resource: ResourceType, options: InformerOptions = {}) {
    this.client = client;
    this.resource = resource;
    this.namespace = options.namespace;
    this.labelSelector = options.labelSelector;
    this.options = options;
    this.log = (options.logger ?? createLogger('informer')).child(resource.plural);
  }

  /** Register a handler; called for every add, update (resourceVersion changed) and delete, after sync too. */
  addHandler(handler: EventHandler<T>): () => void {
    this.handlers.push(handler);
    return () => {
      this.handlers = this.handlers.filter((h) => h !== handler);
    };
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves after the first successful list has filled the cache. */
  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.listWatch?.get(name, this.resource.namespaced ? namespace : undefined) as T | undefined;
  }

  /** Cached objects, of one namespace or all. */
  list(namespace?: string): T[] {
    return (this.listWatch?.list(namespace) ?? []) as T[];
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    if (!this.listWatch) this.createListWatch();
    this.watch!.stopped = false;
    this.runListWatch();
  }

  private createListWatch(): void {
    const watch = new PacedWatch(this, this.options.watchTimeoutSeconds ?? 300, this.options.minBackoffMs ?? 500, this.options.maxBackoffMs ?? 30_000);
    const listFn = async () => {
      const list = await this.client.list(this.resource, { namespace: this.namespace, labelSelector: this.labelSelector });
      // ListWatch fills its cache right after this promise resolves; mark synced once that has happened.
      setImmediate(() => this.markSynced());
      return list as never;
    };
    const lw = new ListWatch<KubernetesObject>(collectionPath(this.resource, this.namespace), watch, listFn, false, this.labelSelector);
    const dispatch = (type: EventType) => (object: KubernetesObject) => {
      for (const handler of this.handlers) {
        try {
          handler(type, object as T);
        } catch (err) {
          this.log.error('event handler failed', { error: errorMessage(err) });
        }
      }
    };
    lw.on('add', dispatch('add'));
    lw.on('update', dispatch('update'));
    lw.on('delete', dispatch('delete'));
    lw.on('error', (err: unknown) => this.scheduleRestart(err));
    this.watch = watch;
    this.listWatch = lw;
  }

  /** (Re)start the ListWatch: it relists only when it has no resourceVersion (first start, after 410). */
  private runListWatch(): void {
    if (this.stopped) return;
    this.listWatch!.start().catch((err: unknown) => this.scheduleRestart(err));
  }

  private markSynced(): void {
    if (this.synced || this.stopped) return;
    this.synced = true;
    for (const resolve of this.syncWaiters.splice(0)) resolve();
  }

  private scheduleRestart(err: unknown): void {
    if (this.stopped || this.restartTimer) return;
    const now = Date.now();
    if (now - this.lastError > 60_000) this.failures = 0;
    this.lastError = now;
    const min = this.options.minBackoffMs ?? 500;
    const delay = Math.min(this.options.maxBackoffMs ?? 30_000, min * 2 ** this.failures);
    this.failures++;
    const level = this.failures > 3 ? 'warn' : 'debug';
    this.log[level]('list/watch failed, restarting', { error: errorMessage(err), retryInMs: delay });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.runListWatch();
    }, delay);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.watch?.abort();
    void this.listWatch?.stop();
    for (const resolve of this.syncWaiters.splice(0)) resolve();
  }
}

/** One informer per (resource, namespace, label selector), shared by every controller that asks for it. */
export class InformerFactory {
  private readonly informers = new Map<string, SharedInformer>();
  private readonly client: KubeClient;
  private readonly defaults: InformerOptions;
  private started = false;

  constructor(client: KubeClient, defaults: InformerOptions = {}) {
    this.client = client;
    this.defaults = defaults;
  }

  informer<T extends KubeObject = KubeObject>(resource: ResourceType, options: { namespace?: string; labelSelector?: string } = {}): SharedInformer<T> {
    const namespace = options.namespace ?? this.defaults.namespace;
    const key = `${resource.group}/${resource.plural}|${namespace ?? ''}|${options.labelSelector ?? ''}`;
    let informer = this.informers.get(key);
    if (!informer) {
      informer = new SharedInformer(this.client, resource, { ...this.defaults, namespace, labelSelector: options.labelSelector });
      this.informers.set(key, informer);
      if (this.started) informer.start();
    }
    return informer as unknown as SharedInformer<T>;
  }

  start(): void {
    this.started = true;
    for (const informer of this.informers.values()) informer.start();
  }

  async waitForSync(): Promise<void> {
    await Promise.all([...this.informers.values()].map((informer) => informer.waitForSync()));
  }

  stop(): void {
    this.started = false;
    for (const informer of this.informers.values()) informer.stop();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
