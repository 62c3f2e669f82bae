// Request decoding: resource URL parsing (k8s.io/apiserver's RequestInfoFactory), query options, and content
// negotiation of the Accept header (JSON, YAML, Table, PartialObjectMetadata, aggregated discovery).
import type { FieldError } from '../api/admission.ts';
import { badRequest, invalid } from './errors.ts';
import type { DeleteOptions, FieldValidation } from './store.ts';

export interface ResourceRequest {
  group: string;
  version: string;
  namespace?: string;
  resource: string;
  name?: string;
  subresource?: string;
  /** Legacy `/api/v1/watch/...` form. */
  legacyWatch: boolean;
}

const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/** Parse `/api/v1/...` or `/apis/<group>/<version>/...` resource paths; undefined when the path is not one. */
export function parseResourcePath(pathname: string): ResourceRequest | undefined {
  const parts = pathname.split('/').filter((p) => p !== '').map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    version = parts[1]!;
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1]!;
    version = parts[2]!;
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  let legacyWatch = false;
  if (rest[0] === 'watch') {
    legacyWatch = true;
    rest = rest.slice(1);
  }
  const req: ResourceRequest = { group, version, resource: '', legacyWatch };
  if (rest[0] === 'namespaces' && rest.length >= 2) {
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2]!)) {
      req.namespace = rest[1]!;
      rest = rest.slice(2);
    }
  }
  if (rest.length === 0 || rest.length > 3) return undefined;
  req.resource = rest[0]!;
  if (rest[1] !== undefined) req.name = rest[1];
  if (rest[2] !== undefined) req.subresource = rest[2];
  return req;
}

export interface MediaRange {
  type: string;
  subtype: string;
  params: Record<string, string>;
  q: number;
}

export function parseAccept(header: string | undefined): MediaRange[] {
  if (!header) return [{ type: '*', subtype: '*', params: {}, q: 1 }];
  const out: MediaRange[] = [];
  for (const part of header.split(',')) {
    const [mt, ...ps] = part.split(';').map((s) => s.trim());
    if (!mt) continue;
    const [type, subtype] = mt.toLowerCase().split('/') as [string, string | undefined];
    const params: Record<string, string> = {};
    let q = 1;
    for (const p of ps) {
      const eq = p.indexOf('=');
      if (eq < 0) continue;
      const k = p.slice(0, eq).trim();
      const v = p.slice(eq + 1).trim().replace(/^"|"$/g, '');
      if (k === 'q') q = Number(v);
      else params[k] = v;
    }
    out.push({ type, subtype: subtype ?? '*', params, q });
  }
  // Stable sort by q: equal preferences keep the client's order.
  return out.map((m, i) => ({ m, i })).sort((a, b) => b.m.q - a.m.q || a.i - b.i).map((x) => x.m);
}

export type Target =
  | { kind: 'object'; format: 'json' | 'yaml' }
  | { kind: 'table'; version: 'v1' | 'v1beta1' }
  | { kind: 'metadata'; version: 'v1' | 'v1beta1' }
  | { kind: 'discovery'; version: 'v2' | 'v2beta1' };

export interface NegotiateOptions {
  allowTable?: boolean;
  allowMetadata?: boolean;
  allowDiscovery?: boolean;
}

/** Choose the response representation; undefined means 406 Not Acceptable. */
export function negotiate(header: string | undefined, opts: NegotiateOptions): Target | undefined {
  for (const m of parseAccept(header)) {
    if (m.q <= 0) continue;
    const json = m.type === 'application' && m.subtype === 'json';
    const as = m.params['as'];
    if (as) {
      if (!json) continue;
      const g = m.params['g'];
      const v = m.params['v'];
      if (as === 'Table' && opts.allowTable && g === 'meta.k8s.io' && (v === 'v1' || v === 'v1beta1')) return { kind: 'table', version: v };
      if ((as === 'PartialObjectMetadata' || as === 'PartialObjectMetadataList') && opts.allowMetadata && g === 'meta.k8s.io' && (v === 'v1' || v === 'v1beta1')) {
        return { kind: 'metadata', version: v };
      }
      if (as === 'APIGroupDiscoveryList' && opts.allowDiscovery && g === 'apidiscovery.k8s.io' && (v === 'v2' || v === 'v2beta1')) return { kind: 'discovery', version: v };
      continue;
    }
    if (json) return { kind: 'object', format: 'json' };
    if (m.type === 'application' && (m.subtype === 'yaml' || m.subtype === 'x-yaml')) return { kind: 'object', format: 'yaml' };
    if ((m.type === '*' && m.subtype === '*') || (m.type === 'application' && m.subtype === '*')) return { kind: 'object', format: 'json' };
  }
  return undefined;
}

export interface ListOptions {
  labelSelector: string;
  fieldSelector: string;
  watch: boolean;
  resourceVersion?: string;
  timeoutSeconds?: number;
  allowWatchBookmarks: boolean;
  sendInitialEvents: boolean;
  limit?: number;
  continueToken?: string;
  includeObject: 'None' | 'Metadata' | 'Object';
}

const bool = (v: string | null) => v === 'true' || v === '1';

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw badRequest(`invalid value for ${name}: ${JSON.stringify(v)}`);
  return Number(v);
}

