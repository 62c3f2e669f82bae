// `matrixinfer rollout history|undo model/NAME`: a Model's spec history, kept by the Model controller as
// ControllerRevisions (src/controllers/model/revisions.ts), read and rolled back the way kubectl does it for
// Deployments. Undo writes the chosen revision's spec back to the Model (a PUT with its resourceVersion, so a
// concurrent edit is never overwritten) together with that revision's change-cause; the controller then reuses the
// revision under the next number and rolls the pods. Decisions (which revision, what changed) are pure functions.
import { stringify } from 'yaml';
import type { Model, ModelSpec } from '../api/kinds/index.ts';
import { MODEL_NAME_LABEL } from '../api/labels.ts';
import { MODELS } from '../controllers/resources.ts';
import { CHANGE_CAUSE_ANNOTATION, CONTROLLER_REVISIONS, ownedRevisions, type ControllerRevision } from '../controllers/model/revisions.ts';
import { isConflict, KubeClient } from '../kube/client.ts';
import { stableStringify } from '../kube/objects.ts';
import type { ClientContext } from './context.ts';
import { alignColumns } from './table.ts';

const MODEL_WORDS = new Set(['model', 'models', 'mdl', 'model.registry.matrixinfer.ai', 'models.registry.matrixinfer.ai']);
const LABEL = (name: string) => `model.registry.matrixinfer.ai/${name}`;

/** `model/NAME`, or `model NAME`: the Model's name; other kinds are refused by name. */
export function parseTarget(first: string, second?: string): string {
  const [word, name] = first.includes('/') ? [first.slice(0, first.indexOf('/')), first.slice(first.indexOf('/') + 1)] : [first, second];
  if (!MODEL_WORDS.has(word.toLowerCase())) throw new Error(`rollout works on models only (model/NAME), not "${word}"`);
  if (!name) throw new Error('rollout needs a model name: model/NAME');
  return name;
}

/** What changed between two specs, in a few words: image, args, source, version, then any other field by path. */
export function changeSummary(previous: ModelSpec | undefined, current: ModelSpec): string {
  const image = (s: ModelSpec) => s.runtime?.image;
  const args = (s: ModelSpec) => (s.runtime?.args ?? []).join(' ');
  const source = (s: ModelSpec) => s.modelSpec.source.uri + (s.modelSpec.source.revision ? `@${s.modelSpec.source.revision}` : '');
  const version = (s: ModelSpec) => s.modelSpec.version;
  if (previous === undefined) {
    return [image(current) && `image ${image(current)}`, `version ${version(current)}`, `source ${source(current)}`, args(current) && `args ${args(current)}`].filter(Boolean).join(', ');
  }
  const parts: string[] = [];
  const named: [string, (s: ModelSpec) => string | undefined][] = [['image', image], ['args', args], ['source', source], ['version', version]];
  for (const [label, read] of named) {
    const a = read(previous);
    const b = read(current);
    if (a !== b) parts.push(`${label} ${a || '<none>'} → ${b || '<none>'}`);
  }
  // Anything else, by field path (two levels), with the fields above left out.
  const known = new Set(['runtime.image', 'runtime.args', 'modelSpec.source', 'modelSpec.version']);
  const others: string[] = [];
  for (const key of new Set([...Object.keys(previous), ...Object.keys(current)])) {
    const a = (previous as Record<string, unknown>)[key];
    const b = (current as Record<string, unknown>)[key];
    if (stableStringify(a) === stableStringify(b)) continue;
    const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
    if (!isObj(a) || !isObj(b)) {
      others.push(key);
      continue;
    }
    for (const sub of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (!known.has(`${key}.${sub}`) && stableStringify(a[sub]) !== stableStringify(b[sub])) others.push(`${key}.${sub}`);
    }
  }
  if (others.length > 0) parts.push(`changed ${others.join(', ')}`);
  return parts.join('; ') || 'no change';
}

/** REVISION, CHANGE-CAUSE, CHANGES rows, oldest first; each revision compared with the one before it. */
export function historyRows(revisions: readonly ControllerRevision[]): string[][] {
  const sorted = [...revisions].sort((a, b) => a.revision - b.revision);
  return [
    ['REVISION', 'CHANGE-CAUSE', 'CHANGES'],
    ...sorted.map((r, i) => [String(r.revision), r.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION] || '<none>', changeSummary(sorted[i - 1]?.data.spec, r.data.spec)]),
  ];
}

