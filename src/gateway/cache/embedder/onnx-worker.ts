// The worker thread behind the `onnx` embedder (onnx.ts): owns one onnxruntime-node InferenceSession (CPU) for one
// model file, the tokenizers routes name for it, and runs every embedding, so model loading, tokenising and
// inference never block the gateway's event loop (onnxruntime-node's `run` is synchronous on the calling thread).
//
// Protocol (messages; the model path and the runtime's module name come in workerData):
//   → {type: 'tokenizer', path}                    ← {type: 'tokenizer', path, sha256} | {…, error}
//   → {type: 'embed', id, text, tokenizerPath, pooling, outputName, maxTokens}
//                                                  ← {type: 'result', id, vector} | {type: 'error', id, message}
//   ← {type: 'ready', sha256, inputs, outputs, dims} once the session is up, or {type: 'failed', message}
//
// Rules: the runtime is imported here, dynamically, so a gateway whose routes never name an onnx model never loads
// it. Inputs fed by name: input_ids (required), attention_mask, token_type_ids (zeros when the tokenizer gives
// none), as int64 or int32 per the model; any other input fails the load with its name. Texts waiting together
// are run as one padded batch (at most MAX_BATCH, same tokenizer and output), which is what the attention mask is
// for; a model whose batch dimension is fixed to 1 runs them one by one. A rank-3 output ([batch, tokens, dims])
// is pooled (mean over the attention mask, or the first token: `cls`); a rank-2 one is taken as pooled already.
// Vectors are L2-normalised. A text is cut to `maxTokens` tokens (trailing special tokens kept, e.g. [SEP]); a
// text with no token is the zero vector (it matches nothing), as with the static embedder.
import { parentPort, workerData } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';

export interface OnnxWorkerData {
  modelPath: string;
  /** Module name of the runtime, `onnxruntime-node` (tests name a missing one). */
  runtime: string;
  /** onnxruntime's intra-op threads. */
  threads: number;
  /** Marks the worker's data, so that importing this module for its types starts nothing. */
  onnxEmbedder: true;
}

export type Pooling = 'mean' | 'cls';

export type WorkerRequest =
  | { type: 'tokenizer'; path: string }
  | { type: 'embed'; id: number; text: string; tokenizerPath: string; pooling: Pooling; outputName: string | undefined; maxTokens: number };

export type WorkerReply =
  | { type: 'ready'; sha256: string; inputs: string[]; outputs: string[]; dims: Record<string, number> }
  | { type: 'failed'; message: string }
  | { type: 'tokenizer'; path: string; sha256?: string; error?: string }
  | { type: 'result'; id: number; vector: Float32Array }
  | { type: 'error'; id: number; message: string };

/** The parts of onnxruntime-node's API used here (typed locally: the package is optional). */
interface OrtTensor {
  readonly type: string;
  readonly data: unknown;
  readonly dims: readonly number[];
}
interface OrtValueMetadata {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: ReadonlyArray<number | string>;
}
interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata?: readonly OrtValueMetadata[];
  readonly outputMetadata?: readonly OrtValueMetadata[];
  run(feeds: Record<string, OrtTensor>, fetches: string[]): Promise<Record<string, OrtTensor>>;
}
interface OrtModule {
  InferenceSession: { create(path: string, options: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: 'int64' | 'int32', data: BigInt64Array | Int32Array, dims: number[]) => OrtTensor;
}

const KNOWN_INPUTS = ['input_ids', 'attention_mask', 'token_type_ids'] as const;
/** Texts run in one batch at most. */
const MAX_BATCH = 32;
/** Characters read of a text per allowed token: a bound on the tokeniser's work before the token cut. */
const CHARS_PER_TOKEN = 16;

interface Loaded {
  ort: OrtModule;
  session: OrtSession;
  /** Per input the tensor type it takes. */
  inputs: Map<string, 'int64' | 'int32'>;
  batchable: boolean;
}

interface LoadedTokenizer {
  tokenizer: Tokenizer;
  special: Set<number>;
  padId: number;
}

type EmbedRequest = Extract<WorkerRequest, { type: 'embed' }>;

export function hashFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', reject);
  });
}

function loadTokenizer(path: string): LoadedTokenizer & { sha256: string } {
  const text = readFileSync(path);
  const json = JSON.parse(text.toString('utf8')) as {
    added_tokens?: Array<{ id: number; special?: boolean }>;
    padding?: { pad_id?: number } | null;
  };
  const tokenizer = new Tokenizer(json, {});
  const special = new Set((json.added_tokens ?? []).filter((t) => t.special).map((t) => t.id));
  const padId = json.padding?.pad_id ?? tokenizer.token_to_id('[PAD]') ?? tokenizer.token_to_id('<pad>') ?? 0;
  return { tokenizer, special, padId, sha256: createHash('sha256').update(text).digest('hex') };
}

