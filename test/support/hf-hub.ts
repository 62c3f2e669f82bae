// A small Hugging Face Hub stand-in for the downloader's tests and benchmark: the endpoints a Hub client uses to
// fetch a model, served from memory on 127.0.0.1, with a request log and a count of body bytes sent.
//
// Served (as the Hub documents them): GET /api/models/{repo}/revision/{rev} (id, sha, siblings);
// GET /api/models/{repo}/tree/{rev}[/{path}]?recursive=true (type, path, size, oid, lfs {oid, size, pointerSize});
// GET and HEAD /{repo}/resolve/{rev}/{path} with Range (206 + Content-Range), X-Repo-Commit, ETag, and for LFS files
// X-Linked-Size and X-Linked-Etag. A private repository answers 401 to a request without the token (as the Hub does
// for private and missing repositories alike). Knobs for faults: `lie` advertises a wrong sha256 for a file;
// `stallAfter` sends that many bytes of any response body and then holds the connection open without a byte more.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HubRepo {
  files: Record<string, Buffer>;
  private?: boolean;
  /** Paths whose LFS sha256 is advertised wrong (the stand-in lies). */
  lie?: string[];
}

export interface HubRequest {
  method: string;
  path: string;
  range?: string;
  status: number;
  bytes: number;
}

export interface HfHub {
  url: string;
  requests: HubRequest[];
  /** Body bytes sent for resolve requests (file contents). */
  bytesServed(): number;
  /** The commit sha of a repository (changes when its files are replaced). */
  sha(repo: string): string;
  setRepo(name: string, repo: HubRepo): void;
  /** From now on every body stops after this many bytes and hangs (undefined: off). */
  stallAfter: number | undefined;
  /** A pause between the 1 MiB slices of a body (a slower link; default 0). */
  sliceDelayMs: number;
  close(): Promise<void>;
}

/** Files of at least this size, and every weights file, are LFS files (as the Hub's default .gitattributes makes them). */
const LFS_MIN = 10 * 1024 * 1024;
const isLfs = (path: string, data: Buffer) => data.length >= LFS_MIN || /\.(safetensors|bin|pt|pth|ckpt|pkl|gguf|onnx)$/.test(path);
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const gitOid = (data: Buffer) => createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');

interface Stored {
  repo: HubRepo;
  sha: string;
  meta: Map<string, { size: number; oid: string; lfs?: string }>;
}

