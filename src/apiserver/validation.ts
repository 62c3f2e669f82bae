// Validation shared by all kinds: ObjectMeta rules and the name formats of k8s.io/apimachinery/pkg/util/validation,
// with the same messages, so a 422 reads the same from both servers.
import type { FieldError, KubeObject, ObjectMeta } from '../api/admission.ts';
import { isObject } from './meta.ts';

export type NameValidator = (name: string, prefix: boolean) => string[];

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const DNS1123_LABEL_MSG = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_LABEL_MSG = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_NAME_MSG = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

// generateName prefixes may end in '-' (the random suffix follows); the real validators mask it the same way.
const maskDash = (name: string, prefix: boolean) => (prefix && name.endsWith('-') ? name.slice(0, -1) + 'a' : name);

export function isDNS1123Label(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push('must be no more than 63 characters');
  if (!DNS1123_LABEL.test(value)) errs.push(DNS1123_LABEL_MSG);
  return errs;
}

export function isDNS1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 253) errs.push('must be no more than 253 characters');
  if (!DNS1123_SUBDOMAIN.test(value)) errs.push(DNS1123_SUBDOMAIN_MSG);
  return errs;
}

export function isDNS1035Label(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push('must be no more than 63 characters');
  if (!DNS1035_LABEL.test(value)) errs.push(DNS1035_LABEL_MSG);
  return errs;
}

export const nameIsDNSSubdomain: NameValidator = (name, prefix) => isDNS1123Subdomain(maskDash(name, prefix));
export const nameIsDNSLabel: NameValidator = (name, prefix) => isDNS1123Label(maskDash(name, prefix));
export const nameIsDNS1035Label: NameValidator = (name, prefix) => isDNS1035Label(maskDash(name, prefix));
/** Path-segment names (leases, events): anything that is not `.`, `..` and has no `/` or `%`. */
export const nameIsPathSegment: NameValidator = (name) => {
  if (name === '.' || name === '..') return [`may not be '${name}'`];
  if (/[/%]/.test(name)) return [`may not contain '${name.includes('/') ? '/' : '%'}'`];
  return [];
};

export function isQualifiedName(value: string): string[] {
  const parts = value.split('/');
  let name = value;
  const errs: string[] = [];
  if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else errs.push(...isDNS1123Subdomain(prefix).map((m) => `prefix part ${m}`));
  } else if (parts.length > 2) {
    return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"];
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (name.length > 63) errs.push('name part must be no more than 63 characters');
  if (name.length > 0 && !QUALIFIED_NAME.test(name)) errs.push(QUALIFIED_NAME_MSG);
  return errs;
}

export function isValidLabelValue(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push('must be no more than 63 characters');
  if (!LABEL_VALUE.test(value)) errs.push(LABEL_VALUE_MSG);
  return errs;
}

export function validateLabels(labels: unknown, field: string): FieldError[] {
  const errs: FieldError[] = [];
  if (labels === undefined || labels === null) return errs;
  if (!isObject(labels)) return [{ field, type: 'Invalid value', value: labels, detail: 'must be a map of strings' }];
  for (const [k, v] of Object.entries(labels)) {
    for (const m of isQualifiedName(k)) errs.push({ field, type: 'Invalid value', value: k, detail: m });
    if (typeof v !== 'string') errs.push({ field: `${field}.${k}`, type: 'Invalid value', value: v, detail: 'must be a string' });
    else for (const m of isValidLabelValue(v)) errs.push({ field, type: 'Invalid value', value: v, detail: m });
  }
  return errs;
}

const TOTAL_ANNOTATION_SIZE = 256 * 1024;

export function validateAnnotations(annotations: unknown, field: string): FieldError[] {
  const errs: FieldError[] = [];
  if (annotations === undefined || annotations === null) return errs;
  if (!isObject(annotations)) return [{ field, type: 'Invalid value', value: annotations, detail: 'must be a map of strings' }];
  let size = 0;
  for (const [k, v] of Object.entries(annotations)) {
    for (const m of isQualifiedName(k.toLowerCase())) errs.push({ field, type: 'Invalid value', value: k, detail: m });
    if (typeof v !== 'string') errs.push({ field: `${field}.${k}`, type: 'Invalid value', value: v, detail: 'must be a string' });
    size += k.length + (typeof v === 'string' ? v.length : 0);
  }
  if (size > TOTAL_ANNOTATION_SIZE) errs.push({ field, type: 'Too long', detail: `must have at most ${TOTAL_ANNOTATION_SIZE} bytes` });
  return errs;
}

