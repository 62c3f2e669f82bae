// Admission rules of the production-stack.vllm.ai kinds (seed 004) that their CRD schemas cannot express. Only what
// is knowable from the object itself is refused here, with the field path: malformed names and URLs, unknown
// strategies (with the list of valid ones), list lengths that do not match, a draft model no smaller than its target.
// References to other objects are resolved by the controllers and reported as conditions (an object may be created
// before what it names). plugins.ts wraps these validators; the embedded API server and the webhook server run them.
import type { FieldError } from '../api/admission.ts';
import {
  ROUTE_STRATEGIES,
  SCHEDULING_POLICIES,
  backendUrlProblem,
  needsDraftModel,
  routeStrategyOf,
  schedulingPolicyOf,
  splitList,
  statedParameters,
  type InferenceCache,
  type InferenceGateway,
  type InferenceService,
  type PrefillDecodingDisaggregation,
  type SpeculativeDecoding,
  type StaticRoute,
} from '../api/kinds/index.ts';

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const LABEL_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

/** A reference to an object by name must be a name an object can have. */
function checkObjectName(errors: FieldError[], field: string, value: string | undefined): void {
  if (value === undefined) return;
  if (value.length > 253 || !DNS_SUBDOMAIN.test(value)) {
    errors.push({ field, type: 'Invalid value', value, detail: 'must be the name of an object: lower-case letters, digits, "-" and ".", starting and ending with a letter or digit' });
  }
}

function formatParameters(n: number): string {
  return n >= 1e9 ? `${+(n / 1e9).toFixed(2)}B` : `${+(n / 1e6).toFixed(2)}M`;
}

export function validateInferenceService(isvc: InferenceService): FieldError[] {
  const errors: FieldError[] = [];
  checkObjectName(errors, 'spec.backendRef', isvc.spec.backendRef);
  checkObjectName(errors, 'spec.inferenceCacheRef', isvc.spec.inferenceCacheRef);
  const semantic = isvc.spec.nlpFilters?.semanticCache;
  if (semantic) {
    if (semantic.storeRef !== 'memory') checkObjectName(errors, 'spec.nlpFilters.semanticCache.storeRef', semantic.storeRef);
    if (semantic.threshold !== undefined && !(semantic.threshold > 0)) {
      errors.push({ field: 'spec.nlpFilters.semanticCache.threshold', type: 'Invalid value', value: semantic.threshold, detail: 'must be greater than 0' });
    }
  }
  return errors;
}

export function validateInferenceGateway(gateway: InferenceGateway): FieldError[] {
  const errors: FieldError[] = [];
  const { routeStrategy, schedulingPolicy, sessionHeader, sessionCookie, routes } = gateway.spec;
  if (routeStrategy !== undefined && routeStrategyOf(routeStrategy) === undefined) {
    errors.push({
      field: 'spec.routeStrategy',
      type: 'Unsupported value',
      value: routeStrategy,
      detail: `supported values: ${ROUTE_STRATEGIES.map((v) => `"${v}"`).join(', ')} (also the router's "roundrobin", "prefixaware", "session", "kvaware")`,
    });
  }
  if (schedulingPolicy !== undefined && schedulingPolicyOf(schedulingPolicy) === undefined) {
    errors.push({ field: 'spec.schedulingPolicy', type: 'Unsupported value', value: schedulingPolicy, detail: `supported values: ${SCHEDULING_POLICIES.map((v) => `"${v}"`).join(', ')}` });
  }
  if (sessionHeader !== undefined && !HEADER_NAME.test(sessionHeader)) {
    errors.push({ field: 'spec.sessionHeader', type: 'Invalid value', value: sessionHeader, detail: 'must be an HTTP header name' });
  }
  if (sessionCookie !== undefined && !HEADER_NAME.test(sessionCookie)) {
    errors.push({ field: 'spec.sessionCookie', type: 'Invalid value', value: sessionCookie, detail: 'must be a cookie name (an HTTP token)' });
  }
  const models = new Set<string>();
  (routes ?? []).forEach((route, i) => {
    if (models.has(route.model)) errors.push({ field: `spec.routes[${i}].model`, type: 'Duplicate value', value: route.model });
    models.add(route.model);
    checkObjectName(errors, `spec.routes[${i}].inferenceServiceRef`, route.inferenceServiceRef);
  });
  return errors;
}

