// The ValidatingWebhookConfiguration and MutatingWebhookConfiguration that route admission of our kinds to the
// webhook server: one webhook per API group (the registry webhook, the ModelInfer webhook, the networking webhook),
// failurePolicy Fail, sideEffects None, admissionReviewVersions [v1], with the CA bundle of the serving certificate.
import { createHash } from 'node:crypto';
import {
  AdmissionregistrationV1Api,
  type KubeConfig,
  type V1MutatingWebhookConfiguration,
  type V1ValidatingWebhookConfiguration,
  type AdmissionregistrationV1WebhookClientConfig,
} from '@kubernetes/client-node';
import type { AdmissionPlugin } from '../api/admission.ts';
import { ALL_KINDS } from '../api/kinds/index.ts';
import { isConflict, isNotFound } from '../kube/client.ts';

export const VALIDATING_CONFIGURATION_NAME = 'matrixinfer-validating-webhook';
export const MUTATING_CONFIGURATION_NAME = 'matrixinfer-mutating-webhook';
export const VALIDATE_PATH = '/validate';
export const MUTATE_PATH = '/mutate';
const HASH_ANNOTATION = 'matrixinfer.ai/webhook-config-hash';

export interface WebhookEndpoint {
  /** Base URL the API server calls (`https://127.0.0.1:9443`): for API servers that cannot reach Services. */
  url?: string;
  /** The Service in front of the webhook server (the form used on clusters). */
  service?: { namespace: string; name: string; port: number };
}

export interface ConfigurationOptions {
  plugins: readonly AdmissionPlugin[];
  endpoint: WebhookEndpoint;
  caBundle: string;
  failurePolicy?: 'Fail' | 'Ignore';
  timeoutSeconds?: number;
  validatingName?: string;
  mutatingName?: string;
}

function clientConfig(endpoint: WebhookEndpoint, path: string, caBundle: string): AdmissionregistrationV1WebhookClientConfig {
  const bundle = Buffer.from(caBundle).toString('base64');
  if (endpoint.url) return { url: endpoint.url.replace(/\/$/, '') + path, caBundle: bundle };
  if (!endpoint.service) throw new Error('webhook endpoint needs a url or a service');
  return { service: { ...endpoint.service, path }, caBundle: bundle };
}

/** Groups (in a stable order) with the plural resources of the plugins that have `has`. */
function groupsWith(plugins: readonly AdmissionPlugin[], has: (p: AdmissionPlugin) => boolean): Map<string, { resources: string[]; versions: string[] }> {
  const groups = new Map<string, { resources: string[]; versions: string[] }>();
  for (const plugin of plugins.filter(has)) {
    const kind = ALL_KINDS.find((k) => k.group === plugin.group && k.kind === plugin.kind);
    if (!kind) continue;
    const entry = groups.get(plugin.group) ?? { resources: [], versions: [] };
    if (!entry.resources.includes(kind.plural)) entry.resources.push(kind.plural);
    if (!entry.versions.includes(kind.version)) entry.versions.push(kind.version);
    groups.set(plugin.group, entry);
  }
  return new Map([...groups].sort(([a], [b]) => a.localeCompare(b)));
}

function webhooks(options: ConfigurationOptions, mode: 'validate' | 'mutate') {
  const groups = groupsWith(options.plugins, (p) => (mode === 'validate' ? !!p.validate : !!p.mutate));
  return [...groups].map(([group, { resources, versions }]) => ({
    name: `${mode === 'validate' ? 'validate' : 'default'}.${group}`,
    clientConfig: clientConfig(options.endpoint, mode === 'validate' ? VALIDATE_PATH : MUTATE_PATH, options.caBundle),
    rules: [{ apiGroups: [group], apiVersions: versions, operations: ['CREATE', 'UPDATE'], resources, scope: 'Namespaced' }],
    failurePolicy: options.failurePolicy ?? 'Fail',
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    matchPolicy: 'Equivalent',
    timeoutSeconds: options.timeoutSeconds ?? 10,
    ...(mode === 'mutate' ? { reinvocationPolicy: 'IfNeeded' } : {}),
  }));
}

