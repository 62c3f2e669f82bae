// The routing table: everything a request needs, precomputed from the watched world (ModelRoutes, ModelServers,
// Pods, StaticRoutes) whenever it changes. Requests only read it: model name → routes (oldest first) → rules (in order) →
// weighted ModelServers → ready endpoints.
//
// Rules of the build:
// - A route is indexed under `spec.modelName` and under each of `spec.loraAdapters` (LoRA: the request's model
//   name is kept, not rewritten). Routes for the same name are ordered oldest first (creationTimestamp, then
//   namespace/name), so duplicates resolve deterministically.
// - A target names a ModelServer in the route's namespace; weight defaults to 100; weight 0 never receives traffic.
//   A target whose ModelServer has no ready endpoint is left out of the weighted choice while another target of
//   the same rule has some (a rule with none at all answers 503).
// - A ModelServer's endpoints are the pods labelled `workload.matrixinfer.ai/modelinfer-name=<modelInferRef.name>`
//   in `modelInferRef.namespace ?? server namespace` that are ready (no deletionTimestamp, podIP set, condition
//   Ready=True), on port `service.targetPort`, else the pod's first declared containerPort, else `service.port`
//   (`service.port` is the port of the ModelServer's Service, which leads to the gateway, not to the engine: the
//   seed's `port: 443` example must not send engine traffic to 443).
//   Pods labelled `workload.matrixinfer.ai/warm=true` (a ModelInfer's warm pool, asleep or about to be) are left out.
//   An endpoint whose engine container's command line has `--kv-events-config` (events on, zmq) gets its KV-events
//   target (`kvEvents`, kv-events/target.ts: where it publishes, how to reproduce its block hashes); the gateway
//   subscribes after the rebuild (kv-events/manager.ts). A target that cannot be reproduced is a table problem.
// - `routing.path` P gives `POST P/infer` and `GET P`. A path several ModelServers set belongs to the oldest
//   (creationTimestamp, then namespace/name, whatever order they were seen in); the others get no seed path (their
//   status says so: the PathConflict condition, controllers/networking/status.ts) but stay reachable through routes.
// - A ModelServer's ModelInfer (`modelInferRef`), when watched, gives `inferReplicas` (its `spec.replicas`, default 1;
//   -1 when unknown): a server with no endpoint whose ModelInfer is at 0 can be started by a request
//   (activation/hold.ts). A rule's `idle` lists its weighted targets that have no endpoint but a known ModelInfer.
// - Each model of a StaticRoute (static-routes.ts: its healthy backends as endpoints, its routingLogic as profile)
//   becomes a server of kind StaticRoute (key `staticroute/<ns>/<name>/<model>`) and a route (key
//   `staticroute/<ns>/<name>`, one rule, no match) indexed under the model name after every ModelRoute of that name:
//   ModelRoutes first, oldest first, then StaticRoutes, oldest first.
// - LoRA adapter Models (controllers/model/adapters.ts): a route labelled `registry.matrixinfer.ai/lora-base` sends its
//   `loraAdapters` only to the pods whose LoRA loader record (api/lora-adapters.ts, valid for the pod's current restart
//   count) lists the adapter: a new or restarted base pod is ready before the loader reached it, and would answer 404.
//   Precomputed per server and adapter name (`adapterEndpoints`); a target with none of the route's adapters loaded
//   anywhere counts as having no ready endpoint. Other routes' LoRA names (--lora-modules) reach every ready pod.
import { GROUP_INDEX_LABEL, MODELINFER_NAME_LABEL, ROLE_LABEL, WARM_LABEL } from '../../api/labels.ts';
import { LORA_BASE_LABEL, loadedAdapters } from '../../api/lora-adapters.ts';
import type { ModelRoute } from '../../api/kinds/modelroute.ts';
import { olderFirst, routingPath, type ModelServer } from '../../api/kinds/modelserver.ts';
import type { SecretLike } from '../auth/apikey.ts';
import { compileModelMatch, type CompiledModelMatch, type CompileProblem } from './match.ts';
import { parseDuration } from '../../kube/units.ts';
import { EndpointRegistry, type Endpoint } from '../scheduling/endpoint.ts';
import type { SchedulingProfile, ServerScheduling } from '../scheduling/scheduler.ts';
import { buildServerScheduling, profileFor } from '../scheduling/profiles.ts';
import { DEFAULT_CIRCUIT, type CircuitConfig } from '../proxy/circuit.ts';
import type { StaticRoute } from '../../api/kinds/productionstack/staticroute.ts';
import { staticModels, type StaticModel } from './static-routes.ts';
import { compileDeprecation, type RouteDeprecation } from './deprecation.ts';
import { kvEventsTarget, type ContainerLike } from '../kv-events/target.ts';

