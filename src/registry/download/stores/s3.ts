// S3 and S3-compatible stores through @aws-sdk/client-s3 (loaded only here). Credentials and region come from the
// SDK's standard chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, web identity, instance roles;
// AWS_REGION, default us-east-1); AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL points at an S3-compatible server, and then
// path-style addressing is used (AWS_S3_FORCE_PATH_STYLE=true forces it anywhere). The checksum is the ETag when it
// is a plain md5 (a single-part upload, no '-'); multipart ETags are only used to recognise the object version.
import type { Source } from '../../source.ts';
import { classify, DownloadError } from '../errors.ts';
import { safeRelative, underPrefix, type Listing, type RemoteFile, type StoreClient, type StoreOptions } from './types.ts';

type S3Source = Extract<Source, { store: 's3' }>;

export async function s3Store(source: S3Source, options: StoreOptions): Promise<StoreClient> {
  const { S3Client, ListObjectsV2Command, GetObjectCommand } = await import('@aws-sdk/client-s3');
  const env = options.env;
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  const client = new S3Client({
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    ...(endpoint ? { endpoint } : {}),
    forcePathStyle: endpoint !== undefined || env.AWS_S3_FORCE_PATH_STYLE === 'true',
    // Keys given in `env` are used as they are; otherwise the SDK's default chain (which reads process.env).
    ...(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? { credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) } }
      : {}),
    maxAttempts: 1,
    requestHandler: { connectionTimeout: options.connectTimeoutMs },
  });
  const where = `s3://${source.bucket}/${source.prefix}`;
  const wrap = (err: unknown, what: string): DownloadError => {
    const name = (err as { name?: string }).name ?? '';
    if (name === 'CredentialsProviderError' || /could not load credentials/i.test((err as Error).message ?? ''))
      return new DownloadError('MissingCredentials', `${what}: no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the source's secretRef): ${(err as Error).message}`);
    if (name === 'NoSuchBucket' || name === 'NoSuchKey') return new DownloadError('NotFound', `${what}: ${name}`);
    if (name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || name === 'AccessDenied') return new DownloadError('Forbidden', `${what}: ${name}: ${(err as Error).message}`);
    return classify(err, what);
  };
  return {
    async list(signal): Promise<Listing> {
      const files: RemoteFile[] = [];
      let token: string | undefined;
      try {
        do {
          const page = await client.send(new ListObjectsV2Command({ Bucket: source.bucket, Prefix: source.prefix, ...(token ? { ContinuationToken: token } : {}) }), { abortSignal: signal });
          for (const object of page.Contents ?? []) {
            const rel = object.Key === undefined ? undefined : underPrefix(object.Key, source.prefix);
            if (rel === undefined) continue;
            const etag = object.ETag?.replace(/"/g, '');
            files.push({
              path: safeRelative(rel, where),
              key: object.Key!,
              size: object.Size ?? 0,
              ...(etag ? { etag } : {}),
              ...(etag && /^[0-9a-f]{32}$/i.test(etag) ? { checksum: { algorithm: 'md5' as const, hex: etag.toLowerCase() } } : {}),
            });
          }
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
      } catch (err) {
        throw wrap(err, `listing ${where}`);
      }
      if (files.length === 0) throw new DownloadError('NotFound', `${where}: no objects at that location`);
      return { files };
    },
    async open(file, start, signal) {
      const key = file.key;
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: source.bucket, Key: key, Range: `bytes=${start}-`, ...(file.etag ? { IfMatch: `"${file.etag}"` } : {}) }), { abortSignal: signal });
        return out.Body as AsyncIterable<Uint8Array>;
      } catch (err) {
        throw wrap(err, `s3://${source.bucket}/${key}`);
      }
    },
    close: () => client.destroy(),
  };
}
