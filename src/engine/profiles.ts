// Named engine profiles: latency parameters and KV-cache size for a model on a GPU, with where each value comes from.
// `--profile NAME` selects one (default llama-3.1-8b-h100); every value can still be overridden by its own flag.
//
// The latency parameters are either fitted to a published vLLM benchmark (bench/reference/ holds the figures, copied
// as published, and the workload; `npm run bench -- engine` reruns that workload against the simulator and prints
// both side by side with the residuals) or, where the published benchmark does not constrain them, derived from
// hardware and model specifications (a roofline: bytes over memory bandwidth, FLOPs over tensor throughput). Each
// value's comment says which. README.md ("Profiles") gives the sources, the fit and the residual per point.

import type { GpuSpec } from './gpu.ts';
import type { LatencyParams } from './latency.ts';

export interface EngineProfile {
  name: string;
  description: string;
  /** Default `model` when none is given. */
  model: string;
  latency: Omit<LatencyParams, 'jitter'>;
  numGpuBlocks: number;
  blockSize: number;
  maxModelLen: number;
  /** Cold start and wake-up from sleep (README.md "Start-up and sleep mode"); all ESTIMATES from the cited phases. */
  startup: StartupProfile;
  /** The GPUs and their memory, for the DCGM gauges (gpu.ts). */
  gpu: GpuSpec;
  /** Public sources the values derive from: the published benchmark fitted, then the specifications. */
  sources: string[];
}

/**
 * Where a vLLM cold start spends its time, in seconds, in the order vLLM logs the phases. The HTTP server listens
 * only after the last one (connections are refused until then). `wakeFromCpuSeconds` is sleep level 1's wake-up: the
 * weights copied back from pinned host memory and the KV cache reallocated; level 2's wake-up reloads the weights from
 * storage, so it adds `loadWeightsSeconds`. Neither repeats the boot, compilation or CUDA-graph capture: the process,
 * its compiled graphs and its CUDA graphs survive sleep.
 */
export interface StartupProfile {
  /** Process start: Python and torch imports, the engine-core process(es), CUDA context, NCCL for TP > 1. */
  bootSeconds: number;
  /** Weights from a node-local copy (NVMe or page cache) into GPU memory; a download is not included. */
  loadWeightsSeconds: number;
  /** Dynamo bytecode transform and Inductor compilation with an empty torch.compile cache (a fresh pod). */
  compileSeconds: number;
  /** Memory profiling, KV-cache allocation and CUDA-graph capture. */
  cudaGraphSeconds: number;
  /** Sleep level 1 → awake: weights host → GPU over PCIe, KV cache reallocated. */
  wakeFromCpuSeconds: number;
}

/** Seconds from process start to a listening, healthy engine. */
export function coldStartSeconds(s: StartupProfile): number {
  return s.bootSeconds + s.loadWeightsSeconds + s.compileSeconds + s.cudaGraphSeconds;
}

/** As nvidia-smi and DCGM name the H100 SXM5 80GB, and the framebuffer they report for it (MiB). */
const H100_NAME = 'NVIDIA H100 80GB HBM3';
const H100_FB_MIB = 81_559;

const H100 = 'NVIDIA H100 SXM5 80GB datasheet: 3.35 TB/s HBM3, 989 TFLOPS dense BF16, 900 GB/s NVLink';

