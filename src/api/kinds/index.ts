// Every kind MatrixInfer defines, in install order.
import type { KindDefinition } from '../kind.ts';
import { modelKind } from './model.ts';
import { modelInferKind } from './modelinfer.ts';
import { modelServerKind } from './modelserver.ts';
import { modelRouteKind } from './modelroute.ts';
import { autoscalingPolicyKind, autoscalingPolicyBindingKind } from './autoscaling.ts';

export const ALL_KINDS: readonly KindDefinition[] = [
  modelKind,
  autoscalingPolicyKind,
  autoscalingPolicyBindingKind,
  modelInferKind,
  modelServerKind,
  modelRouteKind,
];

export * from './model.ts';
export * from './modelinfer.ts';
export * from './modelserver.ts';
export * from './modelroute.ts';
export * from './autoscaling.ts';
export * from './autoscaling-behavior.ts';
