// Inputs for the HTTP/1.1 differential fuzzer: a grammar of valid requests (1-3 pipelined, bodies by
// Content-Length or chunked, HTTP/1.0 and 1.1, keep-alive or not), then mutations aimed at framing: repeated or
// conflicting Content-Length and Transfer-Encoding, chunk extensions and huge chunk sizes, whitespace before
// colons, obs-fold, NUL and control bytes, bare CR or LF, bodies longer or shorter than announced, and a few
// blind byte edits. Input `i` of seed `s` depends on (s, i) only, so any one input can be rebuilt alone.
import { seededRandom } from '../../src/engine/latency.ts';

type Rand = () => number;

const pick = <T>(r: Rand, items: readonly T[]): T => items[Math.floor(r() * items.length)]!;
const int = (r: Rand, n: number): number => Math.floor(r() * n);
const chance = (r: Rand, p: number): boolean => r() < p;

const METHODS = ['GET', 'GET', 'POST', 'POST', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'QUERY', 'FOO', 'get', 'M-SEARCH', 'PRI', 'G3T', 'BREW'];
const TARGETS = ['/', '/v1/chat/completions', '/v1/models', '/v1/completions?stream=true', '*', 'http://gw/v1/models', '/a%20b', '/a b', '/caf\xe9', '/x#frag', '/{json}', '/a|b', '/"q"', '/\\', '//x', '/a?b=c&d'];
const VERSIONS = ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/1.2', 'HTTP/2.0', 'http/1.1', 'HTTP/1.1 ', 'HTTP/1', 'HTTP/01.1'];
const NAMES = ['Accept', 'User-Agent', 'Content-Type', 'X-Request-Id', 'Authorization', 'Cookie', 'Set-Cookie', 'X-Custom', 'Via', 'Accept-Encoding', 'TE', 'Trailer', 'Keep-Alive', 'Expect', 'Connection', 'Upgrade', 'Referer', 'x-dup', 'X-Dup'];
const VALUES = ['*/*', 'application/json', 'curl/8.5', 'a=1', 'b=2; Path=/', 'gzip, deflate', 'trailers', 'timeout=5', '100-continue', 'keep-alive', 'close', 'Keep-Alive, Upgrade', 'websocket', '', ' padded ', 'caf\xe9', 'a,b', '"quoted"', 'x\ty'];
const TE_VALUES = ['chunked', 'Chunked', 'CHUNKED', ' chunked', 'chunked ', 'chunked\t', 'gzip, chunked', 'chunked, gzip', 'identity', 'gzip', 'xchunked', ',chunked', 'chunked,', 'chunked, chunked', 'chunk', 'chunked;q=1', '"chunked"'];
const CL_VALUES = ['+5', '-1', ' 5', '5 ', '0x5', '5,5', '5, 5', '05', '99999999999999999999', '1e3', '', '5 5', '0', '4294967296'];
const CONTROLS = ['\x00', '\x01', '\x08', '\x0b', '\x0c', '\x1b', '\x7f', '\r', '\n', '\t'];
const BYTES = [' ', '\t', '\r', '\n', ':', ';', ',', '=', '"', '0', 'a', 'F', '\x00', '\x7f', '\x80', '\xff', '\x0b'];
const EXTENSIONS = [';a=b', ';', '; a', ';a="b c"', ';a="\\""', ';a=b;c', ';a =b', ';a= b', ';a="b', ';a\x00', ';\xff', ';a=b\t', ' ;a=b', '\t;x'];

/** One request, kept as lines so mutations can aim at a part; `serialize` makes the bytes. */
interface Req {
  lead: string;
  line: string;
  fields: string[];
  /** Everything after the blank line: the (framed) body. */
  body: string;
  eol: string;
}

function token(r: Rand, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += pick(r, 'abcdefghijklmnopqrstuvwxyz0123456789-_'.split(''));
  return s;
}

function chunkedBody(r: Rand, data: string): string {
  let out = '';
  let at = 0;
  while (at < data.length) {
    const n = Math.min(data.length - at, 1 + int(r, 12));
    out += n.toString(16) + (chance(r, 0.15) ? pick(r, EXTENSIONS) : '') + '\r\n' + data.slice(at, at + n) + '\r\n';
    at += n;
  }
  out += '0' + (chance(r, 0.1) ? pick(r, EXTENSIONS) : '') + '\r\n';
  if (chance(r, 0.2)) out += `${pick(r, ['X-Trailer: v', 'Content-Length: 5', 'Expires: never', 'T : x', ' folded', 'X-T: a\x00b', 'X-T: a\rb'])}\r\n`;
  return out + '\r\n';
}

