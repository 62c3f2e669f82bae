// The gateway's HTTP/1.1 client for engine pods: a keep-alive connection pool per origin, one request at a time
// per connection (no pipelining: a slow response never holds up another), responses parsed incrementally and
// handed to a handler as they arrive — head, then body bytes (Content-Length, chunked or until close) — with
// pause/resume for backpressure and abort.
//
// The handler interface is the shape of undici's dispatch handlers (onRequestStart … onResponseError), so the
// proxy code reads the same; see README.md in this directory for why the gateway has its own client.
//
// Time limits: connect (per pool), and an idle limit while a request is running (no response byte for
// `bodyTimeoutMs`), checked by one coarse sweep per pool each second rather than a timer per request. Idle
// keep-alive connections close after the pool's keep-alive time or a little before the server's announced
// `keep-alive: timeout`, whichever is shorter, so a request is never written to a connection the server is
// closing.
import { connect, type Socket } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import { parseResponseHead, responseFraming, HeadError, type Framing } from './head.ts';
import { ChunkedDecoder, type ChunkSink } from './chunked.ts';
import { deadline, type Deadline } from '../http/deadlines.ts';

/** Error codes of failures the client itself detects (socket errors keep Node's codes, e.g. ECONNREFUSED). */
export const CONNECT_TIMEOUT = 'MI_CONNECT_TIMEOUT';
export const BODY_TIMEOUT = 'MI_BODY_TIMEOUT';
export const PROTOCOL_ERROR = 'MI_PROTOCOL_ERROR';
export const SOCKET_CLOSED = 'MI_SOCKET_CLOSED';
export const POOL_CLOSED = 'MI_POOL_CLOSED';

export class UpstreamError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'UpstreamError';
    this.code = code;
  }
}

export interface UpstreamRequest {
  method: string;
  path: string;
  /** Header fields, or already serialised lines ("name: value\r\n" each); `host` is added by the pool. */
  headers: Record<string, string | string[]> | string;
  body: Buffer | null;
  /** Longest wait for the next response byte while the request runs, ms; 0 = none. */
  bodyTimeoutMs?: number;
}

export interface UpstreamController {
  readonly aborted: boolean;
  readonly paused: boolean;
  abort(reason: Error): void;
  pause(): void;
  resume(): void;
}

/** Callbacks of one request; after onResponseEnd or onResponseError nothing more is called. */
export interface UpstreamHandler {
  /** The request is being written to a connection (it may reach the engine from here on). */
  onRequestStart(controller: UpstreamController): void;
  onResponseStart(controller: UpstreamController, status: number, headers: IncomingHttpHeaders): void;
  onResponseData(controller: UpstreamController, chunk: Buffer): void;
  onResponseEnd(controller: UpstreamController): void;
  /**
   * Connect failure, reset, timeout, protocol error, or abort(reason). `controller` is null when onRequestStart was
   * never called (queued, connecting, refused): the request cannot have reached the engine.
   */
  onResponseError(controller: UpstreamController | null, err: Error): void;
}

export interface UpstreamPoolOptions {
  connectTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** Max connections; null = one per concurrent request. */
  connections: number | null;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const MAX_RESPONSE_HEAD = 64 * 1024;
const MAX_RESPONSE_FIELDS = 500;
const SWEEP_MS = 1000;
const COALESCE_BYTES = 16 * 1024;
/** Every upstream socket reads into this buffer; the callback copies what arrived before anything else runs. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

// ---- one request -----------------------------------------------------------------------------------------

class UpstreamCall implements UpstreamController {
  readonly request: UpstreamRequest;
  readonly handler: UpstreamHandler;
  readonly pool: UpstreamPool;
  conn: UpstreamConnection | null = null;
  aborted = false;
  paused = false;
  /** onRequestStart was called: from here on the request may have reached the engine. */
  started = false;
  /** onResponseEnd or onResponseError was called. */
  settled = false;

  constructor(pool: UpstreamPool, request: UpstreamRequest, handler: UpstreamHandler) {
    this.pool = pool;
    this.request = request;
    this.handler = handler;
  }

  abort(reason: Error): void {
    if (this.settled || this.aborted) return;
    this.aborted = true;
    const conn = this.conn;
    if (conn !== null) conn.detach(this, false);
    else this.pool.unqueue(this);
    this.settled = true;
    this.handler.onResponseError(this.started ? this : null, reason);
  }

  pause(): void {
    if (this.paused || this.settled) return;
    this.paused = true;
    this.conn?.socket.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.settled) this.conn?.socket.resume();
  }

  fail(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.handler.onResponseError(this.started ? this : null, err);
  }
}

