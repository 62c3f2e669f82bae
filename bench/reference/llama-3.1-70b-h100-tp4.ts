// Published vLLM figures for Llama-3.1-70B-Instruct on four H100s with tensor parallelism 4, the calibration targets
// of the `llama-3.1-70b-h100-tp4` engine profile. Numbers are copied as published; see src/engine/README.md.

import type { Reference } from './types.ts';

export const LLAMA_3_1_70B_H100_TP4: Reference = {
  profile: 'llama-3.1-70b-h100-tp4',
  source: {
    title: 'SGLang, "How to reproduce the benchmark results for SGLang v0.3.0 compared to vLLM v0.6.0" (vLLM rows)',
    url: 'https://github.com/sgl-project/sglang/blob/main/benchmark/benchmark_vllm_060/README.md',
    publisher: 'SGLang team (sgl-project)',
    date: 'September 2024 (written for the vLLM v0.6.0 release of 2024-09-05)',
    model: 'meta-llama/Llama-3.1-70B-Instruct, BF16',
    hardware: '4x NVIDIA H100 80GB',
    engine: 'vLLM 0.6.0 (V0 engine) with --num-scheduler-steps 10 --tensor 4 --max_model_len 4096 --disable-log-requests',
    setup:
      'client: python -m sglang.bench_serving --backend vllm --dataset-name sharegpt, Poisson arrivals at 4 req/s (1200 ' +
      'prompts) and 8 req/s (2400 prompts); ShareGPT prompts and output lengths. Metrics are medians over requests.',
  },
  workload: {
    kind: 'poisson',
    api: 'completions',
    // ShareGPT lengths vary; the source gives none. The vLLM v0.6.0 performance blog (blog.vllm.ai/2024/09/05/
    // perf-update.html), whose benchmark this one counters, reports 202 input / 179 output tokens on average for its
    // ShareGPT sample: we send every request with those two lengths.
    promptTokens: 202,
    outputTokens: 179,
    rates: [4, 8],
    sourceRequests: [1200, 2400],
  },
  deviations: [
    'fixed 202-token prompts and 179-token outputs (mean ShareGPT lengths per the vLLM v0.6.0 blog) instead of ShareGPT\'s spread',
    '120 and 240 requests instead of 1200 and 2400; the first tenth of each run (ramp-up) is not counted',
  ],
  points: [
    {
      level: 4,
      ttftP50Ms: 179.15,
      tpotP50Ms: 23.58,
      medianE2eMs: 2915.6,
      fitTtft: false,
      fitTpot: true,
      why: 'TTFT: --num-scheduler-steps 10 admits new requests only every 10 decode steps (~230 ms); the simulator schedules every step',
    },
    {
      level: 8,
      ttftP50Ms: 207.12,
      tpotP50Ms: 29.15,
      medianE2eMs: 3752.38,
      fitTtft: false,
      fitTpot: true,
      why: 'TTFT: multi-step scheduling, as at 4 req/s',
    },
  ],
};
