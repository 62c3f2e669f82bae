// InferenceCache status, pure. The cache's weights are programmed by the InferenceService controller on the routes of
// the InferenceServices it applies to (inference-service.ts, scheduling.ts); this reads back which ones carry them and
// reports its references:
//  - ResolvedRefs: pddRef and sdRef name objects for the same model (they apply themselves; a reference to one of
//    another model, or to none, is reported, nothing else happens);
//  - Programmed: at least one InferenceService's route carries the weights (an InferenceCache alone changes nothing:
//    the gateway's routes for a model are the InferenceServices');
//  - MetricsObserved: cacheStats from the engines' metrics (cache-stats.ts): the prefix-cache hit rate over the last
//    window and the mean KV-cache usage of the model's ready engine pods.
import type {
  InferenceCache,
  InferenceCacheStatus,
  InferenceService,
  ModelRoute,
  PrefillDecodingDisaggregation,
  SpeculativeDecoding,
} from '../../api/kinds/index.ts';
import { findCondition, nowTime, setConditions, type ConditionInput } from '../../kube/objects.ts';
import type { CacheStats } from './cache-stats.ts';

const LOAD = new Set(['queue', 'running', 'least-request']);

export interface CacheObservation {
  isvcs: readonly InferenceService[];
  routes: readonly ModelRoute[];
  pdds: readonly PrefillDecodingDisaggregation[];
  sds: readonly SpeculativeDecoding[];
  /** The engines' figures from the last collection round; undefined before the first. */
  stats?: CacheStats;
}

/** The InferenceServices whose routes carry this cache's weights. */
export function servicesApplying(cache: InferenceCache, isvcs: readonly InferenceService[]): InferenceService[] {
  return isvcs.filter((s) => {
    const status = s.status;
    if (status === undefined) return false;
    return status.inferenceCache === cache.metadata.name && status.observedGeneration === s.metadata.generation && findCondition(status.conditions, 'Programmed')?.status === 'True';
  });
}

export function computeInferenceCacheStatus(cache: InferenceCache, observed: CacheObservation, now: string = nowTime()): InferenceCacheStatus {
  const generation = cache.metadata.generation;
  const model = cache.spec.modelName;
  const problems: string[] = [];
  if (cache.spec.pddRef !== undefined) {
    const pdd = observed.pdds.find((p) => p.metadata.name === cache.spec.pddRef);
    if (!pdd) problems.push(`PrefillDecodingDisaggregation ${cache.spec.pddRef} not found`);
    else if (pdd.spec.modelName !== model) problems.push(`PrefillDecodingDisaggregation ${cache.spec.pddRef} is for ${pdd.spec.modelName}, not ${model}`);
  }
  if (cache.spec.sdRef !== undefined) {
    const sd = observed.sds.find((s) => s.metadata.name === cache.spec.sdRef);
    if (!sd) problems.push(`SpeculativeDecoding ${cache.spec.sdRef} not found`);
    else if (sd.spec.targetModel !== model) problems.push(`SpeculativeDecoding ${cache.spec.sdRef} is for ${sd.spec.targetModel}, not ${model}`);
  }
  const refs = [cache.spec.pddRef && `PrefillDecodingDisaggregation ${cache.spec.pddRef}`, cache.spec.sdRef && `SpeculativeDecoding ${cache.spec.sdRef}`].filter(Boolean);
  const resolved: ConditionInput =
    problems.length > 0
      ? { type: 'ResolvedRefs', status: 'False', reason: 'RefNotResolved', message: problems.join('; ') }
      : { type: 'ResolvedRefs', status: 'True', reason: 'Resolved', message: refs.length > 0 ? `${refs.join(' and ')} for ${model}` : 'no references' };
  const applying = servicesApplying(cache, observed.isvcs);
  const routeNames = applying.map((s) => s.status!.modelRoute!).filter(Boolean).sort();
  const programmed: ConditionInput =
    applying.length > 0
      ? { type: 'Programmed', status: 'True', reason: 'Programmed', message: `weights on ModelRoute${routeNames.length === 1 ? '' : 's'} ${routeNames.join(', ')}` }
      : { type: 'Programmed', status: 'False', reason: 'NoInferenceService', message: `no InferenceService serving ${model} applies it (one naming it in inferenceCacheRef, or of that model naming none)` };
  const stats = observed.stats;
  const metrics: ConditionInput =
    stats === undefined
      ? { type: 'MetricsObserved', status: 'Unknown', reason: 'NotCollected', message: "the engines' metrics have not been read yet" }
      : stats.pods === 0
        ? { type: 'MetricsObserved', status: 'False', reason: 'NoEngineMetrics', message: `no ready engine pod serving ${model} answered /metrics` }
        : {
            type: 'MetricsObserved',
            status: 'True',
            reason: 'Observed',
            message: `${stats.pods} engine pod${stats.pods === 1 ? '' : 's'}: prefix-cache hit rate ${fmt(stats.hitRate) ?? 'unknown (no prefill yet)'} (threshold ${cache.spec.kvCacheTransferPolicy?.thresholdHitRate ?? 'default'}), KV-cache usage ${fmt(stats.kvCacheUsage) ?? 'unknown'} (eviction threshold ${cache.spec.kvCacheTransferPolicy?.evictionThreshold ?? 'default'})`,
          };
  const cacheStats = stats && stats.pods > 0 ? { ...(stats.hitRate !== undefined ? { hitRate: fmt(stats.hitRate)! } : {}), ...(stats.kvCacheUsage !== undefined ? { kvCacheUsage: fmt(stats.kvCacheUsage)! } : {}) } : undefined;
  const first = observed.routes.find((r) => r.metadata.name === routeNames[0]);
  const scorers = first?.spec.scheduling?.scorers ?? [];
  const weight = (name: string) => scorers.find((s) => s.name === name)?.weight ?? 0;
  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions: setConditions(cache.status?.conditions, [resolved, programmed, metrics], now, generation),
    modelRoutes: routeNames,
    ...(cacheStats ? { cacheStats } : {}),
    ...(first
      ? { weights: { prefixCache: weight('prefix-cache'), kvCache: weight('kv-cache'), load: scorers.filter((s) => LOAD.has(s.name)).reduce((sum, s) => sum + (s.weight ?? 1), 0) } }
      : {}),
  };
}

function fmt(value: number | undefined): string | undefined {
  return value === undefined || !Number.isFinite(value) ? undefined : value.toFixed(3);
}
