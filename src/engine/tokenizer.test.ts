import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import reference from 'llama3-tokenizer-js';
import { chatTemplateFor, pyJson, renderChatPrompt } from './chat-template.ts';
import { naturalLength, pieceText, TextStream } from './textgen.ts';
import { ApproxTokenizer, createTokenizer, Llama3Tokenizer } from './tokenizer.ts';
import { seededRandom } from './latency.ts';

const PROSE =
  'The Kubernetes scheduler assigns pods to nodes based on resource requests, affinity rules and taints. ' +
  'In 2024, clusters with 5,000 nodes were common; operators reported that etcd latency dominated API response times.';

describe('Llama3Tokenizer', () => {
  const tok = createTokenizer('llama3');

  it('gives exactly the ids of the llama3-tokenizer-js reference encoder on prose, code, JSON and other scripts', () => {
    const samples = [
      PROSE,
      readFileSync(new URL('./scheduler.ts', import.meta.url), 'utf8'),
      readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8').slice(0, 30_000),
      'Ünïcödé 日本語のテキスト、中文文本。Привет мир! 🎉🎉 émojis\t\ttabs   spaces\n\n\n  x',
      "I'M HERE they'll DON'T  \r\n\r\n 1234567 3.14159 αβγ ' ''s",
      '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|> <|not_special|>',
    ];
    for (const text of samples) {
      assert.deepEqual(tok.encode(text), reference.encode(text, { bos: false, eos: false }), text.slice(0, 60));
    }
  });

  it('knows the Llama-3 ids, special tokens and vocabulary spelling, and round-trips', () => {
    assert.deepEqual(tok.encode('Hello, my dog is cute'), [9906, 11, 856, 5679, 374, 19369]);
    assert.deepEqual(tok.encode('<|begin_of_text|><|eot_id|>'), [128000, 128009]);
    assert.equal(tok.bosTokenId, 128000);
    assert.equal(tok.vocabSize, 128_256);
    assert.equal(tok.idToToken(tok.encode(' hello')[0]!), 'Ġhello');
    assert.equal(tok.idToToken(128009), '<|eot_id|>');
    const text = 'Ünïcödé 🎉 <|eot_id|> done\n';
    assert.equal(tok.decode(tok.encode(text)), text);
    assert.throws(() => tok.decode([128_256]), RangeError);
    assert.equal(tok.count(PROSE), tok.encode(PROSE).length);
  });

  it('caches long prompts without handing out shared arrays', () => {
    const t = new Llama3Tokenizer();
    const long = PROSE.repeat(20);
    const a = t.encode(long);
    a.push(-1);
    const b = t.encode(long);
    assert.notEqual(b.at(-1), -1);
    assert.deepEqual(b, reference.encode(long, { bos: false, eos: false }));
    assert.equal(createTokenizer('llama3'), createTokenizer('meta-llama/Llama-3.1-8B-Instruct'), 'one shared instance');
  });

  it('a prompt extending a remembered one reuses its tokens and encodes exactly like the whole text', () => {
    // Fragments chosen to straddle the join: runs the pattern extends (letters, digits, spaces, newlines), contractions,
    // punctuation with newlines, other scripts, and special tokens, whole or cut in two.
    const FRAGMENTS = [
      'word', ' word', 'Words', '  ', ' ', '\n', '\n\n', '\r\n', '\t', '123', '4567', '1', "'s", "'", 'LL', ' ?!', '...\n',
      'é', '日本語', ' 🎉', '<|eot_id|>', '<|begin_of_text|>', '<|', 'eot_id|>', '<|start_header_id|>', 'assistant', '|>',
    ];
    const rng = seededRandom(7);
    const pick = (n: number): string => {
      let s = '';
      for (let i = 0; i < n; i++) s += FRAGMENTS[Math.floor(rng() * FRAGMENTS.length)];
      return s;
    };
    const t = new Llama3Tokenizer();
    let checked = 0;
    for (let trial = 0; trial < 150; trial++) {
      let text = PROSE.repeat(5).slice(0, 1024) + pick(20 + Math.floor(rng() * 200));
      assert.deepEqual(t.encode(text), reference.encode(text, { bos: false, eos: false }));
      // Three turns, each extending the last (as a conversation's prompts do).
      for (let turn = 0; turn < 3; turn++) {
        text += pick(1 + Math.floor(rng() * 40));
        assert.deepEqual(t.encode(text), reference.encode(text, { bos: false, eos: false }), JSON.stringify(text.slice(-120)));
        checked++;
      }
    }
    assert.equal(checked, 450);
    // Each extension reuses at least the 1,024-character head (≈ 200 tokens).
    assert.ok(t.reusedTokens > 450 * 180, `tokens were reused (${t.reusedTokens})`);
  });
});

describe('chat template', () => {
  it('renders Llama-3.1 Instruct: the dated system turn, trimmed content, generation prompt', () => {
    const text = renderChatPrompt([
      { role: 'system', content: '  Be brief. ' },
      { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] },
    ]);
    assert.equal(
      text,
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n' +
        'Today Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\na\nb<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
    assert.equal(createTokenizer().count(renderChatPrompt([{ role: 'user', content: 'hi' }])), 36);
  });

  it('puts tools in the first user message and renders tool calls and results', () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
    const text = renderChatPrompt(
      [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', content: 'sunny', tool_call_id: 'c1' },
      ],
      tools,
    );
    assert.ok(text.includes('system<|end_header_id|>\n\nEnvironment: ipython\nCutting Knowledge Date'));
    assert.ok(text.includes('Given the following functions') && text.includes('"name": "get_weather"') && text.endsWith('<|start_header_id|>assistant<|end_header_id|>\n\n'));
    assert.ok(text.includes('    "type": "function"'), 'tools as JSON with indent 4');
    assert.ok(text.includes('{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|>'));
    assert.ok(text.includes('<|start_header_id|>ipython<|end_header_id|>\n\n"sunny"<|eot_id|>'));
    assert.equal(pyJson({ a: [1, 'x'], b: {} }), '{"a": [1, "x"], "b": {}}');
  });

  it('Llama-3.0 models get the plain template; continue_final_message leaves the turn open', () => {
    assert.equal(chatTemplateFor('meta-llama/Meta-Llama-3-8B-Instruct'), 'llama3');
    assert.equal(chatTemplateFor('meta-llama/Llama-3.1-8B-Instruct'), 'llama3.1');
    assert.equal(chatTemplateFor('Qwen/Qwen2.5-7B'), 'llama3.1');
    const msgs = [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'Hel' }];
    assert.equal(
      renderChatPrompt(msgs, undefined, { template: 'llama3', continueFinalMessage: true }),
      '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHel',
    );
  });
});

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
