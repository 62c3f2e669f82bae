// HTTP handlers for resource URLs: the REST verbs on collections, objects and subresources (status, scale,
// log, binding), list filtering and paging, and the response representation (object, Table, metadata).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KubeObject } from '../api/admission.ts';
import { decodeObjectBody, decodePatchBody, readBody } from './body.ts';
import { badRequest, conflict, methodNotAllowed, notAcceptable, notFound, notFoundPath, successStatus } from './errors.ts';
import { sendJson, warningHeaders } from './http.ts';
import { clone, isObject, nowTimestamp, type JsonObject } from './meta.ts';
import { isMetricsType, serveMetrics } from './metrics.ts';
import { servePodLog } from './podlog.ts';
import { apiVersionOf, type Registry, type ResourceType } from './registry.ts';
import { deleteOptions, listOptions, negotiate, writeOptions, type ListOptions, type ResourceRequest, type Target } from './request.ts';
import { patchScale, toScale, updateScale } from './scale.ts';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.ts';
import type { ObjectStore, WriteOptions } from './store.ts';
import { partialObjectMetadata, toTable } from './table.ts';
import { serveWatch } from './watchstream.ts';

export interface HandlerContext {
  registry: Registry;
  store: ObjectStore;
  podLogDir: string;
  streams: Set<ServerResponse>;
  bookmarkIntervalMs: number;
  /** Counts the events sent on watches (the server's metrics; watchstream.ts). */
  watchEvents?: (group: string, version: string, resource: string) => { inc(): void };
}

export async function handleResource(ctx: HandlerContext, req: IncomingMessage, res: ServerResponse, info: ResourceRequest, url: URL): Promise<void> {
  const rt = ctx.registry.get(info.group, info.version, info.resource);
  if (!rt) throw notFoundPath();
  if (info.namespace !== undefined && !rt.namespaced) throw notFoundPath();
  if (rt.namespaced && info.namespace === undefined && info.name !== undefined) throw notFoundPath();
  if (info.subresource !== undefined && !rt.subresources.includes(info.subresource)) throw notFoundPath();
  const ns = rt.namespaced ? info.namespace : undefined;
  const name = info.name;
  const q = url.searchParams;
  const method = req.method ?? 'GET';
  // metrics.k8s.io: computed from the node agents at each request, never stored (metrics.ts).
  if (isMetricsType(rt)) {
    if (info.legacyWatch) throw methodNotAllowed();
    return serveMetrics(ctx, req, res, rt, ns, name, url);
  }

  if (info.legacyWatch && method !== 'GET') throw methodNotAllowed();
  switch (method) {
    case 'GET':
      if (name === undefined || info.legacyWatch) {
        const lo = listOptions(q);
        if (info.legacyWatch && name !== undefined) lo.fieldSelector = [lo.fieldSelector, `metadata.name=${name}`].filter(Boolean).join(',');
        const target = negotiateOrThrow(req, true);
        const matches = selectorPredicate(rt, lo);
        if (lo.watch || info.legacyWatch) return serveWatch(ctx, req, res, rt, ns, lo, matches, target);
        return sendList(ctx, res, rt, ns, lo, matches, target);
      }
      if (info.subresource === 'log') return servePodLog(ctx, req, res, rt, ns!, name, q);
      if (info.subresource === 'scale') return sendJson(res, 200, toScale(rt, ctx.store.get(rt, ns, name)));
      return sendObject(res, rt, ctx.store.get(rt, ns, name), negotiateOrThrow(req, true), q);

    case 'POST': {
      const body = decodeObjectBody(req, await readBody(req));
      if (name !== undefined && info.subresource === 'binding') return bind(ctx, res, rt, ns!, name, body);
      if (name !== undefined || (rt.namespaced && ns === undefined)) throw methodNotAllowed();
      const result = ctx.store.create(rt, ns, body, writeOpts(q));
      return sendObject(res, rt, result.object, negotiateOrThrow(req, false), q, 201, warningHeaders(result.warnings));
    }

    case 'PUT': {
      if (name === undefined) throw methodNotAllowed();
      const body = decodeObjectBody(req, await readBody(req));
      if (info.subresource === 'scale') return sendJson(res, 200, updateScale(ctx.store, rt, ns, name, body, writeOpts(q)));
      const result = ctx.store.update(rt, ns, name, body, writeOpts(q), info.subresource);
      return sendObject(res, rt, result.object, negotiateOrThrow(req, false), q, 200, warningHeaders(result.warnings));
    }

    case 'PATCH': {
      if (name === undefined) throw methodNotAllowed();
      const { type, patch } = decodePatchBody(req, await readBody(req));
      if (info.subresource === 'scale') {
        if (type === 'strategic' || type === 'apply') return sendJson(res, 200, patchScale(ctx.store, rt, ns, name, 'merge', patch, writeOpts(q)));
        return sendJson(res, 200, patchScale(ctx.store, rt, ns, name, type, patch, writeOpts(q)));
      }
      const result = ctx.store.patch(rt, ns, name, type, patch, writeOpts(q), info.subresource);
      return sendObject(res, rt, result.object, negotiateOrThrow(req, false), q, result.created ? 201 : 200, warningHeaders(result.warnings));
    }

    case 'DELETE': {
      if (info.subresource !== undefined) throw methodNotAllowed();
      const body = decodeObjectBody(req, await readBody(req));
      const opts = deleteOptions(q, body);
      if (name !== undefined) {
        const result = ctx.store.delete(rt, ns, name, opts);
        if (result.deleted && !rt.strategy.returnDeletedObject) {
          return sendJson(res, 200, successStatus(rt.group, rt.plural, name, result.object.metadata.uid));
        }
        return sendObject(res, rt, result.object, negotiateOrThrow(req, false), q);
      }
      if (!rt.verbs.includes('deletecollection') || (rt.namespaced && ns === undefined)) throw methodNotAllowed();
      const lo = listOptions(q);
      const matches = selectorPredicate(rt, lo);
      const deleted: KubeObject[] = [];
      for (const obj of ctx.store.listStored(rt, ns).filter(matches)) {
        try {
          deleted.push(ctx.store.delete(rt, obj.metadata.namespace, obj.metadata.name!, opts).object);
        } catch {
          // Gone meanwhile (a cascading deletion got there first): nothing to report.
        }
      }
      return sendJson(res, 200, listBody(rt, deleted, String(ctx.store.storage.currentRV())));
    }

    default:
      throw methodNotAllowed();
  }
}