// ---- one connection ----------------------------------------------------------------------------------------

const ConnState = { Connecting: 0, Idle: 1, Head: 2, Body: 3, Closed: 4 } as const;
type ConnState = (typeof ConnState)[keyof typeof ConnState];

function onConnectTimeout(conn: UpstreamConnection): void {
  conn.connectDeadline = null;
  conn.fail(new UpstreamError(CONNECT_TIMEOUT, `connect timeout after ${conn.pool.options.connectTimeoutMs} ms`));
}

class UpstreamConnection implements ChunkSink {
  readonly pool: UpstreamPool;
  readonly socket: Socket;
  state: ConnState = ConnState.Connecting;
  call: UpstreamCall | null = null;
  connectDeadline: Deadline<UpstreamConnection> | null;
  /** Bumped on every byte received; the sweep compares it to find stalled responses and idle sockets. */
  activity = 0;
  seenActivity = -1;
  quietSweeps = 0;
  /** Idle lifetime (ms): the pool's keep-alive time or less if the server announced a shorter one. */
  idleLimitMs: number;
  #buf: Buffer | null = null;
  #framing: Framing | null = null;
  #remaining = 0;
  #decoder: ChunkedDecoder | null = null;
  #reusable = true;
  #error: Error | null = null;

  constructor(pool: UpstreamPool) {
    this.pool = pool;
    this.idleLimitMs = pool.options.keepAliveTimeoutMs;
    // Reads land in one shared buffer and are copied out (onread): no readable-stream machinery per read.
    const socket = connect({
      host: pool.host,
      port: pool.port,
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => this.#onRead(n, buf) },
    });
    this.socket = socket;
    this.connectDeadline = deadline<UpstreamConnection>(pool.options.connectTimeoutMs, onConnectTimeout, this);
    socket.on('connect', () => this.#onConnect());
    socket.on('end', () => this.#onEnd());
    socket.on('error', (err: Error) => {
      this.#error = err;
    });
    socket.on('close', () => this.#onClose());
  }

  start(call: UpstreamCall): void {
    this.call = call;
    call.conn = this;
    this.quietSweeps = 0;
    if (this.state === ConnState.Idle) this.#send(call);
    // Connecting: sent on connect.
  }

  #onConnect(): void {
    if (this.connectDeadline !== null) {
      this.connectDeadline.cancel();
      this.connectDeadline = null;
    }
    this.state = ConnState.Idle;
    const call = this.call;
    if (call !== null) this.#send(call);
    else this.pool.release(this);
  }

  #send(call: UpstreamCall): void {
    this.state = ConnState.Head;
    this.#framing = null;
    call.started = true;
    call.handler.onRequestStart(call);
    if (call.aborted || this.call !== call) return;
    const req = call.request;
    let head = `${req.method} ${req.path} HTTP/1.1\r\nhost: ${this.pool.hostHeader}\r\n`;
    const headers = req.headers;
    if (typeof headers === 'string') {
      head += headers;
    } else {
      for (const name in headers) {
        const v = headers[name]!;
        if (typeof v === 'string') head += `${name}: ${v}\r\n`;
        else for (const item of v) head += `${name}: ${item}\r\n`;
      }
    }
    head += '\r\n';
    const body = req.body;
    const socket = this.socket;
    if (body === null || body.length === 0) {
      socket.write(head, 'latin1');
    } else if (head.length + body.length <= COALESCE_BYTES) {
      const out = Buffer.allocUnsafe(head.length + body.length);
      const at = out.write(head, 0, 'latin1');
      body.copy(out, at);
      socket.write(out);
    } else {
      socket.cork();
      socket.write(head, 'latin1');
      socket.write(body);
      socket.uncork();
    }
  }

  #onRead(n: number, buf: Uint8Array): boolean {
    this.#onData(Buffer.from(buf.subarray(0, n)));
    return true;
  }

