// The model downloader against real local object stores: moto's S3 server, Azurite (Azure Blob) and fake-gcs-server
// (installed by scripts/store-emulators.sh; each store's tests skip with one line naming it where missing). Each store
// gets the same checks through its own client library — progress to Complete, a cache hit, a resume that fetches
// only the remainder, two processes fetching once, NotFound, StoreUnreachable, UnsafeArtifact — plus its own
// credential failures. Bytes sent by a store are counted by a TCP proxy in front of it (test/support/store-servers.ts).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DownloadStatus } from '../../src/api/kinds/model.ts';
import { downloadModel } from '../../src/registry/download/download.ts';
import { downloadFailure } from '../support/downloads.ts';
import { readManifest } from '../../src/registry/download/manifest.ts';
import { openStore, type FetchedSource } from '../../src/registry/download/stores/index.ts';
import { parseSource } from '../../src/registry/source.ts';
import { AZURITE_KEY, azuriteConnectionString, azuritePath, fakeGcsPath, motoPath, startAzurite, startFakeGcs, startMoto, type StoreServer } from '../support/store-servers.ts';
import { freePort, matrixinfer } from '../support/platform.ts';
import { needs } from '../support/system.ts';
import { EVIL_PICKLE, safetensors } from '../support/model-files.ts';

const MiB = 1 << 20;
const BIG = safetensors(64 * MiB);
const FILES: Record<string, Buffer> = {
  'llama/config.json': Buffer.from('{"architectures":["LlamaForCausalLM"]}'),
  'llama/tokenizer.json': Buffer.from('{"model":{}}'),
  'llama/model.safetensors': BIG,
  'evil/config.json': Buffer.from('{}'),
  'evil/pytorch_model.bin': EVIL_PICKLE,
};
const TOTAL = BIG.length + FILES['llama/config.json']!.length + FILES['llama/tokenizer.json']!.length;
/** What listing and request headers may add to the body bytes on the wire. */
const OVERHEAD = 512 * 1024;

const failure = downloadFailure;

interface StoreCase {
  name: string;
  skip: string | false;
  /** URI of a location in the seeded store. */
  uri: (path: string) => string;
  start: (dir: string) => Promise<StoreServer>;
  /** The store's own credential checks. */
  credentials: (server: StoreServer, cacheDir: string) => Promise<void>;
}

