// Header handling between client and upstream: hop-by-hop headers (RFC 9110 §7.6.1) and the ones the proxy
// recomputes are not forwarded in either direction.
import type { IncomingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'expect',
  'http2-settings',
]);

/** Extra hop-by-hop names listed in `Connection` (besides close/keep-alive), or undefined: the common case. */
function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && value.length <= 10) {
    const v = value.toLowerCase();
    if (v === 'keep-alive' || v === 'close') return undefined;
  }
  const text = Array.isArray(value) ? value.join(',') : value;
  let out: Set<string> | undefined;
  for (const t of text.split(',')) {
    const name = t.trim().toLowerCase();
    if (name && name !== 'close' && name !== 'keep-alive') (out ??= new Set()).add(name);
  }
  return out;
}

/** Names the gateway sets itself on upstream requests: the client's values are replaced. */
const SET_UPSTREAM = new Set(['content-type', 'x-request-id', 'traceparent']);

function appendLines(out: string, name: string, v: string | string[]): string {
  if (typeof v === 'string') return out + name + ': ' + v + '\r\n';
  for (const item of v) out += name + ': ' + item + '\r\n';
  return out;
}

/**
 * Request header lines for the upstream ("name: value\r\n" each; values passed the server's strict parser, so
 * they hold no CR/LF): end-to-end client headers, plus the body length, the request id, the gateway's W3C
 * `traceparent` in place of the client's, and `accept-encoding: identity` when the gateway must read the body.
 */
export function upstreamRequestLines(
  client: IncomingHttpHeaders,
  requestId: string,
  contentLength: number,
  traceparent: string | undefined,
  identity = false,
): string {
  const extra = connectionTokens(client.connection);
  let out = '';
  for (const name in client) {
    if (HOP_BY_HOP.has(name) || SET_UPSTREAM.has(name) || (extra !== undefined && extra.has(name))) continue;
    if (identity && name === 'accept-encoding') continue;
    const v = client[name];
    if (v !== undefined) out = appendLines(out, name, v);
  }
  out += 'content-type: application/json\r\ncontent-length: ' + contentLength + '\r\nx-request-id: ' + requestId + '\r\n';
  if (traceparent !== undefined) out += 'traceparent: ' + traceparent + '\r\n';
  if (identity) out += 'accept-encoding: identity\r\n';
  return out;
}

/** Response header lines for the client (framing headers excluded: the server writes them), with the request id. */
export function clientResponseLines(upstream: IncomingHttpHeaders, requestId: string): string {
  const extra = connectionTokens(upstream.connection);
  let out = '';
  for (const name in upstream) {
    if (HOP_BY_HOP.has(name) || name === 'x-request-id' || name === 'date' || (extra !== undefined && extra.has(name))) continue;
    const v = upstream[name];
    if (v !== undefined) out = appendLines(out, name, v);
  }
  return out + 'x-request-id: ' + requestId + '\r\n';
}

/** The upstream's Content-Length, or -1 (the body is then relayed chunked). */
export function contentLengthOf(headers: IncomingHttpHeaders): number {
  const v = headers['content-length'];
  return v === undefined ? -1 : Number(v);
}
