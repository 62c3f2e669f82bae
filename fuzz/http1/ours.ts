// Our side of the differential fuzzer: the gateway's real server Connection (head parser, chunked decoder,
// keep-alive and pipelining logic), driven in-process over a fake socket.
//
// Rules: nothing here re-implements framing. Each request is answered as soon as its body ends, so pipelined
// requests behind it are parsed; where a request ended is the bytes fed so far minus the bytes the connection
// still holds. A refusal is read back from the error response the connection writes.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Connection, ConnectionSet, DEFAULT_LIMITS, type Http1Stream, type ServerLimits } from '../../src/gateway/http1/server.ts';
import type { Message, Trace } from './trace.ts';

/** No idle timer (nothing here waits); the head timer is cleared when the fake socket closes. */
const LIMITS: ServerLimits = { ...DEFAULT_LIMITS, keepAliveTimeoutMs: 0 };

/** The socket surface Connection uses; writes are dropped, except what tells how the connection ended. */
class FakeSocket extends EventEmitter {
  /** The connection was ended by the server: after a refusal (its text) or after a last response (''). */
  ended: string | null = null;
  write(): boolean {
    return true;
  }
  end(data?: string): void {
    if (this.ended === null) this.ended = data ?? '';
  }
  destroy(): void {
    this.emit('close');
  }
  setTimeout(): void {}
  setNoDelay(): void {}
  pause(): void {}
  resume(): void {}
  cork(): void {}
  uncork(): void {}
}

const REFUSAL_MESSAGE = /"message":"Malformed HTTP request: (.*?)\.","type"/;

/** Parse `input` with the gateway's Connection, fed in one piece or in the given piece sizes. */
export function parseOurs(input: Buffer, pieces: number[] | null): Trace {
  const socket = new FakeSocket();
  const messages: Message[] = [];
  let fed = 0;
  let conn: Connection | null = null;
  const handler = (stream: Http1Stream): void => {
    const message: Message = { method: stream.method, url: stream.url, headers: { ...stream.headers } as Message['headers'], body: '', end: -1, keepAlive: true };
    messages.push(message);
    stream.sink = {
      onBodyData: (c) => {
        message.body += c.toString('latin1');
      },
      onBodyEnd: () => {
        message.end = fed - conn!.buffered;
        stream.end();
        // A connection that ends after this response carries no further request.
        message.keepAlive = socket.ended === null;
      },
      onClientGone: () => {},
      onWritable: () => {},
    };
  };
  conn = new Connection(socket as unknown as Socket, LIMITS, handler, new ConnectionSet());
  let at = 0;
  for (let i = 0; at < input.length && socket.ended === null; i++) {
    const size = pieces === null ? input.length : Math.min(pieces[i % pieces.length]!, input.length - at);
    fed = at + size;
    socket.emit('data', input.subarray(at, fed));
    at = fed;
  }
  const refusal = socket.ended === null || socket.ended === '' ? null : socket.ended;
  socket.destroy();
  if (refusal === null) return { messages, outcome: 'eof', reason: '', at: -1 };
  const status = refusal.slice(9, 12);
  return { messages, outcome: 'rejected', reason: `${status} ${REFUSAL_MESSAGE.exec(refusal)?.[1] ?? refusal}`, at: -1 };
}
