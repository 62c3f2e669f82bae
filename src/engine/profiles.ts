// Named engine profiles: latency parameters and KV-cache size for a model on a GPU, with where each value comes from.
// `--profile NAME` selects one (default llama-3.1-8b-h100); every value can still be overridden by its own flag.
//
// No profile value is a measurement of ours: they are derived from published hardware and model specifications
// (a roofline: bytes moved over memory bandwidth, FLOPs over tensor throughput, at stated efficiencies) and checked
// against published ranges. README.md ("Profiles") gives the arithmetic; `npm run bench -- engine` compares the
// running simulator with the `reference` points below.

import type { LatencyParams } from './latency.ts';

export interface ReferencePoint {
  concurrency: number;
  /** Median time to first token (ms) expected for the reference workload at this concurrency. */
  ttftMs: number;
  /** Median per-request inter-token latency (ms). */
  itlMs: number;
}

export interface EngineProfile {
  name: string;
  description: string;
  /** Default `model` when none is given. */
  model: string;
  latency: Omit<LatencyParams, 'jitter'>;
  numGpuBlocks: number;
  blockSize: number;
  maxModelLen: number;
  /** Public sources the values derive from. */
  sources: string[];
  /** Expected figures for `referenceWorkload`, the calibration targets the bench prints beside its measurements. */
  referenceWorkload: { promptTokens: number; outputTokens: number };
  reference: ReferencePoint[];
  /** How the reference figures were obtained (printed by the bench). */
  referenceBasis: string;
}

const H100 = 'NVIDIA H100 SXM5 80GB datasheet: 3.35 TB/s HBM3, 989 TFLOPS dense BF16, 900 GB/s NVLink';

