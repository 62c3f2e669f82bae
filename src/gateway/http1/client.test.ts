// The upstream connection pool against real servers: node:http ones for ordinary exchanges, raw `net` ones that
// write exactly the bytes a test needs (awkward splits, 1xx heads, close-delimited bodies, malformed responses,
// stalls). Covers framing, keep-alive reuse and idle handling, connect failures, the body idle timeout, abort,
// pause/resume, the connection limit and queue, close/destroy, and the request() helper.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { spawn } from 'node:child_process';
import {
  UpstreamPool,
  UpstreamError,
  BODY_TIMEOUT,
  CONNECT_TIMEOUT,
  POOL_CLOSED,
  PROTOCOL_ERROR,
  SOCKET_CLOSED,
  type UpstreamController,
  type UpstreamHandler,
  type UpstreamPoolOptions,
  type UpstreamRequest,
} from './client.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const OPTIONS: UpstreamPoolOptions = { connectTimeoutMs: 2000, keepAliveTimeoutMs: 30_000, connections: null };

function newPool(t: TestContext, port: number, options: Partial<UpstreamPoolOptions> = {}): UpstreamPool {
  const pool = new UpstreamPool(`http://127.0.0.1:${port}`, { ...OPTIONS, ...options });
  t.after(() => pool.destroy());
  return pool;
}

// ---- a handler that records everything -------------------------------------------------------------------

interface Outcome {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Callback names in order ("data" once per chunk). */
  events: string[];
  error: Error | null;
  /** The controller passed to onResponseError. */
  errorController: UpstreamController | null | undefined;
}

class Recorder implements UpstreamHandler {
  readonly out: Outcome = { status: 0, headers: {}, body: Buffer.alloc(0), events: [], error: null, errorController: undefined };
  controller: UpstreamController | null = null;
  chunks: Buffer[] = [];
  received = 0;
  readonly done: Promise<Outcome>;
  #resolve!: (o: Outcome) => void;
  /** Called on every data chunk (after recording it). */
  onData: ((c: UpstreamController, chunk: Buffer) => void) | null = null;

  constructor() {
    this.done = new Promise((r) => (this.#resolve = r));
  }

  #settled(): boolean {
    return this.out.events.includes('end') || this.out.events.includes('error');
  }

  onRequestStart(controller: UpstreamController): void {
    assert.ok(!this.#settled(), 'onRequestStart after the end');
    this.controller = controller;
    this.out.events.push('start');
  }

  onResponseStart(controller: UpstreamController, status: number, headers: IncomingHttpHeaders): void {
    assert.ok(!this.#settled(), 'onResponseStart after the end');
    assert.equal(controller, this.controller);
    this.out.events.push('response');
    this.out.status = status;
    this.out.headers = headers;
  }

  onResponseData(controller: UpstreamController, chunk: Buffer): void {
    assert.ok(!this.#settled(), 'onResponseData after the end');
    assert.equal(controller, this.controller);
    if (this.out.events.at(-1) !== 'data') this.out.events.push('data');
    this.chunks.push(Buffer.from(chunk));
    this.received += chunk.length;
    this.onData?.(controller, chunk);
  }

  onResponseEnd(controller: UpstreamController): void {
    assert.ok(!this.#settled(), 'onResponseEnd after the end');
    assert.equal(controller, this.controller);
    this.out.events.push('end');
    this.out.body = Buffer.concat(this.chunks);
    this.#resolve(this.out);
  }

  onResponseError(controller: UpstreamController | null, err: Error): void {
    assert.ok(!this.#settled(), `onResponseError after the end (${err.message})`);
    this.out.events.push('error');
    this.out.error = err;
    this.out.errorController = controller;
    this.out.body = Buffer.concat(this.chunks);
    this.#resolve(this.out);
  }
}

function send(pool: UpstreamPool, request: Partial<UpstreamRequest> = {}, rec = new Recorder()): Recorder {
  pool.dispatch({ method: 'GET', path: '/', headers: {}, body: null, ...request }, rec);
  return rec;
}

function code(err: Error | null): string | undefined {
  return (err as { code?: string } | null)?.code;
}

// ---- servers ---------------------------------------------------------------------------------------------

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A node:http server; `handle` answers; counts connections. */
async function httpServer(
  t: TestContext,
  handle: (req: Seen, res: import('node:http').ServerResponse) => void,
  setup: (s: HttpServer) => void = () => {},
): Promise<{ port: number; connections: () => number; requests: Seen[]; server: HttpServer }> {
  const requests: Seen[] = [];
  let connections = 0;
  const server = createHttpServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const seen = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(parts).toString() };
      requests.push(seen);
      handle(seen, res);
    });
  });
  server.on('connection', () => connections++);
  setup(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as AddressInfo).port, connections: () => connections, requests, server };
}