/** Retries on another pod when a ModelServer sets no `routing.retries`. */
export const DEFAULT_RETRIES = 1;

/** The parts of a Pod the gateway reads. */
export interface PodLike {
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string> | null;
    /** The LoRA loader's record (api/lora-adapters.ts). */
    annotations?: Record<string, string> | null;
    deletionTimestamp?: unknown;
  };
  status?: {
    podIP?: string | null;
    conditions?: Array<{ type?: string; status?: string }> | null;
    /** Restart counts: a LoRA record written before the last restart is stale. */
    containerStatuses?: Array<{ restartCount?: number } | null> | null;
  } | null;
  /** For the engine port when `service.targetPort` is unset. */
  spec?: { containers?: Array<ContainerLike & { ports?: Array<{ containerPort?: number }> | null }> | null } | null;
}

/** The parts of a ModelInfer the gateway reads. */
export interface ModelInferLike {
  metadata?: { name?: string; namespace?: string };
  spec?: { replicas?: number } | null;
}

export interface ServerEntry {
  /** A ModelServer, or one model of a StaticRoute (whose name `name` is). */
  kind: 'ModelServer' | 'StaticRoute';
  namespace: string;
  name: string;
  /** `namespace/name`; a StaticRoute's model: `staticroute/namespace/name/model`. */
  key: string;
  /** `spec.model`: requests are rewritten to it. */
  model: string | undefined;
  /** Model name the seed infer path sends: spec.model ?? the oldest route's model name ?? last path segment. */
  inferModel: string;
  engine: string | undefined;
  /** `spec.routing.timeout` in ms (time to the first response byte). */
  timeoutMs: number | undefined;
  /** `spec.routing.retries` ?? DEFAULT_RETRIES: further attempts on other pods. */
  retries: number;
  /** `spec.routing.circuitBreaker` with defaults. */
  circuit: CircuitConfig;
  /** Normalised `spec.routing.path`. */
  path: string | undefined;
  port: number;
  /** Ready endpoints, sorted by pod name. */
  endpoints: Endpoint[];
  /**
   * For the LoRA adapters of routes labelled with a base (adapter Models): the endpoints that have the adapter loaded,
   * by adapter name (a subset of `endpoints`, same order); null when no such route targets this server.
   */
  adapterEndpoints: Map<string, readonly Endpoint[]> | null;
  /** Round-robin cursor for tie-breaking among equally good endpoints. */
  rr: number;
  /** Model names of routes that send traffic here. */
  routeModels: string[];
  /** Keys (`namespace/name`) of the routes that send traffic here (their authorization guards the seed path). */
  routeKeys: string[];
  /**
   * The deprecation of the first route of `inferModel` (a deprecated Model's own route): what the seed paths, which
   * name this server rather than a route, answer with.
   */
  deprecation: RouteDeprecation | null;
  /** Scheduling profile and prefill/decode state (scheduling/profiles.ts); `endpoints` are the decode pods under P/D. */
  scheduling: ServerScheduling;
  /** `namespace/name` of the ModelInfer (`modelInferRef`), or null. */
  inferKey: string | null;
  /** That ModelInfer's `spec.replicas` (default 1); -1 when it is not known (not watched, or absent). */
  inferReplicas: number;
}

export interface RuleEntry {
  index: number;
  name: string | undefined;
  match: CompiledModelMatch | null;
  /** Targets with weight > 0 and at least one ready endpoint, for the weighted choice. */
  targets: ServerEntry[];
  /** Cumulative weights parallel to `targets`. */
  cumulative: number[];
  total: number;
  /** Some target resolves to an existing ModelServer (with or without endpoints). */
  resolvable: boolean;
  /** Targets with weight > 0, no ready endpoint and a known ModelInfer (candidates for a start from zero). */
  idle: ServerEntry[];
}

