// KV-cache accounting in fixed-size blocks, as vLLM's paged attention allocates it.
//
// This release counts blocks only: a sequence holds ceil(computed_tokens / block_size) blocks while it runs, and frees
// them when it finishes, is aborted or is preempted. The interface is the one a prefix-caching block manager needs
// (hash chained full blocks of token ids, keep freed blocks as evictable cache, report cached prefix length), so that
// implementation replaces this one without touching the scheduler.

/** Per-sequence state the cache keeps on the sequence object. */
export interface KvHolder {
  /** Blocks currently held. */
  kvBlocks: number;
  /** Prompt token ids (used for prefix hashing by caching implementations; may be empty). */
  readonly promptTokenIds: readonly number[];
}

export interface KvCache {
  readonly blockSize: number;
  readonly numBlocks: number;
  /** Leading prompt tokens already in the cache for this sequence (skipped by prefill). Always 0 without caching. */
  cachedPrefixTokens(holder: KvHolder): number;
  /** Ensure the holder has room for `tokens` tokens in total; false (and no change) if the free blocks do not suffice. */
  allocate(holder: KvHolder, tokens: number): boolean;
  /** Release every block the holder has. */
  free(holder: KvHolder): void;
  /** Blocks in use by running sequences. */
  usedBlocks(): number;
  /** Fraction of blocks in use, 0..1 (vllm:kv_cache_usage_perc). */
  usage(): number;
}

export class BlockCounter implements KvCache {
  readonly blockSize: number;
  readonly numBlocks: number;
  private used = 0;

  constructor(numBlocks: number, blockSize: number) {
    if (!(numBlocks > 0 && blockSize > 0)) throw new Error('numBlocks and blockSize must be positive');
    this.numBlocks = numBlocks;
    this.blockSize = blockSize;
  }

  cachedPrefixTokens(_holder: KvHolder): number {
    return 0;
  }

  allocate(holder: KvHolder, tokens: number): boolean {
    const need = Math.ceil(tokens / this.blockSize) - holder.kvBlocks;
    if (need <= 0) return true;
    if (this.used + need > this.numBlocks) return false;
    this.used += need;
    holder.kvBlocks += need;
    return true;
  }

  free(holder: KvHolder): void {
    this.used -= holder.kvBlocks;
    holder.kvBlocks = 0;
  }

  usedBlocks(): number {
    return this.used;
  }

  usage(): number {
    return this.used / this.numBlocks;
  }
}