function request(r: Rand): Req {
  const version = chance(r, 0.9) ? (chance(r, 0.8) ? 'HTTP/1.1' : 'HTTP/1.0') : pick(r, VERSIONS);
  const method = chance(r, 0.9) ? pick(r, METHODS.slice(0, 10)) : pick(r, METHODS);
  const target = chance(r, 0.85) ? pick(r, TARGETS.slice(0, 5)) : pick(r, TARGETS);
  const fields: string[] = [];
  if (version !== 'HTTP/1.0' || chance(r, 0.5)) fields.push(`${pick(r, ['Host', 'host', 'HOST'])}: ${pick(r, ['gw', 'gw:8080', '', 'a.b'])}`);
  for (let i = int(r, 4); i > 0; i--) fields.push(`${pick(r, NAMES)}: ${pick(r, VALUES)}`);
  if (version === 'HTTP/1.0' && chance(r, 0.5)) fields.push('Connection: keep-alive');
  else if (chance(r, 0.1)) fields.push(`Connection: ${pick(r, ['close', 'Close', 'keep-alive', 'upgrade', 'keep-alive, close', 'close, upgrade'])}`);
  const data = token(r, int(r, 3) === 0 ? 0 : int(r, 40));
  let body = '';
  const framing = int(r, 3);
  if (framing === 1) {
    fields.splice(int(r, fields.length + 1), 0, `Content-Length: ${data.length}`);
    body = data;
  } else if (framing === 2) {
    fields.splice(int(r, fields.length + 1), 0, 'Transfer-Encoding: chunked');
    body = chunkedBody(r, data);
  }
  return { lead: chance(r, 0.05) ? pick(r, ['\r\n', '\r\n\r\n', '\n', '\r']) : '', line: `${method} ${target} ${version}`, fields, body, eol: '\r\n' };
}

/** Insert `s` at a random place in `text`. */
function insert(r: Rand, text: string, s: string): string {
  const at = int(r, text.length + 1);
  return text.slice(0, at) + s + text.slice(at);
}

