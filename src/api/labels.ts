// Well-known labels and names shared by controllers, the node agent and the gateway.

/** Every object the Model controller creates carries this label with this value. */
export const MANAGED_BY_LABEL = 'registry.matrixinfer.ai/managed-by';
export const MANAGED_BY_VALUE = 'registry.matrixinfer.ai';
/** Name of the Model a generated object belongs to. */
export const MODEL_NAME_LABEL = 'registry.matrixinfer.ai/model-name';

/** On pods: the ModelInfer that owns them (the ModelServer selects pods by this). */
export const MODELINFER_NAME_LABEL = 'workload.matrixinfer.ai/modelinfer-name';
/** On pods: replica (group) index within the ModelInfer, as a decimal string. */
export const GROUP_INDEX_LABEL = 'workload.matrixinfer.ai/group-index';
/** On pods: role name within the group (`server`, `prefill`, `decode`, …). */
export const ROLE_LABEL = 'workload.matrixinfer.ai/role';
/** On pods: hash of the template revision they were created from (rolling updates compare it). */
export const REVISION_LABEL = 'workload.matrixinfer.ai/revision';
/**
 * On pods: `true` on the pods of a ModelInfer's warm pool (spec.warmPool): started, maybe asleep, never routed by the
 * gateway nor scraped by the autoscaler. The ModelInfer controller is the only writer (it removes it on a claim).
 */
export const WARM_LABEL = 'workload.matrixinfer.ai/warm';
/** On warm pods: the sleep level (`1`, `2`) the ModelInfer controller put the engine to sleep at (POST /sleep). */
export const SLEEP_LEVEL_ANNOTATION = 'workload.matrixinfer.ai/sleep-level';

/** Name of the local node the node agent registers and runs pods for. */
export const LOCAL_NODE_NAME = 'matrixinfer-local';
