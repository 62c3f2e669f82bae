// The artifact scanner's entry point (issue 13, "Scanning"): given a model directory or a list of files, it checks
// every model artifact before any engine loads it and returns a typed verdict. Not yet wired into the Model
// controller. Rules:
// - Files are picked by extension: `.bin`, `.pt`, `.pth`, `.pkl`, `.ckpt` are pickle-based (a zip archive of pickles
//   when the file opens with `PK\x03\x04`, else a bare pickle stream), `.safetensors` has its header validated.
//   Other files (configs, tokenizers) are not artifacts and are left alone. Directories are walked recursively,
//   following symlinks (a Hugging Face snapshot is symlinks into blobs) but never the same directory twice.
// - A pickle-based `.bin` is always scanned as a pickle: PyTorch's legacy loader would unpickle it, so a `.bin` that
//   is not a valid pickle or zip is InvalidArtifact, never skipped.
// - `safetensorsOnly` refuses any pickle-based file (PolicyViolation) without reading it.
// - The first failure, in path order, is the verdict: UnsafeArtifact names the file (with `!entry` inside a zip), the
//   global and its byte offset; InvalidArtifact says what is malformed. Nothing here throws for bad artifacts; an
//   unreadable path is InvalidArtifact too.
import { open, readdir, realpath, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { scanPickle, type PickleGlobal } from './pickle.ts';
import { DEFAULT_ZIP_LIMITS, isZip, readPickleEntries, type ZipLimits } from './zip.ts';
import { checkSafetensorsFile, MAX_HEADER_BYTES } from './safetensors.ts';

export const PICKLE_EXTENSIONS = ['.bin', '.pt', '.pth', '.pkl', '.ckpt'] as const;
export const SAFETENSORS_EXTENSION = '.safetensors';

export interface ScanOptions {
  /** Refuse every pickle-based artifact (the registry policy "safetensors only"). */
  safetensorsOnly?: boolean;
  /** Largest bare pickle read (bytes); a pickle that does not end within it is InvalidArtifact. */
  maxPickleBytes?: number;
  zip?: Partial<ZipLimits>;
  maxSafetensorsHeaderBytes?: number;
}

export interface ScannedFile {
  path: string;
  kind: 'pickle' | 'zip' | 'safetensors';
  /** The distinct globals the pickles import (all on the allow-list), `module.name`. */
  globals?: string[];
}

export type ScanReason = 'UnsafeArtifact' | 'InvalidArtifact' | 'PolicyViolation';

export type ScanResult =
  | { safe: true; files: ScannedFile[] }
  | { safe: false; reason: ScanReason; file: string; detail: string; global?: string; offset?: number };

/** One file's verdict: safe with what was found, or the refusal. */
export type FileVerdict = { safe: true; file: ScannedFile } | Extract<ScanResult, { safe: false }>;

const DEFAULT_MAX_PICKLE_BYTES = 512 * 1024 * 1024;

/** Scans a directory (recursively) or a list of files and directories. */
export async function scanArtifacts(target: string | string[], options: ScanOptions = {}): Promise<ScanResult> {
  const paths: string[] = [];
  const seen = new Set<string>();
  for (const root of Array.isArray(target) ? target : [target]) {
    const failure = await collect(root, paths, seen, true);
    if (failure !== undefined) return failure;
  }
  paths.sort();
  const files: ScannedFile[] = [];
  for (const path of paths) {
    const verdict = await scanFile(path, options);
    if (!verdict.safe) return verdict;
    files.push(verdict.file);
  }
  return { safe: true, files };
}

/** The artifacts under `path`; an explicitly named file is taken whatever its extension only if it is an artifact. */
async function collect(path: string, out: string[], seen: Set<string>, named: boolean): Promise<Extract<ScanResult, { safe: false }> | undefined> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    if (!named) return undefined; // a dangling symlink inside a directory
    return { safe: false, reason: 'InvalidArtifact', file: path, detail: `cannot read: ${(err as Error).message}` };
  }
  if (info.isDirectory()) {
    let entries: string[];
    try {
      const real = await realpath(path);
      if (seen.has(real)) return undefined;
      seen.add(real);
      entries = await readdir(path);
    } catch (err) {
      return { safe: false, reason: 'InvalidArtifact', file: path, detail: `cannot list: ${(err as Error).message}` };
    }
    for (const entry of entries) {
      const failure = await collect(join(path, entry), out, seen, false);
      if (failure !== undefined) return failure;
    }
    return undefined;
  }
  if (info.isFile() && artifactKind(path) !== undefined) out.push(path);
  return undefined;
}

