// The gateway's HTTP/1.1 server over real sockets: keep-alive, pipelining, request bodies, 100-continue, HEAD,
// HTTP/1.0, streaming, refusals (400/431/408/505/501), timeouts, client disconnects, early answers, backpressure
// and TLS. Most tests talk to it over raw `net` sockets so every byte on the wire is checked.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { request as httpsRequest } from 'node:https';
import { execFile } from 'node:child_process';
import { Http1Server, Https1Server, type Http1Stream, type ServerLimits } from './server.ts';
import { generateCA, issueServingCertificate } from '../../webhooks/certs.ts';
import { needs } from '../../../test/support/system.ts';

/** /big's body size: far more than loopback socket buffers hold (tcp_rmem max here is 32 MiB). */
const BIG = 128 << 20;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- the handler under test ------------------------------------------------------------------------------

/** What the handler saw, per test. */
interface Seen {
  /** Requests in the order their handler was called ("METHOD url"). */
  started: string[];
  clientGone: Map<string, number>;
  writable: Map<string, number>;
  /** /big: bytes written, the last write() returned false (and no onWritable since), how often it did. */
  bigWritten: number;
  bigBlocked: boolean;
  bigFalse: number;
}

/**
 * Echo handler. The body answered is JSON {method, url, body, headers} unless the path says otherwise:
 * /slow?ms=N answers N ms after the body ended; /stream writes chunks a,b,c,d (async) without a length;
 * /early answers 413 from the handler before any body byte is read; /hang never answers; /big writes
 * until write() returns false, then a tail after onWritable; /nolength answers without a length.
 */
function echoHandler(seen: Seen): (stream: Http1Stream) => void {
  return (stream) => {
    const key = `${stream.method} ${stream.url}`;
    seen.started.push(key);
    const url = new URL(stream.url, 'http://x');
    const parts: Buffer[] = [];
    const echo = (): string => JSON.stringify({ method: stream.method, url: stream.url, body: Buffer.concat(parts).toString(), headers: stream.headers });
    let onWritable = (): void => {};
    stream.sink = {
      onBodyData: (c) => parts.push(Buffer.from(c)),
      onBodyEnd: () => {
        switch (url.pathname) {
          case '/slow':
            setTimeout(() => stream.end(echo()), Number(url.searchParams.get('ms') ?? 50));
            return;
          case '/stream': {
            stream.writeHead(200, { 'content-type': 'text/plain', 'x-kind': 'stream' });
            let i = 0;
            const next = (): void => {
              if (stream.finished) return;
              if (i < 4) {
                stream.write('abcd'[i++]!.repeat(1000 * i));
                setTimeout(next, 5);
              } else stream.end();
            };
            next();
            return;
          }
          case '/hang':
          case '/early':
            return;
          case '/nolength':
            stream.writeHead(200, { 'content-type': 'text/plain' });
            stream.write('part one;');
            setTimeout(() => stream.end('part two'), 10);
            return;
          case '/big': {
            // BIG bytes and a tail, written as fast as the client takes them (write() until false, then onWritable).
            stream.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG + 4 });
            const chunk = Buffer.alloc(1 << 20, 0x61);
            const pump = (): void => {
              seen.bigBlocked = false;
              while (seen.bigWritten < BIG) {
                seen.bigWritten += chunk.length;
                if (!stream.write(chunk)) {
                  seen.bigBlocked = true;
                  seen.bigFalse++;
                  return;
                }
              }
              onWritable = () => {};
              stream.end('tail');
            };
            onWritable = pump;
            pump();
            return;
          }
          case '/chunked-echo':
            stream.writeHead(200, { 'content-type': 'application/json' });
            stream.end(echo());
            return;
          default: {
            const text = echo();
            stream.writeHead(200, { 'content-type': 'application/json', 'x-echo': 'yes', 'content-length': Buffer.byteLength(text) });
            stream.end(text);
          }
        }
      },
      onClientGone: () => seen.clientGone.set(key, (seen.clientGone.get(key) ?? 0) + 1),
      onWritable: () => {
        seen.writable.set(key, (seen.writable.get(key) ?? 0) + 1);
        onWritable();
      },
    };
    if (url.pathname === '/early') {
      stream.writeHead(413, { 'content-type': 'text/plain' });
      stream.end('too large');
    }
  };
}