export interface RouteEntry {
  namespace: string;
  name: string;
  key: string;
  modelName: string | undefined;
  rules: RuleEntry[];
  created: number;
  /** `spec.scheduling`: overrides the target ModelServers' profiles for requests matched by this route. */
  scheduling?: SchedulingProfile;
  /** `spec.deprecation` as response headers (deprecation.ts); null when the route serves no deprecated model. */
  deprecation: RouteDeprecation | null;
}

export interface ModelEntry {
  name: string;
  /** The name is a LoRA adapter of these routes: keep it, do not rewrite to ModelServer.spec.model. */
  lora: boolean;
  routes: RouteEntry[];
  created: number;
}

export interface RoutingTable {
  models: Map<string, ModelEntry>;
  servers: Map<string, ServerEntry>;
  /** `P/infer` → server. */
  inferPaths: Map<string, ServerEntry>;
  /** `P` → server. */
  metaPaths: Map<string, ServerEntry>;
  /** Body of `GET /v1/models`. */
  modelList: Buffer;
  /** Every endpoint in the table. */
  endpoints: Set<Endpoint>;
  /** Things worth a warning (bad regexes, missing servers, duplicate paths). */
  problems: string[];
}

export interface WorldSnapshot {
  routes: readonly ModelRoute[];
  servers: readonly ModelServer[];
  pods: readonly PodLike[];
  /** API-key and TLS Secrets (policy/traffic.ts); the routing table does not read them. */
  secrets?: readonly SecretLike[];
  /** ModelInfers (their replicas, for starts from zero); unset when not watched. */
  infers?: readonly ModelInferLike[];
  /** production-stack StaticRoutes (static-routes.ts); unset when not watched. */
  staticRoutes?: readonly StaticRoute[];
}

export function emptyTable(): RoutingTable {
  return {
    models: new Map(),
    servers: new Map(),
    inferPaths: new Map(),
    metaPaths: new Map(),
    modelList: Buffer.from('{"object":"list","data":[]}'),
    endpoints: new Set(),
    problems: [],
  };
}

export function isPodReady(pod: PodLike): boolean {
  const md = pod.metadata;
  if (!md || md.deletionTimestamp) return false;
  const st = pod.status;
  if (!st || typeof st.podIP !== 'string' || st.podIP === '') return false;
  const conds = st.conditions;
  if (!Array.isArray(conds)) return false;
  for (const c of conds) if (c && c.type === 'Ready') return c.status === 'True';
  return false;
}

export function toMillis(ts: unknown): number {
  if (ts instanceof Date) return ts.getTime();
  if (typeof ts === 'string') {
    const t = Date.parse(ts);
    return Number.isNaN(t) ? 0 : t;
  }
  return 0;
}

function circuitConfig(
  cb: { consecutiveFailures?: number; baseEjectionTime?: string; maxEjectionTime?: string } | undefined,
  key: string,
  problems: string[],
): CircuitConfig {
  if (cb === undefined || cb === null) return DEFAULT_CIRCUIT;
  const duration = (field: string, v: string | undefined, dflt: number): number => {
    if (v === undefined) return dflt;
    const ms = parseDuration(v);
    if (ms === undefined || ms <= 0) {
      problems.push(`ModelServer ${key}: invalid routing.circuitBreaker.${field} ${JSON.stringify(v)}`);
      return dflt;
    }
    return ms;
  };
  const base = duration('baseEjectionTime', cb.baseEjectionTime, DEFAULT_CIRCUIT.baseEjectionMs);
  const max = duration('maxEjectionTime', cb.maxEjectionTime, Math.max(DEFAULT_CIRCUIT.maxEjectionMs, base));
  const n = cb.consecutiveFailures;
  return {
    consecutiveFailures: typeof n === 'number' && n >= 1 ? Math.floor(n) : DEFAULT_CIRCUIT.consecutiveFailures,
    baseEjectionMs: base,
    maxEjectionMs: Math.max(max, base),
  };
}