const cases: StoreCase[] = [
  {
    name: 'S3 (moto)',
    skip: needs(['moto', motoPath()]),
    uri: (path) => `s3://models/${path}`,
    start: () => startMoto('models', FILES),
    async credentials(server, cacheDir) {
      // No keys anywhere (the SDK's chain finds nothing; instance metadata off): MissingCredentials.
      const bare = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
      const none = await matrixinfer(['download', '--uri', 's3://models/llama', '--cache-dir', cacheDir], {
        env: { ...bare, AWS_ENDPOINT_URL: server.url, AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_CONFIG_FILE: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true', HOME: cacheDir },
      });
      assert.equal(none.code, 1);
      assert.match(none.stderr, /"msg":"download failed","uri":"s3:\/\/models\/llama","reason":"MissingCredentials"/);
      // moto checking signatures (INITIAL_NO_AUTH_ACTION_COUNT=0): keys it does not know are refused.
      const strict = await startMoto('models', {}, { enforceAuth: true });
      try {
        const error = await failure(downloadModel({ uri: 's3://models/llama', cacheDir, env: { ...strict.env, AWS_ACCESS_KEY_ID: 'AKIAWRONG', AWS_SECRET_ACCESS_KEY: 'wrong' } }));
        assert.equal(error.reason, 'Forbidden');
      } finally {
        await strict.stop();
      }
    },
  },
  {
    name: 'Azure Blob (Azurite)',
    skip: needs(['azurite', azuritePath()]),
    uri: (path) => `az://models/${path}`,
    start: (dir) => startAzurite(dir, 'models', FILES),
    async credentials(server, cacheDir) {
      const none = await failure(downloadModel({ uri: 'az://models/llama', cacheDir, env: {} }));
      assert.equal(none.reason, 'MissingCredentials');
      const wrongKey = Buffer.from(AZURITE_KEY, 'base64').reverse().toString('base64');
      const wrong = await failure(downloadModel({ uri: 'az://models/llama', cacheDir, env: { AZURE_STORAGE_CONNECTION_STRING: azuriteConnectionString(server.url, wrongKey) } }));
      assert.equal(wrong.reason, 'Forbidden');
    },
  },
  {
    name: 'GCS (fake-gcs-server)',
    skip: needs(['fake-gcs-server', fakeGcsPath()]),
    uri: (path) => `gs://models/${path}`,
    start: (dir) => startFakeGcs(dir, 'models', FILES),
    async credentials(server, cacheDir) {
      // The emulator checks no credentials, so only what the downloader checks itself: the key JSON.
      const bad = await failure(downloadModel({ uri: 'gs://models/llama', cacheDir, env: { ...server.env, GOOGLE_APPLICATION_CREDENTIALS: '{"type": "service_account"' } }));
      assert.equal(bad.reason, 'MissingCredentials');
      assert.match(bad.message, /GOOGLE_APPLICATION_CREDENTIALS is not valid JSON/);
      const partial = await failure(downloadModel({ uri: 'gs://models/llama', cacheDir, env: { ...server.env, GOOGLE_APPLICATION_CREDENTIALS: '{"type": "service_account"}' } }));
      assert.match(partial.message, /no client_email or private_key/);
    },
  },
];

for (const store of cases) {
  describe(store.name, { skip: store.skip }, () => {
    let server: StoreServer;
    let root: string;
    const cache = (name: string) => join(root, name);
    const sent = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
      const before = server.proxy.bytesDown();
      const value = await work();
      return [value, server.proxy.bytesDown() - before];
    };
    before(async () => {
      root = mkdtempSync(join(tmpdir(), 'matrixinfer-stores-'));
      server = await store.start(root);
    });
    after(async () => {
      await server?.stop();
      rmSync(root, { recursive: true, force: true });
    });

    test('downloads with progress to Complete, verified; the second run is a cache hit that contacts no store', async () => {
      const seen: DownloadStatus[] = [];
      const [result, bytes] = await sent(() => downloadModel({ uri: store.uri('llama'), cacheDir: cache('a'), env: server.env, progressIntervalMs: 0, onProgress: (s) => seen.push(s) }));
      assert.ok(bytes >= TOTAL && bytes < TOTAL + OVERHEAD, `${bytes} bytes on the wire for ${TOTAL}`);
      assert.equal(readFileSync(join(result.path, 'model.safetensors')).equals(BIG), true);
      assert.equal(readFileSync(join(result.path, 'config.json'), 'utf8'), FILES['llama/config.json']!.toString());
      const downloading = seen.filter((s) => s.phase === 'Downloading');
      assert.ok(downloading.length >= 5);
      for (let i = 1; i < downloading.length; i++) assert.ok(downloading[i]!.bytesDone! >= downloading[i - 1]!.bytesDone!);
      assert.deepEqual(seen.at(-1), { phase: 'Complete', bytesDone: TOTAL, bytesTotal: TOTAL, filesDone: 3, filesTotal: 3, path: result.path });
      const manifest = (await readManifest(result.path))!;
      assert.deepEqual(manifest.files.map((f) => f.path), ['config.json', 'model.safetensors', 'tokenizer.json']);
      assert.ok(manifest.files.every((f) => /^[0-9a-f]{64}$/.test(f.sha256) && f.etag));
      // Each store vouches for its files with an md5 (S3 ETag, Azure Content-MD5, GCS md5Hash), checked after download.
      const listing = await (await openStore(parseSource(store.uri('llama')) as FetchedSource, { env: server.env, connectTimeoutMs: 1000 })).list(new AbortController().signal);
      for (const file of listing.files) assert.deepEqual(file.checksum, { algorithm: 'md5', hex: createHash('md5').update(FILES[`llama/${file.path}`]!).digest('hex') });
      const [again, bytes2] = await sent(() => downloadModel({ uri: store.uri('llama'), cacheDir: cache('a'), env: server.env }));
      assert.equal(again.cached, true);
      assert.equal(bytes2, 0);
    });

    test('an interrupted download resumes: the second run fetches about the remainder', async () => {
      const abort = new AbortController();
      await assert.rejects(
        downloadModel({
          uri: store.uri('llama'),
          cacheDir: cache('resume'),
          env: server.env,
          progressIntervalMs: 0,
          signal: abort.signal,
          onProgress: (s) => s.phase === 'Downloading' && s.bytesDone! > TOTAL / 2 && abort.abort(new Error('stop')),
        }),
      );
      const entry = readdirSync(cache('resume')).find((f) => !f.endsWith('.lock'))!;
      const part = statSync(join(cache('resume'), entry, 'model.safetensors.part')).size;
      assert.ok(part > BIG.length / 3 && part < BIG.length, `${part} bytes kept`);
      const [result, bytes] = await sent(() => downloadModel({ uri: store.uri('llama'), cacheDir: cache('resume'), env: server.env }));
      assert.equal(result.bytesResumed >= part, true);
      const remainder = TOTAL - part;
      assert.ok(bytes >= BIG.length - part && bytes < remainder + OVERHEAD, `${bytes} bytes fetched again for a remainder of ${remainder}`);
      assert.equal(readFileSync(join(result.path, 'model.safetensors')).equals(BIG), true);
    });

    test('two processes downloading the same source at once fetch it once', async () => {
      const args = ['download', '--uri', store.uri('llama'), '--cache-dir', cache('two')];
      const env = { ...process.env, ...server.env };
      const [[a, b], bytes] = await sent(() => Promise.all([matrixinfer(args, { env }), matrixinfer(args, { env })]));
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.code, 0, b.stderr);
      assert.equal(a.stdout, b.stdout);
      assert.ok(bytes < TOTAL + OVERHEAD, `${bytes} bytes on the wire for ${TOTAL}`);
    });

    test('a missing location is NotFound; an unreachable endpoint is StoreUnreachable within bounded time', async () => {
      const missing = await failure(downloadModel({ uri: store.uri('no-such-model'), cacheDir: cache('nf'), env: server.env }));
      assert.equal(missing.reason, 'NotFound');
      assert.match(missing.message, /no-such-model/);
      const port = await freePort();
      const dead = Object.fromEntries(Object.entries(server.env).map(([k, v]) => [k, v?.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${port}`)]));
      const started = Date.now();
      const error = await failure(downloadModel({ uri: store.uri('llama'), cacheDir: cache('nf'), env: dead, retry: { attempts: 3, baseMs: 50, maxMs: 200 } }));
      assert.equal(error.reason, 'StoreUnreachable');
      assert.ok(Date.now() - started < 10_000, `${Date.now() - started} ms`);
    });

    test('a malicious pickle in the store is UnsafeArtifact naming the file and the global', async () => {
      const error = await failure(downloadModel({ uri: store.uri('evil'), cacheDir: cache('evil'), env: server.env }));
      assert.equal(error.reason, 'UnsafeArtifact');
      assert.match(error.message, /pytorch_model\.bin.*os\.system/);
    });

    test('credentials', async () => {
      await store.credentials(server, cache('creds'));
      assert.equal(existsSync(join(cache('creds'), 'llama')), false);
    });
  });
}
