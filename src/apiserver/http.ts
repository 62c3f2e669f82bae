// Response writing: JSON or YAML bodies, Status errors, and the `Warning` headers clients print.
import type { ServerResponse } from 'node:http';
import { stringify as toYaml } from 'yaml';
import { ApiError, internalError } from './errors.ts';
import { writeRecord } from '../kube/log.ts';

export function sendJson(res: ServerResponse, code: number, body: unknown, format: 'json' | 'yaml' = 'json', headers: Record<string, string | string[]> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = format === 'yaml' ? toYaml(body) : JSON.stringify(body);
  res.writeHead(code, {
    'Content-Type': format === 'yaml' ? 'application/yaml' : 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache, private',
    ...headers,
  });
  res.end(text);
}

export function sendText(res: ServerResponse, code: number, text: string, contentType = 'text/plain; charset=utf-8'): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown): void {
  const apiErr = err instanceof ApiError ? err : internalError(err);
  if (!(err instanceof ApiError)) writeRecord('error', 'apiserver', 'internal error', { error: (err as Error)?.stack ?? String(err) });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, apiErr.code, apiErr.toStatus());
}

/** RFC 7234 warning headers, as kube-apiserver sends them: `299 - "text"`. */
export function warningHeaders(warnings: string[]): Record<string, string[]> {
  if (warnings.length === 0) return {};
  return { Warning: warnings.map((w) => `299 - ${JSON.stringify(w)}`) };
}
