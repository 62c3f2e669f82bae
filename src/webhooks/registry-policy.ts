// The registry webhook's Model rules beyond the schema: the source (it parses, a revision only where a store has
// revisions, an adapter only from stores adapters are fetched from), GPUs as whole devices, the registry policy
// ConfigMap (policy.ts), and the Model's defaults (the engine resolved from the image).
//
// Rules: every refusal names the field path and the reason, and a policy refusal also names the ConfigMap and its
// key; defaults are idempotent and never overwrite what the user set. On UPDATE a rule holds only for what changes
// (ratcheting, as Kubernetes does for CRD validation): a Model stored before a rule or a stricter policy can still be
// relabelled, have its finalizers removed and be deleted; only changing the field brings the rule to bear.
import type { FieldError } from '../api/admission.ts';
import type { Model } from '../api/kinds/index.ts';
import { engineOf } from '../controllers/model/desired.ts';
import { readQuantity } from '../kube/units.ts';
import { InvalidSourceError, parseSource, type Source } from '../registry/source.ts';
import { normalizeScheme, normalizeUri, type PolicyProvider, type RegistryPolicy } from './policy.ts';

const URI_FIELD = 'spec.modelSpec.source.uri';

/** Stores a LoRA adapter can be loaded from today (object stores are not fetched for adapters yet). */
const ADAPTER_STORES: ReadonlySet<Source['store']> = new Set(['huggingface', 'pvc', 'local']);

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** The parsed source, or the refusal naming what is wrong with the URI (not on an UPDATE that keeps the source). */
export function checkSource(model: Model, errors: FieldError[], old?: Model): Source | undefined {
  const source = model.spec.modelSpec?.source;
  if (typeof source?.uri !== 'string' || source.uri === '') return undefined;
  const unchanged = old !== undefined && sameJson(old.spec?.modelSpec?.source, source) && sameJson(old.spec?.modelSpec?.baseModelRef, model.spec.modelSpec?.baseModelRef);
  let parsed: Source;
  try {
    parsed = parseSource(source.uri, source.revision);
  } catch (err) {
    if (!(err instanceof InvalidSourceError)) throw err;
    if (!unchanged) errors.push({ field: URI_FIELD, type: 'Invalid value', value: source.uri, detail: err.message });
    return undefined;
  }
  if (unchanged) return parsed;
  if (source.revision !== undefined && parsed.store !== 'huggingface') {
    errors.push({ field: 'spec.modelSpec.source.revision', type: 'Forbidden', detail: `only huggingface:// and hf:// sources have revisions; ${parsed.store} sources are versioned by their URI` });
  }
  if (model.spec.modelSpec?.baseModelRef?.name && !ADAPTER_STORES.has(parsed.store)) {
    errors.push({
      field: URI_FIELD,
      type: 'Unsupported value',
      value: source.uri,
      detail: `a LoRA adapter is loaded from huggingface:// or hf://, pvc:// or a node path (file:// or /path); ${parsed.store} sources are not fetched for adapters yet`,
    });
  }
  return parsed;
}

const isGpu = (name: string): boolean => /(^|\/)gpu$/.test(name);

/** GPUs of one container's resources (limits, else requests, as the scheduler counts them); undefined entries skipped. */
export function gpusOf(resources: unknown): number {
  const res = (resources ?? {}) as { limits?: Record<string, unknown>; requests?: Record<string, unknown> };
  const names = new Set([...Object.keys(res.limits ?? {}), ...Object.keys(res.requests ?? {})].filter(isGpu));
  let total = 0;
  for (const name of names) {
    const value = res.limits?.[name] ?? res.requests?.[name];
    try {
      const q = readQuantity(value as string | number);
      if (q.nanos > 0n) total += Number(q.nanos / 1_000_000_000n);
    } catch {
      // validateResourceRequirements reports it.
    }
  }
  return total;
}

/**
 * GPUs are whole devices, whatever the vendor (`nvidia.com/gpu`, `amd.com/gpu`, ...): validateResourceRequirements
 * already says "must be an integer" for extended resources; this covers a `*\/gpu` name in a native domain.
 */
export function checkWholeGpus(resources: unknown, path: string): FieldError[] {
  const errors: FieldError[] = [];
  const res = (resources ?? {}) as Record<string, Record<string, unknown> | undefined>;
  for (const list of ['limits', 'requests'] as const) {
    for (const [name, value] of Object.entries(res[list] ?? {})) {
      if (!isGpu(name) || !name.includes('kubernetes.io/')) continue;
      try {
        const q = readQuantity(value as string | number);
        if (q.nanos % 1_000_000_000n !== 0n) errors.push({ field: `${path}.${list}[${name}]`, type: 'Invalid value', value, detail: 'GPUs are whole devices: must be an integer' });
      } catch {
        // reported as a quantity that does not parse
      }
    }
  }
  return errors;
}

