// Parsing HTTP/1.1 message heads (RFC 9112): the request line or status line, and the header fields, for the
// gateway's own HTTP/1.1 server and upstream client (see README.md in this directory for why they are ours).
//
// The parser is strict where leniency lets a request be read two ways (request smuggling): CRLF line endings only,
// no obs-fold, no whitespace before the colon, token-only names, no control characters in values, a single valid
// Content-Length, and Transfer-Encoding and Content-Length never together. Everything it rejects gets a reason.
//
// A head is decoded once as latin1 (every byte maps to one char, so obs-text survives and offsets are byte
// offsets) and then cut with indexOf: no per-character loop in JavaScript. Header objects have no prototype, so
// a field named `constructor` or `toString` is just a field. Validated field names are remembered (bounded), so
// the common ones cost a map lookup instead of a regex and a lowercase copy.
import type { IncomingHttpHeaders } from 'node:http';

/** Field names are tokens (RFC 9110 §5.1). */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** NUL and other controls except HTAB (CR and LF are checked line by line: only CRLF may end a line). */
export const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;
const REQUEST_TARGET = /^[\x21-\x7e\x80-\xff]+$/;
const DIGITS = /^\d{1,15}$/;

/**
 * Duplicates of these are dropped (first wins), as Node's http module does; `cookie` lines are joined with "; "
 * (one cookie-string, RFC 6265 §5.4), the rest with ", ".
 */
const SINGLETON = new Set([
  'authorization',
  'content-type',
  'user-agent',
  'referer',
  'from',
  'if-modified-since',
  'if-unmodified-since',
  'max-forwards',
  'proxy-authorization',
  'age',
  'etag',
  'expires',
  'last-modified',
  'location',
  'retry-after',
  'server',
]);

export class HeadError extends Error {
  /** 400, 431, 501 or 505. */
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'HeadError';
    this.status = status;
  }
}

/** How the message body is delimited. */
export type Framing =
  | { kind: 'none' }
  | { kind: 'length'; length: number }
  | { kind: 'chunked' }
  /** Response bodies only: everything until the connection closes. */
  | { kind: 'close' };

export const NO_BODY: Framing = { kind: 'none' };
export const CHUNKED: Framing = { kind: 'chunked' };
export const UNTIL_CLOSE: Framing = { kind: 'close' };

export interface RequestHead {
  method: string;
  /** The request target as sent (origin form: path and query). */
  url: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: 0 | 1;
  headers: IncomingHttpHeaders;
  framing: Framing;
  /** The connection may carry another request after this one. */
  keepAlive: boolean;
  /** The client waits for `100 Continue` before sending the body. */
  expectContinue: boolean;
}

export interface ResponseHead {
  status: number;
  minor: 0 | 1;
  headers: IncomingHttpHeaders;
  /** The server will close the connection after this response. */
  close: boolean;
  /** Seconds from the server's `keep-alive: timeout=N`, or -1. */
  keepAliveSeconds: number;
}

const nameCache = new Map<string, string>();
const NAME_CACHE_LIMIT = 1024;

/** The lowercase name of a raw field name, or a HeadError when it is not a token. */
function fieldName(raw: string): string {
  const cached = nameCache.get(raw);
  if (cached !== undefined) return cached;
  if (!TOKEN.test(raw)) throw new HeadError(400, raw.length === 0 ? 'an empty header name' : `invalid header name ${JSON.stringify(raw.slice(0, 64))}`);
  const name = raw.toLowerCase();
  if (nameCache.size < NAME_CACHE_LIMIT) nameCache.set(raw, name);
  return name;
}

/** `text[from..eol)` holds no CR or LF (only the CRLF at `eol` ends the line). */
function plainLine(text: string, from: number, eol: number): boolean {
  const lf = text.indexOf('\n', from);
  const cr = text.indexOf('\r', from);
  return (lf < 0 || lf >= eol) && (cr < 0 || cr >= eol);
}

