// CustomResourceDefinitions: the CRD kind itself (validation, defaults, status conditions) and the bridge that
// turns each CRD into served resource types the moment it is written, and withdraws them when it is gone.
import type { FieldError, KubeObject } from '../api/admission.ts';
import { evalJsonPath, jsonPathText } from './jsonpath.ts';
import { clone, deepEqual, isObject, nowTimestamp, type JsonObject } from './meta.ts';
import { CRD_TABLE } from './printers.ts';
import { ALL_VERBS, type Registry, type ResourceType, type ScaleSpec, type Strategy } from './registry.ts';
import { StructuralSchema, checkStructural, type SchemaProps } from './schema.ts';
import type { Storage } from './storage.ts';
import { crdTable, type PrinterColumn } from './table.ts';
import { isDNS1123Label, isDNS1123Subdomain, nameIsDNSSubdomain } from './validation.ts';
import { builtin, base } from './builtins.ts';

export const CRD_KEY = 'apiextensions.k8s.io/customresourcedefinitions';
export const CRD_CLEANUP_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io';

interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema?: { openAPIV3Schema?: SchemaProps };
  subresources?: { status?: JsonObject; scale?: ScaleSpec };
  additionalPrinterColumns?: PrinterColumn[];
  selectableFields?: { jsonPath: string }[];
}

interface CrdNames {
  plural: string;
  singular?: string;
  kind: string;
  listKind?: string;
  shortNames?: string[];
  categories?: string[];
}

interface CrdSpec {
  group: string;
  names: CrdNames;
  scope: string;
  versions: CrdVersion[];
}

const spec = (o: KubeObject): CrdSpec => (isObject(o.spec) ? o.spec : {}) as unknown as CrdSpec;

function condition(type: string, status: string, reason: string, message: string, old: JsonObject[] | undefined): JsonObject {
  const prev = old?.find((c) => c.type === type);
  const lastTransitionTime = prev && prev.status === status ? prev.lastTransitionTime : nowTimestamp();
  return { type, status, lastTransitionTime, reason, message };
}

export class CrdManager {
  private readonly registry: Registry;
  private readonly storage: Storage;
  private readonly terminating: Set<string>;
  /** Compiled schemas by CRD name + version, reused while the schema text is unchanged. */
  private readonly schemas = new Map<string, { text: string; schema: StructuralSchema }>();

  constructor(registry: Registry, storage: Storage, terminating: Set<string>) {
    this.registry = registry;
    this.storage = storage;
    this.terminating = terminating;
    registry.add(builtin({
      group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition', plural: 'customresourcedefinitions',
      namespaced: false, shortNames: ['crd', 'crds'], categories: ['api-extensions'], subresources: ['status'], mergeKeys: {},
      strategy: this.crdStrategy(),
    }), true);
  }

  /** Serve every stored CRD (startup). */
  loadAll(): void {
    for (const crd of this.storage.list(CRD_KEY)) this.sync(crd.metadata.name!, crd);
  }

  /** Make the served kinds match the CRD as now stored (undefined: deleted). */
  sync(name: string, crd: KubeObject | undefined): void {
    const before = this.registry.all().filter((rt) => rt.crdName === name);
    this.registry.removeWhere((rt) => rt.crdName === name);
    if (!crd) {
      this.terminating.delete(name);
      for (const k of [...this.schemas.keys()]) if (k.startsWith(`${name}/`)) this.schemas.delete(k);
      return;
    }
    if (crd.metadata.deletionTimestamp) this.terminating.add(name);
    else this.terminating.delete(name);
    const status = isObject(crd.status) ? crd.status : {};
    const accepted = ((status.conditions ?? []) as JsonObject[]).some((c) => c.type === 'NamesAccepted' && c.status === 'True');
    if (!accepted) return;
    const s = spec(crd);
    const storageVersion = s.versions.find((v) => v.storage)?.name ?? s.versions[0]!.name;
    let schemaChanged = false;
    for (const v of s.versions) {
      if (!v.served) continue;
      const rawSchema = v.schema?.openAPIV3Schema ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
      const text = JSON.stringify(rawSchema);
      const cacheKey = `${name}/${v.name}`;
      let entry = this.schemas.get(cacheKey);
      if (!entry || entry.text !== text) {
        entry = { text, schema: new StructuralSchema(rawSchema) };
        this.schemas.set(cacheKey, entry);
        schemaChanged = true;
      }
      this.registry.add(this.customResourceType(name, s, v, storageVersion, entry.schema));
    }
    if (schemaChanged || before.length === 0) this.defaultStored(`${s.group}/${s.names.plural}`);
  }

  /** Read-time defaulting: apply (possibly new) schema defaults to the in-memory copies. */
  private defaultStored(storageKey: string): void {
    const types = this.registry.versionsOf(storageKey);
    for (const obj of this.storage.list(storageKey)) {
      const rt = types.find((t) => `${t.group}/${t.version}` === obj.apiVersion) ?? types[0];
      if (!rt?.schema) continue;
      const copy = clone(obj);
      rt.schema.applyDefaults(copy);
      if (!deepEqual(copy, obj)) {
        this.storage.replaceCached({ key: storageKey, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name! }, copy);
      }
    }
  }