  #onData(d: Buffer): void {
    this.activity++;
    const call = this.call;
    if (call === null || this.state === ConnState.Closed) {
      // Bytes nobody asked for: the connection is out of step.
      this.#reusable = false;
      this.socket.destroy();
      return;
    }
    const buf = this.#buf;
    this.#buf = buf === null ? d : Buffer.concat([buf, d]);
    try {
      this.#parse(call);
    } catch (err) {
      const e = err instanceof HeadError ? new UpstreamError(PROTOCOL_ERROR, `malformed response: ${err.message}`) : (err as Error);
      this.fail(e);
    }
  }

  #parse(call: UpstreamCall): void {
    while (this.call === call && this.#buf !== null) {
      const buf: Buffer = this.#buf;
      if (this.state === ConnState.Head) {
        const end = buf.indexOf(CRLFCRLF);
        if (end < 0) {
          if (buf.length > MAX_RESPONSE_HEAD) throw new HeadError(400, `response head larger than ${MAX_RESPONSE_HEAD} bytes`);
          return;
        }
        const head = parseResponseHead(buf.toString('latin1', 0, end), MAX_RESPONSE_FIELDS);
        const rest = end + 4;
        this.#buf = rest === buf.length ? null : buf.subarray(rest);
        if (head.status < 200) continue; // 100 Continue, 103 Early Hints
        if (head.close) this.#reusable = false;
        if (head.keepAliveSeconds >= 0) {
          // The sweep sees idleness only to the second, so the margin before the server's timeout is 1 s plus one
          // sweep; a connection the server keeps for no longer than that is not reused (undici does the same with
          // its 2 s threshold). With just 1 s, a `timeout=1` connection outlived the server's timer every time.
          const ms = head.keepAliveSeconds * 1000 - 1000 - SWEEP_MS;
          if (ms <= 0) this.#reusable = false;
          else this.idleLimitMs = Math.min(this.pool.options.keepAliveTimeoutMs, ms);
        }
        const framing = responseFraming(call.request.method, head);
        this.#framing = framing;
        this.state = ConnState.Body;
        if (framing.kind === 'length') this.#remaining = framing.length;
        else if (framing.kind === 'chunked') this.#decoder = new ChunkedDecoder(this);
        else if (framing.kind === 'close') this.#reusable = false;
        call.handler.onResponseStart(call, head.status, head.headers);
        if (this.call !== call) return;
        if (framing.kind === 'none') {
          this.#complete(call);
          return;
        }
        continue;
      }
      // Body.
      const framing = this.#framing!;
      if (framing.kind === 'length') {
        const take = Math.min(this.#remaining, buf.length);
        this.#remaining -= take;
        this.#buf = take === buf.length ? null : buf.subarray(take);
        call.handler.onResponseData(call, take === buf.length ? buf : buf.subarray(0, take));
        if (this.call !== call) return;
        if (this.#remaining === 0) this.#complete(call);
        return;
      }
      if (framing.kind === 'chunked') {
        const decoder = this.#decoder!;
        const used = decoder.feed(buf, 0);
        this.#buf = used === buf.length ? null : buf.subarray(used);
        if (this.call !== call) return;
        if (decoder.done) this.#complete(call);
        return;
      }
      // Until close.
      this.#buf = null;
      call.handler.onResponseData(call, buf);
      return;
    }
  }

  /** Chunk data of a chunked response. */
  onChunk(data: Buffer): void {
    const call = this.call;
    if (call !== null) call.handler.onResponseData(call, data);
  }

  #complete(call: UpstreamCall): void {
    // Anything after the response is a protocol violation: the connection is not reused.
    if (this.#buf !== null) this.#reusable = false;
    this.#buf = null;
    this.#decoder = null;
    this.detach(call, this.#reusable);
    call.settled = true;
    call.handler.onResponseEnd(call);
  }

  /** The call leaves this connection: back to the pool if reusable, else closed. */
  detach(call: UpstreamCall, reusable: boolean): void {
    if (this.call !== call) return;
    this.call = null;
    this.pool.finished();
    if (call.paused) this.socket.resume();
    if (reusable && this.state !== ConnState.Closed) {
      this.state = ConnState.Idle;
      this.quietSweeps = 0;
      this.pool.release(this);
    } else {
      this.#close();
    }
  }

  /** The running request fails with `err` and the connection closes. */
  fail(err: Error): void {
    const call = this.call;
    this.#close();
    if (call !== null) {
      this.call = null;
      this.pool.finished();
      call.fail(err);
    }
  }

  #close(): void {
    if (this.state === ConnState.Closed) return;
    this.state = ConnState.Closed;
    if (this.connectDeadline !== null) {
      this.connectDeadline.cancel();
      this.connectDeadline = null;
    }
    this.pool.forget(this);
    this.socket.destroy();
  }

  #onEnd(): void {
    const call = this.call;
    if (call !== null && this.state === ConnState.Body && this.#framing?.kind === 'close') {
      this.#reusable = false;
      this.#complete(call);
      return;
    }
    this.#onClose();
  }

  #onClose(): void {
    if (this.call !== null) {
      const err = this.#error;
      const e =
        err ?? new UpstreamError(SOCKET_CLOSED, this.state === ConnState.Body ? 'the engine closed the connection mid-response' : 'the engine closed the connection');
      this.fail(e);
      return;
    }
    this.#close();
  }

  /** Called by the pool's sweep once a second. */
  sweep(): void {
    if (this.activity !== this.seenActivity) {
      this.seenActivity = this.activity;
      this.quietSweeps = 0;
      return;
    }
    this.quietSweeps++;
    const quietMs = this.quietSweeps * SWEEP_MS;
    if (this.state === ConnState.Idle && this.call === null) {
      if (quietMs >= this.idleLimitMs) this.#close();
      return;
    }
    const call = this.call;
    const limit = call?.request.bodyTimeoutMs ?? 0;
    if (call !== null && !call.paused && limit > 0 && quietMs >= limit) {
      this.fail(new UpstreamError(BODY_TIMEOUT, `no response bytes for ${limit} ms`));
    }
  }
}

