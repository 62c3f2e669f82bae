// Entries from JSON responses and from streams, and their replays: a replayed stream assembled again gives the
// same entry, and a replayed stream reads as the OpenAI SDK reads it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { entryFromJson, replayJson, replaySse, type CacheEntry } from './entry.ts';
import { SseAssembler } from './assembler.ts';

const chatBody = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'm',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Paris is the capital of France. '.repeat(5) + 'é🙂' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 },
};

function assemble(kind: 'chat' | 'completions', sse: string, split = 7): ReturnType<SseAssembler['finish']> {
  const a = new SseAssembler(kind);
  const bytes = Buffer.from(sse);
  for (let i = 0; i < bytes.length; i += split) a.push(bytes.subarray(i, i + split));
  return a.finish(0);
}

test('a chat response replays as JSON and as SSE that assembles back to the same entry', () => {
  const entry = entryFromJson('chat', chatBody, 0)!;
  assert.equal(entry.choices[0]!.content, chatBody.choices[0]!.message.content);
  const json = JSON.parse(replayJson(entry));
  assert.equal(json.object, 'chat.completion');
  assert.match(json.id, /^chatcmpl-cache-/);
  assert.deepEqual(json.choices[0].message, { role: 'assistant', content: entry.choices[0]!.content });
  assert.deepEqual(json.usage, chatBody.usage);

  const sse = replaySse(entry, true);
  assert.ok(sse.endsWith('data: [DONE]\n\n'));
  assert.ok(sse.split('\n\n').length > 5, 'content comes in several chunks');
  const usageEvent = sse.split('\n\n').at(-3)!;
  assert.deepEqual(JSON.parse(usageEvent.slice(6)).choices, []);
  const back = assemble('chat', sse);
  assert.ok(back.complete);
  assert.deepEqual(back.entry, entry);
  // Without include_usage there is no usage event (and the entry keeps no usage).
  assert.ok(!replaySse(entry, false).includes('"usage"'));
});

test('tool calls and completions survive the round trip', () => {
  const tools: CacheEntry = {
    kind: 'chat',
    model: 'm',
    storedAt: 0,
    usage: null,
    choices: [{ index: 0, role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }], finish_reason: 'tool_calls' }],
  };
  const t = assemble('chat', replaySse(tools, false), 5);
  assert.ok(t.complete);
  assert.deepEqual(t.entry, tools);
  const completion = entryFromJson('completions', { model: 'm', choices: [{ index: 0, text: ' upon a time', finish_reason: 'length' }] }, 0)!;
  const c = assemble('completions', replaySse(completion, false), 3);
  assert.ok(c.complete);
  assert.deepEqual(c.entry, completion);
  assert.equal(JSON.parse(replayJson(completion)).choices[0].text, ' upon a time');
});

test('tool call arguments streamed in fragments are merged', () => {
  const ev = (delta: unknown, finish: string | null = null) => `data: ${JSON.stringify({ model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  const sse =
    ev({ role: 'assistant' }) +
    ev({ tool_calls: [{ index: 0, id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a"' } }] }) +
    ev({ tool_calls: [{ index: 0, function: { arguments: ':1}' } }] }) +
    ev({}, 'tool_calls') +
    'data: [DONE]\n\n';
  const r = assemble('chat', sse);
  assert.ok(r.complete);
  assert.equal(r.entry.choices[0]!.tool_calls![0]!.function.arguments, '{"a":1}');
});

test('a stream that did not complete is never an entry', () => {
  const entry = entryFromJson('chat', chatBody, 0)!;
  const sse = replaySse(entry, false);
  assert.deepEqual(assemble('chat', sse.slice(0, sse.indexOf('data: [DONE]'))), { complete: false, reason: 'no_done' });
  const broken = sse.split('\n\n').slice(0, 3).join('\n\n') + '\n\ndata: {"error":{"message":"upstream","code":"upstream_error"}}\n\n';
  assert.deepEqual(assemble('chat', broken), { complete: false, reason: 'error_event' });
  const unfinished = 'data: {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}\n\ndata: [DONE]\n\n';
  assert.deepEqual(assemble('chat', unfinished), { complete: false, reason: 'unfinished_choice' });
  const big = new SseAssembler('chat', 100);
  big.push(Buffer.from(sse));
  assert.deepEqual(big.finish(), { complete: false, reason: 'too_large' });
  assert.equal(entryFromJson('chat', { error: { message: 'x' } }), undefined);
});