  private customResourceType(crdName: string, s: CrdSpec, v: CrdVersion, storageVersion: string, schema: StructuralSchema): ResourceType {
    const names = s.names;
    const subresources: string[] = [];
    if (v.subresources?.status) subresources.push('status');
    if (v.subresources?.scale) subresources.push('scale');
    const fieldLabels: Record<string, (o: KubeObject) => string | undefined> = {};
    for (const f of v.selectableFields ?? []) {
      fieldLabels[f.jsonPath.replace(/^\./, '')] = (o) => {
        const r = evalJsonPath(o, f.jsonPath);
        return r.length ? jsonPathText(r[0]) : undefined;
      };
    }
    const strategy: Strategy = {
      nameValidator: nameIsDNSSubdomain,
      tracksGeneration: true,
      hasStatusSubresource: !!v.subresources?.status,
      allowUnconditionalUpdate: false,
      returnDeletedObject: false,
      fieldLabels,
      decode(o) {
        const unknown = schema.prune(o);
        schema.applyDefaults(o);
        return unknown;
      },
      validate: (o) => schema.validate(o),
      table: crdTable(v.additionalPrinterColumns),
    };
    const rt: ResourceType = {
      group: s.group,
      version: v.name,
      kind: names.kind,
      listKind: names.listKind ?? `${names.kind}List`,
      plural: names.plural,
      singular: names.singular ?? names.kind.toLowerCase(),
      namespaced: s.scope === 'Namespaced',
      shortNames: names.shortNames ?? [],
      categories: names.categories ?? [],
      verbs: ALL_VERBS,
      storageKey: `${s.group}/${names.plural}`,
      storageApiVersion: `${s.group}/${storageVersion}`,
      subresources,
      crdName,
      schema,
      strategy,
    };
    if (v.subresources?.scale) rt.scale = v.subresources.scale;
    if (v.schema?.openAPIV3Schema) rt.openAPISchema = v.schema.openAPIV3Schema;
    return rt;
  }

  private computeStatus(o: KubeObject, oldStatus: JsonObject | undefined): JsonObject {
    const s = spec(o);
    const names = s.names;
    const conflict = this.registry.nameTaken(s.group, [names.plural, names.singular ?? '', ...(names.shortNames ?? [])].filter(Boolean), o.metadata.name)
      || this.registry.all().some((rt) => rt.group === s.group && rt.kind === names.kind && rt.crdName !== o.metadata.name);
    const oldConds = oldStatus?.conditions as JsonObject[] | undefined;
    const conditions = [
      conflict
        ? condition('NamesAccepted', 'False', 'NameConflict', `"${names.plural}" is already in use`, oldConds)
        : condition('NamesAccepted', 'True', 'NoConflicts', 'no conflicts found', oldConds),
      conflict
        ? condition('Established', 'False', 'NotAccepted', 'not all names are accepted', oldConds)
        : condition('Established', 'True', 'InitialNamesAccepted', 'the initial names have been accepted', oldConds),
    ];
    if (o.metadata.deletionTimestamp) {
      conditions.push(condition('Terminating', 'True', 'InstanceDeletionInProgress', 'CustomResource deletion is in progress', oldConds));
    }
    const storageVersion = s.versions?.find((v) => v.storage)?.name;
    const stored = new Set<string>([...((oldStatus?.storedVersions as string[]) ?? []), ...(storageVersion ? [storageVersion] : [])]);
    const acceptedNames: JsonObject = { plural: names.plural, singular: names.singular, kind: names.kind, listKind: names.listKind };
    if (names.shortNames?.length) acceptedNames.shortNames = names.shortNames;
    if (names.categories?.length) acceptedNames.categories = names.categories;
    return { acceptedNames: conflict ? (oldStatus?.acceptedNames ?? { plural: '', kind: '' }) : acceptedNames, conditions, storedVersions: [...stored] };
  }

  private crdStrategy(): Strategy {
    return base(CRD_TABLE, {
      tracksGeneration: true,
      hasStatusSubresource: true,
      returnDeletedObject: true,
      applyDefaults(o) {
        const s = o.spec;
        if (!isObject(s)) return;
        if (isObject(s.names) && typeof s.names.kind === 'string') {
          s.names.singular ??= s.names.kind.toLowerCase();
          s.names.listKind ??= `${s.names.kind}List`;
        }
        s.conversion ??= { strategy: 'None' };
      },
      prepareForCreate: (o) => {
        o.status = this.computeStatus(o, undefined);
        if (!(o.metadata.finalizers ?? []).includes(CRD_CLEANUP_FINALIZER)) o.metadata.finalizers = [...(o.metadata.finalizers ?? []), CRD_CLEANUP_FINALIZER];
      },
      prepareForUpdate: (o, old) => {
        o.status = this.computeStatus(o, isObject(old.status) ? old.status : undefined);
      },
      validate: (o) => validateCrd(o),
      validateUpdate(o, old) {
        const errs: FieldError[] = [];
        if (spec(o).scope !== spec(old).scope) errs.push({ field: 'spec.scope', type: 'Invalid value', value: spec(o).scope, detail: 'field is immutable' });
        return errs;
      },
    });
  }