interface RawConn {
  socket: Socket;
  /** Request heads (and bodies by Content-Length) received so far, in order. */
  requests: string[];
  /** The client closed (FIN or reset). */
  clientClosed: boolean;
  closedAt: number;
}

/**
 * A raw server: `onRequest` is called with each request (head + Content-Length body) and writes whatever bytes it
 * likes to the socket.
 */
async function rawServer(
  t: TestContext,
  onRequest: (conn: RawConn, request: string, index: number) => void,
): Promise<{ port: number; conns: RawConn[]; server: NetServer }> {
  const conns: RawConn[] = [];
  let index = 0;
  const server = createNetServer((socket) => {
    const conn: RawConn = { socket, requests: [], clientClosed: false, closedAt: 0 };
    conns.push(conn);
    let buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.toString('latin1', 0, end);
        const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
        const total = end + 4 + (cl ? Number(cl[1]) : 0);
        if (buf.length < total) return;
        const request = buf.toString('latin1', 0, total);
        buf = buf.subarray(total);
        conn.requests.push(request);
        onRequest(conn, request, index++);
      }
    });
    const closed = (): void => {
      if (!conn.clientClosed) {
        conn.clientClosed = true;
        conn.closedAt = Date.now();
      }
    };
    socket.on('end', closed);
    socket.on('close', closed);
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    for (const c of conns) c.socket.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as AddressInfo).port, conns, server };
}

/** Write `pieces` one at a time with a pause between, so they arrive as separate reads. */
async function trickle(socket: Socket, pieces: Array<string | Buffer>, gapMs = 15): Promise<void> {
  for (const p of pieces) {
    if (socket.destroyed) return;
    socket.write(p);
    await sleep(gapMs);
  }
}

