// Label and field selectors with the grammar of k8s.io/apimachinery/pkg/labels and pkg/fields.
import { badRequest } from './errors.ts';

export type LabelOp = 'in' | 'notin' | 'exists' | '!' | '=' | '!=' | 'gt' | 'lt';
export interface LabelRequirement {
  key: string;
  op: LabelOp;
  values: string[];
}
export type LabelSelector = LabelRequirement[];

const KEY_CHARS = /[A-Za-z0-9._\/-]/;

/** Parse `a=b,c!=d,e in (x,y),f notin (z),g,!h,i>3`. Throws 400 on syntax errors like the real server. */
export function parseLabelSelector(input: string): LabelSelector {
  const s = input.trim();
  const reqs: LabelSelector = [];
  if (!s) return reqs;
  let i = 0;
  const skipWs = () => {
    while (i < s.length && /\s/.test(s[i]!)) i++;
  };
  const fail = (msg: string): never => {
    throw badRequest(`unable to parse requirement: ${msg}`);
  };
  const readWord = (): string => {
    const start = i;
    while (i < s.length && KEY_CHARS.test(s[i]!)) i++;
    return s.slice(start, i);
  };
  while (i < s.length) {
    skipWs();
    let negate = false;
    if (s[i] === '!') {
      negate = true;
      i++;
      skipWs();
    }
    const key = readWord();
    if (!key) fail(`found '${s[i] ?? 'EOF'}', expected: identifier`);
    validateLabelKey(key);
    skipWs();
    if (negate) {
      reqs.push({ key, op: '!', values: [] });
    } else if (i >= s.length || s[i] === ',') {
      reqs.push({ key, op: 'exists', values: [] });
    } else if (s.startsWith('==', i) || s.startsWith('!=', i) || s[i] === '=' || s[i] === '>' || s[i] === '<') {
      let op: LabelOp;
      if (s.startsWith('==', i)) { op = '='; i += 2; }
      else if (s.startsWith('!=', i)) { op = '!='; i += 2; }
      else if (s[i] === '=') { op = '='; i += 1; }
      else if (s[i] === '>') { op = 'gt'; i += 1; }
      else { op = 'lt'; i += 1; }
      skipWs();
      const value = readWord();
      if ((op === 'gt' || op === 'lt') && !/^-?\d+$/.test(value)) fail(`for 'Gt', 'Lt' operators, the value must be an integer`);
      reqs.push({ key, op, values: [value] });
    } else {
      const word = readWord();
      if (word !== 'in' && word !== 'notin') fail(`found '${word || s[i]}', expected: in, notin, =, ==, !=, gt, lt`);
      skipWs();
      if (s[i] !== '(') fail(`found '${s[i] ?? 'EOF'}', expected: '('`);
      i++;
      const values: string[] = [];
      for (;;) {
        skipWs();
        values.push(readWord());
        skipWs();
        if (s[i] === ',') { i++; continue; }
        if (s[i] === ')') { i++; break; }
        fail(`found '${s[i] ?? 'EOF'}', expected: ',', ')'`);
      }
      reqs.push({ key, op: word as LabelOp, values });
    }
    skipWs();
    if (i < s.length) {
      if (s[i] !== ',') fail(`found '${s[i]}', expected: ',' or 'end of string'`);
      i++;
    }
  }
  return reqs;
}

function validateLabelKey(key: string): void {
  const parts = key.split('/');
  const name = parts[parts.length - 1]!;
  if (parts.length > 2 || !/^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/.test(name) || name.length > 63) {
    throw badRequest(`unable to parse requirement: invalid label key "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`);
  }
}

export function matchesLabels(selector: LabelSelector, labels: Record<string, string> | undefined): boolean {
  for (const r of selector) {
    const has = labels !== undefined && Object.hasOwn(labels, r.key);
    const v = has ? labels![r.key]! : undefined;
    switch (r.op) {
      case 'exists': if (!has) return false; break;
      case '!': if (has) return false; break;
      case '=': if (!has || v !== r.values[0]) return false; break;
      case '!=': if (has && v === r.values[0]) return false; break;
      case 'in': if (!has || !r.values.includes(v!)) return false; break;
      case 'notin': if (has && r.values.includes(v!)) return false; break;
      case 'gt': if (!has || !(Number(v) > Number(r.values[0]))) return false; break;
      case 'lt': if (!has || !(Number(v) < Number(r.values[0]))) return false; break;
    }
  }
  return true;
}

/** metav1.LabelSelector (matchLabels/matchExpressions) → requirements, used for Scale status.selector. */
export function labelSelectorToString(sel: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] } | undefined): string {
  if (!sel) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) parts.push(`${k}=${v}`);
  for (const e of sel.matchExpressions ?? []) {
    const op = e.operator.toLowerCase();
    if (op === 'exists') parts.push(e.key);
    else if (op === 'doesnotexist') parts.push(`!${e.key}`);
    else parts.push(`${e.key} ${op} (${(e.values ?? []).join(',')})`);
  }
  return parts.sort().join(',');
}

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}
export type FieldSelector = FieldRequirement[];

/** Parse `metadata.name=x,status.phase!=Running` (values may escape `\,` `\=` `\\`). */
export function parseFieldSelector(input: string): FieldSelector {
  const out: FieldSelector = [];
  if (!input.trim()) return out;
  // Split on unescaped commas.
  const terms: string[] = [];
  let cur = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c === '\\' && i + 1 < input.length) { cur += c + input[i + 1]; i++; continue; }
    if (c === ',') { terms.push(cur); cur = ''; continue; }
    cur += c;
  }
  terms.push(cur);
  for (const term of terms) {
    const m = /^([^=!]+)(==|!=|=)(.*)$/.exec(term.trim());
    if (!m) throw badRequest(`invalid selector: '${input}'; can't understand '${term}'`);
    out.push({ field: m[1]!.trim(), op: m[2] === '!=' ? '!=' : '=', value: m[3]!.replace(/\\(.)/g, '$1') });
  }
  return out;
}

/** Match with a resolver from field label to value; unsupported labels were rejected before. */
export function matchesFields(selector: FieldSelector, valueOf: (field: string) => string | undefined): boolean {
  for (const r of selector) {
    const v = valueOf(r.field) ?? '';
    if (r.op === '=' ? v !== r.value : v === r.value) return false;
  }
  return true;
}
