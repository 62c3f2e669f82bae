// OpenAI request parsing and validation (chat completions and completions), into one normalized shape the engine
// runs. Unknown fields are accepted and ignored, as vLLM does for sampling parameters the simulator does not model.

import { ApiError, badRequest } from './errors.ts';
import type { ChatMessage } from './chat-template.ts';

export type Endpoint = 'chat' | 'completion';

export interface PromptInput {
  /** Prompt text (for chat: the messages before templating). */
  text: string;
  /** Token ids when the prompt was given as ids (completions). */
  tokenIds?: number[];
}

export interface GenerationRequest {
  endpoint: Endpoint;
  /** The model name to echo in responses. */
  model: string;
  /** Chat: the messages, rendered later by the chat template. */
  messages?: ChatMessage[];
  tools?: unknown;
  /** Completions: one entry per prompt. */
  prompts: PromptInput[];
  n: number;
  /** max_tokens / max_completion_tokens when given. */
  maxTokens: number | undefined;
  minTokens: number;
  ignoreEos: boolean;
  stream: boolean;
  includeUsage: boolean;
  stop: string[];
  seed: number | undefined;
  echo: boolean;
  /** vLLM P/D (NIXL): do_remote_decode on the prefill side, do_remote_prefill on the decode side. */
  kvTransferParams: KvTransferParams | undefined;
}

export interface KvTransferParams {
  do_remote_decode?: boolean;
  do_remote_prefill?: boolean;
  [key: string]: unknown;
}

type Json = Record<string, unknown>;

const MAX_N = 128;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalInt(body: Json, key: string, min: number): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw badRequest(`${key} must be an integer, got ${JSON.stringify(v)}`, key);
  if (v < min) throw badRequest(`${key} must be at least ${min}, got ${v}.`, key);
  return v;
}

function optionalBool(body: Json, key: string): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw badRequest(`${key} must be a boolean, got ${JSON.stringify(v)}`, key);
  return v;
}

function optionalNumber(body: Json, key: string): void {
  const v = body[key];
  if (v !== undefined && v !== null && (typeof v !== 'number' || !Number.isFinite(v))) {
    throw badRequest(`${key} must be a number, got ${JSON.stringify(v)}`, key);
  }
}

/** Checks the `model` field against the served names; returns the name to echo. */
export function resolveModel(body: Json, servedModelNames: readonly string[]): string {
  const model = body.model;
  if (model === undefined || model === null || model === '') return servedModelNames[0]!;
  if (typeof model !== 'string') throw badRequest('model must be a string', 'model');
  if (!servedModelNames.includes(model)) {
    throw new ApiError(404, `The model \`${model}\` does not exist.`, 'model', 'NotFoundError');
  }
  return model;
}

function common(body: Json, servedModelNames: readonly string[]): Omit<GenerationRequest, 'endpoint' | 'prompts' | 'maxTokens' | 'echo'> {
  const ktp = body.kv_transfer_params;
  if (ktp !== undefined && ktp !== null && !isObject(ktp)) throw badRequest('kv_transfer_params must be an object', 'kv_transfer_params');
  const model = resolveModel(body, servedModelNames);
  const n = optionalInt(body, 'n', 1) ?? 1;
  if (n > MAX_N) throw badRequest(`n must be at most ${MAX_N}, got ${n}.`, 'n');
  for (const k of ['temperature', 'top_p', 'top_k', 'min_p', 'presence_penalty', 'frequency_penalty', 'repetition_penalty']) optionalNumber(body, k);
  const stream = optionalBool(body, 'stream') ?? false;
  let includeUsage = false;
  const so = body.stream_options;
  if (so !== undefined && so !== null) {
    if (!isObject(so)) throw badRequest('stream_options must be an object', 'stream_options');
    if (!stream) throw badRequest('Stream options can only be defined when `stream=True`.', 'stream_options');
    includeUsage = optionalBool(so, 'include_usage') ?? false;
  }
  let stop: string[] = [];
  const s = body.stop;
  if (typeof s === 'string') stop = s === '' ? [] : [s];
  else if (Array.isArray(s)) {
    if (!s.every((x) => typeof x === 'string')) throw badRequest('stop must be a string or a list of strings', 'stop');
    stop = (s as string[]).filter((x) => x !== '');
  } else if (s !== undefined && s !== null) throw badRequest('stop must be a string or a list of strings', 'stop');
  const seedValue = body.seed;
  if (seedValue !== undefined && seedValue !== null && (typeof seedValue !== 'number' || !Number.isInteger(seedValue))) {
    throw badRequest('seed must be an integer', 'seed');
  }
  return {
    model,
    n,
    minTokens: optionalInt(body, 'min_tokens', 0) ?? 0,
    ignoreEos: optionalBool(body, 'ignore_eos') ?? false,
    stream,
    includeUsage,
    stop,
    seed: typeof seedValue === 'number' ? seedValue : undefined,
    kvTransferParams: isObject(ktp) ? (ktp as KvTransferParams) : undefined,
  };
}

