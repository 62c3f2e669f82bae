// The model downloader (src/registry/download/, `matrixinfer download`) against the Hugging Face Hub stand-in
// (test/support/hf-hub.ts), plain http files, local paths, and the embedded API server for the Pod annotation.
// Real servers, real files, real child processes; the store-emulator side is registry-download-stores.test.ts.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DownloadStatus } from '../../src/api/kinds/model.ts';
import { DOWNLOAD_ANNOTATION } from '../../src/registry/contract.ts';
import { downloadModel } from '../../src/registry/download/download.ts';
import { downloadFailure } from '../support/downloads.ts';
import { MANIFEST_FILE, readManifest } from '../../src/registry/download/manifest.ts';
import { backoffMs, DEFAULT_RETRY } from '../../src/registry/download/retry.ts';
import { startHfHub, type HfHub } from '../support/hf-hub.ts';
import { EVIL_PICKLE, safetensors } from '../support/model-files.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { freePort, MAIN, matrixinfer, until } from '../support/platform.ts';
import { findProgram, requireAll } from '../support/system.ts';
import { fileURLToPath } from 'node:url';

const MiB = 1 << 20;

const BIG = safetensors(64 * MiB);
const MODEL = { 'config.json': Buffer.from('{"architectures":["LlamaForCausalLM"]}'), 'tokenizer/tokenizer.json': Buffer.from('{"model":{}}'), 'model.safetensors': BIG };
const TOTAL = Object.values(MODEL).reduce((n, b) => n + b.length, 0);
const TOKEN = 'hf_secret';

