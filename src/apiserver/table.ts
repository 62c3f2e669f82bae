// meta.k8s.io/v1 Table rendering (what `kubectl get` asks for): column definitions plus one row per object,
// each carrying the object as PartialObjectMetadata (default), in full, or not at all (`includeObject`).
import type { KubeObject } from '../api/admission.ts';
import { evalJsonPath, jsonPathText } from './jsonpath.ts';
import { humanDuration } from './meta.ts';
import type { ColumnDefinition, TableSpec } from './registry.ts';

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export function column(name: string, type: string, description: string, priority = 0, format = ''): ColumnDefinition {
  return { name, type, format, description, priority };
}

export const NAME_COLUMN = column('Name', 'string', 'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names', 0, 'name');
export const AGE_COLUMN = column('Age', 'string', 'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata');

export function ageOf(obj: KubeObject, now: number): string {
  const ts = obj.metadata.creationTimestamp;
  return ts ? humanDuration(now - Date.parse(ts)) : '<unknown>';
}

/** The table for kinds without a printer of their own: Name and Created At (RFC 3339), as the real server does. */
export const DEFAULT_TABLE: TableSpec = {
  columns: [NAME_COLUMN, column('Created At', 'date', 'CreationTimestamp is a timestamp representing the server time when this object was created.')],
  cells: (o) => [o.metadata.name, o.metadata.creationTimestamp],
};

export interface PrinterColumn {
  name: string;
  type: string;
  format?: string;
  description?: string;
  priority?: number;
  jsonPath: string;
}

/** A CRD's additionalPrinterColumns (Name first; Age only when the CRD lists it, or when it lists nothing). */
export function crdTable(printerColumns: PrinterColumn[] | undefined): TableSpec {
  const cols = printerColumns && printerColumns.length > 0
    ? printerColumns
    : [{ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: AGE_COLUMN.description }];
  return {
    columns: [NAME_COLUMN, ...cols.map((c) => column(c.name, c.type, c.description ?? '', c.priority ?? 0, c.format ?? ''))],
    cells(obj, now) {
      const cells: unknown[] = [obj.metadata.name];
      for (const c of cols) {
        let results: unknown[];
        try {
          results = evalJsonPath(obj, c.jsonPath);
        } catch {
          results = [];
        }
        cells.push(results.length === 0 || results[0] === null ? null : cellFor(c.type, results[0], now));
      }
      return cells;
    },
  };
}

/** Same conversion as apiextensions' tableconvertor.cellForJSONValue. */
function cellFor(type: string, value: unknown, now: number): unknown {
  switch (type) {
    case 'integer':
      if (typeof value === 'number') return Math.trunc(value);
      if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value);
      return null;
    case 'number':
      if (typeof value === 'number') return value;
      if (typeof value === 'string' && !Number.isNaN(Number(value))) return Number(value);
      return null;
    case 'boolean':
      return typeof value === 'boolean' ? value : value === 'true' ? true : value === 'false' ? false : null;
    case 'date':
      if (typeof value !== 'string') return null;
      return Number.isNaN(Date.parse(value)) ? '<invalid>' : humanDuration(now - Date.parse(value));
    default:
      return jsonPathText(value);
  }
}

export interface TableOptions {
  includeObject: IncludeObject;
  noHeaders?: boolean;
  resourceVersion?: string;
  continueToken?: string;
}

export function partialObjectMetadata(obj: KubeObject): Record<string, unknown> {
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

export function toTable(spec: TableSpec, objects: KubeObject[], opts: TableOptions): Record<string, unknown> {
  const now = Date.now();
  const rows = objects.map((obj) => {
    const row: Record<string, unknown> = { cells: spec.cells(obj, now) };
    if (opts.includeObject === 'Metadata') row.object = partialObjectMetadata(obj);
    else if (opts.includeObject === 'Object') row.object = obj;
    return row;
  });
  const metadata: Record<string, unknown> = {};
  if (opts.resourceVersion) metadata.resourceVersion = opts.resourceVersion;
  if (opts.continueToken) metadata.continue = opts.continueToken;
  const table: Record<string, unknown> = { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata };
  table.columnDefinitions = opts.noHeaders ? null : spec.columns;
  table.rows = rows;
  return table;
}
