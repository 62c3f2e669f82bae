// `matrixinfer describe`: the object (without bookkeeping noise) followed by the events about it.
import { stringify } from 'yaml';
import { resourcePath } from '../kube/discovery.ts';
import { restJson } from '../kube/rest.ts';
import type { KubeObject } from '../api/admission.ts';
import type { ClientContext } from './context.ts';
import { resolveResources } from './get.ts';
import { alignColumns, humanAge } from './table.ts';

export interface CoreEvent {
  type?: string;
  reason?: string;
  message?: string;
  lastTimestamp?: string;
  eventTime?: string;
  firstTimestamp?: string;
  series?: { lastObservedTime?: string };
  source?: { component?: string };
  reportingComponent?: string;
  involvedObject?: { uid?: string; name?: string; kind?: string };
  metadata: { creationTimestamp?: string };
}

/** When an event last happened, as kubectl sorts them (its SortableEvents); then firstTimestamp, then the creation time. */
function eventTime(e: CoreEvent): string | undefined {
  return e.series?.lastObservedTime ?? e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp;
}

/** The Events section: oldest first, whatever order the server listed them in. */
export function eventsText(events: CoreEvent[], now = Date.now()): string {
  if (events.length === 0) return 'Events:  <none>';
  const at = (e: CoreEvent): number => Date.parse(eventTime(e) ?? '') || 0;
  const sorted = [...events].sort((a, b) => at(a) - at(b));
  return 'Events:\n' + alignColumns([
    ['  TYPE', 'REASON', 'AGE', 'FROM', 'MESSAGE'],
    ...sorted.map((e) => {
      const when = eventTime(e);
      return ['  ' + (e.type ?? ''), e.reason ?? '', when ? humanAge(when, now) : '', e.source?.component ?? e.reportingComponent ?? '', e.message ?? ''];
    }),
  ]);
}

export async function describe(ctx: ClientContext, words: string, names: string[], out: (text: string) => void): Promise<void> {
  const [resource] = await resolveResources(ctx, words);
  const namespace = resource!.namespaced ? ctx.namespace : undefined;
  const objects = names.length > 0
    ? await Promise.all(names.map((name) => restJson<KubeObject>(ctx.kc, { method: 'GET', path: resourcePath(resource!, namespace, name) })))
    : (await restJson<{ items: KubeObject[] }>(ctx.kc, { method: 'GET', path: resourcePath(resource!, namespace) })).items;
  const sections: string[] = [];
  for (const object of objects) {
    const { managedFields: _noise, ...metadata } = object.metadata;
    const body = stringify({ ...object, apiVersion: object.apiVersion ?? resource!.version, kind: object.kind ?? resource!.kind, metadata }).trimEnd();
    const eventsPath = `/api/v1/namespaces/${encodeURIComponent(object.metadata.namespace ?? 'default')}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${object.metadata.name}`)}`;
    let events: CoreEvent[] = [];
    try {
      events = (await restJson<{ items: CoreEvent[] }>(ctx.kc, { method: 'GET', path: eventsPath })).items.filter(
        (e) => !e.involvedObject?.uid || e.involvedObject.uid === object.metadata.uid,
      );
    } catch {
      // events are best-effort, as in kubectl
    }
    sections.push(`${body}\n${eventsText(events)}`);
  }
  out(sections.join('\n\n---\n'));
}
