// Small client helpers for the agent: wire JSON, error codes and retries, on top of @kubernetes/client-node so they
// behave the same against the embedded API server and kube-apiserver. Its pods are listed and watched by the shared
// informer (kube/informer.ts).

/**
 * client-node's typed models turn timestamps into Date objects; a JSON round trip turns them back into RFC 3339
 * strings, which gives the wire form (field names of the core/v1 models are the wire names).
 */
export function wire<T>(obj: unknown): T {
  return JSON.parse(JSON.stringify(obj)) as T;
}

/** HTTP status of a failed API call (ApiException.code, Watch's statusCode), undefined for network errors. */
export function errCode(err: unknown): number | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

export function errMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = errCode(err);
  const body = (err as { body?: unknown }).body;
  let detail = '';
  if (body && typeof body === 'object' && 'message' in body) detail = String((body as { message: unknown }).message);
  else if (typeof body === 'string') {
    try {
      detail = String((JSON.parse(body) as { message?: unknown }).message ?? body);
    } catch {
      detail = body;
    }
  }
  if (code !== undefined) return `HTTP ${code}${detail ? `: ${detail}` : ''}`;
  return err.message;
}

/** Worth retrying: conflicts, throttling, server errors and network failures. */
export function retryable(err: unknown): boolean {
  const code = errCode(err);
  return code === undefined || code === 409 || code === 429 || code >= 500;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
