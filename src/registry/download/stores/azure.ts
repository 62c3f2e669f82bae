// Azure Blob Storage through @azure/storage-blob (loaded only here). Credentials: AZURE_STORAGE_CONNECTION_STRING
// (also how Azurite is reached: its BlobEndpoint), else AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY (shared key) at
// https://<account>.blob.core.windows.net (AZURE_STORAGE_BLOB_ENDPOINT overrides the URL); an https:// source
// URL names the account itself and may be read anonymously (a public container). The checksum is Content-MD5 when
// the blob has one (block uploads by some tools leave it empty).
import type { Source } from '../../source.ts';
import { classify, DownloadError } from '../errors.ts';
import { safeRelative, underPrefix, type Listing, type RemoteFile, type StoreClient, type StoreOptions } from './types.ts';

type AzureSource = Extract<Source, { store: 'azure' }>;

export async function azureStore(source: AzureSource, options: StoreOptions): Promise<StoreClient> {
  const env = options.env;
  const { BlobServiceClient, StorageSharedKeyCredential, AnonymousCredential } = await import('@azure/storage-blob');
  const pipeline = { retryOptions: { maxTries: 1 } };
  let service;
  if (env.AZURE_STORAGE_CONNECTION_STRING) {
    try {
      service = BlobServiceClient.fromConnectionString(env.AZURE_STORAGE_CONNECTION_STRING, pipeline);
    } catch (err) {
      throw new DownloadError('MissingCredentials', `AZURE_STORAGE_CONNECTION_STRING is not a valid connection string: ${(err as Error).message}`);
    }
  } else {
    const account = source.account ?? env.AZURE_STORAGE_ACCOUNT;
    if (!account) throw new DownloadError('MissingCredentials', `az://${source.container}: no account (set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY)`);
    const url = env.AZURE_STORAGE_BLOB_ENDPOINT || `https://${account}.blob.core.windows.net`;
    if (env.AZURE_STORAGE_KEY) service = new BlobServiceClient(url, new StorageSharedKeyCredential(account, env.AZURE_STORAGE_KEY), pipeline);
    else if (source.account !== undefined) service = new BlobServiceClient(url, new AnonymousCredential(), pipeline);
    else throw new DownloadError('MissingCredentials', `az://${source.container}: no AZURE_STORAGE_KEY for account ${account} (or set AZURE_STORAGE_CONNECTION_STRING)`);
  }
  const container = service.getContainerClient(source.container);
  const where = `az://${source.container}/${source.prefix}`;
  const wrap = (err: unknown, what: string): DownloadError => {
    const code = (err as { code?: unknown }).code;
    if (code === 'ContainerNotFound' || code === 'BlobNotFound') return new DownloadError('NotFound', `${what}: ${code}`);
    if (code === 'AuthenticationFailed' || code === 'AuthorizationFailure' || code === 'AuthorizationPermissionMismatch') return new DownloadError('Forbidden', `${what}: ${code}`);
    return classify(err, what);
  };
  return {
    async list(signal): Promise<Listing> {
      const files: RemoteFile[] = [];
      try {
        for await (const blob of container.listBlobsFlat({ prefix: source.prefix, abortSignal: signal })) {
          const rel = underPrefix(blob.name, source.prefix);
          if (rel === undefined) continue;
          const md5 = blob.properties.contentMD5;
          files.push({
            path: safeRelative(rel, where),
            key: blob.name,
            size: blob.properties.contentLength ?? 0,
            etag: blob.properties.etag.replace(/"/g, ''),
            ...(md5 && md5.length === 16 ? { checksum: { algorithm: 'md5' as const, hex: Buffer.from(md5).toString('hex') } } : {}),
          });
        }
      } catch (err) {
        throw wrap(err, `listing ${where}`);
      }
      if (files.length === 0) throw new DownloadError('NotFound', `${where}: no blobs at that location`);
      return { files };
    },
    async open(file, start, signal) {
      const what = `az://${source.container}/${file.key}`;
      try {
        const out = await container.getBlobClient(file.key).download(start, undefined, {
          abortSignal: signal,
          maxRetryRequests: 0,
          ...(file.etag ? { conditions: { ifMatch: `"${file.etag}"` } } : {}),
        });
        if (!out.readableStreamBody) throw new Error('no body');
        return out.readableStreamBody as AsyncIterable<Uint8Array>;
      } catch (err) {
        throw wrap(err, what);
      }
    },
  };
}
