// Turn a KindDefinition into a CustomResourceDefinition with a structural openAPIV3Schema.
import { apiVersionOf, type KindDefinition } from './kind.ts';
import type { KubeObject } from './admission.ts';

/** JSON Schema keywords a structural CRD schema may carry (plus x-kubernetes-* extensions). */
const ALLOWED_KEYWORDS = new Set([
  'type', 'properties', 'required', 'items', 'additionalProperties', 'description', 'default', 'enum', 'format',
  'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'pattern', 'minLength', 'maxLength',
  'minItems', 'maxItems', 'uniqueItems', 'minProperties', 'maxProperties', 'nullable',
]);

/** Copy a TypeBox schema keeping only what kube-apiserver accepts (drops TypeBox's symbol keys and extras). */
export function toStructural(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toStructural);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (!ALLOWED_KEYWORDS.has(key) && !key.startsWith('x-kubernetes-')) continue;
    if (key === 'properties') {
      out[key] = Object.fromEntries(Object.entries(value as object).map(([name, sub]) => [name, toStructural(sub)]));
    } else if (key === 'default' || key === 'enum' || key === 'required' || key.startsWith('x-kubernetes-list-map')) {
      out[key] = structuredClone(value);
    } else {
      out[key] = toStructural(value);
    }
  }
  return out;
}

export function crdName(kind: Pick<KindDefinition, 'plural' | 'group'>): string {
  return `${kind.plural}.${kind.group}`;
}

export function toCrd(kind: KindDefinition): KubeObject {
  const subresources: Record<string, unknown> = { status: {} };
  if (kind.scale) subresources.scale = { ...kind.scale };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: crdName(kind),
      labels: { 'app.kubernetes.io/part-of': 'matrixinfer' },
    },
    spec: {
      group: kind.group,
      names: {
        kind: kind.kind,
        listKind: `${kind.kind}List`,
        plural: kind.plural,
        singular: kind.singular,
        shortNames: kind.shortNames,
        categories: kind.categories,
      },
      scope: kind.scope,
      versions: [
        {
          name: kind.version,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: kind.description,
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string', description: `APIVersion of the object: ${apiVersionOf(kind)}.` },
                kind: { type: 'string', description: `Kind of the object: ${kind.kind}.` },
                metadata: { type: 'object' },
                spec: toStructural(kind.spec),
                status: toStructural(kind.status),
              },
            },
          },
          subresources,
          additionalPrinterColumns: kind.printerColumns.map((column) => ({ ...column })),
        },
      ],
    },
  };
}
