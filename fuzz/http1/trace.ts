// What a parser made of one input: the requests it delivered, in order, and how it stopped. Both sides of the
// differential fuzzer (ours.ts: the gateway's Connection; llhttp.ts: Node's parser) produce one, and compare.ts
// compares them. Everything here is plain data, so a trace prints as JSON when a case is reported.

/** One request as delivered to the application. */
export interface Message {
  method: string;
  url: string;
  /** Header fields as the application sees them: lowercased names, duplicates joined the node:http way. */
  headers: Record<string, string | string[]>;
  /** Body bytes after de-chunking (latin1, so every byte is one char). */
  body: string;
  /** Offset just past the message (where the next request begins), or -1 if the input ended inside it. */
  end: number;
  /** The connection carries another request after this one (known once the message is complete). */
  keepAlive: boolean;
}

/**
 * How the parser stopped: it read all the input (`eof`, including a connection closed after a last request),
 * refused it (`rejected`, with its reason), or handed the connection over to another protocol (`upgrade`,
 * llhttp only: Upgrade and CONNECT).
 */
export type Outcome = 'eof' | 'rejected' | 'upgrade';

export interface Trace {
  messages: Message[];
  outcome: Outcome;
  /** Why it rejected: our HeadError message, or llhttp's error code and reason. */
  reason: string;
  /** The offset of the byte llhttp refused (-1: not known, or not rejected). */
  at: number;
}

/** A parser under test. */
export type Parse = (input: Buffer, pieces: number[] | null) => Trace;

/** The first difference between two messages' heads, or null; `skip` lists parts not to compare. */
export function headDifference(a: Message, b: Message, skip: ReadonlySet<string>): string | null {
  if (a.method !== b.method && !skip.has('method')) return 'method';
  if (a.url !== b.url && !skip.has('target')) return 'target';
  if (skip.has('headers')) return null;
  const ak = Object.keys(a.headers).sort();
  const bk = Object.keys(b.headers).sort();
  if (ak.join('\n') !== bk.join('\n')) return 'header names';
  for (const k of ak) if (JSON.stringify(a.headers[k]) !== JSON.stringify(b.headers[k])) return `header ${k}`;
  return null;
}

/** The first difference between two complete messages' framing (body, end, keep-alive), or null. */
export function framingDifference(a: Message, b: Message): string | null {
  if (a.body !== b.body) return 'body';
  if (a.end !== b.end) return 'where the next request begins';
  if (a.keepAlive !== b.keepAlive) return 'keep-alive';
  return null;
}
