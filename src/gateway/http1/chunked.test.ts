// The chunked transfer decoder: any split of the input gives the same body, extensions and trailers are skipped,
// the bytes after the body are left for the next message, and malformed or oversized framing is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkedDecoder, chunkHeader, CHUNK_END, LAST_CHUNK } from './chunked.ts';
import { HeadError } from './head.ts';

interface Run {
  data: Buffer;
  /** Offset (in the concatenated input) where the decoder said the body ended, or -1. */
  end: number;
  done: boolean;
}

/** Feed `input` in pieces of the given sizes (the rest in one piece); collect the data. */
function decode(input: Buffer, pieces: number[] | 'bytes' | 'whole' = 'whole'): Run {
  const chunks: Buffer[] = [];
  const d = new ChunkedDecoder({ onChunk: (c) => chunks.push(Buffer.from(c)) });
  const sizes = pieces === 'whole' ? [input.length] : pieces === 'bytes' ? Array<number>(input.length).fill(1) : pieces;
  let at = 0;
  let end = -1;
  for (let i = 0; at < input.length; i++) {
    const size = sizes[i] ?? input.length - at;
    const piece = input.subarray(at, at + size);
    const used = d.feed(piece, 0);
    assert.ok(used >= 0 && used <= piece.length);
    if (d.done) {
      end = at + used;
      break;
    }
    assert.equal(used, piece.length, 'an unfinished body takes everything it is given');
    at += size;
  }
  return { data: Buffer.concat(chunks), end, done: d.done };
}

function encode(parts: string[]): Buffer {
  return Buffer.from(parts.map((p) => chunkHeader(Buffer.byteLength(p)) + p + CHUNK_END).join('') + LAST_CHUNK);
}

function refused(input: string | Buffer, re?: RegExp, pieces: number[] | 'bytes' | 'whole' = 'whole'): void {
  const buf = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  assert.throws(
    () => decode(buf, pieces),
    (err: unknown) => {
      assert.ok(err instanceof HeadError, String(err));
      assert.equal(err.status, 400);
      if (re !== undefined) assert.match(err.message, re);
      return true;
    },
  );
}

test('the encoder framing', () => {
  assert.equal(chunkHeader(1), '1\r\n');
  assert.equal(chunkHeader(255), 'ff\r\n');
  assert.equal(chunkHeader(4096), '1000\r\n');
  assert.equal(CHUNK_END, '\r\n');
  assert.equal(LAST_CHUNK, '0\r\n\r\n');
});

test('one piece, byte by byte and awkward splits all give the same body and the same end', () => {
  const parts = ['hello', ' ', 'world', 'x'.repeat(300), '\r\n in data \r\n0\r\n\r\n is just data', '\u00e9t\u00e9'];
  const input = encode(parts);
  const expected = Buffer.from(parts.join(''));
  const whole = decode(input);
  assert.equal(whole.done, true);
  assert.equal(whole.end, input.length);
  assert.deepEqual(whole.data, expected);
  const bytes = decode(input, 'bytes');
  assert.deepEqual(bytes, whole);
  for (const split of [[1, 2], [2, 5, 1], [3], [4, 1, 1, 1, 1, 1, 1, 1], [7, 300], [input.length - 1], [input.length - 3, 1, 1]]) {
    assert.deepEqual(decode(input, split), whole, `split ${JSON.stringify(split)}`);
  }
});

test('chunk data is passed on without copying when it can be (slices of the input)', () => {
  const input = Buffer.from('5\r\nhello\r\n0\r\n\r\n');
  const seen: Buffer[] = [];
  const d = new ChunkedDecoder({ onChunk: (c) => seen.push(c) });
  assert.equal(d.feed(input, 0), input.length);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.buffer, input.buffer);
  assert.equal(seen[0]!.toString(), 'hello');
});

test('hex sizes in either case, leading zeros, big chunks', () => {
  const big = 'y'.repeat(0x1a2b);
  assert.equal(decode(Buffer.from(`1A2b\r\n${big}\r\n0\r\n\r\n`)).data.toString(), big);
  assert.equal(decode(Buffer.from(`0005\r\nabcde\r\n000\r\n\r\n`)).data.toString(), 'abcde');
  assert.equal(decode(Buffer.from(`a\r\n0123456789\r\n0\r\n\r\n`), 'bytes').data.toString(), '0123456789');
});

test('chunk extensions are ignored; whitespace before them is tolerated', () => {
  const input = '5;name=value\r\nhello\r\n6 ; a="quoted; \\"x" ;b\r\n world\r\n3\t;ext\r\n!!!\r\n0;last=1\r\n\r\n';
  assert.equal(decode(Buffer.from(input)).data.toString(), 'hello world!!!');
  assert.equal(decode(Buffer.from(input), 'bytes').data.toString(), 'hello world!!!');
});

test('trailer fields are skipped and the body ends after the blank line', () => {
  const input = Buffer.from('3\r\nabc\r\n0\r\nX-Checksum: 1234\r\nX-Other: y\r\n\r\n');
  for (const how of ['whole', 'bytes'] as const) {
    const r = decode(input, how);
    assert.equal(r.data.toString(), 'abc');
    assert.equal(r.done, true);
    assert.equal(r.end, input.length);
  }
});

