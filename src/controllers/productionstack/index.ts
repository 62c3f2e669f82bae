// The production-stack.vllm.ai kinds in the controller manager: their controllers, and the amender through which the
// Model controller applies SpeculativeDecoding and PrefillDecodingDisaggregation to the workloads it generates.
import type { Controller } from '../../kube/controller.ts';
import type { ModelAmender } from '../model/amend.ts';
import { createProductionStackAmender } from './amender.ts';
import {
  createDisaggregationController,
  createInferenceCacheController,
  createInferenceGatewayController,
  createInferenceServiceController,
  createSpeculativeDecodingController,
  createStaticRouteController,
  type ProductionStackDeps,
} from './controller.ts';

export interface ProductionStack {
  controllers: Controller[];
  amenders: ModelAmender[];
}

export interface ProductionStackOptions {
  /** How often an InferenceCache's engines are read for cacheStats (default 30 s). */
  cacheStatsPeriodMs?: number;
}

export function createProductionStack(deps: ProductionStackDeps, options: ProductionStackOptions = {}): ProductionStack {
  const log = deps.logger;
  const child = (name: string) => ({ ...deps, ...(log ? { logger: log.child(name) } : {}) });
  return {
    controllers: [
      createInferenceServiceController(child('inferenceservice')),
      createInferenceGatewayController(child('inferencegateway')),
      createInferenceCacheController({ ...child('inferencecache'), ...(options.cacheStatsPeriodMs !== undefined ? { cacheStatsPeriodMs: options.cacheStatsPeriodMs } : {}) }),
      createSpeculativeDecodingController(child('speculativedecoding')),
      createDisaggregationController(child('prefilldecodingdisaggregation')),
      createStaticRouteController(child('staticroute')),
    ],
    amenders: [createProductionStackAmender(deps.informers)],
  };
}

export type { ProductionStackDeps };
