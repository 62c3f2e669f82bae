// Prefix-cache affinity: send a request where its prompt's prefix was sent before, so the engine's prefix cache
// already holds it — unless that pod is busier than the others by more than the load guard allows.
//
// Hashing (no tokenizer, no allocation): the prompt text (completions `prompt`, or chat `messages` as
// `role\ncontent\n`…, text parts only) is cut into fixed blocks of `blockChars` UTF-16 code units; each block's
// hash is chained with the previous one (seeded with the model name), so block i's hash names the whole prefix up
// to and including block i. Only the first `maxBlocks` blocks are hashed; a trailing partial block is dropped.
// Hashes are 53-bit integers from two 32-bit lanes (collisions are harmless: at worst a wrong affinity hint).
//
// Index: per pod, an LRU set of block hashes the gateway has sent it (bounded by `capacityBlocks`, or when the
// engine reports its KV capacity, by that many tokens ≈ 4 characters each), refreshed from the last block to the
// first so that a prefix's first blocks are the last to be evicted and the set stays prefix-closed. A pod's match
// is found by binary search over the request's chain; the LRU goes away with the pod.
import type { Endpoint } from './endpoint.ts';
import { WeightedScorer, type SchedulingRequest } from './types.ts';
import { KvBlockHasher } from '../../api/kv-block-hash.ts';
import type { KvEventsTarget } from '../kv-events/target.ts';
import { promptTokenIds, tokenizerFor } from '../kv-events/prompt-tokens.ts';
import { blockKeyCache } from '../kv-events/key-cache.ts';

/** The exact block keys of the request being scheduled, for one engine configuration and block size. */
interface ExactKeys {
  keys: Float64Array;
  n: number;
}

export interface PrefixConfig {
  /** Characters per block. */
  blockChars: number;
  /** Blocks hashed per request (the prefix considered is at most blockChars × maxBlocks characters). */
  maxBlocks: number;
  /** Blocks remembered per pod; 0 = from the engine's KV capacity (vllm:cache_config_info), else `fallbackCapacity`. */
  capacityBlocks: number;
  /** Load guard: a pod gets no prefix credit when its load exceeds the least-loaded candidate's by more than
   * max(absolute, relative × mean load). Infinity disables the guard. */
  guardAbsolute: number;
  guardRelative: number;
}

export const DEFAULT_PREFIX_CONFIG: Readonly<PrefixConfig> = {
  blockChars: 128,
  maxBlocks: 128,
  capacityBlocks: 0,
  guardAbsolute: 4,
  guardRelative: 0.5,
};

/** LRU bound when neither the config nor the engine gives one: ≈ 500k tokens of 4 characters in 128-char blocks. */
export const FALLBACK_CAPACITY_BLOCKS = 16_384;
export const CHARS_PER_TOKEN = 4;

const MIN_CAPACITY = 64;
const MAX_CAPACITY = 1 << 20;

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Chained block hashes of one prompt, written into a reused buffer. */
export class BlockHasher {
  readonly blockChars: number;
  readonly maxBlocks: number;
  readonly hashes: Float64Array;
  /** Complete blocks hashed. */
  n = 0;
  // Two lanes within a block (two UTF-16 units per multiply each, for speed), the chain across blocks.
  #a = 0;
  #b = 0;
  #pos = 0;
  #ca = 0;
  #cb = 0;

  constructor(blockChars: number, maxBlocks: number) {
    this.blockChars = blockChars;
    this.maxBlocks = maxBlocks;
    this.hashes = new Float64Array(maxBlocks);
  }

