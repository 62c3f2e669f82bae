// Builds the semantic cache's static embedder asset (assets/embedder/) from the PyPI wheel `wordllama`
// 0.4.0.post1 (MIT): its `l2_supercat_256` table, one fp16 row [256] per token of the Llama-2 BPE vocabulary
// (32,000 tokens), and that vocabulary's tokenizer.json. A text's embedding is the mean of its tokens' rows,
// L2-normalised (what wordllama's own `embed` does), so the gateway needs the table and the tokenizer, nothing else.
//
//   pip download --no-deps wordllama==0.4.0.post1 -d /tmp/wl
//   node scripts/build-embedder.ts /tmp/wl/wordllama-0.4.0.post1-*.whl
//
// Rules and the numbers chosen:
// - 128 dimensions, not 256: WordLlama is trained Matryoshka-style, so a prefix of each row is itself an embedding.
//   The wheel's own results (RESULTS.md, l2 supercat) lose little from 256 to 128 (STS 66.93 → 66.51, pair
//   classification 77.81 → 77.17) and halve the asset; 64 loses more (65.65, 75.68).
// - int8 with one float32 scale per row (symmetric, scale = max|x| / 127): 1 byte per weight instead of 2, and the
//   rounding error (≤ 0.4 % of a row's largest weight) is far below what separates two texts; mean pooling
//   averages it down further. 32,000 × 128 + 32,000 × 4 bytes ≈ 4.2 MB, committed, so `npm ci && npm start` downloads
//   nothing.
// - The tokenizer is the wheel's tokenizer.json re-serialised without whitespace and gzipped (≈ 0.6 MB); it is loaded
//   with @huggingface/tokenizers, which gives the same ids as Python's `tokenizers` on this vocabulary.
// - The table file is self-describing: 4-byte little-endian header length, a JSON header (source, rows, dims, the
//   wheel's sha256), then the scales (float32 LE) and the int8 rows. `src/gateway/cache/embedder/static.ts` reads it.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const DIMS = 128;
const WEIGHTS = 'wordllama/weights/l2_supercat_256.safetensors';
const TOKENIZER = 'wordllama/tokenizers/l2_supercat_tokenizer_config.json';
const OUT = resolve(import.meta.dirname, '..', 'assets', 'embedder');

const wheel = process.argv[2];
if (!wheel) {
  console.error('usage: node scripts/build-embedder.ts <wordllama-0.4.0.post1-*.whl>');
  process.exit(2);
}

// Python's zipfile unpacks the wheel (python3 is needed for `pip download` anyway).
const tmp = mkdtempSync(join(tmpdir(), 'wordllama-'));
execFileSync('python3', ['-m', 'zipfile', '-e', wheel, tmp]);

/** The one tensor of a safetensors file: 8-byte LE header length, JSON header, raw little-endian data. */
function readTensor(path: string, name: string): { shape: number[]; data: Float32Array } {
  const buf = readFileSync(path);
  const headerLen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const t = header[name];
  if (!t || t.dtype !== 'F16') throw new Error(`${path}: no F16 tensor ${name}`);
  const start = 8 + headerLen + t.data_offsets[0];
  const count = (t.data_offsets[1] - t.data_offsets[0]) / 2;
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = halfToFloat(buf.readUInt16LE(start + 2 * i));
  return { shape: t.shape, data };
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

const { shape, data } = readTensor(join(tmp, WEIGHTS), 'embedding.weight');
const [rows, width] = shape as [number, number];
if (width < DIMS) throw new Error(`table has ${width} dims, fewer than ${DIMS}`);

const scales = new Float32Array(rows);
const q = new Int8Array(rows * DIMS);
let worst = 0;
for (let r = 0; r < rows; r++) {
  let max = 0;
  for (let d = 0; d < DIMS; d++) max = Math.max(max, Math.abs(data[r * width + d]!));
  const scale = max / 127 || 1;
  scales[r] = scale;
  for (let d = 0; d < DIMS; d++) {
    const x = data[r * width + d]!;
    const v = Math.round(x / scale);
    q[r * DIMS + d] = v;
    worst = Math.max(worst, Math.abs(v * scale - x) / (max || 1));
  }
}

const header = Buffer.from(
  JSON.stringify({
    format: 'matrixinfer-static-embedding/1',
    source: 'PyPI wordllama 0.4.0.post1, ' + WEIGHTS,
    wheelSha256: createHash('sha256').update(readFileSync(wheel)).digest('hex'),
    rows,
    dims: DIMS,
    quantisation: 'int8, symmetric, one float32 scale per row',
    pooling: 'mean over tokens (no special tokens), then L2 normalisation',
  }),
);
const len = Buffer.alloc(4);
len.writeUInt32LE(header.length);
mkdirSync(OUT, { recursive: true });
const table = Buffer.concat([len, header, Buffer.from(scales.buffer), Buffer.from(q.buffer)]);
writeFileSync(join(OUT, 'wordllama-l2-128.bin'), table);

const tokenizer = JSON.stringify(JSON.parse(readFileSync(join(tmp, TOKENIZER), 'utf8')));
const gz = gzipSync(tokenizer, { level: 9 });
writeFileSync(join(OUT, 'tokenizer.json.gz'), gz);
rmSync(tmp, { recursive: true, force: true });

console.log(`rows ${rows}, dims ${DIMS} of ${width}, worst rounding ${(worst * 100).toFixed(2)} % of a row's max`);
console.log(`wordllama-l2-128.bin ${(table.length / 1e6).toFixed(2)} MB, tokenizer.json.gz ${(gz.length / 1e6).toFixed(2)} MB`);
