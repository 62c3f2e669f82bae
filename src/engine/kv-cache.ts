// The KV cache in fixed-size blocks, with automatic prefix caching, after vLLM V1's KVCacheManager.
//
// - The GPU holds `numBlocks` blocks of `blockSize` tokens. A running sequence holds ceil(tokens / blockSize) of
//   them; its blocks are pinned (reference-counted) while it runs.
// - Every full block gets vLLM's chained hash (src/api/kv-block-hash.ts: sha256 over CBOR of the parent block's
//   digest, the block's token ids and the LoRA adapter's name as extra key, so adapters never share blocks; the
//   first block's parent is NONE_HASH from the seed). Full blocks are registered under their hash as the sequence
//   computes them (prompt and generated tokens alike).
// - With a KvEventSink (--kv-events-config) the cache reports, as vLLM's KV events: blocks registered (BlockStored,
//   one event per commit of consecutive blocks), cached blocks evicted (BlockRemoved), a reset (AllBlocksCleared).
// - A new sequence reuses the longest chain of registered blocks matching its leading tokens: those tokens are not
//   prefilled again (usage.prompt_tokens_details.cached_tokens). As in vLLM the last prompt token is always computed
//   (its logits are needed), so at most floor((prompt − 1) / blockSize) blocks hit.
// - A finished sequence's blocks go back to the free queue, in reverse order (tail blocks first), but keep their hash:
//   they stay reusable until a new allocation takes them from the head of the queue, least recently used first
//   (eviction). vllm:kv_cache_usage_perc counts blocks pinned by sequences, not free cached ones, as vLLM does.
// With prefix caching off (--no-enable-prefix-caching) nothing is registered and nothing hits.

import { DEFAULT_KV_HASH_SEED, key53, KvBlockHasher, wireHash } from '../api/kv-block-hash.ts';

/** Per-sequence state the cache keeps on the sequence object. */
export interface KvHolder {
  /** Blocks held, in token order (managed by the cache). */
  kvBlocks: KvBlock[];
  /** Leading blocks already registered in the prefix cache (managed by the cache). */
  kvCommitted: number;
  /** Chain hashes (key53) of the holder's full blocks, computed lazily and kept (tokens never change). */
  blockHashes: number[];
  /** The full digests of those blocks (the chain's parents; their low 64 bits are the events' hashes). */
  blockDigests: Buffer[];
  /** Prompt token ids. */
  readonly promptTokenIds: readonly number[];
  /** Generated token ids so far (may lag behind the count of generated tokens when unknown). */
  readonly outputTokenIds: readonly number[];
  /** LoRA adapter: the blocks' extra hash key (null for the base model). */
  readonly lora: string | null;
  /** False when the prompt's token ids are unknown: nothing is looked up or registered. */
  readonly cacheable: boolean;
}

export interface KvBlock {
  readonly id: number;
  /** Chain hash (key53) when registered in the prefix cache, else -1. */
  hash: number;
  /** Its 64-bit wire hash while registered (for BlockRemoved). */
  wire: bigint;
  refs: number;
  prev: KvBlock | null;
  next: KvBlock | null;
}

export interface KvCacheStats {
  /** Cached blocks whose content was dropped to make room. */
  evictions: number;
}

export interface KvCache {
  readonly blockSize: number;
  readonly numBlocks: number;
  readonly prefixCaching: boolean;
  readonly stats: KvCacheStats;
  /** Leading tokens (of the first `numTokens`) already cached: whole blocks, at most numTokens − 1. */
  lookup(holder: KvHolder, numTokens: number): number;
  /**
   * Make the holder's blocks cover `tokens` tokens. On the first allocation `cachedTokens` (from lookup(), just
   * before) leading tokens reuse cached blocks. Returns false, changing nothing, when the free blocks do not suffice.
   */
  allocate(holder: KvHolder, tokens: number, cachedTokens?: number): boolean;
  /** Register the holder's blocks that are full after `computedTokens` computed tokens. */
  commit(holder: KvHolder, computedTokens: number): void;
  /** Release every block the holder has (they stay cached until evicted). */
  free(holder: KvHolder): void;
  /** Blocks pinned by sequences. */
  usedBlocks(): number;
  /** Free blocks still holding reusable cached content. */
  cachedBlocks(): number;
  /** Fraction of blocks pinned, 0..1 (vllm:kv_cache_usage_perc). */
  usage(): number;
  /**
   * Forget every cached block (vLLM's reset_prefix_cache, which sleep does): false, changing nothing, while any
   * block is pinned by a sequence.
   */
  resetPrefixCache(): boolean;
}

