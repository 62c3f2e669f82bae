// Shared informers: the project's one list-watch loop, used by the controllers, the gateway (discovery/watch.ts)
// and the node agent. List, then watch from the list's resourceVersion, keeping a cache and telling handlers of
// every add, update (resourceVersion changed) and delete:
//  - a watch that ends (the server's `timeoutSeconds`, a closed connection, our client-side deadline for a
//    connection that died silently) resumes from the last resourceVersion seen, bookmarks included; watches that
//    keep ending within 2 s are paced with exponential back-off;
//  - a watch or list that fails is retried with exponential back-off (reset after a minute without failures); a
//    watch resumes, it does not relist;
//  - 410 Gone (the watch's status or an ERROR event) relists, and so does any other ERROR event (after back-off);
//    a relist reports what changed meanwhile as adds, updates and deletes against the cache;
//  - list handlers run after every complete list (the first and each relist), after its events, with the complete
//    fresh view (the node agent's resync);
//  - label and field selectors; `waitForSync()` for the first complete list; one shared cache per (resource,
//    namespace, selectors) through `InformerFactory`.
// Handlers run synchronously, in the order events arrive; one that throws is logged and the others still run.
import { Watch } from '@kubernetes/client-node';
import type { KubeObject, ObjectMeta } from '../api/admission.ts';
import { apiStatus, collectionPath, type KubeClient, type ResourceType } from './client.ts';
import { createLogger, errorMessage, type Logger } from './log.ts';

export type EventType = 'add' | 'update' | 'delete';
export type EventHandler<T> = (type: EventType, object: T) => void;
/** Called after every complete list, after its events, with every object the list returned. */
export type ListHandler<T> = (objects: T[]) => void;
/** What an informer holds: objects with metadata (the controllers' KubeObject, the agent's Pod). */
export type Informable = { metadata: ObjectMeta };

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Server-side watch timeout, s (default 300, ±10% jitter). */
  watchTimeoutSeconds?: number;
  /** Back-off after errors and between quick watch ends, ms (default 500 doubling up to 30 000). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  logger?: Logger;
}

/** A watch that ended within this long of starting counts as a quick end. */
const QUICK_END_MS = 2000;

export class SharedInformer<T extends Informable = KubeObject> {
  readonly client: KubeClient;
  readonly resource: ResourceType;
  readonly namespace: string | undefined;
  readonly labelSelector: string | undefined;
  readonly fieldSelector: string | undefined;
  private readonly path: string;
  private readonly watchTimeoutSeconds: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly log: Logger;
  private readonly watcher: Watch;
  /** namespace ('' when cluster-scoped) → name → object. */
  private objects = new Map<string, Map<string, T>>();
  private resourceVersion = '';
  private needsList = true;
  private handlers: EventHandler<T>[] = [];
  private listHandlers: ListHandler<T>[] = [];
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private stopped = true;
  /** Bumped by every start and stop: a loop from before a stop never carries on. */
  private generation = 0;
  /** Ends the current watch or back-off pause (stop). */
  private interrupt: (() => void) | undefined;
  private failures = 0;
  private lastFailure = 0;
  private quickEnds = 0;

  constructor(client: KubeClient, resource: ResourceType, options: InformerOptions = {}) {
    this.client = client;
    this.resource = resource;
    this.namespace = options.namespace;
    this.labelSelector = options.labelSelector;
    this.fieldSelector = options.fieldSelector;
    this.path = collectionPath(resource, options.namespace);
    this.watchTimeoutSeconds = options.watchTimeoutSeconds ?? 300;
    this.minBackoffMs = options.minBackoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.log = (options.logger ?? createLogger('informer')).child(resource.plural);
    this.watcher = new Watch(client.kubeConfig);
  }

  /** Register a handler; called for every add, update (resourceVersion changed) and delete, after sync too. */
  addHandler(handler: EventHandler<T>): () => void {
    this.handlers.push(handler);
    return () => {
      this.handlers = this.handlers.filter((h) => h !== handler);
    };
  }

