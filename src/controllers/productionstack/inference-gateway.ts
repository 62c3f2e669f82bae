// InferenceGateway status, pure. The gateway's profile is programmed by the InferenceService controller on each listed
// InferenceService's route (inference-service.ts); this reads back, per route, whether that happened:
//  - the InferenceService exists and serves the route's model (else the entry cannot apply);
//  - its status names this gateway and its route is programmed (else an older gateway listing it holds it, or its
//    controller has not got there yet).
// Accepted: the spec compiles to a profile (admission refused anything else). Programmed: every listed route carries it.
import {
  routeStrategyOf,
  schedulingPolicyOf,
  type GatewayRouteStatus,
  type InferenceGateway,
  type InferenceGatewayStatus,
  type InferenceService,
} from '../../api/kinds/index.ts';
import { findCondition, nowTime, setConditions, type ConditionInput } from '../../kube/objects.ts';
import { chooseGateway } from './inference-service.ts';
import { describeScheduling, gatewayScheduling } from './scheduling.ts';

export function gatewayRouteStatus(gateway: InferenceGateway, route: { model: string; inferenceServiceRef: string }, isvcs: readonly InferenceService[], gateways: readonly InferenceGateway[]): GatewayRouteStatus {
  const base = { model: route.model, inferenceService: route.inferenceServiceRef };
  const isvc = isvcs.find((s) => s.metadata.name === route.inferenceServiceRef);
  if (!isvc) return { ...base, programmed: false, message: `InferenceService ${route.inferenceServiceRef} not found` };
  if (isvc.spec.modelName !== route.model) {
    return { ...base, programmed: false, message: `InferenceService ${route.inferenceServiceRef} serves ${isvc.spec.modelName}, not ${route.model}` };
  }
  const holder = chooseGateway(isvc, gateways);
  if (holder && holder.metadata.name !== gateway.metadata.name) {
    return { ...base, programmed: false, message: `InferenceGateway ${holder.metadata.name} (older) lists it too; its profile applies` };
  }
  const routeName = isvc.status?.modelRoute;
  const programmed = findCondition(isvc.status?.conditions, 'Programmed');
  const current = isvc.status?.observedGeneration === isvc.metadata.generation;
  if (isvc.status?.inferenceGateway !== gateway.metadata.name || programmed?.status !== 'True' || !routeName || !current) {
    return { ...base, programmed: false, message: programmed?.status === 'False' ? `not programmed: ${programmed.message}` : 'waiting for the InferenceService to program its route' };
  }
  return { ...base, modelRoute: routeName, readyBackends: isvc.status?.readyBackends ?? 0, programmed: true };
}

export function computeInferenceGatewayStatus(gateway: InferenceGateway, isvcs: readonly InferenceService[], gateways: readonly InferenceGateway[], now: string = nowTime()): InferenceGatewayStatus {
  const generation = gateway.metadata.generation;
  const spec = gateway.spec;
  const strategy = spec.routeStrategy === undefined ? undefined : routeStrategyOf(spec.routeStrategy);
  const policy = spec.schedulingPolicy === undefined ? undefined : schedulingPolicyOf(spec.schedulingPolicy);
  const profile = describeScheduling(gatewayScheduling(spec));
  const accepted: ConditionInput = {
    type: 'Accepted',
    status: 'True',
    reason: 'Accepted',
    message: `routeStrategy ${strategy ?? '(none)'}, schedulingPolicy ${policy ?? 'default'}${spec.sessionAffinity ? ', session affinity' : ''}: ${profile}`,
  };
  const routes = (spec.routes ?? []).map((r) => gatewayRouteStatus(gateway, r, isvcs, gateways));
  const pending = routes.filter((r) => !r.programmed);
  let programmed: ConditionInput;
  if (routes.length === 0) programmed = { type: 'Programmed', status: 'False', reason: 'NoRoutes', message: 'no routes listed' };
  else if (pending.length === 0) programmed = { type: 'Programmed', status: 'True', reason: 'Programmed', message: `${routes.length} route${routes.length === 1 ? '' : 's'} carry the profile` };
  else {
    programmed = {
      type: 'Programmed',
      status: 'False',
      reason: pending.length === routes.length ? 'NotProgrammed' : 'PartiallyProgrammed',
      message: pending.map((r) => `${r.model}: ${r.message}`).join('; '),
    };
  }
  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions: setConditions(gateway.status?.conditions, [accepted, programmed], now, generation),
    profile,
    routes,
  };
}
