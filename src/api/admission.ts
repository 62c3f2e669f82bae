// The admission contract shared by the embedded API server (which runs plugins inline) and the
// webhook server for real clusters (which wraps the same plugins in AdmissionReview over TLS).
// One implementation of each rule, two transports.

/** A Kubernetes object as it travels over the wire. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  managedFields?: unknown[];
}

/** Kubernetes' field error types (k8s.io/apimachinery/pkg/util/validation/field), as rendered in messages. */
export type FieldErrorType =
  | 'Required value'
  | 'Invalid value'
  | 'Unsupported value'
  | 'Forbidden'
  | 'Duplicate value'
  | 'Too long'
  | 'Too many'
  | 'Field value not found';

export interface FieldError {
  /** Dotted path with [i] indexes, e.g. `spec.modelSpec.source.uri` or `spec.rules[0].targetModels`. */
  field: string;
  type: FieldErrorType;
  /** Extra detail after the type, e.g. `must be one of "vLLM", "SGLang"`. */
  detail?: string;
  /** The offending value, shown for Invalid/Unsupported values. */
  value?: unknown;
}

export type AdmissionOperation = 'CREATE' | 'UPDATE' | 'DELETE';

export interface AdmissionRequest {
  operation: AdmissionOperation;
  group: string;
  version: string;
  kind: string;
  /** Plural resource name, e.g. `models`. */
  resource: string;
  /** `status` for the status subresource; absent for the main resource. */
  subResource?: string;
  namespace?: string;
  name: string;
  /** The object after the operation (absent on DELETE). */
  object?: KubeObject;
  /** The stored object before the operation (absent on CREATE). */
  oldObject?: KubeObject;
}

/**
 * One admission plugin for one kind. `mutate` returns the defaulted object (it may modify and return
 * its argument); `validate` returns every problem found, an empty list when the object is valid.
 */
export interface AdmissionPlugin {
  group: string;
  kind: string;
  mutate?(request: AdmissionRequest): KubeObject;
  validate?(request: AdmissionRequest): FieldError[];
}

/**
 * Read access to stored objects for plugins that decide by configuration held in the cluster (the registry policy
 * ConfigMap): the embedded API server reads its own storage; the webhook server an informer's cache. Synchronous,
 * because admission is; the returned object must not be modified.
 */
export interface ObjectReader {
  get(resource: { group: string; plural: string }, namespace: string, name: string): KubeObject | undefined;
}

/** Render one field error exactly as kube-apiserver does: `spec.x: Required value`, `spec.y: Invalid value: "z": detail`. */
export function formatFieldError(error: FieldError): string {
  const showValue = error.value !== undefined && (error.type === 'Invalid value' || error.type === 'Unsupported value' || error.type === 'Duplicate value' || error.type === 'Field value not found');
  const value = showValue ? `: ${JSON.stringify(error.value)}` : '';
  const detail = error.detail ? `: ${error.detail}` : '';
  return `${error.field}: ${error.type}${value}${detail}`;
}