  /** Register a handler for the complete view after every list (the first and each relist). */
  addListHandler(handler: ListHandler<T>): () => void {
    this.listHandlers.push(handler);
    return () => {
      this.listHandlers = this.listHandlers.filter((h) => h !== handler);
    };
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves after the first successful list has filled the cache (or on stop). */
  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.objects.get((this.resource.namespaced && namespace) || '')?.get(name);
  }

  /** Cached objects, of one namespace or all. */
  list(namespace?: string): T[] {
    if (namespace) return [...(this.objects.get(namespace)?.values() ?? [])];
    return [...this.objects.values()].flatMap((objects) => [...objects.values()]);
  }

  /** Start (or restart after `stop`, resuming from the last resourceVersion). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.run(++this.generation);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.generation++;
    this.interrupt?.();
    for (const resolve of this.syncWaiters.splice(0)) resolve();
  }

  private async run(generation: number): Promise<void> {
    const live = () => this.generation === generation;
    while (live()) {
      if (this.needsList) {
        try {
          const list = await this.client.list(this.resource, { namespace: this.namespace, labelSelector: this.labelSelector, fieldSelector: this.fieldSelector });
          if (!live()) return;
          this.replace((list.items ?? []) as unknown as T[], list.metadata?.resourceVersion ?? '');
        } catch (err) {
          if (live()) await this.pause(this.failed(err));
          continue;
        }
      }
      const started = Date.now();
      const error = await this.watchOnce();
      if (!live()) return;
      if (error !== undefined) {
        await this.pause(this.failed(error));
        continue;
      }
      // A server that ends watches at once must not make this a busy loop.
      this.quickEnds = Date.now() - started < QUICK_END_MS ? this.quickEnds + 1 : 0;
      if (this.quickEnds > 0) await this.pause(this.backoff(this.quickEnds - 1));
    }
  }

  /**
   * One watch from the current resourceVersion; resolves when it ends: undefined when it ended normally or with
   * 410 (then `needsList`), the error when it failed.
   */
  private watchOnce(): Promise<unknown> {
    return new Promise((resolve) => {
      const timeoutSeconds = Math.round(this.watchTimeoutSeconds * (0.9 + Math.random() * 0.2));
      let controller: AbortController | undefined;
      let ended = false;
      const end = (error?: unknown) => {
        if (ended) return;
        ended = true;
        clearTimeout(deadline);
        controller?.abort();
        resolve(error ?? undefined);
      };
      // The server ends the watch after timeoutSeconds; past that, the connection died without telling us.
      const deadline = setTimeout(() => end(), (timeoutSeconds + 30) * 1000);
      deadline.unref?.();
      this.interrupt = () => end();
      const query = {
        allowWatchBookmarks: true,
        timeoutSeconds,
        resourceVersion: this.resourceVersion || undefined,
        labelSelector: this.labelSelector,
        fieldSelector: this.fieldSelector,
      };
      const onEvent = (type: string, object: T & { code?: number; message?: string }) => {
        if (ended) return;
        if (type === 'ERROR') {
          // 410 Expired: our resourceVersion is older than the server's history. Relist on any other error too.
          this.needsList = true;
          end(object?.code === 410 ? undefined : new Error(`watch ERROR event: ${object?.code ?? ''} ${object?.message ?? ''}`.trim()));
          return;
        }
        if (type === 'ADDED' || type === 'MODIFIED') this.upsert(object);
        else if (type === 'DELETED') this.remove(object);
        else if (type !== 'BOOKMARK') return;
        this.resourceVersion = object?.metadata?.resourceVersion || this.resourceVersion;
      };
      const onDone = (err: unknown) => {
        if (apiStatus(err) === 410) {
          this.needsList = true;
          end();
        } else end(err);
      };
      this.watcher.watch(this.path, query, onEvent, onDone).then(
        (c) => {
          controller = c;
          if (ended) c.abort();
        },
        (err: unknown) => end(err),
      );
    });
  }

