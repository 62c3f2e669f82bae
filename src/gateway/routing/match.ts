// Compiled request matchers for ModelRoute rules. Everything is compiled once when the routing table is built
// (regexes included); matching a request is then only string comparisons.
//
// Semantics (following kthena-router):
// - a rule without `modelMatch` (or with an empty one) matches every request;
// - `headers`: every listed header must match; a missing header is matched as the empty string; names are
//   case-insensitive; repeated headers are seen joined with ", " (as node:http presents them);
// - `uri` matches the request path without the query string;
// - `regex` is an unanchored ECMAScript regular expression (anchor with ^…$ for a full match); an invalid regex
//   never matches;
// - a StringMatch with none of exact/prefix/regex matches anything; with several, all of them must hold.
import type { IncomingHttpHeaders } from 'node:http';
import type { RouteRule, StringMatch } from '../../api/kinds/modelroute.ts';

export interface CompiledStringMatch {
  exact: string | undefined;
  prefix: string | undefined;
  regex: RegExp | undefined;
  /** The regex did not compile: the match can never succeed. */
  invalid: boolean;
}

export interface CompiledHeaderMatch {
  /** Lower-cased header name. */
  name: string;
  match: CompiledStringMatch;
}

export interface CompiledModelMatch {
  headers: CompiledHeaderMatch[];
  uri: CompiledStringMatch | undefined;
}

export interface CompileProblem {
  message: string;
}

export function compileStringMatch(m: StringMatch, problems?: CompileProblem[]): CompiledStringMatch {
  let regex: RegExp | undefined;
  let invalid = false;
  if (typeof m.regex === 'string') {
    try {
      regex = new RegExp(m.regex);
    } catch (err) {
      invalid = true;
      problems?.push({ message: `invalid regex ${JSON.stringify(m.regex)}: ${(err as Error).message}` });
    }
  }
  return {
    exact: typeof m.exact === 'string' ? m.exact : undefined,
    prefix: typeof m.prefix === 'string' ? m.prefix : undefined,
    regex,
    invalid,
  };
}

export function stringMatches(m: CompiledStringMatch, value: string): boolean {
  if (m.invalid) return false;
  if (m.exact !== undefined && value !== m.exact) return false;
  if (m.prefix !== undefined && !value.startsWith(m.prefix)) return false;
  if (m.regex !== undefined && !m.regex.test(value)) return false;
  return true;
}

/** null when the rule matches everything. */
export function compileModelMatch(rule: Pick<RouteRule, 'modelMatch'>, problems?: CompileProblem[]): CompiledModelMatch | null {
  const mm = rule.modelMatch;
  if (!mm) return null;
  const headers: CompiledHeaderMatch[] = [];
  for (const [name, sm] of Object.entries(mm.headers ?? {})) {
    if (sm && typeof sm === 'object') headers.push({ name: name.toLowerCase(), match: compileStringMatch(sm, problems) });
  }
  const uri = mm.uri ? compileStringMatch(mm.uri, problems) : undefined;
  if (headers.length === 0 && uri === undefined) return null;
  return { headers, uri };
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string {
  const v = headers[name];
  if (v === undefined) return '';
  return typeof v === 'string' ? v : v.join(', ');
}

export function modelMatches(m: CompiledModelMatch | null, headers: IncomingHttpHeaders, path: string): boolean {
  if (m === null) return true;
  if (m.uri !== undefined && !stringMatches(m.uri, path)) return false;
  const hs = m.headers;
  for (let i = 0; i < hs.length; i++) {
    const h = hs[i]!;
    if (!stringMatches(h.match, headerValue(headers, h.name))) return false;
  }
  return true;
}
