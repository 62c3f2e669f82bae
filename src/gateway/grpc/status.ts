// HTTP answers of the pipeline → gRPC statuses. A gRPC call is served as a REST request (stream.ts), so every
// refusal the pipeline makes (bad input, authentication, limits, no engine, timeouts) arrives as an HTTP status and
// an error body; this maps it to the gRPC code a client expects, keeping the message and the hints a client acts on
// (`retry-after`, `www-authenticate`, the request id) as trailing metadata.
//
// The mapping follows gRPC's "HTTP to gRPC status code mapping" where it has one, and the meaning of each gateway
// error otherwise: 413 and 429 are RESOURCE_EXHAUSTED, 426 (TLS required) FAILED_PRECONDITION (the call must be
// made over TLS; retrying as it is never helps), 499 (the client left) CANCELLED, 502 and 503 UNAVAILABLE (worth a
// retry), 504 DEADLINE_EXCEEDED; a status not listed is UNKNOWN, as in gRPC's own mapping.
import { Metadata, status as Status, type StatusObject } from '@grpc/grpc-js';
import { errorMessage } from '../protocols/oip.ts';

const CODES: Record<number, Status> = {
  400: Status.INVALID_ARGUMENT,
  401: Status.UNAUTHENTICATED,
  403: Status.PERMISSION_DENIED,
  404: Status.NOT_FOUND,
  405: Status.UNIMPLEMENTED,
  408: Status.DEADLINE_EXCEEDED,
  409: Status.ABORTED,
  412: Status.FAILED_PRECONDITION,
  413: Status.RESOURCE_EXHAUSTED,
  426: Status.FAILED_PRECONDITION,
  429: Status.RESOURCE_EXHAUSTED,
  499: Status.CANCELLED,
  500: Status.INTERNAL,
  501: Status.UNIMPLEMENTED,
  502: Status.UNAVAILABLE,
  503: Status.UNAVAILABLE,
  504: Status.DEADLINE_EXCEEDED,
};

/** The gRPC code for an HTTP status that is not a success. */
export function grpcCode(httpStatus: number): Status {
  return CODES[httpStatus] ?? Status.UNKNOWN;
}

/** Response headers passed on as trailing metadata of a failed call. */
const KEPT_HEADERS = ['retry-after', 'www-authenticate', 'x-request-id'];

/** The message of an error body (OIP's `{"error": "..."}`, the OpenAI shape, or plain text). */
export function bodyMessage(status: number, body: Buffer): string {
  const text = body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const message = errorMessage(parsed);
  if (message !== null) return message;
  const trimmed = text.trim();
  return trimmed.length > 0 && trimmed.length <= 1000 ? trimmed : `HTTP status ${status}`;
}

/** A failed call's error, as grpc-js takes it. */
export function callError(code: Status, details: string, headers: Record<string, string> = {}): Partial<StatusObject> {
  const metadata = new Metadata();
  for (const name of KEPT_HEADERS) {
    const v = headers[name];
    if (v !== undefined) metadata.set(name, v);
  }
  return { code, details, metadata };
}

/** The pipeline's non-2xx answer → the call's error. */
export function httpError(status: number, headers: Record<string, string>, body: Buffer): Partial<StatusObject> {
  return callError(grpcCode(status), bodyMessage(status, body), headers);
}
