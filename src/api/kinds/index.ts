// Every kind MatrixInfer defines, in install order.
import type { KindDefinition } from '../kind.ts';
import { modelKind } from './model.ts';
import { modelInferKind } from './modelinfer.ts';
import { modelServerKind } from './modelserver.ts';
import { modelRouteKind } from './modelroute.ts';
import { autoscalingPolicyKind, autoscalingPolicyBindingKind } from './autoscaling.ts';
import { PRODUCTION_STACK_KINDS } from './productionstack/index.ts';

export const ALL_KINDS: readonly KindDefinition[] = [
  modelKind,
  autoscalingPolicyKind,
  autoscalingPolicyBindingKind,
  modelInferKind,
  modelServerKind,
  modelRouteKind,
  // production-stack.vllm.ai (seed 004): each reduces to the kinds above.
  ...PRODUCTION_STACK_KINDS,
];

export * from './model.ts';
export * from './modelinfer.ts';
export * from './modelserver.ts';
export * from './modelroute.ts';
export * from './autoscaling.ts';
export * from './autoscaling-behavior.ts';
export * from './productionstack/index.ts';
