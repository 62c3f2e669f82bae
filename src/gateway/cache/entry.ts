// The cache entry: one canonical form of a completed response, whether it arrived as JSON or as a stream, that
// replays either way.
//
//   chat         per choice: role, content, reasoning_content (when the engine gave one), tool_calls,
//                finish_reason; completions: per choice text and finish_reason; both: model and usage
//   replayJson   `chat.completion` / `text_completion` body with a fresh id and `created`
//   replaySse    chunks as an OpenAI stream would send them: per choice a role chunk, the content in pieces of
//                about PIECE characters, tool calls, a finish chunk; a usage chunk (`choices: []`) when the request
//                asked for `stream_options.include_usage`; then `data: [DONE]`
//
// Rules: nothing request-specific is stored (no id, no system_fingerprint), so an entry serves any request with the
// same identity; replayed ids are `chatcmpl-cache-…` / `cmpl-cache-…`, so a client or a log can tell a replay.
import { randomBytes } from 'node:crypto';
import type { CacheKind } from './request.ts';

export interface ToolCall {
  id: string;
  type: string;
  function: { name: string; arguments: string };
}

export interface CachedChoice {
  index: number;
  /** chat */
  role?: string;
  content?: string | null;
  reasoning_content?: string;
  tool_calls?: ToolCall[];
  /** completions */
  text?: string;
  finish_reason: string | null;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface CacheEntry {
  kind: CacheKind;
  model: string;
  choices: CachedChoice[];
  usage: Usage | null;
  /** When the response was stored (ms since the epoch): the tiers compare it with their ttl. */
  storedAt: number;
}

const PIECE = 48;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function readUsage(u: unknown): Usage | null {
  if (!isObject(u)) return null;
  const p = u.prompt_tokens;
  const c = u.completion_tokens;
  if (typeof p !== 'number' || typeof c !== 'number') return null;
  return { prompt_tokens: p, completion_tokens: c, total_tokens: typeof u.total_tokens === 'number' ? u.total_tokens : p + c };
}

function readToolCalls(v: unknown): ToolCall[] | undefined {
  if (!Array.isArray(v) || v.length === 0) return undefined;
  return v.filter(isObject).map((t) => {
    const fn = isObject(t.function) ? t.function : {};
    return {
      id: typeof t.id === 'string' ? t.id : '',
      type: typeof t.type === 'string' ? t.type : 'function',
      function: { name: typeof fn.name === 'string' ? fn.name : '', arguments: typeof fn.arguments === 'string' ? fn.arguments : '' },
    };
  });
}

/** The entry for a complete JSON response body, or undefined when the body is not a well-formed completion. */
export function entryFromJson(kind: CacheKind, body: unknown, now = Date.now()): CacheEntry | undefined {
  if (!isObject(body) || !Array.isArray(body.choices) || body.choices.length === 0) return undefined;
  const choices: CachedChoice[] = [];
  for (const [i, c] of body.choices.entries()) {
    if (!isObject(c)) return undefined;
    const index = typeof c.index === 'number' ? c.index : i;
    const finish = typeof c.finish_reason === 'string' ? c.finish_reason : null;
    if (kind === 'chat') {
      if (!isObject(c.message)) return undefined;
      const m = c.message;
      const choice: CachedChoice = { index, role: typeof m.role === 'string' ? m.role : 'assistant', content: typeof m.content === 'string' ? m.content : null, finish_reason: finish };
      if (typeof m.reasoning_content === 'string') choice.reasoning_content = m.reasoning_content;
      const tools = readToolCalls(m.tool_calls);
      if (tools) choice.tool_calls = tools;
      choices.push(choice);
    } else {
      if (typeof c.text !== 'string') return undefined;
      choices.push({ index, text: c.text, finish_reason: finish });
    }
  }
  return { kind, model: typeof body.model === 'string' ? body.model : '', choices, usage: readUsage(body.usage), storedAt: now };
}

const newId = (kind: CacheKind): string => (kind === 'chat' ? 'chatcmpl-cache-' : 'cmpl-cache-') + randomBytes(12).toString('hex');

/** The entry as a non-streamed response body. */
export function replayJson(entry: CacheEntry, now = Date.now()): string {
  const created = Math.floor(now / 1000);
  const choices = entry.choices.map((c) =>
    entry.kind === 'chat'
      ? {
          index: c.index,
          message: { role: c.role ?? 'assistant', content: c.content ?? null, ...(c.reasoning_content !== undefined ? { reasoning_content: c.reasoning_content } : {}), ...(c.tool_calls ? { tool_calls: c.tool_calls } : {}) },
          logprobs: null,
          finish_reason: c.finish_reason,
        }
      : { index: c.index, text: c.text ?? '', logprobs: null, finish_reason: c.finish_reason },
  );
  return JSON.stringify({
    id: newId(entry.kind),
    object: entry.kind === 'chat' ? 'chat.completion' : 'text_completion',
    created,
    model: entry.model,
    choices,
    ...(entry.usage ? { usage: entry.usage } : {}),
  });
}

function pieces(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + PIECE);
    // Never split a surrogate pair.
    if (end < text.length && /[\uD800-\uDBFF]/.test(text[end - 1]!)) end++;
    out.push(text.slice(start, end));
    start = end;
  }
  return out;
}

/** The entry as the events of a server-sent stream, ending with `data: [DONE]`. */
export function replaySse(entry: CacheEntry, includeUsage: boolean, now = Date.now()): string {
  const id = newId(entry.kind);
  const created = Math.floor(now / 1000);
  const object = entry.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  const events: string[] = [];
  const emit = (choices: unknown[], usage?: Usage | null) => {
    const chunk: Record<string, unknown> = { id, object, created, model: entry.model, choices };
    if (usage !== undefined) chunk.usage = usage;
    events.push('data: ' + JSON.stringify(chunk) + '\n\n');
  };
  for (const c of entry.choices) {
    if (entry.kind === 'chat') {
      emit([{ index: c.index, delta: { role: c.role ?? 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
      for (const p of pieces(c.reasoning_content ?? '')) emit([{ index: c.index, delta: { reasoning_content: p }, logprobs: null, finish_reason: null }]);
      for (const p of pieces(c.content ?? '')) emit([{ index: c.index, delta: { content: p }, logprobs: null, finish_reason: null }]);
      if (c.tool_calls) {
        const calls = c.tool_calls.map((t, i) => ({ index: i, id: t.id, type: t.type, function: t.function }));
        emit([{ index: c.index, delta: { tool_calls: calls }, logprobs: null, finish_reason: null }]);
      }
      emit([{ index: c.index, delta: {}, logprobs: null, finish_reason: c.finish_reason }]);
    } else {
      const ps = pieces(c.text ?? '');
      for (const [i, p] of ps.entries()) emit([{ index: c.index, text: p, logprobs: null, finish_reason: i === ps.length - 1 ? c.finish_reason : null }]);
      if (ps.length === 0) emit([{ index: c.index, text: '', logprobs: null, finish_reason: c.finish_reason }]);
    }
  }
  if (includeUsage && entry.usage) emit([], entry.usage);
  events.push('data: [DONE]\n\n');
  return events.join('');
}
