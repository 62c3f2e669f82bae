// Validation of a safetensors file's header for the artifact scanner (the format: an 8-byte little-endian header
// length N, N bytes of JSON, then the tensor data). Rules, the same the safetensors library enforces on load:
// - N is at most `maxHeaderBytes` (the library's own cap is 100 MB) and 8 + N is within the file.
// - The header is a JSON object. `__metadata__`, if present, maps strings to strings. Every other key is a tensor
//   with exactly `dtype` (a known name), `shape` (non-negative integers) and `data_offsets` [begin, end].
// - The byte length of each tensor is its element count times the dtype's width (sub-byte types must fill whole
//   bytes); the tensors, sorted by begin, start at 0, touch end to begin with no gap or overlap, and the last ends
//   at the data size (file size − 8 − N).
// - Only the header is read from disk. A failure is returned as a message, never thrown.
import { open } from 'node:fs/promises';

export const MAX_HEADER_BYTES = 100_000_000;

/** Bits per element of each dtype the safetensors format names. */
const DTYPE_BITS: Record<string, number> = {
  BOOL: 8, U8: 8, I8: 8, F8_E5M2: 8, F8_E4M3: 8, F8_E8M0: 8, I16: 16, U16: 16, F16: 16, BF16: 16, I32: 32, U32: 32,
  F32: 32, F64: 64, I64: 64, U64: 64, C64: 64, F4: 4, F6_E2M3: 6, F6_E3M2: 6,
};

export type SafetensorsCheck = { ok: true; tensors: number; headerBytes: number } | { ok: false; detail: string };

/** Validates the header of the safetensors file at `path`. */
export async function checkSafetensorsFile(path: string, maxHeaderBytes = MAX_HEADER_BYTES): Promise<SafetensorsCheck> {
  let file;
  try {
    file = await open(path, 'r');
  } catch (err) {
    return { ok: false, detail: `cannot open: ${(err as Error).message}` };
  }
  try {
    const { size } = await file.stat();
    if (size < 8) return { ok: false, detail: `file of ${size} bytes has no header length` };
    const lengthBytes = Buffer.alloc(8);
    await file.read(lengthBytes, 0, 8, 0);
    const length = lengthBytes.readBigUInt64LE(0);
    if (length > BigInt(maxHeaderBytes)) return { ok: false, detail: `header length ${length} is more than the limit of ${maxHeaderBytes}` };
    const n = Number(length);
    if (8 + n > size) return { ok: false, detail: `header length ${n} runs past the end of the file (${size} bytes)` };
    const header = Buffer.alloc(n);
    await file.read(header, 0, n, 8);
    return checkHeader(header, size - 8 - n);
  } catch (err) {
    return { ok: false, detail: `read failed: ${(err as Error).message}` };
  } finally {
    await file.close();
  }
}

/** Validates a header's JSON bytes against the size of the data that follows it. */
export function checkHeader(header: Uint8Array, dataBytes: number): SafetensorsCheck {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(header).toString('utf8'));
  } catch (err) {
    return { ok: false, detail: `header is not JSON: ${(err as Error).message}` };
  }
  if (!isObject(parsed)) return { ok: false, detail: 'header is not a JSON object' };
  const spans: Array<{ name: string; begin: number; end: number }> = [];
  for (const [name, value] of Object.entries(parsed)) {
    if (name === '__metadata__') {
      if (!isObject(value)) return { ok: false, detail: '__metadata__ is not an object' };
      for (const [key, item] of Object.entries(value)) if (typeof item !== 'string') return { ok: false, detail: `__metadata__.${key} is not a string` };
      continue;
    }
    if (!isObject(value)) return { ok: false, detail: `tensor ${name}: not an object` };
    const extra = Object.keys(value).filter((key) => key !== 'dtype' && key !== 'shape' && key !== 'data_offsets');
    if (extra.length > 0) return { ok: false, detail: `tensor ${name}: unknown field ${extra[0]}` };
    const { dtype, shape, data_offsets: offsets } = value;
    const bits = typeof dtype === 'string' && Object.hasOwn(DTYPE_BITS, dtype) ? DTYPE_BITS[dtype]! : undefined;
    if (bits === undefined) return { ok: false, detail: `tensor ${name}: unknown dtype ${JSON.stringify(dtype)}` };
    if (!Array.isArray(shape) || !shape.every(isCount)) return { ok: false, detail: `tensor ${name}: shape must be non-negative integers` };
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      return { ok: false, detail: `tensor ${name}: data_offsets must be two non-negative integers` };
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) return { ok: false, detail: `tensor ${name}: data_offsets end ${end} before begin ${begin}` };
    const elementBits = (shape as number[]).reduce((a, b) => a * BigInt(b), 1n) * BigInt(bits);
    if (elementBits % 8n !== 0n) return { ok: false, detail: `tensor ${name}: ${dtype} elements do not fill whole bytes` };
    if (elementBits / 8n !== BigInt(end - begin)) {
      return { ok: false, detail: `tensor ${name}: shape ${JSON.stringify(shape)} of ${dtype} is ${elementBits / 8n} bytes, data_offsets span ${end - begin}` };
    }
    if (end > dataBytes) return { ok: false, detail: `tensor ${name}: data_offsets end ${end} past the data (${dataBytes} bytes)` };
    spans.push({ name, begin, end });
  }
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const span of spans) {
    if (span.begin < cursor) return { ok: false, detail: `tensor ${span.name}: data_offsets [${span.begin}, ${span.end}] overlap the previous tensor (ends at ${cursor})` };
    if (span.begin > cursor) return { ok: false, detail: `tensor ${span.name}: gap before data_offsets begin ${span.begin} (previous ends at ${cursor})` };
    cursor = span.end;
  }
  if (cursor !== dataBytes) return { ok: false, detail: `tensors cover ${cursor} bytes, the file holds ${dataBytes} after the header` };
  return { ok: true, tensors: spans.length, headerBytes: header.length };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
