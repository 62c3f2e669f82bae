// The cache's storage, one interface for the in-process store (memory-store.ts) and the one shared by gateway
// replicas through Redis (redis-store.ts).
//
// A record is one response (a CacheEntry) under its exact key, optionally indexed in one semantic partition by
// the vector of its question. The response and its vector live and die together, so a semantic match always
// leads to a response (or, on Redis, to a record that has just expired: the caller treats that as a miss).
//
// Rules: every method may reject (Redis away, slow); the caller turns that into a miss or a skipped store, never
// into a failed request. Lifetimes are the caller's: `ttlMs` for the record, `semantic.ttlMs` for its vector.
import type { CacheEntry } from './entry.ts';
import type { Match } from './vectors.ts';

export interface SemanticIndex {
  partition: string;
  vector: Float32Array;
  query: string;
  ttlMs: number;
}

export interface StoreStats {
  entries: number;
  bytes: number;
}

export interface CacheStore {
  readonly type: 'memory' | 'redis';
  /** The entry under an exact key, if stored and not expired. */
  get(key: string): Promise<CacheEntry | undefined>;
  /** Stores an entry for `ttlMs`, with its question's vector in a semantic partition when given. */
  put(key: string, entry: CacheEntry, ttlMs: number, semantic?: SemanticIndex): Promise<void>;
  /** The partition's stored questions with similarity ≥ threshold, best first, at most `limit`. */
  search(partition: string, vector: Float32Array, threshold: number, limit: number): Promise<Match[]>;
  /** What this process holds (for Redis: its mirror of the vectors it has read). */
  stats(): StoreStats;
  close(): void;
}