export async function startHfHub(options: { repos: Record<string, HubRepo>; token?: string }): Promise<HfHub> {
  const repos = new Map<string, Stored>();
  const setRepo = (name: string, repo: HubRepo) => {
    const meta = new Map<string, { size: number; oid: string; lfs?: string }>();
    const commit = createHash('sha1').update(name);
    for (const [path, data] of Object.entries(repo.files).sort()) {
      const lfs = isLfs(path, data) ? (repo.lie?.includes(path) ? sha256(Buffer.from(`not ${path}`)) : sha256(data)) : undefined;
      meta.set(path, { size: data.length, oid: gitOid(data), ...(lfs ? { lfs } : {}) });
      commit.update(path).update(lfs ?? gitOid(data));
    }
    repos.set(name, { repo, sha: commit.digest('hex'), meta });
  };
  for (const [name, repo] of Object.entries(options.repos)) setRepo(name, repo);
  const requests: HubRequest[] = [];
  let served = 0;
  const hub: HfHub = {
    url: '',
    requests,
    bytesServed: () => served,
    sha: (name) => repos.get(name)!.sha,
    setRepo,
    stallAfter: undefined,
    sliceDelayMs: 0,
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };

  const send = (req: IncomingMessage, res: ServerResponse, status: number, body: Buffer | string, headers: Record<string, string | number> = {}, counted = false) => {
    const data = typeof body === 'string' ? Buffer.from(body) : body;
    const entry: HubRequest = { method: req.method ?? 'GET', path: req.url ?? '', status, bytes: 0, ...(req.headers.range ? { range: req.headers.range } : {}) };
    requests.push(entry);
    res.writeHead(status, { 'content-length': data.length, ...headers });
    if (req.method === 'HEAD') return void res.end();
    const limit = hub.stallAfter;
    const out = limit !== undefined ? data.subarray(0, Math.min(limit, data.length)) : data;
    const write = (from: number): void => {
      // Write in 1 MiB slices so that a client abort stops the count where it stopped reading.
      for (let at = from; at < out.length; at += 1 << 20) {
        if (res.destroyed) return;
        const slice = out.subarray(at, Math.min(out.length, at + (1 << 20)));
        entry.bytes += slice.length;
        if (counted) served += slice.length;
        const next = at + slice.length;
        const later = (): void => (hub.sliceDelayMs > 0 ? void setTimeout(() => write(next), hub.sliceDelayMs) : write(next));
        if (!res.write(slice)) return void res.once('drain', later);
        if (hub.sliceDelayMs > 0 && next < out.length) return later();
      }
      if (limit === undefined || out.length === data.length) res.end();
      // else: hold the connection open without another byte (a stalled server)
    };
    write(0);
  };
  const json = (req: IncomingMessage, res: ServerResponse, status: number, value: unknown) => send(req, res, status, JSON.stringify(value), { 'content-type': 'application/json' });

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://hub');
    const path = decodeURIComponent(url.pathname);
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree)\/([^/]+)(?:\/(.*))?$/.exec(path);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const name = api?.[1] ?? resolve?.[1];
    const stored = name !== undefined ? repos.get(name) : undefined;
    const authorized = options.token !== undefined && req.headers.authorization === `Bearer ${options.token}`;
    if (name === undefined) return json(req, res, 404, { error: 'Not Found' });
    if (stored === undefined || (stored.repo.private && !authorized)) {
      if (!authorized) return json(req, res, 401, { error: 'Invalid username or password.' });
      return json(req, res, 404, { error: 'Repository not found' });
    }
    const revision = api?.[3] ?? resolve?.[2];
    if (revision !== 'main' && revision !== stored.sha) return json(req, res, 404, { error: `Invalid rev id: ${revision}` });
    if (api?.[2] === 'revision') return json(req, res, 200, { id: name, modelId: name, sha: stored.sha, private: !!stored.repo.private, siblings: [...stored.meta.keys()].map((rfilename) => ({ rfilename })) });
    if (api?.[2] === 'tree') {
      const under = api[4] ?? '';
      const entries = [...stored.meta.entries()]
        .filter(([p]) => under === '' || p.startsWith(`${under}/`))
        .map(([p, m]) => ({ type: 'file', path: p, size: m.lfs ? m.size : m.size, oid: m.oid, ...(m.lfs ? { lfs: { oid: m.lfs, size: m.size, pointerSize: 134 } } : {}) }));
      return json(req, res, 200, entries);
    }
    const file = resolve![3]!;
    const data = stored.repo.files[file];
    const meta = stored.meta.get(file);
    if (data === undefined || meta === undefined) return json(req, res, 404, { error: 'Entry not found' });
    const headers: Record<string, string | number> = {
      'x-repo-commit': stored.sha,
      etag: `"${meta.lfs ?? meta.oid}"`,
      'accept-ranges': 'bytes',
      ...(meta.lfs ? { 'x-linked-size': meta.size, 'x-linked-etag': `"${meta.lfs}"` } : {}),
    };
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      const start = Number(range[1]);
      const end = range[2] ? Math.min(Number(range[2]), data.length - 1) : data.length - 1;
      if (start >= data.length) return send(req, res, 416, '', { ...headers, 'content-range': `bytes */${data.length}` });
      return send(req, res, 206, data.subarray(start, end + 1), { ...headers, 'content-range': `bytes ${start}-${end}/${data.length}` }, true);
    }
    return send(req, res, 200, data, headers, true);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hub.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return hub;
}
