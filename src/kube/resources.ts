// A container's compute resources checked as the API server checks a Pod's (ValidateResourceRequirements in
// kubernetes/pkg/apis/core/validation): names, quantities that parse and are not negative, whole numbers for extended
// resources, and requests within limits. Used for Pods by the embedded API server and, by the admission plugins, for
// every place our kinds carry resources that end up in a Pod.
import type { FieldError } from '../api/admission.ts';
import { formatQuantity, readQuantity, type Quantity } from './units.ts';

const STANDARD_CONTAINER_RESOURCES = new Set(['cpu', 'memory', 'ephemeral-storage']);

const isHugePages = (name: string): boolean => name.startsWith('hugepages-');
/** No domain, or the kubernetes.io one (helper.IsNativeResource). */
const isNative = (name: string): boolean => !name.includes('/') || name.includes('kubernetes.io/');
/** Requests may be below limits only for native resources other than huge pages; the rest must match. */
export const isOvercommitAllowed = (name: string): boolean => isNative(name) && !isHugePages(name);

export interface ResourceRules {
  /**
   * A request without a limit is fine for every resource, because the limit is filled in from the request before a
   * Pod is made (Model runtime resources: see engineResources). Pods and pod templates need the limit.
   */
  limitsFromRequests?: boolean;
}

const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

function readList(list: unknown, path: string, errors: FieldError[]): Map<string, Quantity> {
  const read = new Map<string, Quantity>();
  for (const [name, value] of Object.entries(obj(list))) {
    const field = `${path}[${name}]`;
    if (!name.includes('/') && !STANDARD_CONTAINER_RESOURCES.has(name) && !isHugePages(name)) {
      errors.push({ field, type: 'Invalid value', value: name, detail: 'must be a standard resource for containers' });
    }
    let quantity: Quantity;
    try {
      if (typeof value !== 'string' && typeof value !== 'number') throw new Error('must be a quantity');
      quantity = readQuantity(value);
    } catch (err) {
      errors.push({ field, type: 'Invalid value', value, detail: (err as Error).message });
      continue;
    }
    if (quantity.nanos < 0n) errors.push({ field, type: 'Invalid value', value: formatQuantity(quantity), detail: 'must be greater than or equal to 0' });
    if (!isNative(name) && quantity.nanos % 1_000_000_000n !== 0n) errors.push({ field, type: 'Invalid value', value: formatQuantity(quantity), detail: 'must be an integer' });
    read.set(name, quantity);
  }
  return read;
}

/** The errors of one `resources` object at `path` (e.g. `spec.containers[0].resources`), worded as the API server's. */
export function validateResourceRequirements(resources: unknown, path: string, rules: ResourceRules = {}): FieldError[] {
  const errors: FieldError[] = [];
  const res = obj(resources);
  const limits = readList(res.limits, `${path}.limits`, errors);
  const requests = readList(res.requests, `${path}.requests`, errors);
  for (const [name, request] of requests) {
    const limit = limits.get(name);
    if (limit === undefined) {
      if (!isOvercommitAllowed(name) && !rules.limitsFromRequests) {
        errors.push({ field: `${path}.limits`, type: 'Required value', detail: 'Limit must be set for non overcommitable resources' });
      }
    } else if (request.nanos !== limit.nanos && !isOvercommitAllowed(name)) {
      errors.push({ field: `${path}.requests`, type: 'Invalid value', value: formatQuantity(request), detail: `must be equal to ${name} limit of ${formatQuantity(limit)}` });
    } else if (request.nanos > limit.nanos) {
      errors.push({ field: `${path}.requests`, type: 'Invalid value', value: formatQuantity(request), detail: `must be less than or equal to ${name} limit of ${formatQuantity(limit)}` });
    }
  }
  return errors;
}

/** Every container's and init container's resources in a PodSpec at `path` (`spec`, `spec.roles[0].template.spec`). */
export function validatePodSpecResources(spec: unknown, path: string): FieldError[] {
  const errors: FieldError[] = [];
  for (const list of ['containers', 'initContainers']) {
    const containers = obj(spec)[list];
    if (!Array.isArray(containers)) continue;
    containers.forEach((container, i) => errors.push(...validateResourceRequirements(obj(container).resources, `${path}.${list}[${i}].resources`)));
  }
  return errors;
}