  reset(seed: string): void {
    this.n = 0;
    this.#pos = 0;
    let h = 0x9747b28c;
    for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 0x01000193);
    this.#ca = fmix(h);
    this.#cb = fmix(h ^ 0x6b43a9b5);
    this.#a = this.#ca;
    this.#b = this.#cb;
  }

  get full(): boolean {
    return this.n >= this.maxBlocks;
  }

  /** Append text; returns false once `maxBlocks` blocks are complete (the rest is ignored). */
  feed(s: string): boolean {
    if (this.n >= this.maxBlocks) return false;
    const bc = this.blockChars;
    const len = s.length;
    let a = this.#a;
    let b = this.#b;
    let pos = this.#pos;
    let i = 0;
    while (i < len) {
      const room = bc - pos;
      const take = len - i < room ? len - i : room;
      const end4 = i + (take & ~3);
      for (; i < end4; i += 4) {
        a = Math.imul(a ^ (s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16)), 0x01000193);
        b = Math.imul(b ^ (s.charCodeAt(i + 2) | (s.charCodeAt(i + 3) << 16)), 0x5bd1e995);
      }
      const end = i + (take & 3);
      for (; i < end; i++) a = Math.imul(a ^ s.charCodeAt(i), 0x01000193);
      pos += take;
      if (pos === bc) {
        const ca = fmix(a ^ this.#cb);
        const cb = fmix(b ^ ca ^ this.#ca);
        this.#ca = ca;
        this.#cb = cb;
        this.hashes[this.n++] = (ca >>> 0) * 2097152 + (cb >>> 11);
        if (this.n >= this.maxBlocks) {
          this.#pos = 0;
          return false;
        }
        a = ca;
        b = cb;
        pos = 0;
      }
    }
    this.#a = a;
    this.#b = b;
    this.#pos = pos;
    return true;
  }

  /** Hash the prompt of an OpenAI completions or chat body. */
  hashBody(model: string, body: Record<string, unknown> | undefined): number {
    this.reset(model);
    if (body === undefined) return 0;
    const prompt = body.prompt;
    if (typeof prompt === 'string') {
      this.feed(prompt);
    } else if (Array.isArray(prompt)) {
      const first = prompt[0];
      if (typeof first === 'string') this.feed(first);
    } else {
      const messages = body.messages;
      if (Array.isArray(messages)) {
        for (let i = 0; i < messages.length && !this.full; i++) {
          const m = messages[i] as { role?: unknown; content?: unknown } | null;
          if (m === null || typeof m !== 'object') continue;
          if (typeof m.role === 'string') this.feed(m.role);
          this.feed('\n');
          const content = m.content;
          if (typeof content === 'string') {
            this.feed(content);
          } else if (Array.isArray(content)) {
            for (let j = 0; j < content.length; j++) {
              const part = content[j] as { text?: unknown } | null;
              if (part !== null && typeof part === 'object' && typeof part.text === 'string') this.feed(part.text);
            }
          }
          this.feed('\n');
        }
      }
    }
    return this.n;
  }
}

/**
 * Which blocks go into the index: every one of the first 16, then every 8th (blocks 23, 31, 39, …). A match is
 * then exact up to 16 blocks and to within 8 blocks beyond, while a long prompt costs a few dozen index updates,
 * not hundreds.
 */
const DENSE = 16;
const STRIDE = 8;
export function indexedCount(n: number): number {
  return n <= DENSE ? n : DENSE + Math.floor((n - DENSE) / STRIDE);
}
export function indexedBlock(k: number): number {
  return k < DENSE ? k : DENSE + (k - DENSE) * STRIDE + STRIDE - 1;
}

/**
 * The block hashes one pod is believed to hold. Each touch stamps a block with a clock; when the set outgrows its
 * capacity, every block not touched within the last 7/8 × capacity touches is dropped in one sweep (an LRU in
 * batches: V8 Maps degrade badly under per-touch delete + re-insert). Blocks of one prompt are stamped from the
 * last to the first, so a prefix's first blocks are always the last to go and the set stays prefix-closed.
 */
export class PrefixLru {
  readonly #map = new Map<number, number>();
  #clock = 0;
  capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.#map.size;
  }

  has(h: number): boolean {
    return this.#map.has(h);
  }

  /** Leading blocks of `hashes[0..n)` held, to the resolution of the indexed blocks (binary search). */
  matched(hashes: Float64Array, n: number): number {
    const map = this.#map;
    const K = indexedCount(n);
    if (K === 0 || !map.has(hashes[0]!)) return 0;
    if (map.has(hashes[indexedBlock(K - 1)]!)) return indexedBlock(K - 1) + 1;
    let lo = 0; // held
    let hi = K - 1; // not held
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (map.has(hashes[indexedBlock(mid)]!)) lo = mid;
      else hi = mid;
    }
    return indexedBlock(lo) + 1;
  }

  /** Record the prompt's blocks as just sent. */
  add(hashes: Float64Array, n: number): void {
    const map = this.#map;
    let clock = this.#clock;
    for (let k = indexedCount(n) - 1; k >= 0; k--) map.set(hashes[indexedBlock(k)]!, ++clock);
    this.#clock = clock;
    if (map.size > this.capacity) {
      const cutoff = clock - Math.floor((this.capacity * 7) / 8);
      map.forEach((stamp, h) => {
        if (stamp <= cutoff) map.delete(h);
      });
    }
  }

  clear(): void {
    this.#map.clear();
  }

  toJSON(): { blocks: number; capacity: number } {
    return { blocks: this.#map.size, capacity: this.capacity };
  }
}

/** LRU capacity for a pod: configured, or the engine's KV capacity in blocks of this size, or the fallback. */
export function capacityFor(ep: Endpoint, config: PrefixConfig): number {
  if (config.capacityBlocks > 0) return config.capacityBlocks;
  const tokens = ep.metrics?.cacheTokens ?? 0;
  if (tokens > 0) {
    const blocks = Math.ceil((tokens * CHARS_PER_TOKEN) / config.blockChars);
    return Math.min(MAX_CAPACITY, Math.max(MIN_CAPACITY, blocks));
  }
  return FALLBACK_CAPACITY_BLOCKS;
}

/**
 * Score = matched blocks / hashed blocks × 100, 0 for pods over the load guard. After the pick the chosen pod is
 * recorded as holding every hashed block.
 */
