// Structural schemas of custom resources (apiextensions.k8s.io/v1 openAPIV3Schema): pruning of unknown fields,
// defaulting, and validation. Validation compiles the schema once with ajv after translating the Kubernetes
// extensions (x-kubernetes-int-or-string, nullable, embedded resources) into plain JSON Schema; list-type
// uniqueness is checked by hand because JSON Schema cannot express map keys.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { FieldError } from '../api/admission.ts';
import { clone, deepEqual, isObject, type JsonObject } from './meta.ts';

export interface SchemaProps {
  type?: string;
  format?: string;
  description?: string;
  properties?: Record<string, SchemaProps>;
  additionalProperties?: SchemaProps | boolean;
  items?: SchemaProps;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  nullable?: boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  pattern?: string;
  multipleOf?: number;
  uniqueItems?: boolean;
  allOf?: SchemaProps[];
  anyOf?: SchemaProps[];
  oneOf?: SchemaProps[];
  not?: SchemaProps;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  [extra: string]: unknown;
}

/** ObjectMeta's fields: what survives pruning of `metadata` at the root and in embedded resources. */
const OBJECT_META_FIELDS = new Set([
  'name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
  'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields',
]);

// One ajv instance for the whole server: compiled validators are cached per schema.
const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: true });
ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -2147483648 && n <= 2147483647 });
ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
ajv.addFormat('date-time', (s: string) => !Number.isNaN(Date.parse(s)) && /^\d{4}-\d{2}-\d{2}T/.test(s));
ajv.addFormat('byte', (s: string) => /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s));
const KNOWN_FORMATS = new Set(['int32', 'int64', 'date-time', 'byte']);

export class StructuralSchema {
  readonly root: SchemaProps;
  private readonly validator: ValidateFunction;

  constructor(root: SchemaProps) {
    this.root = root;
    // The root metadata is ObjectMeta, validated by the server itself; schemas may only restrict it loosely.
    const forAjv = toAjvSchema(root);
    if (isObject(forAjv.properties)) delete (forAjv.properties as JsonObject)['metadata'];
    if (Array.isArray(forAjv.required)) forAjv.required = (forAjv.required as string[]).filter((r) => r !== 'metadata');
    this.validator = ajv.compile(forAjv);
  }

  /** Drops fields the schema does not declare; returns their paths (`spec.foo`) for Strict/Warn field validation. */
  prune(obj: JsonObject): string[] {
    const unknown: string[] = [];
    for (const key of Object.keys(obj)) {
      if (key === 'apiVersion' || key === 'kind') continue;
      if (key === 'metadata') {
        if (isObject(obj.metadata)) pruneMeta(obj.metadata, 'metadata', unknown);
        continue;
      }
      const prop = this.root.properties?.[key];
      if (!prop && !this.root['x-kubernetes-preserve-unknown-fields']) {
        delete obj[key];
        unknown.push(key);
      } else if (prop) {
        obj[key] = pruneValue(obj[key], prop, key, unknown);
      }
    }
    return unknown.sort();
  }

  /** Applies `default` values recursively where fields are missing (or null and not nullable). */
  applyDefaults(obj: JsonObject): void {
    for (const [key, prop] of Object.entries(this.root.properties ?? {})) {
      if (key === 'metadata' || key === 'apiVersion' || key === 'kind') continue;
      defaultField(obj, key, prop);
    }
  }

  validate(obj: JsonObject): FieldError[] {
    const errors: FieldError[] = [];
    if (!this.validator(obj)) errors.push(...convertAjvErrors(this.validator.errors ?? [], obj));
    for (const [key, prop] of Object.entries(this.root.properties ?? {})) {
      if (key !== 'metadata' && obj[key] !== undefined) checkLists(obj[key], prop, key, errors);
    }
    return errors;
  }
}

