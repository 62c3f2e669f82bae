// metrics.k8s.io/v1beta1, the resource metrics API (PodMetrics and NodeMetrics: what `kubectl top` and autoscalers
// read), served the way metrics-server serves it on clusters, so one client reads CPU and memory on both.
//
// The design, and why: on a cluster metrics-server scrapes every kubelet and keeps the usage in memory; nothing of it
// is ever stored in etcd, and the objects cannot be written (405). Here the node agent plays the kubelet: it samples
// its pods' process trees from /proc and serves the rates on `GET /stats/summary`, at the URL its Node carries in
// the `node.matrixinfer.ai/stats-endpoint` annotation (src/agent/usage.ts, src/api/node-stats.ts). This server
// reads that endpoint when a request comes in, joins it with the pods it stores (for their labels and to drop pods
// gone or recreated) and answers with metrics-server's objects. Pulling keeps everything off the storage and the
// watch stream (no writes every 10 s, nothing persisted, nothing to expire: an agent that is down simply yields no
// metrics), needs no write path that users would also reach, and is how the real system is built. The price is one
// loopback request to each agent hosting a listed pod (at most 2 s; an agent that does not answer contributes
// nothing) per request.
//
// Served: discovery (verbs get, list), GET of one object and lists (a namespace or all), labelSelector on the pod's
// (node's) labels and fieldSelector on metadata.name/namespace as metrics-server filters, Tables (`kubectl get
// podmetrics`). Every other verb, and watch, is 405 MethodNotAllowed.
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { KubeObject } from '../api/admission.ts';
import { NODE_STATS_ENDPOINT_ANNOTATION, NODE_STATS_PATH, type StatsSummary, type UsageStats } from '../api/node-stats.ts';
import { formatQuantity, readQuantity, type QuantityFormat } from '../kube/units.ts';
import { builtin, base } from './builtins.ts';
import { badRequest, methodNotAllowed, notAcceptable, notFound } from './errors.ts';
import { sendJson } from './http.ts';
import { isObject, nowTimestamp, type JsonObject } from './meta.ts';
import type { Registry, ResourceType, TableSpec } from './registry.ts';
import { listOptions, negotiate, type Target } from './request.ts';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.ts';
import type { ObjectStore } from './store.ts';
import { column, NAME_COLUMN, partialObjectMetadata, toTable, type IncludeObject } from './table.ts';

export const METRICS_GROUP = 'metrics.k8s.io';
export const METRICS_VERSION = 'v1beta1';
const API_VERSION = `${METRICS_GROUP}/${METRICS_VERSION}`;
const SCRAPE_TIMEOUT_MS = 2000;

const quantity = (nanos: bigint, format: QuantityFormat) => formatQuantity({ nanos, format });
const cpu = (nanoCores: number) => quantity(BigInt(Math.round(nanoCores)), 'DecimalSI');
const memory = (bytes: number) => quantity(BigInt(Math.round(bytes)) * 1_000_000_000n, 'BinarySI');

/** metrics-server's table: Name, one column per resource (summed over containers), Window. */
function usageTable(usage: (o: KubeObject) => { cpu: bigint; memory: bigint }): TableSpec {
  return {
    columns: [NAME_COLUMN, column('cpu', 'string', '', 0, 'quantity'), column('memory', 'string', '', 0, 'quantity'), column('Window', 'string', '', 0, 'duration')],
    cells(o) {
      const u = usage(o);
      return [o.metadata.name, quantity(u.cpu, 'DecimalSI'), quantity(u.memory, 'BinarySI'), o.window];
    },
  };
}

type Usage = Record<string, unknown>;
const nanosOf = (q: unknown): bigint => {
  try {
    return readQuantity(String(q)).nanos;
  } catch {
    return 0n;
  }
};
const sumContainers = (o: KubeObject) => {
  let c = 0n;
  let mem = 0n;
  for (const container of (o.containers as { usage: Usage }[] | undefined) ?? []) {
    c += nanosOf(container.usage.cpu);
    mem += nanosOf(container.usage.memory);
  }
  return { cpu: c, memory: mem };
};
const nodeUsage = (o: KubeObject) => {
  const u = (o.usage as Usage | undefined) ?? {};
  return { cpu: nanosOf(u.cpu), memory: nanosOf(u.memory) };
};

