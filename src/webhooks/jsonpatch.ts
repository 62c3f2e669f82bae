// The JSON Patch (RFC 6902) that turns one JSON document into another: what a mutating webhook answers with.
// Objects are diffed key by key; arrays element by element when their lengths match (so defaulting a field inside
// `roles[1]` is one small `add`), otherwise replaced whole.

export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace';
  path: string;
  value?: unknown;
}

/** RFC 6901 escaping of one reference token. */
export function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => equal(a[k], b[k]));
  }
  return false;
}

export function createJsonPatch(from: unknown, to: unknown, path = ''): JsonPatchOperation[] {
  if (equal(from, to)) return [];
  if (isObject(from) && isObject(to)) {
    const ops: JsonPatchOperation[] = [];
    for (const key of Object.keys(from)) {
      if (from[key] !== undefined && to[key] === undefined) ops.push({ op: 'remove', path: `${path}/${escapePointer(key)}` });
    }
    for (const key of Object.keys(to)) {
      if (to[key] === undefined) continue;
      const child = `${path}/${escapePointer(key)}`;
      if (from[key] === undefined) ops.push({ op: 'add', path: child, value: structuredClone(to[key]) });
      else ops.push(...createJsonPatch(from[key], to[key], child));
    }
    return ops;
  }
  if (Array.isArray(from) && Array.isArray(to) && from.length === to.length) {
    return from.flatMap((item, i) => createJsonPatch(item, to[i], `${path}/${i}`));
  }
  return [{ op: 'replace', path, value: structuredClone(to) }];
}

/** Apply a patch produced by createJsonPatch (add/remove/replace only); returns a new document. */
export function applyJsonPatch<T>(document: T, patch: readonly JsonPatchOperation[]): T {
  let root: unknown = structuredClone(document);
  for (const op of patch) {
    const tokens = op.path === '' ? [] : op.path.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (tokens.length === 0) {
      root = op.op === 'remove' ? undefined : structuredClone(op.value);
      continue;
    }
    let parent = root as Record<string, unknown> | unknown[];
    for (const token of tokens.slice(0, -1)) parent = (parent as Record<string, unknown>)[token] as Record<string, unknown>;
    const last = tokens[tokens.length - 1]!;
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (op.op === 'add') parent.splice(index, 0, structuredClone(op.value));
      else if (op.op === 'remove') parent.splice(index, 1);
      else parent[index] = structuredClone(op.value);
    } else if (op.op === 'remove') {
      delete parent[last];
    } else {
      parent[last] = structuredClone(op.value);
    }
  }
  return root as T;
}
