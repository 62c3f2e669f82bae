// Durable object storage: SQLite (node:sqlite, WAL, synchronous=FULL) as the record, with the whole working set
// also held in memory so reads never touch the database. Every write commits one transaction that stores the
// object and the global resourceVersion counter together, so an acknowledged write survives a crash and the
// counter never goes backwards across restarts.
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeObject } from '../api/admission.ts';

/** Identifies one stored object: storage key (`group/resource`), namespace ('' when cluster-scoped), name. */
export interface ObjectRef {
  key: string;
  namespace: string;
  name: string;
}

export function refString(ref: ObjectRef): string {
  return `${ref.key}\u0000${ref.namespace}\u0000${ref.name}`;
}

export function parseRef(s: string): ObjectRef {
  const [key, namespace, name] = s.split('\u0000') as [string, string, string];
  return { key, namespace, name };
}

type Bucket = Map<string, Map<string, KubeObject>>; // namespace → name → object

/** Told the duration of each storage operation (the API server's etcd_request_duration_seconds). */
export type StorageObserver = (operation: 'get' | 'list' | 'create' | 'update' | 'delete', key: string, seconds: number) => void;

export class Storage {
  private readonly db: DatabaseSync;
  private readonly upsert: StatementSync;
  private readonly remove: StatementSync;
  private readonly saveRv: StatementSync;
  private readonly buckets = new Map<string, Bucket>();
  /** uid → where the object lives; the garbage collector resolves owners by uid. */
  readonly byUid = new Map<string, ObjectRef>();
  /** owner uid → dependents (ref strings). */
  readonly dependents = new Map<string, Set<string>>();
  /** Objects with a deletionTimestamp: finalizer-driven work for the collector. */
  readonly deleting = new Set<string>();
  private rv: number;
  /** Set by the server when it keeps metrics. */
  observer: StorageObserver | undefined;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.db = new DatabaseSync(join(dataDir, 'state.db'));
    this.db.exec('PRAGMA journal_mode=WAL');
    this.db.exec('PRAGMA synchronous=FULL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS objects (
      resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, rv INTEGER NOT NULL, data TEXT NOT NULL,
      PRIMARY KEY (resource, namespace, name)) WITHOUT ROWID`);
    this.db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    this.upsert = this.db.prepare(
      'INSERT INTO objects (resource, namespace, name, rv, data) VALUES (?, ?, ?, ?, ?) ON CONFLICT (resource, namespace, name) DO UPDATE SET rv = excluded.rv, data = excluded.data',
    );
    this.remove = this.db.prepare('DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ?');
    this.saveRv = this.db.prepare("INSERT INTO meta (key, value) VALUES ('rv', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'rv'").get() as { value: string } | undefined;
    this.rv = row ? Number(row.value) : 0;
    for (const r of this.db.prepare('SELECT resource, namespace, name, data FROM objects').iterate() as Iterable<{ resource: string; namespace: string; name: string; data: string }>) {
      this.setMemory({ key: r.resource, namespace: r.namespace, name: r.name }, JSON.parse(r.data) as KubeObject);
    }
  }

  /** The latest resourceVersion handed out. */
  currentRV(): number {
    return this.rv;
  }

  get(ref: ObjectRef): KubeObject | undefined {
    if (this.observer === undefined) return this.buckets.get(ref.key)?.get(ref.namespace)?.get(ref.name);
    const started = performance.now();
    const obj = this.buckets.get(ref.key)?.get(ref.namespace)?.get(ref.name);
    this.observer('get', ref.key, (performance.now() - started) / 1000);
    return obj;
  }

  /** Objects of one storage key, in one namespace or all, sorted by namespace then name like etcd's key order. */
  list(key: string, namespace?: string): KubeObject[] {
    if (this.observer === undefined) return this.listMemory(key, namespace);
    const started = performance.now();
    const out = this.listMemory(key, namespace);
    this.observer('list', key, (performance.now() - started) / 1000);
    return out;
  }

  private listMemory(key: string, namespace?: string): KubeObject[] {
    const bucket = this.buckets.get(key);
    if (!bucket) return [];
    const out: KubeObject[] = [];
    const namespaces = namespace !== undefined ? [namespace] : [...bucket.keys()].sort();
    for (const ns of namespaces) {
      const names = bucket.get(ns);
      if (!names) continue;
      for (const name of [...names.keys()].sort()) out.push(names.get(name)!);
    }
    return out;
  }

  count(key: string, namespace?: string): number {
    const bucket = this.buckets.get(key);
    if (!bucket) return 0;
    if (namespace !== undefined) return bucket.get(namespace)?.size ?? 0;
    let n = 0;
    for (const names of bucket.values()) n += names.size;
    return n;
  }

  keys(): string[] {
    return [...this.buckets.keys()];
  }

  /** Store a new version: assigns the next resourceVersion, persists durably, then updates memory. */
  put(ref: ObjectRef, obj: KubeObject): KubeObject {
    const started = this.observer === undefined ? 0 : performance.now();
    const existed = this.observer !== undefined && this.buckets.get(ref.key)?.get(ref.namespace)?.has(ref.name) === true;
    const rv = this.rv + 1;
    obj.metadata.resourceVersion = String(rv);
    const data = JSON.stringify(obj);
    this.transaction(() => {
      this.upsert.run(ref.key, ref.namespace, ref.name, rv, data);
      this.saveRv.run(String(rv));
    });
    this.rv = rv;
    this.setMemory(ref, obj);
    this.observer?.(existed ? 'update' : 'create', ref.key, (performance.now() - started) / 1000);
    return obj;
  }

  /** Remove an object; the deletion consumes a resourceVersion, which the DELETED event carries. */
  delete(ref: ObjectRef, finalState: KubeObject): KubeObject {
    const started = this.observer === undefined ? 0 : performance.now();
    const rv = this.rv + 1;
    finalState.metadata.resourceVersion = String(rv);
    this.transaction(() => {
      this.remove.run(ref.key, ref.namespace, ref.name);
      this.saveRv.run(String(rv));
    });
    this.rv = rv;
    this.deleteMemory(ref);
    this.observer?.('delete', ref.key, (performance.now() - started) / 1000);
    return finalState;
  }

  /**
   * Replace the in-memory copy without a write or a new resourceVersion: read-time defaulting of custom resources
   * after their CRD's schema changed (kube-apiserver defaults on read; the stored record changes on the next write).
   */
  replaceCached(ref: ObjectRef, obj: KubeObject): void {
    if (this.get(ref)) this.setMemory(ref, obj);
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  private transaction(fn: () => void): void {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      fn();
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  private setMemory(ref: ObjectRef, obj: KubeObject): void {
    const old = this.get(ref);
    if (old) this.unindex(ref, old);
    let bucket = this.buckets.get(ref.key);
    if (!bucket) this.buckets.set(ref.key, (bucket = new Map()));
    let names = bucket.get(ref.namespace);
    if (!names) bucket.set(ref.namespace, (names = new Map()));
    names.set(ref.name, obj);
    this.index(ref, obj);
  }

  private deleteMemory(ref: ObjectRef): void {
    const old = this.get(ref);
    if (!old) return;
    this.unindex(ref, old);
    const names = this.buckets.get(ref.key)?.get(ref.namespace);
    names?.delete(ref.name);
    if (names && names.size === 0) this.buckets.get(ref.key)!.delete(ref.namespace);
  }

  private index(ref: ObjectRef, obj: KubeObject): void {
    const s = refString(ref);
    if (obj.metadata.uid) this.byUid.set(obj.metadata.uid, ref);
    for (const owner of obj.metadata.ownerReferences ?? []) {
      let set = this.dependents.get(owner.uid);
      if (!set) this.dependents.set(owner.uid, (set = new Set()));
      set.add(s);
    }
    if (obj.metadata.deletionTimestamp) this.deleting.add(s);
  }

  private unindex(ref: ObjectRef, obj: KubeObject): void {
    const s = refString(ref);
    if (obj.metadata.uid) this.byUid.delete(obj.metadata.uid);
    for (const owner of obj.metadata.ownerReferences ?? []) {
      const set = this.dependents.get(owner.uid);
      set?.delete(s);
      if (set && set.size === 0) this.dependents.delete(owner.uid);
    }
    this.deleting.delete(s);
  }
}
