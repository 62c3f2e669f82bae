// The resources the controllers read and write.
import {
  modelKind,
  modelInferKind,
  modelServerKind,
  modelRouteKind,
  autoscalingPolicyKind,
  autoscalingPolicyBindingKind,
  inferenceServiceKind,
  inferenceGatewayKind,
  inferenceCacheKind,
  speculativeDecodingKind,
  prefillDecodingDisaggregationKind,
  staticRouteKind,
} from '../api/kinds/index.ts';
import { resourceOf } from '../kube/client.ts';

export { PODS, SERVICES } from '../kube/client.ts';
export const MODELS = resourceOf(modelKind);
export const MODEL_INFERS = resourceOf(modelInferKind);
export const MODEL_SERVERS = resourceOf(modelServerKind);
export const MODEL_ROUTES = resourceOf(modelRouteKind);
export const AUTOSCALING_POLICIES = resourceOf(autoscalingPolicyKind);
export const AUTOSCALING_POLICY_BINDINGS = resourceOf(autoscalingPolicyBindingKind);

// production-stack.vllm.ai (seed 004): controllers/productionstack/.
export { CONFIG_MAPS } from '../kube/client.ts';
export const INFERENCE_SERVICES = resourceOf(inferenceServiceKind);
export const INFERENCE_GATEWAYS = resourceOf(inferenceGatewayKind);
export const INFERENCE_CACHES = resourceOf(inferenceCacheKind);
export const SPECULATIVE_DECODINGS = resourceOf(speculativeDecodingKind);
export const PD_DISAGGREGATIONS = resourceOf(prefillDecodingDisaggregationKind);
export const STATIC_ROUTES = resourceOf(staticRouteKind);