  /** The CRD's status as the cleanup controller sees it when deletion begins. */
  terminatingStatus(o: KubeObject): JsonObject {
    return this.computeStatus(o, isObject(o.status) ? o.status : undefined);
  }
}

function validateCrd(o: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const s = spec(o);
  if (!isObject(o.spec)) return [{ field: 'spec', type: 'Required value' }];
  if (!s.group) errs.push({ field: 'spec.group', type: 'Required value' });
  else {
    for (const m of isDNS1123Subdomain(s.group)) errs.push({ field: 'spec.group', type: 'Invalid value', value: s.group, detail: m });
    if (!s.group.includes('.')) errs.push({ field: 'spec.group', type: 'Invalid value', value: s.group, detail: 'should be a domain with at least one dot' });
  }
  const names = isObject(s.names) ? s.names : ({} as CrdNames);
  if (!names.plural) errs.push({ field: 'spec.names.plural', type: 'Required value' });
  else for (const m of isDNS1123Label(names.plural)) errs.push({ field: 'spec.names.plural', type: 'Invalid value', value: names.plural, detail: m });
  if (!names.kind) errs.push({ field: 'spec.names.kind', type: 'Required value' });
  if (names.singular) for (const m of isDNS1123Label(names.singular)) errs.push({ field: 'spec.names.singular', type: 'Invalid value', value: names.singular, detail: m });
  if (names.kind && names.listKind === names.kind) errs.push({ field: 'spec.names.listKind', type: 'Invalid value', value: names.listKind, detail: 'kind and listKind may not be the same' });
  (names.shortNames ?? []).forEach((sn, i) => {
    for (const m of isDNS1123Label(sn)) errs.push({ field: `spec.names.shortNames[${i}]`, type: 'Invalid value', value: sn, detail: m });
  });
  if (names.plural && s.group && o.metadata.name !== `${names.plural}.${s.group}`) {
    errs.push({ field: 'metadata.name', type: 'Invalid value', value: o.metadata.name, detail: 'must be spec.names.plural+"."+spec.group' });
  }
  if (!s.scope) errs.push({ field: 'spec.scope', type: 'Required value' });
  else if (s.scope !== 'Cluster' && s.scope !== 'Namespaced') errs.push({ field: 'spec.scope', type: 'Unsupported value', value: s.scope, detail: 'supported values: "Cluster", "Namespaced"' });
  const versions = Array.isArray(s.versions) ? s.versions : [];
  if (versions.length === 0) errs.push({ field: 'spec.versions', type: 'Invalid value', value: null, detail: 'must have exactly one version marked as storage version' });
  else if (versions.filter((v) => isObject(v) && v.storage).length !== 1) {
    errs.push({ field: 'spec.versions', type: 'Invalid value', value: versions.map((v) => v.name), detail: 'must have exactly one version marked as storage version' });
  }
  const seen = new Set<string>();
  versions.forEach((v, i) => {
    const f = `spec.versions[${i}]`;
    if (!isObject(v)) return;
    if (!v.name) errs.push({ field: `${f}.name`, type: 'Required value' });
    else {
      for (const m of isDNS1123Label(v.name)) errs.push({ field: `${f}.name`, type: 'Invalid value', value: v.name, detail: m });
      if (seen.has(v.name)) errs.push({ field: `${f}.name`, type: 'Duplicate value', value: v.name });
      seen.add(v.name);
    }
    errs.push(...checkStructural(v.schema?.openAPIV3Schema, `${f}.schema.openAPIV3Schema`));
    const scale = v.subresources?.scale;
    if (scale) {
      if (!scale.specReplicasPath) errs.push({ field: `${f}.subresources.scale.specReplicasPath`, type: 'Required value' });
      else if (!scale.specReplicasPath.startsWith('.spec.')) errs.push({ field: `${f}.subresources.scale.specReplicasPath`, type: 'Invalid value', value: scale.specReplicasPath, detail: 'should be a json path under .spec' });
      if (!scale.statusReplicasPath) errs.push({ field: `${f}.subresources.scale.statusReplicasPath`, type: 'Required value' });
      else if (!scale.statusReplicasPath.startsWith('.status.')) errs.push({ field: `${f}.subresources.scale.statusReplicasPath`, type: 'Invalid value', value: scale.statusReplicasPath, detail: 'should be a json path under .status' });
    }
    (v.additionalPrinterColumns ?? []).forEach((c, j) => {
      const cf = `${f}.additionalPrinterColumns[${j}]`;
      if (!c.name) errs.push({ field: `${cf}.name`, type: 'Required value' });
      if (!c.jsonPath) errs.push({ field: `${cf}.jsonPath`, type: 'Required value' });
      if (!['integer', 'number', 'string', 'boolean', 'date'].includes(c.type)) {
        errs.push({ field: `${cf}.type`, type: 'Unsupported value', value: c.type, detail: 'supported values: "boolean", "date", "integer", "number", "string"' });
      }
    });
  });
  return errs;
}
