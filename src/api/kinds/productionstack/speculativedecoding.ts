// production-stack.vllm.ai/v1alpha1 SpeculativeDecoding: speculative decoding inside the engines of `targetModel`
// (the model name clients request, resolved through its routes to the ModelInfers serving it). No draft pod: the
// engine of the target runs the draft, as vLLM does (`--speculative-config '{"method":…,"model":…,
// "num_speculative_tokens":N}'`) and SGLang (`--speculative-algorithm … --speculative-draft-model-path …`). The
// Model controller adds the arguments to the ModelInfer it generates; the ModelInfer rolls like any template change.
import { Type, Obj, StringEnum, type Static } from '../../schema-kit.ts';
import { AGE_COLUMN, type KindDefinition } from '../../kind.ts';
import type { KubeObject } from '../../admission.ts';
import { PRODUCTION_STACK_CATEGORIES, PRODUCTION_STACK_GROUP, PRODUCTION_STACK_VERSION, conditionColumn, statusBase } from './common.ts';

export const SPECULATION_TYPES = ['draft', 'ngram', 'eagle', 'eagle3', 'mlp', 'mtp'] as const;
export type SpeculationType = (typeof SPECULATION_TYPES)[number];
export const DEFAULT_NUM_SPECULATIVE_TOKENS = 5;

export const SpeculativeDecodingSpec = Obj({
  draftModel: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'The draft (or EAGLE/MLP head): a Model in the same namespace (its source is loaded) or a model id/path as the engine takes it. Required except for ngram and mtp.',
    }),
  ),
  targetModel: Type.String({ minLength: 1, description: 'Model name (as clients request it) whose engines speculate.' }),
  speculationType: Type.Optional(
    StringEnum(SPECULATION_TYPES, {
      default: 'draft',
      description: "draft: a smaller model of the same family; ngram: prompt lookup, no model; eagle, eagle3, mlp: a trained head; mtp: the model's own multi-token prediction layers.",
    }),
  ),
  numSpeculativeTokens: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 32, format: 'int32', description: `Tokens proposed per step (default ${DEFAULT_NUM_SPECULATIVE_TOKENS}).` }),
  ),
  draftTensorParallelSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 64, format: 'int32', description: 'vLLM: GPUs the draft model is split over (default: as the target).' })),
  promptLookupMax: Type.Optional(Type.Integer({ minimum: 1, maximum: 16, format: 'int32', description: 'ngram: longest n-gram matched in the prompt.' })),
});
export type SpeculativeDecodingSpec = Static<typeof SpeculativeDecodingSpec>;

export const WorkloadStatus = Obj({
  modelInfer: Type.String({ description: 'The ModelInfer whose template carries the configuration.' }),
  model: Type.Optional(Type.String({ description: 'The Model that generates it.' })),
  engine: Type.Optional(Type.String()),
  applied: Type.Boolean({ description: "Whether the ModelInfer's template carries it." }),
  replicas: Type.Optional(Type.Integer({ format: 'int32' })),
  updatedReplicas: Type.Optional(Type.Integer({ format: 'int32', description: 'Replicas running the template with it.' })),
  readyReplicas: Type.Optional(Type.Integer({ format: 'int32' })),
  message: Type.Optional(Type.String()),
});
export type WorkloadStatus = Static<typeof WorkloadStatus>;

export const SpeculativeDecodingStatus = Obj({
  ...statusBase,
  engineArgs: Type.Optional(Type.Array(Type.String(), { description: 'The engine arguments added (vLLM form).' })),
  workloads: Type.Optional(Type.Array(WorkloadStatus)),
});
export type SpeculativeDecodingStatus = Static<typeof SpeculativeDecodingStatus>;

export interface SpeculativeDecoding extends KubeObject {
  spec: SpeculativeDecodingSpec;
  status?: SpeculativeDecodingStatus;
}

export const speculativeDecodingKind: KindDefinition = {
  group: PRODUCTION_STACK_GROUP,
  version: PRODUCTION_STACK_VERSION,
  kind: 'SpeculativeDecoding',
  plural: 'speculativedecodings',
  singular: 'speculativedecoding',
  shortNames: ['psspec'],
  categories: PRODUCTION_STACK_CATEGORIES,
  scope: 'Namespaced',
  description: "Speculative decoding in the target model's engines (vLLM --speculative-config, SGLang --speculative-*), rolled out like any template change.",
  spec: SpeculativeDecodingSpec,
  status: SpeculativeDecodingStatus,
  printerColumns: [
    { name: 'Draft', type: 'string', jsonPath: '.spec.draftModel' },
    { name: 'Target', type: 'string', jsonPath: '.spec.targetModel' },
    conditionColumn('Applied'),
    conditionColumn('Ready'),
    { name: 'Type', type: 'string', jsonPath: '.spec.speculationType', priority: 1 },
    AGE_COLUMN,
  ],
};

/**
 * The parameter count a model name states (`llama3-70b` → 70e9, `opt-125m` → 125e6, `Llama-3.1-8B-Instruct` → 8e9),
 * undefined when it states none. The last such figure in the name counts (`Qwen2.5-7B` → 7e9).
 */
export function statedParameters(name: string): number | undefined {
  const matches = [...name.matchAll(/(?:^|[^a-zA-Z0-9.])(\d+(?:\.\d+)?)([bBmMkK])(?![a-zA-Z0-9])/g)];
  const last = matches[matches.length - 1];
  if (!last) return undefined;
  const unit = last[2]!.toLowerCase();
  return Number(last[1]) * (unit === 'b' ? 1e9 : unit === 'm' ? 1e6 : 1e3);
}

/** Whether the type needs a draft model (or head) to load. */
export function needsDraftModel(type: SpeculationType | undefined): boolean {
  return type !== 'ngram' && type !== 'mtp';
}
