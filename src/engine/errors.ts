// Errors in the shape of vLLM's OpenAI-compatible server: {"error": {"message", "type", "param", "code"}} where `code`
// is the HTTP status and `type` names the error class (BadRequestError, NotFoundError, …).

export class ApiError extends Error {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;

  constructor(status: number, message: string, param: string | null = null, type?: string) {
    super(message);
    this.status = status;
    this.param = param;
    this.type = type ?? defaultType(status);
  }

  body(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.status } };
  }
}

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: number };
}

function defaultType(status: number): string {
  switch (status) {
    case 400:
    case 413:
      return 'BadRequestError';
    case 404:
      return 'NotFoundError';
    case 405:
      return 'MethodNotAllowedError';
    case 503:
      return 'ServiceUnavailableError';
    default:
      return status >= 500 ? 'InternalServerError' : 'BadRequestError';
  }
}

export const badRequest = (message: string, param: string | null = null): ApiError => new ApiError(400, message, param);