/** The mutations of one request's structure. */
const MUTATIONS: ((r: Rand, q: Req) => void)[] = [
  // Content-Length repeated (same or other value), invalid, or beside Transfer-Encoding.
  (r, q) => {
    const cl = q.fields.find((f) => /^content-length:/i.test(f));
    const value = cl !== undefined && chance(r, 0.5) ? cl.slice(cl.indexOf(':') + 1).trim() : String(int(r, 50));
    q.fields.splice(int(r, q.fields.length + 1), 0, `${pick(r, ['Content-Length', 'content-length', 'Content-length'])}: ${chance(r, 0.7) ? value : pick(r, CL_VALUES)}`);
  },
  (r, q) => q.fields.splice(int(r, q.fields.length + 1), 0, `${pick(r, ['Transfer-Encoding', 'transfer-encoding', 'Transfer-encoding'])}: ${pick(r, TE_VALUES)}`),
  (r, q) => {
    const i = q.fields.findIndex((f) => /^(content-length|transfer-encoding):/i.test(f));
    if (i >= 0) q.fields[i] = q.fields[i]!.replace(/:.*/, `: ${/^c/i.test(q.fields[i]!) ? pick(r, CL_VALUES) : pick(r, TE_VALUES)}`);
  },
  // Whitespace before the colon, non-token names, empty names, no colon.
  (r, q) => {
    if (q.fields.length === 0) return;
    const i = int(r, q.fields.length);
    q.fields[i] = q.fields[i]!.replace(':', pick(r, [' :', '\t:', ' : ', '::', '']));
  },
  (r, q) => q.fields.splice(int(r, q.fields.length + 1), 0, `${pick(r, ['X[a]', 'X"a"', 'caf\xe9', '', 'X a', 'X/a', 'X@a', 'X{'])}: v`),
  // obs-fold: a continuation line.
  (r, q) => q.fields.splice(1 + int(r, q.fields.length), 0, `${pick(r, [' ', '\t', '  '])}${pick(r, ['folded', 'Content-Length: 3', 'x: y', ''])}`),
  // Control bytes, bare CR and LF in a name, a value, the request line.
  (r, q) => {
    const c = pick(r, CONTROLS);
    if (q.fields.length > 0 && chance(r, 0.7)) {
      const i = int(r, q.fields.length);
      q.fields[i] = insert(r, q.fields[i]!, c);
    } else q.line = insert(r, q.line, c);
  },
  // Line endings: a bare LF or CR in place of one CRLF, or everywhere.
  (r, q) => {
    if (chance(r, 0.3)) q.eol = pick(r, ['\n', '\r']);
    else if (q.fields.length > 0) {
      const i = int(r, q.fields.length);
      q.fields[i] = q.fields[i]! + pick(r, ['\n', '\r', '\r\r', '\n\r']) + 'X-After: 1';
    }
  },
  // Chunked bodies: extensions, huge or padded sizes, whitespace after sizes, bare LF after data.
  (r, q) => {
    if (!/\r\n0/.test('\r\n' + q.body)) return;
    const edits: [RegExp, () => string][] = [
      [/^[0-9a-f]+/m, () => pick(r, ['ffffffffffffffffff', '1000000000000', 'fffffffffffff', '000000000000003', '0000000000003', '0x3', '-1', '+3', ' 3', '3 '])],
      [/(\r\n)/, () => pick(r, [' \r\n', '\t\r\n', ';a=b\r\n', '\n', '\r', ';\x00\r\n', ';a\rb\r\n'])],
      [/\r\n0\r\n/, () => pick(r, ['\n0\r\n', '\r\n0\n', '\r\n00\r\n', '\r\n0 \r\n', '\r\n0;a\r\n', '\r\n'])],
      [/\r\n\r\n$/, () => pick(r, ['\r\n', '\n\n', '\r\nX: a\r\n b\r\n\r\n', '\r\nX: a\rb\r\n\r\n', '\r\nX : a\r\n\r\n', '\r\n\x00: a\r\n\r\n'])],
    ];
    const [re, f] = pick(r, edits);
    q.body = q.body.replace(re, f);
  },
  // A body longer or shorter than announced: the next request starts elsewhere.
  (r, q) => {
    q.body = chance(r, 0.5) ? q.body.slice(0, int(r, q.body.length + 1)) : q.body + token(r, 1 + int(r, 8));
  },
  // HTTP/1.0 keep-alive and Connection variants.
  (r, q) => {
    q.line = q.line.replace(/HTTP\/1\.[01]/, pick(r, ['HTTP/1.0', 'HTTP/1.1']));
    q.fields.push(`Connection: ${pick(r, ['keep-alive', 'close', 'Keep-Alive', 'keep-alive, Upgrade', ' close ', 'closed', 'close,'])}`);
  },
  // Request line: extra spaces, tabs, missing parts, another version.
  (r, q) => {
    const edits = [() => q.line.replace(' ', '  '), () => q.line.replace(' ', '\t'), () => q.line + ' ', () => q.line.replace(/ HTTP.*/, ''), () => q.line.replace(/HTTP.*/, pick(r, VERSIONS))];
    q.line = pick(r, edits)();
  },
  // Host repeated or removed.
  (r, q) => {
    const i = q.fields.findIndex((f) => /^host:/i.test(f));
    if (i >= 0 && chance(r, 0.5)) q.fields.splice(i, 1);
    else q.fields.push(`Host: ${pick(r, ['gw', 'other'])}`);
  },
  // Upgrade and Expect.
  (r, q) => q.fields.push(pick(r, ['Upgrade: websocket', 'Connection: Upgrade', 'Expect: 100-continue', 'Expect: 100-Continue', 'Expect: x'])),
];

function serialize(q: Req): string {
  return q.lead + q.line + q.eol + q.fields.map((f) => f + q.eol).join('') + q.eol + q.body;
}

/** Blind edits of the serialized input: replace, insert, delete or repeat bytes, or cut it short. */
function blind(r: Rand, text: string): string {
  const at = int(r, text.length);
  switch (int(r, 5)) {
    case 0:
      return text.slice(0, at) + pick(r, BYTES) + text.slice(at + 1);
    case 1:
      return text.slice(0, at) + pick(r, BYTES) + text.slice(at);
    case 2:
      return text.slice(0, at) + text.slice(at + 1 + int(r, 4));
    case 3: {
      const n = 1 + int(r, 16);
      return text.slice(0, at + n) + text.slice(at, at + n) + text.slice(at + n);
    }
    default:
      return text.slice(0, at + 1 + int(r, text.length - at));
  }
}

/** Input `i` of seed `seed`, and how our side is fed it (null: one piece; else piece sizes, repeated). */
export function generate(seed: number, i: number): { input: Buffer; pieces: number[] | null } {
  const r = seededRandom((Math.imul(seed, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0);
  const count = chance(r, 0.6) ? 1 : 2 + int(r, 2);
  let text = '';
  for (let k = 0; k < count; k++) {
    const q = request(r);
    for (let m = chance(r, 0.25) ? 0 : 1 + int(r, 3); m > 0; m--) pick(r, MUTATIONS)(r, q);
    text += serialize(q);
  }
  if (chance(r, 0.15)) text = blind(r, text);
  const pieces = chance(r, 0.7) ? null : chance(r, 0.3) ? [1] : Array.from({ length: 1 + int(r, 4) }, () => 1 + int(r, 40));
  return { input: Buffer.from(text, 'latin1'), pieces };
}
