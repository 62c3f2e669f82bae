// Keeps one KV-event subscription per engine pod that publishes (kv-events/target.ts), in step with the routing
// table: `reconcile()` after every rebuild starts subscriptions for new pods, ends those of pods gone or changed,
// and hangs each pod's exact index on its Endpoint (`kvIndex`) for the prefix scorer. zeromq and the tokenizers are
// imported the first time a publishing pod appears (with the subscriber and the event codec), never in a gateway
// that routes to none. Loading is
// asynchronous; until it is done those pods are scored by the approximate index, like any pod whose index is not live.
import type { Endpoint } from '../scheduling/endpoint.ts';
import type { KvEventOutcome } from './exact-index.ts';
import { setTokenizer, tokenizerFor } from './prompt-tokens.ts';
import type { KvEventSubscriber, SubscriberOptions } from './subscriber.ts';

/** Index bound when the engine's KV capacity is unknown (blocks; ≈ 20 MB at most). */
export const DEFAULT_INDEX_CAPACITY = 262_144;

export interface KvEventsManagerOptions {
  log: (msg: string, fields?: Record<string, unknown>) => void;
  /** Counts an outcome for a pod (matrixinfer_gateway_kv_events_total). */
  outcome: (namespace: string, pod: string, outcome: KvEventOutcome, n?: number) => void;
  capacity?: number;
  subscriber?: Partial<SubscriberOptions>;
}

export class KvEventsManager {
  readonly #opts: KvEventsManagerOptions;
  readonly #subs = new Map<Endpoint, KvEventSubscriber>();
  #zmq: typeof import('zeromq') | null = null;
  #mod: typeof import('./subscriber.ts') | null = null;
  #loading: Promise<void> | null = null;
  #last: Endpoint[] = [];
  #closed = false;

  constructor(opts: KvEventsManagerOptions) {
    this.#opts = opts;
  }

  get subscriptions(): number {
    return this.#subs.size;
  }

  /** Subscribe to the active endpoints that publish, unsubscribe from the rest. */
  reconcile(endpoints: Iterable<Endpoint>): void {
    if (this.#closed) return;
    const wanted: Endpoint[] = [];
    for (const ep of endpoints) if (ep.active && ep.kvEvents !== null) wanted.push(ep);
    this.#last = wanted;
    const keep = new Set(wanted);
    for (const [ep, sub] of this.#subs) {
      if (!keep.has(ep) || ep.kvEvents?.key !== sub.target.key) {
        sub.close();
        this.#subs.delete(ep);
        if (ep.kvIndex === sub.index) ep.kvIndex = null;
      }
    }
    if (wanted.length === 0) return;
    if (!this.#ready(wanted)) {
      this.#loading ??= this.#load(wanted).then(
        () => this.reconcile(this.#last),
        (err: Error) => this.#opts.log(`KV events: cannot load the subscriber: ${err.message}`),
      );
      return;
    }
    for (const ep of wanted) {
      if (this.#subs.has(ep)) continue;
      const target = ep.kvEvents!;
      const capacity = this.#opts.capacity ?? DEFAULT_INDEX_CAPACITY;
      const sub = new this.#mod!.KvEventSubscriber(
        this.#zmq!,
        target,
        capacity,
        {
          outcome: (o, n) => this.#opts.outcome(ep.namespace, ep.podName, o, n),
          log: (msg) => this.#opts.log(msg, { namespace: ep.namespace, name: ep.podName }),
        },
        { ...this.#mod!.DEFAULT_SUBSCRIBER_OPTIONS, ...this.#opts.subscriber },
      );
      this.#subs.set(ep, sub);
      ep.kvIndex = sub.index;
      sub.start();
    }
  }

  #ready(wanted: readonly Endpoint[]): boolean {
    return this.#zmq !== null && this.#mod !== null && wanted.every((ep) => tokenizerFor(ep.kvEvents!.tokenizer) !== undefined);
  }

  async #load(wanted: readonly Endpoint[]): Promise<void> {
    try {
      this.#zmq ??= await import('zeromq');
      this.#mod ??= await import('./subscriber.ts');
      const { createTokenizer } = await import('../../engine/tokenizer.ts');
      for (const ep of wanted) {
        const name = ep.kvEvents!.tokenizer;
        if (tokenizerFor(name) === undefined) setTokenizer(name, createTokenizer(name));
      }
    } finally {
      this.#loading = null;
    }
  }

  close(): void {
    this.#closed = true;
    for (const [ep, sub] of this.#subs) {
      sub.close();
      if (ep.kvIndex === sub.index) ep.kvIndex = null;
    }
    this.#subs.clear();
  }
}
