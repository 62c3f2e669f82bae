// The JSON API's shapes, as pure functions of the informer caches (and the history's latest figures): the models
// list, a model's pods, which objects belong to which model, and the autoscaler's decisions kept across the hour.
// Rules:
//  - A model's children are found as the Model controller makes them: its ModelInfers carry the model-name label,
//    their pods the modelinfer-name label, and an AutoscalingPolicyBinding targets one of its ModelInfers (the
//    first variant's with spec.variants).
//  - Nothing here holds credentials or writes: the page gets these shapes and nothing else.
import type { AutoscalingPolicyBinding, Model, ModelInfer, ScalingDecision } from '../api/kinds/index.ts';
import type { KubeObject } from '../api/admission.ts';
import { MODEL_NAME_LABEL, MODELINFER_NAME_LABEL, ROLE_LABEL, WARM_LABEL } from '../api/labels.ts';
import { isDeleting, isPodReady } from '../kube/objects.ts';

export interface Objects {
  models: readonly Model[];
  modelInfers: readonly ModelInfer[];
  pods: readonly KubeObject[];
  bindings: readonly AutoscalingPolicyBinding[];
}

export interface ModelSummary {
  namespace: string;
  name: string;
  phase: string;
  lifecycle: string | undefined;
  version: string | undefined;
  revision: number | undefined;
  /** Base Model's name for a LoRA adapter. */
  base: string | undefined;
  ready: number;
  desired: number;
  /** Download progress, e.g. "42%", or its phase; undefined when the Model downloads nothing. */
  download: string | undefined;
  /** Why the download failed (`Reason: message`), when it did. */
  downloadError: string | undefined;
  created: string | undefined;
  /** The binding that scales it, when any: its mode. */
  autoscaler: { binding: string; mode: string | undefined } | undefined;
  /** The latest figures (requests per second, latency, …) from the history, for the table. */
  live: Record<string, number>;
}

export interface PodSummary {
  name: string;
  modelInfer: string;
  role: string | undefined;
  phase: string;
  ready: boolean;
  warm: boolean;
  restarts: number;
  node: string | undefined;
  ip: string | undefined;
  created: string | undefined;
  /** The latest per-pod figures: rps, kv (0..1), prefix (0..1), running, waiting. */
  live: Record<string, number>;
}

export interface Decision extends ScalingDecision {
  /** When the decision was, ms (from `time`). */
  at: number;
}

const nsOf = (o: KubeObject) => o.metadata.namespace ?? 'default';

/** `namespace/name` of the Model each engine pod serves. */
export function modelOfPods(objects: Objects): Map<string, string> {
  const inferModel = new Map<string, string>();
  for (const mi of objects.modelInfers) {
    const model = mi.metadata.labels?.[MODEL_NAME_LABEL];
    if (model) inferModel.set(`${nsOf(mi)}/${mi.metadata.name}`, `${nsOf(mi)}/${model}`);
  }
  const out = new Map<string, string>();
  for (const pod of objects.pods) {
    const mi = pod.metadata.labels?.[MODELINFER_NAME_LABEL];
    const model = mi ? inferModel.get(`${nsOf(pod)}/${mi}`) : undefined;
    if (model) out.set(`${nsOf(pod)}/${pod.metadata.name}`, model);
  }
  return out;
}

/** `namespace/name` of the Model a binding scales, by binding key. */
export function modelOfBindings(objects: Objects): Map<string, string> {
  const out = new Map<string, string>();
  for (const b of objects.bindings) {
    const target = b.spec.targetRef?.name ?? b.spec.variants?.[0]?.targetRef.name;
    const mi = target ? objects.modelInfers.find((m) => nsOf(m) === nsOf(b) && m.metadata.name === target) : undefined;
    const model = mi?.metadata.labels?.[MODEL_NAME_LABEL];
    if (model) out.set(`${nsOf(b)}/${b.metadata.name}`, `${nsOf(b)}/${model}`);
  }
  return out;
}

/** The binding of a model (`namespace/name`), when one scales it. */
export function bindingOf(objects: Objects, model: string): AutoscalingPolicyBinding | undefined {
  const byBinding = modelOfBindings(objects);
  return objects.bindings.find((b) => byBinding.get(`${nsOf(b)}/${b.metadata.name}`) === model);
}

