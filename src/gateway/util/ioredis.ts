// ioredis, loaded on first use rather than with the gateway. Evaluating its `class VerbatimString extends String`
// (resp/verbatim-string.js) makes every `charCodeAt` loop in the process about 4× slower from then on (V8 drops a
// fast path for string reads once String is subclassed): the prefix hasher's cost for a 220 KB prompt went from
// ≈ 0.4 ms to ≈ 2 ms just by importing ioredis. So a gateway whose ModelServers name no Redis never evaluates it;
// one that does pays it. ioredis is CommonJS, so `require` loads it synchronously where a client is constructed.
import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';

let RedisClass: typeof Redis | null = null;

/** The ioredis client class (loaded now if it is not yet). */
export function redisClass(): typeof Redis {
  return (RedisClass ??= (createRequire(import.meta.url)('ioredis') as typeof import('ioredis')).Redis);
}
