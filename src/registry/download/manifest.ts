// The cache entry's manifest, `.matrixinfer-manifest.json`: what is in the entry, where it came from, whether it is
// complete and what the scanner said. Written atomically (temp file + rename) after every finished file, so a
// restarted download knows which files are whole without rehashing them.
//
// Rules: an entry is complete only when `completedAt` is set, which happens after every file is renamed into place
// and the scan ran; `pending` records the version (etag) of each file being fetched, so a `.part` is resumed only
// against the same object version; `scan` is the verdict for the policy it was run with.
import { randomBytes } from 'node:crypto';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ScanReason } from '../scan/scan.ts';

export const MANIFEST_FILE = '.matrixinfer-manifest.json';

export interface ManifestFile {
  path: string;
  size: number;
  sha256: string;
  etag?: string;
}

export type ScanVerdict =
  | { safe: true; safetensorsOnly: boolean; scannedAt: string }
  | { safe: false; safetensorsOnly: boolean; scannedAt: string; reason: ScanReason; file: string; detail: string; global?: string };

export interface Manifest {
  version: 1;
  /** The source URI as given, and its canonical form. */
  uri: string;
  source: string;
  /** The revision asked for, and the commit it resolved to (Hub sources). */
  revision?: string;
  resolvedRevision?: string;
  files: ManifestFile[];
  pending: Record<string, { etag?: string; size: number }>;
  scan?: ScanVerdict;
  completedAt?: string;
}

export async function readManifest(dir: string): Promise<Manifest | undefined> {
  try {
    const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as Manifest;
    return manifest.version === 1 && Array.isArray(manifest.files) ? manifest : undefined;
  } catch {
    return undefined;
  }
}

export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  const tmp = join(dir, `${MANIFEST_FILE}.${randomBytes(4).toString('hex')}.tmp`);
  await writeFile(tmp, JSON.stringify(manifest, null, 2) + '\n');
  await rename(tmp, join(dir, MANIFEST_FILE));
}

/** Whether every file the manifest lists is on disk with its size (a cheap check that the entry was not pruned). */
export async function filesPresent(dir: string, manifest: Manifest): Promise<boolean> {
  for (const file of manifest.files) {
    try {
      if ((await stat(join(dir, file.path))).size !== file.size) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** Whether a scan verdict answers for `safetensorsOnly` (a strict scan answers for a lax one, not the reverse). */
export function scanCovers(verdict: ScanVerdict | undefined, safetensorsOnly: boolean): boolean {
  if (verdict === undefined) return false;
  // Unsafe stays unsafe under any policy; a PolicyViolation holds only for the policy that found it.
  if (!verdict.safe) return verdict.reason !== 'PolicyViolation' || verdict.safetensorsOnly === safetensorsOnly;
  return verdict.safetensorsOnly || !safetensorsOnly;
}