let hub: HfHub;
let root: string;
const cache = (name: string) => join(root, name);
const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ HF_ENDPOINT: hub.url, ...extra });
const served = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
  const before = hub.bytesServed();
  const value = await work();
  return [value, hub.bytesServed() - before];
};
const failure = downloadFailure;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'matrixinfer-download-'));
  hub = await startHfHub({
    token: TOKEN,
    repos: {
      'org/model': { files: MODEL },
      'org/private': { private: true, files: { 'config.json': Buffer.from('{}'), 'model.safetensors': safetensors(1024) } },
      'org/liar': { files: { 'config.json': Buffer.from('{}'), 'model.safetensors': safetensors(MiB) }, lie: ['model.safetensors'] },
      'org/evil': { files: { 'config.json': Buffer.from('{}'), 'pytorch_model.bin': EVIL_PICKLE } },
    },
  });
});
after(async () => {
  await hub?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('Hugging Face source', () => {
  test('downloads with progress rising to Complete, records the commit and checksums, then hits the cache', async () => {
    const seen: DownloadStatus[] = [];
    const [result, bytes] = await served(() => downloadModel({ uri: 'hf://org/model', cacheDir: cache('a'), env: env(), onProgress: (s) => seen.push(s), progressIntervalMs: 0 }));
    assert.equal(bytes, TOTAL);
    assert.equal(result.cached, false);
    assert.equal(readFileSync(join(result.path, 'model.safetensors')).equals(BIG), true);
    assert.equal(readFileSync(join(result.path, 'tokenizer/tokenizer.json'), 'utf8'), '{"model":{}}');
    assert.deepEqual(readdirSync(result.path).filter((f) => f.endsWith('.part')), []);
    const phases = seen.map((s) => s.phase);
    assert.equal(phases[0], 'Pending');
    assert.equal(phases.at(-1), 'Complete');
    const downloading = seen.filter((s) => s.phase === 'Downloading');
    assert.ok(downloading.length >= 5, `progress reported ${downloading.length} times`);
    for (let i = 1; i < downloading.length; i++) assert.ok(downloading[i]!.bytesDone! >= downloading[i - 1]!.bytesDone!, 'bytesDone never goes back');
    assert.deepEqual(seen.at(-1), { phase: 'Complete', bytesDone: TOTAL, bytesTotal: TOTAL, filesDone: 3, filesTotal: 3, path: result.path });
    const manifest = (await readManifest(result.path))!;
    assert.equal(manifest.resolvedRevision, hub.sha('org/model'));
    assert.equal(manifest.revision, 'main');
    assert.ok(manifest.completedAt);
    assert.deepEqual(manifest.scan && { safe: manifest.scan.safe }, { safe: true });
    assert.equal(manifest.files.find((f) => f.path === 'model.safetensors')!.sha256, (await import('node:crypto')).createHash('sha256').update(BIG).digest('hex'));

    const requests = hub.requests.length;
    const [again, bytes2] = await served(() => downloadModel({ uri: 'hf://org/model', cacheDir: cache('a'), env: env() }));
    assert.equal(again.cached, true);
    assert.equal(bytes2, 0);
    assert.equal(hub.requests.length, requests, 'a cache hit asks the store nothing');
  });

  test('an aborted download resumes from its .part: the second run fetches only the remainder', async () => {
    const abort = new AbortController();
    await assert.rejects(
      downloadModel({
        uri: 'hf://org/model',
        cacheDir: cache('resume'),
        env: env(),
        progressIntervalMs: 0,
        signal: abort.signal,
        onProgress: (s) => s.phase === 'Downloading' && s.bytesDone! > TOTAL / 2 && abort.abort(new Error('stop')),
      }),
    );
    const entry = readdirSync(cache('resume')).find((f) => !f.endsWith('.lock'))!;
    const part = statSync(join(cache('resume'), entry, 'model.safetensors.part')).size;
    assert.ok(part > BIG.length / 3 && part < BIG.length, `a .part of ${part} bytes was kept`);
    assert.equal(existsSync(join(cache('resume'), `${entry}.lock`)), false, 'the lock is released');
    const [result, bytes] = await served(() => downloadModel({ uri: 'hf://org/model', cacheDir: cache('resume'), env: env() }));
    assert.equal(result.bytesResumed, part);
    assert.equal(bytes, BIG.length - part, 'only the remainder of the large file is fetched again');
    assert.equal(readFileSync(join(result.path, 'model.safetensors')).equals(BIG), true);
  });

  test('credentials: a private repository without a token is MissingCredentials, a wrong token Forbidden; a missing repo NotFound', async () => {
    assert.equal((await failure(downloadModel({ uri: 'hf://org/private', cacheDir: cache('c'), env: env() }))).reason, 'MissingCredentials');
    assert.equal((await failure(downloadModel({ uri: 'hf://org/private', cacheDir: cache('c'), env: env({ HF_TOKEN: 'hf_wrong' }) }))).reason, 'Forbidden');
    const ok = await downloadModel({ uri: 'hf://org/private', cacheDir: cache('c'), env: env({ HF_TOKEN: TOKEN }) });
    assert.equal(existsSync(join(ok.path, 'model.safetensors')), true);
    const missing = await failure(downloadModel({ uri: 'hf://org/none', cacheDir: cache('c'), env: env({ HF_TOKEN: TOKEN }) }));
    assert.equal(missing.reason, 'NotFound');
    assert.match(missing.message, /org\/none/);
    assert.equal((await failure(downloadModel({ uri: 'hf://org/model', revision: 'v9', cacheDir: cache('c'), env: env() }))).reason, 'NotFound');
  });

  test('an unreachable endpoint is StoreUnreachable within bounded time (retried with back-off, then given up)', async () => {
    const port = await freePort();
    const started = Date.now();
    const error = await failure(downloadModel({ uri: 'hf://org/model', cacheDir: cache('d'), env: { HF_ENDPOINT: `http://127.0.0.1:${port}` }, retry: { attempts: 3, baseMs: 50, maxMs: 200 } }));
    assert.equal(error.reason, 'StoreUnreachable');
    assert.match(error.message, /ECONNREFUSED/);
    assert.ok(Date.now() - started < 5_000);
    // The default policy is bounded too: 5 tries, waits drawn below 0.5, 1, 2, 4 s.
    assert.deepEqual([0, 1, 2, 3].map((a) => backoffMs(a, DEFAULT_RETRY, () => 0.999999)), [499, 999, 1999, 3999]);
  });

  test('a store that lies about a checksum: ChecksumMismatch after one fresh retry, nothing presented as complete', async () => {
    const [error, bytes] = await served(() => failure(downloadModel({ uri: 'hf://org/liar', cacheDir: cache('e'), env: env() })));
    assert.equal(error.reason, 'ChecksumMismatch');
    assert.match(error.message, /model\.safetensors/);
    assert.ok(bytes >= 2 * MiB, 'fetched twice');
    const entry = join(cache('e'), readdirSync(cache('e')).find((f) => !f.endsWith('.lock'))!);
    assert.equal(existsSync(join(entry, 'model.safetensors')), false);
    assert.equal(existsSync(join(entry, 'model.safetensors.part')), false);
    assert.equal((await readManifest(entry))?.completedAt, undefined);
  });

  test('a server that stops sending is Stalled after the stall timeout, not a hang', async () => {
    hub.stallAfter = 256 * 1024;
    try {
      const started = Date.now();
      const error = await failure(downloadModel({ uri: 'hf://org/model', cacheDir: cache('f'), env: env(), stallMs: 400, retry: { attempts: 2, baseMs: 10, maxMs: 10 } }));
      assert.equal(error.reason, 'Stalled');
      assert.ok(Date.now() - started < 5_000, `gave up after ${Date.now() - started} ms`);
    } finally {
      hub.stallAfter = undefined;
    }
  });

  test('a malicious pickle is UnsafeArtifact naming the file and the global; the verdict is kept, not rescanned', async () => {
    const error = await failure(downloadModel({ uri: 'hf://org/evil', cacheDir: cache('g'), env: env() }));
    assert.equal(error.reason, 'UnsafeArtifact');
    assert.match(error.message, /pytorch_model\.bin/);
    assert.match(error.message, /os\.system/);
    const entry = join(cache('g'), readdirSync(cache('g')).find((f) => !f.endsWith('.lock'))!);
    const manifest = (await readManifest(entry))!;
    assert.equal(manifest.scan?.safe, false);
    // A later run answers from the manifest: the same refusal, nothing fetched, the recorded scan time unchanged.
    const [again, bytes] = await served(() => failure(downloadModel({ uri: 'hf://org/evil', cacheDir: cache('g'), env: env() })));
    assert.equal(again.reason, 'UnsafeArtifact');
    assert.equal(bytes, 0);
    assert.equal((await readManifest(entry))!.scan!.scannedAt, manifest.scan!.scannedAt);
  });

  const python = findProgram('python3');
  const pythonSkip = python === undefined ? 'needs python3, not found on this machine (apt-get install python3 enables it)' : false;
  if (pythonSkip !== false && requireAll()) throw new Error(`MATRIXINFER_REQUIRE_ALL=1: a test ${pythonSkip}`);
  test("PyTorch checkpoints written by Python (the scanner's fixtures): a benign one passes, a malicious zip is refused", { skip: pythonSkip }, async () => {
    const fixtures = join(root, 'pickles');
    mkdirSync(fixtures);
    execFileSync(python!, [fileURLToPath(new URL('../fixtures/registry-scan/make-pickles.py', import.meta.url)), fixtures], { stdio: ['ignore', 'ignore', 'inherit'] });
    hub.setRepo('org/torch', { files: { 'config.json': Buffer.from('{}'), 'pytorch_model.bin': readFileSync(join(fixtures, 'benign-zip-deflated.pt')) } });
    hub.setRepo('org/torch-evil', { files: { 'config.json': Buffer.from('{}'), 'pytorch_model.bin': readFileSync(join(fixtures, 'evil-zip.pt')) } });
    const ok = await downloadModel({ uri: 'hf://org/torch', cacheDir: cache('torch'), env: env() });
    assert.equal((await readManifest(ok.path))!.scan!.safe, true);
    const error = await failure(downloadModel({ uri: 'hf://org/torch-evil', cacheDir: cache('torch'), env: env() }));
    assert.equal(error.reason, 'UnsafeArtifact');
    assert.match(error.message, /^pytorch_model\.bin!archive\/data\.pkl \(imports posix\.system\)/);
  });

  test('safetensorsOnly refuses a pickle-based file as PolicyViolation', async () => {
    hub.setRepo('org/pickled', { files: { 'pytorch_model.bin': Buffer.from('800263636f6c6c656374696f6e730a4f726465726564446963740a7100295271012e', 'hex') } });
    const error = await failure(downloadModel({ uri: 'hf://org/pickled', cacheDir: cache('h'), env: env(), safetensorsOnly: true }));
    assert.equal(error.reason, 'PolicyViolation');
    assert.match(error.message, /pytorch_model\.bin/);
    // The same entry without the policy is fine (the PolicyViolation held only for the strict policy).
    const ok = await downloadModel({ uri: 'hf://org/pickled', cacheDir: cache('h'), env: env() });
    assert.equal(ok.cached, true);
  });
});

describe('http file and local sources', () => {
  test('an http(s) URL is one file: the model path is the file; a missing one is NotFound', async () => {
    const url = `${hub.url}/org/model/resolve/main/model.safetensors`;
    const result = await downloadModel({ uri: url, cacheDir: cache('http'), env: {} });
    assert.match(result.path, /\/model\.safetensors$/);
    assert.equal(readFileSync(result.path).equals(BIG), true);
    assert.equal((await downloadModel({ uri: url, cacheDir: cache('http'), env: {} })).cached, true);
    assert.equal((await failure(downloadModel({ uri: `${hub.url}/org/model/resolve/main/nope.bin`, cacheDir: cache('http'), env: {} }))).reason, 'NotFound');
    assert.equal((await failure(downloadModel({ uri: 'ftp://example/x', cacheDir: cache('http') }))).reason, 'InvalidSource');
  });

  test('a local path is scanned in place, not copied', async () => {
    const dir = join(root, 'local-model');
    mkdirSync(dir);
    writeFileSync(join(dir, 'model.safetensors'), safetensors(1024));
    const result = await downloadModel({ uri: `file://${dir}`, cacheDir: cache('local') });
    assert.equal(result.path, dir);
    assert.equal(existsSync(cache('local')), false);
    writeFileSync(join(dir, 'extra.pt'), EVIL_PICKLE);
    const error = await failure(downloadModel({ uri: dir, cacheDir: cache('local') }));
    assert.equal(error.reason, 'UnsafeArtifact');
    assert.match(error.message, /extra\.pt.*os\.system/);
  });

  test('a full disk is DiskFull and keeps the .part for a later run', async (t) => {
    const mount = join(root, 'small-disk');
    mkdirSync(mount);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mount], { stdio: 'ignore' });
    } catch {
      return t.skip('needs root to mount a small tmpfs (mount -t tmpfs)');
    }
    try {
      const error = await failure(downloadModel({ uri: 'hf://org/model', cacheDir: mount, env: env() }));
      assert.equal(error.reason, 'DiskFull');
      const entry = readdirSync(mount).find((f) => !f.endsWith('.lock'))!;
      assert.ok(statSync(join(mount, entry, 'model.safetensors.part')).size > 4 * MiB, 'the .part is kept');
    } finally {
      execFileSync('umount', ['-l', mount]);
    }
  });
});

