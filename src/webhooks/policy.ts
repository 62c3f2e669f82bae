// The registry policy: a ConfigMap in the controller manager's namespace that narrows what Models may be admitted
// (source schemes and registries, a cap on GPUs) and how their pods run (safetensors only, where GPU pods go, which
// images need root). Read by the admission plugins through a PolicyProvider, so the embedded API server (its own
// storage) and the webhook server (an informer's cache) decide from the same ConfigMap with the same code.
//
// Rules:
//  - no ConfigMap: no policy (every rule off, the built-in defaults apply);
//  - every key optional; an empty value is the same as no key;
//  - a value that does not parse makes the policy `invalid`: Models are refused (naming the ConfigMap key) until it is
//    fixed, rather than admitted under a policy the administrator did not mean;
//  - pure: reading the ConfigMap is the provider's job, parsing is here.
import type { KubeObject, ObjectReader } from '../api/admission.ts';

/** The ConfigMap's name, in the controller manager's namespace. */
export const REGISTRY_POLICY_CONFIGMAP = 'matrixinfer-registry-policy';
/** Where the embedded API server (`matrixinfer up`) looks for it. */
export const LOCAL_POLICY_NAMESPACE = 'matrixinfer-system';

/** The ConfigMap keys (`data.<key>`). */
export const POLICY_KEYS = ['allowedSchemes', 'allowedSources', 'safetensorsOnly', 'maxGpusPerModel', 'gpuNodeSelector', 'rootImages'] as const;
export type PolicyKey = (typeof POLICY_KEYS)[number];

export interface RegistryPolicy {
  /** `namespace/name` of the ConfigMap, for messages. */
  source: string;
  /** Source URI schemes a Model may use (lower case; huggingface and hf are one scheme, a node path is file). */
  allowedSchemes?: readonly string[];
  /** URI prefixes a Model's source must start with (after the same normalisation). */
  allowedSources?: readonly string[];
  /** Only safetensors artifacts: the download step refuses anything else (`--safetensors-only`). */
  safetensorsOnly: boolean;
  /** The most GPUs one Model may hold at once: GPUs per pod × its most replicas. */
  maxGpusPerModel?: number;
  /** Node selector for GPU pods instead of the default (`{}`: none). */
  gpuNodeSelector?: Readonly<Record<string, string>>;
  /** More image repositories known to run as root (no runAsNonRoot default for their pods). */
  rootImages?: readonly string[];
}

export type PolicyState =
  | { state: 'none' }
  | { state: 'active'; policy: RegistryPolicy }
  /** `policy`: the keys that did parse, still applied to pods (a typo elsewhere must not drop safetensorsOnly). */
  | { state: 'invalid'; source: string; problems: readonly string[]; policy: RegistryPolicy }
  /** The webhook server has not read the ConfigMap yet: decisions that need it wait (are refused, to be retried). */
  | { state: 'unavailable'; reason: string };

/** What the plugins ask; called on every admission request, so it must be cheap (a cache lookup). */
export interface PolicyProvider {
  current(): PolicyState;
}

export const noPolicy: PolicyProvider = { current: () => ({ state: 'none' }) };

/** A fixed policy (tests, and anything that already holds the ConfigMap). */
export function fixedPolicy(configMap: KubeObject | undefined): PolicyProvider {
  const state = readPolicy(configMap);
  return { current: () => state };
}

/** The policy in `objects` (the embedded API server's storage), read at every call: a ConfigMap change applies at once. */
export function storedPolicy(objects: ObjectReader, namespace: string = LOCAL_POLICY_NAMESPACE): PolicyProvider {
  return { current: () => readPolicy(objects.get({ group: '', plural: 'configmaps' }, namespace, REGISTRY_POLICY_CONFIGMAP)) };
}

/** `huggingface://x` and `hf://x` are one source, as are `/x` and `file:///x`. */
export function normalizeUri(uri: string): string {
  const trimmed = uri.trim();
  if (trimmed.startsWith('/')) return `file://${trimmed}`;
  return trimmed.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//, (_, scheme: string) => `${normalizeScheme(scheme)}://`);
}

