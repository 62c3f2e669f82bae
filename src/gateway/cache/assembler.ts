// Turns a relayed OpenAI server-sent stream (chat or completions) into a cache entry, chunk by chunk as the relay
// passes them, and says whether the stream completed: only then may it be stored.
//
// Complete means: `data: [DONE]` arrived, no `data: {"error": …}` event came before it, every choice seen has a
// finish_reason, and the stream was not cut (the caller calls `finish()` only at the upstream's end; a broken or
// abandoned stream never reaches it). Deltas are merged per choice index: content and reasoning_content
// concatenated, tool calls merged by their own index (id, type and name from the first delta that has them,
// arguments concatenated), the usage from the usage event (`choices: []`) or from a final chunk that carries one.
//
// Rules: lines are split on `\n` across chunk boundaries with a string decoder (multi-byte characters may be split
// by the network); only `data:` lines are read; the assembler holds the whole response text, bounded by
// `maxBytes` (beyond it the stream is not stored and the assembler stops collecting).
import { StringDecoder } from 'node:string_decoder';
import type { CacheEntry, CachedChoice, ToolCall, Usage } from './entry.ts';
import type { CacheKind } from './request.ts';

export type AssemblyResult = { complete: true; entry: CacheEntry } | { complete: false; reason: 'no_done' | 'error_event' | 'unfinished_choice' | 'too_large' | 'malformed' };

interface Partial {
  index: number;
  role: string | undefined;
  content: string;
  reasoning: string;
  tools: ToolCall[];
  finish: string | null;
}

export class SseAssembler {
  readonly #kind: CacheKind;
  readonly #maxBytes: number;
  readonly #decoder = new StringDecoder('utf8');
  readonly #choices = new Map<number, Partial>();
  #line = '';
  #bytes = 0;
  #model = '';
  #usage: Usage | null = null;
  #done = false;
  #failed: 'error_event' | 'too_large' | 'malformed' | undefined;

  constructor(kind: CacheKind, maxBytes = 4 << 20) {
    this.#kind = kind;
    this.#maxBytes = maxBytes;
  }

  /** Feed the next chunk of the stream as relayed. */
  push(chunk: Uint8Array): void {
    if (this.#failed !== undefined) return;
    this.#bytes += chunk.length;
    if (this.#bytes > this.#maxBytes) {
      this.#failed = 'too_large';
      this.#line = '';
      return;
    }
    const text = this.#line + this.#decoder.write(chunk as Buffer);
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      this.#onLine(text.slice(start, nl));
      start = nl + 1;
    }
    this.#line = text.slice(start);
  }

  #onLine(raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (!line.startsWith('data:') || this.#failed !== undefined) return;
    const data = line.slice(line[5] === ' ' ? 6 : 5);
    if (data === '[DONE]') {
      this.#done = true;
      return;
    }
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(data) as Record<string, unknown>;
    } catch {
      this.#failed = 'malformed';
      return;
    }
    if (event === null || typeof event !== 'object' || 'error' in event) {
      this.#failed = 'error_event';
      return;
    }
    if (typeof event.model === 'string') this.#model = event.model;
    if (event.usage !== null && typeof event.usage === 'object') {
      const u = event.usage as Record<string, unknown>;
      if (typeof u.prompt_tokens === 'number' && typeof u.completion_tokens === 'number') {
        this.#usage = { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, total_tokens: typeof u.total_tokens === 'number' ? u.total_tokens : u.prompt_tokens + u.completion_tokens };
      }
    }
    if (!Array.isArray(event.choices)) return;
    for (const c of event.choices as Array<Record<string, unknown>>) this.#onChoice(c);
  }

  #onChoice(c: Record<string, unknown>): void {
    if (c === null || typeof c !== 'object') return;
    const index = typeof c.index === 'number' ? c.index : 0;
    let p = this.#choices.get(index);
    if (p === undefined) this.#choices.set(index, (p = { index, role: undefined, content: '', reasoning: '', tools: [], finish: null }));
    if (typeof c.finish_reason === 'string') p.finish = c.finish_reason;
    if (this.#kind === 'completions') {
      if (typeof c.text === 'string') p.content += c.text;
      return;
    }
    const delta = c.delta as Record<string, unknown> | undefined;
    if (delta === null || typeof delta !== 'object') return;
    if (typeof delta.role === 'string') p.role = delta.role;
    if (typeof delta.content === 'string') p.content += delta.content;
    if (typeof delta.reasoning_content === 'string') p.reasoning += delta.reasoning_content;
    if (Array.isArray(delta.tool_calls)) {
      for (const t of delta.tool_calls as Array<Record<string, unknown>>) {
        const i = typeof t.index === 'number' ? t.index : p.tools.length;
        const call = (p.tools[i] ??= { id: '', type: 'function', function: { name: '', arguments: '' } });
        if (typeof t.id === 'string' && call.id === '') call.id = t.id;
        if (typeof t.type === 'string') call.type = t.type;
        const fn = t.function as Record<string, unknown> | undefined;
        if (fn && typeof fn === 'object') {
          if (typeof fn.name === 'string' && call.function.name === '') call.function.name = fn.name;
          if (typeof fn.arguments === 'string') call.function.arguments += fn.arguments;
        }
      }
    }
  }

  /** Call once the upstream stream ended normally: the entry, or why it may not be stored. */
  finish(now = Date.now()): AssemblyResult {
    if (this.#failed === undefined && this.#line !== '') this.#onLine(this.#line);
    if (this.#failed !== undefined) return { complete: false, reason: this.#failed };
    if (!this.#done) return { complete: false, reason: 'no_done' };
    if (this.#choices.size === 0 || [...this.#choices.values()].some((p) => p.finish === null)) return { complete: false, reason: 'unfinished_choice' };
    const choices: CachedChoice[] = [...this.#choices.values()]
      .sort((a, b) => a.index - b.index)
      .map((p) => {
        if (this.#kind === 'completions') return { index: p.index, text: p.content, finish_reason: p.finish };
        const choice: CachedChoice = { index: p.index, role: p.role ?? 'assistant', content: p.content === '' && p.tools.length > 0 ? null : p.content, finish_reason: p.finish };
        if (p.reasoning !== '') choice.reasoning_content = p.reasoning;
        const tools = p.tools.filter((t) => t !== undefined);
        if (tools.length > 0) choice.tool_calls = tools;
        return choice;
      });
    return { complete: true, entry: { kind: this.#kind, model: this.#model, choices, usage: this.#usage, storedAt: now } };
  }
}