export class PrefixCacheScorer extends WeightedScorer {
  readonly name = 'prefix-cache';
  readonly config: PrefixConfig;
  readonly hasher: BlockHasher;
  /** Blocks hashed for the request being scheduled. */
  #n = 0;
  #hits = 0;
  #lookups = 0;
  #guarded = 0;

  constructor(weight: number, config: PrefixConfig = DEFAULT_PREFIX_CONFIG) {
    super(weight);
    this.config = config;
    this.hasher = new BlockHasher(config.blockChars, config.maxBlocks);
  }

  /** Requests that matched some prefix on the chosen pod / requests with at least one block; guard trips. */
  stats(): { lookups: number; hits: number; guarded: number } {
    return { lookups: this.#lookups, hits: this.#hits, guarded: this.#guarded };
  }

  prepare(req: SchedulingRequest): void {
    this.#n = this.hasher.hashBody(req.model, req.body);
    // Emptied only when the last decision filled them (a pod with a live exact index): nothing to do otherwise.
    if (this.#exact.size > 0) {
      this.#tokens.clear();
      this.#exact.clear();
    }
  }

  // Per decision: prompt token ids by tokenizer name, block keys by engine configuration + block size.
  readonly #tokens = new Map<string, number[] | null>();
  readonly #exact = new Map<string, ExactKeys | null>();

  /** The request's exact block keys for a pod's engine configuration (null: the prompt cannot be tokenized). */
  exactKeys(req: SchedulingRequest, target: KvEventsTarget, blockSize: number): ExactKeys | null {
    const sig = `${target.hashKey}#${blockSize}`;
    let ek = this.#exact.get(sig);
    if (ek !== undefined) return ek;
    let tokens = this.#tokens.get(target.tokenizer);
    if (tokens === undefined) {
      const tok = tokenizerFor(target.tokenizer);
      tokens = null;
      if (tok !== undefined) {
        try {
          tokens = promptTokenIds(req.body, tok, target.model);
        } catch {
          tokens = null; // odd content the engine would reject anyway
        }
      }
      this.#tokens.set(target.tokenizer, tokens);
    }
    ek = null;
    if (tokens !== null) {
      const hasher = (target.hasher ??= new KvBlockHasher({ algo: target.algo, seed: target.seed }));
      const n = Math.floor(tokens.length / blockSize);
      const keys = new Float64Array(n);
      try {
        ek = { keys, n: blockKeyCache().keys(hasher, target.hashKey, tokens, blockSize, req.lora ? [req.model] : null, keys) };
      } catch {
        ek = null;
      }
    }
    this.#exact.set(sig, ek);
    return ek;
  }

  score(req: SchedulingRequest, candidates: readonly Endpoint[], out: Float64Array): void {
    const n = this.#n;
    const c = candidates.length;
    let exact = false;
    for (let i = 0; i < c; i++) if (candidates[i]!.kvIndex?.phase === 'live') exact = true;
    if (n === 0 && !exact) {
      out.fill(0, 0, c);
      return;
    }
    const hashes = this.hasher.hashes;
    const cfg = this.config;
    let min = Infinity;
    let sum = 0;
    for (let i = 0; i < c; i++) {
      const l = candidates[i]!.load();
      out[i] = l;
      sum += l;
      if (l < min) min = l;
    }
    const rel = (cfg.guardRelative * sum) / c;
    const limit = min + (rel > cfg.guardAbsolute ? rel : cfg.guardAbsolute);
    for (let i = 0; i < c; i++) {
      const ep = candidates[i]!;
      const ix = ep.kvIndex;
      let share = 0;
      if (ix !== null && ix.phase === 'live' && ix.blockSize > 0 && ep.kvEvents !== null) {
        const ek = this.exactKeys(req, ep.kvEvents, ix.blockSize);
        if (ek !== null && ek.n > 0) share = ix.matched(ek.keys, ek.n) / ek.n;
      } else if (n > 0) {
        const lru = ep.prefix;
        share = lru === null ? 0 : lru.matched(hashes, n) / n;
      }
      if (share > 0 && out[i]! > limit) {
        this.#guarded++;
        out[i] = 0;
      } else {
        out[i] = share * 100;
      }
    }
  }

  picked(_req: SchedulingRequest, ep: Endpoint): void {
    // A live exact index whose pod lacks some of the prompt's blocks expects the engine to report them soon (else
    // it goes stale: a stall).
    const ix = ep.kvIndex;
    if (ix !== null && ix.phase === 'live' && ep.kvEvents !== null) {
      const ek = this.#exact.get(`${ep.kvEvents.hashKey}#${ix.blockSize}`);
      if (ek && ek.n > 0 && ix.matched(ek.keys, ek.n) < ek.n) ix.expect(performance.now());
    }
    const n = this.#n;
    if (n === 0) return;
    this.#lookups++;
    let lru = ep.prefix;
    if (lru === null) ep.prefix = lru = new PrefixLru(capacityFor(ep, this.config));
    else lru.capacity = capacityFor(ep, this.config);
    if (lru.has(this.hasher.hashes[0]!)) this.#hits++;
    lru.add(this.hasher.hashes, n);
  }
}
