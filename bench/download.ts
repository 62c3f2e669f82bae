// The model downloader (src/registry/download/) against the local store servers the tests use: moto (S3), Azurite
// (Azure Blob), fake-gcs-server (GCS) — straight to each server, no proxy — and the Hugging Face Hub stand-in and a
// plain http file (test/support/hf-hub.ts, served from this process). Per store: wall time and throughput (MiB/s) of a
// cold download of a ~256 MiB model in several files (4 files at once), the cache hit's time, and a resume figure:
// the download aborted at ~50 %, then run again — bytes kept in .part files, bytes fetched again, and their ratio to
// the remainder (1.00 = nothing fetched twice). Stores whose server is not installed are listed as skipped, naming
// scripts/store-emulators.sh. Figures are for loopback on this machine: they bound the downloader's own overhead
// (hashing, writing, the client libraries), not a real network.
//
//   npm run bench -- download [--smoke] [--mib 256] [--files 4]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadModel } from '../src/registry/download/download.ts';
import { startHfHub } from '../test/support/hf-hub.ts';
import { safetensors } from '../test/support/model-files.ts';
import { azuritePath, fakeGcsPath, motoPath, startAzurite, startFakeGcs, startMoto, type StoreServer } from '../test/support/store-servers.ts';
import { findProgram } from '../test/support/system.ts';

interface Row {
  store: string;
  files: number;
  mib: number;
  coldS?: number;
  mibPerS?: number;
  hitMs?: number;
  keptMiB?: number;
  refetchedMiB?: number;
  ratio?: number;
  note?: string;
}

function flag(argv: string[], name: string, fallback: number): number {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
}

export async function run(argv: string[]): Promise<void> {
  const smoke = argv.includes('--smoke');
  const totalMiB = flag(argv, '--mib', smoke ? 16 : 256);
  const count = flag(argv, '--files', 4);
  const MiB = 1 << 20;
  const files: Record<string, Buffer> = { 'config.json': Buffer.from('{"architectures":["LlamaForCausalLM"]}'), 'tokenizer.json': Buffer.from('{"model":{}}') };
  for (let i = 1; i <= count; i++) files[`model-0000${i}-of-0000${count}.safetensors`] = safetensors(Math.floor((totalMiB * MiB) / count / 4) * 4);
  const bytes = Object.values(files).reduce((n, b) => n + b.length, 0);
  const prefixed = (prefix: string) => Object.fromEntries(Object.entries(files).map(([k, v]) => [`${prefix}/${k}`, v]));
  const root = mkdtempSync(join(tmpdir(), 'matrixinfer-bench-download-'));
  const rows: Row[] = [];
  const measure = async (store: string, uri: string, env: NodeJS.ProcessEnv, n = Object.keys(files).length, size = bytes) => {
    const row: Row = { store, files: n, mib: size / MiB };
    const cold = join(root, `${store}-cold`);
    let started = performance.now();
    await downloadModel({ uri, cacheDir: cold, env });
    row.coldS = (performance.now() - started) / 1000;
    row.mibPerS = size / MiB / row.coldS;
    started = performance.now();
    await downloadModel({ uri, cacheDir: cold, env });
    row.hitMs = performance.now() - started;
    rmSync(cold, { recursive: true, force: true });
    const warm = join(root, `${store}-resume`);
    const abort = new AbortController();
    let kept = 0;
    await downloadModel({
      uri,
      cacheDir: warm,
      env,
      progressIntervalMs: 0,
      signal: abort.signal,
      onProgress: (s) => {
        if (s.phase === 'Downloading' && s.bytesDone! >= size / 2 && !abort.signal.aborted) abort.abort(new Error('bench: stop at 50 %'));
      },
    }).catch(() => {});
    const again = await downloadModel({ uri, cacheDir: warm, env });
    kept = again.bytesResumed + (size - again.bytesFetched - again.bytesResumed); // .part bytes plus whole files kept
    row.keptMiB = kept / MiB;
    row.refetchedMiB = again.bytesFetched / MiB;
    row.ratio = again.bytesFetched / (size - kept);
    rmSync(warm, { recursive: true, force: true });
    rows.push(row);
    process.stderr.write(`  ${store}: done\n`);
  };

  const hub = await startHfHub({ repos: { 'bench/model': { files } } });
  try {
    await measure('huggingface', 'hf://bench/model', { HF_ENDPOINT: hub.url });
    const one = Object.keys(files).find((f) => f.endsWith('.safetensors'))!;
    await measure('https', `${hub.url}/bench/model/resolve/main/${one}`, {}, 1, files[one]!.length);
  } finally {
    await hub.close();
  }
  const emulators: Array<[string, string, (dir: string) => Promise<StoreServer>, string]> = [
    ['s3 (moto)', motoPath(), () => startMoto('bench', prefixed('model')), 's3://bench/model'],
    ['azure (Azurite)', azuritePath(), (dir) => startAzurite(dir, 'bench', prefixed('model')), 'az://bench/model'],
    ['gcs (fake-gcs-server)', fakeGcsPath(), (dir) => startFakeGcs(dir, 'bench', prefixed('model')), 'gs://bench/model'],
  ];
  for (const [store, binary, start, uri] of emulators) {
    if (findProgram(binary) === undefined) {
      rows.push({ store, files: 0, mib: 0, note: 'skipped: bash scripts/store-emulators.sh installs it' });
      continue;
    }
    const dir = mkdtempSync(join(root, 'server-'));
    const server = await start(dir);
    try {
      await measure(store, uri, server.direct);
    } finally {
      await server.stop();
    }
  }
  rmSync(root, { recursive: true, force: true });

  const f = (v: number | undefined, digits = 1) => (v === undefined ? '-' : v.toFixed(digits));
  const header = ['store', 'files', 'MiB', 'cold s', 'MiB/s', 'hit ms', 'kept MiB', 'refetched MiB', 'refetch/remainder'];
  const lines = rows.map((r) => (r.note ? [r.store, r.note] : [r.store, String(r.files), f(r.mib), f(r.coldS, 2), f(r.mibPerS, 0), f(r.hitMs, 0), f(r.keptMiB), f(r.refetchedMiB), f(r.ratio, 2)]));
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l.length > 2 ? (l[i] ?? '').length : i === 0 ? l[0]!.length : 0))));
  console.log(`\nmodel download, ${count} weight files + 2 small, ${(bytes / MiB).toFixed(0)} MiB, loopback, concurrency 4${smoke ? ' (smoke)' : ''}`);
  console.log(header.map((h, i) => h.padEnd(widths[i]!)).join('  '));
  for (const l of lines) console.log(l.length === 2 ? `${l[0]!.padEnd(widths[0]!)}  ${l[1]}` : l.map((c, i) => c.padEnd(widths[i]!)).join('  '));
}
