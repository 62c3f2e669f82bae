// The server's built-in controllers that finish deletions, as kube-controller-manager and apiextensions do on a
// cluster: the garbage collector (ownerReferences: background, foreground), the namespace controller (empties a
// Terminating namespace, then removes it) and the CRD cleanup (deletes a CRD's objects, then the CRD).
// Work is event-driven: commits schedule a pass; indexes keep a pass proportional to the work, not the store.
import type { KubeObject } from '../api/admission.ts';
import { CRD_CLEANUP_FINALIZER, CRD_KEY, type CrdManager } from './crd.ts';
import { ApiError } from './errors.ts';
import { clone, deepEqual, isObject } from './meta.ts';
import { parseRef, refString, type ObjectRef } from './storage.ts';
import { FOREGROUND_FINALIZER, NAMESPACES_KEY, type ObjectStore } from './store.ts';
import type { EventType } from './watch.ts';
import { writeRecord } from '../kube/log.ts';

export class Collector {
  private readonly store: ObjectStore;
  private readonly crds: CrdManager;
  /** Uids of removed objects whose dependents need a look. */
  private readonly removedUids = new Set<string>();
  /** Objects whose owner references need a look (new or changed references, startup scan). */
  private readonly toCheck = new Set<string>();
  private scheduled: NodeJS.Immediate | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;

  constructor(store: ObjectStore, crds: CrdManager) {
    this.store = store;
    this.crds = crds;
  }

  start(periodMs = 5000): void {
    // After a restart, dependents of owners deleted while we were down are found by a full scan.
    for (const key of this.store.storage.keys()) {
      for (const obj of this.store.storage.list(key)) {
        if (obj.metadata.ownerReferences?.length) this.toCheck.add(refString(refOf(key, obj)));
      }
    }
    this.schedule();
    this.timer = setInterval(() => this.schedule(), periodMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.scheduled) clearImmediate(this.scheduled);
    if (this.timer) clearInterval(this.timer);
  }

  onCommit = (key: string, type: EventType, obj: KubeObject, prev: KubeObject | undefined): void => {
    let interesting = false;
    if (type === 'DELETED') {
      if (obj.metadata.uid && this.store.storage.dependents.has(obj.metadata.uid)) this.removedUids.add(obj.metadata.uid);
      interesting = true;
    }
    if (type !== 'DELETED' && obj.metadata.ownerReferences?.length && !deepEqual(obj.metadata.ownerReferences, prev?.metadata.ownerReferences)) {
      this.toCheck.add(refString(refOf(key, obj)));
      interesting = true;
    }
    if (obj.metadata.deletionTimestamp) interesting = true;
    if (interesting) this.schedule();
  };

  schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = setImmediate(() => {
      this.scheduled = undefined;
      this.run();
    });
  }

  /** One pass; writes made here schedule the next pass through onCommit. */
  run(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      const uids = [...this.removedUids];
      this.removedUids.clear();
      for (const uid of uids) {
        for (const dep of [...(this.store.storage.dependents.get(uid) ?? [])]) this.checkDependent(parseRef(dep));
      }
      const checks = [...this.toCheck];
      this.toCheck.clear();
      for (const s of checks) this.checkDependent(parseRef(s));
      for (const s of [...this.store.storage.deleting]) {
        const ref = parseRef(s);
        const obj = this.store.storage.get(ref);
        if (!obj) continue;
        if (ref.key === NAMESPACES_KEY) this.finishNamespace(ref, obj);
        else if (ref.key === CRD_KEY) this.finishCrd(ref, obj);
        if ((obj.metadata.finalizers ?? []).includes(FOREGROUND_FINALIZER)) this.finishForeground(ref);
      }
    } finally {
      this.running = false;
    }
  }

  /** Delete a dependent whose owners are all gone (or waiting for it), or drop references to the gone ones. */
  private checkDependent(ref: ObjectRef): void {
    const obj = this.store.storage.get(ref);
    const refs = obj?.metadata.ownerReferences;
    if (!obj || !refs?.length) return;
    const absent: string[] = [];
    const waiting: string[] = [];
    let solid = 0;
    for (const r of refs) {
      const ownerRef = this.store.storage.byUid.get(r.uid);
      const owner = ownerRef && this.store.storage.get(ownerRef);
      if (!owner) absent.push(r.uid);
      else if (owner.metadata.deletionTimestamp && (owner.metadata.finalizers ?? []).includes(FOREGROUND_FINALIZER)) waiting.push(r.uid);
      else solid++;
    }
    if (absent.length === 0 && waiting.length === 0) return;
    if (solid > 0) {
      const next = clone(obj);
      next.metadata.ownerReferences = refs.filter((r) => !absent.includes(r.uid) && !waiting.includes(r.uid));
      this.safely(() => this.store.writeSystem(ref, next, obj));
      return;
    }
    if (obj.metadata.deletionTimestamp) return;
    const hasDependents = !!obj.metadata.uid && this.store.storage.dependents.has(obj.metadata.uid);
    this.deleteObject(ref, waiting.length > 0 && hasDependents ? 'Foreground' : 'Background');
  }

  /** Foreground deletion: delete dependents; once none blocks, drop the foregroundDeletion finalizer. */
  private finishForeground(ref: ObjectRef): void {
    const owner = this.store.storage.get(ref);
    if (!owner?.metadata.uid) return;
    const uid = owner.metadata.uid;
    let blocking = 0;
    for (const s of [...(this.store.storage.dependents.get(uid) ?? [])]) {
      const depRef = parseRef(s);
      this.checkDependent(depRef);
      const dep = this.store.storage.get(depRef);
      if (dep && dep.metadata.ownerReferences?.some((r) => r.uid === uid && r.blockOwnerDeletion)) blocking++;
    }
    if (blocking > 0) return;
    this.removeFinalizer(ref, FOREGROUND_FINALIZER);
  }

  /** Namespace controller: delete everything in the namespace, then the namespace itself. */
  private finishNamespace(ref: ObjectRef, ns: KubeObject): void {
    const name = ns.metadata.name!;
    let remaining = 0;
    for (const key of this.store.storage.keys()) {
      const rt = this.store.registry.anyFor(key);
      if (key === NAMESPACES_KEY || (rt && !rt.namespaced)) continue;
      for (const obj of this.store.storage.list(key, name)) {
        remaining++;
        if (!obj.metadata.deletionTimestamp) this.deleteObject(refOf(key, obj), 'Background');
      }
    }
    if (remaining === 0 && this.store.storage.get(ref)) this.safely(() => this.store.removeSystem(ref, ns));
  }

  /** CRD cleanup: mark Terminating, delete every custom resource of the CRD, then release the finalizer. */
  private finishCrd(ref: ObjectRef, crd: KubeObject): void {
    if (!(crd.metadata.finalizers ?? []).includes(CRD_CLEANUP_FINALIZER)) return;
    const status = this.crds.terminatingStatus(crd);
    if (!deepEqual(status, crd.status)) {
      const next = clone(crd);
      next.status = status;
      this.safely(() => this.store.writeSystem(ref, next, crd));
    }
    const spec = isObject(crd.spec) ? crd.spec : {};
    const names = isObject(spec.names) ? spec.names : {};
    const key = `${String(spec.group)}/${String(names.plural)}`;
    const objects = this.store.storage.list(key);
    for (const obj of objects) if (!obj.metadata.deletionTimestamp) this.deleteObject(refOf(key, obj), 'Background');
    if (this.store.storage.list(key).length > 0) return;
    this.removeFinalizer(ref, CRD_CLEANUP_FINALIZER);
  }

  /** Write the object back without `finalizer` (and without an empty finalizers list). */
  private removeFinalizer(ref: ObjectRef, finalizer: string): void {
    const current = this.store.storage.get(ref);
    if (!current) return;
    const next = clone(current);
    next.metadata.finalizers = (next.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    if (next.metadata.finalizers.length === 0) delete next.metadata.finalizers;
    this.safely(() => this.store.writeSystem(ref, next, current));
  }

  private deleteObject(ref: ObjectRef, policy: 'Background' | 'Foreground'): void {
    const rt = this.store.registry.anyFor(ref.key);
    if (!rt) {
      const obj = this.store.storage.get(ref);
      if (obj) this.safely(() => this.store.removeSystem(ref, obj));
      return;
    }
    this.safely(() => this.store.delete(rt, ref.namespace || undefined, ref.name, { propagationPolicy: policy }));
  }

  private safely(fn: () => unknown): void {
    try {
      fn();
    } catch (err) {
      // NotFound/Conflict mean someone else got there first; the next pass re-evaluates from the current state.
      if (!(err instanceof ApiError)) writeRecord('error', 'apiserver/gc', 'garbage collector failed', { error: (err as Error)?.stack ?? String(err) });
    }
  }
}

function refOf(key: string, obj: KubeObject): ObjectRef {
  return { key, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name! };
}
