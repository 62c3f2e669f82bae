// Fetches one file of a listing into the cache entry: `<name>.part` first, resumed from its size with a Range
// request, renamed to `<name>` only once its size and the store's checksum are right.
//
// Rules:
//  - A stall timer covers every wait for bytes (the request and each chunk): no byte for stallMs aborts the attempt
//    with Stalled, which is retried (resuming from what was written).
//  - A body that ends short is resumed; a .part larger than the file, or of another object version, starts over.
//  - After the last byte the whole file is hashed (sha256 for the manifest, md5 when the store's checksum is md5); a
//    mismatch deletes the .part and starts over once, then fails ChecksumMismatch. ENOSPC fails DiskFull and keeps
//    the .part for a later run.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { classify, DownloadError } from './errors.ts';
import { withRetries, type RetryPolicy } from './retry.ts';
import type { RemoteFile, StoreClient } from './stores/types.ts';

export interface FetchFileOptions {
  stallMs: number;
  retry: RetryPolicy;
  signal: AbortSignal;
  /** Bytes now on disk for this file (called with the resume offset first, then with every chunk's new total). */
  onBytes: (onDisk: number) => void;
  /** Bytes received from the store (for the caller's "fetched" count). */
  onFetched: (bytes: number) => void;
}

export const partPath = (dir: string, file: RemoteFile): string => join(dir, `${file.path}.part`);

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

/** sha256 (and md5 when asked) of a file. */
export async function hashFile(path: string, md5: boolean): Promise<{ sha256: string; md5?: string }> {
  const sha = createHash('sha256');
  const m = md5 ? createHash('md5') : undefined;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    sha.update(chunk as Buffer);
    m?.update(chunk as Buffer);
  }
  return { sha256: sha.digest('hex'), ...(m ? { md5: m.digest('hex') } : {}) };
}

/** Fetches `file` into `dir`; resolves with its sha256 once `<dir>/<path>` is complete and verified. */
export async function fetchFile(store: StoreClient, file: RemoteFile, dir: string, options: FetchFileOptions): Promise<string> {
  const final = join(dir, file.path);
  const part = partPath(dir, file);
  await mkdir(dirname(final), { recursive: true });
  let mismatches = 0;
  for (;;) {
    await withRetries(file.key, options.retry, options.signal, async () => {
      let start = (await sizeOf(part)) ?? 0;
      if (start > file.size) {
        await unlink(part);
        start = 0;
      }
      options.onBytes(start);
      if (start === file.size) {
        if (start === 0) await (await open(part, 'a')).close();
        return;
      }
      await receive(store, file, part, start, options);
    });
    const sums = await hashFile(part, file.checksum?.algorithm === 'md5');
    const got = file.checksum?.algorithm === 'md5' ? sums.md5 : sums.sha256;
    if (file.checksum === undefined || got === file.checksum.hex.toLowerCase()) {
      await rename(part, final);
      return sums.sha256;
    }
    await unlink(part);
    options.onBytes(0);
    if (++mismatches >= 2)
      throw new DownloadError('ChecksumMismatch', `${file.key}: ${file.checksum.algorithm} ${got} does not match the store's ${file.checksum.hex} (twice; the partial file was deleted)`);
  }
}

/** One attempt: append the bytes from `start` to the .part, under the stall timer. */
async function receive(store: StoreClient, file: RemoteFile, part: string, start: number, options: FetchFileOptions): Promise<void> {
  const attempt = new AbortController();
  const stalled = new DownloadError('Stalled', `${file.key}: no byte for ${options.stallMs / 1000} s (at byte ${start} of ${file.size})`);
  let timer = setTimeout(() => attempt.abort(stalled), options.stallMs);
  const kick = () => {
    clearTimeout(timer);
    timer = setTimeout(() => attempt.abort(stalled), options.stallMs);
  };
  const onOuterAbort = () => attempt.abort(options.signal.reason);
  options.signal.addEventListener('abort', onOuterAbort, { once: true });
  const handle = await open(part, 'a').catch((err: unknown) => {
    clearTimeout(timer);
    throw classify(err, part);
  });
  let onDisk = start;
  try {
    options.signal.throwIfAborted();
    const body = await store.open(file, start, attempt.signal);
    for await (const chunk of body) {
      kick();
      if (onDisk + chunk.byteLength > file.size) throw new DownloadError('StoreUnreachable', `${file.key}: the store sent more than the listed ${file.size} bytes`);
      try {
        await handle.write(chunk);
      } catch (err) {
        throw classify(err, part);
      }
      onDisk += chunk.byteLength;
      options.onFetched(chunk.byteLength);
      options.onBytes(onDisk);
    }
    if (onDisk < file.size) throw new DownloadError('StoreUnreachable', `${file.key}: the body ended at byte ${onDisk} of ${file.size}`);
  } catch (err) {
    if (attempt.signal.aborted) throw attempt.signal.reason;
    throw classify(err, file.key);
  } finally {
    clearTimeout(timer);
    options.signal.removeEventListener('abort', onOuterAbort);
    await handle.close().catch(() => {});
  }
}
