// The six kinds of production-stack.vllm.ai/v1alpha1 (seed 004), in install order.
import type { KindDefinition } from '../../kind.ts';
import { inferenceServiceKind } from './inferenceservice.ts';
import { inferenceGatewayKind } from './inferencegateway.ts';
import { inferenceCacheKind } from './inferencecache.ts';
import { speculativeDecodingKind } from './speculativedecoding.ts';
import { prefillDecodingDisaggregationKind } from './prefilldecodingdisaggregation.ts';
import { staticRouteKind } from './staticroute.ts';

export const PRODUCTION_STACK_KINDS: readonly KindDefinition[] = [
  inferenceServiceKind,
  inferenceGatewayKind,
  inferenceCacheKind,
  speculativeDecodingKind,
  prefillDecodingDisaggregationKind,
  staticRouteKind,
];

export * from './common.ts';
export * from './inferenceservice.ts';
export * from './inferencegateway.ts';
export * from './inferencecache.ts';
export * from './speculativedecoding.ts';
export * from './prefilldecodingdisaggregation.ts';
export * from './staticroute.ts';
