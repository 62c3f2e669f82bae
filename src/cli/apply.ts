// `matrixinfer apply -f`: validate every object with a server-side dry run first, then create or replace.
// Either every object passes validation or nothing is written.
import type { KubeObject } from '../api/admission.ts';
import { resourcePath, type ApiResource } from '../kube/discovery.ts';
import { rest, toApiError, KubeApiError } from '../kube/rest.ts';
import type { ClientContext } from './context.ts';
import { readManifests } from './manifests.ts';

interface Planned {
  source: string;
  object: KubeObject;
  resource: ApiResource;
  namespace: string | undefined;
}

function describeTarget(p: Planned): string {
  const group = p.resource.group ? `.${p.resource.group}` : '';
  return `${p.resource.singular}${group}/${p.object.metadata.name}`;
}

async function getExisting(ctx: ClientContext, p: Planned): Promise<KubeObject | undefined> {
  const response = await rest(ctx.kc, { method: 'GET', path: resourcePath(p.resource, p.namespace, p.object.metadata.name) });
  if (response.status === 404) return undefined;
  if (response.status !== 200) throw toApiError(response);
  return JSON.parse(response.body) as KubeObject;
}

/** The object to PUT over `existing`: the manifest's content, the server's bookkeeping and status. */
function replacement(manifest: KubeObject, existing: KubeObject): KubeObject {
  return {
    ...manifest,
    metadata: {
      ...existing.metadata,
      labels: manifest.metadata.labels ?? existing.metadata.labels,
      annotations: manifest.metadata.annotations ?? existing.metadata.annotations,
      finalizers: manifest.metadata.finalizers ?? existing.metadata.finalizers,
    },
    ...(existing.status !== undefined ? { status: existing.status } : {}),
  };
}

async function write(ctx: ClientContext, p: Planned, dryRun: boolean): Promise<'created' | 'configured' | 'unchanged'> {
  const query = dryRun ? '?dryRun=All&fieldValidation=Strict' : '?fieldValidation=Strict';
  for (let attempt = 0; ; attempt++) {
    const existing = await getExisting(ctx, p);
    const response = existing
      ? await rest(ctx.kc, { method: 'PUT', path: resourcePath(p.resource, p.namespace, p.object.metadata.name) + query, body: replacement(p.object, existing) })
      : await rest(ctx.kc, { method: 'POST', path: resourcePath(p.resource, p.namespace) + query, body: p.object });
    if (response.status === 409 && attempt < 5) continue; // raced with a controller: re-read and retry
    if (response.status >= 300) throw toApiError(response);
    if (!existing) return 'created';
    const stored = JSON.parse(response.body) as KubeObject;
    return stored.metadata.resourceVersion === existing.metadata.resourceVersion ? 'unchanged' : 'configured';
  }
}

/** Applies the manifests; returns the Models applied (for `--wait`). */
export async function apply(ctx: ClientContext, files: string[], out: (line: string) => void): Promise<{ namespace: string; name: string }[]> {
  const resources = await ctx.resources();
  const planned: Planned[] = [];
  const problems: string[] = [];
  for (const { source, object } of readManifests(files)) {
    const resource = resources.byKind(object.apiVersion, object.kind);
    if (!resource) {
      problems.push(`${source}: no matches for kind "${object.kind}" in version "${object.apiVersion}"`);
      continue;
    }
    planned.push({ source, object, resource, namespace: resource.namespaced ? (object.metadata.namespace ?? ctx.namespace) : undefined });
  }
  for (const p of planned) {
    try {
      await write(ctx, p, true);
    } catch (error) {
      if (!(error instanceof KubeApiError)) throw error;
      problems.push(`${p.source}: ${error.message}`);
    }
  }
  if (problems.length > 0) throw new Error(`nothing was applied:\n${problems.join('\n')}`);
  for (const p of planned) out(`${describeTarget(p)} ${await write(ctx, p, false)}`);
  return planned
    .filter((p) => p.object.kind === 'Model' && p.object.apiVersion.startsWith('registry.matrixinfer.ai/'))
    .map((p) => ({ namespace: p.namespace ?? ctx.namespace, name: p.object.metadata.name! }));
}
