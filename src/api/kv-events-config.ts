// --kv-events-config, as vLLM parses it (vllm/config/kv_events.py KVEventsConfig): snake_case JSON fields, vLLM's
// defaults. No imports: the engine (options.ts) loads it always, the gateway (kv-events/target.ts) reads pods with it;
// the publisher (src/engine/kv-events.ts) is loaded only when events are on.

/** vLLM's KVEventsConfig (snake_case JSON, as given on the command line). */
export interface KvEventsConfig {
  enableKvCacheEvents: boolean;
  publisher: 'null' | 'zmq';
  endpoint: string;
  replayEndpoint: string | null;
  bufferSteps: number;
  hwm: number;
  topic: string;
}

export const DEFAULT_KV_EVENTS_ENDPOINT = 'tcp://*:5557';

/** Parse --kv-events-config; throws an Error naming the problem. */
export function parseKvEventsConfig(text: string): KvEventsConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error(`--kv-events-config is not JSON: ${text}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('--kv-events-config must be a JSON object');
  const o = raw as Record<string, unknown>;
  const known = ['enable_kv_cache_events', 'publisher', 'endpoint', 'replay_endpoint', 'buffer_steps', 'hwm', 'max_queue_size', 'topic'];
  for (const k of Object.keys(o)) if (!known.includes(k)) throw new Error(`--kv-events-config: unknown field ${k}`);
  const enable = o.enable_kv_cache_events ?? false;
  if (typeof enable !== 'boolean') throw new Error('--kv-events-config: enable_kv_cache_events must be a boolean');
  const publisher = o.publisher ?? (enable ? 'zmq' : 'null');
  if (publisher !== 'zmq' && publisher !== 'null') throw new Error(`--kv-events-config: publisher must be "zmq" or "null"`);
  const str = (k: string, d: string | null): string | null => {
    const v = o[k];
    if (v === undefined || v === null) return d;
    if (typeof v !== 'string') throw new Error(`--kv-events-config: ${k} must be a string`);
    return v;
  };
  const int = (k: string, d: number): number => {
    const v = o[k];
    if (v === undefined || v === null) return d;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new Error(`--kv-events-config: ${k} must be a non-negative integer`);
    return v;
  };
  const endpoint = str('endpoint', DEFAULT_KV_EVENTS_ENDPOINT)!;
  const replayEndpoint = str('replay_endpoint', null);
  for (const e of [endpoint, replayEndpoint]) {
    if (e !== null && !/^tcp:\/\/[^:]+:\d+$/.test(e) && !/^tcp:\/\/\[[^\]]+\]:\d+$/.test(e)) throw new Error(`--kv-events-config: endpoint ${e} is not tcp://host:port`);
  }
  return {
    enableKvCacheEvents: enable,
    publisher,
    endpoint,
    replayEndpoint,
    bufferSteps: int('buffer_steps', 10_000),
    hwm: int('hwm', 100_000),
    topic: str('topic', '')!,
  };
}

/** The address to bind: `*` (any address) becomes the engine's host, unless that is itself a wildcard. */
export function bindAddress(endpoint: string, host: string): string {
  if (!endpoint.includes('*') || host === '' || host === '0.0.0.0' || host === '::') return endpoint;
  return endpoint.replace('*', host.includes(':') ? `[${host}]` : host);
}
