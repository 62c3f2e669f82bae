// Which LoRA adapters an engine pod has loaded, as the LoRA loader (controllers/model/lora-loader.ts) records it on
// the pod and the gateway and the Model controller read it. Pure and dependency-free.
//
// Rules:
//  - `registry.matrixinfer.ai/lora-adapters` lists the adapter Models the loader loaded into the pod's engine, sorted,
//    comma-separated ('' = none); `registry.matrixinfer.ai/lora-adapters-restarts` is the sum of the pod's container
//    restart counts when that list was written.
//  - An engine that restarted since (the sum moved on) has lost adapters loaded at run time: the list is stale and
//    counts as empty until the loader rewrites it, so no request for an adapter reaches an engine that forgot it.
//  - A pod without the annotation has no adapter loaded by the loader.

export const LORA_ADAPTERS_ANNOTATION = 'registry.matrixinfer.ai/lora-adapters';
export const LORA_RESTARTS_ANNOTATION = 'registry.matrixinfer.ai/lora-adapters-restarts';

/** The parts of a Pod read here (the gateway's and the controllers' pod types both fit). */
export interface PodAdapterView {
  metadata?: { annotations?: Record<string, string> | null } | null;
  status?: { containerStatuses?: ReadonlyArray<{ restartCount?: number } | null> | null } | null;
}

const NONE: ReadonlySet<string> = new Set();

/** Sum of the pod's container restart counts (an engine restart moves it on). */
export function podRestarts(pod: PodAdapterView): number {
  let n = 0;
  for (const c of pod.status?.containerStatuses ?? []) if (c && typeof c.restartCount === 'number') n += c.restartCount;
  return n;
}

/** The recorded list and the restart count it was written at, or undefined without the annotation. */
export function recordedAdapters(pod: PodAdapterView): { names: string[]; restarts: number } | undefined {
  const value = pod.metadata?.annotations?.[LORA_ADAPTERS_ANNOTATION];
  if (typeof value !== 'string') return undefined;
  const restarts = Number(pod.metadata?.annotations?.[LORA_RESTARTS_ANNOTATION]);
  return { names: value.split(',').filter(Boolean), restarts: Number.isInteger(restarts) ? restarts : -1 };
}

/** Adapters loaded in the pod's engine as it is now: the recorded list when written since the last restart, else none. */
export function loadedAdapters(pod: PodAdapterView): ReadonlySet<string> {
  const recorded = recordedAdapters(pod);
  if (recorded === undefined || recorded.names.length === 0 || recorded.restarts !== podRestarts(pod)) return NONE;
  return new Set(recorded.names);
}

/** The annotations recording `names` as loaded at `restarts`. */
export function adapterAnnotations(names: Iterable<string>, restarts: number): Record<string, string> {
  return { [LORA_ADAPTERS_ANNOTATION]: [...new Set(names)].sort().join(','), [LORA_RESTARTS_ANNOTATION]: String(restarts) };
}

/**
 * On a ModelRoute the Model controller made for an adapter Model: the base Model's name. The gateway sends a request
 * for such a route's `loraAdapters` only to pods whose recorded list has the adapter (routing/table.ts); routes
 * without it (adapters given to the engine with --lora-modules) reach every ready pod.
 */
export const LORA_BASE_LABEL = 'registry.matrixinfer.ai/lora-base';
