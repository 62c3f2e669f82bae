// A front: what one client API (OpenAI, the seed's per-ModelServer infer path, the Open Inference Protocol) adds to
// the shared pipeline (pipeline.ts). It parses the request body into the exchange's fields and, where the API's
// responses are not the engine's own, translates the engine's answer. Everything between — routing, policy,
// scheduling, retries, accounting — is the pipeline's and the same for every front.
import type { Exchange } from '../http/exchange.ts';
import type { BufferedResponse, BufferedResponseHandler } from '../proxy/upstream.ts';
import { engineErrorBody } from '../proxy/engine-errors.ts';

export interface Front {
  /** For metrics and logs. */
  readonly name: string;
  /**
   * The body read whole → `ex.body` (the engine request as an object), `ex.model`, `ex.payload` (its bytes) and
   * `ex.upstreamPath`; false after answering (400).
   */
  parse(ex: Exchange, raw: Buffer): boolean;
  /** Collect the engine's answer and translate it for the client; null: relay it as it comes. */
  readonly translate: BufferedResponseHandler | null;
  /**
   * A relayed successful answer rewritten for the client as it streams (the engine's SSE → the API's events), after
   * the usage meter; absent: relayed untouched. Called once per attempt whose response starts.
   */
  relay?(ex: Exchange): RelayTranslator;
  /** Write the metadata of `ex.server` / `ex.model` (the DESCRIBE pipeline). */
  describe?(ex: Exchange): void;
  /** An error body in the API's own shape, from the gateway's OpenAI-shaped one; absent: the OpenAI shape. */
  errorBody?(openai: string | Buffer): string;
}

/** Rewrites one relayed response; '' when nothing is to be sent yet. */
export interface RelayTranslator {
  push(chunk: Buffer): string;
  /** The engine's response ended: what is left to send. */
  end(): string;
}

/** A client-supplied name for an error message, bounded in length. */
export function shown(name: string): string {
  return name.length > 200 ? `${name.slice(0, 200)}…` : name;
}

/** The body as a JSON object, or undefined after answering 400. */
export function parseJsonObject(ex: Exchange, raw: Buffer): Record<string, unknown> | undefined {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    ex.fail('invalid_json', `The request body is not valid JSON: ${(err as Error).message}`);
    return undefined;
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    ex.fail('invalid_request', 'The request body must be a JSON object.');
    return undefined;
  }
  return body as Record<string, unknown>;
}

/**
 * The engine's answer to a front that translates it (`translate`): an engine error is answered as it is (its status,
 * in the front's error shape) and gives undefined; otherwise the parsed body, or null when it is not JSON.
 */
export function engineAnswer(ex: Exchange, response: BufferedResponse): unknown {
  if (response.status < 200 || response.status >= 300) {
    ex.errorCode = 'upstream_status';
    ex.sendJson(response.status, engineErrorBody(response.status, response.body));
    return undefined;
  }
  try {
    return JSON.parse(response.body.toString('utf8')) as unknown;
  } catch {
    return null;
  }
}

/** The engine answered 2xx with something that is not a completion: 502. */
export function notACompletion(ex: Exchange): void {
  ex.modelMetrics.upstreamError('status');
  ex.fail('upstream_error', 'The engine did not answer with a completion.');
}
