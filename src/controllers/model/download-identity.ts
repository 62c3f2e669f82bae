// The identity the download step reports progress with on clusters: a ServiceAccount in each namespace that has
// Models, bound (RoleBinding) to the role the chart installs (get and patch pods: the step annotates its own Pod; a
// ClusterRole, or a Role in the one namespace the manager watches). Only the download init container gets the token: the engine pods do not automount it, and a projected
// volume mounts a short-lived token into that one container, so an engine (vLLM, SGLang, anything the user runs)
// never holds API credentials.
//
// Rules:
//  - shared by the Models of a namespace, so owned by none: created when missing, repaired when changed (a RoleBinding
//    whose roleRef differs is replaced: roleRef is immutable), never deleted (they go with the namespace);
//  - pure (no Kubernetes client: desired.ts, and through it the admission plugins of the embedded API server, import
//    it); the controller writes the objects with ensureDownloadIdentity (download-identity-sync.ts);
//  - off unless the controller manager is given the role (--download-role ClusterRole/NAME or Role/NAME, set by the
//    chart). Locally
//    the node agent hands the step its kubeconfig instead, and `up` has no RBAC.
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../../api/labels.ts';
import type { KubeObject } from '../../api/admission.ts';
import { DOWNLOAD_CONTAINER } from '../../registry/contract.ts';
import { deepEqual } from '../../kube/objects.ts';

export const DOWNLOAD_IDENTITY = 'matrixinfer-model-download';
export const DOWNLOAD_TOKEN_VOLUME = 'model-download-token';
/** Where client libraries (and @kubernetes/client-node's in-cluster config) look for the service account. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** An hour, renewed by the kubelet at 80 %: a download may take longer than the 10-minute minimum. */
const TOKEN_SECONDS = 3600;

export function desiredServiceAccount(namespace: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: DOWNLOAD_IDENTITY, namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } },
    automountServiceAccountToken: false,
  };
}

export interface RoleRef {
  kind: 'ClusterRole' | 'Role';
  name: string;
}

/** `ClusterRole/NAME` or `Role/NAME` (a bare name is a ClusterRole); throws on anything else. */
export function parseRoleRef(text: string): RoleRef {
  const match = /^(?:(ClusterRole|Role)\/)?([a-z0-9]([-a-z0-9.:]*[a-z0-9])?)$/.exec(text.trim());
  if (!match) throw new Error(`--download-role must be ClusterRole/NAME or Role/NAME, not ${JSON.stringify(text)}`);
  return { kind: (match[1] as RoleRef['kind'] | undefined) ?? 'ClusterRole', name: match[2]! };
}

export function desiredRoleBinding(namespace: string, role: RoleRef): KubeObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: DOWNLOAD_IDENTITY, namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: role.kind, name: role.name },
    subjects: [{ kind: 'ServiceAccount', name: DOWNLOAD_IDENTITY, namespace }],
  };
}

/** What to do about one shared object: nothing, create it, or replace it (delete, then create). */
export function identityAction(desired: KubeObject, live: KubeObject | undefined): 'none' | 'create' | 'replace' {
  if (!live) return 'create';
  const { apiVersion: _a, kind: _k, metadata: _m, ...want } = desired;
  return Object.entries(want).every(([key, value]) => deepEqual(value, (live as Record<string, unknown>)[key])) ? 'none' : 'replace';
}

/**
 * The pod template's part: the ServiceAccount without automounting, and its token projected into the download
 * container only (token, the cluster CA, the namespace: the files an in-cluster client reads).
 */
export function withDownloadIdentity(podSpec: Record<string, unknown>): Record<string, unknown> {
  const volume = {
    name: DOWNLOAD_TOKEN_VOLUME,
    projected: {
      defaultMode: 0o444,
      sources: [
        { serviceAccountToken: { path: 'token', expirationSeconds: TOKEN_SECONDS } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
    },
  };
  const initContainers = ((podSpec.initContainers ?? []) as Record<string, unknown>[]).map((c) =>
    c.name === DOWNLOAD_CONTAINER
      ? { ...c, volumeMounts: [...((c.volumeMounts ?? []) as unknown[]), { name: DOWNLOAD_TOKEN_VOLUME, mountPath: SERVICE_ACCOUNT_DIR, readOnly: true }] }
      : c,
  );
  return {
    ...podSpec,
    serviceAccountName: DOWNLOAD_IDENTITY,
    automountServiceAccountToken: false,
    initContainers,
    volumes: [...((podSpec.volumes ?? []) as unknown[]), volume],
  };
}
