// Token accounting: the prompt and completion token counts of a response, read from the engine.
//
// - Non-streaming JSON: the `usage` object is near the end of the body; the meter keeps references to the chunks
//   that make up the last 2 KiB and reads `usage` from them when the response ends (no copy of the body, no parse
//   of the whole).
// - SSE streams: the usage event is a single `data: {...,"usage":{...}}` line near the end. When the client did not
//   ask for it (`stream_options.include_usage`), `requestUsage` asks the engine anyway, and the meter removes that
//   usage-only event (`"choices":[]`) from what the client receives, so the client sees exactly the bytes it would
//   have seen without the gateway. The meter looks for the `"usage":{` marker with a native byte search per chunk
//   and parses only the line that carries it; until it is found, the bytes after a chunk's last newline (a partial
//   line, which an SSE client cannot act on anyway) are held back and sent with the next chunk, so the marker is
//   never split across chunks. Afterwards chunks pass through untouched.
//
// Results land on `exchange.usage = {prompt, completion}` (null when the engine did not report usage).

export interface Usage {
  prompt: number;
  completion: number;
}

/** Where the meter puts what it finds, and whether the gateway added include_usage. */
export interface UsageTarget {
  usage: Usage | null;
  usageInjected: boolean;
}

const USAGE_KEY = Buffer.from('"usage"');
const INCLUDE_USAGE_PREFIX = Buffer.from('{"stream_options":{"include_usage":true},');
/** A partial line longer than this is sent on without waiting for its end. */
const MAX_HELD = 64 * 1024;
/** How much of the end of a JSON body is kept to find `usage` in. */
const TAIL_BYTES = 2048;
const LF = 10;
const CR = 13;

/**
 * For a streaming request without `stream_options.include_usage`, the payload asking the engine for usage
 * (and `target.usageInjected = true`); otherwise `payload` unchanged. The common case (no `stream_options` at
 * all) splices the option in front of the body's first key without re-serialising it.
 */
export function requestUsage(target: UsageTarget, body: Record<string, unknown>, payload: Buffer): Buffer {
  if (body.stream !== true) return payload;
  const so = body.stream_options;
  if (so === undefined || so === null) {
    let i = 0;
    while (i < payload.length && payload[i] !== 0x7b /* { */) i++;
    let j = i + 1;
    while (j < payload.length && (payload[j] === 0x20 || payload[j] === 0x0a || payload[j] === 0x0d || payload[j] === 0x09)) j++;
    if (i >= payload.length || payload[j] !== 0x22 /* " */) return payload;
    target.usageInjected = true;
    return Buffer.concat([INCLUDE_USAGE_PREFIX, payload.subarray(j)]);
  }
  if (typeof so !== 'object' || Array.isArray(so)) return payload;
  const opts = so as Record<string, unknown>;
  if (opts.include_usage === true) return payload;
  target.usageInjected = true;
  body.stream_options = { ...opts, include_usage: true };
  const out = Buffer.from(JSON.stringify(body));
  body.stream_options = so;
  return out;
}

/** Position of the `{` opening a `"usage": {` object at or after `from`, or -1. */
export function findUsageObject(buf: Buffer, from = 0): number {
  let p = buf.indexOf(USAGE_KEY, from);
  while (p >= 0) {
    let i = p + USAGE_KEY.length;
    while (buf[i] === 0x20) i++;
    if (buf[i] === 0x3a /* : */) {
      i++;
      while (buf[i] === 0x20) i++;
      if (buf[i] === 0x7b /* { */) return i;
    }
    p = buf.indexOf(USAGE_KEY, p + 1);
  }
  return -1;
}

const PROMPT_RE = /"prompt_tokens"\s*:\s*(\d+)/;
const COMPLETION_RE = /"completion_tokens"\s*:\s*(\d+)/;

/** Token counts from the text of a usage object (and what follows it). */
export function usageFromText(text: string): Usage | null {
  const p = PROMPT_RE.exec(text);
  const c = COMPLETION_RE.exec(text);
  if (p === null && c === null) return null;
  return { prompt: p ? Number(p[1]) : 0, completion: c ? Number(c[1]) : 0 };
}

/** Meter of one relayed 2xx response. `relay` returns what to send for a chunk (null: nothing yet). */
export class UsageMeter {
  readonly target: UsageTarget;
  readonly sse: boolean;
  /** Remove the usage-only event (the gateway asked for it). */
  readonly drop: boolean;
  done = false;
  held: Buffer | null = null;
  /** The dropped event's blank line is still to come. */
  eatBlank = false;
  // JSON: the chunks holding the last TAIL_BYTES.
  tail: Buffer[] | null = null;
  tailBytes = 0;

  constructor(target: UsageTarget, sse: boolean) {
    this.target = target;
    this.sse = sse;
    this.drop = sse && target.usageInjected;
  }

