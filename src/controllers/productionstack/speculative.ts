// SpeculativeDecoding → engine arguments of the target's ModelInfer, pure. Speculative decoding runs inside the target
// engine (no draft pod):
//   vLLM    --speculative-config '{"method":M,"model":DRAFT,"num_speculative_tokens":N[,"draft_tensor_parallel_size":T]
//           [,"prompt_lookup_max":P]}', M = draft_model | ngram | eagle | eagle3 | mlp_speculator | mtp
//   SGLang  --speculative-algorithm STANDALONE|NGRAM|EAGLE|EAGLE3|NEXTN [--speculative-draft-model-path DRAFT]
//           --speculative-num-steps N --speculative-eagle-topk 1 --speculative-num-draft-tokens N+1 (NGRAM: the last
//           only); SGLang has no MLP speculator
// DRAFT is the source of the Model named draftModel in the same namespace (as the engine loads it: a Hugging Face id
// for hf:// URIs), else draftModel as written. The arguments go to the engine container of every role but prefill
// (a prefill pod emits one token; speculation is a decode-side technique). A Model whose runtime.args already configure
// speculative decoding is left alone (its author chose), and the status says so.
import type { InferenceEngine, Model, ModelInfer, SpeculativeDecodingSpec } from '../../api/kinds/index.ts';
import { DEFAULT_NUM_SPECULATIVE_TOKENS } from '../../api/kinds/index.ts';
import { ENGINE_CONTAINER, modelPath } from '../model/desired.ts';
import { PREFILL_ROLE } from './disaggregation.ts';

const VLLM_METHOD = { draft: 'draft_model', ngram: 'ngram', eagle: 'eagle', eagle3: 'eagle3', mlp: 'mlp_speculator', mtp: 'mtp' } as const;
const SGLANG_ALGORITHM = { draft: 'STANDALONE', ngram: 'NGRAM', eagle: 'EAGLE', eagle3: 'EAGLE3', mtp: 'NEXTN', mlp: undefined } as const;

/** Flags that configure speculative decoding, in either engine (and vLLM's older spellings). */
const SPECULATIVE_FLAGS = ['--speculative-config', '--speculative_config', '--speculative-model', '--num-speculative-tokens', '--speculative-algorithm', '--speculative-draft-model-path'];

/** What the draft is loaded from: the source of the Model of that name, else the name as written. */
export function draftPath(draftModel: string, models: readonly Model[]): string {
  const model = models.find((m) => m.metadata.name === draftModel);
  return model ? modelPath(model.spec.modelSpec.source.uri) : draftModel;
}

export type SpeculativePlan = { args: string[] } | { problem: { reason: string; message: string } };

export function speculativeArgs(spec: SpeculativeDecodingSpec, engine: InferenceEngine, draft: string | undefined): SpeculativePlan {
  const type = spec.speculationType ?? 'draft';
  const n = spec.numSpeculativeTokens ?? DEFAULT_NUM_SPECULATIVE_TOKENS;
  if (engine === 'SGLang') {
    const algorithm = SGLANG_ALGORITHM[type];
    if (!algorithm) return { problem: { reason: 'Unsupported', message: `SGLang has no ${type} speculation` } };
    if (algorithm === 'NGRAM') return { args: ['--speculative-algorithm', 'NGRAM', '--speculative-num-draft-tokens', String(n)] };
    return {
      args: [
        '--speculative-algorithm', algorithm,
        ...(draft && type !== 'mtp' ? ['--speculative-draft-model-path', draft] : []),
        '--speculative-num-steps', String(n), '--speculative-eagle-topk', '1', '--speculative-num-draft-tokens', String(n + 1),
      ],
    };
  }
  const config: Record<string, unknown> = { method: VLLM_METHOD[type] };
  if (draft && type !== 'ngram' && type !== 'mtp') config.model = draft;
  config.num_speculative_tokens = n;
  if (spec.draftTensorParallelSize !== undefined) config.draft_tensor_parallel_size = spec.draftTensorParallelSize;
  if (spec.promptLookupMax !== undefined) config.prompt_lookup_max = spec.promptLookupMax;
  return { args: ['--speculative-config', JSON.stringify(config)] };
}

/** Whether the user's runtime arguments already configure speculative decoding. */
export function configuresSpeculation(args: readonly string[] | undefined): boolean {
  return (args ?? []).some((a) => SPECULATIVE_FLAGS.some((f) => a === f || a.startsWith(`${f}=`)));
}

type Container = { name?: string; args?: string[] };

function engineContainers(spec: unknown): Container[] {
  const containers = ((spec ?? {}) as { containers?: Container[] }).containers ?? [];
  const named = containers.filter((c) => c.name === ENGINE_CONTAINER);
  return named.length > 0 ? named : containers.slice(0, 1);
}

/** The ModelInfer with `args` appended to the engine container of every role but prefill. */
export function withEngineArgs(mi: ModelInfer, args: readonly string[]): ModelInfer {
  const roles = mi.spec.roles.map((role) => {
    if (role.name === PREFILL_ROLE) return role;
    const spec = structuredClone(role.template.spec) as { containers?: Container[] };
    for (const container of engineContainers(spec)) container.args = [...(container.args ?? []), ...args];
    return { ...role, template: { ...role.template, spec } };
  });
  return { ...mi, spec: { ...mi.spec, roles } };
}

/** Whether every role but prefill runs its engine with `args` (in sequence). */
export function carriesArgs(mi: ModelInfer | undefined, args: readonly string[]): boolean {
  if (!mi) return false;
  const roles = (mi.spec.roles ?? []).filter((r) => r.name !== PREFILL_ROLE);
  return roles.length > 0 && roles.every((role) => engineContainers(role.template?.spec).every((c) => containsSequence(c.args ?? [], args)));
}

function containsSequence(list: readonly string[], seq: readonly string[]): boolean {
  for (let i = 0; i + seq.length <= list.length; i++) if (seq.every((s, j) => list[i + j] === s)) return true;
  return false;
}
