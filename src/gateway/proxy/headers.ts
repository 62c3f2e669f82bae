// Header handling between client and upstream: hop-by-hop headers (RFC 9110 §7.6.1) and the ones the proxy
// recomputes are not forwarded in either direction.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

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

function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value.join(',') : value;
  let out: Set<string> | undefined;
  for (const t of text.split(',')) {
    const name = t.trim().toLowerCase();
    if (name && name !== 'close' && name !== 'keep-alive') (out ??= new Set()).add(name);
  }
  return out;
}

/**
 * Request headers for the upstream: end-to-end client headers, plus the body length, the request id and (when
 * given) the gateway's W3C `traceparent` in place of the client's.
 */
export function upstreamRequestHeaders(
  client: IncomingHttpHeaders,
  requestId: string,
  contentLength: number,
  traceparent?: string,
): Record<string, string | string[]> {
  const extra = connectionTokens(client.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in client) {
    if (HOP_BY_HOP.has(name) || (extra !== undefined && extra.has(name))) continue;
    const v = client[name];
    if (v !== undefined) out[name] = v;
  }
  out['content-type'] = 'application/json';
  out['content-length'] = String(contentLength);
  out['x-request-id'] = requestId;
  if (traceparent !== undefined) out['traceparent'] = traceparent;
  return out;
}

/** Response headers for the client. `content-length` is kept: the body is relayed byte for byte. */
export function clientResponseHeaders(upstream: IncomingHttpHeaders, requestId: string): OutgoingHttpHeaders {
  const extra = connectionTokens(upstream.connection);
  const out: OutgoingHttpHeaders = {};
  for (const name in upstream) {
    if (name !== 'content-length' && (HOP_BY_HOP.has(name) || (extra !== undefined && extra.has(name)))) continue;
    const v = upstream[name];
    if (v !== undefined) out[name] = v;
  }
  out['x-request-id'] = requestId;
  return out;
}
