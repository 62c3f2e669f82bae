// Real local object-store servers for the downloader's tests and benchmark (installed by scripts/store-emulators.sh
// into ~/.cache/matrixinfer/store-emulators; test/support/system.ts's needs('moto' | 'azurite' | 'fake-gcs-server')
// skips with one line where missing): moto's S3 server, Azurite's blob service, fake-gcs-server — each on a free
// loopback port, seeded with files, and behind a counting TCP proxy so a test can tell how many bytes the store sent.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { freePort, until } from './platform.ts';
import { scriptVersion } from './system.ts';

const CACHE = process.env.MATRIXINFER_STORE_EMULATORS_CACHE ?? join(homedir(), '.cache/matrixinfer/store-emulators');

export const motoPath = () => join(CACHE, `moto-${scriptVersion('store-emulators.sh', 'MOTO_VERSION')}`, 'bin/moto_server');
export const azuritePath = () => join(CACHE, `azurite-${scriptVersion('store-emulators.sh', 'AZURITE_VERSION')}`, 'node_modules/.bin/azurite-blob');
export const fakeGcsPath = () => join(CACHE, `fake-gcs-server-${scriptVersion('store-emulators.sh', 'FAKE_GCS_VERSION')}`, 'fake-gcs-server');

/** A TCP proxy to `port` on 127.0.0.1 counting the bytes the server sends back. */
export interface CountingProxy {
  url: string;
  port: number;
  /** Bytes from the server to clients since start (or since reset). */
  bytesDown(): number;
  reset(): void;
  close(): Promise<void>;
}

export async function countingProxy(port: number): Promise<CountingProxy> {
  let down = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port });
    sockets.add(client).add(upstream);
    upstream.on('data', (chunk: Buffer) => (down += chunk.length));
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => (client.destroy(), upstream.destroy(), sockets.delete(client), sockets.delete(upstream));
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const own = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${own}`,
    port: own,
    bytesDown: () => down,
    reset: () => void (down = 0),
    close: () => new Promise((resolve) => (sockets.forEach((s) => s.destroy()), server.close(() => resolve()))),
  };
}

export interface StoreServer {
  /** The endpoint clients use (through the counting proxy). */
  url: string;
  proxy: CountingProxy;
  /** The environment that points the downloader at this server (through the proxy) with valid credentials. */
  env: NodeJS.ProcessEnv;
  /** The same, straight to the server (benchmarks: no proxy in the way). */
  direct: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

async function startChild(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, ready: () => Promise<boolean>): Promise<ChildProcess> {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  await until(
    name,
    async () => {
      if (child.exitCode !== null) throw new Error(`${name} exited: ${stderr}`);
      return ready().catch(() => false);
    },
    30_000,
    100,
  );
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

const responds = async (url: string) => (await fetch(url).then((r) => (r.body?.cancel(), r.status), () => 0)) > 0;

export const S3_KEYS = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1' };

/**
 * moto's S3 server with `files` (key → bytes) in `bucket`. With `enforceAuth` moto checks credentials
 * (INITIAL_NO_AUTH_ACTION_COUNT=0): unknown keys are refused with 403 InvalidAccessKeyId.
 */
export async function startMoto(bucket: string, files: Record<string, Buffer>, options: { enforceAuth?: boolean } = {}): Promise<StoreServer> {
  const port = await freePort();
  const child = await startChild('moto_server', motoPath(), ['-H', '127.0.0.1', '-p', String(port)], options.enforceAuth ? { INITIAL_NO_AUTH_ACTION_COUNT: '0' } : {}, () => responds(`http://127.0.0.1:${port}/moto-api/`));
  const proxy = await countingProxy(port);
  if (!options.enforceAuth) {
    const { S3Client, CreateBucketCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');
    const s3 = new S3Client({ region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    for (const [key, body] of Object.entries(files)) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    s3.destroy();
  }
  return {
    url: proxy.url,
    proxy,
    env: { ...S3_KEYS, AWS_ENDPOINT_URL: proxy.url },
    direct: { ...S3_KEYS, AWS_ENDPOINT_URL: `http://127.0.0.1:${port}` },
    stop: async () => (await proxy.close(), await kill(child)),
  };
}

export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
export const azuriteConnectionString = (url: string, key = AZURITE_KEY) =>
  `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${key};BlobEndpoint=${url}/${AZURITE_ACCOUNT};`;

/** Azurite's blob service (data in `dir`) with `files` in `container`. */
export async function startAzurite(dir: string, container: string, files: Record<string, Buffer>): Promise<StoreServer> {
  const port = await freePort();
  const child = await startChild('azurite-blob', azuritePath(), ['--blobHost', '127.0.0.1', '--blobPort', String(port), '--location', dir, '--silent', '--skipApiVersionCheck', '--loose'], {}, () => responds(`http://127.0.0.1:${port}/`));
  const proxy = await countingProxy(port);
  const { BlobServiceClient } = await import('@azure/storage-blob');
  const service = BlobServiceClient.fromConnectionString(azuriteConnectionString(`http://127.0.0.1:${port}`));
  const client = service.getContainerClient(container);
  await client.create();
  for (const [name, body] of Object.entries(files)) await client.getBlockBlobClient(name).uploadData(body, { blockSize: 64 << 20, maxSingleShotSize: 256 << 20 });
  return {
    url: proxy.url,
    proxy,
    env: { AZURE_STORAGE_CONNECTION_STRING: azuriteConnectionString(proxy.url) },
    direct: { AZURE_STORAGE_CONNECTION_STRING: azuriteConnectionString(`http://127.0.0.1:${port}`) },
    stop: async () => (await proxy.close(), await kill(child)),
  };
}

/** fake-gcs-server with `files` in `bucket`, loaded from a seed directory in `dir` at start. */
export async function startFakeGcs(dir: string, bucket: string, files: Record<string, Buffer>): Promise<StoreServer> {
  const port = await freePort();
  const data = join(dir, 'seed');
  mkdirSync(join(data, bucket), { recursive: true });
  for (const [name, body] of Object.entries(files)) {
    mkdirSync(dirname(join(data, bucket, name)), { recursive: true });
    writeFileSync(join(data, bucket, name), body);
  }
  const child = await startChild('fake-gcs-server', fakeGcsPath(), ['-scheme', 'http', '-host', '127.0.0.1', '-port', String(port), '-backend', 'memory', '-data', data, '-log-level', 'error'], {}, () => responds(`http://127.0.0.1:${port}/storage/v1/b`));
  const proxy = await countingProxy(port);
  return {
    url: proxy.url,
    proxy,
    env: { STORAGE_EMULATOR_HOST: proxy.url },
    direct: { STORAGE_EMULATOR_HOST: `http://127.0.0.1:${port}` },
    stop: async () => (await proxy.close(), await kill(child)),
  };
}