export function desiredValidatingConfiguration(options: ConfigurationOptions): V1ValidatingWebhookConfiguration {
  return withHash({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: options.validatingName ?? VALIDATING_CONFIGURATION_NAME, labels: { 'app.kubernetes.io/part-of': 'matrixinfer' } },
    webhooks: webhooks(options, 'validate'),
  } as V1ValidatingWebhookConfiguration);
}

export function desiredMutatingConfiguration(options: ConfigurationOptions): V1MutatingWebhookConfiguration {
  return withHash({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: options.mutatingName ?? MUTATING_CONFIGURATION_NAME, labels: { 'app.kubernetes.io/part-of': 'matrixinfer' } },
    webhooks: webhooks(options, 'mutate'),
  } as V1MutatingWebhookConfiguration);
}

function withHash<T extends { metadata?: { annotations?: Record<string, string> }; webhooks?: unknown }>(config: T): T {
  const hash = createHash('sha256').update(JSON.stringify(config.webhooks)).digest('hex').slice(0, 16);
  config.metadata!.annotations = { ...(config.metadata!.annotations ?? {}), [HASH_ANNOTATION]: hash };
  return config;
}

type AnyConfiguration = V1ValidatingWebhookConfiguration | V1MutatingWebhookConfiguration;

function upToDate(existing: AnyConfiguration, desired: AnyConfiguration): boolean {
  if (existing.metadata?.annotations?.[HASH_ANNOTATION] !== desired.metadata?.annotations?.[HASH_ANNOTATION]) return false;
  // Someone may have edited the live object (e.g. a stale caBundle): compare what matters per webhook.
  const live = existing.webhooks ?? [];
  const want = desired.webhooks ?? [];
  return live.length === want.length && want.every((w, i) => live[i]?.name === w.name && live[i]?.clientConfig?.caBundle === w.clientConfig.caBundle && live[i]?.failurePolicy === w.failurePolicy);
}

/** Create or update both configurations; returns what was done to each. */
export async function ensureWebhookConfigurations(kubeConfig: KubeConfig, options: ConfigurationOptions): Promise<{ validating: string; mutating: string }> {
  const api = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const validating = desiredValidatingConfiguration(options);
  const mutating = desiredMutatingConfiguration(options);
  const result = { validating: 'unchanged', mutating: 'unchanged' };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      result.validating = await ensureOne(
        validating,
        (name) => api.readValidatingWebhookConfiguration({ name }),
        (body) => api.createValidatingWebhookConfiguration({ body }),
        (name, body) => api.replaceValidatingWebhookConfiguration({ name, body }),
      );
      result.mutating = await ensureOne(
        mutating,
        (name) => api.readMutatingWebhookConfiguration({ name }),
        (body) => api.createMutatingWebhookConfiguration({ body }),
        (name, body) => api.replaceMutatingWebhookConfiguration({ name, body }),
      );
      return result;
    } catch (err) {
      // Another replica wrote first: read again and compare.
      if (!isConflict(err) || attempt === 4) throw err;
    }
  }
  return result;
}

async function ensureOne<T extends AnyConfiguration>(desired: T, read: (name: string) => Promise<T>, create: (body: T) => Promise<T>, replace: (name: string, body: T) => Promise<T>): Promise<string> {
  const name = desired.metadata!.name!;
  let existing: T | undefined;
  try {
    existing = await read(name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  if (!existing) {
    await create(desired);
    return 'created';
  }
  if (upToDate(existing, desired)) return 'unchanged';
  await replace(name, { ...desired, metadata: { ...existing.metadata, ...desired.metadata, resourceVersion: existing.metadata?.resourceVersion } });
  return 'updated';
}

export async function deleteWebhookConfigurations(kubeConfig: KubeConfig, names: { validating?: string; mutating?: string } = {}): Promise<void> {
  const api = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  for (const run of [
    () => api.deleteValidatingWebhookConfiguration({ name: names.validating ?? VALIDATING_CONFIGURATION_NAME }),
    () => api.deleteMutatingWebhookConfiguration({ name: names.mutating ?? MUTATING_CONFIGURATION_NAME }),
  ]) {
    try {
      await run();
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