export function normalizeScheme(scheme: string): string {
  const lower = scheme.toLowerCase();
  return lower === 'huggingface' ? 'hf' : lower;
}

function list(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

/** Parses the ConfigMap; undefined (or one being deleted) is no policy. */
export function readPolicy(configMap: KubeObject | undefined): PolicyState {
  if (!configMap || configMap.metadata.deletionTimestamp) return { state: 'none' };
  const source = `${configMap.metadata.namespace ?? ''}/${configMap.metadata.name ?? REGISTRY_POLICY_CONFIGMAP}`;
  const data = (configMap.data ?? {}) as Record<string, unknown>;
  const problems: string[] = [];
  const policy: RegistryPolicy = { source, safetensorsOnly: false };
  const known = new Set<string>(POLICY_KEYS);
  for (const key of Object.keys(data)) {
    if (!known.has(key)) problems.push(`data.${key}: unknown key (known: ${POLICY_KEYS.join(', ')})`);
  }
  const value = (key: PolicyKey): string | undefined => {
    const v = data[key];
    if (v === undefined || v === null) return undefined;
    const text = String(v).trim();
    return text === '' ? undefined : text;
  };

  const schemes = value('allowedSchemes');
  if (schemes !== undefined) {
    const items = list(schemes).map((s) => s.replace(/:\/\/$/, ''));
    const bad = items.filter((s) => !/^[a-zA-Z][a-zA-Z0-9+.-]*$/.test(s));
    if (bad.length > 0) problems.push(`data.allowedSchemes: ${bad.map((b) => JSON.stringify(b)).join(', ')} is not a URI scheme (a comma list such as "hf,s3,pvc")`);
    policy.allowedSchemes = items.map(normalizeScheme);
  }
  const sources = value('allowedSources');
  if (sources !== undefined) {
    const items = list(sources);
    const bad = items.filter((s) => !s.startsWith('/') && !/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(s));
    if (bad.length > 0) problems.push(`data.allowedSources: ${bad.map((b) => JSON.stringify(b)).join(', ')} is not a URI prefix (scheme://… or /path)`);
    policy.allowedSources = items.map(normalizeUri);
  }
  const safetensors = value('safetensorsOnly');
  if (safetensors !== undefined) {
    if (safetensors !== 'true' && safetensors !== 'false') problems.push(`data.safetensorsOnly: ${JSON.stringify(safetensors)} must be "true" or "false"`);
    policy.safetensorsOnly = safetensors === 'true';
  }
  const gpus = value('maxGpusPerModel');
  if (gpus !== undefined) {
    if (!/^\d+$/.test(gpus)) problems.push(`data.maxGpusPerModel: ${JSON.stringify(gpus)} must be a whole number`);
    else policy.maxGpusPerModel = Number(gpus);
  }
  // Present but empty means "no selector", unlike the other keys.
  if (data.gpuNodeSelector !== undefined && data.gpuNodeSelector !== null) {
    const selector: Record<string, string> = {};
    for (const pair of list(String(data.gpuNodeSelector))) {
      const at = pair.indexOf('=');
      const key = at < 0 ? '' : pair.slice(0, at).trim();
      if (!key) problems.push(`data.gpuNodeSelector: ${JSON.stringify(pair)} must be key=value`);
      else selector[key] = pair.slice(at + 1).trim();
    }
    policy.gpuNodeSelector = selector;
  }
  const root = value('rootImages');
  if (root !== undefined) policy.rootImages = list(root).map((s) => s.toLowerCase());

  return problems.length > 0 ? { state: 'invalid', source, problems, policy } : { state: 'active', policy };
}

/**
 * The policy pods are defaulted under: the active one, or what parsed of an invalid one (Models are refused then,
 * but the pods of Models admitted earlier keep e.g. --safetensors-only); undefined when there is none or it has not
 * been read (ModelInfers with a download step are refused then: see createAdmissionPlugins).
 */
export function podPolicy(provider: PolicyProvider): RegistryPolicy | undefined {
  const state = provider.current();
  return state.state === 'active' || state.state === 'invalid' ? state.policy : undefined;
}