const OK = (body: string, extra = ''): string => `HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

// ---- framing -------------------------------------------------------------------------------------------------

test('a Content-Length exchange: request head and body as given, response status, headers and body', async (t) => {
  const s = await httpServer(t, (req, res) => {
    res.setHeader('set-cookie', ['a=1', 'b=2']);
    res.writeHead(201, { 'content-type': 'application/json', 'X-Reply': 'yes' });
    res.end(JSON.stringify({ got: req.body }));
  });
  const pool = newPool(t, s.port);
  const rec = send(pool, {
    method: 'POST',
    path: '/v1/completions?x=1',
    headers: { 'content-type': 'application/json', 'content-length': '13', 'x-multi': ['one', 'two'] },
    body: Buffer.from('{"prompt":"a"}'.slice(0, 13)),
  });
  const out = await rec.done;
  assert.deepEqual(out.events, ['start', 'response', 'data', 'end']);
  assert.equal(out.status, 201);
  assert.equal(out.headers['content-type'], 'application/json');
  assert.equal(out.headers['x-reply'], 'yes');
  assert.deepEqual(out.headers['set-cookie'], ['a=1', 'b=2']);
  assert.equal(out.body.toString(), JSON.stringify({ got: '{"prompt":"a"' }));
  const seen = s.requests[0]!;
  assert.equal(seen.method, 'POST');
  assert.equal(seen.url, '/v1/completions?x=1');
  assert.equal(seen.headers.host, `127.0.0.1:${s.port}`);
  assert.equal(seen.headers['x-multi'], 'one, two');
  assert.equal(seen.body, '{"prompt":"a"');
  assert.deepEqual(pool.stats, { running: 0, pending: 0, connected: 1, free: 1 });
});

test('request bodies larger than one write, and pre-serialised header lines', async (t) => {
  const s = await httpServer(t, (req, res) => res.end(`${req.body.length}:${req.headers['x-pre']}`));
  const pool = newPool(t, s.port);
  const big = Buffer.alloc(200_000, 0x62);
  const out = await send(pool, { method: 'PUT', headers: { 'content-length': String(big.length) }, body: big }).done;
  assert.equal(out.body.toString(), '200000:undefined');
  const out2 = await send(pool, { method: 'POST', headers: 'x-pre: lines\r\ncontent-length: 2\r\n', body: Buffer.from('hi') }).done;
  assert.equal(out2.body.toString(), '2:lines');
  assert.equal(s.connections(), 1);
});

test('chunked responses split at awkward places decode whole, and the connection is reused', async (t) => {
  const wire =
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n' +
    '5;ext=1\r\nhello\r\n' +
    '1\r\n \r\n' +
    'a\r\n0123456789\r\n' +
    '0\r\nX-Trailer: t\r\n\r\n';
  const cuts = [7, 10, 17, 30, 74, 77, 78, 83, 84, 85, 86, 91, 96, 97, 108, 112, 115, 124, wire.length - 1];
  const pieces: string[] = [];
  let prev = 0;
  for (const c of cuts) {
    pieces.push(wire.slice(prev, c));
    prev = c;
  }
  pieces.push(wire.slice(prev));
  const s = await rawServer(t, (conn, req) => {
    if (req.startsWith('GET /split')) void trickle(conn.socket, pieces, 3);
    else conn.socket.write(OK('again'));
  });
  const pool = newPool(t, s.port);
  const out = await send(pool, { path: '/split' }).done;
  assert.equal(out.error, null);
  assert.equal(out.status, 200);
  assert.equal(out.headers['content-type'], 'text/event-stream');
  assert.equal(out.body.toString(), 'hello 0123456789');
  assert.equal(out.headers['x-trailer'], undefined, 'trailers are not headers');
  const again = await send(pool, { path: '/again' }).done;
  assert.equal(again.body.toString(), 'again');
  assert.equal(s.conns.length, 1, 'one connection for both');
});

test('a chunked response and the next response head in one packet are both read', async (t) => {
  const s = await rawServer(t, (conn, req) => {
    if (req.startsWith('GET /one')) conn.socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
    else conn.socket.write(OK('two'));
  });
  const pool = newPool(t, s.port);
  assert.equal((await send(pool, { path: '/one' }).done).body.toString(), 'abc');
  assert.equal((await send(pool, { path: '/two' }).done).body.toString(), 'two');
  assert.equal(s.conns.length, 1);
});

test('a close-delimited response ends with the connection, which is not reused', async (t) => {
  const s = await rawServer(t, (conn) => {
    void (async () => {
      await trickle(conn.socket, ['HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n', 'until ', 'close']);
      conn.socket.end();
    })();
  });
  const pool = newPool(t, s.port);
  const out = await send(pool).done;
  assert.deepEqual(out.events, ['start', 'response', 'data', 'end']);
  assert.equal(out.body.toString(), 'until close');
  await waitFor(() => pool.stats.connected === 0, 2000, 'the connection to be dropped');
  const again = await send(pool).done;
  assert.equal(again.body.toString(), 'until close');
  assert.equal(s.conns.length, 2);
});

test('an HTTP/1.0 response without keep-alive is not reused; `connection: close` is honoured', async (t) => {
  const s = await rawServer(t, (conn, req) => {
    if (req.startsWith('GET /old')) conn.socket.write('HTTP/1.0 200 OK\r\ncontent-length: 3\r\n\r\nold');
    else conn.socket.write(OK('bye', 'connection: close\r\n'));
  });
  const pool = newPool(t, s.port);
  assert.equal((await send(pool, { path: '/old' }).done).body.toString(), 'old');
  assert.equal(pool.stats.connected, 0);
  assert.equal((await send(pool, { path: '/close' }).done).body.toString(), 'bye');
  assert.equal(pool.stats.connected, 0);
  await waitFor(() => s.conns.every((c) => c.clientClosed), 2000, 'the client to close both');
  assert.equal(s.conns.length, 2);
});

test('1xx heads (100 Continue, 103 Early Hints) are skipped: one onResponseStart with the final status', async (t) => {
  const s = await rawServer(t, (conn) => {
    void trickle(conn.socket, ['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 202 Accepted\r\n', 'content-length: 4\r\n\r\ndone']);
  });
  const pool = newPool(t, s.port);
  const out = await send(pool).done;
  assert.deepEqual(out.events, ['start', 'response', 'data', 'end']);
  assert.equal(out.status, 202);
  assert.equal(out.headers.link, undefined);
  assert.equal(out.body.toString(), 'done');
});

test('bodyless responses: HEAD, 204, 304 and content-length 0 end at the head, and the connection is reused', async (t) => {
  const s = await rawServer(t, (conn, req) => {
    if (req.startsWith('HEAD')) conn.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n');
    else if (req.startsWith('GET /204')) conn.socket.write('HTTP/1.1 204 No Content\r\n\r\n');
    else if (req.startsWith('GET /304')) conn.socket.write('HTTP/1.1 304 Not Modified\r\ncontent-length: 50\r\n\r\n');
    else conn.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
  });
  const pool = newPool(t, s.port);
  for (const [method, path, status] of [['HEAD', '/', 200], ['GET', '/204', 204], ['GET', '/304', 304], ['GET', '/zero', 200]] as const) {
    const out = await send(pool, { method, path }).done;
    assert.deepEqual(out.events, ['start', 'response', 'end'], `${method} ${path}`);
    assert.equal(out.status, status);
  }
  assert.equal(s.conns.length, 1);
});

test('bytes beyond the announced length: the response is complete, the connection is not reused', async (t) => {
  const s = await rawServer(t, (conn) => conn.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA'));
  const pool = newPool(t, s.port);
  const out = await send(pool).done;
  assert.equal(out.body.toString(), 'ok');
  assert.equal(out.error, null);
  await waitFor(() => s.conns[0]!.clientClosed, 2000, 'the client to close');
  assert.equal(pool.stats.connected, 0);
});

// ---- keep-alive ------------------------------------------------------------------------------------------------

test('keep-alive: sequential requests share one connection, concurrent ones get one each', async (t) => {
  const s = await httpServer(t, (req, res) => setTimeout(() => res.end(req.url), req.url === '/slow' ? 50 : 0));
  const pool = newPool(t, s.port);
  for (let i = 0; i < 5; i++) assert.equal((await send(pool, { path: `/seq${i}` }).done).body.toString(), `/seq${i}`);
  assert.equal(s.connections(), 1);
  const outs = await Promise.all([1, 2, 3, 4].map(() => send(pool, { path: '/slow' }).done));
  for (const o of outs) assert.equal(o.body.toString(), '/slow');
  assert.equal(s.connections(), 4);
  assert.deepEqual(pool.stats, { running: 0, pending: 0, connected: 4, free: 4 });
  for (let i = 0; i < 8; i++) await send(pool).done;
  assert.equal(s.connections(), 4, 'idle connections are reused');
});

test('a server closing idle connections is noticed: the next request goes out on a new one', async (t) => {
  const s = await rawServer(t, (conn) => {
    conn.socket.write(OK('hi'));
    setTimeout(() => conn.socket.end(), 100);
  });
  const pool = newPool(t, s.port);
  assert.equal((await send(pool).done).body.toString(), 'hi');
  await waitFor(() => pool.stats.connected === 0, 2000, 'the pool to drop the closed connection');
  const out = await send(pool).done;
  assert.equal(out.error, null);
  assert.equal(out.body.toString(), 'hi');
  assert.equal(s.conns.length, 2);
});

test('a node:http server announcing a short keep-alive: every request succeeds, on a fresh connection', async (t) => {
  const s = await httpServer(t, (_req, res) => res.end('ok'), (server) => {
    server.keepAliveTimeout = 200; // announced as `keep-alive: timeout=0`
  });
  const pool = newPool(t, s.port);
  for (let i = 0; i < 3; i++) {
    const out = await send(pool).done;
    assert.equal(out.error, null, `request ${i}: ${out.error?.message}`);
    assert.equal(out.headers['keep-alive'], 'timeout=0');
    assert.equal(out.body.toString(), 'ok');
    await sleep(300);
  }
  assert.equal(s.connections(), 3, 'a connection the server keeps for under 2 s is not reused');
});



// ---- failures ----------------------------------------------------------------------------------------------

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('connection refused: ECONNREFUSED, the request never started, the pool is empty again', async (t) => {
  const pool = newPool(t, await freePort());
  const out = await send(pool).done;
  // onRequestStart was never called: the handler knows the request cannot have reached the engine.
  assert.deepEqual(out.events, ['error']);
  assert.equal(out.errorController, null);
  assert.equal(code(out.error), 'ECONNREFUSED');
  assert.deepEqual(pool.stats, { running: 0, pending: 0, connected: 0, free: 0 });
});

test('connect timeout: a server that never accepts gives CONNECT_TIMEOUT', async (t) => {
  // A listener (in a child process whose event loop is blocked) with a backlog of 1: once its accept queue holds
  // two connections the kernel drops further SYNs, so the next connect neither succeeds nor fails.
  const child = spawn(
    process.execPath,
    ['-e', "const s=require('net').createServer().listen(0,'127.0.0.1',1,()=>{console.log(s.address().port);Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0,20000)})"],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  t.after(() => child.kill('SIGKILL'));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
    child.once('error', reject);
  });
  const fillers: Socket[] = [];
  t.after(() => fillers.forEach((f) => f.destroy()));
  for (let i = 0; i < 3; i++) {
    const f = new (await import('node:net')).Socket();
    f.on('error', () => {});
    f.connect(port, '127.0.0.1');
    fillers.push(f);
  }
  await sleep(100);
  const pool = newPool(t, port, { connectTimeoutMs: 300 });
  const t0 = Date.now();
  const out = await send(pool, { bodyTimeoutMs: 5000 }).done;
  const took = Date.now() - t0;
  assert.equal(code(out.error), CONNECT_TIMEOUT, out.error?.message);
  assert.ok(!out.events.includes('start'), 'never started');
  assert.ok(took >= 250 && took < 3000, `failed after ${took} ms`);
  assert.deepEqual(pool.stats, { running: 0, pending: 0, connected: 0, free: 0 });
});

test('the engine closing mid-response fails the request (SOCKET_CLOSED or a socket error)', async (t) => {
  const s = await rawServer(t, (conn) => {
    conn.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial');
    setTimeout(() => conn.socket.end(), 30);
  });
  const pool = newPool(t, s.port);
  const out = await send(pool).done;
  assert.deepEqual(out.events, ['start', 'response', 'data', 'error']);
  assert.equal(code(out.error), SOCKET_CLOSED);
  assert.match(out.error!.message, /mid-response/);
  assert.equal(out.body.toString(), 'partial');
  assert.equal(pool.stats.connected, 0);
  // Closed before any response byte.
  const s2 = await rawServer(t, (conn) => conn.socket.destroy());
  const pool2 = newPool(t, s2.port);
  const out2 = await send(pool2).done;
  assert.deepEqual(out2.events, ['start', 'error']);
  assert.ok([SOCKET_CLOSED, 'ECONNRESET'].includes(code(out2.error)!), String(out2.error));
});

test('malformed responses fail with PROTOCOL_ERROR and close the connection', async (t) => {
  const bad = [
    'HTTP/1.1 2x0 OK\r\n\r\n',
    'HTTP/1.1 200 OK\nContent-Length: 0\n\n\r\n\r\n',
    'HTTP/2.0 200 OK\r\n\r\n',
    'SSH-2.0-OpenSSH\r\n\r\n',
    'HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n',
    'HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab',
    'HTTP/1.1 200 OK\r\ncontent-length: nope\r\n\r\n',
    'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n',
    'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabcX',
    `HTTP/1.1 200 OK\r\nx-huge: ${'h'.repeat(70_000)}`,
  ];
  for (const wire of bad) {
    const s = await rawServer(t, (conn) => conn.socket.write(wire));
    const pool = newPool(t, s.port);
    const out = await send(pool).done;
    assert.equal(code(out.error), PROTOCOL_ERROR, `${JSON.stringify(wire.slice(0, 60))}: ${out.error?.message}`);
    assert.ok(out.error instanceof UpstreamError);
    assert.match(out.error.message, /^malformed response: /);
    await waitFor(() => s.conns[0]!.clientClosed, 2000, 'the client to close');
    assert.deepEqual(pool.stats, { running: 0, pending: 0, connected: 0, free: 0 });
  }
});

test('bytes arriving on an idle connection close it; the next request uses a new one', async (t) => {
  const s = await rawServer(t, (conn) => {
    conn.socket.write(OK('a'));
    setTimeout(() => conn.socket.write('HTTP/1.1 200 OK\r\n\r\nunsolicited'), 50);
  });
  const pool = newPool(t, s.port);
  await send(pool).done;
  await waitFor(() => s.conns[0]!.clientClosed, 2000, 'the out-of-step connection to close');
  assert.equal(pool.stats.connected, 0);
  assert.equal((await send(pool).done).body.toString(), 'a');
});

test('timers (concurrently: each waits seconds)', { concurrency: true }, async (t) => {
  const bodyTimeout = t.test('body idle timeout: BODY_TIMEOUT after bodyTimeoutMs without a byte, not while bytes keep coming', async (t) => {
    const s = await rawServer(t, (conn) => {
      // A byte every 250 ms for 1.75 s (longer than the limit in total), then silence.
      conn.socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n');
      let n = 0;
      const drip = setInterval(() => {
        if (conn.socket.destroyed || n === 7) return clearInterval(drip);
        conn.socket.write(`1\r\n${n++}\r\n`);
      }, 250);
    });
    const pool = newPool(t, s.port);
    const rec = send(pool, { path: '/drip', bodyTimeoutMs: 1500 });
    const out = await rec.done;
    assert.equal(code(out.error), BODY_TIMEOUT, out.error?.message);
    assert.equal(out.body.toString(), '0123456', 'all the drip arrived before the timeout');
    assert.equal(out.errorController, rec.controller);
    await waitFor(() => s.conns[0]!.clientClosed, 2000, 'the timed-out connection to close');
    assert.deepEqual(pool.stats, { running: 0, pending: 0, connected: 0, free: 0 });
  });

  const silent = t.test('body idle timeout with no response byte at all', async (t) => {
    const s = await rawServer(t, () => {});
    const pool = newPool(t, s.port);
    const t0 = Date.now();
    const out = await send(pool, { bodyTimeoutMs: 1500 }).done;
    const took = Date.now() - t0;
    assert.equal(code(out.error), BODY_TIMEOUT);
    assert.deepEqual(out.events, ['start', 'error']);
    assert.ok(took >= 500 && took < 4000, `timed out after ${took} ms`);
    assert.deepEqual(pool.stats, { running: 0, pending: 0, connected: 0, free: 0 });
  });

  const pause = t.test('pause stops delivery (and the body timeout); resume delivers the rest', async (t) => {
    const size = 8 << 20;
    const s = await rawServer(t, (conn) => {
      conn.socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${size}\r\n\r\n`);
      conn.socket.write(Buffer.alloc(size, 0x7a));
    });
    const pool = newPool(t, s.port);
    const rec = new Recorder();
    rec.onData = (c) => {
      if (rec.chunks.length === 1) c.pause();
    };
    send(pool, { bodyTimeoutMs: 1000 }, rec);
    await waitFor(() => rec.received > 0);
    assert.equal(rec.controller!.paused, true);
    await sleep(100);
    const atPause = rec.received;
    await sleep(2100); // longer than the body timeout: a paused response is not timed out
    assert.equal(rec.received, atPause, 'nothing delivered while paused');
    assert.ok(atPause < size);
    assert.ok(!rec.out.events.includes('error'), String(rec.out.error));
    rec.controller!.resume();
    const out = await rec.done;
    assert.equal(out.error, null);
    assert.equal(out.body.length, size);
    assert.deepEqual(pool.stats, { running: 0, pending: 0, connected: 1, free: 1 });
  });

  const keepAliveHint = t.test("keep-alive: timeout=N: the pool closes idle sockets before the server's N seconds (not reused when N is tiny)", async (t) => {
    const s = await rawServer(t, (conn, req) => {
      const n = /GET \/(\d)/.exec(req)![1]!;
      conn.socket.write(OK('k', `keep-alive: timeout=${n}\r\n`));
    });
    const pool = newPool(t, s.port);
    // timeout=1: too short to reuse safely; the connection closes right after the response.
    const t1 = Date.now();
    await send(pool, { path: '/1' }).done;
    await waitFor(() => s.conns[0]!.clientClosed, 3000, 'the client to close its timeout=1 connection');
    assert.ok(s.conns[0]!.closedAt - t1 < 900, `closed ${s.conns[0]!.closedAt - t1} ms after the request: later than the server's 1 s`);
    // timeout=3: reused meanwhile, closed before 3 s of idleness.
    await send(pool, { path: '/3' }).done;
    await send(pool, { path: '/3' }).done;
    assert.equal(s.conns.length, 2);
    const idleFrom = Date.now();
    await waitFor(() => s.conns[1]!.clientClosed, 4000, 'the client to close its timeout=3 connection');
    const idle = s.conns[1]!.closedAt - idleFrom;
    assert.ok(idle >= 500 && idle < 2600, `closed after ${idle} ms idle (server: 3000)`);
    assert.equal(pool.stats.connected, 0);
  });

  const poolKeepAlive = t.test('the pool keep-alive time closes idle connections', async (t) => {
    const s = await rawServer(t, (conn) => conn.socket.write(OK('x')));
    const pool = newPool(t, s.port, { keepAliveTimeoutMs: 1000 });
    await send(pool).done;
    const t0 = Date.now();
    await waitFor(() => s.conns[0]!.clientClosed, 4000, 'the idle connection to close');
    assert.ok(Date.now() - t0 >= 900);
    assert.deepEqual(pool.stats, { running: 0, pending: 0, connected: 0, free: 0 });
  });

  await Promise.all([bodyTimeout, silent, pause, keepAliveHint, poolKeepAlive]);
});