export function buildRoutingTable(world: WorldSnapshot, registry: EndpointRegistry = new EndpointRegistry()): RoutingTable {
  const table = emptyTable();
  const problems = table.problems;

  // Ready pods by namespace + ModelInfer name; the LoRA adapters each endpoint has loaded.
  const podsByInfer = new Map<string, PodLike[]>();
  const loaded = new Map<Endpoint, ReadonlySet<string>>();
  for (const pod of world.pods) {
    const label = pod.metadata?.labels?.[MODELINFER_NAME_LABEL];
    if (!label || !isPodReady(pod)) continue;
    // Warm-pool pods (ModelInfer spec.warmPool) are Ready while asleep (/health answers 200) but never routed: the
    // ModelInfer controller removes the label once a claimed pod is awake, and only then does it become an endpoint.
    if (pod.metadata?.labels?.[WARM_LABEL] === 'true') continue;
    const k = `${pod.metadata?.namespace ?? ''}\0${label}`;
    let list = podsByInfer.get(k);
    if (!list) podsByInfer.set(k, (list = []));
    list.push(pod);
  }

  // ModelInfer replicas by namespace/name.
  const inferReplicas = new Map<string, number>();
  for (const mi of world.infers ?? []) {
    const r = mi.spec?.replicas;
    if (mi.metadata?.name) inferReplicas.set(`${mi.metadata.namespace ?? 'default'}/${mi.metadata.name}`, typeof r === 'number' && r >= 0 ? r : 1);
  }

  // Servers.
  const servers = [...world.servers].filter((s) => s?.metadata?.name && s.spec).sort(olderFirst);
  for (const ms of servers) {
    const namespace = ms.metadata.namespace ?? 'default';
    const name = ms.metadata.name!;
    const key = `${namespace}/${name}`;
    const spec = ms.spec;
    const port = spec.service?.port;
    const targetPort = spec.service?.targetPort;
    const inferName = spec.modelInferRef?.name;
    const inferNs = spec.modelInferRef?.namespace || namespace;
    const endpoints: Endpoint[] = [];
    if (typeof port === 'number' && port > 0 && inferName) {
      const pods = podsByInfer.get(`${inferNs}\0${inferName}`) ?? [];
      for (const pod of pods) {
        const ep = registry.obtain(pod.metadata!.namespace ?? inferNs, pod.metadata!.name ?? '', pod.status!.podIP!, targetPort ?? containerPort(pod) ?? port);
        const labels = pod.metadata!.labels!;
        ep.engine = spec.inferenceEngine === 'SGLang' ? 'sglang' : 'vllm';
        ep.role = labels[ROLE_LABEL] ?? '';
        ep.group = labels[spec.pdDisaggregation?.groupLabel || GROUP_INDEX_LABEL] ?? '';
        const kv = kvEventsTarget(pod.spec?.containers, ep.ip, spec.model ?? '');
        if (kv.problem) problems.push(`Pod ${ep.podKey}: KV events: ${kv.problem}`);
        // Keep the same target object while nothing changed (it carries the hasher).
        if (kv.target === null) ep.kvEvents = null;
        else if (ep.kvEvents?.key !== kv.target.key) ep.kvEvents = kv.target;
        loaded.set(ep, loadedAdapters(pod));
        endpoints.push(ep);
        table.endpoints.add(ep);
      }
      endpoints.sort((a, b) => (a.podName < b.podName ? -1 : a.podName > b.podName ? 1 : 0));
    } else {
      problems.push(`ModelServer ${key}: no service port or modelInferRef`);
    }
    let timeoutMs: number | undefined;
    if (spec.routing?.timeout !== undefined) {
      timeoutMs = parseDuration(spec.routing.timeout);
      if (timeoutMs === undefined || timeoutMs <= 0) {
        problems.push(`ModelServer ${key}: invalid routing.timeout ${JSON.stringify(spec.routing.timeout)}`);
        timeoutMs = undefined;
      }
    }
    const retries = typeof spec.routing?.retries === 'number' && spec.routing.retries >= 0 ? Math.floor(spec.routing.retries) : DEFAULT_RETRIES;
    const circuit = circuitConfig(spec.routing?.circuitBreaker, key, problems);
    const path = routingPath(spec);
    const sched = buildServerScheduling(spec, endpoints, problems, key);
    table.servers.set(key, {
      kind: 'ModelServer',
      namespace,
      name,
      key,
      model: spec.model || undefined,
      inferModel: '',
      engine: spec.inferenceEngine,
      timeoutMs,
      retries,
      circuit,
      path,
      port: typeof port === 'number' ? port : 0,
      endpoints: sched.endpoints,
      adapterEndpoints: null,
      rr: 0,
      routeModels: [],
      routeKeys: [],
      deprecation: null,
      scheduling: sched.scheduling,
      inferKey: inferName ? `${inferNs}/${inferName}` : null,
      inferReplicas: inferName ? (inferReplicas.get(`${inferNs}/${inferName}`) ?? -1) : -1,
    });
  }

  // Routes.
  const routes = [...world.routes].filter((r) => r?.metadata?.name && r.spec && Array.isArray(r.spec.rules)).sort(olderFirst);
  for (const mr of routes) {
    const namespace = mr.metadata.namespace ?? 'default';
    const name = mr.metadata.name!;
    const key = `${namespace}/${name}`;
    const created = toMillis(mr.metadata.creationTimestamp);
    const modelName = mr.spec.modelName || undefined;
    // An adapter Model's route: its LoRA names go only to pods that have them loaded.
    const loaderAdapters = mr.metadata.labels?.[LORA_BASE_LABEL] ? (mr.spec.loraAdapters ?? []).filter(Boolean) : [];
    const rules: RuleEntry[] = [];
    mr.spec.rules.forEach((rule, index) => {
      const compileProblems: CompileProblem[] = [];
      const match = compileModelMatch(rule, compileProblems);
      for (const p of compileProblems) problems.push(`ModelRoute ${key} rule ${rule.name ?? index}: ${p.message}`);
      const entry: RuleEntry = { index, name: rule.name, match, targets: [], cumulative: [], total: 0, resolvable: false, idle: [] };
      for (const t of rule.targetModels ?? []) {
        const server = table.servers.get(`${namespace}/${t.modelServerName}`);
        if (!server) {
          problems.push(`ModelRoute ${key}: ModelServer ${namespace}/${t.modelServerName} not found`);
          continue;
        }
        entry.resolvable = true;
        if (modelName && !server.routeModels.includes(modelName)) server.routeModels.push(modelName);
        if (!server.routeKeys.includes(key)) server.routeKeys.push(key);
        const weight = t.weight ?? 100;
        if (!(weight > 0)) continue;
        if (server.endpoints.length > 0 && loaderAdapters.length > 0 && !adapterLoaded(server, loaderAdapters, loaded)) continue;
        if (server.endpoints.length === 0) {
          if (server.inferReplicas >= 0 && !entry.idle.includes(server)) entry.idle.push(server);
          continue;
        }
        entry.total += weight;
        entry.targets.push(server);
        entry.cumulative.push(entry.total);
      }
      rules.push(entry);
    });
    const route: RouteEntry = { namespace, name, key, modelName, rules, created, deprecation: compileDeprecation(mr.spec.deprecation, key, problems) };
    if (mr.spec.scheduling !== undefined) route.scheduling = profileFor(mr.spec.scheduling);
    const names: Array<[string, boolean]> = [];
    if (modelName) names.push([modelName, false]);
    for (const lora of mr.spec.loraAdapters ?? []) if (lora && lora !== modelName) names.push([lora, true]);
    if (names.length === 0) problems.push(`ModelRoute ${key}: neither modelName nor loraAdapters`);
    for (const [n, lora] of names) {
      let me = table.models.get(n);
      if (!me) table.models.set(n, (me = { name: n, lora, routes: [], created }));
      // A name that is some route's modelName is a base model, whatever else lists it as an adapter.
      if (!lora) me.lora = false;
      me.routes.push(route);
    }
  }

  // StaticRoutes, after every ModelRoute: for a name both serve, the ModelRoutes come first.
  for (const sm of staticModels(world.staticRoutes ?? [], registry, problems)) addStaticModel(table, sm);

  // Seed infer paths and the model the infer path asks for.
  for (const server of table.servers.values()) {
    const segs = server.path?.split('/').filter(Boolean) ?? [];
    server.inferModel = server.model ?? server.routeModels[0] ?? segs[segs.length - 1] ?? server.name;
    server.deprecation = table.models.get(server.inferModel)?.routes[0]?.deprecation ?? null;
    if (server.path === undefined) continue;
    const inferPath = server.path === '/' ? '/infer' : `${server.path}/infer`;
    const owner = table.metaPaths.get(server.path);
    if (owner) {
      problems.push(`ModelServer ${server.key}: routing.path ${server.path} already used by ${owner.key}`);
      continue;
    }
    table.metaPaths.set(server.path, server);
    table.inferPaths.set(inferPath, server);
  }

  // GET /v1/models.
  const data = [...table.models.values()]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map(modelObject);
  table.modelList = Buffer.from(JSON.stringify({ object: 'list', data }));

  registry.retain(table.endpoints);
  return table;
}

