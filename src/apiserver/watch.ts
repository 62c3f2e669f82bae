// The watch hub: fans every committed change out to the watchers of its resource, and keeps a bounded history of
// recent events so a client can resume from a resourceVersion. A watch from before the retained history gets
// 410 Expired, which makes informers relist, exactly as with kube-apiserver's watch cache.
import type { KubeObject } from '../api/admission.ts';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoredEvent {
  type: EventType;
  rv: number;
  key: string;
  namespace: string;
  object: KubeObject;
  /** The previous version, for MODIFIED and DELETED; lets selector watchers see objects enter or leave. */
  prev?: KubeObject;
}

export interface Watcher {
  key: string;
  /** Only this namespace when set. */
  namespace?: string;
  matches(obj: KubeObject): boolean;
  send(type: EventType, obj: KubeObject): void;
  /** End the stream (the resource stopped being served); clients re-watch and learn it is gone. */
  close?(): void;
}

export class WatchHub {
  private readonly capacity: number;
  private readonly history: (StoredEvent | undefined)[];
  private start = 0;
  private size = 0;
  /** Events after this resourceVersion are all retained. */
  private compactedRV: number;
  private readonly watchers = new Map<string, Set<Watcher>>();

  constructor(capacity: number, startRV: number) {
    this.capacity = Math.max(1, capacity);
    this.history = new Array(this.capacity);
    this.compactedRV = startRV;
  }

  publish(event: StoredEvent): void {
    if (this.size === this.capacity) {
      const evicted = this.history[this.start]!;
      this.compactedRV = evicted.rv;
      this.history[this.start] = undefined;
      this.start = (this.start + 1) % this.capacity;
      this.size--;
    }
    this.history[(this.start + this.size) % this.capacity] = event;
    this.size++;
    const set = this.watchers.get(event.key);
    if (set) for (const w of [...set]) deliver(w, event);
  }

  /** Oldest resourceVersion a watch may start from. */
  oldestRV(): number {
    return this.compactedRV;
  }

  /**
   * Register a watcher and replay retained events after `fromRV`. Returns false (nothing registered) when that
   * history is gone. Replay and registration happen in the same tick, so no event can fall between them.
   */
  subscribe(watcher: Watcher, fromRV: number | undefined): boolean {
    if (fromRV !== undefined) {
      if (fromRV < this.compactedRV) return false;
      for (let i = 0; i < this.size; i++) {
        const ev = this.history[(this.start + i) % this.capacity]!;
        if (ev.rv > fromRV && ev.key === watcher.key) deliver(watcher, ev);
      }
    }
    let set = this.watchers.get(watcher.key);
    if (!set) this.watchers.set(watcher.key, (set = new Set()));
    set.add(watcher);
    return true;
  }

  unsubscribe(watcher: Watcher): void {
    const set = this.watchers.get(watcher.key);
    set?.delete(watcher);
    if (set && set.size === 0) this.watchers.delete(watcher.key);
  }

  /** End every watch of one resource, e.g. when its CRD is deleted. */
  closeKey(key: string): void {
    for (const w of [...(this.watchers.get(key) ?? [])]) w.close?.();
    this.watchers.delete(key);
  }

  watcherCount(): number {
    let n = 0;
    for (const s of this.watchers.values()) n += s.size;
    return n;
  }
}

function deliver(w: Watcher, ev: StoredEvent): void {
  if (w.namespace !== undefined && ev.namespace !== w.namespace) return;
  const now = w.matches(ev.object);
  if (ev.type === 'ADDED') {
    if (now) w.send('ADDED', ev.object);
    return;
  }
  if (ev.type === 'DELETED') {
    if (ev.prev ? w.matches(ev.prev) || now : now) w.send('DELETED', ev.object);
    return;
  }
  const before = ev.prev ? w.matches(ev.prev) : now;
  if (before && now) w.send('MODIFIED', ev.object);
  else if (!before && now) w.send('ADDED', ev.object);
  // Leaving the selection: kube-apiserver's watch cache sends the previous content at the event's resourceVersion.
  else if (before && !now) w.send('DELETED', ev.prev ? { ...ev.prev, metadata: { ...ev.prev.metadata, resourceVersion: String(ev.rv) } } : ev.object);
}
