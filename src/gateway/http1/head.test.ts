// The HTTP/1.1 head parser: what it accepts and how it reads it, every rejection with the status the server
// answers, response heads, and how response bodies are delimited.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequestHead, parseResponseHead, responseFraming, hasToken, HeadError, type ResponseHead } from './head.ts';

/** A request head from lines (joined with CRLF; the parser gets the head without its final CRLFCRLF). */
const req = (...lines: string[]) => parseRequestHead(lines.join('\r\n'), 100);
const res = (...lines: string[]) => parseResponseHead(lines.join('\r\n'), 100);

function rejects(status: number, fn: () => unknown, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof HeadError, `expected a HeadError, got ${String(err)}`);
    assert.equal(err.status, status, `status of "${err.message}"`);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}

// ---- requests that parse ------------------------------------------------------------------------------------

test('a plain GET: method, target, version, lowercased names, trimmed values, no body, keep-alive', () => {
  const h = req('GET /v1/models HTTP/1.1', 'Host: gw.example', 'X-Mixed-Case:   padded value \t', 'Accept:*/*');
  assert.equal(h.method, 'GET');
  assert.equal(h.url, '/v1/models');
  assert.equal(h.minor, 1);
  assert.deepEqual({ ...h.headers }, { host: 'gw.example', 'x-mixed-case': 'padded value', accept: '*/*' });
  assert.deepEqual(h.framing, { kind: 'none' });
  assert.equal(h.keepAlive, true);
  assert.equal(h.expectContinue, false);
});

test('methods are any token, kept as sent', () => {
  for (const m of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND', 'M-SEARCH', 'get']) {
    assert.equal(req(`${m} / HTTP/1.1`, 'Host: a').method, m);
  }
});

test('targets: query strings, percent-encoding, asterisk form and absolute form are passed through', () => {
  assert.equal(req('GET /a/b?x=1&y=%20z&q=a?b#frag HTTP/1.1', 'Host: a').url, '/a/b?x=1&y=%20z&q=a?b#frag');
  assert.equal(req('OPTIONS * HTTP/1.1', 'Host: a').url, '*');
  assert.equal(req('GET http://a.example/p?q HTTP/1.1', 'Host: a.example').url, 'http://a.example/p?q');
  // obs-text (bytes >= 0x80, as latin1 chars) is allowed in the target.
  assert.equal(req('GET /caf\xc3\xa9 HTTP/1.1', 'Host: a').url, '/caf\xc3\xa9');
});

test('a request line alone (no header fields) is a valid HTTP/1.0 request', () => {
  const h = parseRequestHead('GET / HTTP/1.0', 100);
  assert.equal(h.minor, 0);
  assert.deepEqual(Object.keys(h.headers), []);
  assert.equal(h.keepAlive, false);
});

test('keep-alive: HTTP/1.1 unless `close`, HTTP/1.0 only with `keep-alive`; tokens are case-insensitive lists', () => {
  assert.equal(req('GET / HTTP/1.1', 'Host: a').keepAlive, true);
  assert.equal(req('GET / HTTP/1.1', 'Host: a', 'Connection: close').keepAlive, false);
  assert.equal(req('GET / HTTP/1.1', 'Host: a', 'Connection: Upgrade, CLOSE').keepAlive, false);
  assert.equal(req('GET / HTTP/1.1', 'Host: a', 'Connection: keep-alive').keepAlive, true);
  assert.equal(req('GET / HTTP/1.1', 'Host: a', 'Connection: closed').keepAlive, true);
  assert.equal(req('GET / HTTP/1.0').keepAlive, false);
  assert.equal(req('GET / HTTP/1.0', 'Connection: Keep-Alive').keepAlive, true);
  assert.equal(req('GET / HTTP/1.0', 'Connection: foo, keep-alive').keepAlive, true);
  assert.equal(req('GET / HTTP/1.0', 'Connection: close').keepAlive, false);
  // HTTP/1.0 needs no Host.
  assert.equal(req('GET / HTTP/1.0').headers.host, undefined);
});

test('hasToken', () => {
  assert.equal(hasToken(undefined, 'close'), false);
  assert.equal(hasToken('close', 'close'), true);
  assert.equal(hasToken('Close', 'close'), true);
  assert.equal(hasToken('clos,', 'close'), false);
  assert.equal(hasToken(' te , close ', 'close'), true);
  assert.equal(hasToken(['te', 'close'], 'close'), true);
  assert.equal(hasToken('keep-alive', 'close'), false);
});