function checkMinTokens(req: { minTokens: number; maxTokens: number | undefined }): void {
  if (req.maxTokens !== undefined && req.minTokens > req.maxTokens) {
    throw badRequest(`min_tokens must be less than or equal to max_tokens=${req.maxTokens}, got ${req.minTokens}.`, 'min_tokens');
  }
}

export function parseChatRequest(body: unknown, servedModelNames: readonly string[]): GenerationRequest {
  if (!isObject(body)) throw badRequest('Request body must be a JSON object');
  const base = common(body, servedModelNames);
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw badRequest(messages === undefined ? 'Field required: messages' : 'messages must be a non-empty list', 'messages');
  }
  for (const [i, m] of messages.entries()) {
    if (!isObject(m) || typeof m.role !== 'string') throw badRequest(`messages[${i}] must be an object with a string role`, 'messages');
    const c = m.content;
    if (c !== undefined && c !== null && typeof c !== 'string' && !Array.isArray(c)) {
      throw badRequest(`messages[${i}].content must be a string or a list of content parts`, 'messages');
    }
  }
  const maxTokens = optionalInt(body, 'max_completion_tokens', 1) ?? optionalInt(body, 'max_tokens', 1);
  const req: GenerationRequest = {
    ...base,
    endpoint: 'chat',
    messages: messages as ChatMessage[],
    tools: body.tools,
    prompts: [],
    maxTokens,
    echo: false,
  };
  checkMinTokens(req);
  return req;
}

function isTokenIds(v: unknown): v is number[] {
  return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0);
}

export function parseCompletionRequest(body: unknown, servedModelNames: readonly string[]): GenerationRequest {
  if (!isObject(body)) throw badRequest('Request body must be a JSON object');
  const base = common(body, servedModelNames);
  const p = body.prompt;
  let prompts: PromptInput[];
  if (typeof p === 'string') prompts = [{ text: p }];
  else if (isTokenIds(p)) prompts = [{ text: '', tokenIds: p }];
  else if (Array.isArray(p) && p.length > 0 && p.every((x) => typeof x === 'string')) prompts = (p as string[]).map((text) => ({ text }));
  else if (Array.isArray(p) && p.length > 0 && p.every(isTokenIds)) prompts = (p as number[][]).map((ids) => ({ text: '', tokenIds: ids }));
  else if (p === undefined || p === null) throw badRequest('Field required: prompt', 'prompt');
  else throw badRequest('prompt must be a string, a list of strings, a list of token ids or a list of lists of token ids', 'prompt');
  const req: GenerationRequest = {
    ...base,
    endpoint: 'completion',
    prompts,
    maxTokens: optionalInt(body, 'max_tokens', 1),
    echo: optionalBool(body, 'echo') ?? false,
  };
  checkMinTokens(req);
  return req;
}
