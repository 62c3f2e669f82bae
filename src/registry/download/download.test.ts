// Unit tests of the downloader's pure decisions (errors, retries, lock staleness, paths, policy coverage, the
// progress throttle) and of its loading rule: the store client libraries are imported lazily, by the store modules
// only. The downloads themselves are tested against real servers in test/integration/registry-download*.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSource } from '../source.ts';
import { modelPathIn } from './download.ts';
import { classify, DownloadError, fromStatus } from './errors.ts';
import { isStale } from './lock.ts';
import { scanCovers } from './manifest.ts';
import { throttle } from './progress.ts';
import { backoffMs, shouldRetry } from './retry.ts';
import { gcsCredentials } from './stores/gcs.ts';
import { safeRelative, underPrefix } from './stores/types.ts';
import type { DownloadStatus } from '../../api/kinds/model.ts';

describe('errors', () => {
  test('HTTP statuses and system errors map to reasons; only passing faults are retryable', () => {
    assert.equal(fromStatus(401, 'x').reason, 'Forbidden');
    assert.equal(fromStatus(403, 'x').reason, 'Forbidden');
    assert.equal(fromStatus(404, 'x').reason, 'NotFound');
    assert.equal(fromStatus(503, 'x').reason, 'StoreUnreachable');
    assert.equal(classify({ $metadata: { httpStatusCode: 403 }, message: 'AccessDenied' }, 'x').reason, 'Forbidden');
    assert.equal(classify(Object.assign(new Error('no space'), { code: 'ENOSPC' }), 'f').reason, 'DiskFull');
    const dns = classify(new TypeError('fetch failed', { cause: Object.assign(new Error('getaddrinfo ENOTFOUND nowhere'), { code: 'ENOTFOUND' }) }), 'x');
    assert.equal(dns.reason, 'StoreUnreachable');
    assert.match(dns.message, /ENOTFOUND/);
    for (const reason of ['StoreUnreachable', 'Stalled'] as const) assert.equal(new DownloadError(reason, '').retryable, true);
    for (const reason of ['NotFound', 'Forbidden', 'MissingCredentials', 'DiskFull', 'ChecksumMismatch', 'InvalidSource'] as const) assert.equal(new DownloadError(reason, '').retryable, false);
  });
});

describe('retries', () => {
  const policy = { attempts: 5, baseMs: 500, maxMs: 8000 };
  test('back-off doubles to a cap, with full jitter', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 9].map((a) => backoffMs(a, policy, () => 0.999999)), [499, 999, 1999, 3999, 7999, 7999, 7999]);
    assert.equal(backoffMs(3, policy, () => 0), 0);
  });
  test('bounded: a retryable error is retried until the last attempt; a 404 never', () => {
    const flaky = new DownloadError('StoreUnreachable', '');
    assert.deepEqual([0, 1, 2, 3, 4].map((a) => shouldRetry(flaky, a, policy)), [true, true, true, true, false]);
    assert.equal(shouldRetry(new DownloadError('NotFound', ''), 0, policy), false);
  });
});

describe('lock staleness', () => {
  const holder = { pid: 4242, host: 'node-a', since: '' };
  test('a dead pid on this host, or an old heartbeat anywhere, is stale; a live or fresh one is not', () => {
    assert.equal(isStale(holder, 1000, 2000, 30_000, 'node-a', () => false), true);
    assert.equal(isStale(holder, 1000, 2000, 30_000, 'node-a', () => true), false);
    assert.equal(isStale(holder, 1000, 2000, 30_000, 'pod-b', () => false), false, 'another pod: its pid is not ours to probe');
    assert.equal(isStale(holder, 1000, 40_000, 30_000, 'pod-b', () => true), true, 'no heartbeat for 30 s');
    assert.equal(isStale(undefined, 1000, 2000, 30_000), false, 'being written');
  });
});

