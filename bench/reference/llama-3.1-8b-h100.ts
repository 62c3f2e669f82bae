// Published vLLM figures for Llama-3.1-8B-Instruct on one H100, the calibration targets of the
// `llama-3.1-8b-h100` engine profile. Numbers are copied as published; see src/engine/README.md ("Profiles").

import type { Reference } from './types.ts';

export const LLAMA_3_1_8B_H100: Reference = {
  profile: 'llama-3.1-8b-h100',
  source: {
    title: 'InferenceBench docs, "Recipe: concurrency sweep"',
    url: 'https://yobitelcomm.github.io/bench/recipes/concurrency-sweep/',
    mirror: 'https://github.com/yobitelcomm/bench/blob/main/docs/recipes/concurrency-sweep.md',
    publisher: 'Yobitel (InferenceBench project)',
    date: '2026-05-16 (measurement date stated in the recipe)',
    model: 'meta-llama/Llama-3.1-8B-Instruct, 16-bit weights ("--quant fp16" in the recipe)',
    hardware: '1x NVIDIA H100 80GB HBM3 (SXM)',
    engine: 'vLLM 0.21.0, OpenAI-compatible server, default scheduling',
    setup:
      'suite llm.inference.chatbot-short 1.0.0: closed loop, 120 s per level, 3 warm-up requests discarded; prompts from ' +
      'the plugin\'s built-in set of 10 one-sentence questions sent round robin as one user message each; max_tokens 128, ' +
      'streaming, no ignore_eos; client: LiteLLM\'s OpenAI adapter (Python). Metrics are per-request p50s.',
  },
  workload: {
    kind: 'closed-loop',
    api: 'chat',
    promptSet: { kind: 'short-chat', distinct: 10 },
    maxTokens: 128,
    sourceIgnoreEos: false,
    concurrency: [1, 4, 16, 64],
    sourceDurationS: 120,
  },
  deviations: [
    'our 10 questions are our own, of the same kind and length (one sentence, about 50 prompt tokens with the Llama-3.1 chat template)',
    'ignore_eos is set so every request produces 128 tokens; the source stopped at EOS or 128 (TPOT is per token, so this mainly affects throughput)',
    'a few requests per client instead of 120 s per level; each client\'s first request is not counted',
  ],
  points: [
    { level: 1, ttftP50Ms: 13.98, ttftP99Ms: 14.95, tpotP50Ms: 6.48, throughputTokS: 122.2, fitTtft: true, fitTpot: true },
    { level: 4, ttftP50Ms: 22.75, ttftP99Ms: 32.18, tpotP50Ms: 6.59, throughputTokS: 580.3, fitTtft: true, fitTpot: true },
    {
      level: 16,
      ttftP50Ms: 41.69,
      ttftP99Ms: 64.71,
      tpotP50Ms: 10.94,
      throughputTokS: 1384.2,
      fitTtft: false,
      fitTpot: false,
      why: 'on the measured system\'s ~1.35k tokens/s ceiling (throughput 1384 at 16, 1312 at 64)',
    },
    {
      level: 64,
      ttftP50Ms: 86.92,
      ttftP99Ms: 464.7,
      tpotP50Ms: 46.91,
      throughputTokS: 1312.3,
      fitTtft: false,
      fitTpot: false,
      why: 'on the same ceiling: 64 streams share ~1.3k tokens/s, so TPOT ~ 64 / 1312 s',
    },
  ],
};
