// One small generic client over @kubernetes/client-node: the controllers address every resource by a
// ResourceType and get plain wire-format JSON objects back (timestamps as strings), whether the resource is a
// core kind (typed CoreV1Api underneath) or one of our custom resources (CustomObjectsApi underneath).
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Pod,
  type V1ConfigMap,
  type V1ServiceAccount,
  type V1Service,
} from '@kubernetes/client-node';
import type { KubeObject } from '../api/admission.ts';
import type { KindDefinition } from '../api/kind.ts';

export interface ResourceType {
  /** API group, '' for core. */
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

export const PODS: ResourceType = { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true };
export const SERVICES: ResourceType = { group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true };
/** Written by the StaticRoute controller (static_config.json). */
export const CONFIG_MAPS: ResourceType = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };
/** Listed and watched only (the gateway's TLS certificates and API keys). */
export const SECRETS: ResourceType = { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true };
export const SERVICE_ACCOUNTS: ResourceType = { group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true };
export const ROLE_BINDINGS: ResourceType = { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true };

export function resourceOf(kind: KindDefinition): ResourceType {
  return { group: kind.group, version: kind.version, kind: kind.kind, plural: kind.plural, namespaced: kind.scope === 'Namespaced' };
}

export function apiVersionOfResource(rt: ResourceType): string {
  return rt.group ? `${rt.group}/${rt.version}` : rt.version;
}