test('abort mid-body: one onResponseError with the reason, nothing after, the connection closes', async (t) => {
  const s = await rawServer(t, (conn) => {
    conn.socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n');
    const more = setInterval(() => (conn.socket.destroyed ? clearInterval(more) : conn.socket.write('4\r\nmore\r\n')), 10);
  });
  const pool = newPool(t, s.port);
  const rec = new Recorder();
  const reason = new Error('client went away');
  rec.onData = (c) => c.abort(reason);
  send(pool, {}, rec);
  const out = await rec.done;
  assert.deepEqual(out.events, ['start', 'response', 'data', 'error']);
  assert.equal(out.error, reason);
  assert.equal(out.errorController, rec.controller);
  assert.equal(rec.controller!.aborted, true);
  rec.controller!.abort(new Error('again')); // idempotent
  await waitFor(() => s.conns[0]!.clientClosed, 2000, 'the aborted connection to close');
  await sleep(50);
  assert.equal(out.events.length, 4, 'nothing after the abort');
  assert.deepEqual(pool.stats, { running: 0, pending: 0, connected: 0, free: 0 });
});

test('abort before the response: while connecting, and from onRequestStart (nothing is sent)', async (t) => {
  const s = await rawServer(t, (conn) => conn.socket.write(OK('x')));
  const pool = newPool(t, s.port);
  // Through the controller dispatch returns, before the connection is even up.
  const early = new Recorder();
  const controller = pool.dispatch({ method: 'GET', path: '/', headers: {}, body: null }, early);
  const why = new Error('not needed any more');
  controller.abort(why);
  const earlyOut = await early.done;
  assert.deepEqual(earlyOut.events, ['error']);
  assert.equal(earlyOut.error, why);
  assert.deepEqual(pool.stats, { running: 0, pending: 0, connected: 0, free: 0 });
  const rec = new Recorder();
  const original = rec.onRequestStart.bind(rec);
  rec.onRequestStart = (c) => {
    original(c);
    c.abort(new Error('changed my mind'));
  };
  send(pool, {}, rec);
  const out = await rec.done;
  assert.deepEqual(out.events, ['start', 'error']);
  assert.equal(out.error!.message, 'changed my mind');
  await sleep(50);
  assert.equal(s.conns.reduce((n, c) => n + c.requests.length, 0), 0, 'no request reached the server');
  assert.deepEqual(pool.stats, { running: 0, pending: 0, connected: 0, free: 0 });
});

