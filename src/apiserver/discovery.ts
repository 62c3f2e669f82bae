// Discovery documents: legacy (/api, /apis, /apis/<g>, /api/v1, /apis/<g>/<v>) and aggregated
// (apidiscovery.k8s.io/v2 APIGroupDiscoveryList, which kubectl 1.30+ asks for first and which saves it one request
// per group version). Both are derived from the registry, so a CRD shows up the moment it is established.
import { apiVersionOf, type Registry, type ResourceType } from './registry.ts';

interface SubresourceInfo {
  name: string;
  kind: string;
  group?: string;
  version?: string;
  verbs: string[];
}

function subresourceInfo(rt: ResourceType, sub: string): SubresourceInfo | undefined {
  switch (sub) {
    case 'status':
      return { name: 'status', kind: rt.kind, verbs: ['get', 'patch', 'update'] };
    case 'scale':
      return { name: 'scale', kind: 'Scale', group: 'autoscaling', version: 'v1', verbs: ['get', 'patch', 'update'] };
    case 'log':
      return { name: 'log', kind: 'Pod', verbs: ['get'] };
    case 'binding':
      return { name: 'binding', kind: 'Binding', verbs: ['create'] };
    default:
      return undefined;
  }
}

export function apiVersions(serverAddress: string): Record<string, unknown> {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function groupEntry(group: string, versions: string[]): Record<string, unknown> {
  const vs = versions.map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
  return { name: group, versions: vs, preferredVersion: vs[0] };
}

export function apiGroupList(registry: Registry): Record<string, unknown> {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: registry.groups().filter((g) => g.group !== '').map((g) => groupEntry(g.group, g.versions)),
  };
}

export function apiGroup(registry: Registry, group: string): Record<string, unknown> | undefined {
  const g = registry.groups().find((x) => x.group === group);
  if (!g || group === '') return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...groupEntry(g.group, g.versions) };
}

export function apiResourceList(registry: Registry, group: string, version: string): Record<string, unknown> | undefined {
  const types = registry.resourcesIn(group, version);
  if (types.length === 0) return undefined;
  const resources: Record<string, unknown>[] = [];
  for (const rt of types) {
    const r: Record<string, unknown> = { name: rt.plural, singularName: rt.singular, namespaced: rt.namespaced, kind: rt.kind, verbs: rt.verbs };
    if (rt.shortNames.length) r.shortNames = rt.shortNames;
    if (rt.categories.length) r.categories = rt.categories;
    resources.push(r);
    for (const sub of rt.subresources) {
      const info = subresourceInfo(rt, sub);
      if (!info) continue;
      const s: Record<string, unknown> = { name: `${rt.plural}/${sub}`, singularName: '', namespaced: rt.namespaced, kind: info.kind, verbs: info.verbs };
      if (info.group) s.group = info.group;
      if (info.version) s.version = info.version;
      resources.push(s);
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf({ group, version }), resources };
}

function discoveryResource(rt: ResourceType): Record<string, unknown> {
  const r: Record<string, unknown> = {
    resource: rt.plural,
    responseKind: { group: rt.group, version: rt.version, kind: rt.kind },
    scope: rt.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: rt.singular,
    verbs: rt.verbs,
  };
  if (rt.shortNames.length) r.shortNames = rt.shortNames;
  if (rt.categories.length) r.categories = rt.categories;
  const subs = rt.subresources.map((s) => subresourceInfo(rt, s)).filter((s): s is SubresourceInfo => !!s);
  if (subs.length) {
    r.subresources = subs.map((s) => ({
      subresource: s.name,
      responseKind: { group: s.group ?? rt.group, version: s.version ?? rt.version, kind: s.kind },
      verbs: s.verbs,
    }));
  }
  return r;
}

/** Aggregated discovery for `/api` (legacy: core only) or `/apis` (every named group). */
export function aggregatedDiscovery(registry: Registry, legacy: boolean, version: 'v2' | 'v2beta1'): Record<string, unknown> {
  const groups = registry.groups().filter((g) => (legacy ? g.group === '' : g.group !== ''));
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: `apidiscovery.k8s.io/${version}`,
    metadata: {},
    items: groups.map((g) => ({
      metadata: legacy ? { creationTimestamp: null } : { name: g.group, creationTimestamp: null },
      versions: g.versions.map((v) => ({
        version: v,
        resources: registry.resourcesIn(g.group, v).map(discoveryResource),
        freshness: 'Current',
      })),
    })),
  };
}

export const AGGREGATED_CONTENT_TYPE = (version: string) => `application/json;g=apidiscovery.k8s.io;v=${version};as=APIGroupDiscoveryList`;

export function versionInfo(): Record<string, unknown> {
  return {
    major: '1',
    minor: '34',
    emulationMajor: '1',
    emulationMinor: '34',
    minCompatibilityMajor: '1',
    minCompatibilityMinor: '33',
    gitVersion: 'v1.34.0',
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2025-08-27T00:00:00Z',
    goVersion: 'go1.24.6',
    compiler: 'gc',
    platform: `linux/${process.arch === 'x64' ? 'amd64' : process.arch}`,
  };
}
