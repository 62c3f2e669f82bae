// KV-cache events over ZeroMQ, as vLLM publishes them with --kv-events-config (vllm/config/kv_events.py,
// vllm/distributed/kv_events.py ZmqEventPublisher):
//   PUB socket on `endpoint` (tcp://*:5557 by default: `*` becomes the engine's --host, so each pod binds its own IP)
//     → multipart [topic, sequence number (8 bytes, big-endian, from 0 per process), msgpack KVEventBatch]
//   ROUTER socket on `replay_endpoint`, when set: a request [identity, '', start sequence] is answered with
//     [identity, '', sequence, payload] for every batch still buffered (the last `buffer_steps`) from `start` on,
//     then [identity, '', −1, ''].
// The KV cache reports events as they happen (KvEventSink); they are batched per engine step: the first event of a
// step schedules one flush after the synchronous step is over (setImmediate), so one batch holds one step's events.
// This module and zeromq are imported only when events are on (server.ts; zeromq is a native module): engines
// without events load neither. The flag's parsing is in kv-events-config.ts.
// Sends are serialized per socket (zeromq.js rejects a send while one is pending); PUB drops at its high-water mark
// rather than block, as in vLLM, and a subscriber that lost batches asks the replay socket.
import { encodeKvEventBatch, MEDIUM_GPU, REPLAY_END, readSeq, seqFrame, type KvEvent } from '../api/kv-events.ts';
import type { KvEventSink } from './kv-cache.ts';
import { bindAddress, type KvEventsConfig } from '../api/kv-events-config.ts';

type Zmq = typeof import('zeromq');

/** Runs sends on one socket one at a time. */
class SendQueue {
  #tail: Promise<void> = Promise.resolve();
  readonly #onError: (err: Error) => void;
  constructor(onError: (err: Error) => void) {
    this.#onError = onError;
  }
  push(send: () => Promise<void>): void {
    this.#tail = this.#tail.then(send).catch((err: Error) => this.#onError(err));
  }
  drain(): Promise<void> {
    return this.#tail;
  }
}

export interface KvEventPublisherStats {
  batches: number;
  events: number;
  replays: number;
}

export class KvEventPublisher implements KvEventSink {
  readonly endpoint: string;
  readonly replayEndpoint: string | null;
  readonly stats: KvEventPublisherStats = { batches: 0, events: 0, replays: 0 };
  readonly #topic: Buffer;
  readonly #bufferSteps: number;
  readonly #pub: import('zeromq').Publisher;
  readonly #router: import('zeromq').Router | null;
  readonly #pubQueue: SendQueue;
  readonly #routerQueue: SendQueue;
  readonly #buffer: Array<[number, Uint8Array]> = [];
  #seq = 0;
  #pending: KvEvent[] = [];
  #flushScheduled = false;
  #closed = false;
  readonly #log: (msg: string) => void;

