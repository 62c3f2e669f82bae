// The KV cache in fixed-size blocks, with automatic prefix caching, after vLLM V1's KVCacheManager.
//
// - The GPU holds `numBlocks` blocks of `blockSize` tokens. A running sequence holds ceil(tokens / blockSize) of
//   them; its blocks are pinned (reference-counted) while it runs.
// - Every full block gets a chained hash: hash(parent block's hash, the block's token ids), where the first block's
//   parent is a hash of the model name and LoRA adapter (`cacheSalt`), so adapters never share blocks. Full blocks
//   are registered under their hash as the sequence computes them (prompt and generated tokens alike).
// - A new sequence reuses the longest chain of registered blocks matching its leading tokens: those tokens are not
//   prefilled again (usage.prompt_tokens_details.cached_tokens). As in vLLM the last prompt token is always computed
//   (its logits are needed), so at most floor((prompt − 1) / blockSize) blocks hit.
// - A finished sequence's blocks go back to the free queue, in reverse order (tail blocks first), but keep their hash:
//   they stay reusable until a new allocation takes them from the head of the queue, least recently used first
//   (eviction). vllm:kv_cache_usage_perc counts blocks pinned by sequences, not free cached ones, as vLLM does.
// With prefix caching off (--no-enable-prefix-caching) nothing is registered and nothing hits.

/** Per-sequence state the cache keeps on the sequence object. */
export interface KvHolder {
  /** Blocks held, in token order (managed by the cache). */
  kvBlocks: KvBlock[];
  /** Leading blocks already registered in the prefix cache (managed by the cache). */
  kvCommitted: number;
  /** Chain hashes of the holder's full blocks, computed lazily and kept (tokens never change). */
  blockHashes: number[];
  /** Prompt token ids. */
  readonly promptTokenIds: readonly number[];
  /** Generated token ids so far (may lag behind the count of generated tokens when unknown). */
  readonly outputTokenIds: readonly number[];
  /** Mixed into the first block's hash: model name and LoRA adapter. */
  readonly cacheSalt: string;
  /** False when the prompt's token ids are unknown: nothing is looked up or registered. */
  readonly cacheable: boolean;
}

export interface KvBlock {
  readonly id: number;
  /** Chain hash when registered in the prefix cache, else -1. */
  hash: number;
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

/** Tokens whose ids are known: the prompt and the generated tokens reported so far. */
function knownTokens(holder: KvHolder): number {
  return holder.promptTokenIds.length + holder.outputTokenIds.length;
}

/** A holder with nothing allocated (fields to spread into a sequence object). */
export function emptyKvState(): Pick<KvHolder, 'kvBlocks' | 'kvCommitted' | 'blockHashes'> {
  return { kvBlocks: [], kvCommitted: 0, blockHashes: [] };
}

// 53-bit chain hashes from two 32-bit murmur3-style lanes: cheap, and collisions are negligible at GPU cache sizes.
const TWO_21 = 2 ** 21;

function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function combine(a: number, b: number): number {
  return (a >>> 0) * TWO_21 + (b >>> 11);
}

/** Hash of the salt (model name, LoRA adapter): the parent of a sequence's first block. */
export function saltHash(salt: string): number {
  let a = 0x2545f491;
  let b = 0x9e3779b9 | 0;
  for (let i = 0; i < salt.length; i++) {
    const c = salt.charCodeAt(i);
    a = mix(a, c);
    b = mix(b, c ^ 0x5bd1e995);
  }
  return combine(fmix(a ^ salt.length), fmix(b ^ salt.length));
}

/** Chain hash of one block: its parent's hash and its token ids. */
export function blockHash(parent: number, tokenAt: (i: number) => number, from: number, to: number): number {
  let a = Math.floor(parent / TWO_21) | 0;
  let b = (parent % TWO_21) | 0;
  for (let i = from; i < to; i++) {
    const t = tokenAt(i);
    a = mix(a, t);
    b = mix(b, t ^ 0x7feb352d);
  }
  return combine(fmix(a ^ (to - from)), fmix(b ^ 0x68e31da4));
}

export interface PagedKvCacheOptions {
  numBlocks: number;
  blockSize: number;
  prefixCaching?: boolean;
}

export class PagedKvCache implements KvCache {
  readonly blockSize: number;
  readonly numBlocks: number;
  readonly prefixCaching: boolean;
  readonly stats: KvCacheStats = { evictions: 0 };
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
    for (let id = 0; id < numBlocks; id++) this.pushTail({ id, hash: -1, refs: 0, prev: null, next: null });
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
    for (let i = holder.kvCommitted; i < full; i++) {
      const block = holder.kvBlocks[i]!;
      if (block.hash !== -1) continue;
      const h = this.hashOf(holder, i);
      if (this.cached.has(h)) continue; // the same content computed twice at once: keep the first copy
      block.hash = h;
      this.cached.set(h, block);
    }
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
    return true;
  }

  /** Chain hash of the holder's block `i` (its tokens must be known). */
  private hashOf(holder: KvHolder, i: number): number {
    const hashes = holder.blockHashes;
    const bs = this.blockSize;
    const prompt = holder.promptTokenIds;
    const output = holder.outputTokenIds;
    const p = prompt.length;
    const tokenAt = (j: number): number => (j < p ? prompt[j]! : output[j - p]!);
    for (let k = hashes.length; k <= i; k++) {
      const parent = k === 0 ? saltHash(holder.cacheSalt) : hashes[k - 1]!;
      hashes.push(blockHash(parent, tokenAt, k * bs, (k + 1) * bs));
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
