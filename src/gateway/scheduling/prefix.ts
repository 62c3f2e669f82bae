// Prefix-cache affinity: send a request where its prompt's prefix was sent before, so the engine's prefix cache
// already holds it — unless that pod is busier than the others by more than the load guard allows.
//
// Hashing (no tokenizer, no allocation): the prompt text (completions `prompt`, or chat `messages` as
// `role\ncontent\n`…, text parts only) is cut into fixed blocks of `blockChars` UTF-16 code units; each block's
// hash is chained with the previous one (seeded with the model name), so block i's hash names the whole prefix up
// to and including block i. The whole prompt is hashed up to `maxBlocks` blocks (default 4096 × 128 characters:
// 512 KiB, about Llama 3.1's 128k-token context), so a long conversation's history is seen whole; a trailing
// partial block is dropped. Hashes are 53-bit integers from two 32-bit lanes (collisions are harmless: at worst a
// wrong affinity hint).
//
// Index: per pod, a set of block hashes the gateway has sent it, bounded in blocks by `capacityBlocks` (or, when the
// engine reports its KV capacity, by CAPACITY_OVERCOMMIT × that many tokens at the model's measured characters per
// token) and evicted oldest first. Only some blocks are
// indexed (indexedBlock: all of the first 16, every 8th to block 128, then 8 per doubling), so a 100k-token prompt
// costs about 60 index updates; a match is found by binary search over the indexed blocks of the request's chain.
// The index goes away with the pod.
//
// `PromptPrefix` is the per-decision part both prompt-aware scorers share (this one and the TTFT scorer, ttft.ts):
// the request's blocks, and per pod the share of them the pod holds — from the pod's exact index when it publishes
// KV events (kv-events/), else from this approximate one.
import type { Endpoint } from './endpoint.ts';
import { WeightedScorer, type SchedulingRequest } from './types.ts';
import { KvBlockHasher } from '../../api/kv-block-hash.ts';
import type { KvEventsTarget } from '../kv-events/target.ts';
import { promptTokenIds, tokenizerFor } from '../kv-events/prompt-tokens.ts';
import { blockKeyCache } from '../kv-events/key-cache.ts';
import { charsPerTokenOf, DEFAULT_CHARS_PER_TOKEN } from './work.ts';

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
  maxBlocks: 4096,
  capacityBlocks: 0,
  guardAbsolute: 4,
  guardRelative: 0.5,
};

/** LRU bound when neither the config nor the engine gives one: ≈ 500k tokens of 4 characters in 128-char blocks. */
export const FALLBACK_CAPACITY_BLOCKS = 16_384;
/**
 * The index remembers 4× what the engine's KV cache holds. Forgetting costs more than remembering too much: a
 * prompt the index forgot ties every pod and lands anywhere (a sure miss), while one the engine evicted but the
 * index remembers lands on a pod that holds nothing for it either (no worse than elsewhere). On the routing
 * benchmark's multi-turn workload the engines' prefix-cache hit rate was 19% at 2×, 22–24% at 8×. Memory: at most
 * this many entries per pod (an entry stands for one block or more), a few MB for an 8B model's KV cache on an H100.
 */
export const CAPACITY_OVERCOMMIT = 4;

const MIN_CAPACITY = 64;
const MAX_CAPACITY = 1 << 20;

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

const LANES = new Int32Array(2);

/**
 * Long text is hashed from its UTF-16 code units copied into a reused buffer (Buffer#write 'utf16le' copies them
 * verbatim, lone surrogates included) rather than read one `charCodeAt` at a time: 135–150 µs instead of ≈ 370 µs
 * for a 220 KB prompt, the copy itself ≈ 30 µs. Same values either way, so the two paths mix freely. Short text
 * (below WIDE_MIN characters: role names, separators, short messages) is read in place, where a copy could save
 * little; text beyond WIDE_MAX too, so the buffer — kept for the process, twice the longest text hashed — stays
 * within 16 MiB.
 */
const WIDE_MIN = 512;
const WIDE_MAX = 8 << 20;
let wideBytes = Buffer.allocUnsafeSlow(1 << 16);
let wide = new Uint16Array(wideBytes.buffer, 0, wideBytes.length >> 1);