test('body framing: Content-Length, zero length, chunked (any case, with spaces)', () => {
  assert.deepEqual(req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 12').framing, { kind: 'length', length: 12 });
  assert.deepEqual(req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 0').framing, { kind: 'none' });
  assert.deepEqual(req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 007').framing, { kind: 'length', length: 7 });
  assert.deepEqual(req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked').framing, { kind: 'chunked' });
  assert.deepEqual(req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: Chunked ').framing, { kind: 'chunked' });
  // The same Content-Length twice is one Content-Length (RFC 9110 §8.6).
  assert.deepEqual(req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 3', 'Content-Length: 3').framing, { kind: 'length', length: 3 });
  assert.deepEqual(req('POST / HTTP/1.0', 'Content-Length: 4').framing, { kind: 'length', length: 4 });
});

test('Expect: 100-continue is noticed on HTTP/1.1 only, case-insensitively', () => {
  assert.equal(req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 3', 'Expect: 100-Continue').expectContinue, true);
  assert.equal(req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 3', 'Expect: something-else').expectContinue, false);
  assert.equal(req('POST / HTTP/1.0', 'Content-Length: 3', 'Expect: 100-continue').expectContinue, false);
});

test('duplicate fields are joined with ", "; singleton fields keep the first; set-cookie is an array', () => {
  const h = req(
    'GET / HTTP/1.1',
    'Host: a',
    'Accept: text/html',
    'X-Forwarded-For: 10.0.0.1',
    'accept: application/json',
    'x-forwarded-for: 10.0.0.2',
    'X-Forwarded-For: 10.0.0.3',
    'Authorization: Bearer first',
    'Authorization: Bearer second',
    'Content-Type: application/json',
    'content-type: text/plain',
    'User-Agent: one',
    'User-Agent: two',
  );
  assert.equal(h.headers.accept, 'text/html, application/json');
  assert.equal(h.headers['x-forwarded-for'], '10.0.0.1, 10.0.0.2, 10.0.0.3');
  assert.equal(h.headers.authorization, 'Bearer first');
  assert.equal(h.headers['content-type'], 'application/json');
  assert.equal(h.headers['user-agent'], 'one');
  const r = res('HTTP/1.1 200 OK', 'Set-Cookie: a=1', 'set-cookie: b=2; Path=/', 'Location: /one', 'Location: /two');
  assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2; Path=/']);
  assert.equal(r.headers.location, '/one');
  assert.deepEqual(res('HTTP/1.1 200 OK', 'Set-Cookie: only=1').headers['set-cookie'], ['only=1']);
});

test('fields named like Object.prototype members never touch the prototype or inherit its values', () => {
  const h = req('GET / HTTP/1.1', 'Host: a', '__proto__: {"polluted":true}', 'Constructor: x', 'constructor: y', 'toString: z');
  assert.equal(Object.hasOwn(h.headers, '__proto__'), false);
  assert.equal((h.headers as Record<string, unknown>).polluted, undefined);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  // Copied into a plain object (as the proxy does), nothing reaches a prototype either.
  const copy: Record<string, unknown> = { ...h.headers };
  assert.equal(copy.polluted, undefined);
  assert.equal(Object.getPrototypeOf(copy), Object.prototype);
  assert.deepEqual(Object.keys(h.headers).sort(), ['constructor', 'host', 'tostring']);
  // A `constructor` field is a field like any other: not joined with Object's constructor function.
  assert.equal(h.headers.constructor, 'x, y');
  assert.equal(h.headers.tostring, 'z');
  assert.equal(req('GET / HTTP/1.1', 'Host: a', 'constructor: only').headers.constructor, 'only');
});

test('empty values, tabs around values and obs-text in values are accepted', () => {
  const h = req('GET / HTTP/1.1', 'Host: a', 'X-Empty:', 'X-Tab:\tv\t', 'X-Latin: caf\xe9');
  assert.equal(h.headers['x-empty'], '');
  assert.equal(h.headers['x-tab'], 'v');
  assert.equal(h.headers['x-latin'], 'caf\xe9');
});

test('header field count limit: 431', () => {
  const fields = Array.from({ length: 5 }, (_, i) => `X-${i}: v`);
  assert.equal(Object.keys(parseRequestHead(['GET / HTTP/1.1', 'Host: a', ...fields.slice(0, 4)].join('\r\n'), 5).headers).length, 5);
  rejects(431, () => parseRequestHead(['GET / HTTP/1.1', 'Host: a', ...fields].join('\r\n'), 5));
});

// ---- requests that are refused -------------------------------------------------------------------------------

test('line endings: bare LF and bare CR anywhere are 400', () => {
  rejects(400, () => parseRequestHead('GET / HTTP/1.1\nHost: a', 100));
  rejects(400, () => parseRequestHead('GET / HTTP/1.1\r\nHost: a\nX: y', 100));
  rejects(400, () => parseRequestHead('GET / HTTP/1.1\rHost: a', 100));
  rejects(400, () => parseRequestHead('GET / HTTP/1.1\r\nHost: a\r', 100));
  rejects(400, () => parseRequestHead('GET / HTTP/1.1\r\nX: a\rb\r\nHost: a', 100));
  rejects(400, () => parseRequestHead('GET / HTTP/1.1\r\nHost: a\r\n\n', 100));
});

test('NUL and other control characters (not HTAB) are 400, in values, names and the request line', () => {
  for (const c of ['\x00', '\x01', '\x08', '\x0b', '\x0c', '\x1b', '\x1f', '\x7f']) {
    rejects(400, () => req('GET / HTTP/1.1', 'Host: a', `X-V: a${c}b`), undefined);
    rejects(400, () => req('GET / HTTP/1.1', 'Host: a', `X${c}V: ab`));
    rejects(400, () => req(`GET /a${c} HTTP/1.1`, 'Host: a'));
  }
});

test('obs-fold (a continuation line starting with SP or HTAB) is 400', () => {
  rejects(400, () => req('GET / HTTP/1.1', 'Host: a', 'X-Long: first', ' second'), /folding/);
  rejects(400, () => req('GET / HTTP/1.1', 'Host: a', 'X-Long: first', '\tsecond'), /folding/);
  // Folded text that happens to contain a colon is still not a field.
  rejects(400, () => req('GET / HTTP/1.1', 'Host: a', 'X-Long: first', ' x: y'));
});

test('whitespace before the colon, empty names, non-token names and lines without a colon are 400', () => {
  rejects(400, () => req('GET / HTTP/1.1', 'Host : a'));
  rejects(400, () => req('GET / HTTP/1.1', 'Host: a', 'X-A\t: b'));
  rejects(400, () => req('GET / HTTP/1.1', 'Host: a', ': no-name'), /empty header name/);
  rejects(400, () => req('GET / HTTP/1.1', 'Host: a', 'X(A): b'), /invalid header name/);
  rejects(400, () => req('GET / HTTP/1.1', 'Host: a', 'X A: b'), /invalid header name/);
  rejects(400, () => req('GET / HTTP/1.1', 'Host: a', 'X"A": b'));
  rejects(400, () => req('GET / HTTP/1.1', 'Host: a', 'caf\xe9: b'));
  rejects(400, () => req('GET / HTTP/1.1', 'Host: a', 'NoColonHere'), /without a colon/);
  // An empty line inside the head (the parser gets the head without its final blank line).
  rejects(400, () => req('GET / HTTP/1.1', 'Host: a', '', 'X: y'));
});

test('Host: missing on HTTP/1.1 or given twice is 400', () => {
  rejects(400, () => req('GET / HTTP/1.1', 'Accept: */*'), /missing Host/);
  rejects(400, () => req('GET / HTTP/1.1', 'Host: a', 'Host: b'), /more than one Host/);
  rejects(400, () => req('GET / HTTP/1.1', 'Host: a', 'host: a'), /more than one Host/);
  rejects(400, () => req('GET / HTTP/1.0', 'Host: a', 'Host: a'), /more than one Host/);
  // An empty Host is present (RFC 9112 §3.2 allows it for some targets).
  assert.equal(req('GET / HTTP/1.1', 'Host:').headers.host, '');
});

test('Content-Length: conflicting, non-numeric, signed, listed, too long are 400', () => {
  rejects(400, () => req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 3', 'Content-Length: 4'), /conflicting/);
  for (const v of ['abc', '-1', '+5', '1.5', '0x10', '5, 5', '5 5', '', '1e3', '1234567890123456']) {
    rejects(400, () => req('POST / HTTP/1.1', 'Host: a', `Content-Length: ${v}`), undefined);
  }
});

test('request smuggling: Transfer-Encoding with Content-Length is 400, in either order', () => {
  rejects(400, () => req('POST / HTTP/1.1', 'Host: a', 'Content-Length: 5', 'Transfer-Encoding: chunked'), /both/);
  rejects(400, () => req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked', 'Content-Length: 0'), /both/);
});

test('Transfer-Encoding: not ending in chunked is 400, other codings before chunked 501, any on HTTP/1.0 400', () => {
  rejects(400, () => req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: gzip'), /not chunked/);
  rejects(400, () => req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked, gzip'), /not chunked/);
  rejects(400, () => req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunkedx'));
  rejects(501, () => req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: gzip, chunked'), /unsupported transfer coding/);
  // Two fields are one list: gzip then chunked.
  rejects(501, () => req('POST / HTTP/1.1', 'Host: a', 'Transfer-Encoding: gzip', 'Transfer-Encoding: chunked'));
  rejects(400, () => req('POST / HTTP/1.0', 'Transfer-Encoding: chunked'), /HTTP\/1\.0/);
});

test('HTTP versions: 2.0, 0.9-style and 1.2 are 505; garbage is 400', () => {
  rejects(505, () => req('GET / HTTP/2.0', 'Host: a'));
  rejects(505, () => req('GET / HTTP/1.2', 'Host: a'));
  rejects(505, () => req('GET / HTTP/0.9', 'Host: a'));
  rejects(400, () => req('GET / HTTP/1.x', 'Host: a'));
  rejects(400, () => req('GET / http/1.1', 'Host: a'));
  rejects(400, () => req('GET / HTTPS/1.', 'Host: a'));
});

test('malformed request lines and targets are 400', () => {
  const bad = [
    'GET /',
    'GET',
    '',
    ' GET / HTTP/1.1',
    'GET  / HTTP/1.1',
    'GET /  HTTP/1.1',
    'GET / HTTP/1.1 ',
    'GET /a b HTTP/1.1',
    'GET\t/ HTTP/1.1',
    'G(T / HTTP/1.1',
    'GET / HTTP/1.1x',
    'GET / HTTP/11',
  ];
  for (const line of bad) rejects(400, () => parseRequestHead(`${line}\r\nHost: a`, 100), undefined);
  // A request line with no Host line after it.
  rejects(400, () => parseRequestHead('GET /a b', 100));
});

// ---- response heads ------------------------------------------------------------------------------------------

test('status lines: reason phrases optional, any text, HTTP/1.0 and 1.1', () => {
  assert.equal(res('HTTP/1.1 200 OK').status, 200);
  assert.equal(res('HTTP/1.1 404 Not Found').status, 404);
  assert.equal(res('HTTP/1.1 204').status, 204);
  assert.equal(res('HTTP/1.1 204 ').status, 204);
  assert.equal(res('HTTP/1.1 599 Whatever you like: \xe9').status, 599);
  const r = res('HTTP/1.0 200 OK', 'Content-Length: 0');
  assert.equal(r.minor, 0);
  assert.equal(r.headers['content-length'], '0');
});

test('1xx heads parse (the client skips them)', () => {
  assert.equal(res('HTTP/1.1 100 Continue').status, 100);
  const early = res('HTTP/1.1 103 Early Hints', 'Link: </style.css>; rel=preload');
  assert.equal(early.status, 103);
  assert.equal(early.headers.link, '</style.css>; rel=preload');
});

test('malformed status lines and versions are refused', () => {
  for (const line of ['HTTP/1.1 20 OK', 'HTTP/1.1 2000 OK', 'HTTP/1.1 099 Low', 'HTTP/1.1 600 High', 'HTTP/1.1 abc OK', 'HTTP/1.1  200 OK', 'HTTP/1.1 200OK', 'HTTP/1.1', 'HTTP/1.1200 OK', 'ICY 200 OK', '']) {
    assert.throws(() => parseResponseHead(line, 100), HeadError, JSON.stringify(line));
  }
  rejects(505, () => res('HTTP/2.0 200 OK'));
  rejects(400, () => res('HTTP/1.1 200 OK', 'Bad Name: x'));
  rejects(400, () => res('HTTP/1.1 200 OK\nX: y'));
  rejects(400, () => res('HTTP/1.1 200 OK', 'Content-Length: 1', 'Content-Length: 2'));
});

test('close: HTTP/1.1 closes on `connection: close`, HTTP/1.0 unless `keep-alive`', () => {
  assert.equal(res('HTTP/1.1 200 OK').close, false);
  assert.equal(res('HTTP/1.1 200 OK', 'Connection: close').close, true);
  assert.equal(res('HTTP/1.1 200 OK', 'Connection: keep-alive').close, false);
  assert.equal(res('HTTP/1.0 200 OK').close, true);
  assert.equal(res('HTTP/1.0 200 OK', 'Connection: keep-alive').close, false);
});

test('keep-alive: timeout=N is read; absent or without a timeout is -1', () => {
  assert.equal(res('HTTP/1.1 200 OK', 'Keep-Alive: timeout=5').keepAliveSeconds, 5);
  assert.equal(res('HTTP/1.1 200 OK', 'Keep-Alive: max=100, Timeout=30').keepAliveSeconds, 30);
  assert.equal(res('HTTP/1.1 200 OK', 'Keep-Alive: max=100').keepAliveSeconds, -1);
  assert.equal(res('HTTP/1.1 200 OK').keepAliveSeconds, -1);
});

test('responseFraming: HEAD, 1xx, 204 and 304 have no body whatever the head says', () => {
  const withLength = res('HTTP/1.1 200 OK', 'Content-Length: 10');
  assert.deepEqual(responseFraming('HEAD', withLength), { kind: 'none' });
  assert.deepEqual(responseFraming('HEAD', res('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked')), { kind: 'none' });
  assert.deepEqual(responseFraming('GET', res('HTTP/1.1 204 No Content', 'Content-Length: 10')), { kind: 'none' });
  assert.deepEqual(responseFraming('GET', res('HTTP/1.1 304 Not Modified', 'Transfer-Encoding: chunked')), { kind: 'none' });
  assert.deepEqual(responseFraming('POST', res('HTTP/1.1 100 Continue')), { kind: 'none' });
});

test('responseFraming: chunked wins over Content-Length, other codings read until close, lengths, zero, none', () => {
  assert.deepEqual(responseFraming('GET', res('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked')), { kind: 'chunked' });
  assert.deepEqual(responseFraming('GET', res('HTTP/1.1 200 OK', 'Transfer-Encoding: gzip, chunked')), { kind: 'chunked' });
  assert.deepEqual(responseFraming('GET', res('HTTP/1.1 200 OK', 'Transfer-Encoding: chunked', 'Content-Length: 5')), { kind: 'chunked' });
  assert.deepEqual(responseFraming('GET', res('HTTP/1.1 200 OK', 'Transfer-Encoding: gzip')), { kind: 'close' });
  assert.deepEqual(responseFraming('GET', res('HTTP/1.1 200 OK', 'Content-Length: 42')), { kind: 'length', length: 42 });
  assert.deepEqual(responseFraming('POST', res('HTTP/1.1 500 Oops', 'Content-Length: 0')), { kind: 'none' });
  assert.deepEqual(responseFraming('GET', res('HTTP/1.1 200 OK')), { kind: 'close' });
  assert.deepEqual(responseFraming('GET', res('HTTP/1.0 200 OK')), { kind: 'close' });
  const bad: ResponseHead = res('HTTP/1.1 200 OK', 'Content-Length: ten');
  rejects(400, () => responseFraming('GET', bad), /Content-Length/);
});

// ---- found by the differential fuzzer (fuzz/http1.ts) ---------------------------------------------------

test('repeated Cookie fields are one cookie-string joined with "; ", as node:http delivers them', () => {
  assert.equal(req('GET / HTTP/1.1', 'Host: a', 'Cookie: a=1', 'cookie: b=2').headers.cookie, 'a=1; b=2');
});

test('CONNECT is 501: what follows its head is a tunnel to llhttp, and the gateway is no tunnel', () => {
  rejects(501, () => req('CONNECT engine:443 HTTP/1.1', 'Host: engine:443', 'Content-Length: 3'), /CONNECT/);
});

test('PRI is 400 on HTTP/1.x: llhttp reads on for the rest of the HTTP/2 preface', () => {
  rejects(400, () => req('PRI * HTTP/1.0'), /preface/);
});
