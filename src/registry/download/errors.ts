// The download step's typed failures: every way a download ends badly has a reason the Model's status and the init
// container's termination message show, and a rule for whether another attempt may help. Pure.
//
// Rules:
//  - Each store module turns its client's errors into a DownloadError with `classify*`; nothing else is thrown out
//    of the downloader (an unknown error becomes StoreUnreachable with the original message, retried like one).
//  - Retryable: StoreUnreachable and Stalled (a passing network fault). Never retried: InvalidSource,
//    MissingCredentials, Forbidden, NotFound (another attempt gets the same answer), DiskFull (the .part is kept
//    for a later run), the scan's verdicts. ChecksumMismatch is retried once from zero by the file fetcher.
export type DownloadReason =
  | 'InvalidSource'
  | 'MissingCredentials'
  | 'StoreUnreachable'
  | 'NotFound'
  | 'Forbidden'
  | 'ChecksumMismatch'
  | 'DiskFull'
  | 'Stalled'
  | 'UnsafeArtifact'
  | 'InvalidArtifact'
  | 'PolicyViolation';

const RETRYABLE: ReadonlySet<DownloadReason> = new Set(['StoreUnreachable', 'Stalled']);

export class DownloadError extends Error {
  override readonly name = 'DownloadError';
  readonly reason: DownloadReason;
  constructor(reason: DownloadReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
  get retryable(): boolean {
    return RETRYABLE.has(this.reason);
  }
}

/** Node's system error codes that mean the store could not be reached (DNS, refused, reset, TLS, timeouts). */
const UNREACHABLE_CODES = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

/** The system error code of `err` or of one of its causes (fetch wraps them: TypeError('fetch failed').cause). */
export function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const errors = (e as { errors?: unknown }).errors; // AggregateError of happy-eyeballs connects
    if (Array.isArray(errors) && errors.length > 0) return errorCode(errors[0]);
  }
  return undefined;
}

/** The error's message with its causes' (fetch says only "fetch failed"; the cause says why) and its code. */
function describe(err: unknown): string {
  const code = errorCode(err);
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const message = e instanceof Error ? e.message : String(e);
    if (message && !parts.includes(message)) parts.push(message);
  }
  const message = parts.join(': ');
  return code !== undefined && !message.includes(code) ? `${message} (${code})` : message;
}

/** A DownloadError for an HTTP status from a store (what: the object or listing asked for). */
export function fromStatus(status: number, what: string, detail = ''): DownloadError {
  const tail = detail ? `: ${detail}` : '';
  if (status === 401) return new DownloadError('Forbidden', `${what}: the store refused the credentials (HTTP 401)${tail}`);
  if (status === 403) return new DownloadError('Forbidden', `${what}: access denied (HTTP 403)${tail}`);
  if (status === 404) return new DownloadError('NotFound', `${what}: not found (HTTP 404)${tail}`);
  if (status === 416) return new DownloadError('StoreUnreachable', `${what}: range not satisfiable (HTTP 416)${tail}`);
  return new DownloadError('StoreUnreachable', `${what}: HTTP ${status}${tail}`);
}

/**
 * Any error from a store's client as a DownloadError: an existing one is kept; an HTTP status (`status`,
 * `statusCode`, `$metadata.httpStatusCode`, `code` as a number) maps with fromStatus; a system error or anything
 * else is StoreUnreachable; ENOSPC is DiskFull.
 */
export function classify(err: unknown, what: string): DownloadError {
  if (err instanceof DownloadError) return err;
  const code = errorCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') return new DownloadError('DiskFull', `${what}: the cache disk is full (${code}); the partial file is kept for a later run`, { cause: err });
  const e = (err ?? {}) as { status?: unknown; statusCode?: unknown; code?: unknown; $metadata?: { httpStatusCode?: unknown } };
  const status = [e.$metadata?.httpStatusCode, e.statusCode, e.status, e.code].find((v): v is number => typeof v === 'number' && v >= 100 && v < 600);
  if (status !== undefined && status >= 400) {
    const mapped = fromStatus(status, what, err instanceof Error ? err.message.split('\n')[0]!.slice(0, 300) : '');
    return new DownloadError(mapped.reason, mapped.message, { cause: err });
  }
  if (code !== undefined && UNREACHABLE_CODES.has(code)) return new DownloadError('StoreUnreachable', `${what}: the store cannot be reached: ${describe(err)}`, { cause: err });
  return new DownloadError('StoreUnreachable', `${what}: ${describe(err)}`, { cause: err });
}