/** `s`'s first `n` code units in `wide` (grown to the next power of two when needed). */
function widen(s: string, n: number): Uint16Array {
  if (wide.length < n) {
    let size = wideBytes.length;
    while (size < n * 2) size *= 2;
    wideBytes = Buffer.allocUnsafeSlow(size);
    wide = new Uint16Array(wideBytes.buffer, 0, size >> 1);
  }
  wideBytes.write(s, 0, n * 2, 'utf16le');
  return wide;
}

/**
 * The hot loop of hashing: two lanes of two UTF-16 units per multiply over [i, end) (a multiple of 4), state in
 * LANES; from `units` (widened text) when given, else from the string.
 */
function mixQuads(s: string, units: Uint16Array | null, i: number, end: number): void {
  let a = LANES[0]!;
  let b = LANES[1]!;
  if (units !== null) {
    for (; i < end; i += 4) {
      a = Math.imul(a ^ (units[i]! | (units[i + 1]! << 16)), 0x01000193);
      b = Math.imul(b ^ (units[i + 2]! | (units[i + 3]! << 16)), 0x5bd1e995);
    }
  } else {
    for (; i < end; i += 4) {
      a = Math.imul(a ^ (s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16)), 0x01000193);
      b = Math.imul(b ^ (s.charCodeAt(i + 2) | (s.charCodeAt(i + 3) << 16)), 0x5bd1e995);
    }
  }
  LANES[0] = a;
  LANES[1] = b;
}