/** REST path of a collection (all namespaces when `namespace` is undefined), as used by list and watch. */
export function collectionPath(rt: ResourceType, namespace?: string): string {
  const base = rt.group ? `/apis/${rt.group}/${rt.version}` : `/api/${rt.version}`;
  const ns = rt.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${rt.plural}`;
}

export interface ObjectList {
  items: KubeObject[];
  metadata: { resourceVersion?: string };
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface DeleteOptions {
  /** Delete only if the object still has this uid (precondition). */
  uid?: string;
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  gracePeriodSeconds?: number;
}

/** HTTP status of an API error thrown by client-node, or undefined for other errors. */
export function apiStatus(err: unknown): number | undefined {
  if (err && typeof err === 'object') {
    const code = (err as { code?: unknown; statusCode?: unknown }).code ?? (err as { statusCode?: unknown }).statusCode;
    if (typeof code === 'number') return code;
  }
  return undefined;
}
export const isNotFound = (err: unknown): boolean => apiStatus(err) === 404;
export const isConflict = (err: unknown): boolean => apiStatus(err) === 409;
/** 4xx other than conflicts and throttling: retrying the same request will not help. */
export const isPermanent = (err: unknown): boolean => {
  const status = apiStatus(err);
  return status !== undefined && status >= 400 && status < 500 && status !== 409 && status !== 429 && status !== 408;
};

/** Typed client-node models → wire JSON (Dates become RFC 3339 strings, as they are on watch events). */
export function toWire<T>(value: unknown): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class KubeClient {
  readonly kubeConfig: KubeConfig;
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;

  constructor(kubeConfig: KubeConfig) {
    this.kubeConfig = kubeConfig;
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  async list(rt: ResourceType, options: ListOptions = {}): Promise<ObjectList> {
    const { namespace, labelSelector, fieldSelector } = options;
    if (rt.group === '') {
      const selectors = { labelSelector, fieldSelector };
      const result =
        rt.plural === 'pods'
          ? namespace
            ? await this.core.listNamespacedPod({ namespace, ...selectors })
            : await this.core.listPodForAllNamespaces(selectors)
          : rt.plural === 'services'
            ? namespace
              ? await this.core.listNamespacedService({ namespace, ...selectors })
              : await this.core.listServiceForAllNamespaces(selectors)
            : rt.plural === 'secrets'
              ? namespace
                ? await this.core.listNamespacedSecret({ namespace, ...selectors })
                : await this.core.listSecretForAllNamespaces(selectors)
              : rt.plural === 'configmaps'
                ? namespace
                  ? await this.core.listNamespacedConfigMap({ namespace, ...selectors })
                  : await this.core.listConfigMapForAllNamespaces(selectors)
                : rt.plural === 'serviceaccounts'
                  ? namespace
                    ? await this.core.listNamespacedServiceAccount({ namespace, ...selectors })
                    : await this.core.listServiceAccountForAllNamespaces(selectors)
                  : unsupported(rt);
      return toWire<ObjectList>(result);
    }
    const { group, version, plural } = rt;
    const result = namespace
      ? await this.custom.listNamespacedCustomObject({ group, version, plural, namespace, labelSelector, fieldSelector })
      : await this.custom.listClusterCustomObject({ group, version, plural, labelSelector, fieldSelector });
    const list = result as ObjectList;
    // Lists carry no apiVersion/kind per item on some servers; restore them for uniformity.
    for (const item of list.items ?? []) {
      item.apiVersion ??= apiVersionOfResource(rt);
      item.kind ??= rt.kind;
    }
    return { items: list.items ?? [], metadata: list.metadata ?? {} };
  }

  /** The live object, or undefined when it does not exist. */
  async get<T extends KubeObject = KubeObject>(rt: ResourceType, namespace: string, name: string): Promise<T | undefined> {
    try {
      if (rt.group === '') {
        if (rt.plural === 'pods') return toWire<T>(await this.core.readNamespacedPod({ name, namespace }));
        if (rt.plural === 'services') return toWire<T>(await this.core.readNamespacedService({ name, namespace }));
        if (rt.plural === 'configmaps') return toWire<T>(await this.core.readNamespacedConfigMap({ name, namespace }));
        if (rt.plural === 'serviceaccounts') return toWire<T>(await this.core.readNamespacedServiceAccount({ name, namespace }));
        unsupported(rt);
      }
      const { group, version, plural } = rt;
      return (await this.custom.getNamespacedCustomObject({ group, version, plural, namespace, name })) as T;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async create<T extends KubeObject = KubeObject>(rt: ResourceType, object: KubeObject): Promise<T> {
    const namespace = object.metadata.namespace ?? 'default';
    if (rt.group === '') {
      if (rt.plural === 'pods') return toWire<T>(await this.core.createNamespacedPod({ namespace, body: object as V1Pod }));
      if (rt.plural === 'services') return toWire<T>(await this.core.createNamespacedService({ namespace, body: object as V1Service }));
      if (rt.plural === 'configmaps') return toWire<T>(await this.core.createNamespacedConfigMap({ namespace, body: object as V1ConfigMap }));
      if (rt.plural === 'serviceaccounts') return toWire<T>(await this.core.createNamespacedServiceAccount({ namespace, body: object as V1ServiceAccount }));
      unsupported(rt);
    }
    const { group, version, plural } = rt;
    return (await this.custom.createNamespacedCustomObject({ group, version, plural, namespace, body: object })) as T;
  }

  /** PUT the whole object; `metadata.resourceVersion` makes it conditional (409 when stale). */
  async replace<T extends KubeObject = KubeObject>(rt: ResourceType, object: KubeObject): Promise<T> {
    const namespace = object.metadata.namespace ?? 'default';
    const name = object.metadata.name!;
    if (rt.group === '') {
      if (rt.plural === 'pods') return toWire<T>(await this.core.replaceNamespacedPod({ name, namespace, body: object as V1Pod }));
      if (rt.plural === 'services') return toWire<T>(await this.core.replaceNamespacedService({ name, namespace, body: object as V1Service }));
      if (rt.plural === 'configmaps') return toWire<T>(await this.core.replaceNamespacedConfigMap({ name, namespace, body: object as V1ConfigMap }));
      if (rt.plural === 'serviceaccounts') return toWire<T>(await this.core.replaceNamespacedServiceAccount({ name, namespace, body: object as V1ServiceAccount }));
      unsupported(rt);
    }
    const { group, version, plural } = rt;
    return (await this.custom.replaceNamespacedCustomObject({ group, version, plural, namespace, name, body: object })) as T;
  }

  /** JSON merge patch (RFC 7386) of the main resource. */
  async mergePatch<T extends KubeObject = KubeObject>(rt: ResourceType, namespace: string, name: string, patch: unknown): Promise<T> {
    if (rt.group === '') {
      if (rt.plural === 'pods') return toWire<T>(await this.core.patchNamespacedPod({ name, namespace, body: patch }, MERGE_PATCH));
      if (rt.plural === 'services') return toWire<T>(await this.core.patchNamespacedService({ name, namespace, body: patch }, MERGE_PATCH));
      unsupported(rt);
    }
    const { group, version, plural } = rt;
    return (await this.custom.patchNamespacedCustomObject({ group, version, plural, namespace, name, body: patch }, MERGE_PATCH)) as T;
  }

  /** JSON merge patch of the `status` subresource. */
  async mergePatchStatus<T extends KubeObject = KubeObject>(rt: ResourceType, namespace: string, name: string, patch: unknown): Promise<T> {
    if (rt.group === '') {
      if (rt.plural === 'pods') return toWire<T>(await this.core.patchNamespacedPodStatus({ name, namespace, body: patch }, MERGE_PATCH));
      if (rt.plural === 'services') return toWire<T>(await this.core.patchNamespacedServiceStatus({ name, namespace, body: patch }, MERGE_PATCH));
      unsupported(rt);
    }
    const { group, version, plural } = rt;
    return (await this.custom.patchNamespacedCustomObjectStatus({ group, version, plural, namespace, name, body: patch }, MERGE_PATCH)) as T;
  }

  /**
   * Set `spec.replicas` through the scale subresource (what an autoscaler may write, and nothing else of the object);
   * `resourceVersion`, when given, makes it conditional (409 when the object moved on). Custom resources only.
   */
  async patchScale(rt: ResourceType, namespace: string, name: string, replicas: number, resourceVersion?: string): Promise<void> {
    if (rt.group === '') unsupported(rt);
    const { group, version, plural } = rt;
    const body = { ...(resourceVersion ? { metadata: { resourceVersion } } : {}), spec: { replicas } };
    await this.custom.patchNamespacedCustomObjectScale({ group, version, plural, namespace, name, body }, MERGE_PATCH);
  }

  /** Delete; resolves false when the object was already gone. */
  async delete(rt: ResourceType, namespace: string, name: string, options: DeleteOptions = {}): Promise<boolean> {
    const body = {
      ...(options.uid ? { preconditions: { uid: options.uid } } : {}),
      ...(options.propagationPolicy ? { propagationPolicy: options.propagationPolicy } : {}),
      ...(options.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: options.gracePeriodSeconds } : {}),
    };
    try {
      if (rt.group === '') {
        if (rt.plural === 'pods') await this.core.deleteNamespacedPod({ name, namespace, body });
        else if (rt.plural === 'services') await this.core.deleteNamespacedService({ name, namespace, body });
        else if (rt.plural === 'configmaps') await this.core.deleteNamespacedConfigMap({ name, namespace, body });
        else if (rt.plural === 'serviceaccounts') await this.core.deleteNamespacedServiceAccount({ name, namespace, body });
        else unsupported(rt);
      } else {
        const { group, version, plural } = rt;
        await this.custom.deleteNamespacedCustomObject({ group, version, plural, namespace, name, body });
      }
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }
}

function unsupported(rt: ResourceType): never {
  throw new Error(`KubeClient: core resource ${rt.plural} is not supported`);
}
