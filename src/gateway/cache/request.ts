// A request's cache identity (the request normalisation of both tiers), computed once per request from the parsed
// body of `POST /v1/chat/completions` or `/v1/completions`:
//
//   partition    kind (chat | completions) + the requested model + the user when entries are scoped (else '*')
//   exactKey     sha256 over the partition and the canonical JSON of the body (keys sorted at every depth), so
//                the model, every generation parameter (temperature, max_tokens, stop, seed, tools, …) and the
//                messages or prompt all take part, and key order or whitespace do not
//   query        the semantic tier's text: the last message when it is the user's (its text parts joined), or a
//                string prompt; none otherwise (the semantic tier then stands aside)
//   fingerprint  sha256 over the partition and the canonical body with that text replaced by a placeholder: the
//                system prompt, history, tools and parameters. Semantic entries live in a partition per
//                fingerprint, so a similar question is only ever matched under an identical everything-else
//
// Left out of both: `stream` and `stream_options` (an entry replays as JSON or as SSE, whichever is asked) and
// `user` (an end-user id for the provider's abuse monitoring, not a generation parameter; scoping uses the
// authenticated user instead).
import { createHash } from 'node:crypto';

export type CacheKind = 'chat' | 'completions';

/** Not part of the identity. */
const IGNORED = new Set(['stream', 'stream_options', 'user']);
const PLACEHOLDER = '\u0000query\u0000';

export interface CacheIdentity {
  kind: CacheKind;
  partition: string;
  exactKey: string;
  /** The semantic query text, or undefined when the request has none. */
  query: string | undefined;
  /** Semantic partition: partition + fingerprint (undefined with no query). */
  semanticPartition: string | undefined;
}

/** JSON with object keys sorted at every depth; undefined members dropped as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return '[' + value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',') + ']';
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(obj).sort()) {
    if (obj[k] === undefined) continue;
    parts.push(JSON.stringify(k) + ':' + canonicalJson(obj[k]));
  }
  return '{' + parts.join(',') + '}';
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The text of a message's content: a string, or the `text` parts of an array (undefined if it has others). */
function contentText(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return undefined;
  const texts: string[] = [];
  for (const part of content) {
    if (part === null || typeof part !== 'object' || (part as { type?: unknown }).type !== 'text') return undefined;
    const text = (part as { text?: unknown }).text;
    if (typeof text !== 'string') return undefined;
    texts.push(text);
  }
  return texts.join('\n');
}

/**
 * The identity of a request body for `kind`, with entries scoped to `user` (undefined: shared). `model` is the
 * model name the client asked for (routes are matched by it).
 */
export function cacheIdentity(kind: CacheKind, body: Record<string, unknown>, model: string, user: string | undefined): CacheIdentity {
  const partition = `${kind}|${model}|${user === undefined ? '*' : 'u:' + user}`;
  const kept: Record<string, unknown> = {};
  for (const k of Object.keys(body)) if (!IGNORED.has(k)) kept[k] = body[k];
  const exactKey = sha256(partition + '\n' + canonicalJson(kept));

  let query: string | undefined;
  if (kind === 'chat') {
    const messages = kept.messages;
    const last = Array.isArray(messages) ? (messages[messages.length - 1] as Record<string, unknown> | undefined) : undefined;
    if (last !== undefined && last !== null && typeof last === 'object' && last.role === 'user') {
      query = contentText(last.content);
      if (query !== undefined) kept.messages = [...(messages as unknown[]).slice(0, -1), { ...last, content: PLACEHOLDER }];
    }
  } else if (typeof kept.prompt === 'string') {
    query = kept.prompt;
    kept.prompt = PLACEHOLDER;
  }
  if (query !== undefined && query.trim() === '') query = undefined;
  const semanticPartition = query === undefined ? undefined : sha256(partition + '\n' + canonicalJson(kept));
  return { kind, partition, exactKey, query, semanticPartition };
}
