// The default embedder: WordLlama's static token embeddings (l2_supercat, Llama-2 BPE vocabulary, first 128 of
// 256 Matryoshka dimensions, int8 with a per-row scale), read from assets/embedder/ as built by
// scripts/build-embedder.ts. A text's vector is the mean of its tokens' rows, L2-normalised, as wordllama's own
// `embed` computes it. Tokenisation: @huggingface/tokenizers over the shipped tokenizer.json (no special tokens).
//
// Rules: loaded once per process (4.2 MB of table; with the tokenizer's maps about 45 MB resident) and shared; texts
// longer than MAX_CHARS are embedded from their head and tail, which bounds the cost per request (about 25 µs per
// 60 characters). Texts are lower-cased first: the table has separate rows for "How" and "how", and casing changes
// nothing a cached answer depends on (on the labelled pairs it lifted near-duplicates from 80 to 100 % served at
// 0.85 with no new false hit). Static embeddings see words, not word order or negation: that is what the guard
// (cache/guard.ts) is for.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { resolve } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { normalise, type Embedder } from './embedder.ts';

const ASSETS = resolve(import.meta.dirname, '..', '..', '..', '..', 'assets', 'embedder');
const MAX_CHARS = 8192;

interface Table {
  rows: number;
  dims: number;
  scales: Float32Array;
  weights: Int8Array;
}

function readTable(path: string): Table {
  const buf = readFileSync(path);
  const headerLen = buf.readUInt32LE(0);
  const header = JSON.parse(buf.subarray(4, 4 + headerLen).toString('utf8')) as { format: string; rows: number; dims: number };
  if (header.format !== 'matrixinfer-static-embedding/1') throw new Error(`${path}: unknown format ${header.format}`);
  const { rows, dims } = header;
  // Copies, so the typed arrays are aligned whatever the header length.
  const start = 4 + headerLen;
  const scales = new Float32Array(rows);
  Buffer.from(scales.buffer).set(buf.subarray(start, start + 4 * rows));
  const weights = new Int8Array(rows * dims);
  Buffer.from(weights.buffer).set(buf.subarray(start + 4 * rows, start + 4 * rows + rows * dims));
  return { rows, dims, scales, weights };
}

export class StaticEmbedder implements Embedder {
  readonly id: string;
  readonly dims: number;
  readonly #table: Table;
  readonly #tokenizer: Tokenizer;

  constructor(dir = ASSETS) {
    this.#table = readTable(resolve(dir, 'wordllama-l2-128.bin'));
    this.#tokenizer = new Tokenizer(JSON.parse(gunzipSync(readFileSync(resolve(dir, 'tokenizer.json.gz'))).toString('utf8')), {});
    this.dims = this.#table.dims;
    this.id = `static:wordllama-l2:${this.dims}`;
  }

  /** Synchronous form (the static table needs no I/O). */
  embedSync(text: string): Float32Array {
    const input = (text.length > MAX_CHARS ? text.slice(0, MAX_CHARS / 2) + ' ' + text.slice(-MAX_CHARS / 2) : text).toLowerCase();
    const ids = this.#tokenizer.encode(input, { add_special_tokens: false }).ids;
    const { dims, rows, scales, weights } = this.#table;
    const out = new Float32Array(dims);
    for (const id of ids) {
      if (id < 0 || id >= rows) continue;
      const scale = scales[id]!;
      const base = id * dims;
      for (let d = 0; d < dims; d++) out[d]! += weights[base + d]! * scale;
    }
    // The mean's divisor does not change the direction; normalising is enough.
    return normalise(out);
  }

  embed(text: string): Promise<Float32Array> {
    return Promise.resolve(this.embedSync(text));
  }
}

let shared: StaticEmbedder | undefined;

/** The process-wide static embedder, loaded on first use. */
export function staticEmbedder(): StaticEmbedder {
  return (shared ??= new StaticEmbedder());
}

/**
 * The static embedder as routes name it: the table and tokenizer (about 45 MB of resident memory, measured) load on the
 * first question embedded, so a gateway whose routes use only the exact tier never loads them.
 */
export const LAZY_STATIC: Embedder = {
  id: 'static:wordllama-l2:128',
  dims: 128,
  embed: (text) => staticEmbedder().embed(text),
};