export const PROFILES: Readonly<Record<string, EngineProfile>> = {
  'llama-3.1-8b-h100': {
    name: 'llama-3.1-8b-h100',
    description: 'Llama-3.1-8B-Instruct, BF16, one H100-80GB SXM, vLLM V1 (chunked prefill, prefix caching)',
    model: 'meta-llama/Llama-3.1-8B-Instruct',
    latency: {
      // FIT to the published single-stream TPOT, 6.48 ms (InferenceBench, vLLM 0.21.0, H100 SXM; bench/reference/
      // llama-3.1-8b-h100.ts); the simulator measures ITL + ~0.05 ms (KV reads, timers). Roofline check: one decode
      // step reads the 16.06 GB of weights, 16.06 GB / 3.35 TB/s = 4.8 ms, so 6.4 ms is 75 % of peak bandwidth.
      interTokenLatencyMs: 6.4,
      // FIT to the published TPOT rise from 1 to 4 concurrent streams: (6.59 − 6.48) / 3 ≈ 0.04 ms per extra sequence.
      // Roofline check: 2 × 8.03 GFLOP / (989 TFLOPS × 50 %) ≈ 0.03 ms of GEMM per sequence.
      interTokenLatencyPerSeqMs: 0.03,
      // ROOFLINE (the published prompts are too short to constrain it): 32 layers × 8 KV heads × 128 dims × 2 (K, V)
      // × 2 bytes = 128 KiB of KV cache per context token, read once per step: 131,072 B / (3.35 TB/s × 80 %).
      interTokenLatencyPerKvTokenMs: 0.00005,
      // ROOFLINE (not constrained: the published prompts are ~50 tokens, most of them prefix-cached): 2 × 8.03 GFLOP
      // per token at ≈ 55 % of 989 TFLOPS ≈ 33k tokens/s.
      prefillTimePerTokenMs: 0.03,
      // ROOFLINE: 4 × 4096 (hidden) × 32 layers FLOPs per token pair at the same efficiency ≈ 1.0e-6 ms.
      prefillAttentionTimeMs: 0.000001,
      // FIT (least squares on relative error) to the published p50 TTFT at 1 and 4 concurrent streams, 13.98 and
      // 22.75 ms, less our ~2–4 ms of HTTP/template/timer overhead and the prefill of the uncached prompt tokens.
      timeToFirstTokenMs: 12,
      // ESTIMATE (no published P/D figure): NIXL over a 400 Gb/s RDMA NIC, 128 KiB / 50 GB/s = 2.6 µs per token,
      // plus ~5 ms of handshake.
      kvTransferLatencyMs: 5,
      kvTransferTimePerTokenMs: 0.0026,
    },
    // vLLM at --gpu-memory-utilization 0.9: 72 GB − 16 GB weights − ~3 GB activations and CUDA graphs ≈ 53 GB of KV
    // cache at 128 KiB per token ≈ 400k tokens = 25,000 blocks of 16.
    numGpuBlocks: 25_000,
    blockSize: 16,
    maxModelLen: 131_072,
    // ESTIMATE, 62 s in all, from phases published for vLLM on H100 (README.md "Start-up and sleep mode"):
    startup: {
      // llm-d's GPU-free-overprovisioning proposal: a 16–20 s warm boot before the GPU phase (Qwen3-32B, 1x H100).
      bootSeconds: 18,
      // 16.06 GB at the ≈ 10 GiB/s that proposal measured (storage-bound) ≈ 1.5 s; rounded up.
      loadWeightsSeconds: 2,
      // kubernetes-sigs/gateway-api-inference-extension#550: "torch.compile takes 28.77 s in total" (7B-class, H100).
      compileSeconds: 29,
      // vllm-project/vllm#20264 "Graph capturing finished in 17 secs"; the proposal's 11.4 s: ≈ 13 s with profiling.
      cudaGraphSeconds: 13,
      // 16.06 GB over PCIe Gen5 x16 (≈ 50 GB/s pinned) ≈ 0.3 s plus KV reallocation; vLLM's sleep-mode blog measures
      // level-1 wake-ups of 0.1–6 s across models, the proposal 1.45 s for 61 GiB.
      wakeFromCpuSeconds: 0.5,
    },
    gpu: {
      name: H100_NAME,
      count: 1,
      memoryMiB: H100_FB_MIB,
      // 8.03B parameters × 2 bytes (BF16), as above.
      weightsBytes: 16.06e9,
      // 32 layers × 8 KV heads × 128 dims × 2 (K, V) × 2 bytes, as above.
      kvBytesPerToken: 131_072,
      // ~3 GB of activations and CUDA graphs, as in the KV sizing above; with the weights and 25,000 blocks: 68,177 MiB
      // (0.84 of the framebuffer; vLLM's 0.9 budget counts a few GB of peak activations freed after profiling).
      overheadBytes: 3e9,
    },
    sources: [
      'InferenceBench, "Recipe: concurrency sweep" (yobitelcomm.github.io/bench/recipes/concurrency-sweep/, 2026-05-16): ' +
        'Llama-3.1-8B-Instruct, 1x H100 80GB HBM3, vLLM 0.21.0, closed loop at 1/4/16/64 concurrent, short chat prompts, max_tokens 128',
      H100,
      'Llama-3.1-8B config.json (model card): 32 layers, hidden 4096, 32 heads, 8 KV heads, 128k context, 8.03B parameters',
      'vLLM defaults: --block-size 16, --gpu-memory-utilization 0.9, --max-num-seqs 256, --max-num-batched-tokens 8192 (V1 chunked prefill)',
    ],
  },
  'llama-3.1-70b-h100-tp4': {
    name: 'llama-3.1-70b-h100-tp4',
    description: 'Llama-3.1-70B-Instruct, BF16, four H100-80GB SXM with tensor parallelism 4 (NVLink), vLLM',
    model: 'meta-llama/Llama-3.1-70B-Instruct',
    latency: {
      // FIT with the next value to the published median TPOT at 4 and 8 req/s, 23.58 and 29.15 ms (SGLang's vLLM 0.6.0
      // benchmark, 4x H100, ShareGPT; bench/reference/llama-3.1-70b-h100-tp4.ts). Two loaded points fix the sum more
      // than the split: 20 ms at one stream is above the roofline, 141.1 GB / 4 GPUs = 35.3 GB per GPU / 3.35 TB/s =
      // 10.5 ms plus two all-reduces per layer × 80 layers (~2–4 ms).
      interTokenLatencyMs: 20,
      // FIT (see above).
      interTokenLatencyPerSeqMs: 0.08,
      // ROOFLINE: 80 layers × 8 KV heads × 128 × 2 × 2 B = 320 KiB per token, spread over 4 GPUs (4 × 2.68 TB/s).
      interTokenLatencyPerKvTokenMs: 0.00003,
      // ROOFLINE: 2 × 70.6 GFLOP per token at ≈ 45 % of 4 × 989 TFLOPS, TP communication included: ≈ 11k tokens/s.
      prefillTimePerTokenMs: 0.09,
      // ROOFLINE: 4 × 8192 (hidden) × 80 layers FLOPs per token pair on 4 GPUs at the same efficiency ≈ 1.5e-6 ms.
      prefillAttentionTimeMs: 0.0000015,
      // ESTIMATE, not fitted: the published TTFT (179 / 207 ms) is dominated by vLLM 0.6.0's multi-step scheduling,
      // which the simulator does not model (README.md). Set to one decode step, so a prefill stretches the running
      // decodes by about its own compute (prefill-time-per-token × prompt) rather than by a fixed extra pass.
      timeToFirstTokenMs: 20,
      // ESTIMATE: 320 KiB per token over four 400 Gb/s NICs (200 GB/s): 1.6 µs per token, plus ~5 ms.
      kvTransferLatencyMs: 5,
      kvTransferTimePerTokenMs: 0.0016,
    },
    // Per GPU: 72 GB − 35.3 GB weights − ~4 GB ≈ 33 GB; × 4 = 132 GB at 320 KiB per token ≈ 400k tokens.
    numGpuBlocks: 25_000,
    blockSize: 16,
    maxModelLen: 131_072,
    // ESTIMATE, 185 s in all (README.md "Start-up and sleep mode"):
    startup: {
      // The 8B boot plus four worker processes and NCCL initialisation (~7 s, estimated).
      bootSeconds: 25,
      // vllm-project/vllm#19824: Llama-70B-FP8 on TP=8, "~10s to load weights from hot page cache"; BF16 is twice the
      // bytes (141 GB), read at ≈ 10 GiB/s: ≈ 15 s.
      loadWeightsSeconds: 15,
      // vllm-project/vllm#19824: "~15s to convert dynamo bytecode", "~70s to run torch.compile".
      compileSeconds: 85,
      // vllm-project/vllm#19824: "~60s to capture the cudagraphs".
      cudaGraphSeconds: 60,
      // 35.3 GB per GPU over each GPU's own PCIe link in parallel ≈ 0.7 s, plus KV reallocation and the TP barrier.
      wakeFromCpuSeconds: 1.5,
    },
    gpu: {
      name: H100_NAME,
      count: 4,
      memoryMiB: H100_FB_MIB,
      // 70.6B parameters × 2 bytes (BF16), a quarter per GPU.
      weightsBytes: 141.1e9,
      // 80 layers × 8 KV heads × 128 dims × 2 (K, V) × 2 bytes, a quarter per GPU.
      kvBytesPerToken: 327_680,
      // ~4 GB per GPU, as in the KV sizing above: 68,706 MiB per GPU in all.
      overheadBytes: 4e9,
    },
    sources: [
      'SGLang, "How to reproduce the benchmark results for SGLang v0.3.0 compared to vLLM v0.6.0" ' +
        '(github.com/sgl-project/sglang/blob/main/benchmark/benchmark_vllm_060/README.md, Sept 2024): vLLM rows, ' +
        'Llama-3.1-70B-Instruct, 4x H100 80G, --num-scheduler-steps 10, ShareGPT, Poisson 4 and 8 req/s',
      H100,
      'Llama-3.1-70B config.json (model card): 80 layers, hidden 8192, 64 heads, 8 KV heads, 128k context, 70.6B parameters',
      'vLLM defaults as for the 8B profile; --tensor-parallel-size 4',
    ],
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