export function validateInferenceCache(cache: InferenceCache): FieldError[] {
  const errors: FieldError[] = [];
  checkObjectName(errors, 'spec.pddRef', cache.spec.pddRef);
  checkObjectName(errors, 'spec.sdRef', cache.spec.sdRef);
  return errors;
}

export function validateSpeculativeDecoding(sd: SpeculativeDecoding): FieldError[] {
  const errors: FieldError[] = [];
  const { draftModel, targetModel, speculationType, promptLookupMax } = sd.spec;
  if (needsDraftModel(speculationType) && !draftModel) {
    errors.push({ field: 'spec.draftModel', type: 'Required value', detail: `speculationType ${speculationType ?? 'draft'} needs a draft model` });
  }
  if (draftModel !== undefined && draftModel === targetModel) {
    errors.push({ field: 'spec.draftModel', type: 'Invalid value', value: draftModel, detail: 'must differ from targetModel' });
  } else if (draftModel !== undefined && (speculationType ?? 'draft') === 'draft') {
    // Sizes stated in the names (llama3-1b, llama3-70b) are known now; a draft no smaller than its target only slows decoding.
    const draft = statedParameters(draftModel);
    const target = statedParameters(targetModel);
    if (draft !== undefined && target !== undefined && draft >= target) {
      errors.push({
        field: 'spec.draftModel',
        type: 'Invalid value',
        value: draftModel,
        detail: `a draft model must be smaller than its target: ${formatParameters(draft)} parameters against ${formatParameters(target)} for ${targetModel}`,
      });
    }
  }
  if (promptLookupMax !== undefined && speculationType !== 'ngram') {
    errors.push({ field: 'spec.promptLookupMax', type: 'Forbidden', detail: 'only with speculationType ngram' });
  }
  return errors;
}

export function validatePrefillDecodingDisaggregation(pdd: PrefillDecodingDisaggregation): FieldError[] {
  const errors: FieldError[] = [];
  for (const [key, value] of Object.entries(pdd.spec.topologyHint?.nodeSelector ?? {})) {
    if (!LABEL_NAME.test(key) || key.length > 316) {
      errors.push({ field: `spec.topologyHint.nodeSelector`, type: 'Invalid value', value: key, detail: 'keys must be label names, e.g. topology.kubernetes.io/zone or gpuType' });
    }
    if (typeof value !== 'string' || !LABEL_VALUE.test(value) || value.length > 63) {
      errors.push({ field: `spec.topologyHint.nodeSelector[${key}]`, type: 'Invalid value', value, detail: 'must be a label value: at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit' });
    }
  }
  return errors;
}

export function validateStaticRoute(route: StaticRoute): FieldError[] {
  const errors: FieldError[] = [];
  const { staticBackends, staticModels, routingLogic, sessionKey, configMapName } = route.spec;
  const urls = splitList(staticBackends);
  const models = splitList(staticModels);
  urls.forEach((url, i) => {
    const problem = backendUrlProblem(url);
    if (problem) errors.push({ field: 'spec.staticBackends', type: 'Invalid value', value: staticBackends, detail: `backend ${i + 1} (${JSON.stringify(url)}) ${problem}: each entry must be an http or https URL such as http://10.0.0.5:8000` });
  });
  models.forEach((model, i) => {
    if (model === '' || /\s/.test(model)) errors.push({ field: 'spec.staticModels', type: 'Invalid value', value: staticModels, detail: `model ${i + 1} (${JSON.stringify(model)}) must be a name without spaces` });
  });
  if (typeof staticBackends === 'string' && typeof staticModels === 'string' && urls.length !== models.length) {
    errors.push({
      field: 'spec.staticModels',
      type: 'Invalid value',
      value: staticModels,
      detail: `lists ${models.length} model${models.length === 1 ? '' : 's'} for ${urls.length} backend${urls.length === 1 ? '' : 's'}: staticModels[i] is the model of staticBackends[i]`,
    });
  }
  if (routingLogic === 'session' && !sessionKey) {
    errors.push({ field: 'spec.sessionKey', type: 'Required value', detail: 'routingLogic session needs the header naming the session' });
  }
  if (sessionKey !== undefined && !HEADER_NAME.test(sessionKey)) {
    errors.push({ field: 'spec.sessionKey', type: 'Invalid value', value: sessionKey, detail: 'must be an HTTP header name' });
  }
  checkObjectName(errors, 'spec.configMapName', configMapName);
  return errors;
}
