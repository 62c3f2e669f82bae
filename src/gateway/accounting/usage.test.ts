import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UsageMeter, requestUsage, estimatePromptTokens, findUsageObject, type UsageTarget } from './usage.ts';

const target = (injected: boolean): UsageTarget => ({ usage: null, usageInjected: injected });

const CHUNK1 = 'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi \\"usage\\":{"}}]}\n\n';
const CHUNK2 = 'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n';
const USAGE = 'data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":12,"total_tokens":19,"completion_tokens":7}}\n\n';
const DONE = 'data: [DONE]\n\n';
const WITHOUT = CHUNK1 + CHUNK2 + DONE;
const WITH = CHUNK1 + CHUNK2 + USAGE + DONE;

/** Relay `stream` cut at the given offsets; returns what the client receives. */
function relay(meter: UsageMeter, stream: string, cuts: number[]): string {
  const bytes = Buffer.from(stream);
  const out: Buffer[] = [];
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    const r = meter.relay(bytes.subarray(at, c));
    if (r !== null) out.push(r);
    at = c;
  }
  const tail = meter.end();
  if (tail !== null) out.push(tail);
  return Buffer.concat(out).toString();
}

describe('UsageMeter (SSE)', () => {
  it('drops the injected usage-only event and reads the counts, however the stream is cut', () => {
    const len = Buffer.byteLength(WITH);
    // Every single cut point, and pairs of cuts around the usage event.
    const usageAt = Buffer.byteLength(CHUNK1 + CHUNK2);
    const cutSets: number[][] = [[]];
    for (let i = 1; i < len; i++) cutSets.push([i]);
    for (let i = usageAt - 3; i < usageAt + Buffer.byteLength(USAGE) + 3; i += 7) for (let j = i + 1; j < len; j += 13) cutSets.push([i, j]);
    for (const cuts of cutSets) {
      const t = target(true);
      const got = relay(new UsageMeter(t, true), WITH, cuts);
      assert.equal(got, WITHOUT, `cuts ${cuts.join(',')}`);
      assert.deepEqual(t.usage, { prompt: 12, completion: 7 });
    }
  });

  it('keeps the usage event the client asked for', () => {
    const t = target(false);
    assert.equal(relay(new UsageMeter(t, true), WITH, [10, 200]), WITH);
    assert.deepEqual(t.usage, { prompt: 12, completion: 7 });
  });

  it('CRLF framing: the event and its blank line go', () => {
    const crlf = (s: string) => s.replace(/\n/g, '\r\n');
    const t = target(true);
    assert.equal(relay(new UsageMeter(t, true), crlf(WITH), [5]), crlf(WITHOUT));
    assert.deepEqual(t.usage, { prompt: 12, completion: 7 });
  });

  it('a stream without usage passes unchanged (a held partial line is flushed at the end)', () => {
    const t = target(true);
    const partial = CHUNK1 + 'data: {"unterminated';
    assert.equal(relay(new UsageMeter(t, true), partial, [3]), partial);
    assert.equal(t.usage, null);
  });

  it('does not hold a chunk that ends on a line boundary', () => {
    const m = new UsageMeter(target(true), true);
    const b = Buffer.from(CHUNK1);
    assert.equal(m.relay(b), b, 'same buffer, no copy');
  });
});

describe('UsageMeter (JSON)', () => {
  it('reads usage from the tail of a JSON body', () => {
    const body = JSON.stringify({ id: 'x', choices: [{ text: '"usage": {"prompt_tokens": 999}' }], usage: { prompt_tokens: 5, total_tokens: 9, completion_tokens: 4 } });
    const t = target(false);
    const m = new UsageMeter(t, false);
    const b = Buffer.from(body);
    for (let i = 0; i < b.length; i += 17) assert.ok(m.relay(b.subarray(i, i + 17)) !== null);
    m.end();
    assert.deepEqual(t.usage, { prompt: 5, completion: 4 });
  });
});

describe('requestUsage', () => {
  it('splices include_usage into a streaming body without stream_options', () => {
    const body = { model: 'm', stream: true, messages: [] };
    const t = target(false);
    const out = requestUsage(t, body, Buffer.from(JSON.stringify(body)));
    assert.equal(t.usageInjected, true);
    assert.deepEqual(JSON.parse(out.toString()), { ...body, stream_options: { include_usage: true } });
  });

  it('keeps other stream_options; leaves non-streaming and already-asking requests alone', () => {
    const body = { model: 'm', stream: true, stream_options: { continuous_usage_stats: false } };
    const t = target(false);
    const out = requestUsage(t, body, Buffer.from(JSON.stringify(body)));
    assert.deepEqual(JSON.parse(out.toString()).stream_options, { continuous_usage_stats: false, include_usage: true });
    assert.deepEqual(body.stream_options, { continuous_usage_stats: false }, 'the parsed body is not changed');
    for (const b of [{ model: 'm' }, { model: 'm', stream: true, stream_options: { include_usage: true } }]) {
      const t2 = target(false);
      const raw = Buffer.from(JSON.stringify(b));
      assert.equal(requestUsage(t2, b, raw), raw);
      assert.equal(t2.usageInjected, false);
    }
  });
});

describe('helpers', () => {
  it('findUsageObject skips "usage": null and escaped text', () => {
    const b = Buffer.from('{"a":"\\"usage\\":{","usage":null,"x":{"usage" : {"prompt_tokens":1}}}');
    const at = findUsageObject(b);
    assert.equal(b.toString('utf8', at, at + 2), '{"');
    assert.ok(b.toString().slice(0, at).endsWith('"usage" : '));
  });

  it('estimates prompt tokens from chat and completion bodies', () => {
    assert.equal(estimatePromptTokens({ prompt: 'x'.repeat(40) }), 10);
    assert.equal(estimatePromptTokens({ prompt: [1, 2, 3] }), 3);
    assert.equal(estimatePromptTokens({ messages: [{ role: 'user', content: 'x'.repeat(8) }, { role: 'user', content: [{ type: 'text', text: 'abcd' }] }] }), 8 + 3);
  });
});