  private constructor(zmq: Zmq, config: KvEventsConfig, host: string, log: (msg: string) => void) {
    this.endpoint = bindAddress(config.endpoint, host);
    this.replayEndpoint = config.replayEndpoint === null ? null : bindAddress(config.replayEndpoint, host);
    this.#log = log;
    this.#topic = Buffer.from(config.topic, 'utf8');
    this.#bufferSteps = config.bufferSteps;
    this.#pub = new zmq.Publisher({ sendHighWaterMark: config.hwm, linger: 0 });
    this.#router = this.replayEndpoint === null ? null : new zmq.Router({ linger: 0 });
    const onError = (err: Error): void => {
      if (!this.#closed) log(`KV events: ${err.message}`);
    };
    this.#pubQueue = new SendQueue(onError);
    this.#routerQueue = new SendQueue(onError);
  }

  /** Bind the sockets (zeromq loaded here). */
  static async start(config: KvEventsConfig, host: string, log: (msg: string) => void = () => {}): Promise<KvEventPublisher> {
    const zmq = await import('zeromq');
    const p = new KvEventPublisher(zmq, config, host, log);
    try {
      await bindWhenFree(p.#pub, p.endpoint);
      if (p.#router !== null) await bindWhenFree(p.#router, p.replayEndpoint!);
    } catch (err) {
      p.#pub.close();
      p.#router?.close();
      throw new Error(`KV events: cannot bind ${p.endpoint}${p.replayEndpoint ? ` / ${p.replayEndpoint}` : ''}: ${(err as Error).message}`);
    }
    if (p.#router !== null) void p.#serveReplays(p.#router);
    return p;
  }

  stored(blockHashes: bigint[], parent: bigint | null, tokenIds: number[], blockSize: number, lora: string | null): void {
    this.#add({ type: 'BlockStored', blockHashes, parentBlockHash: parent, tokenIds, blockSize, loraId: null, medium: MEDIUM_GPU, loraName: lora });
  }

  removed(blockHash: bigint): void {
    // Consecutive removals in one step go into one event.
    const last = this.#pending[this.#pending.length - 1];
    if (last?.type === 'BlockRemoved') last.blockHashes.push(blockHash);
    else this.#add({ type: 'BlockRemoved', blockHashes: [blockHash], medium: MEDIUM_GPU });
  }

  cleared(): void {
    this.#add({ type: 'AllBlocksCleared' });
  }

  #add(e: KvEvent): void {
    if (this.#closed) return;
    this.#pending.push(e);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Publish the events gathered so far as one batch. */
  flush(): void {
    this.#flushScheduled = false;
    if (this.#pending.length === 0 || this.#closed) return;
    const events = this.#pending;
    this.#pending = [];
    const payload = encodeKvEventBatch({ ts: Date.now() / 1000, events, dataParallelRank: 0 });
    const seq = this.#seq++;
    this.#buffer.push([seq, payload]);
    if (this.#buffer.length > this.#bufferSteps) this.#buffer.shift();
    this.stats.batches++;
    this.stats.events += events.length;
    const frames = [this.#topic, seqFrame(seq), payload];
    this.#pubQueue.push(() => this.#pub.send(frames));
  }

  async #serveReplays(router: import('zeromq').Router): Promise<void> {
    try {
      for await (const frames of router) {
        if (frames.length !== 3) continue; // vLLM ignores malformed requests too
        const [id, , start] = frames;
        let from: number;
        try {
          from = readSeq(start!);
        } catch {
          continue;
        }
        this.stats.replays++;
        const batches = this.#buffer.filter(([s]) => s >= from);
        this.#routerQueue.push(async () => {
          for (const [s, payload] of batches) await router.send([id!, '', seqFrame(s), payload]);
          await router.send([id!, '', REPLAY_END, '']);
        });
      }
    } catch (err) {
      if (!this.#closed) this.#log(`KV events: replay socket: ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.flush();
    await this.#pubQueue.drain();
    this.#closed = true;
    // Unbind before closing: a closed socket's listener is released by libzmq in the background, and an engine
    // restarted at once on the same ports (as the gateway's tests do) could find them still taken.
    await Promise.allSettled([unbind(this.#pub), this.#router === null ? undefined : unbind(this.#router)]);
    this.#pub.close();
    this.#router?.close();
  }
}

function unbind(socket: import('zeromq').Socket): Promise<void> {
  const at = socket.lastEndpoint;
  return at === null ? Promise.resolve() : socket.unbind(at);
}

/** Binds, waiting up to BIND_WAIT_MS while the address is still held by a socket of ours that is closing. */
const BIND_WAIT_MS = 2000;
async function bindWhenFree(socket: import('zeromq').Socket, address: string): Promise<void> {
  const deadline = Date.now() + BIND_WAIT_MS;
  for (;;) {
    try {
      await socket.bind(address);
      return;
    } catch (err) {
      if (!/in use/i.test((err as Error).message) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
