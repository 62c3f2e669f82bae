// The in-process store: records in one Map used as an LRU (a read moves a record to the end; at `maxEntries` the
// first goes), each with an expiry, and the semantic vectors in one VectorSet per partition. Bytes are accounted
// as the records' serialised JSON plus their vectors and question texts.
//
// Rules: expired records are dropped when read and by a sweep of the LRU's head on every write, so memory is
// bounded by maxEntries whatever the TTL; a record's vector goes with it; an empty partition goes too. Everything
// is synchronous (the Promise interface is the Redis store's).
import type { CacheEntry } from './entry.ts';
import type { CacheStore, SemanticIndex, StoreStats } from './store.ts';
import { VectorSet, type Match } from './vectors.ts';

interface MemoryRecord {
  entry: CacheEntry;
  bytes: number;
  expiresAt: number;
  partition: string | undefined;
}

/** Vectors per semantic partition before the oldest go. */
export const PARTITION_CAPACITY = 4096;

export class MemoryStore implements CacheStore {
  readonly type = 'memory';
  maxEntries: number;
  readonly #records = new Map<string, MemoryRecord>();
  readonly #partitions = new Map<string, VectorSet>();
  readonly #now: () => number;
  #bytes = 0;

  constructor(maxEntries: number, now: () => number = Date.now) {
    this.maxEntries = maxEntries;
    this.#now = now;
  }

  get(key: string): Promise<CacheEntry | undefined> {
    const r = this.#records.get(key);
    if (r === undefined) return Promise.resolve(undefined);
    if (r.expiresAt <= this.#now()) {
      this.#delete(key, r);
      return Promise.resolve(undefined);
    }
    this.#records.delete(key);
    this.#records.set(key, r);
    return Promise.resolve(r.entry);
  }

  put(key: string, entry: CacheEntry, ttlMs: number, semantic?: SemanticIndex): Promise<void> {
    const now = this.#now();
    const old = this.#records.get(key);
    if (old !== undefined) this.#delete(key, old);
    let bytes = Buffer.byteLength(JSON.stringify(entry));
    let partition: string | undefined;
    if (semantic !== undefined) {
      partition = semantic.partition;
      let set = this.#partitions.get(partition);
      if (set === undefined) this.#partitions.set(partition, (set = new VectorSet(semantic.vector.length, PARTITION_CAPACITY)));
      const evicted = set.add(key, semantic.vector, semantic.query, now + semantic.ttlMs);
      if (evicted !== undefined) {
        const r = this.#records.get(evicted);
        if (r !== undefined) this.#delete(evicted, r);
      }
      bytes += semantic.vector.length * 4 + semantic.query.length * 2;
    }
    this.#records.set(key, { entry, bytes, expiresAt: now + ttlMs, partition });
    this.#bytes += bytes;
    this.#evict(now);
    return Promise.resolve();
  }

  search(partition: string, vector: Float32Array, threshold: number, limit: number): Promise<Match[]> {
    const set = this.#partitions.get(partition);
    return Promise.resolve(set === undefined ? [] : set.search(vector, threshold, limit, this.#now()));
  }

  stats(): StoreStats {
    return { entries: this.#records.size, bytes: this.#bytes };
  }

  close(): void {
    this.#records.clear();
    this.#partitions.clear();
    this.#bytes = 0;
  }

  /** Over capacity: least recently used first; expired records at the head go whatever the count. */
  #evict(now: number): void {
    for (const [key, r] of this.#records) {
      if (this.#records.size <= this.maxEntries && r.expiresAt > now) break;
      this.#delete(key, r);
    }
  }

  #delete(key: string, r: MemoryRecord): void {
    this.#records.delete(key);
    this.#bytes -= r.bytes;
    if (r.partition === undefined) return;
    const set = this.#partitions.get(r.partition);
    if (set === undefined) return;
    set.remove(key);
    if (set.size === 0) this.#partitions.delete(r.partition);
  }
}