/** The most replicas a Model can have at once, and the field that sets it. */
function mostReplicas(model: Model): { replicas: number; field: string } {
  const autoscaling = model.spec.autoscaling;
  if (autoscaling) return { replicas: Math.max(autoscaling.maxReplicas ?? 1, autoscaling.minReplicas ?? 1), field: 'spec.autoscaling.maxReplicas' };
  return { replicas: model.spec.runtime?.replicas ?? 1, field: 'spec.runtime.replicas' };
}

const policyRef = (policy: RegistryPolicy, key: string) => `the registry policy's ${key} (ConfigMap ${policy.source})`;

/** GPUs a Model can hold at once: GPUs per pod × its most replicas. */
function gpuTotal(model: Model): { perPod: number; replicas: number; field: string; total: number } {
  const perPod = gpusOf(model.spec.runtime?.resources);
  const { replicas, field } = mostReplicas(model);
  return { perPod, replicas, field, total: perPod * replicas };
}

/**
 * The registry policy's rules on one Model; `source` is its parsed source (undefined when it does not parse). On
 * UPDATE (`old`): nothing for a Model being deleted or whose spec is unchanged, the source rules only when the URI
 * changes, the GPU cap only when the total grows.
 */
export function checkPolicy(model: Model, source: Source | undefined, provider: PolicyProvider, old?: Model): FieldError[] {
  if (old && (model.metadata.deletionTimestamp || sameJson(old.spec, model.spec))) return [];
  const state = provider.current();
  if (state.state === 'none') return [];
  if (state.state === 'unavailable') {
    return [{ field: 'spec', type: 'Forbidden', detail: `the registry policy is not loaded yet (${state.reason}); retry` }];
  }
  if (state.state === 'invalid') {
    return [{ field: 'spec', type: 'Forbidden', detail: `the registry policy ConfigMap ${state.source} is invalid, so no Model is admitted until it is fixed: ${state.problems.join('; ')}` }];
  }
  const policy = state.policy;
  const errors: FieldError[] = [];
  const uri = model.spec.modelSpec?.source?.uri;
  if (source && typeof uri === 'string' && uri !== old?.spec?.modelSpec?.source?.uri) {
    const normalized = normalizeUri(uri);
    const scheme = normalizeScheme(normalized.slice(0, normalized.indexOf('://')));
    if (policy.allowedSchemes && !policy.allowedSchemes.includes(scheme)) {
      errors.push({ field: URI_FIELD, type: 'Forbidden', detail: `scheme ${scheme}:// is not allowed by ${policyRef(policy, 'allowedSchemes')}: ${policy.allowedSchemes.join(', ')}` });
    }
    if (policy.allowedSources && !policy.allowedSources.some((prefix) => normalized.startsWith(prefix))) {
      errors.push({ field: URI_FIELD, type: 'Forbidden', detail: `${JSON.stringify(uri)} is not under ${policyRef(policy, 'allowedSources')}: ${policy.allowedSources.join(', ')}` });
    }
  }
  if (policy.maxGpusPerModel !== undefined && model.spec.runtime) {
    const { perPod, replicas, field, total } = gpuTotal(model);
    if (total > policy.maxGpusPerModel && !(old && total <= gpuTotal(old).total)) {
      errors.push({
        field: 'spec.runtime.resources',
        type: 'Forbidden',
        detail: `${perPod} GPUs per pod × ${replicas} replicas (${field}) = ${total} GPUs, above ${policyRef(policy, 'maxGpusPerModel')}: ${policy.maxGpusPerModel}`,
      });
    }
  }
  return errors;
}

/**
 * Model defaults: `runtime.engine` resolved from the image, so what the controller runs is visible on the Model.
 * A Hugging Face revision is not defaulted: it would outlive a later change of the URI to a store without
 * revisions, and "main" is what the downloader uses anyway.
 *
 * On UPDATE an engine that is exactly what the old image resolved to, kept while the image changes, is taken for
 * our earlier default (a `kubectl apply` does not carry it) and resolved again from the new image.
 */
export function defaultModel(model: Model, old: Model | undefined): void {
  const runtime = model.spec.runtime;
  if (!runtime || typeof runtime !== 'object' || typeof runtime.image !== 'string') return;
  const before = old?.spec?.runtime;
  const wasDefault = before?.engine !== undefined && typeof before.image === 'string' && before.engine === engineOf({ image: before.image })
    && runtime.engine === before.engine && runtime.image !== before.image;
  if (runtime.engine === undefined || wasDefault) runtime.engine = engineOf({ image: runtime.image });
}