function inputType(meta: OrtValueMetadata | undefined): 'int64' | 'int32' {
  return meta?.type === 'int32' ? 'int32' : 'int64';
}

async function loadModel(data: OnnxWorkerData): Promise<{ loaded: Loaded; reply: WorkerReply }> {
  const [sha256, mod] = await Promise.all([hashFile(data.modelPath), import(data.runtime) as Promise<OrtModule & { default?: OrtModule }>]);
  const ort = typeof mod.InferenceSession?.create === 'function' ? mod : mod.default!;
  const session = await ort.InferenceSession.create(data.modelPath, {
    executionProviders: ['cpu'],
    intraOpNumThreads: data.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const unknown = session.inputNames.filter((n) => !(KNOWN_INPUTS as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`model input ${unknown.join(', ')} is not one the embedder feeds (${KNOWN_INPUTS.join(', ')})`);
  if (!session.inputNames.includes('input_ids')) throw new Error(`model has no input_ids input (inputs: ${session.inputNames.join(', ')})`);
  const meta = new Map((session.inputMetadata ?? []).map((m) => [m.name, m]));
  const inputs = new Map(session.inputNames.map((n) => [n, inputType(meta.get(n))]));
  const batchDim = meta.get('input_ids')?.shape?.[0];
  const dims: Record<string, number> = {};
  for (const m of session.outputMetadata ?? []) {
    const last = m.shape?.[m.shape.length - 1];
    if (typeof last === 'number' && last > 0) dims[m.name] = last;
  }
  return {
    loaded: { ort, session, inputs, batchable: batchDim !== 1 },
    reply: { type: 'ready', sha256, inputs: [...session.inputNames], outputs: [...session.outputNames], dims },
  };
}

/** Token ids, mask and types of one text, cut to `maxTokens` with the trailing special tokens kept. */
function encode(t: LoadedTokenizer, text: string, maxTokens: number): { ids: number[]; mask: number[]; types: number[] } {
  const input = text.length > maxTokens * CHARS_PER_TOKEN ? text.slice(0, maxTokens * CHARS_PER_TOKEN) : text;
  const enc = t.tokenizer.encode(input, { return_token_type_ids: true });
  let { ids } = enc;
  let mask = enc.attention_mask;
  let types = enc.token_type_ids ?? ids.map(() => 0);
  if (ids.length > maxTokens) {
    let tail = 0;
    while (tail < ids.length && tail < maxTokens - 1 && t.special.has(ids[ids.length - 1 - tail]!)) tail++;
    const cut = (xs: number[]): number[] => [...xs.slice(0, maxTokens - tail), ...xs.slice(xs.length - tail)];
    ids = cut(ids);
    mask = cut(mask);
    types = cut(types);
  }
  return { ids, mask, types };
}

function normalise(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  if (sum > 0) {
    const inv = 1 / Math.sqrt(sum);
    for (let i = 0; i < v.length; i++) v[i]! *= inv;
  }
  return v;
}

/** Runs one batch (same tokenizer and output) and returns a vector or an error message per request. */
async function runBatch(m: Loaded, t: LoadedTokenizer, batch: EmbedRequest[]): Promise<Array<Float32Array | string>> {
  const outputName = batch[0]!.outputName ?? m.session.outputNames[0]!;
  if (!m.session.outputNames.includes(outputName)) {
    return batch.map(() => `model has no output ${outputName} (outputs: ${m.session.outputNames.join(', ')})`);
  }
  // A text with no token still takes a row (one masked pad token), so its zero vector has the model's width.
  const encoded = batch.map((r) => {
    const e = encode(t, r.text, r.maxTokens);
    return e.ids.length > 0 ? { ...e, empty: false } : { ids: [t.padId], mask: [0], types: [0], empty: true };
  });
  const rows = encoded.length;
  const len = Math.max(...encoded.map((e) => e.ids.length));
  const feeds: Record<string, OrtTensor> = {};
  const tensor = (name: string, pick: (e: (typeof encoded)[number]) => number[], pad: number): void => {
    const type = m.inputs.get(name);
    if (type === undefined) return;
    const data = type === 'int64' ? new BigInt64Array(rows * len) : new Int32Array(rows * len);
    encoded.forEach((e, r) => {
      const xs = pick(e);
      for (let j = 0; j < len; j++) {
        const x = j < xs.length ? xs[j]! : pad;
        if (data instanceof BigInt64Array) data[r * len + j] = BigInt(x);
        else data[r * len + j] = x;
      }
    });
    feeds[name] = new m.ort.Tensor(type, data, [rows, len]);
  };
  tensor('input_ids', (e) => e.ids, t.padId);
  tensor('attention_mask', (e) => e.mask, 0);
  tensor('token_type_ids', (e) => e.types, 0);
  const out = (await m.session.run(feeds, [outputName]))[outputName]!;
  if (out.type !== 'float32') return batch.map(() => `output ${outputName} is ${out.type}, not float32`);
  const rank = out.dims.length;
  const [b, s, h] = rank === 3 ? (out.dims as [number, number, number]) : [out.dims[0]!, 1, out.dims[1]!];
  if ((rank !== 2 && rank !== 3) || b !== rows || (rank === 3 && s !== len)) {
    return batch.map(() => `output ${outputName} has shape [${out.dims.join(', ')}], expected [batch, tokens, dims] or [batch, dims]`);
  }
  const data = out.data as Float32Array;
  return encoded.map((e, r) => {
    const v = new Float32Array(h);
    if (e.empty) return v;
    if (rank === 2 || batch[r]!.pooling === 'cls') {
      v.set(data.subarray(r * s * h, r * s * h + h));
    } else {
      let count = 0;
      for (let j = 0; j < e.ids.length; j++) {
        if (e.mask[j] === 0) continue;
        count++;
        const base = (r * s + j) * h;
        for (let d = 0; d < h; d++) v[d]! += data[base + d]!;
      }
      if (count > 0) for (let d = 0; d < h; d++) v[d]! /= count;
    }
    return normalise(v);
  });
}

function serve(): void {
  const port = parentPort!;
  const data = workerData as OnnxWorkerData;
  const tokenizers = new Map<string, (LoadedTokenizer & { sha256: string }) | Error>();
  const queue: EmbedRequest[] = [];
  let loaded: Loaded | undefined;
  let draining = false;

  const tokenizer = (path: string): LoadedTokenizer & { sha256: string } => {
    let t = tokenizers.get(path);
    if (t === undefined) {
      try {
        t = loadTokenizer(path);
      } catch (err) {
        t = new Error(`tokenizer ${path}: ${(err as Error).message}`);
      }
      tokenizers.set(path, t);
    }
    if (t instanceof Error) throw t;
    return t;
  };

  const drain = async (): Promise<void> => {
    while (loaded !== undefined && queue.length > 0) {
      const first = queue[0]!;
      const batch: EmbedRequest[] = [];
      for (let i = 0; i < queue.length && batch.length < (loaded.batchable ? MAX_BATCH : 1); ) {
        const r = queue[i]!;
        if (r.tokenizerPath === first.tokenizerPath && r.outputName === first.outputName) {
          batch.push(r);
          queue.splice(i, 1);
        } else i++;
      }
      let results: Array<Float32Array | string>;
      try {
        results = await runBatch(loaded, tokenizer(first.tokenizerPath), batch);
      } catch (err) {
        results = batch.map(() => (err as Error).message);
      }
      batch.forEach((r, i) => {
        const x = results[i]!;
        if (typeof x === 'string') port.postMessage({ type: 'error', id: r.id, message: x } satisfies WorkerReply);
        else port.postMessage({ type: 'result', id: r.id, vector: x } satisfies WorkerReply, [x.buffer as ArrayBuffer]);
      });
    }
    draining = false;
  };
  const schedule = (): void => {
    if (draining || loaded === undefined) return;
    draining = true;
    // After the messages already delivered, so that texts sent together are run together.
    setImmediate(() => void drain());
  };

  port.on('message', (msg: WorkerRequest) => {
    if (msg.type === 'tokenizer') {
      try {
        port.postMessage({ type: 'tokenizer', path: msg.path, sha256: tokenizer(msg.path).sha256 } satisfies WorkerReply);
      } catch (err) {
        port.postMessage({ type: 'tokenizer', path: msg.path, error: (err as Error).message } satisfies WorkerReply);
      }
      return;
    }
    queue.push(msg);
    schedule();
  });

  loadModel(data).then(
    (r) => {
      loaded = r.loaded;
      port.postMessage(r.reply);
      schedule();
    },
    (err: unknown) => port.postMessage({ type: 'failed', message: (err as Error)?.message ?? String(err) } satisfies WorkerReply),
  );
}

if (parentPort !== null && (workerData as { onnxEmbedder?: boolean } | null)?.onnxEmbedder === true) serve();
