// The resources the controllers read and write.
import {
  modelKind,
  modelInferKind,
  modelServerKind,
  modelRouteKind,
  autoscalingPolicyKind,
  autoscalingPolicyBindingKind,
} from '../api/kinds/index.ts';
import { resourceOf } from '../kube/client.ts';

export { PODS, SERVICES } from '../kube/client.ts';
export const MODELS = resourceOf(modelKind);
export const MODEL_INFERS = resourceOf(modelInferKind);
export const MODEL_SERVERS = resourceOf(modelServerKind);
export const MODEL_ROUTES = resourceOf(modelRouteKind);
export const AUTOSCALING_POLICIES = resourceOf(autoscalingPolicyKind);
export const AUTOSCALING_POLICY_BINDINGS = resourceOf(autoscalingPolicyBindingKind);