  relay(chunk: Buffer): Buffer | null {
    if (!this.sse) {
      const tail = (this.tail ??= []);
      tail.push(chunk);
      this.tailBytes += chunk.length;
      while (tail.length > 1 && this.tailBytes - tail[0]!.length >= TAIL_BYTES) this.tailBytes -= tail.shift()!.length;
      return chunk;
    }
    if (this.done) {
      if (!this.eatBlank) return chunk;
      this.eatBlank = false;
      return skipBlank(chunk, 0);
    }
    let buf = chunk;
    if (this.held !== null) {
      buf = Buffer.concat([this.held, chunk]);
      this.held = null;
    }
    const nl = buf.lastIndexOf(LF);
    if (nl < 0) {
      if (buf.length > MAX_HELD) return buf;
      this.held = buf;
      return null;
    }
    let complete = buf;
    if (nl + 1 < buf.length) {
      complete = buf.subarray(0, nl + 1);
      const rest = buf.subarray(nl + 1);
      if (rest.length > MAX_HELD) complete = buf;
      else this.held = rest;
    }
    const o = findUsageObject(complete);
    if (o < 0) return complete;
    const ls = complete.lastIndexOf(LF, o) + 1;
    const le = complete.indexOf(LF, o);
    const event = parseDataLine(complete.toString('utf8', ls, le));
    if (event === null) return complete;
    const usage = event.usage as Record<string, unknown> | null | undefined;
    if (usage === null || typeof usage !== 'object') return complete;
    this.target.usage = {
      prompt: typeof usage.prompt_tokens === 'number' ? usage.prompt_tokens : 0,
      completion: typeof usage.completion_tokens === 'number' ? usage.completion_tokens : 0,
    };
    this.done = true;
    if (this.held !== null) {
      // Nothing more to look for: send the partial line now.
      complete = buf;
      this.held = null;
    }
    if (!this.drop || !Array.isArray(event.choices) || event.choices.length !== 0) return complete;
    // Remove the usage-only event: its data line and the blank line that ends it.
    let after = le + 1;
    if (after >= complete.length) this.eatBlank = true;
    else {
      const skipped = skipBlank(complete, after);
      after = complete.length - skipped.length;
    }
    if (ls === 0) return after >= complete.length ? null : complete.subarray(after);
    if (after >= complete.length) return complete.subarray(0, ls);
    return Buffer.concat([complete.subarray(0, ls), complete.subarray(after)]);
  }

  /** The response ended: what is still to send (a held partial line), after reading a JSON body's usage. */
  end(): Buffer | null {
    if (!this.sse) {
      const chunks = this.tail;
      this.tail = null;
      if (chunks !== null && this.target.usage === null) {
        const tail = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        let o = -1;
        for (let p = findUsageObject(tail); p >= 0; p = findUsageObject(tail, p + 1)) o = p;
        if (o >= 0) this.target.usage = usageFromText(tail.toString('utf8', o, Math.min(tail.length, o + 1024)));
      }
      return null;
    }
    const held = this.held;
    this.held = null;
    return held;
  }
}

/** `buf` from `at` without one leading blank line (LF or CRLF). */
function skipBlank(buf: Buffer, at: number): Buffer {
  if (buf[at] === LF) return buf.subarray(at + 1);
  if (buf[at] === CR && buf[at + 1] === LF) return buf.subarray(at + 2);
  return buf.subarray(at);
}

function parseDataLine(line: string): Record<string, unknown> | null {
  let s = line;
  if (s.endsWith('\r')) s = s.slice(0, -1);
  if (!s.startsWith('data:')) return null;
  try {
    const v: unknown = JSON.parse(s.slice(5));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Rough prompt size before the engine counts it: ⌈characters / 4⌉ of the prompt text (token ids counted as they are). */
export function estimatePromptTokens(body: Record<string, unknown> | undefined): number {
  if (body === undefined) return 0;
  let chars = 0;
  let tokens = 0;
  const prompt = body.prompt;
  if (typeof prompt === 'string') chars += prompt.length;
  else if (Array.isArray(prompt)) {
    for (const p of prompt) {
      if (typeof p === 'string') chars += p.length;
      else if (typeof p === 'number') tokens++;
      else if (Array.isArray(p)) tokens += p.length;
    }
  }
  const messages = body.messages;
  if (Array.isArray(messages)) {
    for (const m of messages) {
      if (m === null || typeof m !== 'object') continue;
      tokens += 4; // role and template markers
      const content = (m as Record<string, unknown>).content;
      if (typeof content === 'string') chars += content.length;
      else if (Array.isArray(content)) {
        for (const part of content) {
          const text = part !== null && typeof part === 'object' ? (part as Record<string, unknown>).text : undefined;
          if (typeof text === 'string') chars += text.length;
        }
      }
    }
  }
  const input = body.input;
  if (typeof input === 'string') chars += input.length;
  return tokens + Math.ceil(chars / 4);
}