// ---- the connection limit and queue ----------------------------------------------------------------------------

test('the connection limit queues requests (stats.pending), which run as connections free up', async (t) => {
  const held: Array<() => void> = [];
  const s = await rawServer(t, (conn, req) => {
    const path = /GET (\S+)/.exec(req)![1]!;
    held.push(() => conn.socket.write(OK(path)));
  });
  const pool = newPool(t, s.port, { connections: 2 });
  const recs = [0, 1, 2, 3, 4].map((i) => send(pool, { path: `/q${i}` }));
  await waitFor(() => held.length === 2, 2000, 'two requests at the server');
  assert.deepEqual(pool.stats, { running: 2, pending: 3, connected: 2, free: 0 });
  // A queued request aborted (through the controller dispatch returned) leaves the queue, and its handler hears
  // of it with no controller.
  const extra = new Recorder();
  const queued = pool.dispatch({ method: 'GET', path: '/never', headers: {}, body: null }, extra);
  assert.equal(pool.stats.pending, 4);
  queued.abort(new Error('gave up waiting'));
  const extraOut = await extra.done;
  assert.deepEqual(extraOut.events, ['error']);
  assert.equal(extraOut.errorController, null);
  assert.equal(pool.stats.pending, 3);
  held.shift()!();
  assert.equal((await recs[0]!.done).body.toString(), '/q0');
  await waitFor(() => held.length === 2);
  assert.deepEqual(pool.stats, { running: 2, pending: 2, connected: 2, free: 0 });
  while (held.length > 0 || recs.some((r) => !r.out.events.includes('end'))) {
    await waitFor(() => held.length > 0 || recs.every((r) => r.out.events.includes('end')));
    held.shift()?.();
    await sleep(5);
  }
  const bodies = (await Promise.all(recs.map((r) => r.done))).map((o) => o.body.toString());
  assert.deepEqual(bodies, ['/q0', '/q1', '/q2', '/q3', '/q4']);
  assert.equal(s.conns.length, 2, 'never more than two connections');
  assert.ok(!s.conns.some((c) => c.requests.some((r) => r.startsWith('GET /never'))), 'the aborted request was not sent');
  assert.deepEqual(pool.stats, { running: 0, pending: 0, connected: 2, free: 2 });
});