/** Token ids [from, to) of the holder's prompt followed by its output. */
function tokenSlice(holder: KvHolder, from: number, to: number): number[] {
  const prompt = holder.promptTokenIds;
  const p = prompt.length;
  if (to <= p) return prompt.slice(from, to);
  const out = holder.outputTokenIds;
  if (from >= p) return out.slice(from - p, to - p);
  return prompt.slice(from).concat(out.slice(0, to - p));
}

/** Tokens whose ids are known: the prompt and the generated tokens reported so far. */
function knownTokens(holder: KvHolder): number {
  return holder.promptTokenIds.length + holder.outputTokenIds.length;
}

/** A holder with nothing allocated (fields to spread into a sequence object). */
export function emptyKvState(): Pick<KvHolder, 'kvBlocks' | 'kvCommitted' | 'blockHashes' | 'blockDigests'> {
  return { kvBlocks: [], kvCommitted: 0, blockHashes: [], blockDigests: [] };
}

/** Where the cache reports what it stores and drops (src/engine/kv-events.ts batches these per engine step). */
export interface KvEventSink {
  stored(blockHashes: bigint[], parent: bigint | null, tokenIds: number[], blockSize: number, lora: string | null): void;
  removed(blockHash: bigint): void;
  cleared(): void;
}

export interface PagedKvCacheOptions {
  numBlocks: number;
  blockSize: number;
  prefixCaching?: boolean;
  /** Block hashing (default: vLLM's sha256_cbor, seed DEFAULT_KV_HASH_SEED). */
  hasher?: KvBlockHasher;
  /** KV events (off when absent). */
  events?: KvEventSink | null;
}

export class PagedKvCache implements KvCache {
  readonly blockSize: number;
  readonly numBlocks: number;
  readonly prefixCaching: boolean;
  readonly stats: KvCacheStats = { evictions: 0 };
  readonly hasher: KvBlockHasher;
  events: KvEventSink | null;
  private readonly cached = new Map<number, KvBlock>();
  // Free queue: a doubly linked list, least recently freed at the head.
  private head: KvBlock | null = null;
  private tail: KvBlock | null = null;
  private free_ = 0;
  private cachedFree = 0;

  constructor(options: PagedKvCacheOptions) {
    const { numBlocks, blockSize } = options;
    if (!(Number.isInteger(numBlocks) && numBlocks > 0 && Number.isInteger(blockSize) && blockSize > 0)) {
      throw new Error('numBlocks and blockSize must be positive integers');
    }
    this.numBlocks = numBlocks;
    this.blockSize = blockSize;
    this.prefixCaching = options.prefixCaching ?? true;
    this.hasher = options.hasher ?? new KvBlockHasher({ algo: 'sha256_cbor', seed: DEFAULT_KV_HASH_SEED });
    this.events = options.events ?? null;
    for (let id = 0; id < numBlocks; id++) this.pushTail({ id, hash: -1, wire: 0n, refs: 0, prev: null, next: null });
  }

  lookup(holder: KvHolder, numTokens: number): number {
    if (!this.prefixCaching || !holder.cacheable || numTokens <= 1) return 0;
    const maxBlocks = Math.min(Math.floor((numTokens - 1) / this.blockSize), Math.floor(knownTokens(holder) / this.blockSize));
    let hits = 0;
    while (hits < maxBlocks && this.cached.has(this.hashOf(holder, hits))) hits++;
    return hits * this.blockSize;
  }

  allocate(holder: KvHolder, tokens: number, cachedTokens = 0): boolean {
    const want = Math.ceil(tokens / this.blockSize);
    if (holder.kvBlocks.length === 0 && cachedTokens > 0) {
      const hitBlocks: KvBlock[] = [];
      for (let i = 0; i < cachedTokens / this.blockSize; i++) {
        const b = this.cached.get(this.hashOf(holder, i));
        if (!b) break;
        hitBlocks.push(b);
      }
      const reclaimed = hitBlocks.reduce((n, b) => n + (b.refs === 0 ? 1 : 0), 0);
      const need = Math.max(want - hitBlocks.length, 0);
      if (need > this.free_ - reclaimed) return false;
      for (const b of hitBlocks) this.pin(b);
      holder.kvBlocks.push(...hitBlocks);
      holder.kvCommitted = hitBlocks.length;
      for (let i = 0; i < need; i++) holder.kvBlocks.push(this.takeFree());
      return true;
    }
    const need = want - holder.kvBlocks.length;
    if (need <= 0) return true;
    if (need > this.free_) return false;
    for (let i = 0; i < need; i++) holder.kvBlocks.push(this.takeFree());
    return true;
  }

