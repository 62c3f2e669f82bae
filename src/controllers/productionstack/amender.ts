// SpeculativeDecoding and PrefillDecodingDisaggregation as amendments the Model controller applies to the workloads it
// generates (model/amend.ts): the ModelInfer and ModelServer keep one writer, and removing either object rolls them
// back. For a Model, the amendments are those of the objects holding its ModelInfer (resolve.ts claims), in this order:
//   1. PrefillDecodingDisaggregation: the ModelInfer's roles split (disaggregation.ts); the ModelServer routes
//      prefill/decode pairs once the object's status reports a ready pair, and keeps doing so from then on while the
//      split stands (a pod restarting does not flip the routing back and forth);
//   2. SpeculativeDecoding: the engine arguments on every role but prefill (speculative.ts).
// Events that may change a Model's amendments map to that Model: the objects themselves (for the Models they resolve
// to now and the ones they amended before, found by the amended-by annotation), and routes, whose changes move a model
// name to other workloads.
import {
  type Model,
  type ModelInfer,
  type ModelRoute,
  type PrefillDecodingDisaggregation,
  type SpeculativeDecoding,
} from '../../api/kinds/index.ts';
import type { KubeObject } from '../../api/admission.ts';
import type { InformerFactory } from '../../kube/informer.ts';
import { amendedBy, type LiveChildren, type ModelAmender, type ModelAmendment } from '../model/amend.ts';
import { PD_DISAGGREGATIONS, SPECULATIVE_DECODINGS } from '../resources.ts';
import { sharedInformers, worldOf } from './informers.ts';
import { disaggregate, withPdRouting } from './disaggregation.ts';
import { claimWorkloads, controllingModel, workloadsServing, type World } from './resolve.ts';
import { disaggregationPlan, sourceOf, speculativePlan } from './workload-status.ts';
import { withEngineArgs } from './speculative.ts';

const targetOfSd = (sd: SpeculativeDecoding) => sd.spec.targetModel;
const targetOfPdd = (pdd: PrefillDecodingDisaggregation) => pdd.spec.modelName;

/** The amendments of one Model, pure. */
export function amendmentsFor(model: Model, live: LiveChildren, world: World, sds: readonly SpeculativeDecoding[], pdds: readonly PrefillDecodingDisaggregation[]): ModelAmendment[] {
  const name = model.metadata.name!;
  const out: ModelAmendment[] = [];
  const pdd = claimWorkloads(pdds, targetOfPdd, world).holders.get(name);
  if (pdd) {
    const workload = workloadsServing(pdd.spec.modelName, world).find((w) => w.modelInfer === name);
    if (workload && workload.model === name && 'ok' in disaggregationPlan(pdd, workload, world.models, world.modelInfers)) {
      const source = sourceOf(pdd);
      const pairReady = (pdd.status?.readyPairs ?? 0) > 0 && (pdd.status?.modelInfer ?? '').split(',').includes(name);
      const route = pairReady || amendedBy(live.modelServer).includes(source);
      out.push({ source, modelInfer: (mi) => disaggregate(mi, pdd.spec), ...(route ? { modelServer: withPdRouting } : {}) });
    }
  }
  const sd = claimWorkloads(sds, targetOfSd, world).holders.get(name);
  if (sd) {
    const workload = workloadsServing(sd.spec.targetModel, world).find((w) => w.modelInfer === name);
    const plan = workload && workload.model === name ? speculativePlan(sd, workload, world.models, world.modelInfers) : undefined;
    if (plan && 'ok' in plan) out.push({ source: sourceOf(sd), modelInfer: (mi) => withEngineArgs(mi, plan.ok) });
  }
  return out;
}

export function createProductionStackAmender(informers: InformerFactory): ModelAmender {
  const shared = sharedInformers(informers);
  const sds = informers.informer<SpeculativeDecoding>(SPECULATIVE_DECODINGS);
  const pdds = informers.informer<PrefillDecodingDisaggregation>(PD_DISAGGREGATIONS);

  const modelKey = (namespace: string, model: string | undefined) => (model ? `${namespace}/${model}` : undefined);
  /** Models the object resolves to now, and those whose ModelInfer it amended before. */
  function modelsOf(object: KubeObject, target: string): string[] {
    const namespace = object.metadata.namespace ?? 'default';
    const source = sourceOf(object);
    const now = workloadsServing(target, worldOf(shared, namespace)).map((w) => modelKey(namespace, w.model));
    const before = shared.modelInfers.list(namespace).filter((mi: ModelInfer) => amendedBy(mi).includes(source)).map((mi) => modelKey(namespace, controllingModel(mi)));
    return [...new Set([...now, ...before].filter((k): k is string => k !== undefined))];
  }
  /** A route for a model name moves that name's objects to other workloads. */
  function modelsOfRoute(route: ModelRoute): string[] {
    const namespace = route.metadata.namespace ?? 'default';
    const concerned = [...sds.list(namespace).filter((sd) => sd.spec.targetModel === route.spec?.modelName), ...pdds.list(namespace).filter((p) => p.spec.modelName === route.spec?.modelName)];
    return [...new Set(concerned.flatMap((o) => modelsOf(o, o.kind === 'SpeculativeDecoding' ? targetOfSd(o as SpeculativeDecoding) : targetOfPdd(o as PrefillDecodingDisaggregation))))];
  }

  return {
    name: 'production-stack',
    watches: [
      { informer: sds, map: (sd: SpeculativeDecoding) => modelsOf(sd, sd.spec.targetModel) },
      { informer: pdds, map: (pdd: PrefillDecodingDisaggregation) => modelsOf(pdd, pdd.spec.modelName) },
      { informer: shared.routes, map: modelsOfRoute },
    ],
    amendmentsFor(model, live) {
      const namespace = model.metadata.namespace ?? 'default';
      return amendmentsFor(model, live, worldOf(shared, namespace), sds.list(namespace), pdds.list(namespace));
    },
  };
}
