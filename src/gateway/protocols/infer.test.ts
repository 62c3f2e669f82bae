import { test } from 'node:test';
import assert from 'node:assert/strict';
import { completionToInfer, inferToCompletion } from './infer.ts';
import { GatewayError } from '../http/errors.ts';

test('infer request → completion request', () => {
  assert.deepEqual(inferToCompletion({ inputs: { text: 'Hello world' } }, 'llama-7b'), { model: 'llama-7b', prompt: 'Hello world', stream: false });
  assert.deepEqual(
    inferToCompletion({ inputs: { text: 'Hi' }, parameters: { max_tokens: 16, temperature: 0.2, model: 'x', stream: true, top_p: 0.9 } }, 'm'),
    { model: 'm', prompt: 'Hi', max_tokens: 16, temperature: 0.2, top_p: 0.9, stream: false },
  );
  assert.deepEqual(inferToCompletion({ inputs: 'bare' }, 'm'), { model: 'm', prompt: 'bare', stream: false });
  for (const bad of [{}, { inputs: {} }, { inputs: { text: 3 } }, { inputs: [] }, { inputs: { text: 'x' }, parameters: [] }]) {
    const r = inferToCompletion(bad, 'm');
    assert.ok(r instanceof GatewayError, JSON.stringify(bad));
    assert.equal(r.status, 400);
    assert.equal(r.body().error.type, 'invalid_request_error');
  }
});

test('completion response → infer response', () => {
  const out = completionToInfer(
    {
      id: 'cmpl-1',
      object: 'text_completion',
      model: 'llama-7b',
      choices: [{ index: 0, text: ' there', finish_reason: 'length', logprobs: null }],
      usage: { prompt_tokens: 2, completion_tokens: 16, total_tokens: 18 },
    },
    'llama-7b',
    'req-1',
  );
  assert.deepEqual(out, {
    model_name: 'llama-7b',
    id: 'cmpl-1',
    outputs: { text: ' there', finish_reason: 'length' },
    usage: { prompt_tokens: 2, completion_tokens: 16, total_tokens: 18 },
  });
  assert.deepEqual(completionToInfer({ choices: [] }, 'm', 'req-2'), {
    model_name: 'm',
    id: 'req-2',
    outputs: { text: '', finish_reason: null },
    usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
  });
  assert.equal(completionToInfer({ error: {} }, 'm', 'r'), null);
  assert.equal(completionToInfer('x', 'm', 'r'), null);
});