/** Header fields from `text` (the head without its final CRLFCRLF), starting at `from`, into `headers`. */
function parseFields(text: string, from: number, headers: IncomingHttpHeaders, maxFields: number): void {
  const end = text.length;
  let count = 0;
  let pos = from;
  while (pos < end) {
    let eol = text.indexOf('\r\n', pos);
    if (eol < 0) eol = end;
    if (!plainLine(text, pos, eol)) throw new HeadError(400, 'a bare CR or LF in a header line');
    const colon = text.indexOf(':', pos);
    if (colon < 0 || colon > eol) {
      if (text.charCodeAt(pos) === 32 || text.charCodeAt(pos) === 9) throw new HeadError(400, 'obsolete line folding in a header field');
      throw new HeadError(400, 'a header line without a colon');
    }
    const name = fieldName(text.slice(pos, colon));
    if (++count > maxFields) throw new HeadError(431, `more than ${maxFields} header fields`);
    // Optional whitespace around the value.
    let vs = colon + 1;
    while (vs < eol && (text.charCodeAt(vs) === 32 || text.charCodeAt(vs) === 9)) vs++;
    let ve = eol;
    while (ve > vs && (text.charCodeAt(ve - 1) === 32 || text.charCodeAt(ve - 1) === 9)) ve--;
    addField(headers, name, text.slice(vs, ve));
    pos = eol + 2;
  }
}

/** A header object without a prototype (see above). */
function newHeaders(): IncomingHttpHeaders {
  return Object.create(null) as IncomingHttpHeaders;
}

function addField(headers: IncomingHttpHeaders, name: string, value: string): void {
  // Never a field: spread into a plain object elsewhere, it could reach the prototype.
  if (name === '__proto__') return;
  const prev = headers[name];
  if (prev === undefined) {
    if (name === 'set-cookie') headers['set-cookie'] = [value];
    else headers[name] = value;
    return;
  }
  if (name === 'content-length') {
    if (prev !== value) throw new HeadError(400, 'conflicting Content-Length values');
    return;
  }
  if (name === 'host') throw new HeadError(400, 'more than one Host header');
  if (name === 'set-cookie') (prev as string[]).push(value);
  else if (name === 'cookie') headers.cookie = `${prev as string}; ${value}`;
  else if (!SINGLETON.has(name)) headers[name] = `${prev as string}, ${value}`;
}

function versionOf(text: string, at: number): 0 | 1 {
  if (text.startsWith('HTTP/1.1', at)) return 1;
  if (text.startsWith('HTTP/1.0', at)) return 0;
  throw new HeadError(/^HTTP\/\d\.\d$/.test(text.slice(at, at + 8)) ? 505 : 400, 'unsupported or malformed HTTP version');
}

/** `connection` lists the token (case-insensitive, comma separated). */
export function hasToken(value: string | string[] | undefined, token: string): boolean {
  if (value === undefined) return false;
  const text = (typeof value === 'string' ? value : value.join(',')).toLowerCase();
  if (text === token) return true;
  if (text.indexOf(token) < 0) return false;
  for (const t of text.split(',')) if (t.trim() === token) return true;
  return false;
}

function contentLength(value: string | undefined): number {
  if (value === undefined) return -1;
  if (!DIGITS.test(value)) throw new HeadError(400, `invalid Content-Length ${JSON.stringify(value.slice(0, 32))}`);
  return Number(value);
}

/** The transfer codings end with `chunked` (the only one supported). */
function chunkedLast(te: string): boolean {
  const codings = te.toLowerCase().split(',');
  return codings[codings.length - 1]!.trim() === 'chunked';
}

/**
 * Parse a request head: `text` is the latin1 head up to (not including) the blank line's CRLFCRLF.
 * Throws HeadError with the status to answer.
 */
