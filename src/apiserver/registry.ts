// The resource registry: every kind the server serves (built-in or from a CRD), keyed by group/version/resource,
// with the per-kind behaviour ("strategy") the generic request path calls into.
import type { FieldError, KubeObject } from '../api/admission.ts';
import type { MergeKeys } from './patch.ts';
import type { StructuralSchema, SchemaProps } from './schema.ts';
import type { NameValidator } from './validation.ts';

export interface ColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

export interface TableSpec {
  columns: ColumnDefinition[];
  /** Cells for one object, one per column. */
  cells(obj: KubeObject, now: number): unknown[];
}

export interface ScaleSpec {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

export interface Strategy {
  nameValidator: NameValidator;
  /** metadata.generation starts at 1 and increments when anything but metadata/status changes. */
  tracksGeneration: boolean;
  /** Status lives behind the /status subresource: the main endpoint ignores it and /status ignores the rest. */
  hasStatusSubresource: boolean;
  /** PUT without metadata.resourceVersion is accepted (custom resources require it). */
  allowUnconditionalUpdate: boolean;
  /** DELETE answers with the deleted object rather than a Success Status. */
  returnDeletedObject: boolean;
  /** Field selector labels beyond metadata.name/metadata.namespace. */
  fieldLabels?: Record<string, (obj: KubeObject) => string | undefined>;
  /** Schema pruning and defaulting (custom resources); returns the paths of dropped unknown fields. */
  decode?(obj: KubeObject): string[];
  /** Server-side defaults for built-ins; runs on create and update before validation. */
  applyDefaults?(obj: KubeObject): void;
  prepareForCreate?(obj: KubeObject): void;
  prepareForUpdate?(obj: KubeObject, old: KubeObject): void;
  validate?(obj: KubeObject): FieldError[];
  validateUpdate?(obj: KubeObject, old: KubeObject): FieldError[];
  table: TableSpec;
  /** Stored form → the form served at this group/version (e.g. core events as events.k8s.io/v1). */
  convertOut?(stored: KubeObject): KubeObject;
  /** Served form → stored form. */
  convertIn?(served: KubeObject): KubeObject;
}

export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: string[];
  /** Shared by every served version (and alternate group) of one resource. */
  storageKey: string;
  /** The apiVersion objects are stored with. */
  storageApiVersion: string;
  subresources: string[];
  scale?: ScaleSpec;
  /** Strategic merge patch is allowed (built-ins only) with these list merge keys. */
  mergeKeys?: MergeKeys;
  /** The CRD serving this kind, when it is a custom resource. */
  crdName?: string;
  schema?: StructuralSchema;
  openAPISchema?: SchemaProps;
  strategy: Strategy;
}

export function apiVersionOf(rt: { group: string; version: string }): string {
  return rt.group ? `${rt.group}/${rt.version}` : rt.version;
}

export const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** Kubernetes version priority: GA > beta > alpha, higher numbers first, then non-kube-like versions by name. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return null;
    const stage = m[2] === undefined ? 3 : m[2] === 'beta' ? 2 : 1;
    return { major: Number(m[1]), stage, minor: Number(m[3] ?? 0) };
  };
  const pa = parse(a);
  const pb = parse(b);
  if (pa && !pb) return -1;
  if (!pa && pb) return 1;
  if (!pa || !pb) return a < b ? -1 : a > b ? 1 : 0;
  if (pa.stage !== pb.stage) return pb.stage - pa.stage;
  if (pa.major !== pb.major) return pb.major - pa.major;
  return pb.minor - pa.minor;
}

export class Registry {
  private readonly types = new Map<string, ResourceType>(); // group/version/plural
  /** Group order for discovery: built-ins in registration order, then custom groups alphabetically. */
  private readonly builtinGroups: string[] = [];
  /** Bumped on every change, so discovery and OpenAPI documents can be cached and hashed. */
  generation = 0;

  add(rt: ResourceType, builtin = false): void {
    this.types.set(`${rt.group}/${rt.version}/${rt.plural}`, rt);
    if (builtin && !this.builtinGroups.includes(rt.group)) this.builtinGroups.push(rt.group);
    this.generation++;
  }

  removeWhere(pred: (rt: ResourceType) => boolean): void {
    for (const [k, rt] of this.types) if (pred(rt)) this.types.delete(k);
    this.generation++;
  }

  get(group: string, version: string, plural: string): ResourceType | undefined {
    return this.types.get(`${group}/${version}/${plural}`);
  }

  all(): ResourceType[] {
    return [...this.types.values()];
  }

  /** The served versions of one storage key, preferred first. */
  versionsOf(storageKey: string): ResourceType[] {
    return this.all().filter((t) => t.storageKey === storageKey).sort((a, b) => compareVersions(a.version, b.version));
  }

  /** Any served type for a storage key (used by the collector and namespace cleanup). */
  anyFor(storageKey: string): ResourceType | undefined {
    return this.versionsOf(storageKey)[0];
  }

  groupVersionExists(group: string, version: string): boolean {
    for (const rt of this.types.values()) if (rt.group === group && rt.version === version) return true;
    return false;
  }

  /** Groups with their versions sorted by priority: [{group, versions}]. */
  groups(): { group: string; versions: string[] }[] {
    const byGroup = new Map<string, Set<string>>();
    for (const rt of this.types.values()) {
      let set = byGroup.get(rt.group);
      if (!set) byGroup.set(rt.group, (set = new Set()));
      set.add(rt.version);
    }
    const order = [
      ...this.builtinGroups.filter((g) => byGroup.has(g)),
      ...[...byGroup.keys()].filter((g) => !this.builtinGroups.includes(g)).sort(),
    ];
    return order.map((group) => ({ group, versions: [...byGroup.get(group)!].sort(compareVersions) }));
  }

  resourcesIn(group: string, version: string): ResourceType[] {
    return this.all()
      .filter((t) => t.group === group && t.version === version)
      .sort((a, b) => (a.plural < b.plural ? -1 : a.plural > b.plural ? 1 : 0));
  }

  /** Is this plural/short name/kind already taken in the group by another CRD or a built-in? */
  nameTaken(group: string, names: string[], exceptCrd?: string): boolean {
    for (const rt of this.types.values()) {
      if (rt.group !== group || (exceptCrd && rt.crdName === exceptCrd)) continue;
      const taken = [rt.plural, rt.singular, rt.kind.toLowerCase(), ...rt.shortNames];
      if (names.some((n) => taken.includes(n.toLowerCase()))) return true;
    }
    return false;
  }
}
