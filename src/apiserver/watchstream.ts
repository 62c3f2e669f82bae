// Serving `?watch=1`: newline-delimited {"type","object"} events over a chunked response, one write (and flush)
// per event. Handles resourceVersion resume (410 Expired when too old), initial ADDED events for a watch without
// resourceVersion, BOOKMARKs, timeoutSeconds, selectors (objects entering/leaving the selection become
// ADDED/DELETED), and Table/PartialObjectMetadata event objects for kubectl `get -w` and metadata informers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KubeObject } from '../api/admission.ts';
import { badRequest, expired } from './errors.ts';
import { apiVersionOf, type ResourceType } from './registry.ts';
import type { ListOptions, Target } from './request.ts';
import type { ObjectStore } from './store.ts';
import { partialObjectMetadata, toTable } from './table.ts';
import type { EventType, Watcher } from './watch.ts';

export interface WatchContext {
  store: ObjectStore;
  streams: Set<ServerResponse>;
  bookmarkIntervalMs: number;
  /** The counter of events sent on watches of a resource (apiserver_watch_events_total; instrumentation.ts). */
  watchEvents?: (group: string, version: string, resource: string) => { inc(): void };
}

/** Bytes buffered for a client that does not read before the watch is dropped (it will re-watch). */
const MAX_BUFFERED = 32 * 1024 * 1024;

export function serveWatch(
  ctx: WatchContext, req: IncomingMessage, res: ServerResponse, rt: ResourceType, namespace: string | undefined,
  opts: ListOptions, matches: (stored: KubeObject) => boolean, target: Target,
): void {
  const store = ctx.store;
  let fromRV: number | undefined;
  const rv = opts.resourceVersion;
  const initialEvents = opts.sendInitialEvents || rv === undefined || rv === '0';
  if (rv !== undefined && rv !== '0') {
    // kube-apiserver words it so (and, on a watch, answers 500 from its storage layer; 400 here, as on its lists).
    if (!/^\d+$/.test(rv)) throw badRequest(`invalid resource version: resourceVersion: Invalid value: ${JSON.stringify(rv)}: strconv.ParseUint: parsing ${JSON.stringify(rv)}: invalid syntax`);
    fromRV = Number(rv);
  }

  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  res.socket?.setNoDelay(true);
  res.flushHeaders();
  ctx.streams.add(res);

  let tableHeadersSent = false;
  const encode = (type: string, stored: KubeObject): string => {
    const obj = store.out(rt, stored);
    let payload: unknown = obj;
    if (type !== 'BOOKMARK' && type !== 'ERROR') {
      if (target.kind === 'table') {
        payload = { ...toTable(rt.strategy.table, [obj], { includeObject: opts.includeObject, noHeaders: tableHeadersSent }), apiVersion: `meta.k8s.io/${target.version}` };
        tableHeadersSent = true;
      } else if (target.kind === 'metadata') {
        payload = { ...partialObjectMetadata(obj), apiVersion: `meta.k8s.io/${target.version}` };
      }
    }
    return JSON.stringify({ type, object: payload }) + '\n';
  };

  let closed = false;
  const sent = ctx.watchEvents?.(rt.group, rt.version, rt.plural);
  const write = (line: string) => {
    if (closed) return;
    sent?.inc();
    res.write(line);
    if (res.writableLength > MAX_BUFFERED) finish();
  };
  const watcher: Watcher = {
    key: rt.storageKey,
    matches,
    send: (type: EventType, obj: KubeObject) => write(encode(type, obj)),
    close: () => finish(),
  };
  if (rt.namespaced && namespace !== undefined) watcher.namespace = namespace;

  const bookmark = (annotations?: Record<string, string>) => {
    const metadata: Record<string, unknown> = { resourceVersion: String(store.storage.currentRV()) };
    if (annotations) metadata.annotations = annotations;
    write(JSON.stringify({ type: 'BOOKMARK', object: { kind: rt.kind, apiVersion: apiVersionOf(rt), metadata } }) + '\n');
  };

  const timers: NodeJS.Timeout[] = [];
  function finish(): void {
    if (closed) return;
    closed = true;
    store.hub.unsubscribe(watcher);
    for (const t of timers) clearTimeout(t);
    ctx.streams.delete(res);
    if (!res.writableEnded) res.end();
  }

  if (fromRV !== undefined && !opts.sendInitialEvents) {
    if (!store.hub.subscribe(watcher, fromRV)) {
      const err = expired(`too old resource version: ${fromRV} (${store.hub.oldestRV()})`);
      write(JSON.stringify({ type: 'ERROR', object: err.toStatus() }) + '\n');
      finish();
      return;
    }
  } else {
    if (initialEvents) {
      for (const obj of store.listStored(rt, namespace)) if (matches(obj)) watcher.send('ADDED', obj);
      if (opts.sendInitialEvents && opts.allowWatchBookmarks) bookmark({ 'k8s.io/initial-events-end': 'true' });
    }
    store.hub.subscribe(watcher, undefined);
  }

  if (opts.allowWatchBookmarks && target.kind !== 'table') {
    const t = setInterval(() => bookmark(), ctx.bookmarkIntervalMs);
    t.unref();
    timers.push(t);
  }
  // Without timeoutSeconds the real server ends watches after a random 30–60 minutes; clients re-watch.
  const timeout = opts.timeoutSeconds ?? Math.floor(1800 + Math.random() * 1800);
  const tt = setTimeout(finish, timeout * 1000);
  tt.unref();
  timers.push(tt);
  req.on('close', finish);
  res.on('close', finish);
  res.on('error', finish);
}
