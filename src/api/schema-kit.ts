// Building blocks for CRD schemas. TypeBox gives us the static TypeScript type and the JSON Schema from one
// declaration; these helpers keep every schema *structural* in the Kubernetes sense (no anyOf at the top of a
// property, no patternProperties, maps as additionalProperties), so the generated openAPIV3Schema is accepted
// by a real kube-apiserver unchanged.
import { Type, type Static, type TSchema, type TObject, type TProperties, type ObjectOptions } from '@sinclair/typebox';

export { Type, type Static, type TSchema };

/** A string restricted to the given values (rendered as `enum`, not TypeBox's anyOf of literals). */
export function StringEnum<const T extends readonly string[]>(values: T, options: { default?: T[number]; description?: string } = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

/** A map from string keys to values of one schema (Kubernetes maps: labels, headers, resource lists). */
export function StringMap<V extends TSchema>(value: V, options: { description?: string } = {}) {
  return Type.Unsafe<Record<string, Static<V>>>({ type: 'object', additionalProperties: value, ...options });
}

/** Kubernetes `int-or-string`, as used for quantities and percentages. */
export function IntOrString(options: { description?: string; default?: number | string } = {}) {
  return Type.Unsafe<number | string>({ 'x-kubernetes-int-or-string': true, ...options });
}

/** A resource quantity such as `8Gi`, `2` or `500m`. */
export function Quantity(options: { description?: string } = {}) {
  return IntOrString({ description: 'A Kubernetes resource quantity, e.g. 8Gi, 2, 500m.', ...options });
}

/** A Go-style duration string such as `30s`, `1m30s`, `500ms`. */
export function Duration(options: { description?: string; default?: string } = {}) {
  return Type.String({ pattern: '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$', ...options });
}

/** An object whose content the API server keeps as given (embedded PodSpecs, free-form configs). */
export function FreeForm<T = Record<string, unknown>>(options: { description?: string } = {}) {
  return Type.Unsafe<T>({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true, ...options });
}

/** A plain object schema; all our objects are closed (unknown fields are pruned by the API server). */
export function Obj<P extends TProperties>(properties: P, options: ObjectOptions = {}): TObject<P> {
  return Type.Object(properties, options);
}

/** metav1.Condition, the standard status condition. */
export const Condition = Obj(
  {
    type: Type.String({ description: 'Condition type, e.g. Ready.' }),
    status: StringEnum(['True', 'False', 'Unknown'] as const),
    reason: Type.Optional(Type.String({ description: 'CamelCase reason for the last transition.' })),
    message: Type.Optional(Type.String({ description: 'Human-readable detail.' })),
    lastTransitionTime: Type.Optional(Type.String({ format: 'date-time' })),
    observedGeneration: Type.Optional(Type.Integer({ format: 'int64', minimum: 0 })),
  },
  { description: 'A standard status condition (metav1.Condition).' },
);
export type Condition = Static<typeof Condition>;

export const Conditions = Type.Array(Condition, {
  description: 'Latest observations of the object state.',
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
});

/** The phases our top-level kinds report. */
export const Phase = StringEnum(['Pending', 'Ready', 'Failed'] as const, { description: 'Coarse state: Pending, Ready or Failed.' });
export type Phase = Static<typeof Phase>;

/** corev1.ResourceRequirements, restricted to what users set. */
export const ResourceRequirements = Obj(
  {
    requests: Type.Optional(StringMap(Quantity(), { description: 'Minimum resources, e.g. cpu, memory, nvidia.com/gpu.' })),
    limits: Type.Optional(StringMap(Quantity(), { description: 'Maximum resources.' })),
  },
  { description: 'Compute resources for the runtime container.' },
);
export type ResourceRequirements = Static<typeof ResourceRequirements>;

export const EnvVar = Obj({
  name: Type.String({ minLength: 1 }),
  value: Type.Optional(Type.String()),
});

/** Reference to an object in the same namespace (or the given one). */
export const LocalObjectReference = Obj({
  name: Type.String({ minLength: 1, description: 'Name of the referenced object.' }),
});
