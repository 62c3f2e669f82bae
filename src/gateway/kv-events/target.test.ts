// Reading a pod's KV-event target from its engine command line, and the prompt's token ids as the engine computes
// them (the gateway's hashes match the engine's only if both hold).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTokenizer } from '../../engine/tokenizer.ts';
import { tokenize } from '../../engine/tokenize.ts';
import { promptTokenIds } from './prompt-tokens.ts';
import { kvEventsTarget } from './target.ts';

const CFG = '{"enable_kv_cache_events":true,"publisher":"zmq","endpoint":"tcp://*:5557","replay_endpoint":"tcp://*:5558","topic":"kv-events"}';

describe('kvEventsTarget', () => {
  it('reads the endpoints, topic, hash and seed from a vLLM-style pod spec', () => {
    const { target } = kvEventsTarget(
      [
        { name: 'sidecar', args: ['--foo'] },
        {
          name: 'vllm',
          command: ['vllm', 'serve'],
          args: ['meta-llama/Llama-3.1-8B-Instruct', `--kv-events-config=${CFG}`, '--prefix-caching-hash-algo', 'sha256_cbor_64bit'],
          env: [{ name: 'PYTHONHASHSEED', value: '42' }],
        },
      ],
      '10.1.2.3',
      'fallback',
    );
    assert.ok(target);
    assert.equal(target.endpoint, 'tcp://10.1.2.3:5557');
    assert.equal(target.replayEndpoint, 'tcp://10.1.2.3:5558');
    assert.equal(target.topic, 'kv-events');
    assert.equal(target.algo, 'sha256_cbor_64bit');
    assert.equal(target.seed, '42');
    assert.equal(target.model, 'meta-llama/Llama-3.1-8B-Instruct');
    assert.equal(target.tokenizer, 'llama3');
  });

  it('defaults: sha256_cbor, seed "0", no replay; IPv6 pod addresses bracketed', () => {
    const { target } = kvEventsTarget([{ args: ['m', '--kv-events-config', '{"enable_kv_cache_events":true}', '--tokenizer', 'approx'] }], 'fd00::5', 'x');
    assert.equal(target!.endpoint, 'tcp://[fd00::5]:5557');
    assert.equal(target!.replayEndpoint, null);
    assert.equal(target!.algo, 'sha256_cbor');
    assert.equal(target!.seed, '0');
    assert.equal(target!.tokenizer, 'approx');
    assert.equal(target!.model, 'm');
  });

  it('no target when events are off or the hash cannot be reproduced (with the reason)', () => {
    assert.equal(kvEventsTarget([{ args: ['m'] }], '10.0.0.1', 'm').target, null);
    assert.equal(kvEventsTarget([{ args: ['m', '--kv-events-config', '{"enable_kv_cache_events":false}'] }], '10.0.0.1', 'm').target, null);
    const pickle = kvEventsTarget([{ args: ['m', '--kv-events-config', CFG, '--prefix-caching-hash-algo', 'sha256'] }], '10.0.0.1', 'm');
    assert.equal(pickle.target, null);
    assert.match(pickle.problem!, /sha256/);
    const secretSeed = kvEventsTarget([{ args: ['m', '--kv-events-config', CFG], env: [{ name: 'PYTHONHASHSEED', valueFrom: { secretKeyRef: {} } }] }], '10.0.0.1', 'm');
    assert.equal(secretSeed.target, null);
    assert.match(kvEventsTarget([{ args: ['m', '--kv-events-config', '{oops'] }], '10.0.0.1', 'm').problem!, /not JSON/);
  });
});

describe('promptTokenIds', () => {
  const tok = createTokenizer('llama3');
  const ctx = { tokenizer: tok, model: 'm', maxModelLen: 100_000, modelNames: () => ['m'] };

  it('equals the engine\'s token ids for completions (with BOS) and chat (through the template)', () => {
    const prompt = 'Summarise the following: ' + 'the cat sat on the mat. '.repeat(30);
    assert.deepEqual(promptTokenIds({ prompt }, tok, 'm'), (tokenize(ctx, { model: 'm', prompt }) as { tokens: number[] }).tokens);
    const messages = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: [{ type: 'text', text: 'Hello' }, { type: 'text', text: 'there' }] },
    ];
    assert.deepEqual(promptTokenIds({ messages }, tok, 'm'), (tokenize(ctx, { model: 'm', messages }) as { tokens: number[] }).tokens);
    assert.deepEqual(promptTokenIds({ prompt: [5, 6, 7] }, tok, 'm'), [5, 6, 7], 'token-id prompts as given');
    assert.equal(promptTokenIds({ messages: [] }, tok, 'm'), null);
    assert.equal(promptTokenIds(undefined, tok, 'm'), null);
  });
});
