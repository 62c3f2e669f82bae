// The subset of Kubernetes JSONPath that additionalPrinterColumns and kubectl templates use in practice:
// `.a.b`, `.a[0]`, `.a[*].b`, `['dotted.key']`, `.a[?(@.type=="Ready")].status`. Small and allocation-light,
// because it runs for every row of every table request.
import { isObject } from './meta.ts';

type Step =
  | { kind: 'field'; name: string }
  | { kind: 'index'; index: number }
  | { kind: 'wildcard' }
  | { kind: 'filter'; path: string[]; op: string | null; value: unknown };

const cache = new Map<string, Step[]>();

export function compileJsonPath(expr: string): Step[] {
  const cached = cache.get(expr);
  if (cached) return cached;
  let s = expr.trim();
  if (s.startsWith('{') && s.endsWith('}')) s = s.slice(1, -1);
  if (s.startsWith('$')) s = s.slice(1);
  const steps: Step[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '.') {
      i++;
      let name = '';
      while (i < s.length && s[i] !== '.' && s[i] !== '[') {
        if (s[i] === '\\' && i + 1 < s.length) { name += s[i + 1]; i += 2; continue; }
        name += s[i];
        i++;
      }
      if (name === '*') steps.push({ kind: 'wildcard' });
      else if (name) steps.push({ kind: 'field', name });
    } else if (c === '[') {
      const end = findClose(s, i);
      const inner = s.slice(i + 1, end).trim();
      i = end + 1;
      if (inner === '*') steps.push({ kind: 'wildcard' });
      else if (/^-?\d+$/.test(inner)) steps.push({ kind: 'index', index: Number(inner) });
      else if (/^'.*'$|^".*"$/.test(inner)) steps.push({ kind: 'field', name: inner.slice(1, -1) });
      else if (inner.startsWith('?(') && inner.endsWith(')')) steps.push(parseFilter(inner.slice(2, -1)));
      else throw new Error(`unsupported JSONPath segment [${inner}]`);
    } else {
      throw new Error(`unexpected character ${JSON.stringify(c)} in JSONPath ${expr}`);
    }
  }
  cache.set(expr, steps);
  return steps;
}

function findClose(s: string, open: number): number {
  let depth = 0;
  let quote: string | null = null;
  for (let i = open; i < s.length; i++) {
    const c = s[i]!;
    if (quote) { if (c === quote) quote = null; continue; }
    if (c === '"' || c === "'") quote = c;
    else if (c === '[') depth++;
    else if (c === ']' && --depth === 0) return i;
  }
  throw new Error(`unterminated [ in JSONPath ${s}`);
}

function parseFilter(expr: string): Step {
  const m = /^@((?:\.[^\s=!<>]+)+)\s*(==|!=|<=|>=|<|>)?\s*(.*)$/.exec(expr.trim());
  if (!m) throw new Error(`unsupported JSONPath filter ${expr}`);
  const path = m[1]!.slice(1).split('.');
  const raw = m[3]!.trim();
  let value: unknown = raw;
  if (/^'.*'$|^".*"$/.test(raw)) value = raw.slice(1, -1);
  else if (raw === 'true' || raw === 'false') value = raw === 'true';
  else if (raw !== '' && !Number.isNaN(Number(raw))) value = Number(raw);
  return { kind: 'filter', path, op: m[2] ?? null, value };
}

/** Every value the path reaches (empty when nothing matches). */
export function evalJsonPath(obj: unknown, expr: string): unknown[] {
  let current: unknown[] = [obj];
  for (const step of compileJsonPath(expr)) {
    const next: unknown[] = [];
    for (const v of current) {
      switch (step.kind) {
        case 'field':
          if (isObject(v) && v[step.name] !== undefined) next.push(v[step.name]);
          break;
        case 'index':
          if (Array.isArray(v)) {
            const idx = step.index < 0 ? v.length + step.index : step.index;
            if (idx >= 0 && idx < v.length) next.push(v[idx]);
          }
          break;
        case 'wildcard':
          if (Array.isArray(v)) next.push(...v);
          else if (isObject(v)) next.push(...Object.values(v));
          break;
        case 'filter':
          if (Array.isArray(v)) {
            for (const item of v) if (filterMatches(item, step)) next.push(item);
          }
          break;
      }
    }
    current = next;
  }
  return current;
}

function filterMatches(item: unknown, step: Extract<Step, { kind: 'filter' }>): boolean {
  let v: unknown = item;
  for (const p of step.path) {
    if (!isObject(v)) return false;
    v = v[p];
  }
  if (step.op === null) return v !== undefined && v !== null && v !== false;
  const want = step.value;
  switch (step.op) {
    case '==': return v === want || (typeof want === 'number' && Number(v) === want);
    case '!=': return v !== want;
    case '<': return Number(v) < Number(want);
    case '>': return Number(v) > Number(want);
    case '<=': return Number(v) <= Number(want);
    case '>=': return Number(v) >= Number(want);
  }
  return false;
}

/** Text as kubectl/jsonpath prints a value: strings raw, scalars via String, structures as JSON. */
export function jsonPathText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
