import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderChatPrompt } from './chat-template.ts';
import { naturalLength, pieceText, TextStream } from './textgen.ts';
import { ApproxTokenizer } from './tokenizer.ts';

const PROSE =
  'The Kubernetes scheduler assigns pods to nodes based on resource requests, affinity rules and taints. ' +
  'In 2024, clusters with 5,000 nodes were common; operators reported that etcd latency dominated API response times.';

describe('ApproxTokenizer', () => {
  const tok = new ApproxTokenizer();

  it('gives about four characters per token on English prose', () => {
    const n = tok.count(PROSE);
    const charsPerToken = PROSE.length / n;
    assert.ok(charsPerToken > 3.3 && charsPerToken < 5, `chars/token ${charsPerToken.toFixed(2)}`);
    assert.equal(tok.encode(PROSE).length, n);
  });

  it('counts special tokens as one and splits long words and numbers', () => {
    assert.equal(tok.count('<|begin_of_text|><|eot_id|>'), 2);
    assert.equal(tok.count(' hello'), 1);
    assert.equal(tok.count(' internationalization'), 4);
    assert.equal(tok.count('1234567'), 3);
    assert.equal(tok.count(''), 0);
  });

  it('is deterministic, and a shared text prefix gives a shared id prefix', () => {
    const a = tok.encode('System prompt shared by many requests. Question one?');
    const b = tok.encode('System prompt shared by many requests. Question two?');
    assert.deepEqual(tok.encode('System prompt'), tok.encode('System prompt'));
    assert.deepEqual(a.slice(0, 8), b.slice(0, 8));
    assert.notDeepEqual(a, b);
    assert.ok(a.every((id) => Number.isInteger(id) && id >= 0 && id < 128_256));
  });

  it('chat template adds the per-message overhead', () => {
    const one = tok.count(renderChatPrompt([{ role: 'user', content: 'hi' }]));
    const two = tok.count(renderChatPrompt([{ role: 'system', content: 'hi' }, { role: 'user', content: [{ type: 'text', text: 'hi' }] }]));
    assert.ok(one >= 8);
    assert.ok(two > one);
  });
});

describe('pseudo-text', () => {
  it('is a deterministic stream of corpus pieces forming sentences', () => {
    const take = (seed: number, n: number) => {
      const s = new TextStream(seed);
      return Array.from({ length: n }, () => pieceText[s.next()]!).join('');
    };
    assert.equal(take(42, 50), take(42, 50));
    assert.notEqual(take(42, 50), take(43, 50));
    const text = take(1, 60);
    assert.match(text, /^[A-Z][a-z]+ [a-z]/);
    assert.ok(text.includes('. '), 'sentences end with a period');
  });

  it('natural length lies in [ceil(max/2), max]', () => {
    for (let seed = 0; seed < 200; seed++) {
      const n = naturalLength(seed, 32);
      assert.ok(n >= 16 && n <= 32);
    }
    assert.equal(naturalLength(5, 1), 1);
  });
});
