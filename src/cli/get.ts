// `matrixinfer get`: lists or shows objects using the server's Table printing (the CRDs' printer columns).
import { stringify } from 'yaml';
import { resourcePath, type ApiResource } from '../kube/discovery.ts';
import { restJson, openStream } from '../kube/rest.ts';
import type { KubeObject } from '../api/admission.ts';
import type { ClientContext } from './context.ts';
import { alignColumns, renderTable, type Table } from './table.ts';

const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

export interface GetOptions {
  allNamespaces?: boolean;
  output?: 'yaml' | 'json' | 'wide' | 'name';
  selector?: string;
  watch?: boolean;
}

export async function resolveResources(ctx: ClientContext, words: string): Promise<ApiResource[]> {
  const resources = await ctx.resources();
  return words.split(',').map((word) => {
    const resource = resources.byName(word);
    if (!resource) throw new Error(`the server doesn't have a resource type "${word}"`);
    return resource;
  });
}

function query(options: GetOptions): string {
  const params = new URLSearchParams();
  if (options.selector) params.set('labelSelector', options.selector);
  const text = params.toString();
  return text ? `?${text}` : '';
}

function stripNoise(object: KubeObject): KubeObject {
  const { managedFields: _ignored, ...metadata } = object.metadata;
  return { ...object, metadata };
}

export async function get(ctx: ClientContext, words: string, names: string[], options: GetOptions, out: (text: string) => void): Promise<void> {
  const targets = await resolveResources(ctx, words);
  const namespace = options.allNamespaces ? undefined : ctx.namespace;
  if (options.watch) return watch(ctx, targets[0]!, namespace, options, out);
  const structured: KubeObject[] = [];
  const blocks: string[] = [];
  for (const resource of targets) {
    const withNamespace = resource.namespaced && !!options.allNamespaces;
    if (options.output === 'yaml' || options.output === 'json' || options.output === 'name') {
      if (names.length > 0) {
        for (const name of names) structured.push(await restJson<KubeObject>(ctx.kc, { method: 'GET', path: resourcePath(resource, namespace, name) }));
      } else {
        const list = await restJson<{ items: KubeObject[] }>(ctx.kc, { method: 'GET', path: resourcePath(resource, namespace) + query(options) });
        structured.push(...list.items.map((item) => ({ ...item, apiVersion: resource.group ? `${resource.group}/${resource.version}` : resource.version, kind: resource.kind })));
      }
      continue;
    }
    const paths = names.length > 0 ? names.map((name) => resourcePath(resource, namespace, name)) : [resourcePath(resource, namespace) + query(options)];
    const tables = await Promise.all(paths.map((path) => restJson<Table>(ctx.kc, { method: 'GET', path, headers: { accept: TABLE_ACCEPT } })));
    const merged: Table = { columnDefinitions: tables[0]!.columnDefinitions, rows: tables.flatMap((t) => t.rows) };
    if (merged.rows.length === 0) continue;
    const prefix = targets.length > 1 ? `${resource.singular}${resource.group ? '.' + resource.group : ''}` : undefined;
    blocks.push(alignColumns(renderTable(merged, { wide: options.output === 'wide', withNamespace, ...(prefix ? { prefix } : {}) })));
  }
  if (options.output === 'name') {
    out(structured.map((o) => `${o.kind.toLowerCase()}/${o.metadata.name}`).join('\n'));
  } else if (options.output === 'json') {
    out(JSON.stringify(structured.length === 1 && names.length === 1 ? stripNoise(structured[0]!) : { apiVersion: 'v1', kind: 'List', items: structured.map(stripNoise) }, null, 2));
  } else if (options.output === 'yaml') {
    out(stringify(structured.length === 1 && names.length === 1 ? stripNoise(structured[0]!) : { apiVersion: 'v1', kind: 'List', items: structured.map(stripNoise) }).trimEnd());
  } else if (blocks.length === 0) {
    out(options.allNamespaces ? 'No resources found' : `No resources found in ${ctx.namespace} namespace.`);
  } else {
    out(blocks.join('\n\n'));
  }
}

/** `get -w`: one line per watch event, until interrupted. */
async function watch(ctx: ClientContext, resource: ApiResource, namespace: string | undefined, options: GetOptions, out: (text: string) => void): Promise<void> {
  const params = new URLSearchParams({ watch: '1' });
  if (options.selector) params.set('labelSelector', options.selector);
  const stream = await openStream(ctx.kc, { method: 'GET', path: `${resourcePath(resource, namespace)}?${params}` });
  let buffered = '';
  for await (const chunk of stream) {
    buffered += chunk.toString();
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (!line) continue;
      const event = JSON.parse(line) as { type: string; object: KubeObject & { status?: { phase?: string } } };
      if (event.type === 'BOOKMARK') continue;
      const where = options.allNamespaces && event.object.metadata.namespace ? `${event.object.metadata.namespace}/` : '';
      out(`${event.type.padEnd(9)} ${resource.singular}/${where}${event.object.metadata.name}${event.object.status?.phase ? `  ${event.object.status.phase}` : ''}`);
    }
  }
}