  /** A complete list: it becomes the cache, differences from the old one are dispatched, then the list handlers run. */
  private replace(items: T[], resourceVersion: string): void {
    const previous = this.objects;
    const next = new Map<string, Map<string, T>>();
    for (const item of items) bucket(next, item).set(item.metadata.name ?? '', item);
    this.objects = next;
    for (const [namespace, objects] of previous) {
      for (const [name, old] of objects) if (!next.get(namespace)?.has(name)) this.dispatch('delete', old);
    }
    for (const item of items) {
      const old = previous.get(item.metadata.namespace ?? '')?.get(item.metadata.name ?? '');
      if (!old) this.dispatch('add', item);
      else if (!sameVersion(old, item)) this.dispatch('update', item);
    }
    this.resourceVersion = resourceVersion;
    this.needsList = false;
    for (const handler of this.listHandlers) {
      try {
        handler(items);
      } catch (err) {
        this.log.error('list handler failed', { error: errorMessage(err) });
      }
    }
    if (!this.synced) {
      this.synced = true;
      for (const resolve of this.syncWaiters.splice(0)) resolve();
    }
  }

  private upsert(object: T): void {
    const objects = bucket(this.objects, object);
    const name = object.metadata.name ?? '';
    const old = objects.get(name);
    if (old && sameVersion(old, object)) return;
    objects.set(name, object);
    this.dispatch(old ? 'update' : 'add', object);
  }

  private remove(object: T): void {
    const namespace = object.metadata.namespace ?? '';
    const objects = this.objects.get(namespace);
    if (!objects?.delete(object.metadata.name ?? '')) return;
    if (objects.size === 0) this.objects.delete(namespace);
    this.dispatch('delete', object);
  }

  private dispatch(type: EventType, object: T): void {
    for (const handler of this.handlers) {
      try {
        handler(type, object);
      } catch (err) {
        this.log.error('event handler failed', { error: errorMessage(err) });
      }
    }
  }

  /** Count a failure and log it; returns the delay before the retry. */
  private failed(err: unknown): number {
    const now = Date.now();
    if (now - this.lastFailure > 60_000) this.failures = 0;
    this.lastFailure = now;
    const delay = this.backoff(this.failures++);
    const { labelSelector, fieldSelector } = this;
    this.log[this.failures > 3 ? 'warn' : 'debug']('list/watch failed, restarting', { error: errorMessage(err), retryInMs: delay, labelSelector, fieldSelector });
    return delay;
  }

  private backoff(attempt: number): number {
    return Math.min(this.maxBackoffMs, this.minBackoffMs * 2 ** attempt);
  }

  /** Sleep, cut short by stop. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.interrupt = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

function bucket<T extends Informable>(objects: Map<string, Map<string, T>>, object: T): Map<string, T> {
  const namespace = object.metadata.namespace ?? '';
  let inNamespace = objects.get(namespace);
  if (!inNamespace) objects.set(namespace, (inNamespace = new Map()));
  return inNamespace;
}

function sameVersion(a: Informable, b: Informable): boolean {
  return a.metadata.resourceVersion !== undefined && a.metadata.resourceVersion === b.metadata.resourceVersion;
}

export interface InformerSelection {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/** One informer per (resource, namespace, label selector, field selector), shared by every user that asks for it. */
export class InformerFactory {
  private readonly informers = new Map<string, SharedInformer>();
  private readonly client: KubeClient;
  private readonly defaults: InformerOptions;
  private started = false;

  constructor(client: KubeClient, defaults: InformerOptions = {}) {
    this.client = client;
    this.defaults = defaults;
  }

  informer<T extends Informable = KubeObject>(resource: ResourceType, options: InformerSelection = {}): SharedInformer<T> {
    const namespace = options.namespace ?? this.defaults.namespace;
    const { labelSelector, fieldSelector } = options;
    const key = `${resource.group}/${resource.plural}|${namespace ?? ''}|${labelSelector ?? ''}|${fieldSelector ?? ''}`;
    let informer = this.informers.get(key);
    if (!informer) {
      informer = new SharedInformer(this.client, resource, { ...this.defaults, namespace, labelSelector, fieldSelector });
      this.informers.set(key, informer);
      if (this.started) informer.start();
    }
    return informer as unknown as SharedInformer<T>;
  }

  get hasSynced(): boolean {
    return [...this.informers.values()].every((informer) => informer.hasSynced);
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
