// The generic write path every kind shares (k8s.io/apiserver's registry Store): create/update/patch/delete with
// the real server's metadata rules, optimistic concurrency, generation, status subresource semantics, schema
// pruning/defaulting, admission, finalizers and graceful deletion. Nothing is stored until every check passed.
import type { AdmissionPlugin, AdmissionRequest, FieldError, KubeObject } from '../api/admission.ts';
import {
  ApiError, OBJECT_MODIFIED, PATCH_MEDIA_TYPES, alreadyExists, badRequest, conflict, forbidden, invalid, notFound, unsupportedMediaType,
} from './errors.ts';
import { clone, deepEqual, generateNameSuffix, isObject, newUid, nowTimestamp, withoutMetadata, type JsonObject } from './meta.ts';
import { COMMON_MERGE_KEYS, jsonPatch, mergePatch, strategicMergePatch } from './patch.ts';
import { apiVersionOf, type Registry, type ResourceType } from './registry.ts';
import type { ObjectRef, Storage } from './storage.ts';
import { validateObjectMeta } from './validation.ts';
import type { EventType, WatchHub } from './watch.ts';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export interface WriteOptions {
  dryRun?: boolean;
  fieldValidation?: FieldValidation;
  fieldManager?: string;
  force?: boolean;
}

export interface WriteResult {
  object: KubeObject;
  warnings: string[];
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface DeleteResult {
  /** The object in its final state (removed) or as it now stands (deletion pending). */
  object: KubeObject;
  deleted: boolean;
}

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';

export const NAMESPACES_KEY = 'core/namespaces';
export const FOREGROUND_FINALIZER = 'foregroundDeletion';
export const ORPHAN_FINALIZER = 'orphan';
const SYSTEM_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);

export type CommitListener = (key: string, type: EventType, obj: KubeObject, prev: KubeObject | undefined) => void;

export class ObjectStore {
  readonly storage: Storage;
  readonly hub: WatchHub;
  readonly registry: Registry;
  private readonly admission: AdmissionPlugin[];
  private readonly listeners: CommitListener[] = [];
  /** CRDs being deleted: their kinds are still served, but creates are refused. */
  readonly terminatingCrds = new Set<string>();
  /** Told each admission plugin call's duration and verdict (the server's metrics, instrumentation.ts). */
  admissionObserver: ((name: string, operation: string, type: 'admit' | 'validate', rejected: boolean, seconds: number) => void) | undefined;

  constructor(storage: Storage, hub: WatchHub, registry: Registry, admission: AdmissionPlugin[]) {
    this.storage = storage;
    this.hub = hub;
    this.registry = registry;
    this.admission = admission;
  }

