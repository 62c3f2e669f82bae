// Node's side of the differential fuzzer: llhttp, the parser behind node:http, driven in-process through the
// HTTPParser that `_http_common` exports, configured as node:http's server configures it by default (strict:
// no lenient flags, 16 KiB heads), plus the one framing-relevant check node:http's server adds on top (HTTP/1.1
// without Host is 400). Header fields are joined by node:http's own IncomingMessage, so both sides deliver the
// same shape.
//
// The input is fed one byte per execute() call: llhttp is incremental by design, and it is the only way to
// learn the exact offset where each message completes (its callbacks do not say where they are).
import { createRequire } from 'node:module';
import { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Message, Trace } from './trace.ts';

interface ParserError extends Error {
  code: string;
  reason: string;
}

/** The parts of node's internal HTTPParser used here. */
interface HTTPParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | ParserError;
  close(): void;
  [callback: number]: (...args: any[]) => unknown;
}

interface HTTPParserClass {
  new (): HTTPParser;
  REQUEST: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kLenientNone: number;
}

const common = createRequire(import.meta.url)('_http_common') as { HTTPParser: HTTPParserClass; methods: string[] };
const { HTTPParser } = common;
const MAX_HEADER_SIZE = 16 * 1024;

/** Header fields joined by IncomingMessage (first wins for singletons, `; ` for cookie, arrays for set-cookie). */
function joinHeaders(raw: string[]): Record<string, string | string[]> {
  const msg = new IncomingMessage(null as unknown as Socket) as IncomingMessage & { _addHeaderLines(raw: string[], n: number): void };
  msg._addHeaderLines(raw, raw.length);
  return { ...msg.headers } as Record<string, string | string[]>;
}

/** llhttp passes methods as its enum value: learn the name of each once, by parsing it. */
const METHOD_NAMES: string[] = [];
for (const name of common.methods) {
  const p = new HTTPParser();
  p.initialize(HTTPParser.REQUEST, {}, MAX_HEADER_SIZE, HTTPParser.kLenientNone);
  p[HTTPParser.kOnHeadersComplete] = (_maj: number, _min: number, _h: string[], method: number) => {
    METHOD_NAMES[method] = name;
  };
  p.execute(Buffer.from(`${name} / HTTP/1.1\r\nHost: a\r\n\r\n`));
  p.close();
}

/** Parse `input` with llhttp (the piece sizes are ignored: always byte by byte, see above). */
export function parseLlhttp(input: Buffer): Trace {
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.REQUEST, {}, MAX_HEADER_SIZE, HTTPParser.kLenientNone);
  const messages: Message[] = [];
  let current: Message | null = null;
  let upgrade = false;
  let rejected = '';
  let offset = 0;
  // Heads of more than 32 fields arrive in parts: the first parts through kOnHeaders.
  let rawHeaders: string[] = [];
  let rawUrl = '';
  // Between the end of a head and the end of its message, kOnHeaders brings trailer fields (not compared).
  let inBody = false;
  parser[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
    if (inBody) return;
    rawHeaders = rawHeaders.concat(headers);
    rawUrl += url;
  };
  parser[HTTPParser.kOnHeadersComplete] = (
    major: number,
    minor: number,
    headers: string[] | undefined,
    method: number,
    url: string | undefined,
    _status: number,
    _statusMessage: string,
    isUpgrade: boolean,
    keepAlive: boolean,
  ) => {
    const raw = headers === undefined ? rawHeaders : rawHeaders.concat(headers);
    const target = url === undefined ? rawUrl : rawUrl + url;
    rawHeaders = [];
    rawUrl = '';
    const fields = joinHeaders(raw);
    current = { method: METHOD_NAMES[method] ?? `?${method}`, url: target, headers: fields, body: '', end: -1, keepAlive };
    messages.push(current);
    inBody = true;
    upgrade = isUpgrade;
    // node:http's server: `requireHostHeader` is on by default.
    if (minor === 1 && fields.host === undefined) rejected = 'node:http 400 missing Host';
    // llhttp takes `GET /path` + LF as HTTP/0.9; ours (and HTTP/1.1) has no such request: counted as a refusal.
    if (major === 0) rejected = 'HTTP/0.9 request line';
    // Refused at its head: never delivered.
    if (rejected !== '') messages.pop();
    return 0;
  };
  parser[HTTPParser.kOnBody] = (b: Buffer) => {
    current!.body += b.toString('latin1');
  };
  parser[HTTPParser.kOnMessageComplete] = () => {
    current!.end = offset;
    inBody = false;
  };
  let outcome: Trace['outcome'] = 'eof';
  let at = -1;
  for (let i = 0; i < input.length; i++) {
    offset = i + 1;
    const r = parser.execute(input.subarray(i, offset));
    if (rejected !== '') {
      outcome = 'rejected';
      break;
    }
    if (typeof r !== 'number') {
      // After a message that does not keep the connection, node:http closes it: later bytes are not read.
      if (r.code !== 'HPE_CLOSED_CONNECTION') {
        outcome = 'rejected';
        rejected = `${r.code} ${r.reason}`;
        at = i;
      }
      break;
    }
    if (upgrade && current !== null && (current as Message).end >= 0) {
      outcome = 'upgrade';
      break;
    }
    if (upgrade && r === 0) {
      // node hides llhttp's errors once a head asked to upgrade: learn the error with the Upgrade field renamed.
      outcome = 'rejected';
      at = i;
      const plain = parseLlhttp(Buffer.from(input.toString('latin1').replace(/\r\nupgrade:/gi, '\r\nXpgrade:'), 'latin1'));
      rejected = plain.outcome === 'rejected' ? plain.reason : 'llhttp stopped inside an upgrade request';
      break;
    }
  }
  parser.close();
  return { messages, outcome, reason: rejected, at };
}
