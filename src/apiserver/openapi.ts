// OpenAPI documents, as far as kubectl needs them:
// - /openapi/v3 (+ one document per group version): kubectl checks here that PATCH/POST accept `fieldValidation`
//   (then `apply` validates server-side), whether strategic merge is accepted, and `explain` reads the schemas
//   (custom resources: the CRD's openAPIV3Schema).
// - /openapi/v2: kubectl's default `--validate=strict` loads it (as protobuf) for any kind /openapi/v3 does not list
//   (an unknown kind, before it answers "no matches for kind"), so it must parse: its Content-Type is the one the real
//   server returns, `...spec.v2.v1.0+protobuf` (the requested `...spec.v2@v1.0+protobuf` is no valid media type for
//   Go's mime parser); since fieldValidation is verified through v3, an empty document is enough.
import { createHash } from 'node:crypto';
import type { Registry, ResourceType } from './registry.ts';
import type { SchemaProps } from './schema.ts';

const OBJECT_META_REF = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';

const OBJECT_META_SCHEMA = {
  description: 'ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.',
  type: 'object',
  properties: {
    name: { type: 'string', description: 'Name must be unique within a namespace.' },
    generateName: { type: 'string', description: 'GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided.' },
    namespace: { type: 'string', description: 'Namespace defines the space within which each name must be unique.' },
    uid: { type: 'string', description: 'UID is the unique in time and space value for this object.' },
    resourceVersion: { type: 'string', description: 'An opaque value that represents the internal version of this object.' },
    generation: { type: 'integer', format: 'int64', description: 'A sequence number representing a specific generation of the desired state.' },
    creationTimestamp: { type: 'string', format: 'date-time', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.' },
    deletionTimestamp: { type: 'string', format: 'date-time', description: 'DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted.' },
    deletionGracePeriodSeconds: { type: 'integer', format: 'int64', description: 'Number of seconds allowed for this object to gracefully terminate before it will be removed from the system.' },
    labels: { type: 'object', additionalProperties: { type: 'string', default: '' }, description: 'Map of string keys and values that can be used to organize and categorize (scope and select) objects.' },
    annotations: { type: 'object', additionalProperties: { type: 'string', default: '' }, description: 'Annotations is an unstructured key value map stored with a resource.' },
    ownerReferences: { type: 'array', items: { type: 'object' }, description: 'List of objects depended by this object.' },
    finalizers: { type: 'array', items: { type: 'string', default: '' }, description: 'Must be empty before the object is deleted from the registry.' },
  },
};

function componentName(rt: ResourceType): string {
  const group = rt.group ? rt.group.split('.').reverse().join('.') : 'io.k8s.api.core';
  return `${group}.${rt.version}.${rt.kind}`;
}

function query(name: string, type = 'string'): Record<string, unknown> {
  return { name, in: 'query', schema: { type, uniqueItems: true } };
}

function gvk(rt: ResourceType): Record<string, string> {
  return { group: rt.group, version: rt.version, kind: rt.kind };
}

function operation(rt: ResourceType, action: string, params: Record<string, unknown>[], body: string[] | undefined, ref: string | undefined): Record<string, unknown> {
  const schema = ref ? { $ref: `#/components/schemas/${ref}` } : { type: 'object' };
  const op: Record<string, unknown> = {
    operationId: `${action}${rt.kind}`,
    parameters: params,
    responses: { '200': { description: 'OK', content: { 'application/json': { schema } } } },
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk(rt),
  };
  if (body) op.requestBody = { content: Object.fromEntries(body.map((ct) => [ct, { schema: ct.includes('patch') ? { type: 'object' } : schema }])), required: true };
  return op;
}

function pathsFor(rt: ResourceType, ref: string | undefined): Record<string, unknown> {
  const prefix = rt.group ? `/apis/${rt.group}/${rt.version}` : `/api/${rt.version}`;
  const base = rt.namespaced ? `${prefix}/namespaces/{namespace}/${rt.plural}` : `${prefix}/${rt.plural}`;
  const pathParams = [
    ...(rt.namespaced ? [{ name: 'namespace', in: 'path', required: true, schema: { type: 'string', uniqueItems: true } }] : []),
  ];
  const nameParam = { name: 'name', in: 'path', required: true, schema: { type: 'string', uniqueItems: true } };
  const writeParams = [query('dryRun'), query('fieldManager'), query('fieldValidation')];
  const patchTypes = ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml', ...(rt.mergeKeys ? ['application/strategic-merge-patch+json'] : [])];
  const listParams = ['labelSelector', 'fieldSelector', 'resourceVersion', 'continue'].map((n) => query(n)).concat([query('limit', 'integer'), query('watch', 'boolean'), query('timeoutSeconds', 'integer'), query('allowWatchBookmarks', 'boolean')]);
  const paths: Record<string, unknown> = {
    [base]: {
      get: operation(rt, 'list', listParams, undefined, undefined),
      post: operation(rt, 'post', writeParams, ['*/*'], ref),
      delete: operation(rt, 'deletecollection', [...listParams, query('gracePeriodSeconds', 'integer'), query('propagationPolicy')], undefined, undefined),
      parameters: pathParams,
    },
    [`${base}/{name}`]: {
      get: operation(rt, 'get', [], undefined, ref),
      put: operation(rt, 'put', writeParams, ['*/*'], ref),
      patch: operation(rt, 'patch', [...writeParams, query('force', 'boolean')], patchTypes, ref),
      delete: operation(rt, 'delete', [query('dryRun'), query('gracePeriodSeconds', 'integer'), query('propagationPolicy')], ['*/*'], undefined),
      parameters: [nameParam, ...pathParams],
    },
  };
  if (rt.subresources.includes('status')) {
    paths[`${base}/{name}/status`] = {
      get: operation(rt, 'get', [], undefined, ref),
      put: operation(rt, 'put', writeParams, ['*/*'], ref),
      patch: operation(rt, 'patch', [...writeParams, query('force', 'boolean')], patchTypes, ref),
      parameters: [nameParam, ...pathParams],
    };
  }
  if (rt.namespaced) {
    paths[`${prefix}/${rt.plural}`] = { get: operation(rt, 'list', listParams, undefined, undefined) };
  }
  return paths;
}

function crdComponent(rt: ResourceType): Record<string, unknown> {
  const schema = structuredClone(rt.openAPISchema ?? { type: 'object' }) as SchemaProps & Record<string, unknown>;
  schema.properties = {
    apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
    kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
    metadata: { allOf: [{ $ref: `#/components/schemas/${OBJECT_META_REF}` }], description: "Standard object's metadata." } as unknown as SchemaProps,
    ...(schema.properties ?? {}),
  };
  if (schema.properties.metadata && !('allOf' in schema.properties.metadata)) {
    schema.properties.metadata = { allOf: [{ $ref: `#/components/schemas/${OBJECT_META_REF}` }], description: "Standard object's metadata." } as unknown as SchemaProps;
  }
  schema['x-kubernetes-group-version-kind'] = [gvk(rt)];
  return schema;
}

export class OpenAPI {
  private readonly registry: Registry;
  private cache: { generation: number; docs: Map<string, { text: string; hash: string }> } | undefined;

  constructor(registry: Registry) {
    this.registry = registry;
  }

  private build(): Map<string, { text: string; hash: string }> {
    if (this.cache && this.cache.generation === this.registry.generation) return this.cache.docs;
    const docs = new Map<string, { text: string; hash: string }>();
    for (const g of this.registry.groups()) {
      for (const v of g.versions) {
        const key = g.group ? `apis/${g.group}/${v}` : `api/${v}`;
        const paths: Record<string, unknown> = {};
        const schemas: Record<string, unknown> = { [OBJECT_META_REF]: OBJECT_META_SCHEMA };
        for (const rt of this.registry.resourcesIn(g.group, v)) {
          // Only custom resources get component schemas: kubectl falls back to its compiled-in types for built-ins.
          const ref = rt.crdName ? componentName(rt) : undefined;
          if (ref) schemas[ref] = crdComponent(rt);
          Object.assign(paths, pathsFor(rt, ref));
        }
        const doc = { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.34.0' }, paths, components: { schemas } };
        const text = JSON.stringify(doc);
        docs.set(key, { text, hash: createHash('sha512').update(text).digest('hex').slice(0, 64).toUpperCase() });
      }
    }
    this.cache = { generation: this.registry.generation, docs };
    return docs;
  }

  v3Root(): Record<string, unknown> {
    const paths: Record<string, unknown> = {};
    for (const [key, doc] of this.build()) paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=${doc.hash}` };
    return { paths };
  }

  /** The document for `apis/<g>/<v>` or `api/v1`, with its hash. */
  v3Doc(key: string): { text: string; hash: string } | undefined {
    return this.build().get(key);
  }

  v2Json(): Record<string, unknown> {
    return { swagger: '2.0', info: { title: 'Kubernetes', version: 'v1.34.0' }, paths: {}, definitions: {} };
  }

  /** gnostic openapi_v2.Document {swagger: "2.0", info: {title, version}} in protobuf wire format. */
  v2Protobuf(): Buffer {
    const info = Buffer.concat([protoString(1, 'Kubernetes'), protoString(2, 'v1.34.0')]);
    return Buffer.concat([protoString(1, '2.0'), protoBytes(2, info)]);
  }
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

function protoBytes(field: number, data: Buffer): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(data.length), data]);
}

function protoString(field: number, s: string): Buffer {
  return protoBytes(field, Buffer.from(s, 'utf8'));
}