export function registerMetrics(registry: Registry): void {
  const common = { group: METRICS_GROUP, version: METRICS_VERSION, verbs: ['get', 'list'] };
  registry.add(builtin({ ...common, kind: 'PodMetrics', plural: 'pods', singular: '', namespaced: true, storageKey: `${METRICS_GROUP}/pods`, strategy: base(usageTable(sumContainers)) }), true);
  registry.add(builtin({ ...common, kind: 'NodeMetrics', plural: 'nodes', singular: '', namespaced: false, storageKey: `${METRICS_GROUP}/nodes`, strategy: base(usageTable(nodeUsage)) }), true);
}

export const isMetricsType = (rt: ResourceType): boolean => rt.group === METRICS_GROUP;

export interface MetricsContext {
  registry: Registry;
  store: ObjectStore;
}

/** Reads a node agent's summary; undefined when it does not answer in time or answers something else. */
export function scrape(endpoint: string): Promise<StatsSummary | undefined> {
  return new Promise((resolve) => {
    let url: URL;
    try {
      url = new URL(NODE_STATS_PATH, endpoint);
    } catch {
      return resolve(undefined);
    }
    if (url.protocol !== 'http:') return resolve(undefined);
    const req = request(url, { method: 'GET', timeout: SCRAPE_TIMEOUT_MS, headers: { accept: 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => resolve(undefined));
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve(undefined);
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as StatsSummary;
          resolve(isObject(body) && isObject(body.node) && Array.isArray(body.pods) ? body : undefined);
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** The summaries of the named nodes' agents, by node name. */
async function scrapeNodes(ctx: MetricsContext, nodeNames: Set<string>): Promise<Map<string, StatsSummary>> {
  const nodesRt = ctx.registry.get('', 'v1', 'nodes')!;
  const out = new Map<string, StatsSummary>();
  await Promise.all(ctx.store.listStored(nodesRt, undefined).map(async (node) => {
    const name = node.metadata.name!;
    const endpoint = node.metadata.annotations?.[NODE_STATS_ENDPOINT_ANNOTATION];
    if (!nodeNames.has(name) || !endpoint) return;
    const summary = await scrape(endpoint);
    if (summary) out.set(name, summary);
  }));
  return out;
}

function metadataFor(o: KubeObject, namespaced: boolean): JsonObject {
  const m: JsonObject = { name: o.metadata.name };
  if (namespaced) m.namespace = o.metadata.namespace;
  if (o.metadata.labels && Object.keys(o.metadata.labels).length) m.labels = o.metadata.labels;
  m.creationTimestamp = nowTimestamp(); // metrics-server's objects are made at the request
  return m;
}

/** A usage the agent reported in full (its summary is read as untrusted JSON). */
const complete = (u: unknown): u is UsageStats =>
  isObject(u) && typeof u.time === 'string' && typeof u.window === 'string'
  && Number.isFinite(u.usageNanoCores) && Number.isFinite(u.workingSetBytes);

function podMetrics(pod: KubeObject, summary: StatsSummary | undefined): KubeObject | undefined {
  const { namespace, name, uid } = pod.metadata;
  const stats = summary?.pods.find((p) => isObject(p) && isObject(p.podRef) && p.podRef.namespace === namespace && p.podRef.name === name);
  // Another uid: a pod of that name that was deleted and created again since; its usage is not this pod's.
  if (!stats || stats.podRef.uid !== uid || !Array.isArray(stats.containers)) return undefined;
  const containers = stats.containers.filter((c) => complete(c) && typeof c.name === 'string');
  if (containers.length === 0) return undefined;
  return {
    kind: 'PodMetrics',
    apiVersion: API_VERSION,
    metadata: metadataFor(pod, true),
    timestamp: containers[0]!.time,
    window: containers[0]!.window,
    containers: containers.map((c) => ({ name: c.name, usage: { cpu: cpu(c.usageNanoCores), memory: memory(c.workingSetBytes) } })),
  } as KubeObject;
}

function nodeMetrics(node: KubeObject, summary: StatsSummary | undefined): KubeObject | undefined {
  const u = summary?.node;
  if (!complete(u)) return undefined;
  return {
    kind: 'NodeMetrics',
    apiVersion: API_VERSION,
    metadata: metadataFor(node, false),
    timestamp: u.time,
    window: u.window,
    usage: { cpu: cpu(u.usageNanoCores), memory: memory(u.workingSetBytes) },
  } as KubeObject;
}

/** A request for metrics.k8s.io/v1beta1 pods or nodes (`ns` undefined: all namespaces, or a cluster-scoped kind). */
export async function serveMetrics(ctx: MetricsContext, req: IncomingMessage, res: ServerResponse, rt: ResourceType, ns: string | undefined, name: string | undefined, url: URL): Promise<void> {
  if (req.method !== 'GET') throw methodNotAllowed();
  const lo = listOptions(url.searchParams);
  if (lo.watch) throw methodNotAllowed();
  const target = negotiate(req.headers.accept, { allowTable: true, allowMetadata: true });
  if (!target) throw notAcceptable(req.headers.accept ?? '');

  const pods = rt.kind === 'PodMetrics';
  const sourceRt = ctx.registry.get('', 'v1', pods ? 'pods' : 'nodes')!;
  const build = pods ? podMetrics : nodeMetrics;
  const nodeOf = (o: KubeObject) => (pods ? String((o.spec as JsonObject | undefined)?.nodeName ?? '') : o.metadata.name!);

  if (name !== undefined) {
    const source = ctx.store.listStored(sourceRt, ns).find((o) => o.metadata.name === name);
    if (!source) throw notFound('', sourceRt.plural, name);
    const summaries = await scrapeNodes(ctx, new Set([nodeOf(source)]));
    const obj = build(source, summaries.get(nodeOf(source)));
    if (!obj) throw notFound(METRICS_GROUP, pods ? 'podmetrics' : 'nodemetrics', pods ? `${ns}/${name}` : name);
    return send(res, rt, [obj], target, lo.includeObject, false);
  }

  const labels = parseLabelSelector(lo.labelSelector);
  const fields = parseFieldSelector(lo.fieldSelector);
  for (const f of fields) if (f.field !== 'metadata.name' && f.field !== 'metadata.namespace') throw badRequest(`field label not supported: ${f.field}`);
  const sources = ctx.store.listStored(sourceRt, ns).filter((o) =>
    matchesLabels(labels, o.metadata.labels)
    && matchesFields(fields, (f) => (f === 'metadata.name' ? o.metadata.name : o.metadata.namespace ?? '')));
  const summaries = sources.length ? await scrapeNodes(ctx, new Set(sources.map(nodeOf))) : new Map<string, StatsSummary>();
  const items = sources.flatMap((o) => build(o, summaries.get(nodeOf(o))) ?? []);
  send(res, rt, items, target, lo.includeObject, true);
}

function send(res: ServerResponse, rt: ResourceType, items: KubeObject[], target: Target, includeObject: IncludeObject, list: boolean): void {
  if (target.kind === 'table') {
    return sendJson(res, 200, { ...toTable(rt.strategy.table, items, { includeObject }), apiVersion: `meta.k8s.io/${target.version}` });
  }
  if (target.kind === 'metadata') {
    const apiVersion = `meta.k8s.io/${target.version}`;
    if (!list) return sendJson(res, 200, { ...partialObjectMetadata(items[0]!), apiVersion });
    return sendJson(res, 200, { kind: 'PartialObjectMetadataList', apiVersion, metadata: {}, items: items.map(partialObjectMetadata) });
  }
  const format = target.kind === 'object' ? target.format : 'json';
  if (!list) return sendJson(res, 200, items[0], format);
  // Typed lists carry no apiVersion/kind on their items (as metrics-server's PodMetricsList).
  const shaped = items.map(({ apiVersion: _a, kind: _k, ...rest }) => rest);
  sendJson(res, 200, { kind: rt.listKind, apiVersion: API_VERSION, metadata: {}, items: shaped }, format);
}