function pruneMeta(meta: JsonObject, path: string, unknown: string[]): void {
  for (const k of Object.keys(meta)) {
    if (!OBJECT_META_FIELDS.has(k)) {
      delete meta[k];
      unknown.push(`${path}.${k}`);
    }
  }
}

function pruneValue(value: unknown, schema: SchemaProps, path: string, unknown: string[]): unknown {
  if (Array.isArray(value)) {
    if (schema.items) for (let i = 0; i < value.length; i++) value[i] = pruneValue(value[i], schema.items, `${path}[${i}]`, unknown);
    return value;
  }
  if (!isObject(value)) return value;
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  const embedded = schema['x-kubernetes-embedded-resource'] === true;
  const props = schema.properties;
  const additional = isObject(schema.additionalProperties) ? (schema.additionalProperties as SchemaProps) : undefined;
  const allowAnyAdditional = schema.additionalProperties === true;
  for (const key of Object.keys(value)) {
    const child = `${path}.${key}`;
    const prop = props?.[key];
    if (prop) {
      value[key] = pruneValue(value[key], prop, child, unknown);
    } else if (embedded && (key === 'apiVersion' || key === 'kind')) {
      continue;
    } else if (embedded && key === 'metadata') {
      if (isObject(value[key])) pruneMeta(value[key] as JsonObject, child, unknown);
    } else if (additional) {
      value[key] = pruneValue(value[key], additional, child, unknown);
    } else if (!preserve && !allowAnyAdditional) {
      delete value[key];
      unknown.push(child);
    }
  }
  return value;
}

function defaultField(parent: JsonObject, key: string, schema: SchemaProps): void {
  const v = parent[key];
  if ((v === undefined || (v === null && !schema.nullable)) && schema.default !== undefined) {
    parent[key] = clone(schema.default);
  } else if (v === null && !schema.nullable) {
    // kube-apiserver drops nulls of non-nullable fields before defaulting.
    delete parent[key];
    return;
  }
  defaultValue(parent[key], schema);
}

function defaultValue(value: unknown, schema: SchemaProps): void {
  if (Array.isArray(value)) {
    if (schema.items) for (const item of value) defaultValue(item, schema.items);
    return;
  }
  if (!isObject(value)) return;
  for (const [k, prop] of Object.entries(schema.properties ?? {})) defaultField(value, k, prop);
  if (isObject(schema.additionalProperties)) {
    for (const k of Object.keys(value)) defaultValue(value[k], schema.additionalProperties as SchemaProps);
  }
}

/** x-kubernetes-list-type: set / map uniqueness, which JSON Schema cannot say. */
function checkLists(value: unknown, schema: SchemaProps, path: string, errors: FieldError[]): void {
  if (Array.isArray(value)) {
    const listType = schema['x-kubernetes-list-type'];
    if (listType === 'set') {
      value.forEach((item, i) => {
        if (value.findIndex((x) => deepEqual(x, item)) < i) errors.push({ field: `${path}[${i}]`, type: 'Duplicate value', value: item });
      });
    } else if (listType === 'map') {
      const keys = schema['x-kubernetes-list-map-keys'] ?? [];
      const seen: unknown[] = [];
      value.forEach((item, i) => {
        if (!isObject(item)) return;
        const k = Object.fromEntries(keys.filter((key) => item[key] !== undefined).map((key) => [key, item[key]]));
        if (seen.some((s) => deepEqual(s, k))) errors.push({ field: `${path}[${i}]`, type: 'Duplicate value', value: k });
        seen.push(k);
      });
    }
    if (schema.items) value.forEach((item, i) => checkLists(item, schema.items!, `${path}[${i}]`, errors));
    return;
  }
  if (!isObject(value)) return;
  for (const [k, prop] of Object.entries(schema.properties ?? {})) {
    if (value[k] !== undefined) checkLists(value[k], prop, `${path}.${k}`, errors);
  }
  if (isObject(schema.additionalProperties)) {
    for (const [k, v] of Object.entries(value)) if (!schema.properties?.[k]) checkLists(v, schema.additionalProperties as SchemaProps, `${path}.${k}`, errors);
  }
}

