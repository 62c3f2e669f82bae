// A deprecated route's response headers, compiled once per routing-table build (never per request):
//  - `Deprecation: @<unix seconds>` (RFC 9745: an RFC 9651 structured-field Date, the moment of `spec.deprecation.since`);
//  - with a successor, `Link: </v1/models/<successor>>; rel="successor-version"` (RFC 5829's relation; the target is
//    the OpenAI retrieve-model path the gateway answers), the name percent-encoded where a URI needs it.
// Both forms are kept: `lines` for the responses the gateway writes as raw header lines (relayed engine answers),
// `headers` for those it writes from a record (its own JSON answers). A route without `spec.deprecation` has null,
// so the request path pays one null check. An unparseable `since` is a table problem and no header.
import type { ModelRouteSpec } from '../../api/kinds/modelroute.ts';

export interface RouteDeprecation {
  /** `since` in unix seconds. */
  since: number;
  successor: string | undefined;
  message: string | undefined;
  /** `deprecation: …\r\n[link: …\r\n]`, appended to a response head as is. */
  lines: string;
  headers: Readonly<Record<string, string>>;
}

/** `</v1/models/NAME>; rel="successor-version"`: the name as a URI path (slashes kept, anything else unsafe escaped). */
export function successorLink(name: string): string {
  return `</v1/models/${encodeURI(name).replace(/[<>;,"]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}>; rel="successor-version"`;
}

export function compileDeprecation(spec: ModelRouteSpec['deprecation'], key: string, problems: string[]): RouteDeprecation | null {
  if (spec === undefined || spec === null) return null;
  const ms = Date.parse(spec.since);
  if (Number.isNaN(ms)) {
    problems.push(`ModelRoute ${key}: deprecation.since ${JSON.stringify(spec.since)} is not a date-time; no Deprecation header`);
    return null;
  }
  const since = Math.floor(ms / 1000);
  const headers: Record<string, string> = { deprecation: `@${since}` };
  if (spec.successor) headers.link = successorLink(spec.successor);
  let lines = '';
  for (const name in headers) lines += `${name}: ${headers[name]}\r\n`;
  return { since, successor: spec.successor || undefined, message: spec.message || undefined, lines, headers };
}
