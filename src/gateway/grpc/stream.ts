// One gRPC request presented to the gateway's pipeline as the REST request it stands for: a ClientStream (what
// http1/server.ts's Http1Stream offers), so the same Exchange serves it — route matching, authentication, limits,
// scheduling, retries, accounting, metrics and the access log — and nothing in the pipeline knows it is gRPC.
//
// Rules:
//  - The request (method, path, headers from the call's metadata, body) is complete when the stream starts: it is
//    handed to the handler, then its body is delivered to the sink, as the HTTP/1.1 server does for a body that
//    came with the head.
//  - The response (status, headers, body bytes) goes to a Responder, which translates it for the call: collected
//    whole for unary calls (a status and one message), or event by event for a streamed infer.
//  - The call cancelled by the client (or its deadline passing) is the client going away: the sink hears
//    onClientGone, which aborts the upstream request. destroy() (the pipeline abandoning a response it cannot finish)
//    tells the Responder, which answers the call with an error.
//  - Backpressure: write() returns what the call's write returned; the call's 'drain' reaches the sink as onWritable.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Metadata } from '@grpc/grpc-js';
import type { ClientStream, StreamSink } from '../http1/server.ts';

/** Where a stream's response goes. */
export interface Responder {
  /** Response body bytes, in order (the head is on the stream); false: the call cannot take more now. */
  data(stream: GrpcClientStream, chunk: Buffer): boolean;
  /** The response is complete. */
  end(stream: GrpcClientStream): void;
  /** The pipeline abandoned the response (cut off after it started). */
  abandon(stream: GrpcClientStream): void;
}

/** Metadata keys that describe the gRPC transport, not the request: never passed on as headers. */
const TRANSPORT_KEYS = new Set(['content-type', 'content-length', 'te', 'host', 'connection', 'transfer-encoding', 'accept-encoding', 'user-agent']);

/**
 * The call's metadata as the synthetic request's headers: text entries (binary `-bin` ones and gRPC's own `grpc-*`
 * are left out; repeated keys are joined with ", " as HTTP does), `:authority` as `host`, the body's content
 * headers, and the client's user agent.
 */
export function requestHeaders(metadata: Metadata, authority: string, content: Record<string, string>, bodyLength: number | null): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  for (const [key, values] of Object.entries(metadata.toJSON())) {
    if (key.endsWith('-bin') || key.startsWith('grpc-') || key.startsWith(':') || TRANSPORT_KEYS.has(key)) continue;
    const text = values.filter((v): v is string => typeof v === 'string');
    if (text.length > 0) headers[key] = text.join(', ');
  }
  const agent = metadata.get('user-agent')[0];
  if (typeof agent === 'string') headers['user-agent'] = agent;
  if (authority !== '') headers.host = authority;
  for (const [k, v] of Object.entries(content)) headers[k] = v;
  if (bodyLength !== null) headers['content-length'] = String(bodyLength);
  return headers;
}

export class GrpcClientStream implements ClientStream {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  sink: StreamSink | null = null;
  /** The body is delivered right after the handler took the stream. */
  readonly bodyBuffered = true;
  headersSent = false;
  /** The call is gone (cancelled, or abandoned by destroy()): nothing written reaches the client. */
  destroyed = false;
  /** The response is complete or abandoned. */
  finished = false;
  /** The response status (0 before the head). */
  status = 0;
  /** The response headers, names in lower case. */
  responseHeaders: Record<string, string> = {};
  readonly #body: Buffer | null;
  readonly #responder: Responder;

  constructor(method: string, url: string, headers: IncomingHttpHeaders, body: Buffer | null, responder: Responder) {
    this.method = method;
    this.url = url;
    this.headers = headers;
    this.#body = body;
    this.#responder = responder;
  }

  /** Hand the request to `handle` (which attaches the sink), then deliver its body. */
  start(handle: (stream: GrpcClientStream) => void): void {
    handle(this);
    const body = this.#body;
    if (!this.finished && body !== null && body.length > 0) this.sink?.onBodyData(body);
    if (!this.finished) this.sink?.onBodyEnd();
  }

  writeHead(status: number, headers: OutgoingHttpHeaders): void {
    if (this.headersSent || this.finished) return;
    this.headersSent = true;
    this.status = status;
    for (const [name, v] of Object.entries(headers)) {
      if (v === undefined) continue;
      this.responseHeaders[name.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
    }
  }

  writeHeadLines(status: number, lines: string, contentLength: number): void {
    if (this.headersSent || this.finished) return;
    const headers: Record<string, string> = {};
    for (const line of lines.split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    if (contentLength >= 0) headers['content-length'] = String(contentLength);
    this.writeHead(status, headers);
  }

  write(chunk: Buffer | string): boolean {
    if (this.finished) return false;
    if (!this.headersSent) this.writeHead(200, {});
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    return data.length === 0 ? true : this.#responder.data(this, data);
  }

  end(chunk?: Buffer | string): void {
    if (this.finished) return;
    if (!this.headersSent) this.writeHead(200, {});
    if (chunk !== undefined && chunk.length > 0) this.#responder.data(this, typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    this.finished = true;
    this.#responder.end(this);
  }

  destroy(): void {
    if (this.finished) return;
    this.finished = true;
    this.destroyed = true;
    this.#responder.abandon(this);
  }

  /** The client cancelled the call (or its deadline passed): the exchange hears the client go. */
  cancel(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.finished) return;
    this.finished = true;
    this.sink?.onClientGone();
  }

  /** The call drained after a write returned false. */
  writable(): void {
    if (!this.finished) this.sink?.onWritable();
  }
}

/** Collects a response whole, then calls back with it (null body: abandoned). */
export class Collector implements Responder {
  readonly #chunks: Buffer[] = [];
  readonly #done: (stream: GrpcClientStream, body: Buffer | null) => void;

  constructor(done: (stream: GrpcClientStream, body: Buffer | null) => void) {
    this.#done = done;
  }

  data(_stream: GrpcClientStream, chunk: Buffer): boolean {
    this.#chunks.push(chunk);
    return true;
  }

  end(stream: GrpcClientStream): void {
    this.#done(stream, this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks));
  }

  abandon(stream: GrpcClientStream): void {
    this.#done(stream, null);
  }
}

/** Splits an SSE body into the payloads of its `data:` lines, across chunk boundaries. */
export class SseLines {
  #partial = '';
  readonly #decoder = new TextDecoder('utf-8');

  push(chunk: Buffer): string[] {
    const text = this.#partial + this.#decoder.decode(chunk, { stream: true });
    const out: string[] = [];
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      let line = text.slice(start, nl);
      start = nl + 1;
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line.startsWith('data:')) out.push(line.slice(line.charCodeAt(5) === 32 ? 6 : 5));
    }
    this.#partial = text.slice(start);
    return out;
  }
}