/** Translate an OpenAPI v3.0 structural schema with Kubernetes extensions into draft-07 JSON Schema for ajv. */
export function toAjvSchema(s: SchemaProps): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(s)) {
    switch (k) {
      case 'properties':
        out.properties = Object.fromEntries(Object.entries(v as Record<string, SchemaProps>).map(([pk, pv]) => [pk, toAjvSchema(pv)]));
        break;
      case 'items':
        if (isObject(v)) out.items = toAjvSchema(v as SchemaProps);
        break;
      case 'additionalProperties':
        out.additionalProperties = isObject(v) ? toAjvSchema(v as SchemaProps) : true;
        break;
      case 'allOf':
      case 'anyOf':
      case 'oneOf':
        out[k] = (v as SchemaProps[]).map(toAjvSchema);
        break;
      case 'not':
        out.not = toAjvSchema(v as SchemaProps);
        break;
      case 'format':
        if (KNOWN_FORMATS.has(v as string)) out.format = v;
        break;
      case 'exclusiveMinimum':
      case 'exclusiveMaximum':
      case 'nullable':
      case 'default':
      case 'description':
      case 'example':
      case 'externalDocs':
      case 'title':
        break;
      case 'type': case 'required': case 'enum': case 'minimum': case 'maximum': case 'minLength': case 'maxLength':
      case 'minItems': case 'maxItems': case 'minProperties': case 'maxProperties': case 'pattern': case 'multipleOf':
      case 'uniqueItems':
        out[k] = v;
        break;
      default:
        break; // x-kubernetes-* and anything unknown: not JSON Schema
    }
  }
  // OpenAPI 3.0 boolean exclusive bounds → draft-07 numeric ones.
  if (s.exclusiveMinimum === true && typeof s.minimum === 'number') { out.exclusiveMinimum = s.minimum; delete out.minimum; }
  if (s.exclusiveMaximum === true && typeof s.maximum === 'number') { out.exclusiveMaximum = s.maximum; delete out.maximum; }
  if (s['x-kubernetes-int-or-string']) {
    delete out.type;
    out.type = ['integer', 'string'];
  }
  if (s['x-kubernetes-embedded-resource']) {
    out.required = [...new Set([...((out.required as string[]) ?? []), 'apiVersion', 'kind'])];
    if (out.type === undefined) out.type = 'object';
  }
  if (s.nullable) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    else if (Array.isArray(out.type)) out.type = [...out.type, 'null'];
    if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
  }
  // Embedded metadata is ObjectMeta, not described by the schema.
  return out;
}

function pointerToField(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const p = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(p)) out += `[${p}]`;
    else out += out ? `.${p}` : p;
  }
  return out;
}

function valueAt(obj: unknown, pointer: string): unknown {
  let cur = obj;
  for (const raw of pointer.split('/').slice(1)) {
    const p = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isObject(cur)) cur = cur[p];
    else return undefined;
  }
  return cur;
}

function goTypeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** Render ajv errors as kube-openapi's validation messages (`spec.x in body should be greater than or equal to 1`). */
function convertAjvErrors(errs: ErrorObject[], obj: unknown): FieldError[] {
  const out: FieldError[] = [];
  const seen = new Set<string>();
  for (const e of errs) {
    // Branch failures inside anyOf/oneOf are summarized by the anyOf/oneOf error itself.
    if (/\/(anyOf|oneOf|not)\/\d*/.test(e.schemaPath.replace(/^#/, '')) && !/\/(anyOf|oneOf)$/.test(e.schemaPath)) continue;
    let field = pointerToField(e.instancePath);
    const value = valueAt(obj, e.instancePath);
    const where = field || '<root>';
    const p = e.params as Record<string, unknown>;
    let fe: FieldError;
    switch (e.keyword) {
      case 'required':
        field = field ? `${field}.${String(p.missingProperty)}` : String(p.missingProperty);
        fe = { field, type: 'Required value' };
        break;
      case 'type': {
        const t = Array.isArray(p.type) ? (p.type as string[]).filter((x) => x !== 'null').join('/') : String(p.type);
        const want = t === 'integer/string' ? 'integer/string' : t;
        fe = { field: where, type: 'Invalid value', value: goTypeName(value), detail: `${where} in body must be of type ${want}: "${goTypeName(value)}"` };
        break;
      }
      case 'enum':
        fe = { field: where, type: 'Unsupported value', value, detail: `supported values: ${(p.allowedValues as unknown[]).filter((x) => x !== null).map((x) => JSON.stringify(x)).join(', ')}` };
        break;
      case 'minimum':
        fe = { field: where, type: 'Invalid value', value, detail: `${where} in body should be greater than or equal to ${String(p.limit)}` };
        break;
      case 'exclusiveMinimum':
        fe = { field: where, type: 'Invalid value', value, detail: `${where} in body should be greater than ${String(p.limit)}` };
        break;
      case 'maximum':
        fe = { field: where, type: 'Invalid value', value, detail: `${where} in body should be less than or equal to ${String(p.limit)}` };
        break;
      case 'exclusiveMaximum':
        fe = { field: where, type: 'Invalid value', value, detail: `${where} in body should be less than ${String(p.limit)}` };
        break;
      case 'minLength':
        fe = { field: where, type: 'Invalid value', value, detail: `${where} in body should be at least ${String(p.limit)} chars long` };
        break;
      case 'maxLength':
        fe = { field: where, type: 'Too long', detail: `may not be more than ${String(p.limit)} bytes` };
        break;
      case 'pattern':
        fe = { field: where, type: 'Invalid value', value, detail: `${where} in body should match '${String(p.pattern)}'` };
        break;
      case 'minItems':
        fe = { field: where, type: 'Invalid value', value: Array.isArray(value) ? value.length : value, detail: `${where} in body should have at least ${String(p.limit)} items` };
        break;
      case 'maxItems':
        fe = { field: where, type: 'Too many', detail: `must have at most ${String(p.limit)} items` };
        break;
      case 'minProperties':
        fe = { field: where, type: 'Invalid value', value: isObject(value) ? Object.keys(value).length : value, detail: `${where} in body should have at least ${String(p.limit)} properties` };
        break;
      case 'maxProperties':
        fe = { field: where, type: 'Too many', detail: `must have at most ${String(p.limit)} items` };
        break;
      case 'multipleOf':
        fe = { field: where, type: 'Invalid value', value, detail: `${where} in body should be a multiple of ${String(p.multipleOf)}` };
        break;
      case 'uniqueItems':
        fe = { field: where, type: 'Duplicate value', value };
        break;
      case 'format':
        fe = { field: where, type: 'Invalid value', value, detail: `${where} in body must be of type ${String(p.format)}: ${JSON.stringify(value)}` };
        break;
      default:
        fe = { field: where, type: 'Invalid value', value, detail: e.message ?? 'invalid' };
    }
    const key = `${fe.field}|${fe.type}|${fe.detail ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(fe);
  }
  return out;
}

/** Minimal structural checks on a CRD's schema, reported against the CRD's own field path. */
export function checkStructural(schema: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!isObject(schema)) return [{ field: path, type: 'Required value', detail: 'schemas are required' }];
  if (schema.type !== 'object') errs.push({ field: `${path}.type`, type: 'Unsupported value', value: schema.type ?? '', detail: 'supported values: "object"' });
  try {
    toAjvSchema(schema as SchemaProps);
    ajv.compile(toAjvSchema(schema as SchemaProps));
  } catch (e) {
    errs.push({ field: path, type: 'Invalid value', value: '', detail: (e as Error).message });
  }
  return errs;
}
