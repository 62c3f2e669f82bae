// Block keys of prompts, remembering the digests of blocks seen before: a conversation's next turn repeats its whole
// history and a shared system prompt repeats across users, so most of a prompt's blocks were hashed for an earlier
// request. A block is looked up by a cheap 53-bit fingerprint chained over (engine configuration, extra keys, every
// token up to and including the block) — a few multiply-xors per token and a Map lookup instead of sha256 over CBOR
// (≈ 1.5 µs). A fingerprint collision (odds ≈ entries² / 2^54) would give one block a wrong key: at worst a wrong
// prefix hint, never a wrong answer. Bounded: beyond `capacity` entries the oldest eighth is dropped (insertion
// order). One cache per gateway process, created on first use (only when some pod publishes KV events).
import { key53, type KvBlockHasher } from '../../api/kv-block-hash.ts';

export const KEY_CACHE_CAPACITY = 32_768;

function mixString(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

export class BlockKeyCache {
  readonly capacity: number;
  readonly #map = new Map<number, Buffer>();
  hits = 0;
  misses = 0;

  constructor(capacity = KEY_CACHE_CAPACITY) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.#map.size;
  }

  /** Like `hasher.keys()`: the key53 of each full block of `tokens` into `out`; returns how many. */
  keys(hasher: KvBlockHasher, config: string, tokens: ArrayLike<number>, blockSize: number, extraKeys: readonly string[] | null, out: Float64Array): number {
    const n = Math.min(Math.floor(tokens.length / blockSize), out.length);
    let a = mixString(0x2545f491, config);
    let b = mixString(0x9e3779b9 | 0, config + '\u0000' + blockSize);
    if (extraKeys !== null) for (const k of extraKeys) (a = mixString(a, k)), (b = mixString(b ^ 0x5bd1e995, k));
    const map = this.#map;
    let parent: Buffer | null = null;
    for (let i = 0; i < n; i++) {
      const to = (i + 1) * blockSize;
      for (let j = i * blockSize; j < to; j++) {
        const t = tokens[j]!;
        a = Math.imul(a ^ t, 0xcc9e2d51);
        a = (a << 15) | (a >>> 17);
        b = Math.imul(b ^ t ^ 0x7feb352d, 0x1b873593);
        b = (b << 13) | (b >>> 19);
      }
      const fp = (a >>> 0) * 2097152 + ((b >>> 0) >>> 11);
      let d = map.get(fp);
      if (d === undefined) {
        this.misses++;
        d = hasher.next(parent, tokens, i * blockSize, to, extraKeys);
        if (map.size >= this.capacity) this.#evict();
        map.set(fp, d);
      } else {
        this.hits++;
      }
      out[i] = key53(d);
      parent = d;
    }
    return n;
  }

  #evict(): void {
    let drop = Math.max(1, this.capacity >> 3);
    for (const k of this.#map.keys()) {
      this.#map.delete(k);
      if (--drop === 0) break;
    }
  }
}

let shared: BlockKeyCache | null = null;

/** The process's cache (created on first use). */
export function blockKeyCache(): BlockKeyCache {
  return (shared ??= new BlockKeyCache());
}