export const PROFILES: Readonly<Record<string, EngineProfile>> = {
  'llama-3.1-8b-h100': {
    name: 'llama-3.1-8b-h100',
    description: 'Llama-3.1-8B-Instruct, BF16, one H100-80GB SXM, vLLM V1 (chunked prefill, prefix caching)',
    model: 'meta-llama/Llama-3.1-8B-Instruct',
    latency: {
      // One decode step reads the 16.06 GB of weights: 16.06 GB / (3.35 TB/s × 80 %) = 6.0 ms, plus ~1 ms of
      // scheduling, sampling and CUDA-graph launch → 7 ms (≈ 140 tokens/s for one stream).
      interTokenLatencyMs: 7,
      // Per extra sequence: 2 × 8.03 GFLOP / (989 TFLOPS × 50 %) ≈ 0.03 ms of GEMM plus ~0.03 ms of sampling and
      // output processing.
      interTokenLatencyPerSeqMs: 0.06,
      // KV cache per token: 32 layers × 8 KV heads × 128 dims × 2 (K, V) × 2 bytes = 128 KiB; read once per step:
      // 131,072 B / (3.35 TB/s × 80 %) = 4.9e-5 ms.
      interTokenLatencyPerKvTokenMs: 0.00005,
      // Prefill is compute-bound: 2 × 8.03 GFLOP per token at ≈ 55 % of 989 TFLOPS ≈ 33k tokens/s.
      prefillTimePerTokenMs: 0.03,
      // Attention: 4 × 4096 (hidden) × 32 layers FLOPs per token pair at the same efficiency ≈ 1.0e-6 ms.
      prefillAttentionTimeMs: 0.000001,
      // A step that prefills anything costs at least one forward pass plus scheduling: ~12 ms.
      timeToFirstTokenMs: 12,
      // NIXL over a 400 Gb/s RDMA NIC: 128 KiB / 50 GB/s = 2.6 µs per token, plus ~5 ms of handshake (estimate).
      kvTransferLatencyMs: 5,
      kvTransferTimePerTokenMs: 0.0026,
    },
    // vLLM at --gpu-memory-utilization 0.9: 72 GB − 16 GB weights − ~3 GB activations and CUDA graphs ≈ 53 GB of KV
    // cache at 128 KiB per token ≈ 400k tokens = 25,000 blocks of 16.
    numGpuBlocks: 25_000,
    blockSize: 16,
    maxModelLen: 131_072,
    sources: [
      H100,
      'Llama-3.1-8B config.json (model card): 32 layers, hidden 4096, 32 heads, 8 KV heads, 128k context, 8.03B parameters',
      'vLLM defaults: --block-size 16, --gpu-memory-utilization 0.9, --max-num-seqs 256, --max-num-batched-tokens 8192 (V1 chunked prefill)',
      'llm-d-inference-sim docs/latency-profiles.md (8B on H100: ITL 10-15 ms, TTFT 60-120 ms for 256-token prompts, prefill 0.15-0.30 ms/token + 25-40 ms): a more conservative envelope',
    ],
    referenceWorkload: { promptTokens: 1000, outputTokens: 128 },
    reference: [
      { concurrency: 1, ttftMs: 42.5, itlMs: 7.1 },
      { concurrency: 8, ttftMs: 47, itlMs: 9.8 },
      { concurrency: 32, ttftMs: 51, itlMs: 19 },
      { concurrency: 128, ttftMs: 68, itlMs: 57 },
    ],
    referenceBasis:
      'roofline estimate (not a measurement): the H100 and Llama-3.1-8B figures above in a closed-form steady state of ' +
      'N clients sending 1,000-token prompts for 128 tokens each (each client\'s prefill stretches one step of everyone ' +
      'else\'s decode; prefill collisions and queueing ignored)',
  },
  'llama-3.1-70b-h100-tp4': {
    name: 'llama-3.1-70b-h100-tp4',
    description: 'Llama-3.1-70B-Instruct, BF16, four H100-80GB SXM with tensor parallelism 4 (NVLink), vLLM V1',
    model: 'meta-llama/Llama-3.1-70B-Instruct',
    latency: {
      // 141.1 GB of weights / 4 GPUs = 35.3 GB each: 35.3 GB / (3.35 TB/s × 80 %) = 13.2 ms, plus two all-reduces per
      // layer × 80 layers (~2.5 ms) and scheduling (~2 ms) → 18 ms (≈ 55 tokens/s for one stream).
      interTokenLatencyMs: 18,
      // 2 × 70.6 GFLOP per token / (4 × 989 TFLOPS × 50 %) ≈ 0.07 ms plus sampling and output processing.
      interTokenLatencyPerSeqMs: 0.09,
      // 80 layers × 8 KV heads × 128 × 2 × 2 B = 320 KiB per token, spread over 4 GPUs: 327,680 B / (4 × 2.68 TB/s).
      interTokenLatencyPerKvTokenMs: 0.00003,
      // 2 × 70.6 GFLOP per token at ≈ 45 % of 4 × 989 TFLOPS, TP communication included: ≈ 11k tokens/s.
      prefillTimePerTokenMs: 0.09,
      // 4 × 8192 (hidden) × 80 layers FLOPs per token pair on 4 GPUs at the same efficiency ≈ 1.5e-6 ms.
      prefillAttentionTimeMs: 0.0000015,
      timeToFirstTokenMs: 30,
      // 320 KiB per token over four 400 Gb/s NICs (200 GB/s): 1.6 µs per token, plus ~5 ms (estimate).
      kvTransferLatencyMs: 5,
      kvTransferTimePerTokenMs: 0.0016,
    },
    // Per GPU: 72 GB − 35.3 GB weights − ~4 GB ≈ 33 GB; × 4 = 132 GB at 320 KiB per token ≈ 400k tokens.
    numGpuBlocks: 25_000,
    blockSize: 16,
    maxModelLen: 131_072,
    sources: [
      H100,
      'Llama-3.1-70B config.json (model card): 80 layers, hidden 8192, 64 heads, 8 KV heads, 128k context, 70.6B parameters',
      'vLLM defaults as for the 8B profile; --tensor-parallel-size 4 (the setup of vLLM\'s v0.6.0 performance blog for 70B)',
      'llm-d-inference-sim docs/latency-profiles.md (70B on H100 TP8: ITL 18-28 ms)',
    ],
    referenceWorkload: { promptTokens: 1000, outputTokens: 128 },
    reference: [
      { concurrency: 1, ttftMs: 121, itlMs: 18 },
      { concurrency: 8, ttftMs: 131, itlMs: 24.5 },
      { concurrency: 32, ttftMs: 135, itlMs: 47 },
      { concurrency: 128, ttftMs: 153, itlMs: 135 },
    ],
    referenceBasis: 'roofline estimate (not a measurement), computed as for the 8B profile',
  },
};

export const DEFAULT_PROFILE = 'llama-3.1-8b-h100';

export function getProfile(name: string): EngineProfile {
  const p = PROFILES[name];
  if (!p) throw new Error(`unknown profile ${JSON.stringify(name)}; choose one of: ${Object.keys(PROFILES).join(', ')}`);
  return p;
}

/** The default profile's latency parameters, jitter off. */
export const DEFAULT_LATENCY: Readonly<LatencyParams> = Object.freeze({ ...PROFILES[DEFAULT_PROFILE]!.latency, jitter: 0 });
