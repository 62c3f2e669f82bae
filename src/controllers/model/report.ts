// The end of a Model reconcile, for served Models and LoRA adapters alike: write the status computed by the pure
// status functions, record what a person would want to know (becoming deprecated; a phase change), and tell the
// loop what next — a transient child error is thrown (retried with back-off), a permanent one requeued later (nothing
// else would wake the Model: the API server rejected what it was given).
import type { Model, ModelStatus } from '../../api/kinds/index.ts';
import { patchStatus } from '../../kube/apply.ts';
import type { KubeClient } from '../../kube/client.ts';
import type { ReconcileResult } from '../../kube/controller.ts';
import type { EventRecorder } from '../../kube/events.ts';
import { MODELS } from '../resources.ts';
import type { ChildError } from './status.ts';

/** How long to wait before retrying after a permanent child error. */
export const PERMANENT_ERROR_RETRY_MS = 30_000;

export async function reportStatus(
  client: KubeClient,
  recorder: EventRecorder,
  model: Model,
  status: ModelStatus,
  errors: readonly ChildError[],
): Promise<ReconcileResult | void> {
  const previousPhase = model.status?.phase;
  if (status.lifecycle === 'Deprecated' && model.status?.lifecycle !== 'Deprecated') {
    recorder.event(model, 'Warning', 'Deprecated', status.conditions?.find((c) => c.type === 'Deprecated')?.message ?? 'this model is deprecated');
  }
  await patchStatus(client, MODELS, model, status as Record<string, unknown>);
  if (status.phase !== previousPhase) {
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    recorder.event(model, status.phase === 'Failed' ? 'Warning' : 'Normal', `Model${status.phase}`, ready?.message || `phase ${status.phase}`);
  }
  const transient = errors.filter((e) => !e.permanent);
  if (transient.length > 0) throw new Error(transient.map((e) => `${e.kind}: ${e.message}`).join('; '));
  if (errors.length > 0) return { requeueAfterMs: PERMANENT_ERROR_RETRY_MS };
}
