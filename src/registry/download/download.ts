// The download step of the model registry (issue 13, "Artifacts"): fetch a source into the node cache once, resume
// what an earlier run left, verify, scan, and say how far it got — or, for pvc/local sources, scan in place.
//
// Rules:
//  - The entry is `<cacheDir>/<cacheEntryName(source)>`; the model path handed to the engine is engineModelPath's,
//    moved from NODE_CACHE_PATH to cacheDir (a file for an https source, the directory otherwise).
//  - A complete manifest whose files are present is a cache hit: no store is contacted, and its recorded scan
//    verdict is reused (a stricter policy than the recorded one rescans).
//  - Otherwise the entry's lock is taken (lock.ts; waiters report Pending and re-check the manifest when they get
//    it), the store listed (with retries), whole files skipped, .part files resumed, the rest fetched `concurrency`
//    at a time. The first failure aborts the others; .part files stay for the next run; nothing is marked complete.
//  - The scan (scan/scan.ts) runs on the finished entry; its verdict is written to the manifest with completedAt. An
//    unsafe entry is complete but refused on every later run with the same reason, without rescanning.
//  - Every failure is a DownloadError with a reason (errors.ts); progress goes to onProgress as DownloadStatus.
import { mkdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { DownloadStatus } from '../../api/kinds/model.ts';
import { engineModelPath, NODE_CACHE_PATH } from '../contract.ts';
import { scanArtifacts } from '../scan/scan.ts';
import { cacheEntryName, canonical, InvalidSourceError, isFetched, parseSource, type Source } from '../source.ts';
import { classify, DownloadError } from './errors.ts';
import { fetchFile, partPath } from './fetch-file.ts';
import { acquireLock } from './lock.ts';
import { filesPresent, readManifest, scanCovers, writeManifest, type Manifest, type ScanVerdict } from './manifest.ts';
import { complete, downloading, failed, pending, type Counters } from './progress.ts';
import { DEFAULT_RETRY, withRetries, type RetryPolicy } from './retry.ts';
import { openStore, type FetchedSource } from './stores/index.ts';
import type { RemoteFile, StoreClient } from './stores/types.ts';

export interface DownloadOptions {
  uri: string;
  revision?: string;
  cacheDir: string;
  safetensorsOnly?: boolean;
  /** Credentials and endpoints, by each store's standard variable names (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Files fetched at once (default 4). */
  concurrency?: number;
  /** No byte for this long aborts an attempt (default 30 s). */
  stallMs?: number;
  connectTimeoutMs?: number;
  retry?: RetryPolicy;
  /** A lock whose heartbeat is older than this is taken over (default 30 s). */
  lockStaleMs?: number;
  lockPollMs?: number;
  onProgress?: (status: DownloadStatus) => void;
  /** How often onProgress hears about bytes (files finishing and the end are always reported); default 250 ms. */
  progressIntervalMs?: number;
  signal?: AbortSignal;
}

export interface DownloadResult {
  /** The engine's model path under cacheDir (or the pvc/local path). */
  path: string;
  source: Source;
  /** The entry was complete already (nothing fetched). */
  cached: boolean;
  /** Bytes received from the store by this run. */
  bytesFetched: number;
  /** Bytes found in .part files and resumed from. */
  bytesResumed: number;
  manifest?: Manifest;
}

/** The model path of `source` with the node cache at `cacheDir` instead of NODE_CACHE_PATH. */
export function modelPathIn(cacheDir: string, source: Source): string {
  const path = engineModelPath(source);
  return isFetched(source) && path.startsWith(NODE_CACHE_PATH) ? join(cacheDir, path.slice(NODE_CACHE_PATH.length)) : path;
}

/** The scan verdict as a manifest record. */
function verdictOf(result: Awaited<ReturnType<typeof scanArtifacts>>, safetensorsOnly: boolean, root: string): ScanVerdict {
  const scannedAt = new Date().toISOString();
  if (result.safe) return { safe: true, safetensorsOnly, scannedAt };
  const file = result.file.startsWith(root + '/') ? result.file.slice(root.length + 1) : result.file;
  return { safe: false, safetensorsOnly, scannedAt, reason: result.reason, file, detail: result.detail, ...(result.global ? { global: result.global } : {}) };
}

function refuse(verdict: Extract<ScanVerdict, { safe: false }>): DownloadError {
  const global = verdict.global ? ` (imports ${verdict.global})` : '';
  return new DownloadError(verdict.reason, `${verdict.file}${global}: ${verdict.detail}`);
}

export async function downloadModel(options: DownloadOptions): Promise<DownloadResult> {
  const report = options.onProgress ?? (() => {});
  let source: Source;
  try {
    source = parseSource(options.uri, options.revision);
  } catch (err) {
    throw err instanceof InvalidSourceError ? new DownloadError('InvalidSource', err.message) : classify(err, options.uri);
  }
  const safetensorsOnly = options.safetensorsOnly ?? false;
  const path = modelPathIn(options.cacheDir, source);

  if (!isFetched(source)) {
    // pvc and local sources are used where they are: scan in place.
    const result = await scanArtifacts(path, { safetensorsOnly });
    if (!result.safe) throw refuse(verdictOf(result, safetensorsOnly, path) as Extract<ScanVerdict, { safe: false }>);
    report(complete({ bytesDone: 0, bytesTotal: 0, filesDone: 0, filesTotal: 0 }, path, 'used in place (not copied)'));
    return { path, source, cached: true, bytesFetched: 0, bytesResumed: 0 };
  }

  const entry = join(options.cacheDir, cacheEntryName(source));
  const hit = await cacheHit(entry, safetensorsOnly);
  if (hit !== undefined) return finishHit(hit, entry, path, source, safetensorsOnly, report);

  try {
    await mkdir(entry, { recursive: true });
  } catch (err) {
    throw classify(err, entry);
  }
  report(pending());
  const lock = await acquireLock(`${entry}.lock`, {
    staleMs: options.lockStaleMs ?? 30_000,
    pollMs: options.lockPollMs ?? 500,
    ...(options.signal ? { signal: options.signal } : {}),
    onWait: (holder) => report(pending(`another download of this source is running${holder ? ` (pid ${holder.pid} on ${holder.host})` : ''}`)),
  });
  try {
    const done = await cacheHit(entry, safetensorsOnly);
    if (done !== undefined) return await finishHit(done, entry, path, source, safetensorsOnly, report);
    return await fetchEntry(source as FetchedSource, entry, path, options, report);
  } finally {
    await lock.release();
  }
}

async function cacheHit(entry: string, safetensorsOnly: boolean): Promise<Manifest | undefined> {
  const manifest = await readManifest(entry);
  if (manifest?.completedAt === undefined) return undefined;
  return (await filesPresent(entry, manifest)) ? manifest : undefined;
}

async function finishHit(manifest: Manifest, entry: string, path: string, source: Source, safetensorsOnly: boolean, report: (s: DownloadStatus) => void): Promise<DownloadResult> {
  let verdict = manifest.scan;
  if (!scanCovers(verdict, safetensorsOnly)) {
    verdict = verdictOf(await scanArtifacts(entry, { safetensorsOnly }), safetensorsOnly, entry);
    manifest = { ...manifest, scan: verdict };
    await writeManifest(entry, manifest).catch(() => {});
  }
  if (verdict !== undefined && !verdict.safe) throw refuse(verdict);
  const total = manifest.files.reduce((n, f) => n + f.size, 0);
  report(complete({ bytesDone: total, bytesTotal: total, filesDone: manifest.files.length, filesTotal: manifest.files.length }, path, 'in the node cache'));
  return { path, source, cached: true, bytesFetched: 0, bytesResumed: 0, manifest };
}

async function fetchEntry(source: FetchedSource, entry: string, path: string, options: DownloadOptions, report: (s: DownloadStatus) => void): Promise<DownloadResult> {
  const safetensorsOnly = options.safetensorsOnly ?? false;
  const retry = options.retry ?? DEFAULT_RETRY;
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  let store: StoreClient | undefined;
  try {
    store = await openStore(source, { env: options.env ?? process.env, connectTimeoutMs: options.connectTimeoutMs ?? 10_000 });
    const listing = await withRetries(`listing ${canonical(source)}`, retry, abort.signal, () => store!.list(abort.signal));
    const previous = (await readManifest(entry)) ?? undefined;
    const plan = await planFiles(entry, listing.files, previous);
    const manifest: Manifest = {
      version: 1,
      uri: options.uri,
      source: canonical(source),
      ...(source.store === 'huggingface' ? { revision: source.revision } : {}),
      ...(listing.revision ? { resolvedRevision: listing.revision } : {}),
      files: plan.have,
      pending: Object.fromEntries(plan.fetch.map((f) => [f.path, { size: f.size, ...(f.etag ? { etag: f.etag } : {}) }])),
    };
    await writeManifest(entry, manifest);

    const onDisk = new Map<string, number>(plan.have.map((f) => [f.path, f.size]));
    const counters = (): Counters => ({
      bytesDone: [...onDisk.values()].reduce((a, b) => a + b, 0),
      bytesTotal: listing.files.reduce((n, f) => n + f.size, 0),
      filesDone: manifest.files.length,
      filesTotal: listing.files.length,
    });
    const interval = options.progressIntervalMs ?? 250;
    let lastReport = 0;
    const progress = (force: boolean) => {
      if (!force && Date.now() - lastReport < interval) return;
      lastReport = Date.now();
      report(downloading(counters()));
    };
    progress(true);

    let bytesFetched = 0;
    let bytesResumed = 0;
    const queue = [...plan.fetch].sort((a, b) => b.size - a.size); // largest first: the long pole starts at once
    let firstError: unknown;
    let writing: Promise<void> = Promise.resolve();
    const worker = async () => {
      for (let file = queue.shift(); file !== undefined && firstError === undefined; file = queue.shift()) {
        let first = true;
        try {
          const sha256 = await fetchFile(store!, file, entry, {
            stallMs: options.stallMs ?? 30_000,
            retry,
            signal: abort.signal,
            onBytes: (n) => {
              if (first) bytesResumed += n;
              first = false;
              onDisk.set(file!.path, n);
              progress(false);
            },
            onFetched: (n) => (bytesFetched += n),
          });
          manifest.files.push({ path: file.path, size: file.size, sha256, ...(file.etag ? { etag: file.etag } : {}) });
          delete manifest.pending[file.path];
          writing = writing.then(() => writeManifest(entry, manifest));
          await writing;
          progress(true);
        } catch (err) {
          if (firstError === undefined) {
            firstError = err;
            abort.abort(err);
          }
        }
      }
    };
    const concurrency = Number.isInteger(options.concurrency) && options.concurrency! > 0 ? options.concurrency! : 4;
    await Promise.all(Array.from({ length: concurrency }, worker));
    if (firstError !== undefined) throw firstError;
    // Never a half model: every listed file must be whole before the entry can be complete.
    const whole = new Set(manifest.files.map((f) => f.path));
    const missing = listing.files.filter((f) => !whole.has(f.path));
    if (missing.length > 0) throw new DownloadError('StoreUnreachable', `${missing.length} file(s) not fetched: ${missing.map((f) => f.path).slice(0, 5).join(', ')}`);

    const verdict = verdictOf(await scanArtifacts(entry, { safetensorsOnly }), safetensorsOnly, entry);
    manifest.files.sort((a, b) => a.path.localeCompare(b.path));
    manifest.scan = verdict;
    manifest.completedAt = new Date().toISOString();
    await writeManifest(entry, manifest);
    if (!verdict.safe) throw refuse(verdict);
    report(complete(counters(), path));
    return { path, source, cached: false, bytesFetched, bytesResumed, manifest };
  } catch (err) {
    const error = options.signal?.aborted && !(err instanceof DownloadError) ? err : classify(err, canonical(source));
    if (error instanceof DownloadError) report(failed(error.reason, error.message));
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', onOuterAbort);
    store?.close?.();
  }
}

/**
 * Which listed files are whole already (in the previous manifest with the same size and version, and on disk) and
 * which to fetch; a .part of another object version than the one it was started for is deleted.
 */
async function planFiles(entry: string, files: RemoteFile[], previous: Manifest | undefined): Promise<{ have: Manifest['files']; fetch: RemoteFile[] }> {
  const have: Manifest['files'] = [];
  const fetch: RemoteFile[] = [];
  const known = new Map((previous?.files ?? []).map((f) => [f.path, f]));
  for (const file of files) {
    const old = known.get(file.path);
    if (old !== undefined && old.size === file.size && old.etag === file.etag) {
      const size = await stat(join(entry, file.path)).then((s) => s.size, () => -1);
      if (size === file.size) {
        have.push(old);
        continue;
      }
    }
    const started = previous?.pending[file.path];
    if (started !== undefined && (started.etag !== file.etag || started.size !== file.size)) await unlink(partPath(entry, file)).catch(() => {});
    fetch.push(file);
  }
  return { have, fetch };
}
