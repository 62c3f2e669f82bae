// OpenAI-style error bodies: every error the gateway itself produces has the shape
//   {"error": {"message": string, "type": string, "code": string, "param": string | null}}
// so OpenAI SDKs surface them as typed API errors.

export type ErrorType = 'invalid_request_error' | 'server_error';

/** Codes the gateway emits; the HTTP status is fixed per code. */
export const ERROR_STATUS = {
  invalid_json: 400,
  invalid_request: 400,
  missing_model: 400,
  model_not_ready: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  model_not_found: 404,
  route_not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  request_too_large: 413,
  rate_limited: 429,
  internal_error: 500,
  upstream_connect_error: 502,
  upstream_error: 502,
  no_healthy_upstream: 503,
  gateway_not_ready: 503,
  auth_unavailable: 503,
  rate_limiter_unavailable: 503,
  model_scaling_from_zero: 503,
  upstream_timeout: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface OpenAIErrorBody {
  error: { message: string; type: ErrorType; code: ErrorCode | string; param: string | null };
}

export function errorType(status: number): ErrorType {
  return status >= 500 ? 'server_error' : 'invalid_request_error';
}

export function errorBody(code: ErrorCode, message: string, param: string | null = null): OpenAIErrorBody {
  return { error: { message, type: errorType(ERROR_STATUS[code]), code, param } };
}

/** A failure to be answered with an OpenAI error; thrown or returned inside the gateway. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly param: string | null;
  /** Seconds for `retry-after` (503s). */
  readonly retryAfter: number | undefined;
  /** Methods for `allow` (405s). */
  readonly allow: string | undefined;
  constructor(code: ErrorCode, message: string, options: { param?: string | null; retryAfter?: number; allow?: string } = {}) {
    super(message);
    this.name = 'GatewayError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.param = options.param ?? null;
    this.retryAfter = options.retryAfter;
    this.allow = options.allow;
  }

  body(): OpenAIErrorBody {
    return errorBody(this.code, this.message, this.param);
  }
}
