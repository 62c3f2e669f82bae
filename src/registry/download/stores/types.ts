// What the downloader needs from a store: list the files of a source (with size and, where the store gives one, a
// checksum), and open a byte range of one file as a stream. Each store module implements this with its own client
// library, loaded lazily (dynamic import) so only the download step pays for it.
//
// Rules: paths are relative to the model directory (the cache entry), '/'-separated, never '..'; a store's errors
// leave its module as DownloadError (errors.ts) — listing an empty location is NotFound; the SDKs' own retries are
// off (the downloader retries with its own bounded back-off, so a dead endpoint fails in bounded time).

/** A checksum the store vouches for: verified after the file is complete. */
export interface Checksum {
  algorithm: 'md5' | 'sha256';
  hex: string;
}

export interface RemoteFile {
  /** Where the file goes, relative to the model directory. */
  path: string;
  /** The store's own name for it (object key, blob name, repository path). */
  key: string;
  size: number;
  /** Identifies this version of the object (ETag, generation, LFS oid): a .part is resumed only for the same one. */
  etag?: string;
  checksum?: Checksum;
}

export interface Listing {
  files: RemoteFile[];
  /** The immutable revision the listing is of (a Hub commit sha), when the store has one. */
  revision?: string;
}

export interface StoreClient {
  list(signal: AbortSignal): Promise<Listing>;
  /** The bytes of `file` from `start` to its end. */
  open(file: RemoteFile, start: number, signal: AbortSignal): Promise<AsyncIterable<Uint8Array>>;
  close?(): void;
}

export interface StoreOptions {
  env: NodeJS.ProcessEnv;
  /** Connect timeout (ms) for the clients that take one. */
  connectTimeoutMs: number;
}

/** A checked relative path: no absolute paths, no '..', no empty segments. */
export function safeRelative(path: string, where: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.some((p) => p === '..') || path.startsWith('/')) throw new Error(`${where}: unsafe object path ${JSON.stringify(path)}`);
  return parts.join('/');
}

/** `key` relative to `prefix` (a directory prefix or the exact object), or undefined when outside it. */
export function underPrefix(key: string, prefix: string): string | undefined {
  if (key.endsWith('/')) return undefined; // a "directory" marker object
  if (prefix === '') return key;
  if (key === prefix) return key.split('/').pop()!;
  const dir = prefix.endsWith('/') ? prefix : `${prefix}/`;
  return key.startsWith(dir) ? key.slice(dir.length) : undefined;
}

/** md5 of a base64 digest (GCS md5Hash, Azure Content-MD5) as hex. */
export const base64ToHex = (b64: string): string => Buffer.from(b64, 'base64').toString('hex');
