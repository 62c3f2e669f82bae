// A Model's `spec.modelSpec.source` as a typed location, and where its artifacts live in a node's model cache.
//
// Pure and dependency-free: admission, the Model controller (the engine's model path) and the downloader all parse
// the same way, and none of them loads a store's client library to do it.
//
// Rules:
//  - s3://bucket/prefix, gs://bucket/prefix, az://container/prefix and https://<account>.blob.core.windows.net/
//    container/prefix name a directory (every object under the prefix) or one object;
//  - huggingface://org/repo and hf://org/repo name a Hub repository at `revision` (default main);
//  - https:// and http:// (any other host) name one file;
//  - pvc://claim/path is mounted into the pods, never copied; file:///path and /path are a directory on the node.
//  - The cache directory of a source is `<slug>-<12 hex of sha256(canonical form)>`: readable, and distinct for
//    every store, location and revision.
import { createHash } from 'node:crypto';

export type Source =
  | { store: 's3'; bucket: string; prefix: string }
  | { store: 'gcs'; bucket: string; prefix: string }
  | { store: 'azure'; account: string | undefined; container: string; prefix: string }
  | { store: 'huggingface'; repo: string; revision: string }
  | { store: 'https'; url: string }
  | { store: 'pvc'; claim: string; path: string }
  | { store: 'local'; path: string };

export type Store = Source['store'];

export const STORES: readonly Store[] = ['s3', 'gcs', 'azure', 'huggingface', 'https', 'pvc', 'local'];

/** The URI schemes each store is written with (for messages and policy). */
export const SCHEMES: Readonly<Record<Store, readonly string[]>> = {
  s3: ['s3'],
  gcs: ['gs'],
  azure: ['az', 'https'],
  huggingface: ['huggingface', 'hf'],
  https: ['https', 'http'],
  pvc: ['pvc'],
  local: ['file'],
};

export const DEFAULT_HF_REVISION = 'main';

export class InvalidSourceError extends Error {
  readonly reason = 'InvalidSource';
}

const BUCKET = /^[a-z0-9][a-z0-9._-]{1,254}$/i;
const HF_REPO = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/;
const AZURE_HOST = /^([a-z0-9]{3,24})\.blob\.core\.windows\.net$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function fail(uri: string, why: string): never {
  throw new InvalidSourceError(`${JSON.stringify(uri)}: ${why}`);
}

function bucketAndPrefix(uri: string, rest: string, what: string): [string, string] {
  const [bucket = '', ...path] = rest.split('/');
  if (!BUCKET.test(bucket)) fail(uri, `${what} name ${JSON.stringify(bucket)} is not valid`);
  return [bucket, path.filter(Boolean).join('/')];
}

/** Parses a source URI; throws InvalidSourceError naming what is wrong. */
export function parseSource(uri: string, revision?: string): Source {
  const trimmed = uri.trim();
  if (trimmed.startsWith('/')) return { store: 'local', path: trimmed };
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(.*)$/.exec(trimmed);
  if (!match) fail(uri, 'is not a URI (scheme://…) or an absolute path');
  const scheme = match[1]!.toLowerCase();
  const rest = match[2]!;
  switch (scheme) {
    case 's3': {
      const [bucket, prefix] = bucketAndPrefix(uri, rest, 'bucket');
      return { store: 's3', bucket, prefix };
    }
    case 'gs': {
      const [bucket, prefix] = bucketAndPrefix(uri, rest, 'bucket');
      return { store: 'gcs', bucket, prefix };
    }
    case 'az': {
      const [container, prefix] = bucketAndPrefix(uri, rest, 'container');
      return { store: 'azure', account: undefined, container, prefix };
    }
    case 'huggingface':
    case 'hf': {
      const repo = rest.replace(/^\/+|\/+$/g, '');
      if (!HF_REPO.test(repo)) fail(uri, 'must name a repository as org/name');
      return { store: 'huggingface', repo, revision: revision ?? DEFAULT_HF_REVISION };
    }
    case 'https':
    case 'http': {
      let url: URL;
      try {
        url = new URL(trimmed);
      } catch {
        fail(uri, 'is not a valid URL');
      }
      const azure = AZURE_HOST.exec(url.hostname);
      if (azure && scheme === 'https') {
        const [container, prefix] = bucketAndPrefix(uri, url.pathname.replace(/^\/+/, ''), 'container');
        return { store: 'azure', account: azure[1], container, prefix };
      }
      if (url.pathname === '/' || url.pathname === '') fail(uri, 'must name a file, not a site');
      return { store: 'https', url: url.href };
    }
    case 'pvc': {
      const [claim = '', ...path] = rest.split('/');
      if (!DNS_LABEL.test(claim)) fail(uri, `claim name ${JSON.stringify(claim)} is not a DNS label`);
      return { store: 'pvc', claim, path: path.filter(Boolean).join('/') };
    }
    case 'file': {
      if (!rest.startsWith('/')) fail(uri, 'file:// needs an absolute path (file:///models/x)');
      return { store: 'local', path: rest };
    }
    default:
      fail(uri, `scheme ${scheme}:// is not supported (s3, gs, az, https, huggingface, hf, pvc, file)`);
  }
}

/** Whether the artifacts are copied into the node cache (pvc and local paths are used where they are). */
export function isFetched(source: Source): source is Exclude<Source, { store: 'pvc' | 'local' }> {
  return source.store !== 'pvc' && source.store !== 'local';
}

/** One string per distinct location and revision. */
export function canonical(source: Source): string {
  switch (source.store) {
    case 's3':
    case 'gcs':
      return `${source.store}://${source.bucket}/${source.prefix}`;
    case 'azure':
      return `azure://${source.account ?? ''}/${source.container}/${source.prefix}`;
    case 'huggingface':
      return `hf://${source.repo}@${source.revision}`;
    case 'https':
      return source.url;
    case 'pvc':
      return `pvc://${source.claim}/${source.path}`;
    case 'local':
      return `file://${source.path}`;
  }
}

/** The source's directory name inside a model cache. */
export function cacheEntryName(source: Source): string {
  const text = canonical(source);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 12);
  const tail = text.replace(/@.*$/, '').split('/').filter(Boolean).pop() ?? source.store;
  const slug = tail.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+/, '').slice(0, 48) || source.store;
  return `${slug}-${hash}`;
}
