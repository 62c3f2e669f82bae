// Amendments: other controllers' changes to a Model's children, composed by the Model controller itself so that every
// child keeps one writer. An amender (the production-stack kinds' SpeculativeDecoding and PrefillDecodingDisaggregation,
// controllers/productionstack/amender.ts) says, for a Model, which functions rewrite its desired ModelInfer and
// ModelServer; the Model controller applies them, in order, on top of desired.ts before writing, and lists their
// sources in AMENDED_BY_ANNOTATION on what they changed. A child thus always equals desired(Model) + amendments:
// removing an amendment (its object deleted, retargeted or in conflict) rolls the child back at the next reconcile,
// and a change of the Model rolls out with the amendments still applied. Amendments are pure and deterministic (the
// desired-state hash covers their result).
import type { Model, ModelInfer, ModelServer } from '../../api/kinds/index.ts';
import type { KeyMapper } from '../../kube/controller.ts';
import type { SharedInformer } from '../../kube/informer.ts';
import type { DesiredChildren } from './desired.ts';

/** On an amended child: the amendments' sources (`Kind/name`), comma-separated, in the order they were applied. */
export const AMENDED_BY_ANNOTATION = 'registry.matrixinfer.ai/amended-by';

/** What the Model controller knows of the live children when it asks (amendments may depend on how far a rollout is). */
export interface LiveChildren {
  modelInfer?: ModelInfer;
  modelServer?: ModelServer;
}

export interface ModelAmendment {
  /** `Kind/name` of the object asking for it. */
  source: string;
  modelInfer?(desired: ModelInfer): ModelInfer;
  modelServer?(desired: ModelServer): ModelServer;
}

export interface ModelAmender {
  name: string;
  /** Sources whose events may change a Model's amendments, each mapped to the Model keys (`namespace/name`) concerned. */
  watches: { informer: SharedInformer<any>; map: KeyMapper<any> }[];
  /** The amendments of this Model, in the order they apply. */
  amendmentsFor(model: Model, live: LiveChildren): ModelAmendment[];
}

/**
 * The sources on `object`. None and none before: no annotation. None but some before: an empty value, because an
 * update keeps annotations the desired state does not mention.
 */
function annotate<T extends ModelInfer | ModelServer>(object: T, sources: string[], live: T | undefined): T {
  if (sources.length === 0 && amendedBy(live).length === 0) return object;
  return { ...object, metadata: { ...object.metadata, annotations: { ...(object.metadata.annotations ?? {}), [AMENDED_BY_ANNOTATION]: sources.join(',') } } };
}

/** The desired children with the amendments applied, each amended child annotated with its sources. */
export function amendChildren(desired: DesiredChildren, amendments: readonly ModelAmendment[], live: LiveChildren = {}): DesiredChildren {
  let { modelInfer, modelServer } = desired;
  const inferSources: string[] = [];
  const serverSources: string[] = [];
  for (const amendment of amendments) {
    if (amendment.modelInfer) {
      modelInfer = amendment.modelInfer(modelInfer);
      inferSources.push(amendment.source);
    }
    if (amendment.modelServer) {
      modelServer = amendment.modelServer(modelServer);
      serverSources.push(amendment.source);
    }
  }
  return { ...desired, modelInfer: annotate(modelInfer, inferSources, live.modelInfer), modelServer: annotate(modelServer, serverSources, live.modelServer) };
}

/** The sources listed on an amended child. */
export function amendedBy(object: { metadata: { annotations?: Record<string, string> } } | undefined): string[] {
  const value = object?.metadata.annotations?.[AMENDED_BY_ANNOTATION];
  return value ? value.split(',').filter(Boolean) : [];
}
