// A single file at an http(s) URL, with Node's fetch (undici). Its size and version come from a HEAD (Content-Length,
// ETag; a server without HEAD is asked for byte 0 and its Content-Range total). No checksum: plain HTTP gives none
// that can be trusted (an ETag is opaque), so only the size is verified. HTTP_AUTHORIZATION, when set, is sent as the
// Authorization header (e.g. `Bearer …` from the source's secretRef).
import { basename } from 'node:path';
import type { Source } from '../../source.ts';
import { classify, DownloadError, fromStatus } from '../errors.ts';
import { fetchRange } from './http.ts';
import type { Listing, StoreClient, StoreOptions } from './types.ts';

type HttpsSource = Extract<Source, { store: 'https' }>;

export async function httpsStore(source: HttpsSource, options: StoreOptions): Promise<StoreClient> {
  const headers: Record<string, string> = options.env.HTTP_AUTHORIZATION ? { authorization: options.env.HTTP_AUTHORIZATION } : {};
  const name = decodeURIComponent(basename(new URL(source.url).pathname));
  if (name === '' || name === '..' || name === '.') throw new DownloadError('InvalidSource', `${source.url}: the URL names no file`);
  return {
    async list(signal): Promise<Listing> {
      let res: Response;
      try {
        res = await fetch(source.url, { method: 'HEAD', headers, signal, redirect: 'follow' });
        if (res.status === 405 || res.status === 501) res = await fetch(source.url, { headers: { ...headers, range: 'bytes=0-0' }, signal, redirect: 'follow' });
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        throw classify(err, source.url);
      }
      await res.body?.cancel().catch(() => {});
      if (!res.ok) throw fromStatus(res.status, source.url);
      const total = res.status === 206 ? /\/(\d+)$/.exec(res.headers.get('content-range') ?? '')?.[1] : res.headers.get('content-length');
      if (total === undefined || total === null) throw new DownloadError('StoreUnreachable', `${source.url}: the server gives no size (Content-Length)`);
      const etag = res.headers.get('etag') ?? undefined;
      return { files: [{ path: name, key: source.url, size: Number(total), ...(etag ? { etag } : {}) }] };
    },
    open: (file, start, signal) => fetchRange(file.key, start, headers, signal, source.url),
  };
}
