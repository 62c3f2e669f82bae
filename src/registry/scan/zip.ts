// Reading the pickles inside a zip archive (PyTorch's `.pt`/`.pth`/`.bin` format since 1.6 keeps `<name>/data.pkl`
// beside the raw storages) for the artifact scanner. Rules:
// - Only the central directory is trusted for the entry list (zip64 records included, as PyTorch writes them for
//   large checkpoints); each wanted entry's local header is read only to find where its data starts.
// - Only `.pkl` entries are extracted, stored (method 0) or deflated (method 8, node:zlib inflateRaw); any other
//   method on a `.pkl` entry is an error. Storage entries are never read.
// - Bounded against zip bombs: at most `maxEntries` entries, at most `maxEntryBytes` uncompressed per pickle
//   (declared and actual, inflateRaw's maxOutputLength), at most `maxTotalBytes` over all pickles.
// - The file is read through a handle, a range at a time, so a multi-gigabyte checkpoint is never loaded whole.
// - Every failure is a thrown ZipError with a message; the caller (scan.ts) turns it into InvalidArtifact.
import { open, type FileHandle } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';

export interface ZipLimits {
  maxEntries: number;
  maxEntryBytes: number;
  maxTotalBytes: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = { maxEntries: 100_000, maxEntryBytes: 512 * 1024 * 1024, maxTotalBytes: 1024 * 1024 * 1024 };

export class ZipError extends Error {}

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** Whether `head` (the first bytes of a file) opens a zip archive. */
export function isZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

async function readAt(file: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await file.read(buffer, 0, length, offset);
  if (bytesRead !== length) throw new ZipError(`archive truncated (wanted ${length} bytes at ${offset})`);
  return buffer;
}

/** The entries of the archive's central directory. */
export async function listEntries(file: FileHandle, fileSize: number, limits: ZipLimits = DEFAULT_ZIP_LIMITS): Promise<ZipEntry[]> {
  // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
  const tailLength = Math.min(fileSize, 22 + 0xffff);
  const tail = await readAt(file, fileSize - tailLength, tailLength);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) if (tail.readUInt32LE(i) === EOCD) { eocd = i; break; }
  if (eocd < 0) throw new ZipError('no end of central directory record');
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const locatorAt = fileSize - tailLength + eocd - 20;
    if (locatorAt < 0) throw new ZipError('zip64 locator missing');
    const locator = await readAt(file, locatorAt, 20);
    if (locator.readUInt32LE(0) !== ZIP64_LOCATOR) throw new ZipError('zip64 locator missing');
    const record = await readAt(file, safeNumber(locator.readBigUInt64LE(8)), 56);
    if (record.readUInt32LE(0) !== ZIP64_EOCD) throw new ZipError('zip64 end of central directory missing');
    count = safeNumber(record.readBigUInt64LE(32));
    cdSize = safeNumber(record.readBigUInt64LE(40));
    cdOffset = safeNumber(record.readBigUInt64LE(48));
  }
  if (count > limits.maxEntries) throw new ZipError(`${count} entries, more than the limit of ${limits.maxEntries}`);
  if (cdOffset + cdSize > fileSize) throw new ZipError('central directory past the end of the file');
  if (cdSize > limits.maxEntries * (46 + 0xffff * 3)) throw new ZipError('central directory too large');
  const cd = await readAt(file, cdOffset, cdSize);
  const entries: ZipEntry[] = [];
  let pos = 0;
  for (let i = 0; i < count; i++) {
    if (pos + 46 > cd.length || cd.readUInt32LE(pos) !== CENTRAL) throw new ZipError(`central directory entry ${i} malformed`);
    const method = cd.readUInt16LE(pos + 10);
    let compressedSize = cd.readUInt32LE(pos + 20);
    let size = cd.readUInt32LE(pos + 24);
    const nameLength = cd.readUInt16LE(pos + 28);
    const extraLength = cd.readUInt16LE(pos + 30);
    const commentLength = cd.readUInt16LE(pos + 32);
    let localOffset = cd.readUInt32LE(pos + 42);
    const end = pos + 46 + nameLength + extraLength + commentLength;
    if (end > cd.length) throw new ZipError(`central directory entry ${i} truncated`);
    const name = cd.toString('utf8', pos + 46, pos + 46 + nameLength);
    // Zip64 extended information: the 64-bit values, in this order, for exactly the fields that are saturated.
    let extra = pos + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = cd.readUInt16LE(extra);
      const length = cd.readUInt16LE(extra + 2);
      if (id === 0x0001) {
        let field = extra + 4;
        const next = (): number => {
          if (field + 8 > extra + 4 + length) throw new ZipError(`zip64 field of ${name} truncated`);
          const value = safeNumber(cd.readBigUInt64LE(field));
          field += 8;
          return value;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localOffset === 0xffffffff) localOffset = next();
      }
      extra += 4 + length;
    }
    entries.push({ name, method, compressedSize, size, localOffset });
    pos = end;
  }
  return entries;
}

/** The uncompressed bytes of `entry`, within the limits. */
export async function readEntry(file: FileHandle, fileSize: number, entry: ZipEntry, maxBytes: number): Promise<Buffer> {
  if (entry.size > maxBytes) throw new ZipError(`${entry.name}: ${entry.size} bytes uncompressed, more than the limit of ${maxBytes}`);
  const local = await readAt(file, entry.localOffset, 30);
  if (local.readUInt32LE(0) !== LOCAL) throw new ZipError(`${entry.name}: local header missing`);
  const dataAt = entry.localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
  if (dataAt + entry.compressedSize > fileSize) throw new ZipError(`${entry.name}: data past the end of the file`);
  const raw = await readAt(file, dataAt, entry.compressedSize);
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.size) throw new ZipError(`${entry.name}: stored entry with two sizes`);
    return raw;
  }
  if (entry.method !== 8) throw new ZipError(`${entry.name}: compression method ${entry.method} not supported`);
  let out: Buffer;
  try {
    out = inflateRawSync(raw, { maxOutputLength: Math.max(1, maxBytes) });
  } catch (err) {
    throw new ZipError(`${entry.name}: inflate failed (${(err as Error).message})`);
  }
  if (out.length !== entry.size) throw new ZipError(`${entry.name}: inflated to ${out.length} bytes, the directory says ${entry.size}`);
  return out;
}

/** Every `.pkl` entry of the archive at `path`, uncompressed, within `limits`. */
export async function readPickleEntries(path: string, limits: ZipLimits = DEFAULT_ZIP_LIMITS): Promise<Array<{ name: string; data: Buffer }>> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const entries = await listEntries(file, size, limits);
    const out: Array<{ name: string; data: Buffer }> = [];
    let total = 0;
    for (const entry of entries) {
      if (!entry.name.endsWith('.pkl')) continue;
      const data = await readEntry(file, size, entry, Math.min(limits.maxEntryBytes, limits.maxTotalBytes - total));
      total += data.length;
      out.push({ name: entry.name, data });
    }
    return out;
  } finally {
    await file.close();
  }
}

function safeNumber(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError('zip64 value too large');
  return Number(value);
}