  onCommit(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  ref(rt: ResourceType, namespace: string | undefined, name: string): ObjectRef {
    return { key: rt.storageKey, namespace: rt.namespaced ? namespace ?? '' : '', name };
  }

  /** Stored form → the form served for this resource type (its apiVersion, or a converted shape). */
  out(rt: ResourceType, stored: KubeObject): KubeObject {
    if (rt.strategy.convertOut) return rt.strategy.convertOut(stored);
    const apiVersion = apiVersionOf(rt);
    if (stored.apiVersion === apiVersion && stored.kind === rt.kind) return stored;
    return { ...stored, apiVersion, kind: rt.kind };
  }

  private in(rt: ResourceType, served: KubeObject): KubeObject {
    if (rt.strategy.convertIn) return rt.strategy.convertIn(served);
    served.apiVersion = rt.storageApiVersion;
    served.kind = rt.kind;
    return served;
  }

  getStored(rt: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.storage.get(this.ref(rt, namespace, name));
  }

  get(rt: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const stored = this.getStored(rt, namespace, name);
    if (!stored) throw notFound(rt.group, rt.plural, name);
    return this.out(rt, stored);
  }

  listStored(rt: ResourceType, namespace: string | undefined): KubeObject[] {
    return this.storage.list(rt.storageKey, rt.namespaced ? namespace : undefined);
  }

  // ---------------------------------------------------------------------------------------------- create

  create(rt: ResourceType, namespace: string | undefined, body: unknown, opts: WriteOptions = {}): WriteResult {
    if (rt.crdName && this.terminatingCrds.has(rt.crdName)) {
      throw new ApiError(405, 'MethodNotAllowed', `create not allowed while custom resource definition is terminating`);
    }
    const obj = this.decodeBody(rt, body);
    const meta = obj.metadata;
    // EnsureObjectNamespaceMatchesRequestNamespace
    if (rt.namespaced) {
      if (!meta.namespace) meta.namespace = namespace;
      else if (namespace && meta.namespace !== namespace) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    } else {
      delete meta.namespace;
    }
    // kube-apiserver's storage layer refuses this with a bare 500 (no reason); clients know the message.
    if (meta.resourceVersion) throw new ApiError(500, undefined, 'resourceVersion should not be set on objects to be created');
    const warnings = this.prune(rt, obj, opts);
    rt.strategy.applyDefaults?.(obj);

    if (rt.namespaced && meta.namespace) this.checkNamespaceWritable(rt, meta.namespace, meta.name ?? '');

    if (!meta.name && meta.generateName) meta.name = meta.generateName + generateNameSuffix();
    meta.uid = newUid();
    meta.creationTimestamp = nowTimestamp();
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.managedFields;
    delete (meta as JsonObject).selfLink;
    if (rt.strategy.tracksGeneration) meta.generation = 1;
    else delete meta.generation;
    if (rt.strategy.hasStatusSubresource && rt.crdName) delete obj.status;
    rt.strategy.prepareForCreate?.(obj);

    const admitted = this.admit(rt, 'CREATE', obj, undefined);
    this.validate(rt, admitted, undefined);

    const ref = this.ref(rt, admitted.metadata.namespace, admitted.metadata.name!);
    if (this.storage.get(ref)) {
      if (body && isObject(body) && isObject(body.metadata) && !body.metadata.name && body.metadata.generateName) {
        // A generated name collided: like the real server, say so rather than overwrite.
        throw new ApiError(409, 'AlreadyExists', `${alreadyExists(rt.group, rt.plural, admitted.metadata.name!).message}, the server was not able to generate a unique name for the object`, alreadyExists(rt.group, rt.plural, admitted.metadata.name!).details);
      }
      throw alreadyExists(rt.group, rt.plural, admitted.metadata.name!);
    }
    if (opts.dryRun) return { object: admitted, warnings };
    const stored = this.commitPut(ref, this.in(rt, clone(admitted)), undefined);
    return { object: this.out(rt, stored), warnings };
  }

  private checkNamespaceWritable(rt: ResourceType, namespace: string, name: string): void {
    const ns = this.storage.get({ key: NAMESPACES_KEY, namespace: '', name: namespace });
    if (!ns) throw notFound('', 'namespaces', namespace);
    if (ns.metadata.deletionTimestamp) {
      throw forbidden(rt.group, rt.plural, name, `unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }

  // ---------------------------------------------------------------------------------------------- update

  update(rt: ResourceType, namespace: string | undefined, name: string, body: unknown, opts: WriteOptions = {}, subresource?: string): WriteResult {
    const oldStored = this.getStored(rt, namespace, name);
    if (!oldStored) throw notFound(rt.group, rt.plural, name);
    const obj = this.decodeBody(rt, body);
    if (obj.metadata.name !== name) throw badRequest(`the name of the object (${obj.metadata.name ?? ''}) does not match the name on the URL (${name})`);
    if (rt.namespaced) {
      if (!obj.metadata.namespace) obj.metadata.namespace = namespace;
      else if (obj.metadata.namespace !== namespace) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    } else {
      delete obj.metadata.namespace;
    }
    const warnings = subresource === 'status' || subresource === undefined ? this.prune(rt, obj, opts) : [];
    rt.strategy.applyDefaults?.(obj);
    return { object: this.applyUpdate(rt, oldStored, obj, opts, subresource, false), warnings };
  }

  /** Shared tail of PUT and PATCH: preconditions, system fields, strategy, admission, validation, commit. */
  private applyUpdate(rt: ResourceType, oldStored: KubeObject, next: KubeObject, opts: WriteOptions, subresource: string | undefined, isPatch: boolean): KubeObject {
    const old = this.out(rt, oldStored);
    const name = old.metadata.name!;
    const rv = next.metadata.resourceVersion;
    if (!rv) {
      if (!rt.strategy.allowUnconditionalUpdate && !isPatch) {
        // kube-apiserver qualifies this one error by resource (`modelroutes.group`), not by kind (store.go Update).
        throw invalid(rt.group, rt.plural, name, [{ field: 'metadata.resourceVersion', type: 'Invalid value', value: 0, detail: 'must be specified for an update' }]);
      }
    } else if (rv !== old.metadata.resourceVersion) {
      throw conflict(rt.group, rt.plural, name, OBJECT_MODIFIED);
    }
    if (next.metadata.uid && next.metadata.uid !== old.metadata.uid) {
      throw conflict(rt.group, rt.plural, name, `Precondition failed: UID in precondition: ${old.metadata.uid}, UID in object meta: ${next.metadata.uid}`);
    }
    let obj: KubeObject;
    if (subresource === 'status') {
      // Only status changes; metadata and spec stay as stored.
      obj = clone(old);
      if (next.status !== undefined) obj.status = next.status;
      else delete obj.status;
    } else {
      obj = next;
      const m = obj.metadata;
      m.uid = old.metadata.uid;
      m.creationTimestamp = old.metadata.creationTimestamp;
      if (old.metadata.deletionTimestamp) m.deletionTimestamp = old.metadata.deletionTimestamp;
      else delete m.deletionTimestamp;
      if (old.metadata.deletionGracePeriodSeconds !== undefined) m.deletionGracePeriodSeconds = old.metadata.deletionGracePeriodSeconds;
      else delete m.deletionGracePeriodSeconds;
      delete m.managedFields;
      delete (m as JsonObject).selfLink;
      if (rt.strategy.hasStatusSubresource) {
        if (old.status !== undefined) obj.status = clone(old.status);
        else delete obj.status;
      }
      rt.strategy.prepareForUpdate?.(obj, old);
      if (old.metadata.deletionTimestamp) {
        const added = (obj.metadata.finalizers ?? []).filter((f) => !(old.metadata.finalizers ?? []).includes(f));
        if (added.length > 0) {
          throw invalid(rt.group, rt.kind, name, [{ field: 'metadata.finalizers', type: 'Forbidden', detail: 'no new finalizers can be added if the object is being deleted, found new finalizers []string{' + added.map((f) => JSON.stringify(f)).join(', ') + '}' }]);
        }
      }
      obj = this.admit(rt, 'UPDATE', obj, old);
      // After mutating admission, as kube-apiserver does: an update that admission defaults back to the stored
      // object is a no-op, not a new generation.
      if (rt.strategy.tracksGeneration) {
        const gen = old.metadata.generation ?? 1;
        obj.metadata.generation = deepEqual(withoutMetadata(obj, false), withoutMetadata(old, false)) ? gen : gen + 1;
      }
    }
    obj.metadata.resourceVersion = old.metadata.resourceVersion;
    this.validate(rt, obj, old);

    if (deepEqual(obj, old)) return old; // no-op updates neither write nor notify, like the real server
    if (opts.dryRun) return obj;
    const ref = this.ref(rt, old.metadata.namespace, name);
    if (shouldDeleteDuringUpdate(obj, old)) {
      const final = this.in(rt, clone(obj));
      return this.out(rt, this.commitRemove(ref, final, oldStored));
    }
    return this.out(rt, this.commitPut(ref, this.in(rt, clone(obj)), oldStored));
  }

  // ---------------------------------------------------------------------------------------------- patch

  patch(rt: ResourceType, namespace: string | undefined, name: string, type: PatchType, patch: unknown, opts: WriteOptions = {}, subresource?: string): WriteResult & { created?: boolean } {
    const oldStored = this.getStored(rt, namespace, name);
    if (type === 'strategic' && !rt.mergeKeys) {
      throw unsupportedMediaType(PATCH_MEDIA_TYPES.filter((t) => !t.includes('strategic')));
    }
    if (type === 'apply') {
      if (!opts.fieldManager) throw badRequest('PATCH, application/apply-patch+yaml requests must have a fieldManager query parameter');
      if (!isObject(patch)) throw badRequest('apply patch must be an object');
      if (!oldStored) {
        if (subresource) throw notFound(rt.group, rt.plural, name);
        const body = clone(patch) as JsonObject;
        const meta = (isObject(body.metadata) ? body.metadata : (body.metadata = {})) as JsonObject;
        if (meta.name === undefined) meta.name = name;
        return { ...this.create(rt, namespace, body, opts), created: true };
      }
    }
    if (!oldStored) throw notFound(rt.group, rt.plural, name);
    const current = this.out(rt, oldStored);
    let patched: unknown;
    switch (type) {
      case 'merge':
        if (!isObject(patch)) throw badRequest('json: cannot unmarshal into Go value of type map[string]interface {}');
        patched = mergePatch(current, patch);
        break;
      case 'json':
        patched = jsonPatch(current, patch);
        break;
      case 'strategic':
        if (!isObject(patch)) throw badRequest('json: cannot unmarshal into Go value of type map[string]interface {}');
        patched = strategicMergePatch(current, patch, { ...COMMON_MERGE_KEYS, ...rt.mergeKeys });
        break;
      case 'apply':
        // Approximation of server-side apply without managed fields: merge the applied configuration.
        patched = rt.mergeKeys ? strategicMergePatch(current, patch, { ...COMMON_MERGE_KEYS, ...rt.mergeKeys }) : mergePatch(current, patch);
        break;
    }
    if (!isObject(patched) || !isObject(patched.metadata)) throw badRequest('the patch produced an invalid object');
    const next = patched as KubeObject;
    if (next.metadata.name !== name) {
      throw badRequest(`the name of the object (${String(next.metadata.name ?? '')}) does not match the name on the URL (${name})`);
    }
    if (!next.metadata.resourceVersion) next.metadata.resourceVersion = current.metadata.resourceVersion;
    const obj = this.decodeBody(rt, next);
    if (rt.namespaced && obj.metadata.namespace !== current.metadata.namespace) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    const warnings = this.prune(rt, obj, opts);
    rt.strategy.applyDefaults?.(obj);
    return { object: this.applyUpdate(rt, oldStored, obj, opts, subresource, true), warnings };
  }

  // ---------------------------------------------------------------------------------------------- delete

  delete(rt: ResourceType, namespace: string | undefined, name: string, opts: DeleteOptions = {}): DeleteResult {
    const ref = this.ref(rt, namespace, name);
    const stored = this.storage.get(ref);
    if (!stored) throw notFound(rt.group, rt.plural, name);
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== stored.metadata.uid) {
      // Worded (and qualified by kind) as kube-apiserver's rest.BeforeDelete does.
      throw conflict(rt.group, rt.kind, name, `the UID in the precondition (${pre.uid}) does not match the UID in record (${stored.metadata.uid}). The object might have been deleted and then recreated`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== stored.metadata.resourceVersion) {
      throw conflict(rt.group, rt.kind, name, `the ResourceVersion in the precondition (${pre.resourceVersion}) does not match the ResourceVersion in record (${stored.metadata.resourceVersion}). The object might have been modified`);
    }
    if (rt.storageKey === NAMESPACES_KEY && SYSTEM_NAMESPACES.has(name)) {
      throw forbidden('', 'namespaces', name, 'this namespace may not be deleted');
    }
    const policy = opts.propagationPolicy ?? (opts.orphanDependents === true ? 'Orphan' : 'Background');
    if (opts.dryRun) return { object: this.out(rt, stored), deleted: false };

    if (policy === 'Orphan') this.orphanDependents(stored.metadata.uid!);

    const next = clone(stored);
    const m = next.metadata;
    // Namespaces: mark Terminating; the namespace controller (gc.ts) empties them and then removes them.
    if (rt.storageKey === NAMESPACES_KEY) {
      if (!m.deletionTimestamp) {
        m.deletionTimestamp = nowTimestamp();
        m.deletionGracePeriodSeconds = 0;
        next.status = { ...(isObject(next.status) ? next.status : {}), phase: 'Terminating' };
        return { object: this.out(rt, this.commitPut(ref, next, stored)), deleted: false };
      }
      return { object: this.out(rt, stored), deleted: false };
    }

    // Graceful deletion of pods bound to a node: the node agent (kubelet) finishes it with gracePeriodSeconds=0.
    let grace = 0;
    const spec = isObject(next.spec) ? next.spec : {};
    const phase = isObject(next.status) ? next.status.phase : undefined;
    if (rt.storageKey === 'core/pods' && spec.nodeName && phase !== 'Succeeded' && phase !== 'Failed') {
      grace = opts.gracePeriodSeconds ?? (typeof spec.terminationGracePeriodSeconds === 'number' ? spec.terminationGracePeriodSeconds : 30);
      if (grace < 0) grace = 1;
    }
    if (policy === 'Foreground' && !(m.finalizers ?? []).includes(FOREGROUND_FINALIZER)) {
      m.finalizers = [...(m.finalizers ?? []), FOREGROUND_FINALIZER];
    }
    const hasFinalizers = (m.finalizers ?? []).length > 0;
    if (grace > 0 || hasFinalizers) {
      const existingGrace = m.deletionGracePeriodSeconds;
      if (!m.deletionTimestamp || existingGrace === undefined || grace < existingGrace) {
        m.deletionTimestamp = nowTimestamp(new Date(Date.now() + grace * 1000));
        m.deletionGracePeriodSeconds = grace;
      }
      if (deepEqual(next, stored)) return { object: this.out(rt, stored), deleted: false };
      return { object: this.out(rt, this.commitPut(ref, next, stored)), deleted: false };
    }
    // Only kinds with graceful deletion (pods) carry a deletionTimestamp into an immediate delete; other objects'
    // final state (the DELETE response, the DELETED event) is as stored, unless finalizers had marked it already.
    if (rt.storageKey === 'core/pods') {
      if (!m.deletionTimestamp) m.deletionTimestamp = nowTimestamp();
      m.deletionGracePeriodSeconds = 0;
    }
    const final = this.commitRemove(ref, next, stored);
    return { object: this.out(rt, final), deleted: true };
  }

  /** Remove the owner reference to `ownerUid` from every dependent (propagationPolicy=Orphan). */
  orphanDependents(ownerUid: string): void {
    const deps = this.storage.dependents.get(ownerUid);
    if (!deps) return;
    for (const s of [...deps]) {
      const [key, namespace, name] = s.split('\u0000') as [string, string, string];
      const ref = { key, namespace, name };
      const dep = this.storage.get(ref);
      if (!dep) continue;
      const next = clone(dep);
      next.metadata.ownerReferences = (next.metadata.ownerReferences ?? []).filter((r) => r.uid !== ownerUid);
      if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
      this.commitPut(ref, next, dep);
    }
  }

  /** Direct write for the server's own controllers (collector, CRD status): no admission, no validation. */
  writeSystem(ref: ObjectRef, next: KubeObject, prev: KubeObject): KubeObject {
    if (shouldDeleteDuringUpdate(next, prev)) {
      return this.commitRemove(ref, next, prev);
    }
    return this.commitPut(ref, next, prev);
  }

  removeSystem(ref: ObjectRef, prev: KubeObject): KubeObject {
    return this.commitRemove(ref, clone(prev), prev);
  }

  // ---------------------------------------------------------------------------------------------- commit

  private commitPut(ref: ObjectRef, obj: KubeObject, prev: KubeObject | undefined): KubeObject {
    const stored = this.storage.put(ref, obj);
    const type: EventType = prev ? 'MODIFIED' : 'ADDED';
    this.hub.publish({ type, rv: Number(stored.metadata.resourceVersion), key: ref.key, namespace: ref.namespace, object: stored, ...(prev ? { prev } : {}) });
    for (const l of this.listeners) l(ref.key, type, stored, prev);
    return stored;
  }

  private commitRemove(ref: ObjectRef, finalState: KubeObject, prev: KubeObject): KubeObject {
    const final = this.storage.delete(ref, finalState);
    this.hub.publish({ type: 'DELETED', rv: Number(final.metadata.resourceVersion), key: ref.key, namespace: ref.namespace, object: final, prev });
    for (const l of this.listeners) l(ref.key, 'DELETED', final, prev);
    return final;
  }

  // ---------------------------------------------------------------------------------------------- helpers

  /** Check the body is an object of this kind and version; fill apiVersion/kind when omitted. */
  private decodeBody(rt: ResourceType, body: unknown): KubeObject {
    if (!isObject(body)) throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(body)?.slice(0, 80)}'`);
    const obj = clone(body) as KubeObject;
    const want = apiVersionOf(rt);
    if (obj.kind === undefined || obj.kind === '') obj.kind = rt.kind;
    if (obj.apiVersion === undefined || obj.apiVersion === '') obj.apiVersion = want;
    if (obj.kind !== rt.kind) {
      throw badRequest(`${String(obj.kind)} in version "${rt.version}" cannot be handled as a ${rt.kind}: no kind "${String(obj.kind)}" is registered for version "${obj.apiVersion}"`);
    }
    if (obj.apiVersion !== want) {
      // A different served version of the same resource is accepted (conversion None), as is the storage form.
      const alt = this.registry.versionsOf(rt.storageKey).some((t) => apiVersionOf(t) === obj.apiVersion && t.kind === rt.kind);
      if (!alt) throw badRequest(`the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${want})`);
      obj.apiVersion = want;
    }
    if (obj.metadata === undefined || obj.metadata === null) obj.metadata = {};
    if (!isObject(obj.metadata)) throw badRequest(`${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: metadata must be an object`);
    return obj;
  }

  /** Schema pruning (custom resources): Strict fails, Warn (the default) returns warnings, Ignore is silent. */
  private prune(rt: ResourceType, obj: KubeObject, opts: WriteOptions): string[] {
    const unknown = rt.strategy.decode?.(obj) ?? [];
    const mode = opts.fieldValidation ?? 'Warn';
    if (unknown.length === 0 || mode === 'Ignore') return [];
    const messages = unknown.map((u) => `unknown field "${u}"`);
    if (mode === 'Strict') {
      throw badRequest(`${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: strict decoding error: ${messages.join(', ')}`);
    }
    return messages;
  }

  private admit(rt: ResourceType, operation: 'CREATE' | 'UPDATE', obj: KubeObject, old: KubeObject | undefined): KubeObject {
    let current = obj;
    for (const plugin of this.pluginsFor(rt)) {
      if (!plugin.mutate) continue;
      const observe = this.admissionObserver;
      if (observe === undefined) {
        current = plugin.mutate(this.admissionRequest(rt, operation, current, old));
        continue;
      }
      const started = performance.now();
      let rejected = true;
      try {
        current = plugin.mutate(this.admissionRequest(rt, operation, current, old));
        rejected = false;
      } finally {
        observe(admissionPluginName(plugin), operation, 'admit', rejected, (performance.now() - started) / 1000);
      }
    }
    return current;
  }

  private pluginsFor(rt: ResourceType): AdmissionPlugin[] {
    return this.admission.filter((p) => p.group === rt.group && p.kind === rt.kind);
  }

  private admissionRequest(rt: ResourceType, operation: 'CREATE' | 'UPDATE', obj: KubeObject, old: KubeObject | undefined): AdmissionRequest {
    const req: AdmissionRequest = { operation, group: rt.group, version: rt.version, kind: rt.kind, resource: rt.plural, name: obj.metadata.name ?? '', object: obj };
    if (obj.metadata.namespace) req.namespace = obj.metadata.namespace;
    if (old) req.oldObject = old;
    return req;
  }

  /** Metadata, kind-specific and schema validation; then validating admission (only when the rest passed). */
  private validate(rt: ResourceType, obj: KubeObject, old: KubeObject | undefined): void {
    const errs: FieldError[] = validateObjectMeta(obj, rt.namespaced, rt.strategy.nameValidator);
    errs.push(...(rt.strategy.validate?.(obj) ?? []));
    if (old) errs.push(...(rt.strategy.validateUpdate?.(obj, old) ?? []));
    if (errs.length === 0) {
      for (const plugin of this.pluginsFor(rt)) {
        if (!plugin.validate) continue;
        const operation = old ? 'UPDATE' : 'CREATE';
        const started = this.admissionObserver === undefined ? 0 : performance.now();
        const found = plugin.validate(this.admissionRequest(rt, operation, obj, old));
        this.admissionObserver?.(admissionPluginName(plugin), operation, 'validate', found.length > 0, (performance.now() - started) / 1000);
        errs.push(...found);
      }
    }
    if (errs.length > 0) throw invalid(rt.group, rt.kind, obj.metadata.name ?? obj.metadata.generateName ?? '', errs);
  }
}

/** The name an in-process admission plugin is measured under: its kind and group, as `models.matrixinfer.ai` names a resource. */
export function admissionPluginName(plugin: AdmissionPlugin): string {
  return plugin.group ? `${plugin.kind}.${plugin.group}` : plugin.kind;
}

/** genericregistry.ShouldDeleteDuringUpdate: the last finalizer went away from an object being deleted. */
function shouldDeleteDuringUpdate(next: KubeObject, old: KubeObject): boolean {
  return (next.metadata.finalizers ?? []).length === 0
    && (old.metadata.finalizers ?? []).length > 0
    && !!old.metadata.deletionTimestamp
    && old.metadata.deletionGracePeriodSeconds === 0;
}