test('request(): a queued request aborted by its signal is dropped and never sent', async (t) => {
  const held: Array<() => void> = [];
  const s = await rawServer(t, (conn, req) => {
    const path = /GET (\S+)/.exec(req)![1]!;
    held.push(() => conn.socket.write(OK(path)));
  });
  const pool = newPool(t, s.port, { connections: 1 });
  const first = pool.request({ method: 'GET', path: '/first' });
  await waitFor(() => held.length === 1);
  const ac = new AbortController();
  const second = pool.request({ method: 'GET', path: '/second', signal: ac.signal });
  assert.equal(pool.stats.pending, 1);
  ac.abort();
  await assert.rejects(second, (err: Error) => code(err) === 'ABORT_ERR');
  assert.equal(pool.stats.pending, 0, 'the aborted request left the queue');
  held.shift()!();
  assert.equal((await first).body.toString(), '/first');
  const third = pool.request({ method: 'GET', path: '/third' });
  await waitFor(() => held.length === 1);
  held.shift()!();
  assert.equal((await third).body.toString(), '/third');
  const paths = s.conns.flatMap((c) => c.requests.map((r) => /GET (\S+)/.exec(r)![1]));
  assert.deepEqual(paths, ['/first', '/third'], 'the aborted request never reached the server');
});

