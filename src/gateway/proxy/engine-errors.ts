// Engine errors in the OpenAI shape. Engines write errors each their own way:
//   the simulated engine, recent vLLM     {"error": {"message", "type", "param", "code"}}   (already the shape)
//   older vLLM, SGLang                    {"object": "error", "message", "type", "param", "code"}
//   FastAPI (SGLang, validation errors)   {"detail": "..." | [{"loc": [...], "msg": "..."}]}
//   others                                {"error": "..."}, {"message": "..."}, plain text, nothing
// The gateway answers every one as {"error": {"message", "type", "code", "param"}}, as it does its own errors: the
// status and the engine's message are kept, and its `type`, `code` and `param` when it gave them (vLLM's `code` is
// the HTTP status, a number); otherwise `type` is the gateway's for the status and `code` the status.
// Only non-2xx responses come here (proxy/upstream.ts buffers those); a body already in the shape is relayed as is.
import { errorType } from '../http/errors.ts';

/** Longest engine message kept (plain-text bodies can be whole HTML pages). */
const MAX_MESSAGE = 4096;

export interface EngineErrorBody {
  error: { message: string; type: string; code: string | number; param: string | null };
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function clip(text: string): string {
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text;
}

/** FastAPI's `detail`: a string, or validation errors `[{loc: [...], msg}]`. */
function detailMessage(detail: unknown): string {
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => (isObject(d) && typeof d.msg === 'string' ? (Array.isArray(d.loc) ? `${d.loc.join('.')}: ${d.msg}` : d.msg) : JSON.stringify(d)))
      .join('; ');
  }
  return JSON.stringify(detail);
}

/** The fields the engine gave, or undefined when the body says nothing recognisable. */
function fromJson(value: unknown): { message: string; type?: unknown; code?: unknown; param?: unknown } | undefined {
  if (!isObject(value)) return undefined;
  const error = value.error;
  if (isObject(error) && typeof error.message === 'string') return error as { message: string };
  if (typeof error === 'string') return { message: error, type: value.type, code: value.code };
  if (typeof value.message === 'string') return value as { message: string };
  if (value.detail !== undefined) return { message: detailMessage(value.detail) };
  return undefined;
}

function inShape(value: unknown): boolean {
  if (!isObject(value) || !isObject(value.error)) return false;
  const e = value.error;
  return typeof e.message === 'string' && typeof e.type === 'string' && (typeof e.code === 'string' || typeof e.code === 'number');
}

/** The engine's error `body` (status `status`) as an OpenAI error body; `body` itself when it already is one. */
export function engineErrorBody(status: number, body: Buffer): Buffer {
  const text = body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (inShape(parsed)) return body;
  const found = fromJson(parsed);
  const trimmed = text.trim();
  const message = found !== undefined ? found.message : trimmed !== '' ? trimmed : `The engine answered HTTP ${status}.`;
  const out: EngineErrorBody = {
    error: {
      message: clip(message),
      type: typeof found?.type === 'string' ? found.type : errorType(status),
      code: typeof found?.code === 'string' || typeof found?.code === 'number' ? found.code : status,
      param: typeof found?.param === 'string' ? found.param : null,
    },
  };
  return Buffer.from(JSON.stringify(out));
}
