// Token buckets shared by gateway replicas: one Redis hash per bucket ({l: level, t: ms}), updated by Lua scripts
// that run atomically on the Redis server with the server's clock (TIME), so replicas with skewed clocks agree.
//
//   take   all-or-nothing over several buckets: refill each, and when every level reaches its threshold take every
//          cost; else change nothing and return the wait (ms) until the scarcest bucket would admit.
//   adjust add a delta to each bucket (refunds, the true prompt size, output tokens after the response).
//
// A key expires when its bucket would be full again (TTL = time to refill from its level), so idle users cost no
// memory. The client fails fast while Redis is away (no offline queue, a command timeout); the caller decides
// whether that admits (failure mode open) or refuses (closed) the request.
import type { Redis } from 'ioredis';
import { redisClass } from '../util/ioredis.ts';

// Shared by both scripts: the server clock in ms, a bucket's level refilled up to now, and storing a level with the
// TTL after which the bucket would be full again.
const COMMON = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function refilled(key, cap, rate)
  local v = redis.call('HMGET', key, 'l', 't')
  local level = tonumber(v[1])
  local ts = tonumber(v[2])
  if level == nil or ts == nil then return cap end
  if now > ts then return math.min(cap, level + (now - ts) * rate) end
  return level
end
local function store(key, level, cap, rate)
  redis.call('HSET', key, 'l', tostring(level), 't', tostring(now))
  redis.call('PEXPIRE', key, math.ceil((cap - level) / rate) + 1000)
end
`;

const TAKE = COMMON + `
local n = #KEYS
local levels = {}
local wait = 0
local worst = 0
for i = 1, n do
  local b = (i - 1) * 4
  local cap = tonumber(ARGV[b + 1])
  local rate = tonumber(ARGV[b + 2])
  local need = math.min(tonumber(ARGV[b + 3]), cap)
  local level = refilled(KEYS[i], cap, rate)
  levels[i] = level
  if level < need then
    local w = math.ceil((need - level) / rate)
    if w > wait then
      wait = w
      worst = i
    end
  end
end
if wait > 0 then return {wait, worst - 1} end
for i = 1, n do
  local b = (i - 1) * 4
  local cap = tonumber(ARGV[b + 1])
  local rate = tonumber(ARGV[b + 2])
  store(KEYS[i], levels[i] - tonumber(ARGV[b + 4]), cap, rate)
end
return {0, -1}
`;

const ADJUST = COMMON + `
for i = 1, #KEYS do
  local b = (i - 1) * 3
  local cap = tonumber(ARGV[b + 1])
  local rate = tonumber(ARGV[b + 2])
  local level = math.min(cap, refilled(KEYS[i], cap, rate) + tonumber(ARGV[b + 3]))
  if level >= cap then
    redis.call('DEL', KEYS[i])
  else
    store(KEYS[i], level, cap, rate)
  end
end
return 0
`;

/** One bucket in a take: capacity, tokens per ms, the level needed to admit, the amount taken. */
export interface RedisTake {
  key: string;
  capacity: number;
  rate: number;
  threshold: number;
  cost: number;
}

export interface RedisAdjust {
  key: string;
  capacity: number;
  rate: number;
  delta: number;
}

type ScriptClient = Redis & {
  mitake(numKeys: number, ...args: Array<string | number>): Promise<[number, number]>;
  miadjust(numKeys: number, ...args: Array<string | number>): Promise<number>;
};

export class RedisLimiter {
  readonly address: string;
  readonly timeoutMs: number;
  readonly #client: ScriptClient;
  #up = false;
  #lastError = '';

  constructor(address: string, timeoutMs: number, log: (m: string) => void) {
    this.address = address;
    this.timeoutMs = timeoutMs;
    const options = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: timeoutMs,
      connectTimeout: Math.max(1000, timeoutMs),
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
      lazyConnect: false,
    };
    const RedisClient = redisClass();
    const client = (/^rediss?:\/\//.test(address) ? new RedisClient(address, options) : new RedisClient({ ...parseHostPort(address), ...options })) as ScriptClient;
    client.defineCommand('mitake', { lua: TAKE });
    client.defineCommand('miadjust', { lua: ADJUST });
    client.on('ready', () => {
      if (!this.#up) log(`gateway: rate limits: Redis ${address} connected`);
      this.#up = true;
      this.#lastError = '';
    });
    client.on('error', (err: Error) => {
      if (err.message !== this.#lastError) log(`gateway: rate limits: Redis ${address}: ${err.message}`);
      this.#lastError = err.message;
    });
    client.on('close', () => {
      this.#up = false;
    });
    this.#client = client;
  }

  get connected(): boolean {
    return this.#up;
  }

  /**
   * [0, -1] when admitted (every cost taken), else [wait in ms, index of the scarcest bucket]. Rejects when Redis
   * is unreachable or slow.
   */
  take(items: readonly RedisTake[]): Promise<[number, number]> {
    const args: Array<string | number> = [];
    for (const it of items) args.push(it.key);
    for (const it of items) args.push(it.capacity, it.rate, it.threshold, it.cost);
    return this.#client.mitake(items.length, ...args).then((r) => [Number(r[0]), Number(r[1])]);
  }

  adjust(items: readonly RedisAdjust[]): Promise<void> {
    const args: Array<string | number> = [];
    for (const it of items) args.push(it.key);
    for (const it of items) args.push(it.capacity, it.rate, it.delta);
    return this.#client.miadjust(items.length, ...args).then(() => undefined);
  }

  close(): void {
    this.#client.disconnect();
  }
}

function parseHostPort(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(address.trim());
  const host = m?.[1] || '127.0.0.1';
  const port = m?.[2] ? Number(m[2]) : 6379;
  return { host, port };
}

/** Clients by address and timeout, shared by every limit that names them; unused ones are closed on rebuild. */
export class RedisClients {
  readonly #clients = new Map<string, RedisLimiter>();
  readonly #log: (m: string) => void;

  constructor(log: (m: string) => void) {
    this.#log = log;
  }

  obtain(address: string, timeoutMs: number): RedisLimiter {
    const key = `${address}\0${timeoutMs}`;
    let c = this.#clients.get(key);
    if (c === undefined) this.#clients.set(key, (c = new RedisLimiter(address, timeoutMs, this.#log)));
    return c;
  }

  /** Close the clients not in `used`. */
  retain(used: ReadonlySet<RedisLimiter>): void {
    for (const [k, c] of this.#clients) {
      if (!used.has(c)) {
        c.close();
        this.#clients.delete(k);
      }
    }
  }

  close(): void {
    this.retain(new Set());
  }
}