test('request(): body and content-length, timeout, maxBytes, an already aborted signal', async (t) => {
  const s = await httpServer(t, (req, res) => {
    if (req.url === '/never') return;
    if (req.url === '/big') return void res.end(Buffer.alloc(5000));
    res.end(`${req.headers['content-length']}:${req.body}`);
  });
  const pool = newPool(t, s.port);
  const r = await pool.request({ method: 'POST', path: '/echo', headers: { 'x-a': 'b' }, body: Buffer.from('payload') });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), '7:payload');
  const t0 = Date.now();
  await assert.rejects(pool.request({ method: 'GET', path: '/never', timeoutMs: 300 }), (err: Error) => code(err) === BODY_TIMEOUT);
  assert.ok(Date.now() - t0 < 2000);
  await assert.rejects(pool.request({ method: 'GET', path: '/big', maxBytes: 1000 }), (err: Error) => code(err) === PROTOCOL_ERROR);
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(pool.request({ method: 'GET', path: '/x', signal: ac.signal }), (err: Error) => code(err) === 'ABORT_ERR');
  await waitFor(() => pool.stats.running === 0);
});

// ---- close and destroy ---------------------------------------------------------------------------------------

test('close(): waits for running requests, refuses new and queued ones, closes idle connections', async (t) => {
  const held: Array<() => void> = [];
  const s = await rawServer(t, (conn, req) => {
    const path = /GET (\S+)/.exec(req)![1]!;
    if (path === '/quick') conn.socket.write(OK('quick'));
    else held.push(() => conn.socket.write(OK(path)));
  });
  const pool = newPool(t, s.port, { connections: 2 });
  await send(pool, { path: '/quick' }).done; // leaves an idle connection
  const running = send(pool, { path: '/running' });
  const running2 = send(pool, { path: '/running2' });
  const queued = send(pool, { path: '/queued' });
  await waitFor(() => held.length === 2);
  assert.equal(pool.stats.pending, 1);
  let closed = false;
  const closing = pool.close().then(() => (closed = true));
  const queuedOut = await queued.done;
  assert.equal(code(queuedOut.error), POOL_CLOSED);
  assert.equal(queuedOut.errorController, null);
  const late = await send(pool, { path: '/late' }).done;
  assert.deepEqual(late.events, ['error']);
  assert.equal(code(late.error), POOL_CLOSED);
  await sleep(50);
  assert.equal(closed, false, 'close() waits for the running requests');
  held.shift()!();
  assert.equal((await running.done).body.toString(), '/running');
  await sleep(20);
  assert.equal(closed, false);
  held.shift()!();
  assert.equal((await running2.done).body.toString(), '/running2');
  await closing;
  assert.deepEqual(pool.stats, { running: 0, pending: 0, connected: 0, free: 0 });
  await waitFor(() => s.conns.every((c) => c.clientClosed), 2000, 'every connection to close');
});

test('destroy(): running requests fail at once and every connection closes', async (t) => {
  const s = await rawServer(t, (conn) => conn.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf'));
  const pool = newPool(t, s.port, { connections: 1 });
  const running = send(pool);
  const queued = send(pool);
  await waitFor(() => running.received > 0);
  await pool.destroy();
  const r = await running.done;
  assert.equal(code(r.error), POOL_CLOSED);
  assert.deepEqual(r.events, ['start', 'response', 'data', 'error']);
  const q = await queued.done;
  assert.equal(code(q.error), POOL_CLOSED);
  assert.deepEqual(q.events, ['error']);
  assert.deepEqual(pool.stats, { running: 0, pending: 0, connected: 0, free: 0 });
  await waitFor(() => s.conns[0]!.clientClosed, 2000, 'the connection to close');
});