// ---- a whole response as a promise (health probes, the prefill phase) -----------------------------------------

export interface BufferedUpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface BufferedUpstreamRequest {
  method: string;
  path: string;
  headers?: Record<string, string | string[]> | string;
  body?: Buffer | null;
  /** Whole-exchange limit, ms (0 = none): rejects with BODY_TIMEOUT. */
  timeoutMs?: number;
  /** Larger responses are refused (PROTOCOL_ERROR). */
  maxBytes?: number;
  signal?: AbortSignal;
}

class Collector implements UpstreamHandler {
  status = 0;
  headers: IncomingHttpHeaders = {};
  chunks: Buffer[] = [];
  size = 0;
  timer: Deadline<Collector> | null = null;
  controller: UpstreamController | null = null;
  readonly maxBytes: number;
  readonly resolve: (r: BufferedUpstreamResponse) => void;
  readonly reject: (err: Error) => void;
  readonly signal: AbortSignal | undefined;
  readonly #onAbort = (): void => this.abort(new UpstreamError('ABORT_ERR', 'aborted'));

  constructor(maxBytes: number, signal: AbortSignal | undefined, resolve: (r: BufferedUpstreamResponse) => void, reject: (err: Error) => void) {
    this.maxBytes = maxBytes;
    this.signal = signal;
    this.resolve = resolve;
    this.reject = reject;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  abort(err: Error): void {
    if (this.controller !== null) this.controller.abort(err);
    else this.onResponseError(null, err);
  }

  onRequestStart(controller: UpstreamController): void {
    this.controller = controller;
  }

  onResponseStart(_c: UpstreamController, status: number, headers: IncomingHttpHeaders): void {
    this.status = status;
    this.headers = headers;
  }

  onResponseData(c: UpstreamController, chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) c.abort(new UpstreamError(PROTOCOL_ERROR, `response larger than ${this.maxBytes} bytes`));
    else this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    this.#done();
    this.resolve({ status: this.status, headers: this.headers, body: Buffer.concat(this.chunks, this.size) });
  }

  onResponseError(_c: UpstreamController | null, err: Error): void {
    this.#done();
    this.reject(err);
  }

  #done(): void {
    this.timer?.cancel();
    this.timer = null;
    this.signal?.removeEventListener('abort', this.#onAbort);
  }
}

function onCollectorTimeout(c: Collector): void {
  c.timer = null;
  c.abort(new UpstreamError(BODY_TIMEOUT, 'the engine did not answer in time'));
}

// ---- the pool of one origin ----------------------------------------------------------------------------------

export interface PoolStats {
  /** Requests on a connection. */
  running: number;
  /** Requests waiting for a connection. */
  pending: number;
  connected: number;
  free: number;
}

export class UpstreamPool {
  readonly host: string;
  readonly port: number;
  readonly hostHeader: string;
  readonly options: UpstreamPoolOptions;
  readonly #idle: UpstreamConnection[] = [];
  readonly #all = new Set<UpstreamConnection>();
  readonly #queue: UpstreamCall[] = [];
  #running = 0;
  #sweep: NodeJS.Timeout | null = null;
  #closing = false;
  #closed: (() => void) | null = null;

  /** `origin` is `http://host:port`. */
  constructor(origin: string, options: UpstreamPoolOptions) {
    const url = new URL(origin);
    if (url.protocol !== 'http:') throw new Error(`unsupported upstream origin ${origin}`);
    this.host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.port = Number(url.port || 80);
    this.hostHeader = url.host;
    this.options = options;
  }