describe('matrixinfer download', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startTestCluster(undefined);
  });
  after(async () => {
    await cluster?.stop();
  });
  const pod = async (name: string) => {
    await cluster.call('POST', '/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'engine', image: 'x' }] } });
  };
  const annotation = async (name: string): Promise<DownloadStatus | undefined> => {
    const p = (await cluster.call('GET', `/api/v1/namespaces/default/pods/${name}`)) as { metadata: { annotations?: Record<string, string> } };
    const text = p.metadata.annotations?.[DOWNLOAD_ANNOTATION];
    return text ? (JSON.parse(text) as DownloadStatus) : undefined;
  };

  test('prints the model path, reports progress on its Pod annotation and in --progress-file', async () => {
    await pod('dl-ok');
    const seen = new Set<string>();
    const watching = (async () => {
      for (;;) {
        const s = await annotation('dl-ok').catch(() => undefined);
        if (s) seen.add(s.phase);
        if (s?.phase === 'Complete') return;
        await sleep(50);
      }
    })();
    hub.sliceDelayMs = 25; // ~1.6 s for the large file: long enough for a Downloading report
    try {
      const progress = join(root, 'progress.json');
      const result = await matrixinfer(['download', '--uri', 'hf://org/model', '--cache-dir', cache('cli'), '--progress-file', progress], {
        env: { ...process.env, HF_ENDPOINT: hub.url, KUBECONFIG: cluster.kubeconfigPath, POD_NAME: 'dl-ok', POD_NAMESPACE: 'default' },
      });
      assert.equal(result.code, 0, result.stderr);
      const path = result.stdout.trim();
      assert.match(path, new RegExp(`^${cache('cli')}/model-[0-9a-f]{12}$`));
      assert.equal(existsSync(join(path, MANIFEST_FILE)), true);
      await watching;
      assert.ok(seen.has('Downloading'), `phases seen: ${[...seen]}`);
      assert.deepEqual(await annotation('dl-ok'), { phase: 'Complete', bytesDone: TOTAL, bytesTotal: TOTAL, filesDone: 3, filesTotal: 3, path });
      assert.equal(JSON.parse(readFileSync(progress, 'utf8')).phase, 'Complete');
    } finally {
      hub.sliceDelayMs = 0;
    }
  });

  test('a failure exits 1 with reason: message; under MATRIXINFER_ENGINE_SIMULATED=1 it is reported and exits 0', async () => {
    await pod('dl-sim');
    const base = { ...process.env, HF_ENDPOINT: hub.url, HF_TOKEN: TOKEN, KUBECONFIG: cluster.kubeconfigPath, POD_NAMESPACE: 'default' };
    const termination = join(root, 'termination-log');
    writeFileSync(termination, 'stale');
    const failed = await matrixinfer(['download', '--uri', 'hf://org/none', '--cache-dir', cache('cli')], { env: { ...base, MATRIXINFER_TERMINATION_LOG: termination } });
    assert.equal(failed.code, 1);
    // stderr is the downloader's JSON log lines (component downloader): the failure with its reason and message.
    const failure = failed.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, string>).find((r) => r.msg === 'download failed');
    assert.deepEqual([failure?.component, failure?.level, failure?.reason, failure?.uri], ['downloader', 'error', 'NotFound', 'hf://org/none'], failed.stderr);
    assert.match(failure!.error!, /^hf:\/\/org\/none@main: not found/);
    assert.equal(readFileSync(termination, 'utf8'), 'NotFound: hf://org/none@main: not found (HTTP 404)');
    // Outside a container there is no termination log, and none is created.
    const nowhere = join(root, 'no-termination-log');
    assert.equal((await matrixinfer(['download', '--uri', 'hf://org/none', '--cache-dir', cache('cli')], { env: { ...base, MATRIXINFER_TERMINATION_LOG: nowhere } })).code, 1);
    assert.equal(existsSync(nowhere), false);
    const sim = await matrixinfer(['download', '--uri', 'hf://org/none', '--cache-dir', cache('cli')], { env: { ...base, POD_NAME: 'dl-sim', MATRIXINFER_ENGINE_SIMULATED: '1' } });
    assert.equal(sim.code, 0, sim.stderr);
    assert.deepEqual(await annotation('dl-sim'), { phase: 'Failed', reason: 'NotFound', message: 'hf://org/none@main: not found (HTTP 404)' });
  });

  test('two processes downloading one source at once fetch it once', async () => {
    const args = ['download', '--uri', 'hf://org/model', '--cache-dir', cache('two')];
    const [[a, b], bytes] = await served(() => Promise.all([matrixinfer(args, { env: { ...process.env, HF_ENDPOINT: hub.url } }), matrixinfer(args, { env: { ...process.env, HF_ENDPOINT: hub.url } })]));
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(a.stdout, b.stdout);
    assert.equal(bytes, TOTAL);
  });

  test('a killed download leaves a .part and a dead lock; the next run takes the lock over and fetches the remainder', async () => {
    hub.sliceDelayMs = 20;
    let part = 0;
    try {
      const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN, 'download', '--uri', 'hf://org/model', '--cache-dir', cache('kill')], { env: { ...process.env, HF_ENDPOINT: hub.url }, stdio: 'ignore' });
      const partFile = await until(
        'a third of the large file on disk',
        () => {
          if (!existsSync(cache('kill'))) return false;
          const entry = readdirSync(cache('kill')).find((f) => !f.endsWith('.lock'));
          const file = entry && join(cache('kill'), entry, 'model.safetensors.part');
          return file && existsSync(file) && statSync(file).size > BIG.length / 3 ? file : false;
        },
        20_000,
        20,
      );
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      part = statSync(partFile).size;
      assert.ok(readdirSync(cache('kill')).some((f) => f.endsWith('.lock')), 'the dead process left its lock');
    } finally {
      hub.sliceDelayMs = 0;
    }
    const [result, bytes] = await served(() => matrixinfer(['download', '--uri', 'hf://org/model', '--cache-dir', cache('kill')], { env: { ...process.env, HF_ENDPOINT: hub.url } }));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(bytes, BIG.length - part);
    assert.equal(readFileSync(join(result.stdout.trim(), 'model.safetensors')).equals(BIG), true);
  });
});
