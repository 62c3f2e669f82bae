// `matrixinfer describe`: the object (without bookkeeping noise) followed by the events about it.
import { stringify } from 'yaml';
import { resourcePath } from '../kube/discovery.ts';
import { restJson } from '../kube/rest.ts';
import type { KubeObject } from '../api/admission.ts';
import type { ClientContext } from './context.ts';
import { resolveResources } from './get.ts';
import { alignColumns, humanAge } from './table.ts';

interface CoreEvent {
  type?: string;
  reason?: string;
  message?: string;
  lastTimestamp?: string;
  eventTime?: string;
  firstTimestamp?: string;
  source?: { component?: string };
  reportingComponent?: string;
  involvedObject?: { uid?: string; name?: string; kind?: string };
  metadata: { creationTimestamp?: string };
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
    const eventText =
      events.length === 0
        ? 'Events:  <none>'
        : 'Events:\n' +
          alignColumns([
            ['  TYPE', 'REASON', 'AGE', 'FROM', 'MESSAGE'],
            ...events.map((e) => {
              const when = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp;
              return ['  ' + (e.type ?? ''), e.reason ?? '', when ? humanAge(when) : '', e.source?.component ?? e.reportingComponent ?? '', e.message ?? ''];
            }),
          ]);
    sections.push(`${body}\n${eventText}`);
  }
  out(sections.join('\n\n---\n'));
}
