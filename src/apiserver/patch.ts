// The three patch formats kube-apiserver accepts: JSON merge patch (RFC 7386), JSON patch (RFC 6902), and
// strategic merge patch (lists merged by key for built-in kinds, with the $patch/$retainKeys/... directives).
import { ApiError, badRequest } from './errors.ts';
import { clone, deepEqual, isObject, type JsonObject } from './meta.ts';

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

interface JsonPatchOp {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

function patchFailure(message: string): ApiError {
  // The real server answers an inapplicable JSON patch with 422 and the jsonpatch library's message.
  return new ApiError(422, 'Invalid', message);
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw badRequest(`invalid JSON pointer ${JSON.stringify(pointer)}`);
  return pointer.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export function jsonPatch(doc: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let root = clone(doc);
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') throw badRequest('invalid JSON patch operation: missing op or path');
    const op = raw as unknown as JsonPatchOp;
    const path = parsePointer(op.path);
    switch (op.op) {
      case 'add':
        if (!('value' in raw)) throw badRequest(`add operation missing value`);
        root = addAt(root, path, clone(op.value), op.op);
        break;
      case 'remove':
        root = removeAt(root, path, op.path).doc;
        break;
      case 'replace': {
        if (!('value' in raw)) throw badRequest(`replace operation missing value`);
        getAt(root, path, op.path); // must exist
        root = addAt(root, path, clone(op.value), 'replace');
        break;
      }
      case 'move': {
        if (typeof op.from !== 'string') throw badRequest('move operation missing from');
        const removed = removeAt(root, parsePointer(op.from), op.from);
        root = addAt(removed.doc, path, removed.value, 'move');
        break;
      }
      case 'copy': {
        if (typeof op.from !== 'string') throw badRequest('copy operation missing from');
        const value = getAt(root, parsePointer(op.from), op.from);
        root = addAt(root, path, clone(value), 'copy');
        break;
      }
      case 'test': {
        const value = getAt(root, path, op.path);
        if (!deepEqual(value, op.value)) throw patchFailure(`testing value ${op.path} failed: test failed`);
        break;
      }
      default:
        throw badRequest(`Unexpected kind: ${op.op}`);
    }
  }
  return root;
}

function getAt(doc: unknown, path: string[], pointer: string): unknown {
  let cur = doc;
  for (const p of path) {
    if (Array.isArray(cur)) {
      const i = Number(p);
      if (!/^\d+$/.test(p) || i >= cur.length) throw patchFailure(`doc is missing path: ${JSON.stringify(pointer)}: missing value`);
      cur = cur[i];
    } else if (isObject(cur) && Object.hasOwn(cur, p)) {
      cur = cur[p];
    } else {
      throw patchFailure(`doc is missing path: ${JSON.stringify(pointer)}: missing value`);
    }
  }
  return cur;
}

function addAt(doc: unknown, path: string[], value: unknown, opName: string): unknown {
  if (path.length === 0) return value;
  const parent = getAt(doc, path.slice(0, -1), '/' + path.slice(0, -1).join('/'));
  const last = path[path.length - 1]!;
  if (Array.isArray(parent)) {
    if (last === '-') parent.push(value);
    else {
      const i = Number(last);
      if (!/^\d+$/.test(last) || i > parent.length) throw patchFailure(`${opName} operation does not apply: doc is missing path: "/${path.join('/')}"`);
      if (opName === 'replace') parent[i] = value;
      else parent.splice(i, 0, value);
    }
  } else if (isObject(parent)) {
    parent[last] = value;
  } else {
    throw patchFailure(`${opName} operation does not apply: doc is missing path: "/${path.join('/')}"`);
  }
  return doc;
}

function removeAt(doc: unknown, path: string[], pointer: string): { doc: unknown; value: unknown } {
  if (path.length === 0) return { doc: null, value: doc };
  const parent = getAt(doc, path.slice(0, -1), pointer);
  const last = path[path.length - 1]!;
  if (Array.isArray(parent)) {
    const i = Number(last);
    if (!/^\d+$/.test(last) || i >= parent.length) throw patchFailure(`remove operation does not apply: doc is missing path: ${JSON.stringify(pointer)}`);
    const [value] = parent.splice(i, 1);
    return { doc, value };
  }
  if (isObject(parent) && Object.hasOwn(parent, last)) {
    const value = parent[last];
    delete parent[last];
    return { doc, value };
  }
  throw patchFailure(`remove operation does not apply: doc is missing path: ${JSON.stringify(pointer)}`);
}

/**
 * Patch metadata for strategic merge: dotted field paths (list indexes omitted) → the merge key of a list that
 * merges by key, or '' for a list of primitives that merges as a set. Lists not named here are replaced.
 */
export type MergeKeys = Record<string, string>;

export const COMMON_MERGE_KEYS: MergeKeys = {
  'metadata.ownerReferences': 'uid',
  'metadata.finalizers': '',
};

export function strategicMergePatch(target: unknown, patch: unknown, keys: MergeKeys): unknown {
  return smpValue(target, patch, keys, '');
}

function smpValue(target: unknown, patch: unknown, keys: MergeKeys, path: string): unknown {
  if (!isObject(patch)) return clone(patch);
  return smpMap(isObject(target) ? target : {}, patch, keys, path);
}

function smpMap(target: JsonObject, patch: JsonObject, keys: MergeKeys, path: string): unknown {
  const directive = patch['$patch'];
  if (directive === 'delete') return undefined;
  if (directive === 'replace') {
    const out = clone(patch);
    delete out['$patch'];
    return out;
  }
  let out: JsonObject = { ...target };
  const retain = patch['$retainKeys'];
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[field]) && Array.isArray(v)) out[field] = (out[field] as unknown[]).filter((x) => !v.some((d) => deepEqual(d, x)));
      continue;
    }
    const childPath = path ? `${path}.${k}` : k;
    if (v === null) {
      delete out[k];
    } else if (Array.isArray(v) && childPath in keys) {
      out[k] = smpList(Array.isArray(out[k]) ? (out[k] as unknown[]) : [], v, keys, childPath);
    } else if (isObject(v)) {
      const merged = smpValue(out[k], v, keys, childPath);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else {
      out[k] = clone(v);
    }
  }
  if (Array.isArray(retain)) {
    const keep = new Set(retain as string[]);
    out = Object.fromEntries(Object.entries(out).filter(([k]) => keep.has(k)));
  }
  return out;
}

function smpList(target: unknown[], patch: unknown[], keys: MergeKeys, path: string): unknown[] {
  const key = keys[path]!;
  if (patch.some((p) => isObject(p) && p['$patch'] === 'replace')) {
    return clone(patch.filter((p) => !(isObject(p) && p['$patch'] === 'replace')));
  }
  if (key === '') {
    // A set of primitives: union, keeping the target's order.
    const out = [...target];
    for (const p of patch) if (!out.some((x) => deepEqual(x, p))) out.push(clone(p));
    return out;
  }
  const out = target.map((x) => x);
  for (const p of patch) {
    if (!isObject(p) || !(key in p)) {
      out.push(clone(p));
      continue;
    }
    const idx = out.findIndex((x) => isObject(x) && deepEqual(x[key], p[key]));
    if (p['$patch'] === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = smpMap(out[idx] as JsonObject, p, keys, path);
    else {
      const fresh = smpMap({}, p, keys, path);
      out.push(fresh);
    }
  }
  return out;
}