function writeOpts(q: URLSearchParams): WriteOptions {
  const w = writeOptions(q);
  const out: WriteOptions = { dryRun: w.dryRun, force: w.force };
  if (w.fieldValidation) out.fieldValidation = w.fieldValidation;
  if (w.fieldManager) out.fieldManager = w.fieldManager;
  return out;
}

function negotiateOrThrow(req: IncomingMessage, readOnly: boolean): Target {
  const accept = req.headers.accept;
  const target = negotiate(accept, { allowTable: readOnly, allowMetadata: readOnly });
  if (!target) throw notAcceptable(accept ?? '');
  return target;
}

/** Label and field selectors as one predicate over stored objects; unsupported field labels are a 400. */
export function selectorPredicate(rt: ResourceType, lo: ListOptions): (obj: KubeObject) => boolean {
  const labels = parseLabelSelector(lo.labelSelector);
  const fields = parseFieldSelector(lo.fieldSelector);
  const labelFns = rt.strategy.fieldLabels ?? {};
  for (const f of fields) {
    if (f.field !== 'metadata.name' && f.field !== 'metadata.namespace' && !labelFns[f.field]) {
      throw badRequest(`field label not supported: ${f.field}`);
    }
  }
  if (labels.length === 0 && fields.length === 0) return () => true;
  return (obj) => {
    if (labels.length && !matchesLabels(labels, obj.metadata.labels)) return false;
    if (!fields.length) return true;
    return matchesFields(fields, (f) => {
      if (f === 'metadata.name') return obj.metadata.name;
      if (f === 'metadata.namespace') return obj.metadata.namespace ?? '';
      return labelFns[f]!(obj);
    });
  };
}

function listBody(rt: ResourceType, items: KubeObject[], resourceVersion: string, continueToken?: string, remaining?: number): JsonObject {
  const metadata: JsonObject = { resourceVersion };
  if (continueToken) metadata.continue = continueToken;
  if (remaining) metadata.remainingItemCount = remaining;
  // Typed (built-in) lists carry no apiVersion/kind on their items; custom resource lists do.
  const shaped = rt.crdName ? items : items.map(({ apiVersion: _a, kind: _k, ...rest }) => rest);
  return { kind: rt.listKind, apiVersion: apiVersionOf(rt), metadata, items: shaped };
}