  commit(holder: KvHolder, computedTokens: number): void {
    if (!this.prefixCaching || !holder.cacheable) return;
    const full = Math.min(Math.floor(Math.min(computedTokens, knownTokens(holder)) / this.blockSize), holder.kvBlocks.length);
    const events = this.events;
    let runFrom = -1; // first block of the run of consecutive blocks registered now (one BlockStored per run)
    for (let i = holder.kvCommitted; i < full; i++) {
      const block = holder.kvBlocks[i]!;
      let registered = false;
      if (block.hash === -1) {
        const h = this.hashOf(holder, i);
        // The same content computed twice at once: keep the first copy.
        if (!this.cached.has(h)) {
          block.hash = h;
          block.wire = wireHash(holder.blockDigests[i]!);
          this.cached.set(h, block);
          registered = true;
        }
      }
      if (events === null) continue;
      if (registered && runFrom === -1) runFrom = i;
      if (!registered && runFrom !== -1) {
        this.emitStored(holder, runFrom, i);
        runFrom = -1;
      }
    }
    if (events !== null && runFrom !== -1) this.emitStored(holder, runFrom, full);
    if (full > holder.kvCommitted) holder.kvCommitted = full;
  }

  free(holder: KvHolder): void {
    const blocks = holder.kvBlocks;
    for (let i = blocks.length - 1; i >= 0; i--) {
      const b = blocks[i]!;
      if (--b.refs === 0) this.pushTail(b);
    }
    holder.kvBlocks = [];
    holder.kvCommitted = 0;
  }

  usedBlocks(): number {
    return this.numBlocks - this.free_;
  }

  cachedBlocks(): number {
    return this.cachedFree;
  }

  usage(): number {
    return (this.numBlocks - this.free_) / this.numBlocks;
  }

  resetPrefixCache(): boolean {
    if (this.usedBlocks() > 0) return false;
    for (const b of this.cached.values()) b.hash = -1;
    this.cached.clear();
    this.cachedFree = 0;
    this.events?.cleared();
    return true;
  }

  /** BlockStored for the holder's blocks [from, to), just registered. */
  private emitStored(holder: KvHolder, from: number, to: number): void {
    const hashes: bigint[] = [];
    for (let i = from; i < to; i++) hashes.push(holder.kvBlocks[i]!.wire);
    const parent = from === 0 ? null : wireHash(holder.blockDigests[from - 1]!);
    const tokens = tokenSlice(holder, from * this.blockSize, to * this.blockSize);
    this.events!.stored(hashes, parent, tokens, this.blockSize, holder.lora);
  }

  /** Chain hash of the holder's block `i` (its tokens must be known). */
  private hashOf(holder: KvHolder, i: number): number {
    const hashes = holder.blockHashes;
    const digests = holder.blockDigests;
    const bs = this.blockSize;
    const extra = holder.lora === null ? null : [holder.lora];
    for (let k = hashes.length; k <= i; k++) {
      const from = k * bs;
      const tokens = tokenSlice(holder, from, from + bs);
      const d = this.hasher.next(k === 0 ? null : digests[k - 1]!, tokens, 0, bs, extra);
      digests.push(d);
      hashes.push(key53(d));
    }
    return hashes[i]!;
  }

  private pin(b: KvBlock): void {
    if (b.refs === 0) this.unlink(b);
    b.refs++;
  }

  /** Take the least recently freed block, evicting its cached content. */
  private takeFree(): KvBlock {
    const b = this.head!;
    this.unlink(b);
    if (b.hash !== -1) {
      if (this.cached.get(b.hash) === b) this.cached.delete(b.hash);
      b.hash = -1;
      this.stats.evictions++;
      this.events?.removed(b.wire);
    }
    b.refs = 1;
    return b;
  }

  private pushTail(b: KvBlock): void {
    b.prev = this.tail;
    b.next = null;
    if (this.tail) this.tail.next = b;
    else this.head = b;
    this.tail = b;
    this.free_++;
    if (b.hash !== -1) this.cachedFree++;
  }

  private unlink(b: KvBlock): void {
    if (b.prev) b.prev.next = b.next;
    else this.head = b.next;
    if (b.next) b.next.prev = b.prev;
    else this.tail = b.prev;
    b.prev = b.next = null;
    this.free_--;
    if (b.hash !== -1) this.cachedFree--;
  }
}
