// The differential fuzzer of request framing (fuzz/http1.ts): a short run finds no failure, known smuggling
// shapes are judged as they should be, and the comparator does fail when a parser frames a request differently.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compare } from '../../../fuzz/http1/compare.ts';
import { fuzzOne, count, newTally } from '../../../fuzz/http1.ts';
import { parseLlhttp } from '../../../fuzz/http1/llhttp.ts';
import { parseOurs } from '../../../fuzz/http1/ours.ts';
import type { Trace } from '../../../fuzz/http1/trace.ts';

const judge = (text: string, ours: (b: Buffer) => Trace = (b) => parseOurs(b, null)) => {
  const input = Buffer.from(text, 'latin1');
  return compare(input, ours(input), parseLlhttp(input), parseLlhttp);
};

test('a short fuzz run: every input is classified, none fails', () => {
  const t = newTally();
  for (let i = 0; i < 3000; i++) count(t, fuzzOne(11, i).verdict);
  assert.equal(t.failures, 0);
  assert.ok((t.counts.get('agree') ?? 0) > 300, 'valid requests are generated');
  assert.ok((t.counts.get('ours-stricter') ?? 0) > 0 && (t.counts.get('both-reject') ?? 0) > 0);
});

test('known smuggling shapes: refused by ours, with a listed reason', () => {
  const cases: [string, RegExp][] = [
    ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n', /both|reject/],
    ['POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', /HTTP\/1\.0/],
    ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', /transfer codings/],
    ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0000000000000001\r\nx\r\n0\r\n\r\n', /chunk size/],
    ['CONNECT a:443 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc', /CONNECT/],
  ];
  for (const [input, re] of cases) {
    const v = judge(input);
    assert.ok(v.kind === 'ours-stricter' || v.kind === 'both-reject', `${JSON.stringify(input)}: ${JSON.stringify(v)}`);
    if (v.kind === 'ours-stricter') assert.match(v.category, re);
  }
  // Leniencies are verified by rewriting, never taken on trust.
  assert.deepEqual(judge('FOO / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nxGET / HTTP/1.1\r\nHost: a\r\n\r\n'), { kind: 'ours-lenient', categories: ['method'] });
  assert.deepEqual(judge('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1 ;a="b\r\nx\r\n0\r\n\r\n'), { kind: 'ours-lenient', categories: ['chunk-size'] });
});

test('the comparator fails a parser that frames differently', () => {
  const input = 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /next HTTP/1.1\r\nHost: a\r\n\r\n';
  assert.equal(judge(input).kind, 'agree');
  // A stub that reads one byte less of the body (so the next request starts a byte early).
  const short = (b: Buffer): Trace => {
    const t = parseOurs(b, null);
    const [first, second] = t.messages;
    return { ...t, messages: [{ ...first!, body: 'ab', end: first!.end - 1 }, { ...second!, method: 'cGET' }] };
  };
  const v = judge(input, short);
  assert.equal(v.kind, 'fail');
  // One that ignores Connection: close (keeps reading requests llhttp never sees).
  const keep = (b: Buffer): Trace => ({ ...parseOurs(b, null), messages: parseOurs(b, null).messages.map((m) => ({ ...m, keepAlive: true })) });
  assert.equal(judge('GET / HTTP/1.0\r\n\r\n', keep).kind, 'fail');
  // One that accepts obs-fold (llhttp refuses it, and no rewrite makes that equivalent).
  const fold = (): Trace => ({ messages: [{ method: 'GET', url: '/', headers: { host: 'a', x: 'a b' }, body: '', end: 36, keepAlive: true }], outcome: 'eof', reason: '', at: -1 });
  assert.equal(judge('GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n', fold).kind, 'fail');
});
