// `matrixinfer download`: the Model's init container (contract.ts DOWNLOAD_CONTAINER). Fetches a source into the
// node cache (src/registry/download/), prints the engine's model path and exits 0; on failure exits 1 with
// `reason: message` on stderr and in /dev/termination-log when that file exists (what Kubernetes shows as the
// container's termination message; never created elsewhere).
//
// Rules:
//  - Credentials and endpoints come from the environment under each store's standard names (the Model's secretRef
//    is mounted as environment variables).
//  - Progress: the Pod's DOWNLOAD_ANNOTATION (at most once a second, and the final status) when POD_NAME and
//    POD_NAMESPACE are set with Kubernetes credentials; --progress-file gets the same JSON (atomically replaced).
//  - MATRIXINFER_ENGINE_SIMULATED=1 (the engine needs no weights): one try with short timeouts; a failure to fetch is
//    reported as Failed but the command exits 0 so the pod still starts. A failed scan (UnsafeArtifact,
//    InvalidArtifact, PolicyViolation) exits 1 all the same: it is a verdict on the artifacts, and nothing serves them.
import { open, rename, writeFile } from 'node:fs/promises';
import type { DownloadStatus } from '../api/kinds/model.ts';
import { SCAN_FAILURES } from '../registry/contract.ts';
import { formatRecord } from '../kube/log.ts';

export interface DownloadCommandOptions {
  uri: string;
  revision?: string;
  cacheDir: string;
  safetensorsOnly?: boolean;
  progressFile?: string;
  concurrency?: number;
  stallTimeout?: number;
}

/** Kubernetes mounts this file into every container (terminationMessagePath); MATRIXINFER_TERMINATION_LOG moves it. */
export const TERMINATION_LOG = '/dev/termination-log';

/** Writes the termination message only into an existing file (outside a container there is none to create). */
async function writeTerminationLog(path: string, text: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.truncate(0);
    await handle.write(text, 0);
  } finally {
    await handle.close();
  }
}


export async function runDownload(opts: DownloadCommandOptions, env: NodeJS.ProcessEnv = process.env, io = { out: (s: string) => process.stdout.write(s), err: (s: string) => process.stderr.write(s) }): Promise<number> {
  const [{ downloadModel }, { DownloadError, classify }, { throttle }, { podAnnotationSink }] = await Promise.all([
    import('../registry/download/download.ts'),
    import('../registry/download/errors.ts'),
    import('../registry/download/progress.ts'),
    import('../registry/download/pod-report.ts'),
  ]);
  const simulated = env.MATRIXINFER_ENGINE_SIMULATED === '1';
  // Its lines on stderr are the platform's JSON log lines (component `downloader`): it runs as a pod's init container.
  const record = (level: 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => io.err(formatRecord(level, 'downloader', msg, { uri: opts.uri, ...fields }) + '\n');
  const warn = (message: string) => record('warn', message);
  const pod = await podAnnotationSink(env, warn);
  const file = opts.progressFile;
  const sinks = [pod, file ? (s: DownloadStatus) => writeAtomic(file, JSON.stringify(s) + '\n') : undefined].filter((s) => s !== undefined);
  const reporter = throttle(async (s) => void (await Promise.all(sinks.map((sink) => sink(s)))), 1000);
  try {
    const result = await downloadModel({
      uri: opts.uri,
      ...(opts.revision ? { revision: opts.revision } : {}),
      cacheDir: opts.cacheDir,
      safetensorsOnly: !!opts.safetensorsOnly,
      env,
      ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
      ...(simulated
        ? { retry: { attempts: 1, baseMs: 0, maxMs: 0 }, stallMs: 5_000, connectTimeoutMs: 3_000, lockStaleMs: 10_000 }
        : opts.stallTimeout ? { stallMs: opts.stallTimeout * 1000 } : {}),
      onProgress: (s) => reporter.push(s),
    });
    await reporter.flush();
    io.out(result.path + '\n');
    return 0;
  } catch (err) {
    const error = classify(err, opts.uri);
    if (!(err instanceof DownloadError)) reporter.push({ phase: 'Failed', reason: error.reason, message: error.message });
    await reporter.flush();
    const line = `${error.reason}: ${error.message}`;
    record('error', 'download failed', { reason: error.reason, error: error.message });
    if (simulated && !SCAN_FAILURES.has(error.reason)) {
      record('warn', 'MATRIXINFER_ENGINE_SIMULATED=1, the simulated engine needs no weights: starting anyway');
      return 0;
    }
    await writeTerminationLog(env.MATRIXINFER_TERMINATION_LOG || TERMINATION_LOG, line.slice(0, 4000)).catch(() => {});
    return 1;
  }
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}