export type UndoDecision =
  | { type: 'rollback'; revision: ControllerRevision }
  /** The Model's spec already is that revision's. */
  | { type: 'skip'; revision: ControllerRevision };

/**
 * The revision `rollout undo` goes back to: `toRevision`, else the one before the newest (kubectl's default);
 * an error naming the revisions there are when it does not exist.
 */
export function undoTarget(model: Model, revisions: readonly ControllerRevision[], toRevision?: number): UndoDecision {
  const sorted = [...revisions].sort((a, b) => a.revision - b.revision);
  const known = sorted.map((r) => r.revision).join(', ') || 'none';
  let target: ControllerRevision | undefined;
  if (toRevision !== undefined && toRevision !== 0) {
    target = sorted.find((r) => r.revision === toRevision);
    if (!target) throw new Error(`unable to find specified revision ${toRevision} in history of model/${model.metadata.name} (revisions: ${known})`);
  } else {
    target = sorted.at(-2);
    if (!target) throw new Error(`no rollout history found for model/${model.metadata.name}: nothing to undo (revisions: ${known})`);
  }
  return stableStringify(target.data.spec) === stableStringify(model.spec) ? { type: 'skip', revision: target } : { type: 'rollback', revision: target };
}

/** The Model with the revision's spec and change-cause (removed when the revision has none), ready to PUT. */
export function rolledBack(model: Model, revision: ControllerRevision): Model {
  const annotations = { ...(model.metadata.annotations ?? {}) };
  const cause = revision.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION];
  if (cause !== undefined) annotations[CHANGE_CAUSE_ANNOTATION] = cause;
  else delete annotations[CHANGE_CAUSE_ANNOTATION];
  const { annotations: _old, ...metadata } = model.metadata;
  return {
    ...model,
    metadata: { ...metadata, ...(Object.keys(annotations).length > 0 ? { annotations } : {}) },
    spec: structuredClone(revision.data.spec),
  };
}

async function load(client: KubeClient, namespace: string, name: string): Promise<{ model: Model; revisions: ControllerRevision[] }> {
  const model = await client.get<Model>(MODELS, namespace, name);
  if (!model) throw new Error(`models.registry.matrixinfer.ai "${name}" not found in namespace ${namespace}`);
  const list = await client.list(CONTROLLER_REVISIONS, { namespace, labelSelector: `${MODEL_NAME_LABEL}=${name}` });
  return { model, revisions: ownedRevisions(model, list.items) };
}

export async function rolloutHistory(ctx: ClientContext, name: string, options: { revision?: number }, out: (text: string) => void): Promise<void> {
  const { revisions } = await load(new KubeClient(ctx.kc), ctx.namespace, name);
  if (options.revision !== undefined) {
    const revision = revisions.find((r) => r.revision === options.revision);
    if (!revision) throw new Error(`unable to find the specified revision ${options.revision} of model/${name}`);
    const cause = revision.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION];
    out(`${LABEL(name)} with revision #${revision.revision}\n${cause ? `Change-Cause: ${cause}\n` : ''}${stringify({ spec: revision.data.spec }).trimEnd()}`);
    return;
  }
  if (revisions.length === 0) {
    out(`No rollout history found for model/${name}.`);
    return;
  }
  out(`${LABEL(name)}\n${alignColumns(historyRows(revisions))}`);
}

export async function rolloutUndo(ctx: ClientContext, name: string, options: { toRevision?: number }, out: (text: string) => void): Promise<void> {
  const client = new KubeClient(ctx.kc);
  for (let attempt = 0; ; attempt++) {
    const { model, revisions } = await load(client, ctx.namespace, name);
    const decision = undoTarget(model, revisions, options.toRevision);
    if (decision.type === 'skip') {
      out(`${LABEL(name)} skipped rollback (current template already matches revision ${decision.revision.revision})`);
      return;
    }
    try {
      await client.replace(MODELS, rolledBack(model, decision.revision));
      out(`${LABEL(name)} rolled back (to revision ${decision.revision.revision})`);
      return;
    } catch (err) {
      // Someone changed the Model between our read and write: decide again on the new state.
      if (!isConflict(err) || attempt >= 4) throw err;
    }
  }
}