export function modelSummaries(objects: Objects, live: (model: string) => Record<string, number>): ModelSummary[] {
  const byBinding = modelOfBindings(objects);
  return objects.models
    .map((m): ModelSummary => {
      const key = `${nsOf(m)}/${m.metadata.name}`;
      const infers = objects.modelInfers.filter((mi) => nsOf(mi) === nsOf(m) && mi.metadata.labels?.[MODEL_NAME_LABEL] === m.metadata.name);
      const binding = objects.bindings.find((b) => byBinding.get(`${nsOf(b)}/${b.metadata.name}`) === key);
      const download = m.status?.download;
      return {
        namespace: nsOf(m),
        name: m.metadata.name!,
        phase: isDeleting(m) ? 'Deleting' : (m.status?.phase ?? 'Pending'),
        lifecycle: m.status?.lifecycle,
        version: m.spec.modelSpec?.version,
        revision: m.status?.currentRevision,
        base: m.spec.modelSpec?.baseModelRef?.name,
        ready: m.status?.readyReplicas ?? 0,
        desired: infers.reduce((sum, mi) => sum + (mi.spec.replicas ?? 1), 0),
        download: download ? (download.progress ?? download.phase) : undefined,
        downloadError: download?.phase === 'Failed' ? [download.reason, download.message].filter(Boolean).join(': ') || undefined : undefined,
        created: m.metadata.creationTimestamp,
        autoscaler: binding ? { binding: binding.metadata.name!, mode: binding.status?.mode } : undefined,
        live: live(key),
      };
    })
    .sort((a, b) => (a.namespace === b.namespace ? a.name.localeCompare(b.name) : a.namespace.localeCompare(b.namespace)));
}

/** The model's pods, from the pod cache, with their latest per-pod figures out of the model's `latest` row. */
export function podSummaries(objects: Objects, model: string, latest: Record<string, number>): PodSummary[] {
  const owner = modelOfPods(objects);
  return objects.pods
    .filter((p) => owner.get(`${nsOf(p)}/${p.metadata.name}`) === model)
    .map((p): PodSummary => {
      const status = p.status as { phase?: string; podIP?: string; containerStatuses?: { restartCount?: number }[] } | undefined;
      const name = p.metadata.name!;
      const live: Record<string, number> = {};
      for (const field of ['pod_rps', 'kv', 'prefix', 'running', 'waiting']) {
        const v = latest[`${field}:${name}`];
        if (v !== undefined) live[field === 'pod_rps' ? 'rps' : field] = v;
      }
      return {
        name,
        modelInfer: p.metadata.labels?.[MODELINFER_NAME_LABEL] ?? '',
        role: p.metadata.labels?.[ROLE_LABEL],
        phase: isDeleting(p) ? 'Terminating' : (status?.phase ?? 'Pending'),
        ready: isPodReady(p),
        warm: p.metadata.labels?.[WARM_LABEL] === 'true',
        restarts: (status?.containerStatuses ?? []).reduce((sum, c) => sum + (c.restartCount ?? 0), 0),
        node: (p.spec as { nodeName?: string } | undefined)?.nodeName,
        ip: status?.podIP,
        created: p.metadata.creationTimestamp,
        live,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The decisions known so far merged with a status' `history` (its last 10): each decision once (same time, counts
 * and reason), oldest first, none older than `sinceMs`. The status keeps only 10; this keeps the hour's.
 */
export function mergeDecisions(known: readonly Decision[], history: readonly ScalingDecision[] | undefined, sinceMs: number): Decision[] {
  const seen = new Set(known.map(decisionId));
  const out = [...known];
  for (const h of history ?? []) {
    const at = Date.parse(h.time);
    if (!Number.isFinite(at)) continue;
    const d: Decision = { time: h.time, from: h.from, to: h.to, reason: h.reason, at };
    if (seen.has(decisionId(d))) continue;
    seen.add(decisionId(d));
    out.push(d);
  }
  return out.filter((d) => d.at >= sinceMs).sort((a, b) => a.at - b.at);
}

const decisionId = (d: ScalingDecision) => `${d.time}|${d.from}|${d.to}|${d.reason}`;
