// The `onnx` embedder: a sentence-embedding model file from a mounted volume (an ONNX export of a BERT-style
// encoder, e.g. all-MiniLM-L6-v2 or bge-small), run on CPU by onnxruntime-node, tokenised with the tokenizer.json
// next to it (or `tokenizerPath`) by @huggingface/tokenizers, pooled (mean over the attention mask, or CLS) and
// L2-normalised.
//
//   OnnxModel     one per model file (path, size and mtime): a worker thread (onnx-worker.ts) holding the
//                 InferenceSession, started when a route names the file, kept across routing-table rebuilds.
//   OnnxEmbedder  one per route setting (tokenizer, pooling, output, maxTokens, timeout) over a shared model.
//
// Rules:
// - onnxruntime-node is an optional dependency, imported (in the worker) only when a route asks for `onnx`;
//   `onnxRuntimeMissing` tells, without loading it, when it is not installed, and the route is then exact-only.
// - Nothing of it runs on the event loop: loading, tokenising and inference are the worker's; here a text is
//   posted and its vector awaited, bounded by `timeoutMs` (default 2 s, the wait for the model's first load
//   included) and by MAX_PENDING texts waiting per model: past either the lookup is a miss, never a stalled request.
// - The id names the vector space by content: the model file's sha256 and a hash of the tokenizer file, the pooling,
//   the output and the token bound, so gateway replicas sharing a Redis store agree, and a replaced model file
//   never meets the old one's vectors. It is known once the model and tokenizer are loaded, before any vector.
// - A model that fails to load (or a tokenizer that does not parse, or an output that is not there) is reported
//   once through `onFailed`; the caller then compiles the route exact-only (caches.ts).
import { Worker } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type { Embedder } from './embedder.ts';
import type { OnnxWorkerData, Pooling, WorkerReply, WorkerRequest } from './onnx-worker.ts';

export type { Pooling } from './onnx-worker.ts';

export const ONNX_RUNTIME = 'onnxruntime-node';
export const DEFAULT_ONNX_MAX_TOKENS = 256;
export const DEFAULT_ONNX_TIMEOUT_MS = 2000;
/** Texts waiting for one model (all routes using it) before more are refused. */
const MAX_PENDING = 256;

/** Why the ONNX runtime cannot be imported here, or undefined when it can (module resolution only). */
export function onnxRuntimeMissing(runtime: string = ONNX_RUNTIME): string | undefined {
  try {
    import.meta.resolve(runtime);
    return undefined;
  } catch {
    return `${runtime} is not installed (an optional dependency of the gateway: npm ci installs it on platforms it has binaries for)`;
  }
}

export interface OnnxModelInfo {
  sha256: string;
  inputs: string[];
  outputs: string[];
  /** Output name → its last dimension, where the model declares it. */
  dims: Record<string, number>;
}

export interface OnnxModelOptions {
  runtime?: string;
  /** onnxruntime's intra-op threads (default 1: the gateway's CPU is for relaying). */
  threads?: number;
  onFailed?: (err: Error) => void;
}

