import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cacheIdentity, canonicalJson } from './request.ts';

const chat = (extra: Record<string, unknown> = {}, last = 'What is the capital of France?') => ({
  model: 'm',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: last },
  ],
  temperature: 0,
  ...extra,
});

test('canonical JSON sorts keys at every depth', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 3 }], c: null } }), '{"a":{"c":null,"d":[1,{"e":3,"f":2}]},"b":1}');
});

test('the exact key ignores key order, stream, stream_options and user, and sees every generation parameter', () => {
  const base = cacheIdentity('chat', chat(), 'm', undefined).exactKey;
  const reordered = { temperature: 0, messages: chat().messages, model: 'm' };
  assert.equal(cacheIdentity('chat', reordered, 'm', undefined).exactKey, base);
  assert.equal(cacheIdentity('chat', chat({ stream: true, stream_options: { include_usage: true }, user: 'x' }), 'm', undefined).exactKey, base);
  for (const extra of [{ temperature: 0.5 }, { max_tokens: 5 }, { stop: ['\n'] }, { seed: 1 }, { tools: [{ type: 'function', function: { name: 'f' } }] }]) {
    assert.notEqual(cacheIdentity('chat', chat(extra), 'm', undefined).exactKey, base, JSON.stringify(extra));
  }
  assert.notEqual(cacheIdentity('chat', chat(), 'other', undefined).exactKey, base);
  assert.notEqual(cacheIdentity('completions', chat(), 'm', undefined).exactKey, base);
  assert.notEqual(cacheIdentity('chat', chat(), 'm', 'alice').exactKey, base);
});

test('the semantic query is the last user text; the partition holds everything else', () => {
  const a = cacheIdentity('chat', chat(), 'm', undefined);
  const b = cacheIdentity('chat', chat({}, 'Tell me the capital city of France'), 'm', undefined);
  assert.equal(a.query, 'What is the capital of France?');
  assert.equal(a.semanticPartition, b.semanticPartition);
  assert.notEqual(a.exactKey, b.exactKey);
  const otherSystem = chat();
  otherSystem.messages[0]!.content = 'Be verbose.';
  assert.notEqual(cacheIdentity('chat', otherSystem, 'm', undefined).semanticPartition, a.semanticPartition);
  assert.notEqual(cacheIdentity('chat', chat({ temperature: 0.2 }), 'm', undefined).semanticPartition, a.semanticPartition);
  assert.notEqual(cacheIdentity('chat', chat(), 'm', 'bob').semanticPartition, a.semanticPartition);
  // Text parts are joined; a last message that is not the user's has no query.
  const parts = cacheIdentity('chat', { model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }] }, 'm', undefined);
  assert.equal(parts.query, 'a\nb');
  const image = cacheIdentity('chat', { model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 'm', undefined);
  assert.equal(image.query, undefined);
  const assistantLast = cacheIdentity('chat', { model: 'm', messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }] }, 'm', undefined);
  assert.equal(assistantLast.semanticPartition, undefined);
  assert.equal(cacheIdentity('completions', { model: 'm', prompt: 'Once upon' }, 'm', undefined).query, 'Once upon');
});
