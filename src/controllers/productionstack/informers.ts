// The informers the production-stack controllers and the amender share (one cache each, through the factory), and
// one namespace's world as resolve.ts reads it.
import type { Model, ModelInfer, ModelRoute, ModelServer } from '../../api/kinds/index.ts';
import type { InformerFactory } from '../../kube/informer.ts';
import { MODEL_INFERS, MODEL_ROUTES, MODEL_SERVERS, MODELS, SERVICES } from '../resources.ts';
import type { World } from './resolve.ts';

/** The informers every production-stack controller reads, shared through the factory. */
export function sharedInformers(informers: InformerFactory) {
  return {
    models: informers.informer<Model>(MODELS),
    modelInfers: informers.informer<ModelInfer>(MODEL_INFERS),
    servers: informers.informer<ModelServer>(MODEL_SERVERS),
    routes: informers.informer<ModelRoute>(MODEL_ROUTES),
    services: informers.informer(SERVICES),
  };
}
export type Shared = ReturnType<typeof sharedInformers>;

export function worldOf(shared: Shared, namespace: string): World {
  return {
    routes: shared.routes.list(namespace),
    servers: shared.servers.list(namespace),
    modelInfers: shared.modelInfers.list(namespace),
    models: shared.models.list(namespace),
  };
}