interface Pending {
  resolve: (v: Float32Array) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (err: Error) => void } {
  let resolve!: (v: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

export class OnnxModel {
  readonly path: string;
  /** Set once the session is up. */
  info: OnnxModelInfo | undefined;
  /** Set when the model could not be loaded or its worker died. */
  failure: Error | undefined;
  readonly #ready = deferred<OnnxModelInfo>();
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  readonly #tokenizers = new Map<string, ReturnType<typeof deferred<string>>>();
  readonly #onFailed: ((err: Error) => void) | undefined;
  #next = 1;
  #closed = false;

  constructor(path: string, options: OnnxModelOptions = {}) {
    this.path = path;
    this.#onFailed = options.onFailed;
    const workerData: OnnxWorkerData = { modelPath: path, runtime: options.runtime ?? ONNX_RUNTIME, threads: options.threads ?? 1, onnxEmbedder: true };
    this.#worker = new Worker(new URL('./onnx-worker.ts', import.meta.url), { workerData, name: `onnx-embedder ${basename(path)}` });
    this.#worker.unref();
    this.#worker.on('message', (msg: WorkerReply) => this.#receive(msg));
    this.#worker.on('error', (err) => this.#fail(err));
    this.#worker.on('exit', (code) => {
      if (!this.#closed) this.#fail(new Error(`the onnx embedder's worker exited (code ${code})`));
    });
  }

  /** Resolves with the model's inputs, outputs and checksum once loaded; rejects if it cannot be. */
  get ready(): Promise<OnnxModelInfo> {
    return this.#ready.promise;
  }

  /** Loads a tokenizer in the worker; resolves with its file's sha256. */
  tokenizer(path: string): Promise<string> {
    let t = this.#tokenizers.get(path);
    if (t === undefined) {
      t = deferred<string>();
      this.#tokenizers.set(path, t);
      if (this.failure) t.reject(this.failure);
      else if (this.#closed) t.reject(new Error('onnx embedder closed'));
      else this.#post({ type: 'tokenizer', path });
    }
    return t.promise;
  }

  embed(text: string, options: { tokenizerPath: string; pooling: Pooling; outputName: string | undefined; maxTokens: number }, timeoutMs: number): Promise<Float32Array> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.#closed) return Promise.reject(new Error('onnx embedder closed'));
    if (this.#pending.size >= MAX_PENDING) return Promise.reject(new Error(`onnx embedder busy: ${MAX_PENDING} texts waiting`));
    const id = this.#next++;
    return new Promise<Float32Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`onnx embedder took longer than ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#post({ type: 'embed', id, text, ...options });
    });
  }

  /** Ends the worker (and the session's memory with it). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#rejectAll(new Error('onnx embedder closed'));
    await this.#worker.terminate();
  }

  #post(msg: WorkerRequest): void {
    this.#worker.postMessage(msg);
  }

  #receive(msg: WorkerReply): void {
    switch (msg.type) {
      case 'ready':
        this.info = { sha256: msg.sha256, inputs: msg.inputs, outputs: msg.outputs, dims: msg.dims };
        this.#ready.resolve(this.info);
        return;
      case 'failed':
        this.#fail(new Error(msg.message));
        return;
      case 'tokenizer': {
        const t = this.#tokenizers.get(msg.path);
        if (msg.sha256 !== undefined) t?.resolve(msg.sha256);
        else t?.reject(new Error(msg.error ?? `tokenizer ${msg.path} failed`));
        return;
      }
      case 'result':
      case 'error': {
        const p = this.#pending.get(msg.id);
        if (p === undefined) return; // timed out already
        this.#pending.delete(msg.id);
        clearTimeout(p.timer);
        if (msg.type === 'result') p.resolve(msg.vector);
        else p.reject(new Error(msg.message));
        return;
      }
    }
  }

  #fail(err: Error): void {
    if (this.failure !== undefined || this.#closed) return;
    this.failure = err;
    this.#ready.reject(err);
    this.#rejectAll(err);
    this.#closed = true;
    void this.#worker.terminate();
    this.#onFailed?.(err);
  }

  #rejectAll(err: Error): void {
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.#pending.clear();
    for (const t of this.#tokenizers.values()) t.reject(err);
  }
}

export interface OnnxEmbedderOptions {
  tokenizerPath: string;
  pooling?: Pooling;
  outputName?: string;
  maxTokens?: number;
  timeoutMs?: number;
  /** Told once when this setting cannot work (the model, its tokenizer or the output named). */
  onFailed?: (err: Error) => void;
}

export class OnnxEmbedder implements Embedder {
  /** Set when the model, the tokenizer or the output named cannot be used. */
  failure: Error | undefined;
  readonly model: OnnxModel;
  #id: string;
  #dims = 0;
  readonly #ready: Promise<void>;
  readonly #settings: { tokenizerPath: string; pooling: Pooling; outputName: string | undefined; maxTokens: number };
  readonly #timeoutMs: number;

  constructor(model: OnnxModel, options: OnnxEmbedderOptions) {
    this.model = model;
    this.#settings = {
      tokenizerPath: options.tokenizerPath,
      pooling: options.pooling ?? 'mean',
      outputName: options.outputName,
      maxTokens: options.maxTokens ?? DEFAULT_ONNX_MAX_TOKENS,
    };
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_ONNX_TIMEOUT_MS;
    this.#id = `onnx:${basename(model.path)}:loading`;
    this.#ready = Promise.all([model.ready, model.tokenizer(options.tokenizerPath)]).then(([info, tokenizerSha]) => {
      const output = this.#settings.outputName ?? info.outputs[0]!;
      if (!info.outputs.includes(output)) throw new Error(`model ${model.path} has no output ${output} (outputs: ${info.outputs.join(', ')})`);
      this.#dims = info.dims[output] ?? 0;
      const settings = createHash('sha256')
        .update(JSON.stringify([tokenizerSha, this.#settings.pooling, output, this.#settings.maxTokens]))
        .digest('hex')
        .slice(0, 12);
      this.#id = `onnx:${basename(model.path)}@${info.sha256.slice(0, 16)}:${settings}`;
    });
    this.#ready.catch((err: Error) => {
      if (this.failure !== undefined) return;
      this.failure = err;
      // The model's own failure is reported by the model; the rest (tokenizer, output) here.
      if (err !== model.failure) options.onFailed?.(err);
    });
  }

  /** The vector space: provisional (`…:loading`) until the model and tokenizer are loaded, before any vector. */
  get id(): string {
    return this.#id;
  }

  /** The model's output width (0 until known). */
  get dims(): number {
    return this.#dims;
  }

  /** Resolves once the model and tokenizer are loaded; rejects with why they cannot be. */
  get ready(): Promise<void> {
    return this.#ready;
  }

  async embed(text: string): Promise<Float32Array> {
    const start = Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.#ready,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`onnx model ${this.model.path} not loaded within ${this.#timeoutMs} ms`)), this.#timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    const v = await this.model.embed(text, this.#settings, Math.max(1, this.#timeoutMs - (Date.now() - start)));
    if (this.#dims === 0) this.#dims = v.length;
    return v;
  }
}