test('the offset after the body is returned: the rest is the next (pipelined) message', () => {
  const body = '4\r\nwiki\r\n0\r\nTrailer: t\r\n\r\n';
  const next = 'GET /next HTTP/1.1\r\nHost: a\r\n\r\n';
  const buf = Buffer.from(body + next);
  const chunks: string[] = [];
  const d = new ChunkedDecoder({ onChunk: (c) => chunks.push(c.toString()) });
  const used = d.feed(buf, 0);
  assert.equal(used, body.length);
  assert.equal(buf.subarray(used).toString(), next);
  assert.deepEqual(chunks, ['wiki']);
  assert.equal(d.done, true);
  // Fed again after the end, it takes nothing.
  assert.equal(d.feed(buf, used), used);
  // Byte by byte, the end is found at the same place.
  assert.equal(decode(buf, 'bytes').end, body.length);
});

test('feeding from a start offset', () => {
  const buf = Buffer.from('JUNK3\r\nabc\r\n0\r\n\r\nNEXT');
  const chunks: string[] = [];
  const d = new ChunkedDecoder({ onChunk: (c) => chunks.push(c.toString()) });
  assert.equal(d.feed(buf, 4), buf.length - 4);
  assert.equal(chunks.join(''), 'abc');
  assert.equal(d.done, true);
});

test('not done until the final blank line has arrived', () => {
  const d = new ChunkedDecoder({ onChunk: () => {} });
  for (const piece of ['3\r\n', 'abc', '\r\n', '0\r\n', 'X: y\r\n']) {
    d.feed(Buffer.from(piece), 0);
    assert.equal(d.done, false, `after ${JSON.stringify(piece)}`);
  }
  d.feed(Buffer.from('\r\n'), 0);
  assert.equal(d.done, true);
});

test('invalid chunk sizes are 400', () => {
  for (const line of ['', 'g', 'x5', '-5', '+5', ' 5', '0x5', '5 5', '1234567890abc', '5\t\tz', '\u00e9']) {
    refused(`${line}\r\nhello\r\n0\r\n\r\n`, /invalid chunk size/);
  }
});

test('size lines and trailer lines must end in CRLF', () => {
  refused('5\nhello\r\n0\r\n\r\n', /CRLF/);
  refused('5\nhello\r\n0\r\n\r\n', /CRLF/, 'bytes');
  refused('3\r\nabc\r\n0\n\n', /CRLF/);
  refused('3\r\nabc\r\n0\r\nX: y\n\r\n', /CRLF/);
  // A bare CR inside a size line is not its end.
  refused('5\rx\r\nhello\r\n0\r\n\r\n');
});

test('chunk data must be followed by CRLF', () => {
  refused('5\r\nhelloX\r\n0\r\n\r\n', /not followed by CRLF/);
  refused('5\r\nhello\rX0\r\n\r\n', /not followed by CRLF/);
  refused('5\r\nhello\n0\r\n\r\n', /not followed by CRLF/);
  refused('5\r\nhello\r\n\r\n0\r\n\r\n');
  // Too much data for the announced size.
  refused('3\r\nhello\r\n0\r\n\r\n', /not followed by CRLF/, 'bytes');
});

test('an oversized size line is refused before its end arrives (byte by byte too)', () => {
  const ext = ';' + 'e'.repeat(5000);
  refused(`5${ext}\r\nhello\r\n0\r\n\r\n`, /too long/);
  refused(`5${ext}`, /too long/);
  refused(`5${ext}`, /too long/, 'bytes');
  // An extension just under the limit is fine.
  assert.equal(decode(Buffer.from(`5;${'e'.repeat(4000)}\r\nhello\r\n0\r\n\r\n`)).data.toString(), 'hello');
});

test('an oversized trailer section or trailer line is refused', () => {
  const field = `X-Big: ${'t'.repeat(1000)}\r\n`;
  const many = field.repeat(20); // ~20 KiB > 16 KiB
  refused(`3\r\nabc\r\n0\r\n${many}\r\n`, /trailer section too large/);
  refused(`3\r\nabc\r\n0\r\n${many}`, /trailer section too large/, 'bytes');
  refused(`3\r\nabc\r\n0\r\nX-Huge: ${'t'.repeat(5000)}\r\n\r\n`, /too long/);
  // A modest trailer section is fine.
  assert.equal(decode(Buffer.from(`3\r\nabc\r\n0\r\n${field.repeat(10)}\r\n`)).done, true);
});

// ---- found by the differential fuzzer (fuzz/http1.ts) ---------------------------------------------------

test('trailer lines are read by the head rules: bare CR, controls, obs-fold and non-token names are 400', () => {
  refused('1\r\nx\r\n0\r\nX-T: a\rb\r\n\r\n', /bare CR/);
  refused('1\r\nx\r\n0\r\nX-T: a\x00b\r\n\r\n', /control character/);
  refused('1\r\nx\r\n0\r\nX-T: a\r\n folded\r\n\r\n', /folding/);
  refused('1\r\nx\r\n0\r\nX-T : a\r\n\r\n', /trailer field name/);
  refused('1\r\nx\r\n0\r\nno colon\r\n\r\n', /trailer field name/);
  assert.equal(decode(Buffer.from('1\r\nx\r\n0\r\nX-T: a\tb\r\nY:\r\n\r\n')).done, true);
});

test('control characters in chunk extensions are 400 (HTAB aside)', () => {
  refused('1;a\x00\r\nx\r\n0\r\n\r\n', /control character/);
  refused('1;a=\x7f\r\nx\r\n0\r\n\r\n', /control character/);
  assert.equal(decode(Buffer.from('1;a=\tb\r\nx\r\n0\r\n\r\n')).data.toString(), 'x');
});
