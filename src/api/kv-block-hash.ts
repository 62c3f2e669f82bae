// KV-cache block hashes exactly as vLLM computes them, shared by the simulated engine (which keys its prefix cache
// and its KV events by them) and the gateway (which hashes a prompt's blocks to look them up in what an engine said
// it holds). Pure: no I/O, no state beyond a reused scratch buffer.
//
// vLLM (v1/core/kv_cache_utils.py hash_block_tokens, utils/hashing.py sha256_cbor), block i of a sequence:
//   digest_i = sha256(cbor_canonical((parent, tuple(token ids of block i), extra_keys)))
//   parent   = digest_{i-1}, or for block 0 NONE_HASH = sha256(cbor_canonical(PYTHONHASHSEED as a text string))
//   extra_keys = None, or a tuple (the LoRA adapter's name for a LoRA request; multimodal and cache_salt keys, which
//   we do not produce, would go there too)
// KV events carry the low 64 bits of a digest as an unsigned integer (maybe_convert_block_hash; vLLM's default).
// Two schemes, one flag apart:
//   'sha256_cbor'        vLLM ≥ 0.10.2: the parent is the previous 32-byte digest (a CBOR byte string).
//   'sha256_cbor_64bit'  vLLM 0.9–0.10.1 and llm-d's kv-cache-manager: the parent is the previous hash's low 64 bits
//                        (a CBOR unsigned integer); NONE_HASH likewise.
// A real vLLM pod's hashes are reproducible only with PYTHONHASHSEED set (unset, NONE_HASH is random per process).
//
// Keys: scorers and indexes compare blocks by `key53(digest)`, the top 53 of those 64 bits as a JS number (Map
// lookups on numbers are several times cheaper than on bigints; a 53-bit collision among a pod's blocks is
// negligible, and at worst a wrong affinity hint). `wireHash()` is the full 64-bit value events carry.
import { hash as cryptoHash } from 'node:crypto';

export type KvHashAlgo = 'sha256_cbor' | 'sha256_cbor_64bit';
export const KV_HASH_ALGOS: readonly KvHashAlgo[] = ['sha256_cbor', 'sha256_cbor_64bit'];

/** The seed when none is configured (our engine's default; vLLM's is a random one). */
export const DEFAULT_KV_HASH_SEED = '0';

const TWO_21 = 2 ** 21;

/** The 64-bit hash a KV event carries for a block: the digest's low 64 bits. */
export function wireHash(digest: Uint8Array): bigint {
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).readBigUInt64BE(digest.byteLength - 8);
}

/** The top 53 bits of the 64-bit wire hash, as a number: the key indexes use. */
export function key53(digest: Uint8Array): number {
  const n = digest.byteLength;
  const hi = ((digest[n - 8]! << 24) | (digest[n - 7]! << 16) | (digest[n - 6]! << 8) | digest[n - 5]!) >>> 0;
  const lo = ((digest[n - 4]! << 24) | (digest[n - 3]! << 16) | (digest[n - 2]! << 8) | digest[n - 1]!) >>> 0;
  return hi * TWO_21 + (lo >>> 11);
}

/** key53 of a 64-bit wire hash (as KV events carry it). */
export function key53OfWire(h: bigint): number {
  return Number(BigInt.asUintN(64, h) >> 11n);
}

export interface KvHashConfig {
  algo: KvHashAlgo;
  /** PYTHONHASHSEED of the engine. */
  seed: string;
}