/** 'pickle' or 'safetensors' by extension, or undefined for a file that is not a model artifact. */
export function artifactKind(path: string): 'pickle' | 'safetensors' | undefined {
  const ext = extname(path).toLowerCase();
  if (ext === SAFETENSORS_EXTENSION) return 'safetensors';
  return (PICKLE_EXTENSIONS as readonly string[]).includes(ext) ? 'pickle' : undefined;
}

/** Scans one artifact file. */
export async function scanFile(path: string, options: ScanOptions = {}): Promise<FileVerdict> {
  const kind = artifactKind(path);
  if (kind === 'safetensors') {
    const check = await checkSafetensorsFile(path, options.maxSafetensorsHeaderBytes ?? MAX_HEADER_BYTES);
    if (!check.ok) return { safe: false, reason: 'InvalidArtifact', file: path, detail: `safetensors header: ${check.detail}` };
    return { safe: true, file: { path, kind: 'safetensors' } };
  }
  if (options.safetensorsOnly === true) {
    return { safe: false, reason: 'PolicyViolation', file: path, detail: 'policy requires safetensors only; this file is pickle-based' };
  }
  try {
    const head = await readHead(path, options.maxPickleBytes ?? DEFAULT_MAX_PICKLE_BYTES);
    if (isZip(head.data)) {
      const entries = await readPickleEntries(path, { ...DEFAULT_ZIP_LIMITS, ...options.zip });
      if (entries.length === 0) return { safe: false, reason: 'InvalidArtifact', file: path, detail: 'zip archive holds no .pkl entry' };
      const globals = new Set<string>();
      for (const entry of entries) {
        const verdict = judgePickle(`${path}!${entry.name}`, entry.data, true, globals);
        if (verdict !== undefined) return verdict;
      }
      return { safe: true, file: { path, kind: 'zip', globals: [...globals].sort() } };
    }
    const globals = new Set<string>();
    const verdict = judgePickle(path, head.data, head.complete, globals);
    if (verdict !== undefined) return verdict;
    return { safe: true, file: { path, kind: 'pickle', globals: [...globals].sort() } };
  } catch (err) {
    return { safe: false, reason: 'InvalidArtifact', file: path, detail: (err as Error).message };
  }
}

/** The verdict on one pickle stream, or undefined when it is safe (its globals added to `globals`). */
function judgePickle(file: string, data: Uint8Array, complete: boolean, globals: Set<string>): FileVerdict | undefined {
  const scan = scanPickle(data);
  // An unsafe global found before the stream broke is still the more important finding.
  const unsafe: PickleGlobal | undefined = scan.unsafe[0];
  if (unsafe !== undefined) {
    const global = `${unsafe.module}.${unsafe.name}`;
    return { safe: false, reason: 'UnsafeArtifact', file, global, offset: unsafe.offset, detail: `imports ${global} (${unsafe.opcode} at byte ${unsafe.offset})` };
  }
  if (!scan.ok) {
    const why = complete ? scan.malformed : `${scan.malformed}; only the first ${data.length} bytes were read (the size limit)`;
    return { safe: false, reason: 'InvalidArtifact', file, offset: scan.offset, detail: `malformed pickle: ${why} at byte ${scan.offset}` };
  }
  for (const g of scan.globals) globals.add(`${g.module}.${g.name}`);
  return undefined;
}

/** Up to `max` bytes from the start of the file, and whether that is the whole file. */
async function readHead(path: string, max: number): Promise<{ data: Buffer; complete: boolean }> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const length = Math.min(size, max);
    const data = Buffer.alloc(length);
    const { bytesRead } = await file.read(data, 0, length, 0);
    return { data: data.subarray(0, bytesRead), complete: bytesRead === size };
  } finally {
    await file.close();
  }
}
