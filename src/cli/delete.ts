// `matrixinfer delete`: by resource and names, or by manifest files; background cascading deletion; waits
// until the objects are gone (finalizers and graceful pod shutdown included), like kubectl.
import { setTimeout as sleep } from 'node:timers/promises';
import { resourcePath, type ApiResource } from '../kube/discovery.ts';
import { rest, toApiError } from '../kube/rest.ts';
import type { ClientContext } from './context.ts';
import { resolveResources } from './get.ts';
import { readManifests } from './manifests.ts';

interface Target {
  resource: ApiResource;
  namespace: string | undefined;
  name: string;
}

export interface DeleteOptions {
  files?: string[];
  wait?: boolean;
  ignoreNotFound?: boolean;
  timeoutSeconds?: number;
}

async function targets(ctx: ClientContext, words: string | undefined, names: string[], files: string[]): Promise<Target[]> {
  if (files.length > 0) {
    const resources = await ctx.resources();
    return readManifests(files).map(({ source, object }) => {
      const resource = resources.byKind(object.apiVersion, object.kind);
      if (!resource) throw new Error(`${source}: no matches for kind "${object.kind}" in version "${object.apiVersion}"`);
      return { resource, namespace: resource.namespaced ? (object.metadata.namespace ?? ctx.namespace) : undefined, name: object.metadata.name! };
    });
  }
  if (!words || names.length === 0) throw new Error('delete needs a resource type and names, or -f FILE');
  const [resource] = await resolveResources(ctx, words);
  return names.map((name) => ({ resource: resource!, namespace: resource!.namespaced ? ctx.namespace : undefined, name }));
}

export async function del(ctx: ClientContext, words: string | undefined, names: string[], options: DeleteOptions, out: (line: string) => void): Promise<void> {
  const list = await targets(ctx, words, names, options.files ?? []);
  const deleted: Target[] = [];
  for (const target of list) {
    const response = await rest(ctx.kc, {
      method: 'DELETE',
      path: resourcePath(target.resource, target.namespace, target.name),
      body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' },
    });
    const label = `${target.resource.singular}${target.resource.group ? '.' + target.resource.group : ''} "${target.name}"`;
    if (response.status === 404) {
      if (!options.ignoreNotFound) throw new Error(`${label} not found`);
      continue;
    }
    if (response.status >= 300) throw toApiError(response);
    out(`${label} deleted`);
    deleted.push(target);
  }
  if (options.wait === false) return;
  const deadline = Date.now() + (options.timeoutSeconds ?? 60) * 1000;
  for (const target of deleted) {
    while ((await rest(ctx.kc, { method: 'GET', path: resourcePath(target.resource, target.namespace, target.name) })).status !== 404) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${target.resource.plural}/${target.name} to be deleted`);
      await sleep(200);
    }
  }
}
