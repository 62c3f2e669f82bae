// Google Cloud Storage through @google-cloud/storage (loaded only here). Credentials: GOOGLE_APPLICATION_CREDENTIALS
// holds the service account key's JSON itself (the Secret key a Model's secretRef names, issue 13) or, as Google's
// tools read it, a path to that file; without it the library's default chain (workload identity) applies.
// STORAGE_EMULATOR_HOST points at an emulator (the library then skips authentication), GCS_API_ENDPOINT at another
// endpoint. The checksum is the object's md5Hash (absent for composite objects, which have only crc32c).
import { existsSync } from 'node:fs';
import type { Source } from '../../source.ts';
import { classify, DownloadError } from '../errors.ts';
import { base64ToHex, safeRelative, underPrefix, type Listing, type RemoteFile, type StoreClient, type StoreOptions } from './types.ts';

type GcsSource = Extract<Source, { store: 'gcs' }>;

/** The credentials option from GOOGLE_APPLICATION_CREDENTIALS: parsed JSON content, a key file path, or nothing. */
export function gcsCredentials(value: string | undefined): { credentials: { client_email: string; private_key: string }; projectId?: string } | { keyFilename: string } | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const text = value.trim();
  if (!text.startsWith('{')) {
    if (existsSync(text)) return { keyFilename: text };
    throw new DownloadError('MissingCredentials', 'GOOGLE_APPLICATION_CREDENTIALS is neither a service account key (JSON) nor an existing file');
  }
  let key: { client_email?: unknown; private_key?: unknown; project_id?: unknown };
  try {
    key = JSON.parse(text);
  } catch (err) {
    throw new DownloadError('MissingCredentials', `GOOGLE_APPLICATION_CREDENTIALS is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof key.client_email !== 'string' || typeof key.private_key !== 'string')
    throw new DownloadError('MissingCredentials', 'GOOGLE_APPLICATION_CREDENTIALS: the service account key has no client_email or private_key');
  return { credentials: { client_email: key.client_email, private_key: key.private_key }, ...(typeof key.project_id === 'string' ? { projectId: key.project_id } : {}) };
}

export async function gcsStore(source: GcsSource, options: StoreOptions): Promise<StoreClient> {
  const env = options.env;
  const auth = gcsCredentials(env.GOOGLE_APPLICATION_CREDENTIALS);
  const { Storage } = await import('@google-cloud/storage');
  // STORAGE_EMULATOR_HOST as Google's Go and Python clients read it (host:port or a URL, the API under
  // /storage/v1). This library instead reads process.env itself and takes the value as the API's base URL, so it is
  // hidden from the constructor (synchronous: nothing else runs meanwhile) and passed as apiEndpoint.
  const emulator = env.STORAGE_EMULATOR_HOST;
  const apiEndpoint = emulator ? (/^https?:\/\//.test(emulator) ? emulator : `http://${emulator}`).replace(/\/+$/, '').replace(/\/storage\/v1$/, '') : env.GCS_API_ENDPOINT;
  const saved = process.env.STORAGE_EMULATOR_HOST;
  delete process.env.STORAGE_EMULATOR_HOST;
  let storage;
  try {
    storage = new Storage({
      ...(auth ?? {}),
      ...(apiEndpoint ? { apiEndpoint } : {}),
      ...(emulator ? { projectId: 'emulator', useAuthWithCustomEndpoint: false } : {}),
      retryOptions: { autoRetry: false, maxRetries: 0 },
    });
  } finally {
    if (saved !== undefined) process.env.STORAGE_EMULATOR_HOST = saved;
  }
  const bucket = storage.bucket(source.bucket);
  const where = `gs://${source.bucket}/${source.prefix}`;
  const wrap = (err: unknown, what: string): DownloadError => {
    const message = (err as Error).message ?? '';
    if (/could not load the default credentials|no credentials/i.test(message))
      return new DownloadError('MissingCredentials', `${what}: no Google credentials (put the service account key's JSON in GOOGLE_APPLICATION_CREDENTIALS): ${message}`);
    return classify(err, what);
  };
  return {
    async list(signal): Promise<Listing> {
      const files: RemoteFile[] = [];
      try {
        const [objects] = await abortable(bucket.getFiles({ prefix: source.prefix, autoPaginate: true }), signal);
        for (const object of objects) {
          const rel = underPrefix(object.name, source.prefix);
          if (rel === undefined) continue;
          const meta = object.metadata;
          const md5 = typeof meta.md5Hash === 'string' ? base64ToHex(meta.md5Hash) : undefined;
          files.push({
            path: safeRelative(rel, where),
            key: object.name,
            size: Number(meta.size ?? 0),
            ...(meta.generation !== undefined ? { etag: String(meta.generation) } : meta.etag ? { etag: String(meta.etag) } : {}),
            ...(md5 ? { checksum: { algorithm: 'md5' as const, hex: md5 } } : {}),
          });
        }
      } catch (err) {
        throw wrap(err, `listing ${where}`);
      }
      if (files.length === 0) throw new DownloadError('NotFound', `${where}: no objects at that location`);
      return { files };
    },
    async open(file, start, signal) {
      const what = `gs://${source.bucket}/${file.key}`;
      const stream = bucket.file(file.key).createReadStream({ start, validation: false, decompress: false });
      const onAbort = () => stream.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      stream.once('close', () => signal.removeEventListener('abort', onAbort));
      // Errors (404, 403, refused) arrive on the stream: map them where the bytes are read.
      return (async function* () {
        try {
          for await (const chunk of stream) yield chunk as Uint8Array;
        } catch (err) {
          if (signal.aborted) throw signal.reason;
          throw wrap(err, what);
        }
      })();
    },
  };
}

/** A promise that rejects with the signal's reason when it aborts first. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
      (e) => (signal.removeEventListener('abort', onAbort), reject(e)),
    );
  });
}