export function parseRequestHead(text: string, maxFields: number): RequestHead {
  if (CONTROL.test(text)) throw new HeadError(400, 'a control character in the request head');
  let eol = text.indexOf('\r\n');
  if (eol < 0) eol = text.length;
  if (!plainLine(text, 0, eol)) throw new HeadError(400, 'a bare CR or LF in the request line');
  const sp1 = text.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : text.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || sp2 > eol || eol - sp2 !== 9) throw new HeadError(400, 'malformed request line');
  const method = text.slice(0, sp1);
  if (!TOKEN.test(method)) throw new HeadError(400, 'malformed request method');
  // What follows a CONNECT head is a tunnel, and a PRI head the rest of the HTTP/2 preface (llhttp reads both so):
  // neither is a request to a gateway (RFC 9110 §9.1, RFC 9113 §3.4).
  if (method === 'CONNECT') throw new HeadError(501, 'CONNECT is not supported');
  if (method === 'PRI') throw new HeadError(400, 'PRI is the HTTP/2 connection preface');
  const url = text.slice(sp1 + 1, sp2);
  if (!REQUEST_TARGET.test(url)) throw new HeadError(400, 'malformed request target');
  const minor = versionOf(text, sp2 + 1);
  const headers = newHeaders();
  parseFields(text, eol + 2, headers, maxFields);
  if (minor === 1 && headers.host === undefined) throw new HeadError(400, 'missing Host header');

  const te = headers['transfer-encoding'];
  const cl = contentLength(headers['content-length']);
  let framing: Framing;
  if (te !== undefined) {
    if (cl >= 0) throw new HeadError(400, 'both Transfer-Encoding and Content-Length');
    if (minor === 0) throw new HeadError(400, 'Transfer-Encoding in an HTTP/1.0 request');
    if (!chunkedLast(te)) throw new HeadError(400, 'the final transfer coding is not chunked');
    if (te.toLowerCase().replaceAll(' ', '') !== 'chunked') throw new HeadError(501, `unsupported transfer coding ${JSON.stringify(te.slice(0, 64))}`);
    framing = CHUNKED;
  } else if (cl > 0) {
    framing = { kind: 'length', length: cl };
  } else {
    framing = NO_BODY;
  }
  const connection = headers.connection;
  const keepAlive = minor === 1 ? !hasToken(connection, 'close') : hasToken(connection, 'keep-alive');
  const expect = headers.expect;
  const expectContinue = minor === 1 && expect !== undefined && expect.toLowerCase() === '100-continue';
  return { method, url, minor, headers, framing, keepAlive, expectContinue };
}

const KEEP_ALIVE_TIMEOUT = /timeout=(\d+)/i;

/** Parse a response head (status line and fields); `text` as for parseRequestHead. */
export function parseResponseHead(text: string, maxFields: number): ResponseHead {
  if (CONTROL.test(text)) throw new HeadError(400, 'a control character in the response head');
  let eol = text.indexOf('\r\n');
  if (eol < 0) eol = text.length;
  if (!plainLine(text, 0, eol)) throw new HeadError(400, 'a bare CR or LF in the status line');
  const minor = versionOf(text, 0);
  if (text.charCodeAt(8) !== 32 || eol < 12) throw new HeadError(400, 'malformed status line');
  const code = text.slice(9, 12);
  if (!/^[1-5]\d\d$/.test(code) || (eol > 12 && text.charCodeAt(12) !== 32)) throw new HeadError(400, 'malformed status code');
  const headers = newHeaders();
  parseFields(text, eol + 2, headers, maxFields);
  const connection = headers.connection;
  const close = minor === 1 ? hasToken(connection, 'close') : !hasToken(connection, 'keep-alive');
  const ka = headers['keep-alive'];
  const m = typeof ka === 'string' ? KEEP_ALIVE_TIMEOUT.exec(ka) : null;
  return { status: Number(code), minor, headers, close, keepAliveSeconds: m === null ? -1 : Number(m[1]) };
}

/**
 * How a response body is delimited (RFC 9112 §6.3), given the request method and the parsed head.
 * A response that ends with the connection marks it not reusable.
 */
export function responseFraming(method: string, head: ResponseHead): Framing {
  const status = head.status;
  if (method === 'HEAD' || status < 200 || status === 204 || status === 304) return NO_BODY;
  const te = head.headers['transfer-encoding'];
  if (te !== undefined) return chunkedLast(te) ? CHUNKED : UNTIL_CLOSE;
  const cl = contentLength(head.headers['content-length']);
  if (cl === 0) return NO_BODY;
  if (cl > 0) return { kind: 'length', length: cl };
  return UNTIL_CLOSE;
}
