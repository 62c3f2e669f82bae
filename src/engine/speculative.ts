// Speculative decoding in the simulated engine: vLLM's `--speculative-config '{"method":…,"model":…,
// "num_speculative_tokens":k}'` and SGLang's `--speculative-algorithm … --speculative-num-steps …`.
//
// Each decode step, a drafter proposes k tokens per decoding sequence and the target verifies them with the sequence's
// next token in one forward pass. Proposals are accepted left to right, each with probability `acceptanceRate` (α),
// up to the first rejection; the step emits the accepted ones plus the target's own next token, so 1..k+1 tokens, on
// average (1 − α^(k+1)) / (1 − α) (Leviathan et al., 2023). What the step costs (latency.ts):
//   - the target verifies k more tokens per sequence: k × interTokenLatencyPerSeqMs each (decode is memory-bound:
//     the weights and the sequence's KV cache are read once for all k+1 positions);
//   - the drafter runs k steps before it: k × draftStepMs, draftStepMs = draftCost × interTokenLatencyMs. draftCost:
//     the draft's stated size over the target's when both names state one (llama3-1b for llama3-8b: 0.125; at least
//     0.05), else by method: a draft model 0.3, EAGLE/EAGLE-3/MTP heads 0.05 (one decoder layer), MLP speculator 0.03,
//     n-gram and suffix lookups 0 (CPU, overlapped).
// Default α by method (what vLLM's and SGLang's published runs report for chat traffic, roughly): draft_model 0.7,
// eagle 0.7, eagle3 0.8, mtp 0.8, mlp_speculator 0.6, ngram 0.3, suffix 0.3; `--speculative-acceptance-rate` and
// `--speculative-draft-cost` override both. The gain therefore shrinks as the batch grows (verification work scales
// with the batch, the weights are read once either way), as it does on GPUs.
// Metrics (vLLM V1's names): vllm:spec_decode_num_drafts_total, vllm:spec_decode_num_draft_tokens_total,
// vllm:spec_decode_num_accepted_tokens_total, vllm:spec_decode_num_accepted_tokens_per_pos_total{position}.
import { statedParameters } from '../api/kinds/productionstack/speculativedecoding.ts';

export interface SpeculativeConfig {
  /** vLLM's method name (draft_model, ngram, eagle, eagle3, mtp, mlp_speculator, suffix). */
  method: string;
  /** The draft model, when the method loads one. */
  model?: string;
  /** k: tokens proposed per step. */
  numSpeculativeTokens: number;
  /** α: probability that a proposed token is accepted, given the ones before it were. */
  acceptanceRate: number;
  /** One draft step's duration as a fraction of the target's interTokenLatencyMs. */
  draftCost: number;
}

export const DEFAULT_ACCEPTANCE_RATE: Readonly<Record<string, number>> = {
  draft_model: 0.7,
  eagle: 0.7,
  eagle3: 0.8,
  mtp: 0.8,
  mlp_speculator: 0.6,
  ngram: 0.3,
  suffix: 0.3,
};

const DEFAULT_DRAFT_COST: Readonly<Record<string, number>> = {
  draft_model: 0.3,
  eagle: 0.05,
  eagle3: 0.05,
  mtp: 0.05,
  mlp_speculator: 0.03,
  ngram: 0,
  suffix: 0,
};

const SGLANG_METHOD: Readonly<Record<string, string>> = { STANDALONE: 'draft_model', EAGLE: 'eagle', EAGLE3: 'eagle3', NEXTN: 'mtp', NGRAM: 'ngram' };

export interface SpeculativeFlags {
  /** --speculative-config (vLLM), parsed JSON. */
  config?: Record<string, unknown>;
  /** SGLang: --speculative-algorithm, --speculative-num-steps, --speculative-num-draft-tokens, --speculative-draft-model-path. */
  algorithm?: string;
  numSteps?: number;
  numDraftTokens?: number;
  draftModelPath?: string;
  acceptanceRate?: number;
  draftCost?: number;
}

/** The speculative configuration the flags give, undefined when they give none; throws on one that cannot work. */
export function speculativeConfigOf(flags: SpeculativeFlags, targetModel: string): SpeculativeConfig | undefined {
  let method: string;
  let model: string | undefined;
  let k: number;
  if (flags.config) {
    const c = flags.config;
    model = typeof c.model === 'string' ? c.model : undefined;
    method = typeof c.method === 'string' ? c.method : model ? 'draft_model' : 'ngram';
    k = Number(c.num_speculative_tokens);
    if (!Number.isInteger(k) || k < 1) throw new Error('--speculative-config needs num_speculative_tokens, a whole number ≥ 1');
  } else if (flags.algorithm) {
    method = SGLANG_METHOD[flags.algorithm.toUpperCase()] ?? flags.algorithm.toLowerCase();
    model = flags.draftModelPath;
    k = flags.numDraftTokens !== undefined ? flags.numDraftTokens - 1 : (flags.numSteps ?? 3);
    if (!(k >= 1)) throw new Error('--speculative-num-draft-tokens must be at least 2 (or --speculative-num-steps at least 1)');
  } else {
    return undefined;
  }
  const acceptanceRate = flags.acceptanceRate ?? DEFAULT_ACCEPTANCE_RATE[method] ?? 0.6;
  if (!(acceptanceRate >= 0 && acceptanceRate < 1)) throw new Error('--speculative-acceptance-rate must be in [0, 1)');
  const stated = model ? ratio(statedParameters(model), statedParameters(targetModel)) : undefined;
  const draftCost = flags.draftCost ?? (method === 'draft_model' && stated !== undefined ? Math.max(0.05, stated) : (DEFAULT_DRAFT_COST[method] ?? 0.1));
  return { method, ...(model ? { model } : {}), numSpeculativeTokens: k, acceptanceRate, draftCost };
}

function ratio(draft: number | undefined, target: number | undefined): number | undefined {
  return draft !== undefined && target !== undefined && target > 0 ? Math.min(1, draft / target) : undefined;
}

/** Proposals accepted (0..k): each with probability α while the ones before it were. */
export function acceptedTokens(k: number, alpha: number, random: () => number): number {
  let a = 0;
  while (a < k && random() < alpha) a++;
  return a;
}

/** Tokens a step emits on average: (1 − α^(k+1)) / (1 − α). */
export function expectedTokensPerStep(k: number, alpha: number): number {
  return alpha === 1 ? k + 1 : (1 - alpha ** (k + 1)) / (1 - alpha);
}
