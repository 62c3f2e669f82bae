// Defaults of a ModelRoute's `spec.cache`, shared by the schema's descriptions, the compiler and the bench.
// The semantic threshold is the cosine similarity of the shipped static embedder chosen with `npm run bench --
// cache` on the labelled pairs (bench/data/cache-pairs.tsv); another embedder needs its own.
export const DEFAULT_SEMANTIC_THRESHOLD = 0.85;
export const DEFAULT_TTL = '10m';
export const DEFAULT_MAX_ENTRIES = 10_000;
export const DEFAULT_MAX_TEMPERATURE = 1;
export const DEFAULT_KEY_PREFIX = 'matrixinfer:cache:';
