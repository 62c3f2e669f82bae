// admission.k8s.io/v1 AdmissionReview over the project's AdmissionPlugins: the webhook transport of the very same
// rules the embedded API server runs inline. A denial carries the Status the embedded server would return (422
// Invalid, `Kind.group "name" is invalid: ...`, causes); kube-apiserver passes it on prefixed with
// `admission webhook "<name>" denied the request: `. A mutation answers with a JSONPatch.
import type { AdmissionOperation, AdmissionPlugin, AdmissionRequest, FieldError, KubeObject } from '../api/admission.ts';
import { invalid, type Status } from '../apiserver/errors.ts';
import { createJsonPatch } from './jsonpatch.ts';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export interface AdmissionReviewRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  resource: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: AdmissionOperation | 'CONNECT';
  object?: KubeObject | null;
  oldObject?: KubeObject | null;
  dryRun?: boolean;
}

export interface AdmissionReview {
  apiVersion: string;
  kind: 'AdmissionReview';
  request?: AdmissionReviewRequest;
  response?: AdmissionReviewResponse;
}

export interface AdmissionReviewResponse {
  uid: string;
  allowed: boolean;
  status?: Partial<Status>;
  patchType?: 'JSONPatch';
  /** base64 of the JSON Patch document. */
  patch?: string;
  warnings?: string[];
}

export type AdmissionMode = 'validate' | 'mutate';

function toPluginRequest(request: AdmissionReviewRequest, object: KubeObject | undefined): AdmissionRequest {
  const out: AdmissionRequest = {
    operation: request.operation as AdmissionOperation,
    group: request.kind.group,
    version: request.kind.version,
    kind: request.kind.kind,
    resource: request.resource.resource,
    name: request.name ?? object?.metadata?.name ?? '',
  };
  if (request.subResource) out.subResource = request.subResource;
  if (request.namespace) out.namespace = request.namespace;
  if (object) out.object = object;
  if (request.oldObject) out.oldObject = request.oldObject;
  return out;
}

/** Answer one AdmissionReview. Throws only on a malformed review (the HTTP layer answers 400). */
export function reviewAdmission(review: AdmissionReview, plugins: readonly AdmissionPlugin[], mode: AdmissionMode): AdmissionReview {
  const request = review?.request;
  if (!request || typeof request.uid !== 'string' || !request.kind) throw new Error('not an AdmissionReview request');
  const respond = (response: Omit<AdmissionReviewResponse, 'uid'>): AdmissionReview => ({
    apiVersion: ADMISSION_API_VERSION,
    kind: 'AdmissionReview',
    response: { uid: request.uid, ...response },
  });
  const matching = plugins.filter((p) => p.group === request.kind.group && p.kind === request.kind.kind);
  const object = request.object ?? undefined;
  if (matching.length === 0 || !object || (request.operation !== 'CREATE' && request.operation !== 'UPDATE')) return respond({ allowed: true });

  if (mode === 'mutate') {
    let current = structuredClone(object);
    for (const plugin of matching) {
      if (plugin.mutate) current = plugin.mutate(toPluginRequest(request, current));
    }
    const patch = createJsonPatch(object, current);
    if (patch.length === 0) return respond({ allowed: true });
    return respond({ allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') });
  }

  const errors: FieldError[] = [];
  for (const plugin of matching) {
    if (plugin.validate) errors.push(...plugin.validate(toPluginRequest(request, object)));
  }
  if (errors.length === 0) return respond({ allowed: true });
  const name = object.metadata?.name ?? object.metadata?.generateName ?? request.name ?? '';
  const status = invalid(request.kind.group, request.kind.kind, name, errors).toStatus();
  return respond({ allowed: false, status });
}
