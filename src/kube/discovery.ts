// A small RESTMapper: which resources the API server serves, and how a user's word ("models", "mi", "po",
// "models.registry.matrixinfer.ai") or a manifest's apiVersion+kind maps to a REST path.
import type { KubeConfig } from '@kubernetes/client-node';
import { restJson } from './rest.ts';

export interface ApiResource {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  namespaced: boolean;
}

interface APIResourceList {
  groupVersion: string;
  resources: { name: string; singularName?: string; kind: string; namespaced: boolean; shortNames?: string[] }[];
}
interface APIGroupList {
  groups: { name: string; preferredVersion?: { groupVersion: string }; versions: { groupVersion: string }[] }[];
}

export class ResourceMap {
  readonly resources: ApiResource[];
  constructor(resources: ApiResource[]) {
    this.resources = resources;
  }

  /** Resolve what a user typed on the command line. */
  byName(word: string): ApiResource | undefined {
    const lower = word.toLowerCase();
    const dot = lower.indexOf('.');
    const [name, group] = dot > 0 ? [lower.slice(0, dot), lower.slice(dot + 1)] : [lower, undefined];
    return this.resources.find(
      (r) =>
        (group === undefined || r.group === group) &&
        (r.plural === name || r.singular === name || r.kind.toLowerCase() === name || r.shortNames.includes(name)),
    );
  }

  byKind(apiVersion: string, kind: string): ApiResource | undefined {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/', 2) : ['', apiVersion];
    return this.resources.find((r) => r.group === group && r.version === version && r.kind === kind);
  }
}

/** REST path of a collection or, with a name, of one object. */
export function resourcePath(resource: ApiResource, namespace: string | undefined, name?: string): string {
  const base = resource.group === '' ? `/api/${resource.version}` : `/apis/${resource.group}/${resource.version}`;
  const ns = resource.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const tail = name ? `/${encodeURIComponent(name)}` : '';
  return `${base}${ns}/${resource.plural}${tail}`;
}

function toResources(list: APIResourceList): ApiResource[] {
  const [group, version] = list.groupVersion.includes('/') ? list.groupVersion.split('/', 2) : ['', list.groupVersion];
  return list.resources
    .filter((r) => !r.name.includes('/'))
    .map((r) => ({
      group: group!,
      version: version!,
      kind: r.kind,
      plural: r.name,
      singular: r.singularName || r.kind.toLowerCase(),
      shortNames: r.shortNames ?? [],
      namespaced: r.namespaced,
    }));
}

export async function discoverResources(kc: KubeConfig): Promise<ResourceMap> {
  const core = await restJson<APIResourceList>(kc, { method: 'GET', path: '/api/v1' });
  const groups = await restJson<APIGroupList>(kc, { method: 'GET', path: '/apis' });
  const lists = await Promise.all(
    groups.groups.map((g) => {
      const gv = g.preferredVersion?.groupVersion ?? g.versions[0]?.groupVersion;
      return gv ? restJson<APIResourceList>(kc, { method: 'GET', path: `/apis/${gv}` }) : undefined;
    }),
  );
  const resources = toResources(core);
  for (const list of lists) if (list) resources.push(...toResources(list));
  return new ResourceMap(resources);
}
