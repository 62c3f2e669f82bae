// The store shared by gateway replicas, on Redis (ioredis). Why vectors live in Redis but are searched here: the
// Redis this project runs (Debian's redis-server 7.0) has no vector search (no Query Engine; RediSearch 2.x needs
// 7.1+), and a semantic partition holds few vectors (every question in it shares system prompt, history, tools and
// parameters), so each replica keeps a mirror of the partitions it reads and scans them itself (cache/vectors.ts),
// fetching only what other replicas added since its last look. A Redis with FT.SEARCH could replace `search`
// without changing the interface.
//
// Keys, under the route's `keyPrefix`:
//   <p>r:<exact key>         the entry's JSON, SET with PX = the record's TTL
//   <p>s:<partition>:seq     a counter bumped by every vector added to the partition
//   <p>s:<partition>:idx     sorted set: exact key → the seq that added it
//   <p>s:<partition>:vec     hash: exact key → {q: question, x: expiry ms, v: base64 float32 vector}
// The three partition keys expire with their newest vector; at PARTITION_CAPACITY the oldest vectors are trimmed.
//
// One round trip per lookup: the SYNC script returns the partition's seq and the vectors added after the mirror's
// seq (all of them when the counter went backwards: the partition expired and started again). A matched key whose
// record has gone (expired, evicted by Redis's maxmemory policy) reads as a miss. Redis's own memory policy bounds
// the records (`maxEntries` bounds the mirror here, not Redis). Commands fail fast while Redis is away (no offline
// queue, a command timeout); the cache treats that as a miss or a skipped store.
import type { Redis } from 'ioredis';
import { redisClass } from '../util/ioredis.ts';
import type { CacheEntry } from './entry.ts';
import type { CacheStore, SemanticIndex, StoreStats } from './store.ts';
import { VectorSet, type Match } from './vectors.ts';
import { PARTITION_CAPACITY } from './memory-store.ts';

const ADD = `
local seq = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if over > 0 then
  local gone = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #gone, 2 do redis.call('HDEL', KEYS[3], gone[i]) end
end
for i = 1, 3 do
  if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
end
return seq
`;

const SYNC = `
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local last = tonumber(ARGV[1])
local from = '(' .. last
if seq < last then from = '-inf' end
if seq == last then return {seq} end
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], from, '+inf')
local out = {seq}
if #ids == 0 then return out end
local blobs = redis.call('HMGET', KEYS[3], unpack(ids))
for i = 1, #ids do
  if blobs[i] then
    out[#out + 1] = ids[i]
    out[#out + 1] = blobs[i]
  end
end
return out
`;

type ScriptClient = Redis & {
  cacheadd(numKeys: number, ...args: Array<string | number>): Promise<number>;
  cachesync(numKeys: number, ...args: Array<string | number>): Promise<Array<string | number>>;
};

interface Mirror {
  seq: number;
  set: VectorSet | undefined;
}

export interface RedisStoreOptions {
  address: string;
  keyPrefix: string;
  /** Partitions mirrored in process (LRU) and vectors among them. */
  maxEntries: number;
  timeoutMs?: number;
  log?: (message: string) => void;
}

export class RedisStore implements CacheStore {
  readonly type = 'redis';
  readonly address: string;
  readonly #prefix: string;
  readonly #client: ScriptClient;
  readonly #maxEntries: number;
  /** Partition → mirror, in least-recently-used order. */
  readonly #mirrors = new Map<string, Mirror>();
  #vectors = 0;
  #bytes = 0;

  constructor(options: RedisStoreOptions) {
    this.address = options.address;
    this.#prefix = options.keyPrefix;
    this.#maxEntries = options.maxEntries;
    const timeoutMs = options.timeoutMs ?? 100;
    const clientOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: timeoutMs,
      connectTimeout: Math.max(1000, timeoutMs),
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    };
    const address = options.address;
    const RedisClient = redisClass();
    const client = (/^rediss?:\/\//.test(address) ? new RedisClient(address, clientOptions) : new RedisClient({ ...hostPort(address), ...clientOptions })) as ScriptClient;
    client.defineCommand('cacheadd', { lua: ADD });
    client.defineCommand('cachesync', { lua: SYNC });
    let lastError = '';
    client.on('error', (err: Error) => {
      if (err.message !== lastError) options.log?.(`gateway: cache: Redis ${address}: ${err.message}`);
      lastError = err.message;
    });
    client.on('ready', () => (lastError = ''));
    this.#client = client;
  }

