// A best-effort recorder of core/v1 Events, the way `kubectl describe` shows them. Repeats of the same event
// (object, type, reason, message) within ten minutes bump `count` and `lastTimestamp` of the existing Event
// instead of creating a new one. Failures are logged and otherwise ignored: events never block a reconcile.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { CoreV1Event } from '@kubernetes/client-node';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeObject } from '../api/admission.ts';
import type { KubeClient } from './client.ts';
import { createLogger, errorMessage, type Logger } from './log.ts';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  event(object: KubeObject, type: EventType, reason: string, message: string): void;
}

interface Seen {
  name: string;
  namespace: string;
  count: number;
  last: number;
}

const AGGREGATE_WINDOW_MS = 10 * 60_000;
const MAX_TRACKED = 2048;
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class KubeEventRecorder implements EventRecorder {
  private readonly client: KubeClient;
  private readonly component: string;
  private readonly host: string;
  private readonly seen = new Map<string, Seen>();
  private readonly log: Logger;
  private pending = Promise.resolve();

  constructor(client: KubeClient, component: string, logger?: Logger) {
    this.client = client;
    this.component = component;
    this.host = hostname();
    this.log = logger ?? createLogger('events');
  }

  event(object: KubeObject, type: EventType, reason: string, message: string): void {
    // Serialize writes so a burst of identical events aggregates instead of racing.
    this.pending = this.pending.then(() => this.write(object, type, reason, message)).catch((err: unknown) => {
      this.log.debug('event not recorded', { reason, error: errorMessage(err) });
    });
  }

  /** Resolves when every event recorded so far has been written (or failed). */
  flush(): Promise<void> {
    return this.pending;
  }

  private async write(object: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const namespace = object.metadata.namespace || 'default';
    const key = `${object.metadata.uid}|${type}|${reason}|${message}`;
    const now = new Date();
    const seen = this.seen.get(key);
    if (seen && now.getTime() - seen.last < AGGREGATE_WINDOW_MS) {
      seen.count++;
      seen.last = now.getTime();
      try {
        await this.client.core.patchNamespacedEvent(
          { name: seen.name, namespace: seen.namespace, body: { count: seen.count, lastTimestamp: now.toISOString().replace(/\.\d+Z$/, 'Z') } },
          MERGE_PATCH,
        );
        return;
      } catch {
        this.seen.delete(key); // the Event expired or was deleted: create a fresh one
      }
    }
    const name = `${object.metadata.name}.${now.getTime().toString(16)}${randomBytes(2).toString('hex')}`;
    const body: CoreV1Event = {
      metadata: { name, namespace },
      involvedObject: {
        apiVersion: object.apiVersion,
        kind: object.kind,
        name: object.metadata.name,
        namespace: object.metadata.namespace,
        uid: object.metadata.uid,
        resourceVersion: object.metadata.resourceVersion,
      },
      type,
      reason,
      message,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: this.component, host: this.host },
      reportingComponent: this.component,
      reportingInstance: this.host,
    };
    await this.client.core.createNamespacedEvent({ namespace, body });
    if (this.seen.size >= MAX_TRACKED) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    this.seen.set(key, { name, namespace, count: 1, last: now.getTime() });
  }
}

/** A recorder that keeps events in memory (unit tests). */
export class MemoryEventRecorder implements EventRecorder {
  readonly events: { object: string; type: EventType; reason: string; message: string }[] = [];
  event(object: KubeObject, type: EventType, reason: string, message: string): void {
    this.events.push({ object: `${object.kind}/${object.metadata.name}`, type, reason, message });
  }
}