/** Chained block hashes of one prompt, written into a reused buffer. */
export class BlockHasher {
  readonly blockChars: number;
  readonly maxBlocks: number;
  readonly hashes: Float64Array;
  /** Complete blocks hashed. */
  n = 0;
  /** UTF-16 code units of prompt text fed since `reset`, hashed or not (the TTFT scorer's size estimate). */
  chars = 0;
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
    this.chars = 0;
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
    this.chars += s.length;
    if (this.n >= this.maxBlocks) return false;
    const bc = this.blockChars;
    const len = s.length;
    // Only what can still complete a block is read.
    const hashable = (this.maxBlocks - this.n) * bc - this.#pos;
    const units = len >= WIDE_MIN && len <= WIDE_MAX ? widen(s, len < hashable ? len : hashable) : null;
    let a = this.#a;
    let b = this.#b;
    let pos = this.#pos;
    let i = 0;
    while (i < len) {
      const room = bc - pos;
      const take = len - i < room ? len - i : room;
      const end4 = i + (take & ~3);
      if (end4 > i) {
        LANES[0] = a;
        LANES[1] = b;
        mixQuads(s, units, i, end4);
        a = LANES[0]!;
        b = LANES[1]!;
        i = end4;
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
        for (let i = 0; i < messages.length; i++) {
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
 * Which blocks go into the index: every one of the first 16, every 8th to block 128 (blocks 23, 31, …, 127), then 8
 * per doubling (143, 159, …, 255, 287, …). A match is then exact up to 16 blocks, to within 8 blocks up to 128 and
 * to within an eighth of its length beyond, while a prompt of n blocks costs about 30 + 8·log2(n / 128) index
 * updates, not n.
 */
const DENSE = 16;
const STRIDE = 8;
const SPARSE_END = 128;
const PER_DOUBLING = 8;
const SPARSE_ENTRIES = DENSE + (SPARSE_END - DENSE) / STRIDE;

/** How many of a chain's first n blocks are indexed. */
export function indexedCount(n: number): number {
  if (n <= DENSE) return n;
  if (n <= SPARSE_END) return DENSE + Math.floor((n - DENSE) / STRIDE);
  let count = SPARSE_ENTRIES;
  for (let base = SPARSE_END, step = SPARSE_END / PER_DOUBLING; ; base *= 2, step *= 2) {
    const k = Math.floor((n - base) / step);
    if (k < PER_DOUBLING) return count + k;
    count += PER_DOUBLING;
  }
}

/** The block index of the k-th indexed block. */
export function indexedBlock(k: number): number {
  if (k < DENSE) return k;
  if (k < SPARSE_ENTRIES) return DENSE + (k - DENSE) * STRIDE + STRIDE - 1;
  const r = k - SPARSE_ENTRIES;
  const doublings = Math.floor(r / PER_DOUBLING);
  return (SPARSE_END + (SPARSE_END / PER_DOUBLING) * ((r % PER_DOUBLING) + 1)) * 2 ** doublings - 1;
}

/** An entry's value: its stamp × SPAN_SCALE + its span (spans stay below 2^16 for any maxBlocks the schema allows). */
const SPAN_SCALE = 65536;

/**
 * The block hashes one pod is believed to hold, least recently sent evicted first, bounded in blocks: each indexed
 * block stands for the blocks since the previous indexed one (its span), and the spans of the entries held are kept
 * summed, so a prompt re-sent costs no capacity (the engine keeps one copy of a cached block too) while a new one
 * costs its length. Past the capacity, the oldest entries go in one sweep down to 7/8 of it (an LRU in batches: V8
 * Maps degrade badly under per-touch delete + re-insert). Blocks of one prompt are stamped from the last to the
 * first, so a prefix's first blocks are always the last to go and the set stays prefix-closed.
 */
export class PrefixLru {
  readonly #map = new Map<number, number>();
  #clock = 0;
  /** Σ spans of the entries held: the blocks the pod is believed to hold. */
  #held = 0;
  /** In blocks; may change between adds (the engine's reported KV capacity). */
  capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** Indexed blocks held (the entries, not the blocks they stand for). */
  get size(): number {
    return this.#map.size;
  }

  /** Blocks the entries held stand for. */
  get blocks(): number {
    return this.#held;
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
    let held = this.#held;
    let k = indexedCount(n) - 1;
    let block = indexedBlock(k);
    for (; k >= 0; k--) {
      const prev = k > 0 ? indexedBlock(k - 1) : -1;
      const span = block - prev;
      const h = hashes[block]!;
      if (!map.has(h)) held += span;
      map.set(h, ++clock * SPAN_SCALE + span);
      block = prev;
    }
    this.#clock = clock;
    this.#held = held;
    if (held > this.capacity) this.#evict();
  }

  /** Drop the least recently sent entries until the blocks held are 7/8 of the capacity. */
  #evict(): void {
    const map = this.#map;
    const values = Float64Array.from(map.values()).sort();
    const keep = Math.floor((this.capacity * 7) / 8);
    let held = 0;
    let cutoff = -1;
    for (let i = values.length - 1; i >= 0; i--) {
      const v = values[i]!;
      const span = v % SPAN_SCALE;
      if (held + span > keep) {
        cutoff = v;
        break;
      }
      held += span;
    }
    map.forEach((v, h) => {
      if (v <= cutoff) map.delete(h);
    });
    this.#held = held;
  }

  clear(): void {
    this.#map.clear();
    this.#held = 0;
  }

  toJSON(): { blocks: number; capacity: number } {
    return { blocks: this.#held, capacity: this.capacity };
  }
}

/**
 * LRU capacity for a pod: configured, or CAPACITY_OVERCOMMIT × the engine's KV capacity in blocks of this size (at
 * the model's measured characters per token), or the fallback.
 */
export function capacityFor(ep: Endpoint, config: PrefixConfig, charsPerToken = DEFAULT_CHARS_PER_TOKEN): number {
  if (config.capacityBlocks > 0) return config.capacityBlocks;
  const tokens = ep.metrics?.cacheTokens ?? 0;
  if (tokens > 0) {
    const blocks = Math.ceil((CAPACITY_OVERCOMMIT * tokens * charsPerToken) / config.blockChars);
    return Math.min(MAX_CAPACITY, Math.max(MIN_CAPACITY, blocks));
  }
  return FALLBACK_CAPACITY_BLOCKS;
}

/**
 * The prompt of the request being scheduled, as prefix blocks, matched against each pod's index. One per scorer
 * (scheduling is synchronous: `prepare` starts a decision, `record` ends it on the chosen pod).
 */
export class PromptPrefix {
  readonly config: PrefixConfig;
  readonly hasher: BlockHasher;
  /** Blocks hashed for the request being scheduled. */
  #n = 0;
  // Per decision: prompt token ids by tokenizer name, block keys by engine configuration + block size.
  readonly #tokens = new Map<string, number[] | null>();
  readonly #exact = new Map<string, ExactKeys | null>();

  constructor(config: PrefixConfig) {
    this.config = config;
    this.hasher = new BlockHasher(config.blockChars, config.maxBlocks);
  }

  prepare(req: SchedulingRequest): void {
    this.#n = this.hasher.hashBody(req.model, req.body);
    // Emptied only when the last decision filled them (a pod with a live exact index): nothing to do otherwise.
    if (this.#exact.size > 0) {
      this.#tokens.clear();
      this.#exact.clear();
    }
  }

  /** Blocks of the approximate chain (0: no prompt text, or shorter than a block). */
  get blocks(): number {
    return this.#n;
  }

  /** Prompt characters (UTF-16 code units) of the request. */
  get chars(): number {
    return this.hasher.chars;
  }

  /** The pod matches through its exact index (KV events), which is live. */
  exactFor(ep: Endpoint): boolean {
    const ix = ep.kvIndex;
    return ix !== null && ix.phase === 'live' && ix.blockSize > 0 && ep.kvEvents !== null;
  }

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

  /** The prompt's token count as the pod's engine tokenizes it, when its exact index made us tokenize; else NaN. */
  exactTokens(ep: Endpoint): number {
    const target = ep.kvEvents;
    if (target === null) return NaN;
    const tokens = this.#tokens.get(target.tokenizer);
    return tokens ? tokens.length : NaN;
  }

  /** Share (0..1) of the request's prompt blocks the pod holds: its exact index when live, else the approximate. */
  share(req: SchedulingRequest, ep: Endpoint): number {
    if (this.exactFor(ep)) {
      const ix = ep.kvIndex!;
      const ek = this.exactKeys(req, ep.kvEvents!, ix.blockSize);
      return ek !== null && ek.n > 0 ? ix.matched(ek.keys, ek.n) / ek.n : 0;
    }
    const n = this.#n;
    const lru = ep.prefix;
    return n === 0 || lru === null ? 0 : lru.matched(this.hasher.hashes, n) / n;
  }

  /** Whether any candidate could match anything (a hashed prompt, or a live exact index). */
  matchable(candidates: readonly Endpoint[]): boolean {
    if (this.#n > 0) return true;
    for (let i = 0; i < candidates.length; i++) if (candidates[i]!.kvIndex?.phase === 'live') return true;
    return false;
  }

  /** The pod was chosen: it now holds the prompt's blocks. */
  record(req: SchedulingRequest, ep: Endpoint): void {
    // A live exact index whose pod lacks some of the prompt's blocks expects the engine to report them soon (else
    // it goes stale: a stall).
    const ix = ep.kvIndex;
    if (ix !== null && ix.phase === 'live' && ep.kvEvents !== null) {
      const ek = this.#exact.get(`${ep.kvEvents.hashKey}#${ix.blockSize}`);
      if (ek && ek.n > 0 && ix.matched(ek.keys, ek.n) < ek.n) ix.expect(performance.now());
    }
    const n = this.#n;
    if (n === 0) return;
    let lru = ep.prefix;
    const capacity = capacityFor(ep, this.config, charsPerTokenOf(req.model));
    if (lru === null) ep.prefix = lru = new PrefixLru(capacity);
    else lru.capacity = capacity;
    lru.add(this.hasher.hashes, n);
  }
}

/**
 * Score = the share of the prompt's blocks the pod holds × 100, 0 for pods over the load guard. After the pick the
 * chosen pod is recorded as holding every hashed block.
 */
export class PrefixCacheScorer extends WeightedScorer {
  readonly name = 'prefix-cache';
  readonly config: PrefixConfig;
  readonly prompt: PromptPrefix;

  constructor(weight: number, config: PrefixConfig = DEFAULT_PREFIX_CONFIG) {
    super(weight);
    this.config = config;
    this.prompt = new PromptPrefix(config);
  }

  get hasher(): BlockHasher {
    return this.prompt.hasher;
  }

  prepare(req: SchedulingRequest): void {
    this.prompt.prepare(req);
  }

  score(req: SchedulingRequest, candidates: readonly Endpoint[], out: Float64Array): void {
    const c = candidates.length;
    const prompt = this.prompt;
    if (!prompt.matchable(candidates)) {
      out.fill(0, 0, c);
      return;
    }
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
      const share = prompt.share(req, candidates[i]!);
      if (share > 0 && out[i]! > limit) {
        out[i] = 0;
      } else {
        out[i] = share * 100;
      }
    }
  }

  picked(req: SchedulingRequest, ep: Endpoint): void {
    this.prompt.record(req, ep);
  }
}
