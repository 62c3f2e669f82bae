// Chunked transfer coding (RFC 9112 §7.1): an incremental decoder (request bodies from clients, response bodies
// from engines) and the encoder's framing strings. Chunk data is handed on as slices of the input buffers, never
// copied; chunk extensions are ignored and trailer fields skipped, both bounded in size.
import { HeadError } from './head.ts';

export interface ChunkSink {
  onChunk(data: Buffer): void;
}

const State = { Size: 0, Data: 1, DataCrlf: 2, Trailer: 3, Done: 4 } as const;
type State = (typeof State)[keyof typeof State];

const CR = 13;
const LF = 10;
/** A chunk-size line (with extensions) or a trailer line longer than this is refused. */
const MAX_LINE = 4096;
const MAX_TRAILER_BYTES = 16 * 1024;
const HEX_SIZE = /^([0-9A-Fa-f]{1,12})[ \t]*(;[^\r\n]*)?$/;

export class ChunkedDecoder {
  readonly #sink: ChunkSink;
  #state: State = State.Size;
  #line = '';
  #remaining = 0;
  #trailerBytes = 0;
  /** DataCrlf: CR already seen. */
  #sawCr = false;

  constructor(sink: ChunkSink) {
    this.#sink = sink;
  }

  /** The last chunk and the trailer section were read. */
  get done(): boolean {
    return this.#state === State.Done;
  }

  /**
   * Decode from `buf[start..]`; returns the offset just past what belongs to this body (the rest, if any, is the
   * next message). Throws HeadError(400) on malformed framing.
   */
  feed(buf: Buffer, start: number): number {
    let i = start;
    const n = buf.length;
    while (i < n) {
      switch (this.#state) {
        case State.Size:
        case State.Trailer: {
          const lf = buf.indexOf(LF, i);
          const end = lf < 0 ? n : lf + 1;
          this.#line += buf.toString('latin1', i, end);
          i = end;
          if (this.#line.length > MAX_LINE) throw new HeadError(400, 'chunk-size or trailer line too long');
          if (lf < 0) break;
          const line = this.#line;
          this.#line = '';
          if (line.length < 2 || line.charCodeAt(line.length - 2) !== CR) throw new HeadError(400, 'chunked body line not ended by CRLF');
          const content = line.slice(0, -2);
          if (this.#state === State.Trailer) {
            this.#trailerBytes += line.length;
            if (this.#trailerBytes > MAX_TRAILER_BYTES) throw new HeadError(400, 'trailer section too large');
            if (content.length === 0) {
              this.#state = State.Done;
              return i;
            }
            continue;
          }
          const m = HEX_SIZE.exec(content);
          if (m === null) throw new HeadError(400, `invalid chunk size ${JSON.stringify(content.slice(0, 32))}`);
          const size = parseInt(m[1]!, 16);
          if (size === 0) {
            this.#state = State.Trailer;
          } else {
            this.#remaining = size;
            this.#state = State.Data;
          }
          break;
        }
        case State.Data: {
          const take = Math.min(this.#remaining, n - i);
          this.#remaining -= take;
          const data = i === 0 && take === n ? buf : buf.subarray(i, i + take);
          i += take;
          if (this.#remaining === 0) {
            this.#state = State.DataCrlf;
            this.#sawCr = false;
          }
          this.#sink.onChunk(data);
          break;
        }
        case State.DataCrlf: {
          const c = buf[i++]!;
          if (!this.#sawCr) {
            if (c !== CR) throw new HeadError(400, 'chunk data not followed by CRLF');
            this.#sawCr = true;
          } else {
            if (c !== LF) throw new HeadError(400, 'chunk data not followed by CRLF');
            this.#state = State.Size;
          }
          break;
        }
        case State.Done:
          return i;
      }
    }
    return i;
  }
}

/** The framing before a chunk of `length` bytes (never 0: that is the last chunk). */
export function chunkHeader(length: number): string {
  return length.toString(16) + '\r\n';
}

export const CHUNK_END = '\r\n';
export const LAST_CHUNK = '0\r\n\r\n';
