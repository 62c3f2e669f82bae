// Condition helpers the production-stack controllers share: when to emit an Event (a condition changed status or
// reason: one Event per change, not one per reconcile).
import type { Condition } from '../../api/schema-kit.ts';
import { findCondition } from '../../kube/objects.ts';

/** Whether condition `type` differs in status or reason between two condition lists. */
export function conditionChanged(previous: readonly Condition[] | undefined, next: readonly Condition[] | undefined, type: string): boolean {
  const a = findCondition(previous, type);
  const b = findCondition(next, type);
  return a?.status !== b?.status || a?.reason !== b?.reason;
}

/** The condition of `type`, for an Event's message. */
export function conditionOf(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return findCondition(conditions, type);
}