export function listOptions(q: URLSearchParams): ListOptions {
  const include = q.get('includeObject') ?? 'Metadata';
  if (!['None', 'Metadata', 'Object'].includes(include)) throw badRequest(`includeObject: Unsupported value: "${include}"`);
  const opts: ListOptions = {
    labelSelector: q.get('labelSelector') ?? '',
    fieldSelector: q.get('fieldSelector') ?? '',
    watch: bool(q.get('watch')),
    allowWatchBookmarks: bool(q.get('allowWatchBookmarks')),
    sendInitialEvents: bool(q.get('sendInitialEvents')),
    includeObject: include as ListOptions['includeObject'],
  };
  const rv = q.get('resourceVersion');
  if (rv !== null && rv !== '') {
    // Worded as kube-apiserver's list does (its watch says the same with a 500; 400 here for both).
    if (!/^\d+$/.test(rv)) throw badRequest(`invalid resource version: resourceVersion: Invalid value: ${JSON.stringify(rv)}: strconv.ParseUint: parsing ${JSON.stringify(rv)}: invalid syntax`);
    opts.resourceVersion = rv;
  }
  const timeout = intParam(q, 'timeoutSeconds');
  if (timeout !== undefined) opts.timeoutSeconds = timeout;
  const limit = intParam(q, 'limit');
  if (limit !== undefined && limit > 0) opts.limit = limit;
  const cont = q.get('continue');
  if (cont) opts.continueToken = cont;
  validateListOptions(opts, q.get('resourceVersionMatch') ?? '', q.has('sendInitialEvents'));
  return opts;
}

/** kube-apiserver's ValidateListOptions (apimachinery internalversion/validation): 422 on ListOptions. */
function validateListOptions(opts: ListOptions, match: string, sendInitialEventsSet: boolean): void {
  const errs: FieldError[] = [];
  const forbid = (field: string, detail: string) => errs.push({ field, type: 'Forbidden', detail });
  if (opts.watch) {
    if (sendInitialEventsSet && match !== 'NotOlderThan') forbid('resourceVersionMatch', 'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan');
    if (match) {
      if (!sendInitialEventsSet) forbid('resourceVersionMatch', 'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided');
      if (match !== 'NotOlderThan') errs.push({ field: 'resourceVersionMatch', type: 'Unsupported value', value: match, detail: 'supported values: "NotOlderThan"' });
      if (opts.continueToken) forbid('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided');
    }
  } else {
    if (match) {
      if (!opts.resourceVersion) forbid('resourceVersionMatch', 'resourceVersionMatch is forbidden unless resourceVersion is provided');
      if (opts.continueToken) forbid('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided');
      if (match !== 'Exact' && match !== 'NotOlderThan') errs.push({ field: 'resourceVersionMatch', type: 'Unsupported value', value: match, detail: 'supported values: "Exact", "NotOlderThan", ""' });
      if (match === 'Exact' && opts.resourceVersion === '0') forbid('resourceVersionMatch', 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"');
    }
    if (sendInitialEventsSet) forbid('sendInitialEvents', 'sendInitialEvents is forbidden for list');
  }
  if (errs.length) throw invalid('meta.k8s.io', 'ListOptions', '', errs);
}

export interface WriteQuery {
  dryRun: boolean;
  fieldValidation?: FieldValidation;
  fieldManager?: string;
  force: boolean;
}

export function writeOptions(q: URLSearchParams): WriteQuery {
  const dry = q.getAll('dryRun');
  for (const d of dry) if (d !== 'All') throw badRequest(`dryRun: Unsupported value: "${d}": supported values: "All"`);
  const out: WriteQuery = { dryRun: dry.length > 0, force: bool(q.get('force')) };
  const fv = q.get('fieldValidation');
  if (fv !== null && fv !== '') {
    if (fv !== 'Strict' && fv !== 'Warn' && fv !== 'Ignore') throw badRequest(`fieldValidation: Unsupported value: "${fv}": supported values: "Ignore", "Strict", "Warn"`);
    out.fieldValidation = fv;
  }
  const fm = q.get('fieldManager');
  if (fm) out.fieldManager = fm;
  return out;
}

/** DeleteOptions come from the body (kubectl, client-node) and/or query parameters; the body wins. */
export function deleteOptions(q: URLSearchParams, body: unknown): DeleteOptions {
  const out: DeleteOptions = {};
  const grace = intParam(q, 'gracePeriodSeconds');
  if (grace !== undefined) out.gracePeriodSeconds = grace;
  const policy = q.get('propagationPolicy');
  if (policy) out.propagationPolicy = checkPolicy(policy);
  const orphan = q.get('orphanDependents');
  if (orphan !== null) out.orphanDependents = bool(orphan);
  if (q.getAll('dryRun').includes('All')) out.dryRun = true;
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const b = body as Record<string, unknown>;
    if (typeof b.gracePeriodSeconds === 'number') out.gracePeriodSeconds = b.gracePeriodSeconds;
    if (typeof b.propagationPolicy === 'string') out.propagationPolicy = checkPolicy(b.propagationPolicy);
    if (typeof b.orphanDependents === 'boolean') out.orphanDependents = b.orphanDependents;
    if (Array.isArray(b.dryRun) && b.dryRun.includes('All')) out.dryRun = true;
    if (b.preconditions && typeof b.preconditions === 'object') out.preconditions = b.preconditions as DeleteOptions['preconditions'];
  }
  if (out.propagationPolicy && out.orphanDependents !== undefined) {
    throw badRequest('DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: "' + out.propagationPolicy + '": orphanDependents and deletionPropagation cannot be both set');
  }
  return out;
}

function checkPolicy(p: string): 'Background' | 'Foreground' | 'Orphan' {
  if (p !== 'Background' && p !== 'Foreground' && p !== 'Orphan') {
    throw badRequest(`propagationPolicy: Unsupported value: "${p}": supported values: "Background", "Foreground", "Orphan"`);
  }
  return p;
}