/** Incremental CBOR writer into a growable scratch buffer. */
class Scratch {
  buf = Buffer.allocUnsafe(1024);
  len = 0;

  ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + extra));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  /** Major type `major` with argument `n` (0 ≤ n < 2^53), shortest form as canonical CBOR requires. */
  head(major: number, n: number): void {
    this.ensure(9);
    const b = this.buf;
    const m = major << 5;
    if (n < 24) b[this.len++] = m | n;
    else if (n < 0x100) {
      b[this.len++] = m | 24;
      b[this.len++] = n;
    } else if (n < 0x10000) {
      b[this.len++] = m | 25;
      b.writeUInt16BE(n, this.len);
      this.len += 2;
    } else if (n < 0x100000000) {
      b[this.len++] = m | 26;
      b.writeUInt32BE(n, this.len);
      this.len += 4;
    } else {
      b[this.len++] = m | 27;
      b.writeUInt32BE(Math.floor(n / 0x100000000), this.len);
      b.writeUInt32BE(n >>> 0, this.len + 4);
      this.len += 8;
    }
  }

  /** An unsigned integer given as its 8 big-endian bytes (shortest form). */
  uint64(bytes: Uint8Array, at: number): void {
    const hi = ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
    const lo = ((bytes[at + 4]! << 24) | (bytes[at + 5]! << 16) | (bytes[at + 6]! << 8) | bytes[at + 7]!) >>> 0;
    if (hi === 0) {
      this.head(0, lo);
      return;
    }
    this.ensure(9);
    this.buf[this.len++] = 27;
    this.buf.writeUInt32BE(hi, this.len);
    this.buf.writeUInt32BE(lo, this.len + 4);
    this.len += 8;
  }

  bytes(b: Uint8Array): void {
    this.head(2, b.length);
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  text(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.head(3, n);
    this.ensure(n);
    this.buf.write(s, this.len, 'utf8');
    this.len += n;
  }

  digest(): Buffer {
    return cryptoHash('sha256', this.buf.subarray(0, this.len), 'buffer');
  }
}

/**
 * Chained block hashes of one engine's configuration. `next()` hashes one block given its parent's digest;
 * `keys()` hashes every full block of a token sequence into index keys.
 */
export class KvBlockHasher {
  readonly algo: KvHashAlgo;
  readonly seed: string;
  /** NONE_HASH: the parent of every sequence's first block. */
  readonly root: Buffer;
  readonly #s = new Scratch();

  constructor(config: KvHashConfig) {
    this.algo = config.algo;
    this.seed = config.seed;
    const s = this.#s;
    s.len = 0;
    s.text(config.seed);
    this.root = s.digest();
  }

  /** Digest of the block tokens[from, to) whose parent block's digest is `parent` (null: the first block). */
  next(parent: Uint8Array | null, tokens: ArrayLike<number>, from: number, to: number, extraKeys: readonly string[] | null): Buffer {
    const s = this.#s;
    s.len = 0;
    s.head(4, 3);
    const p = parent ?? this.root;
    if (this.algo === 'sha256_cbor') s.bytes(p);
    else s.uint64(p, p.length - 8);
    s.head(4, to - from);
    s.ensure((to - from) * 5);
    for (let i = from; i < to; i++) {
      const t = tokens[i]!;
      if (!(t >= 0 && Number.isInteger(t))) throw new RangeError(`token id ${t} is not a non-negative integer`);
      s.head(0, t);
    }
    if (extraKeys === null || extraKeys.length === 0) {
      s.ensure(1);
      s.buf[s.len++] = 0xf6; // None
    } else {
      s.head(4, extraKeys.length);
      for (const k of extraKeys) s.text(k);
    }
    return s.digest();
  }

  /**
   * Index keys (key53) of the full blocks of `tokens` (at most `maxBlocks`), written into `out` from 0; returns how
   * many. `out` must hold `min(maxBlocks, floor(tokens.length / blockSize))` entries.
   */
  keys(tokens: ArrayLike<number>, blockSize: number, extraKeys: readonly string[] | null, out: Float64Array, maxBlocks = out.length): number {
    const n = Math.min(Math.floor(tokens.length / blockSize), maxBlocks, out.length);
    let parent: Buffer | null = null;
    for (let i = 0; i < n; i++) {
      parent = this.next(parent, tokens, i * blockSize, (i + 1) * blockSize, extraKeys);
      out[i] = key53(parent);
    }
    return n;
  }
}

/** Parse a hash algorithm name as vLLM's --prefix-caching-hash-algo spells it; undefined when not one we compute. */
export function parseKvHashAlgo(s: string | undefined): KvHashAlgo | undefined {
  if (s === undefined || s === '') return 'sha256_cbor';
  return (KV_HASH_ALGOS as readonly string[]).includes(s) ? (s as KvHashAlgo) : undefined;
}