async function startServer(t: TestContext, limits: Partial<ServerLimits> = {}): Promise<{ server: Http1Server; port: number; seen: Seen }> {
  const seen: Seen = { started: [], clientGone: new Map(), writable: new Map(), bigWritten: 0, bigBlocked: false, bigFalse: 0 };
  const server = new Http1Server(echoHandler(seen), limits);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { server, port: (server.address() as AddressInfo).port, seen };
}

// ---- a raw client ------------------------------------------------------------------------------------------

interface Response {
  status: number;
  statusLine: string;
  headers: Record<string, string>;
  body: Buffer;
  /** The exact bytes of the body on the wire (chunk framing included). */
  raw: Buffer;
}

class RawClient {
  readonly socket: Socket;
  buf = Buffer.alloc(0);
  ended = false;
  closed = false;
  #wake: Array<() => void> = [];

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.#notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.#notify();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.#notify();
    });
  }

  static async open(t: TestContext, port: number): Promise<RawClient> {
    const socket = netConnect({ port, host: '127.0.0.1' });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const c = new RawClient(socket);
    t.after(() => socket.destroy());
    return c;
  }

  #notify(): void {
    for (const w of this.#wake.splice(0)) w();
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Wait until `pred` holds (checked on every socket event), or fail after `ms`. */
  async until(pred: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; received so far: ${JSON.stringify(this.buf.toString('latin1').slice(0, 500))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        this.#wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Read one whole response off the connection (bodyless for HEAD). */
  async response(opts: { head?: boolean; ms?: number } = {}): Promise<Response> {
    let r: Response | null = null;
    await this.until(() => (r = tryParse(this, opts.head === true)) !== null, opts.ms ?? 5000, 'a response');
    return r!;
  }

  async closedByServer(ms = 5000): Promise<void> {
    await this.until(() => this.ended || this.closed, ms, 'the server to close the connection');
  }
}

/** One response from the front of `c.buf` (consumed), or null while incomplete. */
function tryParse(c: RawClient, head: boolean): Response | null {
  const buf = c.buf;
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  const statusLine = lines[0]!;
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
  assert.ok(m, `status line ${JSON.stringify(statusLine)}`);
  const status = Number(m[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    assert.ok(colon > 0, `header line ${JSON.stringify(line)}`);
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    assert.ok(!(name in headers) || name === 'set-cookie', `duplicate response header ${name}`);
    headers[name] = value;
  }
  let at = end + 4;
  const te = headers['transfer-encoding'];
  const cl = headers['content-length'];
  assert.ok(te === undefined || cl === undefined, 'a response with both transfer-encoding and content-length');
  let body: Buffer;
  if (head || status < 200 || status === 204 || status === 304) {
    body = Buffer.alloc(0);
  } else if (te !== undefined) {
    assert.equal(te, 'chunked');
    const parts: Buffer[] = [];
    for (;;) {
      const eol = buf.indexOf('\r\n', at);
      if (eol < 0) return null;
      const sizeText = buf.toString('latin1', at, eol);
      assert.match(sizeText, /^[0-9a-f]+$/, 'the server writes plain lowercase hex chunk sizes');
      const size = parseInt(sizeText, 16);
      if (size === 0) {
        if (buf.length < eol + 4) return null;
        assert.equal(buf.toString('latin1', eol, eol + 4), '\r\n\r\n', 'no trailers, then the end');
        at = eol + 4;
        break;
      }
      if (buf.length < eol + 2 + size + 2) return null;
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      assert.equal(buf.toString('latin1', eol + 2 + size, eol + 4 + size), '\r\n');
      at = eol + 4 + size;
    }
    body = Buffer.concat(parts);
  } else if (cl !== undefined) {
    const n = Number(cl);
    if (buf.length < at + n) return null;
    body = buf.subarray(at, at + n);
    at += n;
  } else {
    // Delimited by the connection closing.
    if (!c.ended && !c.closed) return null;
    body = buf.subarray(at);
    at = buf.length;
  }
  const raw = buf.subarray(end + 4, at);
  c.buf = buf.subarray(at);
  return { status, statusLine, headers, body, raw };
}

const get = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: test\r\n${extra}\r\n`;
const post = (path: string, body: string, extra = ''): string =>
  `POST ${path} HTTP/1.1\r\nHost: test\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
const json = (r: Response): { method: string; url: string; body: string; headers: Record<string, string> } => JSON.parse(r.body.toString());

// ---- tests -------------------------------------------------------------------------------------------------

test('keep-alive: several requests on one connection, each answered with framing and a date', async (t) => {
  const { server, port } = await startServer(t);
  const c = await RawClient.open(t, port);
  for (let i = 0; i < 3; i++) {
    c.send(post(`/echo/${i}?q=${i}`, `body ${i}`, 'X-Custom: v\r\n'));
    const r = await c.response();
    assert.equal(r.status, 200);
    assert.equal(r.statusLine, 'HTTP/1.1 200 OK');
    assert.equal(r.headers.connection, 'keep-alive');
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers['x-echo'], 'yes');
    assert.ok(!Number.isNaN(Date.parse(r.headers.date!)), 'a date header');
    assert.equal(Number(r.headers['content-length']), r.body.length);
    const e = json(r);
    assert.deepEqual([e.method, e.url, e.body, e.headers['x-custom']], ['POST', `/echo/${i}?q=${i}`, `body ${i}`, 'v']);
  }
  assert.equal(server.connectionCount, 1);
  assert.equal(c.closed || c.ended, false);
  assert.equal(c.buf.length, 0, 'nothing after the responses');
});

test('pipelined requests are answered in order, a slow first one holding the others back', async (t) => {
  const { seen, port } = await startServer(t);
  const c = await RawClient.open(t, port);
  // All in one write: a slow POST, a GET, a chunked POST, a HEAD, a last GET.
  c.send(
    post('/slow?ms=150', 'first') +
      get('/second') +
      'POST /third HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nthird\r\n0\r\n\r\n' +
      'HEAD /fourth HTTP/1.1\r\nHost: test\r\n\r\n' +
      get('/slow?ms=1'),
  );
  const t0 = Date.now();
  const r1 = await c.response();
  assert.ok(Date.now() - t0 >= 100, 'the first answer is the slow one');
  assert.deepEqual([json(r1).url, json(r1).body], ['/slow?ms=150', 'first']);
  const r2 = await c.response();
  assert.equal(json(r2).url, '/second');
  const r3 = await c.response();
  assert.deepEqual([json(r3).url, json(r3).body], ['/third', 'third']);
  const r4 = await c.response({ head: true });
  assert.equal(r4.status, 200);
  const r5 = await c.response();
  assert.equal(json(r5).url, '/slow?ms=1');
  assert.deepEqual(seen.started, ['POST /slow?ms=150', 'GET /second', 'POST /third', 'HEAD /fourth', 'GET /slow?ms=1']);
  await sleep(20);
  assert.equal(c.buf.length, 0);
});

test('many pipelined requests behind a slow one (more than the head limit buffered) are all answered', async (t) => {
  const { port } = await startServer(t, { maxHeadBytes: 1024 });
  const c = await RawClient.open(t, port);
  const n = 200; // ~8 KiB of pipelined heads while the first response runs: the server stops reading, then resumes
  let all = post('/slow?ms=100', 'x');
  for (let i = 0; i < n; i++) all += get(`/p/${i}`);
  c.send(all);
  assert.equal(json(await c.response()).url, '/slow?ms=100');
  for (let i = 0; i < n; i++) assert.equal(json(await c.response()).url, `/p/${i}`);
});

test('a chunked request body, split at awkward places, arrives whole', async (t) => {
  const { port } = await startServer(t);
  const c = await RawClient.open(t, port);
  const wire = 'POST /chunky HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n' + '3;ext=1\r\nabc\r\n' + '10\r\n0123456789abcdef\r\n' + '1\r\n!\r\n' + '0\r\nX-Trailer: t\r\n\r\n';
  for (const piece of [wire.slice(0, 50), wire.slice(50, 71), wire.slice(71, 72), wire.slice(72, 90), wire.slice(90)]) {
    c.send(piece);
    await sleep(5);
  }
  const r = await c.response();
  assert.equal(json(r).body, 'abc0123456789abcdef!');
  // And the connection goes on.
  c.send(get('/after'));
  assert.equal(json(await c.response()).url, '/after');
});

test('a Content-Length body sent byte by byte', async (t) => {
  const { port } = await startServer(t);
  const c = await RawClient.open(t, port);
  const body = 'hello, byte by byte';
  c.send(`POST /bytes HTTP/1.1\r\nHost: test\r\nContent-Length: ${body.length}\r\n\r\n`);
  for (const ch of body) {
    c.send(ch);
    await sleep(1);
  }
  assert.equal(json(await c.response()).body, body);
});

test('Expect: 100-continue gets "100 Continue" before the body is sent, then the final response', async (t) => {
  const { port } = await startServer(t);
  const c = await RawClient.open(t, port);
  c.send('POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 7\r\nExpect: 100-continue\r\n\r\n');
  await c.until(() => c.buf.indexOf('\r\n\r\n') >= 0, 5000, '100 Continue');
  assert.equal(c.buf.toString(), 'HTTP/1.1 100 Continue\r\n\r\n');
  c.buf = Buffer.alloc(0);
  await sleep(30);
  assert.equal(c.buf.length, 0, 'no final response before the body');
  c.send('payload');
  const r = await c.response();
  assert.equal(r.status, 200);
  assert.equal(json(r).body, 'payload');
  // No 100 Continue for a request that did not ask.
  c.send(post('/plain', 'x'));
  const plain = await c.response();
  assert.equal(plain.status, 200);
});

test('HEAD gets the headers (length or chunked) and no body bytes', async (t) => {
  const { port } = await startServer(t);
  const c = await RawClient.open(t, port);
  c.send('HEAD /echo HTTP/1.1\r\nHost: test\r\n\r\n');
  const r = await c.response({ head: true });
  assert.equal(r.status, 200);
  assert.ok(Number(r.headers['content-length']) > 0, 'the length the GET body would have');
  // A streamed answer to HEAD: chunked is announced, no chunk is sent.
  c.send('HEAD /stream HTTP/1.1\r\nHost: test\r\n\r\n');
  const s = await c.response({ head: true });
  assert.equal(s.headers['transfer-encoding'], 'chunked');
  await sleep(60);
  assert.equal(c.buf.length, 0, 'no body bytes after HEAD responses');
  c.send(get('/next'));
  assert.equal(json(await c.response()).url, '/next');
});

test('HTTP/1.0: closed after the response unless keep-alive; no length means close-delimited', async (t) => {
  const { port } = await startServer(t);
  const plain = await RawClient.open(t, port);
  plain.send('GET /old HTTP/1.0\r\n\r\n');
  const r = await plain.response();
  assert.equal(r.headers.connection, 'close');
  assert.equal(json(r).url, '/old');
  await plain.closedByServer();

  const ka = await RawClient.open(t, port);
  ka.send('GET /one HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  const r1 = await ka.response();
  assert.equal(r1.headers.connection, 'keep-alive');
  ka.send('GET /two HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  assert.equal(json(await ka.response()).url, '/two');

  // A response without a length to an HTTP/1.0 client: no chunked coding (1.0 has none), ends with the connection,
  // even though the client asked for keep-alive.
  ka.send('GET /nolength HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  const nl = await ka.response();
  assert.equal(nl.headers['transfer-encoding'], undefined);
  assert.equal(nl.headers['content-length'], undefined);
  assert.equal(nl.headers.connection, 'close');
  assert.equal(nl.body.toString(), 'part one;part two');
  assert.ok(ka.ended || ka.closed);
});

test('HTTP/1.1 with Connection: close is answered and closed', async (t) => {
  const { port } = await startServer(t);
  const c = await RawClient.open(t, port);
  c.send(get('/bye', 'Connection: close\r\n') + get('/never'));
  const r = await c.response();
  assert.equal(r.headers.connection, 'close');
  await c.closedByServer();
  assert.equal(c.buf.length, 0, 'the request after Connection: close is not answered');
});

test('a streamed response (several writes, no length) is chunked on the wire and decodes right with fetch', async (t) => {
  const { port } = await startServer(t);
  const expected = 'a'.repeat(1000) + 'b'.repeat(2000) + 'c'.repeat(3000) + 'd'.repeat(4000);
  const c = await RawClient.open(t, port);
  c.send(get('/stream'));
  const r = await c.response();
  assert.equal(r.headers['transfer-encoding'], 'chunked');
  assert.equal(r.headers['x-kind'], 'stream');
  assert.equal(r.body.toString(), expected);
  assert.ok(r.raw.toString('latin1').startsWith('3e8\r\n'), 'one chunk per write');

  const res = await fetch(`http://127.0.0.1:${port}/stream`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('transfer-encoding'), 'chunked');
  assert.equal(await res.text(), expected);
});

test('a streamed response decodes right with curl', { skip: needs('curl') }, async (t) => {
  const { port } = await startServer(t);
  const expected = 'a'.repeat(1000) + 'b'.repeat(2000) + 'c'.repeat(3000) + 'd'.repeat(4000);
  const out = await new Promise<string>((resolve, reject) =>
    execFile('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${port}/stream`], (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
  assert.equal(out, expected);
});

test('fetch: POST bodies with a length and streamed (chunked)', async (t) => {
  const { port } = await startServer(t);
  const r1 = await fetch(`http://127.0.0.1:${port}/f1`, { method: 'POST', body: 'plain body' });
  assert.equal(((await r1.json()) as { body: string }).body, 'plain body');
  const stream = new ReadableStream<Uint8Array>({
    start(ctl) {
      ctl.enqueue(new TextEncoder().encode('streamed '));
      ctl.enqueue(new TextEncoder().encode('body'));
      ctl.close();
    },
  });
  const r2 = await fetch(`http://127.0.0.1:${port}/f2`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
  const e2 = (await r2.json()) as { body: string; headers: Record<string, string> };
  assert.equal(e2.body, 'streamed body');
  assert.equal(e2.headers['transfer-encoding'], 'chunked');
  assert.equal(e2.headers['content-length'], undefined);
});

test('malformed requests get a JSON 400 (or 501/505) and the connection closes', async (t) => {
  const { port, seen } = await startServer(t);
  const cases: Array<[string, number, string]> = [
    ['GET / HTTP/1.1\r\n\r\n', 400, 'bad_request'], // no Host
    // Bare LFs do not end a head; the CRLFCRLF sent after it does, and the head is refused for its bare LFs.
    ['GET / HTTP/1.1\nHost: a\n\n', 400, 'bad_request'],
    ['GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n', 400, 'bad_request'],
    ['GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n\r\n', 400, 'bad_request'],
    ['GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n folded\r\n\r\n', 400, 'bad_request'],
    ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', 400, 'bad_request'],
    ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', 400, 'bad_request'],
    ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 501, 'not_implemented'],
    ['GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505, 'http_version_not_supported'],
    ['GET /a b HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'bad_request'],
    ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400, 'bad_request'], // bad chunk size
  ];
  for (const [wire, status, code] of cases) {
    const c = await RawClient.open(t, port);
    c.send(wire);
    if (wire.includes('\nHost: a\n\n')) c.send('\r\n\r\n');
    const r = await c.response();
    assert.equal(r.status, status, JSON.stringify(wire));
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers.connection, 'close');
    const body = JSON.parse(r.body.toString());
    assert.equal(body.error.code, code, JSON.stringify(wire));
    assert.equal(body.error.type, status >= 500 ? 'server_error' : 'invalid_request_error');
    assert.match(body.error.message, /^Malformed HTTP request: /);
    await c.closedByServer();
  }
  // Only the bad chunked body reached a handler (its head was fine).
  assert.deepEqual(seen.started, ['POST /']);
  assert.equal(seen.clientGone.get('POST /'), 1, 'a refused body ends its stream as abandoned');
});

test('a request head over the size limit gets 431, whether or not its end has arrived', async (t) => {
  const { port } = await startServer(t, { maxHeadBytes: 1024 });
  const big = `X-Big: ${'x'.repeat(2000)}\r\n`;
  for (const wire of [`GET / HTTP/1.1\r\nHost: a\r\n${big}\r\n`, `GET / HTTP/1.1\r\nHost: a\r\n${big}`]) {
    const c = await RawClient.open(t, port);
    c.send(wire);
    const r = await c.response();
    assert.equal(r.status, 431);
    assert.equal(JSON.parse(r.body.toString()).error.code, 'request_header_fields_too_large');
    await c.closedByServer();
  }
  // Just under the limit is fine.
  const ok = await RawClient.open(t, port);
  ok.send(`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'x'.repeat(900)}\r\n\r\n`);
  assert.equal((await ok.response()).status, 200);
  const many = await RawClient.open(t, port);
  many.send(`GET / HTTP/1.1\r\nHost: a\r\n${'X: y\r\n'.repeat(150)}\r\n`);
  assert.equal((await many.response()).status, 200, '150 fields: under the default limit of 200');
});

test('the field count limit gives 431', async (t) => {
  const { port } = await startServer(t, { maxHeaderFields: 10 });
  const c = await RawClient.open(t, port);
  c.send(`GET / HTTP/1.1\r\nHost: a\r\n${'X: y\r\n'.repeat(10)}\r\n`);
  assert.equal((await c.response()).status, 431);
});

test('empty lines before a request are ignored, but an endless stream of them is refused', async (t) => {
  const { port } = await startServer(t, { maxHeadBytes: 1024 });
  const c = await RawClient.open(t, port);
  c.send('\r\n\r\n' + get('/after-blank-lines'));
  assert.equal(json(await c.response()).url, '/after-blank-lines');
  // Blank lines count towards the head limit: they are buffered like any other head bytes.
  const flood = await RawClient.open(t, port);
  for (let i = 0; i < 8; i++) flood.send('\r\n'.repeat(512));
  const r = await flood.response({ ms: 3000 });
  assert.equal(r.status, 431);
  await flood.closedByServer();
});

test('a head that does not arrive within headersTimeoutMs gets 408', async (t) => {
  const { port } = await startServer(t, { headersTimeoutMs: 200 });
  const c = await RawClient.open(t, port);
  c.send('GET /slowloris HTTP/1.1\r\nHost: a\r\n');
  const t0 = Date.now();
  const r = await c.response({ ms: 5000 });
  assert.equal(r.status, 408);
  assert.equal(JSON.parse(r.body.toString()).error.code, 'request_timeout');
  assert.ok(Date.now() - t0 >= 150, 'not before the limit');
  await c.closedByServer();
  // Trickling bytes does not extend it (the limit is from the head's first byte).
  const d = await RawClient.open(t, port);
  const t1 = Date.now();
  d.send('GET / HTTP/1.1\r\n');
  const trickle = setInterval(() => d.socket.writable && d.send('X: y\r\n'), 50);
  try {
    assert.equal((await d.response({ ms: 5000 })).status, 408);
    assert.ok(Date.now() - t1 < 2000);
  } finally {
    clearInterval(trickle);
  }
});

test('the head timeout does not apply between requests nor to a body being read', async (t) => {
  const { port } = await startServer(t, { headersTimeoutMs: 200, keepAliveTimeoutMs: 5000 });
  const c = await RawClient.open(t, port);
  c.send(get('/one'));
  await c.response();
  await sleep(350); // idle, under the keep-alive time
  c.send('POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab');
  await sleep(350); // the body is slow, the head was in time
  c.send('cd');
  assert.equal(json(await c.response()).body, 'abcd');
});

test('an idle keep-alive connection is closed after keepAliveTimeoutMs, with or without a request', async (t) => {
  const { server, port } = await startServer(t, { keepAliveTimeoutMs: 250 });
  const c = await RawClient.open(t, port);
  c.send(get('/x'));
  await c.response();
  const t0 = Date.now();
  await c.closedByServer(5000);
  const waited = Date.now() - t0;
  assert.ok(waited >= 150 && waited < 3000, `closed after ${waited} ms`);
  assert.equal(c.buf.length, 0, 'closed without a response');
  const silent = await RawClient.open(t, port);
  await silent.closedByServer(5000);
  await sleep(10);
  assert.equal(server.connectionCount, 0);
});

test('a client gone mid-response: onClientGone exactly once (reset, half-close, mid-stream)', async (t) => {
  const { port, seen } = await startServer(t);
  const a = await RawClient.open(t, port);
  a.send(get('/hang?a'));
  await waitFor(() => seen.started.includes('GET /hang?a'));
  a.socket.destroy();
  await waitFor(() => seen.clientGone.has('GET /hang?a'));

  const b = await RawClient.open(t, port);
  b.send(get('/hang?b'));
  await waitFor(() => seen.started.includes('GET /hang?b'));
  b.socket.end(); // half-close: treated as gone, like Node's http server
  await waitFor(() => seen.clientGone.has('GET /hang?b'));
  await b.closedByServer();

  // Gone while a body is being sent.
  const c = await RawClient.open(t, port);
  c.send('POST /hang?c HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly some');
  await waitFor(() => seen.started.includes('POST /hang?c'));
  c.socket.destroy();
  await waitFor(() => seen.clientGone.has('POST /hang?c'));

  await sleep(50);
  assert.deepEqual(Object.fromEntries(seen.clientGone), { 'GET /hang?a': 1, 'GET /hang?b': 1, 'POST /hang?c': 1 });
});

test('a completed response never reports the client gone', async (t) => {
  const { port, seen } = await startServer(t);
  const c = await RawClient.open(t, port);
  c.send(get('/done', 'Connection: close\r\n'));
  await c.response();
  await c.closedByServer();
  const d = await RawClient.open(t, port);
  d.send(get('/done2'));
  await d.response();
  d.socket.destroy();
  await sleep(50);
  assert.equal(seen.clientGone.size, 0);
});

async function waitFor(pred: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(5);
  }
}

test('answering before the request body was read closes the connection', async (t) => {
  const { port } = await startServer(t);
  const c = await RawClient.open(t, port);
  // The body is not even sent; the next request behind it must not be read as a request.
  c.send('POST /early HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n');
  const r = await c.response();
  assert.equal(r.status, 413);
  assert.equal(r.headers.connection, 'close');
  assert.equal(r.body.toString(), 'too large');
  await c.closedByServer();
  // Even when the whole body came with the head.
  const d = await RawClient.open(t, port);
  d.send(post('/early', '0123456789') + get('/smuggled'));
  const r2 = await d.response();
  assert.equal(r2.status, 413);
  assert.equal(r2.headers.connection, 'close');
  await d.closedByServer();
  assert.equal(d.buf.length, 0);
});

test('write() backpressure: false when the client does not read, onWritable once it does', async (t) => {
  const { port, seen } = await startServer(t);
  const socket = netConnect({ port, host: '127.0.0.1' });
  t.after(() => socket.destroy());
  await new Promise<void>((r) => socket.once('connect', r));
  socket.pause();
  socket.write(get('/big'));
  // The server writes until the socket buffers are full, then stays blocked while the client reads nothing.
  let last = -1;
  let stableSince = Date.now();
  await waitFor(() => {
    if (seen.bigWritten !== last || !seen.bigBlocked) {
      last = seen.bigWritten;
      stableSince = Date.now();
    }
    return Date.now() - stableSince >= 300;
  }, 15_000);
  assert.equal(seen.bigBlocked, true);
  assert.ok(seen.bigWritten < BIG, `the whole body (${seen.bigWritten} bytes) went out to a client that reads nothing`);
  const writableBefore = seen.writable.get('GET /big') ?? 0;
  assert.equal(writableBefore, seen.bigFalse - 1, 'every onWritable followed a write() that returned false');
  // Now read everything.
  let received = 0;
  let tail = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => {
    received += d.length;
    tail = Buffer.concat([tail, d]).subarray(-16);
  });
  socket.resume();
  await waitFor(() => received > 0 && tail.subarray(-4).toString() === 'tail' && seen.bigWritten >= BIG, 30_000);
  assert.ok((seen.writable.get('GET /big') ?? 0) > writableBefore, 'onWritable fired once the client read');
  const headLength = received - BIG - 4;
  assert.ok(headLength > 0 && headLength < 400, `the body is exactly ${BIG + 4} bytes (head ${headLength})`);
});

test('close(): idle connections close at once, busy ones right after their response; later writes are refused quietly', async (t) => {
  const seen: Seen = { started: [], clientGone: new Map(), writable: new Map(), bigWritten: 0, bigBlocked: false, bigFalse: 0 };
  let held: Http1Stream | null = null;
  const server = new Http1Server((stream) => {
    seen.started.push(stream.url);
    if (stream.url === '/hold') held = stream;
    else stream.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  const idle = await RawClient.open(t, port);
  idle.send(get('/i'));
  await idle.response();
  const busy = await RawClient.open(t, port);
  busy.send(get('/hold'));
  await waitFor(() => held !== null);
  const closed = new Promise<void>((r) => server.close(() => r()));
  await idle.closedByServer(2000);
  assert.equal(busy.closed || busy.ended, false, 'the busy connection stays until its response');
  const stream = held! as Http1Stream;
  stream.writeHead(200, { 'content-length': 4 });
  stream.end('done');
  const r = await busy.response();
  assert.equal(r.body.toString(), 'done');
  assert.equal(r.headers.connection, 'close', 'a response after close() says the connection closes');
  // The server is closing: the connection does not wait for another request.
  await busy.closedByServer(3000);
  await closed;
  assert.equal(stream.write('late'), false);
  stream.end('late');
});

test('Https1Server: TLS with ALPN http/1.1, keep-alive, chunked bodies', async (t) => {
  const ca = generateCA('http1-test-ca');
  const cert = issueServingCertificate(ca, ['localhost'], ['127.0.0.1']);
  const seen: Seen = { started: [], clientGone: new Map(), writable: new Map(), bigWritten: 0, bigBlocked: false, bigFalse: 0 };
  const server = new Https1Server({ cert: cert.cert, key: cert.key }, echoHandler(seen));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const port = (server.address() as AddressInfo).port;

  const tls = tlsConnect({ host: '127.0.0.1', port, ca: ca.cert, ALPNProtocols: ['h2', 'http/1.1'] });
  t.after(() => tls.destroy());
  await new Promise<void>((resolve, reject) => {
    tls.once('secureConnect', resolve);
    tls.once('error', reject);
  });
  assert.equal(tls.alpnProtocol, 'http/1.1');
  assert.equal(tls.authorized, true);
  const c = new RawClient(tls as unknown as Socket);
  c.send('POST /tls HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nsafe\r\n0\r\n\r\n');
  const r = await c.response();
  assert.deepEqual([json(r).url, json(r).body], ['/tls', 'safe']);
  c.send(get('/stream'));
  const s = await c.response();
  assert.equal(s.headers['transfer-encoding'], 'chunked');
  assert.equal(s.body.length, 10_000);

  // And an ordinary HTTPS client.
  const body = await new Promise<string>((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/via-https', method: 'POST', ca: ca.cert, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end('over tls');
  });
  assert.deepEqual([JSON.parse(body).url, JSON.parse(body).body], ['/via-https', 'over tls']);
});
