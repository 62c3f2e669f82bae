// What the six kinds of group production-stack.vllm.ai/v1alpha1 share (seed 004, issue 12): the group, their
// categories, the status fields every one of them has, and the printer column of a condition. Each kind reduces to
// MatrixInfer's own objects (src/controllers/productionstack/); the field names are the seed's, kept as written.
import { Type, Conditions } from '../../schema-kit.ts';
import type { PrinterColumn } from '../../kind.ts';

export const PRODUCTION_STACK_GROUP = 'production-stack.vllm.ai';
export const PRODUCTION_STACK_VERSION = 'v1alpha1';
/** `kubectl get production-stack` lists the six kinds; `kubectl get matrixinfer` lists them with ours. */
export const PRODUCTION_STACK_CATEGORIES = ['production-stack', 'matrixinfer'];

/** observedGeneration and conditions, in every status. */
export const statusBase = {
  observedGeneration: Type.Optional(Type.Integer({ format: 'int64', description: 'The generation the status was computed for.' })),
  conditions: Type.Optional(Conditions),
};

/** A column showing the status of one condition (True/False/Unknown). */
export function conditionColumn(type: string, priority?: number): PrinterColumn {
  return { name: type, type: 'string', jsonPath: `.status.conditions[?(@.type=="${type}")].status`, ...(priority !== undefined ? { priority } : {}) };
}

/** Lower-case without `-`, `_` and spaces: `PrefixHash`, `prefix-hash` and `prefix_hash` are one spelling. */
export function normalizeName(value: string): string {
  return value.toLowerCase().replace(/[-_\s]/g, '');
}
