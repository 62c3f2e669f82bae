// The semantic cache's embedder: text → unit vector. One interface, three providers chosen per route:
//   static  (default) WordLlama's token table shipped in assets/embedder (scripts/build-embedder.ts), run in process
//           in microseconds, no download at run time;
//   remote  an OpenAI-compatible `POST /v1/embeddings` endpoint (e.g. a TEI or vLLM embedding server in the cluster);
//   onnx    a sentence-embedding model file from a volume, run by onnxruntime-node (an optional dependency) in a
//           worker thread (onnx.ts).
//
// Rules: vectors are L2-normalised, so cosine similarity is a dot product; `id` names the model and its dimensions,
// and entries embedded by one id are never compared with vectors of another (the stores partition by it). An id may
// change only before the provider's first vector (the onnx provider's is known once its model is loaded).

export interface Embedder {
  /** Identifies the vector space (provider, model, dimensions): part of every semantic partition. */
  readonly id: string;
  readonly dims: number;
  embed(text: string): Promise<Float32Array>;
}

/** Scales `v` in place to unit length (a zero vector stays zero: it then matches nothing). */
export function normalise(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  if (sum > 0) {
    const inv = 1 / Math.sqrt(sum);
    for (let i = 0; i < v.length; i++) v[i]! *= inv;
  }
  return v;
}

/** Dot product of two vectors of the same length (cosine similarity for unit vectors). */
export function dot(a: Float32Array, b: Float32Array, bOffset = 0): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[bOffset + i]!;
  return s;
}