/**
 * A model as `/v1/models` lists it; a name whose first route (the one that serves it) is deprecated says so, with its
 * successor and message when given.
 */
export function modelObject(m: ModelEntry): Record<string, unknown> {
  const deprecation = m.routes[0]?.deprecation;
  return {
    id: m.name,
    object: 'model',
    created: Math.floor(m.created / 1000),
    owned_by: 'matrixinfer',
    ...(deprecation ? { deprecated: true } : {}),
    ...(deprecation?.successor ? { successor: deprecation.successor } : {}),
    ...(deprecation?.message ? { deprecation_message: deprecation.message } : {}),
  };
}

/**
 * Fill `server.adapterEndpoints` for `adapters` (each: the server's endpoints that have it loaded); whether any of them
 * is loaded on some endpoint.
 */
function adapterLoaded(server: ServerEntry, adapters: readonly string[], loaded: ReadonlyMap<Endpoint, ReadonlySet<string>>): boolean {
  const byAdapter = (server.adapterEndpoints ??= new Map());
  let any = false;
  for (const adapter of adapters) {
    let eps = byAdapter.get(adapter);
    if (eps === undefined) byAdapter.set(adapter, (eps = server.endpoints.filter((ep) => loaded.get(ep)?.has(adapter) === true)));
    if (eps.length > 0) any = true;
  }
  return any;
}