/** ValidateObjectMeta: names, labels, annotations, owner references, finalizers. */
export function validateObjectMeta(obj: KubeObject, namespaced: boolean, nameValidator: NameValidator): FieldError[] {
  const meta = obj.metadata as ObjectMeta;
  const errs: FieldError[] = [];
  for (const k of ['name', 'generateName', 'namespace', 'uid', 'resourceVersion'] as const) {
    if (meta[k] !== undefined && typeof meta[k] !== 'string') {
      return [{ field: `metadata.${k}`, type: 'Invalid value', value: meta[k], detail: 'must be a string' }];
    }
  }
  if (meta.generateName && !meta.name) {
    for (const m of nameValidator(meta.generateName, true)) errs.push({ field: 'metadata.generateName', type: 'Invalid value', value: meta.generateName, detail: m });
  }
  if (!meta.name) {
    errs.push({ field: 'metadata.name', type: 'Required value', detail: 'name or generateName is required' });
  } else {
    for (const m of nameValidator(meta.name, false)) errs.push({ field: 'metadata.name', type: 'Invalid value', value: meta.name, detail: m });
  }
  if (namespaced) {
    if (!meta.namespace) errs.push({ field: 'metadata.namespace', type: 'Required value' });
    else for (const m of isDNS1123Label(meta.namespace)) errs.push({ field: 'metadata.namespace', type: 'Invalid value', value: meta.namespace, detail: m });
  } else if (meta.namespace) {
    errs.push({ field: 'metadata.namespace', type: 'Forbidden', detail: 'not allowed on this type' });
  }
  errs.push(...validateLabels(meta.labels, 'metadata.labels'));
  errs.push(...validateAnnotations(meta.annotations, 'metadata.annotations'));
  if (meta.ownerReferences !== undefined) {
    if (!Array.isArray(meta.ownerReferences)) {
      errs.push({ field: 'metadata.ownerReferences', type: 'Invalid value', value: meta.ownerReferences, detail: 'must be a list' });
    } else {
      let controllers = 0;
      meta.ownerReferences.forEach((ref, i) => {
        const f = `metadata.ownerReferences[${i}]`;
        if (!isObject(ref)) {
          errs.push({ field: f, type: 'Invalid value', value: ref, detail: 'must be an object' });
          return;
        }
        if (!ref.apiVersion) errs.push({ field: `${f}.apiVersion`, type: 'Invalid value', value: '', detail: 'version must not be empty' });
        if (!ref.kind) errs.push({ field: `${f}.kind`, type: 'Invalid value', value: '', detail: 'kind must not be empty' });
        if (!ref.name) errs.push({ field: `${f}.name`, type: 'Invalid value', value: '', detail: 'name must not be empty' });
        if (!ref.uid) errs.push({ field: `${f}.uid`, type: 'Invalid value', value: '', detail: 'uid must not be empty' });
        if (ref.controller) controllers++;
      });
      if (controllers > 1) errs.push({ field: 'metadata.ownerReferences', type: 'Invalid value', value: `${controllers} controllers`, detail: 'Only one reference can have Controller set to true' });
    }
  }
  if (meta.finalizers !== undefined) {
    if (!Array.isArray(meta.finalizers)) errs.push({ field: 'metadata.finalizers', type: 'Invalid value', value: meta.finalizers, detail: 'must be a list' });
    else meta.finalizers.forEach((f, i) => {
      if (typeof f !== 'string') errs.push({ field: `metadata.finalizers[${i}]`, type: 'Invalid value', value: f, detail: 'must be a string' });
      else for (const m of isQualifiedName(f)) errs.push({ field: 'metadata.finalizers', type: 'Invalid value', value: f, detail: m });
    });
  }
  return errs;
}

/** IANA service names (named ports): at most 15 characters, lowercase alphanumerics and '-', at least one letter. */
export function isValidPortName(name: string): string[] {
  const errs: string[] = [];
  if (name.length > 15) errs.push('must be no more than 15 characters');
  if (!/^[-a-z0-9]+$/.test(name)) errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
  if (name.includes('--')) errs.push("must not contain consecutive hyphens");
  if (/^-|-$/.test(name)) errs.push("must not begin or end with a hyphen");
  if (!/[a-z]/.test(name)) errs.push("must contain at least one letter (a-z)");
  return errs;
}

export function isValidPortNum(port: unknown): boolean {
  return typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535;
}

export const PORT_RANGE_MSG = 'must be between 1 and 65535, inclusive';