interface ContinueToken {
  rv: string;
  after: string;
}

function sendList(ctx: HandlerContext, res: ServerResponse, rt: ResourceType, ns: string | undefined, lo: ListOptions, matches: (o: KubeObject) => boolean, target: Target): void {
  const rv = String(ctx.store.storage.currentRV());
  let items = ctx.store.listStored(rt, ns).filter(matches);
  let listRV = rv;
  if (lo.continueToken) {
    let token: ContinueToken;
    try {
      token = JSON.parse(Buffer.from(lo.continueToken, 'base64url').toString('utf8')) as ContinueToken;
      if (typeof token.after !== 'string') throw new Error('bad token');
    } catch {
      throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
    }
    items = items.filter((o) => sortKey(o) > token.after);
    listRV = token.rv;
  }
  let continueToken: string | undefined;
  let remaining: number | undefined;
  if (lo.limit !== undefined && items.length > lo.limit) {
    remaining = items.length - lo.limit;
    items = items.slice(0, lo.limit);
    const token: ContinueToken = { rv: listRV, after: sortKey(items[items.length - 1]!) };
    continueToken = Buffer.from(JSON.stringify(token)).toString('base64url');
  }
  const served = items.map((o) => ctx.store.out(rt, o));
  if (target.kind === 'table') {
    const table = toTable(rt.strategy.table, served, { includeObject: lo.includeObject, resourceVersion: listRV, ...(continueToken ? { continueToken } : {}) });
    return sendJson(res, 200, { ...table, apiVersion: `meta.k8s.io/${target.version}` });
  }
  if (target.kind === 'metadata') {
    const metadata: JsonObject = { resourceVersion: listRV };
    if (continueToken) metadata.continue = continueToken;
    return sendJson(res, 200, { kind: 'PartialObjectMetadataList', apiVersion: `meta.k8s.io/${target.version}`, metadata, items: served.map(partialObjectMetadata) });
  }
  sendJson(res, 200, listBody(rt, served, listRV, continueToken, remaining), target.kind === 'object' ? target.format : 'json');
}

function sortKey(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}\u0000${o.metadata.name ?? ''}`;
}

function sendObject(res: ServerResponse, rt: ResourceType, obj: KubeObject, target: Target, q: URLSearchParams, code = 200, headers: Record<string, string[]> = {}): void {
  if (target.kind === 'table') {
    const include = (q.get('includeObject') ?? 'Metadata') as 'None' | 'Metadata' | 'Object';
    return sendJson(res, code, { ...toTable(rt.strategy.table, [obj], { includeObject: include }), apiVersion: `meta.k8s.io/${target.version}` }, 'json', headers);
  }
  if (target.kind === 'metadata') return sendJson(res, code, { ...partialObjectMetadata(obj), apiVersion: `meta.k8s.io/${target.version}` }, 'json', headers);
  sendJson(res, code, obj, target.kind === 'object' ? target.format : 'json', headers);
}

/** pods/binding: assign an unscheduled pod to a node (what a scheduler does). */
function bind(ctx: HandlerContext, res: ServerResponse, rt: ResourceType, ns: string, name: string, body: unknown): void {
  const ref = ctx.store.ref(rt, ns, name);
  const pod = ctx.store.storage.get(ref);
  if (!pod) throw notFound('', 'pods', name);
  const target = isObject(body) && isObject(body.target) ? body.target : undefined;
  if (!target || typeof target.name !== 'string' || !target.name) {
    throw badRequest('Binding "' + name + '" is invalid: target.name: Required value');
  }
  const spec = isObject(pod.spec) ? pod.spec : {};
  if (pod.metadata.deletionTimestamp) throw conflict('', 'pods/binding', name, `pod ${name} is being deleted, cannot be assigned to a host`);
  if (spec.nodeName) throw conflict('', 'pods/binding', name, `pod ${name} is already assigned to node "${String(spec.nodeName)}"`);
  const next = clone(pod);
  (next.spec as JsonObject).nodeName = target.name;
  const status = isObject(next.status) ? next.status : (next.status = {});
  const conditions = (Array.isArray(status.conditions) ? status.conditions : []).filter((c) => !(isObject(c) && c.type === 'PodScheduled'));
  conditions.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: nowTimestamp() });
  status.conditions = conditions;
  ctx.store.writeSystem(ref, next, pod);
  sendJson(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
}