/**
 * The endpoints that may serve a request for `model` on `server`: for a LoRA adapter the loader manages, the pods
 * that have it loaded; otherwise all of the server's. A map lookup, no allocation (request path).
 */
export function servingEndpoints(server: ServerEntry, model: string, lora: boolean): readonly Endpoint[] {
  if (!lora) return server.endpoints;
  const byAdapter = server.adapterEndpoints;
  if (byAdapter === null) return server.endpoints;
  return byAdapter.get(model) ?? server.endpoints;
}

/** One model of a StaticRoute as a server (its healthy backends the endpoints) and a one-rule route to it. */
function addStaticModel(table: RoutingTable, sm: StaticModel): void {
  const { namespace, name, model } = sm;
  const routeKey = `staticroute/${namespace}/${name}`;
  const created = toMillis(sm.creationTimestamp);
  const sched = buildServerScheduling({ scheduling: sm.scheduling }, sm.endpoints, table.problems, routeKey);
  const server: ServerEntry = {
    kind: 'StaticRoute',
    namespace,
    name,
    key: `${routeKey}/${model}`,
    model: undefined,
    inferModel: model,
    engine: 'vLLM',
    timeoutMs: undefined,
    retries: DEFAULT_RETRIES,
    circuit: DEFAULT_CIRCUIT,
    path: undefined,
    port: 0,
    endpoints: sched.endpoints,
    adapterEndpoints: null,
    rr: 0,
    routeModels: [model],
    routeKeys: [routeKey],
    deprecation: null,
    scheduling: sched.scheduling,
    inferKey: null,
    inferReplicas: -1,
  };
  table.servers.set(server.key, server);
  for (const ep of server.endpoints) table.endpoints.add(ep);
  const ready = server.endpoints.length > 0;
  const rule: RuleEntry = { index: 0, name: undefined, match: null, targets: ready ? [server] : [], cumulative: ready ? [100] : [], total: ready ? 100 : 0, resolvable: true, idle: [] };
  let entry = table.models.get(model);
  // A name some ModelRoute lists only as a LoRA adapter stays one (its requests are not rewritten either way).
  if (entry === undefined) table.models.set(model, (entry = { name: model, lora: false, routes: [], created }));
  entry.routes.push({ namespace, name, key: routeKey, modelName: model, rules: [rule], created, deprecation: null });
}

/** The first containerPort a pod declares (the engine's), if any. */
function containerPort(pod: PodLike): number | undefined {
  const containers = pod.spec?.containers ?? [];
  for (const c of containers) for (const p of c.ports ?? []) if (typeof p.containerPort === 'number' && p.containerPort > 0) return p.containerPort;
  return undefined;
}
