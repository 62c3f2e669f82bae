// Chunked transfer coding (RFC 9112 §7.1): an incremental decoder (request bodies from clients, response bodies
// from engines) and the encoder's framing strings. Chunk data is handed on as slices of the input buffers, never
// copied; chunk extensions are ignored and trailer fields skipped, both bounded in size. Both are still checked
// as strictly as a head (CRLF only, no control characters; trailers: token names, no obs-fold), so that no other
// reader can find a line end, or the end of the body, where this one does not.
import { CONTROL, HeadError, TOKEN } from './head.ts';

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
/** A size of at most 12 hex digits (no overflow), BWS, and extensions of anything but controls (HTAB aside). */
const HEX_SIZE = /^([0-9A-Fa-f]{1,12})[ \t]*(;[^\x00-\x08\x0a-\x1f\x7f]*)?$/;

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
            checkTrailerLine(content);
            continue;
          }
          const m = HEX_SIZE.exec(content);
          if (m === null) {
            if (CONTROL.test(content) || content.includes('\r')) throw new HeadError(400, 'a control character or bare CR in a chunk-size line');
            throw new HeadError(400, `invalid chunk size ${JSON.stringify(content.slice(0, 32))}`);
          }
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

/** A trailer field line (without its CRLF) is read by the head's rules; its field is then dropped. */
function checkTrailerLine(line: string): void {
  if (line.includes('\r')) throw new HeadError(400, 'a bare CR in a trailer line');
  if (CONTROL.test(line)) throw new HeadError(400, 'a control character in a trailer line');
  const c = line.charCodeAt(0);
  if (c === 32 || c === 9) throw new HeadError(400, 'obsolete line folding in the trailer section');
  const colon = line.indexOf(':');
  if (colon < 0 || !TOKEN.test(line.slice(0, colon))) throw new HeadError(400, 'an invalid trailer field name');
}

/** The framing before a chunk of `length` bytes (never 0: that is the last chunk). */
export function chunkHeader(length: number): string {
  return length.toString(16) + '\r\n';
}

export const CHUNK_END = '\r\n';
export const LAST_CHUNK = '0\r\n\r\n';