  /**
   * Start a request. The returned controller is the one the handler will see; aborting it before onRequestStart
   * (queued or connecting) drops the request without sending it.
   */
  dispatch(request: UpstreamRequest, handler: UpstreamHandler): UpstreamController {
    const call = new UpstreamCall(this, request, handler);
    if (this.#closing) {
      call.fail(new UpstreamError(POOL_CLOSED, 'the connection pool is closed'));
      return call;
    }
    this.#running++;
    const idle = this.#idle.pop();
    if (idle !== undefined) {
      idle.start(call);
      return call;
    }
    const limit = this.options.connections;
    if (limit !== null && this.#all.size >= limit) {
      this.#running--;
      this.#queue.push(call);
      return call;
    }
    this.#open().start(call);
    return call;
  }

  /** One request, its whole response collected (not for the proxy's hot path: it buffers). */
  request(r: BufferedUpstreamRequest): Promise<BufferedUpstreamResponse> {
    return new Promise((resolve, reject) => {
      if (r.signal?.aborted) {
        reject(new UpstreamError('ABORT_ERR', 'aborted'));
        return;
      }
      const collector = new Collector(r.maxBytes ?? 64 * 1024 * 1024, r.signal, resolve, reject);
      const timeout = r.timeoutMs ?? 0;
      if (timeout > 0) collector.timer = deadline(timeout, onCollectorTimeout, collector);
      const body = r.body ?? null;
      let headers = r.headers ?? {};
      if (body !== null && typeof headers !== 'string' && headers['content-length'] === undefined) headers = { ...headers, 'content-length': String(body.length) };
      // Held from the start (not only from onRequestStart): an abort or timeout while the request is still queued
      // or connecting must drop it, not reject the promise and leave the request to be sent later anyway.
      const controller = this.dispatch({ method: r.method, path: r.path, headers, body, bodyTimeoutMs: timeout }, collector);
      collector.controller ??= controller;
    });
  }

  get stats(): PoolStats {
    return { running: this.#running, pending: this.#queue.length, connected: this.#all.size, free: this.#idle.length };
  }

  #open(): UpstreamConnection {
    const conn = new UpstreamConnection(this);
    this.#all.add(conn);
    if (this.#sweep === null) {
      this.#sweep = setInterval(() => this.#sweepAll(), SWEEP_MS);
      this.#sweep.unref();
    }
    return conn;
  }

  #sweepAll(): void {
    for (const c of this.#all) c.sweep();
  }

  /** A request left its connection. */
  finished(): void {
    this.#running--;
    this.#maybeClosed();
  }

  /** A connection is free: the next queued request takes it, else it waits on the idle stack. */
  release(conn: UpstreamConnection): void {
    const next = this.#queue.shift();
    if (next !== undefined) {
      this.#running++;
      conn.start(next);
      return;
    }
    if (this.#closing) {
      conn.fail(new UpstreamError(POOL_CLOSED, 'the connection pool is closed'));
      return;
    }
    this.#idle.push(conn);
  }

  unqueue(call: UpstreamCall): void {
    const i = this.#queue.indexOf(call);
    if (i >= 0) this.#queue.splice(i, 1);
  }

  forget(conn: UpstreamConnection): void {
    this.#all.delete(conn);
    const i = this.#idle.indexOf(conn);
    if (i >= 0) this.#idle.splice(i, 1);
    if (this.#all.size === 0 && this.#sweep !== null) {
      clearInterval(this.#sweep);
      this.#sweep = null;
    }
    // A queued request whose connection limit freed up gets a new connection.
    const limit = this.options.connections;
    if (this.#queue.length > 0 && !this.#closing && (limit === null || this.#all.size < limit)) {
      const next = this.#queue.shift()!;
      this.#running++;
      this.#open().start(next);
    }
    this.#maybeClosed();
  }

  /** Stop taking requests; running ones finish, then every connection closes. */
  close(): Promise<void> {
    this.#closing = true;
    for (const c of [...this.#idle]) c.fail(new UpstreamError(POOL_CLOSED, 'pool closed'));
    for (const call of this.#queue.splice(0)) call.fail(new UpstreamError(POOL_CLOSED, 'the connection pool is closed'));
    if (this.#running === 0 && this.#all.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#closed = resolve;
    });
  }

  /** Close now: running requests fail. */
  destroy(): Promise<void> {
    this.#closing = true;
    for (const call of this.#queue.splice(0)) call.fail(new UpstreamError(POOL_CLOSED, 'the connection pool is closed'));
    for (const c of [...this.#all]) c.fail(new UpstreamError(POOL_CLOSED, 'the connection pool was destroyed'));
    return this.close();
  }

  #maybeClosed(): void {
    if (this.#closed !== null && this.#running === 0 && this.#all.size === 0) {
      const done = this.#closed;
      this.#closed = null;
      if (this.#sweep !== null) {
        clearInterval(this.#sweep);
        this.#sweep = null;
      }
      done();
    }
  }
}
