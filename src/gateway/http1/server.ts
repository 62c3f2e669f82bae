// The gateway's HTTP/1.1 server: connections over plain TCP (Http1Server) or TLS (Https1Server), keep-alive and
// pipelining (requests on a connection are answered in order, one at a time), Content-Length and chunked request
// bodies, `Expect: 100-continue`, HEAD, HTTP/1.0 clients, and bounded everything: head size and field count,
// time to receive a head (slow clients), keep-alive idle time, pipelined bytes held while a response is running.
//
// A request is an Http1Stream handed to the handler once its head is parsed; its body arrives through the
// stream's sink (onBodyData/onBodyEnd), and so do the client going away and the connection draining. Responses
// are written straight to the socket: the head goes out with the first body bytes in one write, and bodies
// without a Content-Length are sent chunked (HTTP/1.1) or delimited by closing the connection (HTTP/1.0).
import { Server as NetServer, type Socket } from 'node:net';
import { Server as TlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import { STATUS_CODES, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { parseRequestHead, HeadError, type RequestHead } from './head.ts';
import { ChunkedDecoder, chunkHeader, CHUNK_END, LAST_CHUNK, type ChunkSink } from './chunked.ts';
import { deadline, type Deadline } from '../http/deadlines.ts';

export interface ServerLimits {
  /** Request line and header fields, bytes (431 beyond). */
  maxHeadBytes: number;
  maxHeaderFields: number;
  /** Time from a request's first byte to the end of its head (408 after it; slow clients). */
  headersTimeoutMs: number;
  /** Idle time of a keep-alive connection between requests. */
  keepAliveTimeoutMs: number;
}

export const DEFAULT_LIMITS: ServerLimits = { maxHeadBytes: 16 * 1024, maxHeaderFields: 200, headersTimeoutMs: 60_000, keepAliveTimeoutMs: 65_000 };

/** What the handler attaches to a stream to hear about its request body and connection. */
export interface StreamSink {
  onBodyData(chunk: Buffer): void;
  onBodyEnd(): void;
  /** The connection closed before the response was complete. */
  onClientGone(): void;
  /** The connection drained after write() returned false. */
  onWritable(): void;
}

/**
 * One client request and its response as the gateway sees them: what Http1Stream offers, and what any other
 * front (the gRPC adapter, grpc/) presents so that the same Exchange and pipeline serve it.
 */
export interface ClientStream {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  sink: StreamSink | null;
  /** The whole request body had already arrived with the head. */
  readonly bodyBuffered: boolean;
  /** The response head was committed. */
  readonly headersSent: boolean;
  /** The client is gone: nothing written now reaches it. */
  readonly destroyed: boolean;
  writeHead(status: number, headers: OutgoingHttpHeaders): void;
  /** writeHead with header lines already serialised ("name: value\r\n" each) and the body length (-1: unknown). */
  writeHeadLines(status: number, lines: string, contentLength: number): void;
  /** Body bytes; false when the client's buffer is full (the sink hears onWritable when it drains). */
  write(chunk: Buffer | string): boolean;
  end(chunk?: Buffer | string): void;
  /** Abandon the response and drop the client. */
  destroy(): void;
}

export type StreamHandler = (stream: Http1Stream) => void;

const CRLFCRLF = Buffer.from('\r\n\r\n');
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n');
/** Response heads and bodies up to this size are sent as one buffer. */
const COALESCE_BYTES = 16 * 1024;

const ConnState = {
  /** Waiting for (the rest of) a request head. */
  Head: 0,
  /** Reading the current request's body. */
  Body: 1,
  /** The request is read; its response is running. */
  Responding: 2,
  Closed: 3,
} as const;
type ConnState = (typeof ConnState)[keyof typeof ConnState];

const BodyMode = {
  /** Content-Length (or no body). */
  Length: 0,
  Chunked: 1,
  /** HTTP/1.0 client, no Content-Length: the body ends when the connection closes. */
  UntilClose: 2,
} as const;
type BodyMode = (typeof BodyMode)[keyof typeof BodyMode];

// ---- Date header, computed once a second --------------------------------------------------------------------

let dateSecond = 0;
let dateLine = '';
function dateHeader(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateLine = `date: ${new Date(now).toUTCString()}\r\n`;
  }
  return dateLine;
}

// ---- one request/response ------------------------------------------------------------------------------------

export class Http1Stream implements ClientStream {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  sink: StreamSink | null = null;
  /** The whole request body had already arrived with the head (it is delivered before any timer could fire). */
  bodyBuffered = false;
  /** The response head was committed (writeHead called); it goes out with the first body bytes. */
  headersSent = false;
  /** The response is complete (end() called) or abandoned. */
  finished = false;
  readonly #conn: Connection;
  readonly #head: RequestHead;
  #pendingHead: string | null = null;
  #mode: BodyMode = BodyMode.Length;

  constructor(conn: Connection, head: RequestHead) {
    this.#conn = conn;
    this.#head = head;
    this.method = head.method;
    this.url = head.url;
    this.headers = head.headers;
  }

  /** The connection is gone: nothing written now reaches the client. */
  get destroyed(): boolean {
    return this.#conn.state === ConnState.Closed;
  }

  /**
   * Commit the status and headers. Framing headers are the server's: a `content-length` given here is used as
   * the body length, otherwise the body is chunked (or ends with the connection for HTTP/1.0 clients).
   */
  writeHead(status: number, headers: OutgoingHttpHeaders): void {
    let lines = '';
    let length = -1;
    for (const name in headers) {
      const v = headers[name];
      if (v === undefined) continue;
      switch (name) {
        case 'content-length':
          length = Number(v);
          continue;
        case 'connection':
        case 'keep-alive':
        case 'transfer-encoding':
        case 'date':
          continue;
      }
      if (typeof v === 'object') for (const item of v) lines += `${name}: ${item}\r\n`;
      else lines += `${name}: ${v}\r\n`;
    }
    this.writeHeadLines(status, lines, length);
  }

  /**
   * writeHead with the header lines already serialised ("name: value\r\n" each, no framing or connection
   * fields) and the body length (-1: unknown).
   */
  writeHeadLines(status: number, lines: string, contentLength: number): void {
    if (this.headersSent || this.finished) return;
    this.headersSent = true;
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n` + lines + dateHeader();
    const conn = this.#conn;
    if (contentLength >= 0 || status === 204 || status === 304) {
      if (contentLength >= 0) head += 'content-length: ' + contentLength + '\r\n';
      this.#mode = BodyMode.Length;
    } else if (this.#head.minor === 1) {
      head += 'transfer-encoding: chunked\r\n';
      this.#mode = BodyMode.Chunked;
    } else {
      this.#mode = BodyMode.UntilClose;
      conn.closeAfterResponse = true;
    }
    // The connection carries no further request if the client said so or its request body was not read whole.
    // ...nor after the server started closing (close() waits for this connection).
    if (!this.#head.keepAlive || conn.state === ConnState.Body || conn.serverClosing) conn.closeAfterResponse = true;
    head += conn.closeAfterResponse ? 'connection: close\r\n\r\n' : 'connection: keep-alive\r\n\r\n';
    this.#pendingHead = head;
  }

  /** Send body bytes; false when the socket's buffer is full (the sink hears onWritable when it drains). */
  write(chunk: Buffer | string): boolean {
    if (this.finished || this.#conn.stream !== this || this.destroyed) return false;
    if (!this.headersSent) this.writeHead(200, {});
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    return this.#send(data, false);
  }

  /** Send the last bytes (if any) and complete the response. */
  end(chunk?: Buffer | string): void {
    if (this.finished) return;
    const conn = this.#conn;
    if (conn.stream !== this || this.destroyed) {
      this.finished = true;
      return;
    }
    if (!this.headersSent) {
      const n = chunk === undefined ? 0 : typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      this.writeHead(200, { 'content-length': n });
    }
    const data = chunk === undefined ? null : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.finished = true;
    this.#send(data, true);
    conn.responseDone(this);
  }

  /** Abandon the response and close the connection. */
  destroy(): void {
    this.#conn.destroy();
  }

  #send(data: Buffer | null, last: boolean): boolean {
    const socket = this.#conn.socket;
    const head = this.#pendingHead;
    this.#pendingHead = null;
    const body = this.method === 'HEAD' || data === null || data.length === 0 ? null : data;
    let prefix = head ?? '';
    let suffix = '';
    if (this.#mode === BodyMode.Chunked) {
      if (body !== null) {
        prefix += chunkHeader(body.length);
        suffix = CHUNK_END;
      }
      if (last && this.method !== 'HEAD') suffix += LAST_CHUNK;
    }
    if (body === null) {
      const text = prefix + suffix;
      return text.length === 0 ? true : socket.write(text, 'latin1');
    }
    if (body.length + prefix.length + suffix.length <= COALESCE_BYTES) {
      const out = Buffer.allocUnsafe(prefix.length + body.length + suffix.length);
      let at = out.write(prefix, 0, 'latin1');
      at += body.copy(out, at);
      if (suffix.length > 0) out.write(suffix, at, 'latin1');
      return socket.write(out);
    }
    socket.cork();
    if (prefix.length > 0) socket.write(prefix, 'latin1');
    let ok = socket.write(body);
    if (suffix.length > 0) ok = socket.write(suffix, 'latin1');
    socket.uncork();
    return ok;
  }
}

// ---- one connection --------------------------------------------------------------------------------------

function onHeadTimeout(conn: Connection): void {
  conn.headDeadline = null;
  conn.refuse(408, 'request_timeout', `The request head was not received within ${conn.limits.headersTimeoutMs} ms.`);
}

function onIdleTimeout(conn: Connection): void {
  conn.idleDeadline = null;
  conn.destroy();
}

export class Connection implements ChunkSink {
  readonly socket: Socket;
  readonly limits: ServerLimits;
  readonly #handler: StreamHandler;
  readonly #owner: ConnectionSet;
  state: ConnState = ConnState.Head;
  stream: Http1Stream | null = null;
  /** The current response is the connection's last (client asked, HTTP/1.0, unread body). */
  closeAfterResponse = false;
  headDeadline: Deadline<Connection> | null = null;
  idleDeadline: Deadline<Connection> | null = null;
  #buf: Buffer | null = null;
  #remaining = 0;
  #decoder: ChunkedDecoder | null = null;
  #parsing = false;
  #paused = false;

  constructor(socket: Socket, limits: ServerLimits, handler: StreamHandler, owner: ConnectionSet) {
    this.socket = socket;
    this.limits = limits;
    this.#handler = handler;
    this.#owner = owner;
    socket.on('data', (d: Buffer) => this.#onData(d));
    socket.on('end', () => this.#onEnd());
    socket.on('error', () => {});
    socket.on('close', () => this.#onClose());
    socket.on('drain', () => this.stream?.sink?.onWritable());
    this.#armIdle();
  }

  /** Bytes received and not yet consumed (the fuzzer reads where each request ended from it). */
  get buffered(): number {
    return this.#buf === null ? 0 : this.#buf.length;
  }

  /** No request in progress. */
  get idle(): boolean {
    return this.state === ConnState.Head && this.#buf === null;
  }

  /** The server's close() was called: responses from now on close their connection. */
  get serverClosing(): boolean {
    return this.#owner.closing;
  }

  destroy(): void {
    if (this.state === ConnState.Closed) return;
    this.socket.destroy();
  }

  /** Answer an error before (or instead of) a handler, then close. */
  refuse(status: number, code: string, message: string): void {
    if (this.state === ConnState.Closed) return;
    const stream = this.stream;
    if (stream !== null && stream.headersSent) {
      this.destroy();
      return;
    }
    const type = status >= 500 ? 'server_error' : 'invalid_request_error';
    const body = JSON.stringify({ error: { message, type, code, param: null } });
    this.#clearDeadlines();
    this.state = ConnState.Closed;
    this.socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `${dateHeader()}connection: close\r\n\r\n${body}`,
    );
    // The client may not read: don't wait for it forever.
    this.socket.setTimeout(5_000, () => this.socket.destroy());
    if (stream !== null && !stream.finished) {
      stream.finished = true;
      stream.sink?.onClientGone();
    }
  }

  #onData(d: Buffer): void {
    if (this.state === ConnState.Closed) return;
    const buf = this.#buf;
    this.#buf = buf === null ? d : Buffer.concat([buf, d]);
    this.#process();
  }

  #process(): void {
    if (this.#parsing) return;
    this.#parsing = true;
    try {
      while (this.#step());
    } catch (err) {
      if (err instanceof HeadError) this.#refuseHead(err);
      else throw err;
    } finally {
      this.#parsing = false;
    }
  }

  /** One parsing step; true when another may make progress. */
  #step(): boolean {
    const buf = this.#buf;
    switch (this.state) {
      case ConnState.Head: {
        if (buf === null) return false;
        if (this.idleDeadline !== null) {
          this.idleDeadline.cancel();
          this.idleDeadline = null;
        }
        // Empty lines before a request line are ignored (RFC 9112 §2.2).
        let start = 0;
        while (start + 1 < buf.length && buf[start] === 13 && buf[start + 1] === 10) start += 2;
        const end = buf.indexOf(CRLFCRLF, start);
        if (end < 0) {
          // Leading blank lines count too: skipped but still buffered, they must not grow the buffer unbounded.
          if (buf.length > this.limits.maxHeadBytes) throw new HeadError(431, `request head larger than ${this.limits.maxHeadBytes} bytes`);
          if (this.headDeadline === null) this.headDeadline = deadline<Connection>(this.limits.headersTimeoutMs, onHeadTimeout, this);
          return false;
        }
        if (end - start > this.limits.maxHeadBytes) throw new HeadError(431, `request head larger than ${this.limits.maxHeadBytes} bytes`);
        if (this.headDeadline !== null) {
          this.headDeadline.cancel();
          this.headDeadline = null;
        }
        const head = parseRequestHead(buf.toString('latin1', start, end), this.limits.maxHeaderFields);
        const rest = end + 4;
        this.#buf = rest === buf.length ? null : buf.subarray(rest);
        const stream = new Http1Stream(this, head);
        this.stream = stream;
        const framing = head.framing;
        if (framing.kind === 'none') {
          this.state = ConnState.Responding;
          this.#handler(stream);
          if (this.stream === stream && !stream.finished) stream.sink?.onBodyEnd();
        } else {
          this.state = ConnState.Body;
          if (framing.kind === 'length') {
            this.#remaining = framing.length;
            this.#decoder = null;
            stream.bodyBuffered = this.#buf !== null && this.#buf.length >= framing.length;
          } else {
            this.#decoder = new ChunkedDecoder(this);
          }
          if (head.expectContinue) this.socket.write(CONTINUE);
          this.#handler(stream);
        }
        return true;
      }
      case ConnState.Body: {
        if (buf === null) return false;
        const decoder = this.#decoder;
        let complete: boolean;
        if (decoder === null) {
          const used = Math.min(this.#remaining, buf.length);
          this.#remaining -= used;
          complete = this.#remaining === 0;
          this.#buf = used === buf.length ? null : buf.subarray(used);
          this.onChunk(used === buf.length ? buf : buf.subarray(0, used));
        } else {
          const used = decoder.feed(buf, 0);
          complete = decoder.done;
          this.#buf = used === buf.length ? null : buf.subarray(used);
        }
        // The sink may have answered (and closed) while taking the bytes.
        if (this.state !== ConnState.Body) return this.state !== ConnState.Closed;
        if (!complete) return this.#buf !== null;
        this.#decoder = null;
        this.state = ConnState.Responding;
        this.stream!.sink?.onBodyEnd();
        return true;
      }
      case ConnState.Responding:
        // Pipelined bytes wait for the current response; beyond a bound, stop reading the socket.
        if (buf !== null && buf.length > this.limits.maxHeadBytes && !this.#paused) {
          this.#paused = true;
          this.socket.pause();
        }
        return false;
      case ConnState.Closed:
        return false;
    }
  }

  /** Body bytes of the current request (ChunkSink, and the Content-Length path). */
  onChunk(data: Buffer): void {
    const stream = this.stream;
    if (stream !== null && !stream.finished && data.length > 0) stream.sink?.onBodyData(data);
  }

  /** The stream's response is complete. */
  responseDone(stream: Http1Stream): void {
    if (this.stream !== stream) return;
    if (this.state === ConnState.Body) {
      // Answered before its body was read (413, 401...): the connection closes (writeHead said so).
      this.closeAfterResponse = true;
    }
    if (this.state === ConnState.Responding || this.state === ConnState.Body) this.#afterResponse();
  }

  #afterResponse(): void {
    this.stream = null;
    // A server closing: busy connections close after their response (a head sent before close() said keep-alive).
    if (this.closeAfterResponse || this.#owner.closing) {
      this.#clearDeadlines();
      this.state = ConnState.Closed;
      this.socket.end();
      return;
    }
    this.state = ConnState.Head;
    if (this.#paused) {
      this.#paused = false;
      this.socket.resume();
    }
    if (this.#buf === null) this.#armIdle();
    else this.#process();
  }

  #refuseHead(err: HeadError): void {
    const code =
      err.status === 431 ? 'request_header_fields_too_large' : err.status === 505 ? 'http_version_not_supported' : err.status === 501 ? 'not_implemented' : 'bad_request';
    this.refuse(err.status, code, `Malformed HTTP request: ${err.message}.`);
  }

  #armIdle(): void {
    if (this.idleDeadline === null && this.limits.keepAliveTimeoutMs > 0) this.idleDeadline = deadline<Connection>(this.limits.keepAliveTimeoutMs, onIdleTimeout, this);
  }

  #clearDeadlines(): void {
    if (this.headDeadline !== null) {
      this.headDeadline.cancel();
      this.headDeadline = null;
    }
    if (this.idleDeadline !== null) {
      this.idleDeadline.cancel();
      this.idleDeadline = null;
    }
  }

  /**
   * The client half-closed. As Node's http server does by default, that ends the exchange: a request still being
   * read or answered is treated as abandoned by the client (its upstream work is cancelled).
   */
  #onEnd(): void {
    const stream = this.stream;
    this.destroy();
    if (stream !== null && !stream.finished) {
      stream.finished = true;
      stream.sink?.onClientGone();
    }
  }

  #onClose(): void {
    const prev = this.state;
    this.state = ConnState.Closed;
    this.#clearDeadlines();
    this.#owner.delete(this);
    this.#buf = null;
    const stream = this.stream;
    this.stream = null;
    if (prev !== ConnState.Closed && stream !== null && !stream.finished) {
      stream.finished = true;
      stream.sink?.onClientGone();
    }
  }
}

// ---- listeners ---------------------------------------------------------------------------------------------

export class ConnectionSet extends Set<Connection> {
  /** The server's close() was called. */
  closing = false;
  shutdown(): void {
    this.closing = true;
    this.closeIdle();
  }
  closeAll(): void {
    for (const c of this) c.destroy();
  }
  closeIdle(): void {
    for (const c of this) if (c.idle) c.destroy();
  }
}

function accept(socket: Socket, limits: ServerLimits, handler: StreamHandler, set: ConnectionSet): void {
  socket.setNoDelay(true);
  set.add(new Connection(socket, limits, handler, set));
}

type NetServerClass = abstract new (...args: any[]) => NetServer;

/** What both listeners add to their base server: the connections they hold, and closing them. */
function withConnections<B extends NetServerClass>(Base: B) {
  abstract class Listener extends Base {
    readonly http1Connections = new ConnectionSet();

    /** Stop accepting; idle keep-alive connections close now, busy ones after their response. */
    override close(callback?: (err?: Error) => void): this {
      super.close(callback);
      this.http1Connections.shutdown();
      return this;
    }

    closeAllConnections(): void {
      this.http1Connections.closeAll();
    }

    closeIdleConnections(): void {
      this.http1Connections.closeIdle();
    }

    get connectionCount(): number {
      return this.http1Connections.size;
    }
  }
  return Listener;
}

/** HTTP/1.1 over TCP. */
export class Http1Server extends withConnections(NetServer) {
  constructor(handler: StreamHandler, limits: Partial<ServerLimits> = {}) {
    const all = { ...DEFAULT_LIMITS, ...limits };
    super((socket: Socket) => accept(socket, all, handler, this.http1Connections));
  }
}

/** HTTP/1.1 over TLS (ALPN offers http/1.1 only). */
export class Https1Server extends withConnections(TlsServer) {
  constructor(options: TlsOptions, handler: StreamHandler, limits: Partial<ServerLimits> = {}) {
    const all = { ...DEFAULT_LIMITS, ...limits };
    super({ ...options, ALPNProtocols: ['http/1.1'] }, (socket: TLSSocket) => accept(socket, all, handler, this.http1Connections));
  }
}
