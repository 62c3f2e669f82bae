// One semantic partition's vectors, searched by brute force: every stored question of a partition shares the
// same system prompt, history, tools and parameters (cache/request.ts), so a partition holds few vectors and a
// full scan (128 multiply-adds per vector, about 0.1 µs) beats any index's upkeep. Bounded: at `capacity` the
// oldest vector goes.
//
// Rules: vectors are unit length (cosine = dot product); one vector per key (adding a key again replaces it);
// expired vectors are skipped by `search` and dropped by `prune`; storage is one growable Float32Array with
// swap-remove, so a partition costs its vectors and little else.
import { dot } from './embedder/embedder.ts';

export interface Match {
  key: string;
  query: string;
  similarity: number;
}

export class VectorSet {
  readonly dims: number;
  readonly capacity: number;
  #data: Float32Array;
  readonly #keys: string[] = [];
  readonly #queries: string[] = [];
  readonly #expires: number[] = [];
  readonly #added: number[] = [];
  #clock = 0;

  constructor(dims: number, capacity: number) {
    this.dims = dims;
    this.capacity = capacity;
    this.#data = new Float32Array(dims * 4);
  }

  get size(): number {
    return this.#keys.length;
  }

  /** Bytes held: vectors and query texts (UTF-16 length × 2, an estimate). */
  get bytes(): number {
    let b = this.#keys.length * this.dims * 4;
    for (const q of this.#queries) b += q.length * 2 + 64;
    return b;
  }

  has(key: string): boolean {
    return this.#keys.includes(key);
  }

  /** Adds (or replaces) the vector of `key`; returns the key evicted to make room, if any. */
  add(key: string, vector: Float32Array, query: string, expiresAt: number): string | undefined {
    if (vector.length !== this.dims) throw new Error(`vector has ${vector.length} dims, partition has ${this.dims}`);
    this.remove(key);
    let evicted: string | undefined;
    if (this.#keys.length >= this.capacity) {
      let oldest = 0;
      for (let i = 1; i < this.#added.length; i++) if (this.#added[i]! < this.#added[oldest]!) oldest = i;
      evicted = this.#keys[oldest];
      this.#removeAt(oldest);
    }
    const i = this.#keys.length;
    if ((i + 1) * this.dims > this.#data.length) {
      const grown = new Float32Array(Math.max(this.#data.length * 2, (i + 1) * this.dims));
      grown.set(this.#data);
      this.#data = grown;
    }
    this.#data.set(vector, i * this.dims);
    this.#keys.push(key);
    this.#queries.push(query);
    this.#expires.push(expiresAt);
    this.#added.push(this.#clock++);
    return evicted;
  }

  remove(key: string): boolean {
    const i = this.#keys.indexOf(key);
    if (i === -1) return false;
    this.#removeAt(i);
    return true;
  }

  #removeAt(i: number): void {
    const last = this.#keys.length - 1;
    if (i !== last) {
      this.#data.copyWithin(i * this.dims, last * this.dims, (last + 1) * this.dims);
      this.#keys[i] = this.#keys[last]!;
      this.#queries[i] = this.#queries[last]!;
      this.#expires[i] = this.#expires[last]!;
      this.#added[i] = this.#added[last]!;
    }
    this.#keys.pop();
    this.#queries.pop();
    this.#expires.pop();
    this.#added.pop();
  }

  /** Unexpired vectors with similarity ≥ threshold, best first, at most `limit`. */
  search(vector: Float32Array, threshold: number, limit: number, now = Date.now()): Match[] {
    const out: Match[] = [];
    for (let i = 0; i < this.#keys.length; i++) {
      if (this.#expires[i]! <= now) continue;
      const similarity = dot(vector, this.#data, i * this.dims);
      if (similarity >= threshold) out.push({ key: this.#keys[i]!, query: this.#queries[i]!, similarity });
    }
    out.sort((a, b) => b.similarity - a.similarity);
    return out.length > limit ? out.slice(0, limit) : out;
  }

  /** Drops expired vectors; returns their keys. */
  prune(now = Date.now()): string[] {
    const gone: string[] = [];
    for (let i = this.#keys.length - 1; i >= 0; i--) {
      if (this.#expires[i]! <= now) {
        gone.push(this.#keys[i]!);
        this.#removeAt(i);
      }
    }
    return gone;
  }
}