  /** Resolves once connected (tests, start-up); lookups do not wait for it. */
  ready(): Promise<void> {
    if (this.#client.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => this.#client.once('ready', () => resolve()));
  }

  async get(key: string): Promise<CacheEntry | undefined> {
    const json = await this.#client.get(this.#prefix + 'r:' + key);
    return json === null ? undefined : (JSON.parse(json) as CacheEntry);
  }

  async put(key: string, entry: CacheEntry, ttlMs: number, semantic?: SemanticIndex): Promise<void> {
    const ttl = Math.max(1, Math.ceil(ttlMs));
    await this.#client.set(this.#prefix + 'r:' + key, JSON.stringify(entry), 'PX', ttl);
    if (semantic === undefined) return;
    const blob = JSON.stringify({ q: semantic.query, x: Date.now() + semantic.ttlMs, v: Buffer.from(semantic.vector.buffer, semantic.vector.byteOffset, semantic.vector.byteLength).toString('base64') });
    await this.#client.cacheadd(3, ...this.#partitionKeys(semantic.partition), key, blob, Math.max(ttl, Math.ceil(semantic.ttlMs)), PARTITION_CAPACITY);
  }

  async search(partition: string, vector: Float32Array, threshold: number, limit: number): Promise<Match[]> {
    let mirror = this.#mirrors.get(partition);
    if (mirror === undefined) mirror = { seq: 0, set: undefined };
    this.#mirrors.delete(partition);
    this.#mirrors.set(partition, mirror);
    const reply = await this.#client.cachesync(3, ...this.#partitionKeys(partition), mirror.seq);
    const seq = Number(reply[0]);
    if (seq < mirror.seq) this.#drop(mirror);
    mirror.seq = seq;
    for (let i = 1; i + 1 < reply.length; i += 2) {
      const { q, x, v } = JSON.parse(String(reply[i + 1])) as { q: string; x: number; v: string };
      const raw = Buffer.from(v, 'base64');
      const vec = new Float32Array(raw.length / 4);
      Buffer.from(vec.buffer).set(raw);
      if (vec.length !== vector.length) continue;
      mirror.set ??= new VectorSet(vec.length, PARTITION_CAPACITY);
      const before = mirror.set.size;
      const beforeBytes = mirror.set.bytes;
      mirror.set.add(String(reply[i]), vec, q, x);
      this.#vectors += mirror.set.size - before;
      this.#bytes += mirror.set.bytes - beforeBytes;
    }
    if (mirror.set !== undefined) {
      const size = mirror.set.size;
      const bytes = mirror.set.bytes;
      if (mirror.set.prune().length > 0) {
        this.#vectors -= size - mirror.set.size;
        this.#bytes -= bytes - mirror.set.bytes;
      }
    }
    this.#bound();
    return mirror.set === undefined ? [] : mirror.set.search(vector, threshold, limit);
  }

  stats(): StoreStats {
    return { entries: this.#vectors, bytes: this.#bytes };
  }

  close(): void {
    this.#client.disconnect();
    this.#mirrors.clear();
  }

  #partitionKeys(partition: string): [string, string, string] {
    const base = this.#prefix + 's:' + partition;
    return [base + ':seq', base + ':idx', base + ':vec'];
  }

  #drop(mirror: Mirror): void {
    if (mirror.set === undefined) return;
    this.#vectors -= mirror.set.size;
    this.#bytes -= mirror.set.bytes;
    mirror.set = undefined;
  }

  /** Least recently searched partitions go while the mirror holds more than maxEntries vectors or partitions. */
  #bound(): void {
    for (const [partition, mirror] of this.#mirrors) {
      if (this.#vectors <= this.#maxEntries && this.#mirrors.size <= this.#maxEntries) break;
      this.#drop(mirror);
      this.#mirrors.delete(partition);
    }
  }
}

function hostPort(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(address.trim());
  return { host: m?.[1] || '127.0.0.1', port: m?.[2] ? Number(m[2]) : 6379 };
}
