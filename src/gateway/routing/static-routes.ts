// StaticRoutes (production-stack.vllm.ai) in the routing table: engines MatrixInfer does not run, served like a
// ModelServer's pods. This file reads the StaticRoutes (pure: endpoints, profile, problems); the table build
// (table.ts) turns each model into ordinary entries, so requests see nothing new.
//
// Rules of the build:
// - Each model name of a StaticRoute (`staticModels[i]` served by `staticBackends[i]`) becomes one synthetic server
//   (kind StaticRoute, key `staticroute/<ns>/<name>/<model>`) whose endpoints are the backends listed with that name:
//   several backends with the same model are one server with several endpoints; a URL listed twice counts once.
// - A backend is an endpoint while the StaticRoute's `status.backends[]` (written by the controller's health probes,
//   controllers/productionstack/static-route.ts) says `healthy: true` for its URL; a backend without a status entry
//   (not probed yet, the controller not running) is left out, as a pod is until Ready. The gateway's own circuit
//   breaker ejects a backend that fails in between, as it does pods.
// - Endpoints: `http://host:port` (port 80 when the URL has none). A host name is kept as it is and resolved by the
//   system resolver (getaddrinfo through net.connect; both address families tried) each time the pool opens a
//   connection, so a DNS change reaches new connections; keep-alive connections stay where they are. Endpoint objects
//   are keyed by namespace and `host:port`, so two StaticRoutes of a namespace naming one backend share its counters.
// - Refused, each with a routing-table problem: https:// backends (the gateway's upstream client, http1/client.ts,
//   speaks cleartext HTTP/1.1 only), backends with a path (requests go to the backend's root, as to a pod), and
//   anything that is not an http URL with a host (admission refuses those already).
// - `routingLogic` chooses the scheduling profile (scheduling/profiles.ts): roundrobin → round-robin; session →
//   session-affinity on the `sessionKey` header, else the cookie of that name; prefixaware → prefix-affinity;
//   kvaware → prefix-cache 3, queue 1, lora-affinity 2, kv-cache 1, from the backends' vLLM /metrics, which the metrics scraper reads like
//   a pod's (a backend that exports none scores on the gateway's in-flight counts instead).
// - A model name that a ModelRoute also serves: the ModelRoutes come first (oldest first), then StaticRoutes (oldest
//   first); a route whose matched rule has no ready target hands over to the next (routing/select.ts), so a
//   StaticRoute serves such a name only while no ModelRoute for it can.
// - A StaticRoute's models have no authentication, authorization, rate limit or response cache (the kind has no
//   fields for them; the policy is keyed by ModelServer and ModelRoute), and no seed path.
import { olderFirst, type SchedulingSpec } from '../../api/kinds/modelserver.ts';
import { backendUrlProblem, staticEntries, type StaticRoute } from '../../api/kinds/productionstack/staticroute.ts';
import type { EndpointRegistry, Endpoint } from '../scheduling/endpoint.ts';
import { DEFAULT_SESSION_HEADER } from '../scheduling/profiles.ts';

/** One model of one StaticRoute: what the table build makes a server and a route of. */
export interface StaticModel {
  namespace: string;
  /** The StaticRoute's name. */
  name: string;
  model: string;
  creationTimestamp: unknown;
  /** Healthy backends serving `model`, sorted by `host:port`. */
  endpoints: Endpoint[];
  scheduling: SchedulingSpec;
}

const ROUND_ROBIN: SchedulingSpec = { policy: 'round-robin' };
const PREFIX_AWARE: SchedulingSpec = { policy: 'prefix-affinity' };
const KV_AWARE: SchedulingSpec = {
  policy: 'default',
  scorers: [
    { name: 'prefix-cache', weight: 3 },
    { name: 'queue', weight: 1 },
    { name: 'lora-affinity', weight: 2 },
    { name: 'kv-cache', weight: 1 },
  ],
};

/** The scheduling section a StaticRoute's `routingLogic` stands for. */
export function staticScheduling(spec: Pick<StaticRoute['spec'], 'routingLogic' | 'sessionKey'>): SchedulingSpec {
  switch (spec.routingLogic) {
    case 'session': {
      const key = spec.sessionKey ?? DEFAULT_SESSION_HEADER;
      return { policy: 'session-affinity', sessionAffinity: { header: key, cookie: key } };
    }
    case 'prefixaware':
      return PREFIX_AWARE;
    case 'kvaware':
      return KV_AWARE;
    default:
      return ROUND_ROBIN;
  }
}

/** Why the gateway cannot send to this backend URL (beyond admission's checks), or undefined. */
function unusable(url: URL): string | undefined {
  if (url.protocol === 'https:') return "is https: the gateway's upstream client speaks cleartext HTTP only";
  if (url.pathname !== '/') return `has a path (${url.pathname}): requests go to the backend's root`;
  return undefined;
}

/** The models of these StaticRoutes, oldest route first, each with its healthy backends as endpoints. */
export function staticModels(staticRoutes: readonly StaticRoute[], registry: EndpointRegistry, problems: string[]): StaticModel[] {
  const out: StaticModel[] = [];
  const routes = staticRoutes.filter((r) => r?.metadata?.name && typeof r.spec?.staticBackends === 'string' && typeof r.spec.staticModels === 'string').sort(olderFirst);
  for (const sr of routes) {
    const namespace = sr.metadata.namespace ?? 'default';
    const name = sr.metadata.name!;
    const healthy = new Set<string>();
    for (const b of sr.status?.backends ?? []) if (b?.healthy === true && typeof b.url === 'string') healthy.add(b.url);
    const scheduling = staticScheduling(sr.spec);
    const byModel = new Map<string, StaticModel>();
    for (const { url, model } of staticEntries(sr.spec)) {
      if (model === '') continue;
      let entry = byModel.get(model);
      if (entry === undefined) byModel.set(model, (entry = { namespace, name, model, creationTimestamp: sr.metadata.creationTimestamp, endpoints: [], scheduling }));
      const problem = backendUrlProblem(url);
      const parsed = problem === undefined ? new URL(url) : undefined;
      const refused = problem ?? unusable(parsed!);
      if (refused !== undefined) {
        problems.push(`StaticRoute ${namespace}/${name}: backend ${JSON.stringify(url)} for ${model} ${refused}; left out`);
        continue;
      }
      if (!healthy.has(url)) continue;
      const host = parsed!.hostname;
      const ep = registry.obtain(namespace, parsed!.host, host.startsWith('[') ? host.slice(1, -1) : host, parsed!.port === '' ? 80 : Number(parsed!.port));
      ep.engine = 'vllm';
      ep.role = '';
      ep.group = '';
      if (!entry.endpoints.includes(ep)) entry.endpoints.push(ep);
    }
    for (const entry of byModel.values()) {
      entry.endpoints.sort((a, b) => (a.podName < b.podName ? -1 : a.podName > b.podName ? 1 : 0));
      out.push(entry);
    }
  }
  return out;
}
