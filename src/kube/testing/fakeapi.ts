// A deliberately small in-memory Kubernetes API server for unit tests of the controller runtime (informers,
// leader election): namespaced CRUD with resourceVersion conflicts, list, watch from a resourceVersion
// (410 Gone when too old), label selectors (equality and existence), merge patch, the status subresource.
// Not a conformance target: the embedded API server (src/apiserver) is the real thing.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';

type Obj = { apiVersion?: string; kind?: string; metadata: Record<string, any>; [k: string]: any };
interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Obj;
  rv: number;
  collection: string;
}

export interface FakeApiServer {
  url: string;
  /** Objects by `collection` (`group/version/plural`) then `namespace/name`. */
  store: Map<string, Map<string, Obj>>;
  requests: { method: string; path: string }[];
  /** Events older than this resourceVersion are compacted: watches from before it get 410. */
  compact(): void;
  /** End every open watch (as a server does on timeout). */
  closeWatches(): void;
  /** Make the next `n` requests matching `pattern` fail with `status`. */
  failNext(pattern: RegExp, status: number, n?: number): void;
  clearFailures(): void;
  close(): Promise<void>;
}

function parsePath(pathname: string) {
  const parts = pathname.split('/').filter(Boolean);
  let group = '';
  let version: string;
  let rest: string[];
  if (parts[0] === 'api') {
    version = parts[1]!;
    rest = parts.slice(2);
  } else {
    group = parts[1]!;
    version = parts[2]!;
    rest = parts.slice(3);
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [plural, name, sub] = rest;
  return { collection: `${group}/${version}/${plural}`, group, version, plural: plural!, namespace, name, sub };
}

function matches(selector: string | null, labels: Record<string, string> | undefined): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=');
    if (v === undefined) return labels?.[k!.trim()] !== undefined;
    return labels?.[k!.trim()] === v.trim();
  });
}

function mergePatch(target: any, patch: any): any {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = target && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export async function startFakeApiServer(): Promise<FakeApiServer> {
  const store = new Map<string, Map<string, Obj>>();
  const events: WatchEvent[] = [];
  const requests: { method: string; path: string }[] = [];
  const watchers = new Set<{ collection: string; namespace?: string; selector: string | null; res: http.ServerResponse }>();
  const failures: { pattern: RegExp; status: number; n: number }[] = [];
  let rv = 1;
  let compactedBefore = 0;

  const bucket = (c: string) => {
    let b = store.get(c);
    if (!b) store.set(c, (b = new Map()));
    return b;
  };
  const emit = (collection: string, type: WatchEvent['type'], object: Obj) => {
    const event = { type, object: structuredClone(object), rv: Number(object.metadata.resourceVersion), collection };
    events.push(event);
    for (const w of watchers) {
      if (w.collection !== collection) continue;
      if (w.namespace && w.namespace !== object.metadata.namespace) continue;
      if (!matches(w.selector, object.metadata.labels)) continue;
      w.res.write(JSON.stringify({ type, object }) + '\n');
    }
  };
  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const statusBody = (code: number, reason: string, message: string) => ({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message });

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url!, 'http://x');
    requests.push({ method: req.method!, path: url.pathname + url.search });
    const failure = failures.find((f) => f.n > 0 && f.pattern.test(`${req.method} ${url.pathname}${url.search}`));
    if (failure) {
      failure.n--;
      req.resume();
      return send(res, failure.status, statusBody(failure.status, 'InternalError', 'injected failure'));
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined;
    const p = parsePath(url.pathname);
    const b = bucket(p.collection);
    const key = `${p.namespace ?? ''}/${p.name ?? ''}`;
    const selector = url.searchParams.get('labelSelector');

    if (req.method === 'GET' && !p.name) {
      if (url.searchParams.get('watch') === 'true') {
        const from = Number(url.searchParams.get('resourceVersion') || '0');
        if (from && from < compactedBefore) {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ type: 'ERROR', object: statusBody(410, 'Expired', 'too old resource version') }) + '\n');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        for (const e of events) {
          if (e.collection !== p.collection || e.rv <= from) continue;
          if (p.namespace && e.object.metadata.namespace !== p.namespace) continue;
          if (!matches(selector, e.object.metadata.labels)) continue;
          res.write(JSON.stringify({ type: e.type, object: e.object }) + '\n');
        }
        const w = { collection: p.collection, namespace: p.namespace, selector, res };
        watchers.add(w);
        req.on('close', () => watchers.delete(w));
        return;
      }
      const items = [...b.values()].filter((o) => (!p.namespace || o.metadata.namespace === p.namespace) && matches(selector, o.metadata.labels));
      return send(res, 200, { kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items });
    }
    if (req.method === 'GET') {
      const o = b.get(key);
      return o ? send(res, 200, o) : send(res, 404, statusBody(404, 'NotFound', `${p.plural} "${p.name}" not found`));
    }
    if (req.method === 'POST') {
      const name = body.metadata.name;
      const k = `${p.namespace ?? ''}/${name}`;
      if (b.has(k)) return send(res, 409, statusBody(409, 'AlreadyExists', `${p.plural} "${name}" already exists`));
      const o: Obj = { ...body, metadata: { ...body.metadata, namespace: p.namespace, uid: randomUUID(), resourceVersion: String(++rv), generation: 1, creationTimestamp: new Date().toISOString() } };
      b.set(k, o);
      emit(p.collection, 'ADDED', o);
      return send(res, 201, o);
    }
    const current = b.get(key);
    if (!current) return send(res, 404, statusBody(404, 'NotFound', `${p.plural} "${p.name}" not found`));
    if (req.method === 'DELETE') {
      b.delete(key);
      const o = { ...current, metadata: { ...current.metadata, resourceVersion: String(++rv) } };
      emit(p.collection, 'DELETED', o);
      return send(res, 200, o);
    }
    let next: Obj;
    if (req.method === 'PUT') {
      if (body.metadata?.resourceVersion && body.metadata.resourceVersion !== current.metadata.resourceVersion) {
        return send(res, 409, statusBody(409, 'Conflict', 'the object has been modified; please apply your changes to the latest version and try again'));
      }
      next = p.sub === 'status' ? { ...current, status: body.status } : { ...body, status: current.status };
    } else {
      const patched = mergePatch(current, body);
      next = p.sub === 'status' ? { ...current, status: patched.status } : { ...patched, status: current.status };
    }
    const specChanged = JSON.stringify(next.spec) !== JSON.stringify(current.spec);
    next.metadata = { ...current.metadata, ...next.metadata, uid: current.metadata.uid, resourceVersion: String(++rv), generation: current.metadata.generation + (specChanged ? 1 : 0) };
    b.set(key, next);
    emit(p.collection, 'MODIFIED', next);
    return send(res, 200, next);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    store,
    requests,
    compact() {
      compactedBefore = rv + 1;
      events.length = 0;
    },
    closeWatches() {
      for (const w of watchers) w.res.end();
      watchers.clear();
    },
    failNext(pattern, status, n = 1) {
      failures.push({ pattern, status, n });
    },
    clearFailures() {
      failures.length = 0;
    },
    async close() {
      for (const w of watchers) w.res.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
