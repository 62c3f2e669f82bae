// An embedder that calls an OpenAI-compatible `POST {url}` (`/v1/embeddings`) with `{model, input}` and reads
// `data[0].embedding`. For clusters that already serve an embedding model (TEI, vLLM `--task embed`).
//
// Rules: a bounded wait (`timeoutMs`, default 2 s) so a slow embedder turns into a cache miss, never a stalled
// request; the vector is normalised here whatever the server does; the id carries the URL and model, so entries
// made through one endpoint are never compared with vectors of another.
import { normalise, type Embedder } from './embedder.ts';

export interface RemoteEmbedderOptions {
  url: string;
  model: string;
  dims?: number;
  apiKey?: string;
  timeoutMs?: number;
}

export class RemoteEmbedder implements Embedder {
  readonly id: string;
  dims: number;
  readonly #options: RemoteEmbedderOptions;

  constructor(options: RemoteEmbedderOptions) {
    this.#options = options;
    this.dims = options.dims ?? 0;
    this.id = `remote:${options.url}#${options.model}`;
  }

  async embed(text: string): Promise<Float32Array> {
    const { url, model, apiKey, timeoutMs = 2000 } = this.#options;
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
      body: JSON.stringify({ model, input: text }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw new Error(`embeddings endpoint answered ${res.status}`);
    const body = (await res.json()) as { data?: Array<{ embedding?: unknown }> };
    const embedding = body.data?.[0]?.embedding;
    if (!Array.isArray(embedding) || embedding.length === 0 || !embedding.every((x) => typeof x === 'number')) {
      throw new Error('embeddings endpoint returned no numeric data[0].embedding');
    }
    if (this.dims !== 0 && embedding.length !== this.dims) throw new Error(`embedding has ${embedding.length} dims, expected ${this.dims}`);
    this.dims = embedding.length;
    return normalise(Float32Array.from(embedding as number[]));
  }
}
