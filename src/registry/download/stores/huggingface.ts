// A Hugging Face Hub repository at a revision. HF_ENDPOINT moves the Hub (a mirror, or the tests' stand-in), HF_TOKEN
// (or HUGGING_FACE_HUB_TOKEN) authenticates for private and gated repositories.
//
// The revision (a branch, tag or commit) is first resolved to its commit sha (GET /api/models/{repo}/revision/{rev}),
// so every file comes from one commit even if the branch moves meanwhile; the manifest records that sha. Files are
// listed with @huggingface/hub's listFiles (the tree API, paginated, with each LFS file's sha256 oid). The bytes are
// fetched with plain fetch from /{repo}/resolve/{sha}/{path} with a Range header: the library's downloadFile returns
// a Blob that cannot be given an abort signal per request (the stall timeout needs one) and prefers the Xet protocol,
// which a mirror or stand-in does not serve; the resolve endpoint is the Hub's documented one. LFS files are verified
// against their sha256 oid; small git files (configs) only by size.
import type { Source } from '../../source.ts';
import { classify, DownloadError, fromStatus } from '../errors.ts';
import { fetchRange } from './http.ts';
import { safeRelative, type Listing, type RemoteFile, type StoreClient, type StoreOptions } from './types.ts';

type HfSource = Extract<Source, { store: 'huggingface' }>;

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';

export async function huggingfaceStore(source: HfSource, options: StoreOptions): Promise<StoreClient> {
  const env = options.env;
  const endpoint = (env.HF_ENDPOINT || DEFAULT_HF_ENDPOINT).replace(/\/+$/, '');
  const token = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined;
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const where = `hf://${source.repo}@${source.revision}`;
  // Without a token the Hub answers 401 for a private repository and for one that does not exist alike.
  const denied = (status: number, what: string): DownloadError =>
    status === 401 && token === undefined
      ? new DownloadError('MissingCredentials', `${what}: the repository is private, gated or does not exist (HTTP 401); set HF_TOKEN`)
      : fromStatus(status, what);
  let sha: string | undefined;
  return {
    async list(signal): Promise<Listing> {
      const { listFiles } = await import('@huggingface/hub');
      let info: { sha?: string };
      try {
        const res = await fetch(`${endpoint}/api/models/${source.repo}/revision/${encodeURIComponent(source.revision)}`, { headers: auth, signal });
        if (!res.ok) {
          await res.body?.cancel().catch(() => {});
          throw denied(res.status, where);
        }
        info = (await res.json()) as { sha?: string };
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        throw classify(err, where);
      }
      if (typeof info.sha !== 'string') throw new DownloadError('StoreUnreachable', `${where}: the Hub did not say which commit the revision is`);
      sha = info.sha;
      const files: RemoteFile[] = [];
      try {
        const authedFetch: typeof fetch = (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...auth }, signal });
        for await (const entry of listFiles({ repo: { type: 'model', name: source.repo }, revision: sha, recursive: true, hubUrl: endpoint, fetch: authedFetch })) {
          if (entry.type !== 'file') continue;
          const size = entry.lfs?.size ?? entry.size;
          files.push({
            path: safeRelative(entry.path, where),
            key: entry.path,
            size,
            ...(entry.lfs?.oid ? { etag: entry.lfs.oid, checksum: { algorithm: 'sha256' as const, hex: entry.lfs.oid } } : entry.oid ? { etag: entry.oid } : {}),
          });
        }
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        const status = (err as { statusCode?: unknown }).statusCode;
        throw typeof status === 'number' ? denied(status, `listing ${where}`) : classify(err, `listing ${where}`);
      }
      if (files.length === 0) throw new DownloadError('NotFound', `${where}: the repository has no files`);
      return { files, revision: sha };
    },
    async open(file, start, signal) {
      if (sha === undefined) throw new Error('huggingface store: open before list');
      const path = file.key.split('/').map(encodeURIComponent).join('/');
      return fetchRange(`${endpoint}/${source.repo}/resolve/${sha}/${path}`, start, auth, signal, `${where}/${file.key}`);
    },
  };
}