describe('paths', () => {
  test('object keys under a prefix become safe relative paths; the prefix may be the object itself', () => {
    assert.equal(underPrefix('models/llama/config.json', 'models/llama'), 'config.json');
    assert.equal(underPrefix('models/llama/sub/a.bin', 'models/llama/'), 'sub/a.bin');
    assert.equal(underPrefix('models/llama-2/config.json', 'models/llama'), undefined, 'a sibling with the same start is not under it');
    assert.equal(underPrefix('models/llama/', 'models/llama'), undefined, 'directory markers are skipped');
    assert.equal(underPrefix('models/model.gguf', 'models/model.gguf'), 'model.gguf');
    assert.equal(safeRelative('a//b/./c', 'x'), 'a/b/c');
    assert.throws(() => safeRelative('../etc/passwd', 'x'), /unsafe/);
    assert.throws(() => safeRelative('/abs', 'x'), /unsafe/);
  });
  test('the model path is the engine path with the node cache moved to --cache-dir; pvc and local stay', () => {
    assert.match(modelPathIn('/tmp/c', parseSource('s3://bucket/models/llama')), /^\/tmp\/c\/llama-[0-9a-f]{12}$/);
    assert.match(modelPathIn('/tmp/c', parseSource('https://example.com/m/model.gguf')), /^\/tmp\/c\/model\.gguf-[0-9a-f]{12}\/model\.gguf$/);
    assert.equal(modelPathIn('/tmp/c', parseSource('pvc://claim/llama')), '/mnt/models/claim/llama');
    assert.equal(modelPathIn('/tmp/c', parseSource('/models/llama')), '/models/llama');
  });
});

describe('policy coverage of a recorded scan', () => {
  const at = { scannedAt: '' };
  test('a strict safe scan answers for a lax run, not the reverse; a PolicyViolation only for its own policy', () => {
    assert.equal(scanCovers({ safe: true, safetensorsOnly: true, ...at }, false), true);
    assert.equal(scanCovers({ safe: true, safetensorsOnly: false, ...at }, true), false);
    assert.equal(scanCovers({ safe: false, safetensorsOnly: false, reason: 'UnsafeArtifact', file: 'a', detail: '', ...at }, true), true);
    assert.equal(scanCovers({ safe: false, safetensorsOnly: true, reason: 'PolicyViolation', file: 'a', detail: '', ...at }, false), false);
    assert.equal(scanCovers(undefined, false), false);
  });
});

describe('GOOGLE_APPLICATION_CREDENTIALS', () => {
  test('the key JSON itself is parsed; malformed content is MissingCredentials naming the variable', () => {
    assert.deepEqual(gcsCredentials('{"client_email":"a@b","private_key":"k","project_id":"p"}'), { credentials: { client_email: 'a@b', private_key: 'k' }, projectId: 'p' });
    assert.equal(gcsCredentials(undefined), undefined);
    assert.throws(() => gcsCredentials('{oops'), (e: DownloadError) => e.reason === 'MissingCredentials' && /GOOGLE_APPLICATION_CREDENTIALS/.test(e.message));
    assert.throws(() => gcsCredentials('/no/such/key.json'), (e: DownloadError) => e.reason === 'MissingCredentials');
  });
});

describe('progress throttle', () => {
  test('at most one delivery per interval (the latest wins), and the final status at once', async () => {
    const got: DownloadStatus[] = [];
    const t = throttle((s) => void got.push(s), 200);
    for (let i = 0; i < 50; i++) t.push({ phase: 'Downloading', bytesDone: i });
    t.push({ phase: 'Complete', bytesDone: 50 });
    await t.flush();
    assert.deepEqual(got, [{ phase: 'Downloading', bytesDone: 0 }, { phase: 'Complete', bytesDone: 50 }]);
  });
  test('a failing sink does not fail the caller', async () => {
    const t = throttle(() => Promise.reject(new Error('apiserver down')), 10);
    t.push({ phase: 'Failed', reason: 'NotFound' });
    await t.flush();
  });
});

test('the store client libraries are loaded lazily, and only by the store modules', () => {
  const dir = fileURLToPath(new URL('.', import.meta.url));
  const libraries = /['"](@aws-sdk\/client-s3|@google-cloud\/storage|@azure\/storage-blob|@huggingface\/hub)['"]/;
  const files = [...readdirSync(dir).map((f) => join(dir, f)), ...readdirSync(join(dir, 'stores')).map((f) => join(dir, 'stores', f))].filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  for (const file of files) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!libraries.test(line)) continue;
      assert.ok(file.includes('/stores/'), `${file} names a store library`);
      assert.ok(/await import\(|^import type /.test(line.trim()), `${file}: a static import of a store library: ${line.trim()}`);
    }
  }
});
