// Speculative decoding in the simulated engine: configuration, acceptance, the loop on mocked timers, metrics.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { PagedKvCache } from './kv-cache.ts';
import type { LatencyParams } from './latency.ts';
import { seededRandom } from './latency.ts';
import { parseEngineArgs } from './options.ts';
import { Scheduler, type StepStats } from './scheduler.ts';
import { startEngine } from './server.ts';
import { acceptedTokens, expectedTokensPerStep, speculativeConfigOf, type SpeculativeConfig } from './speculative.ts';

const LAT: LatencyParams = {
  timeToFirstTokenMs: 10,
  prefillTimePerTokenMs: 0.5,
  interTokenLatencyMs: 4,
  interTokenLatencyPerSeqMs: 1,
  prefillAttentionTimeMs: 0,
  interTokenLatencyPerKvTokenMs: 0,
  kvTransferLatencyMs: 0,
  kvTransferTimePerTokenMs: 0,
  jitter: 0,
};

describe('speculative decoding configuration', () => {
  it("vLLM's --speculative-config and SGLang's flags", () => {
    assert.deepEqual(speculativeConfigOf({ config: { method: 'draft_model', model: 'llama3-1b', num_speculative_tokens: 5 } }, 'llama3-8b'), {
      method: 'draft_model',
      model: 'llama3-1b',
      numSpeculativeTokens: 5,
      acceptanceRate: 0.7,
      draftCost: 0.125,
    });
    assert.equal(speculativeConfigOf({ config: { model: 'llama3-1b', num_speculative_tokens: 4 } }, 'llama3-70b')!.draftCost, 0.05, 'a tiny draft costs at least 5 %');
    assert.equal(speculativeConfigOf({ config: { method: 'eagle3', model: 'head', num_speculative_tokens: 3 } }, 'm')!.acceptanceRate, 0.8);
    assert.deepEqual(speculativeConfigOf({ algorithm: 'STANDALONE', draftModelPath: 'small', numSteps: 3, numDraftTokens: 4 }, 'big'), {
      method: 'draft_model',
      model: 'small',
      numSpeculativeTokens: 3,
      acceptanceRate: 0.7,
      draftCost: 0.3,
    });
    assert.equal(speculativeConfigOf({ algorithm: 'NGRAM', numDraftTokens: 8, acceptanceRate: 0.5, draftCost: 0 }, 'm')!.numSpeculativeTokens, 7);
    assert.equal(speculativeConfigOf({}, 'm'), undefined);
    assert.throws(() => speculativeConfigOf({ config: { method: 'ngram' } }, 'm'), /num_speculative_tokens/);
    assert.throws(() => speculativeConfigOf({ config: { num_speculative_tokens: 2 }, acceptanceRate: 1 }, 'm'), /acceptance-rate/);
  });

  it('engine flags: what the SpeculativeDecoding controller writes starts a speculating engine', () => {
    const o = parseEngineArgs(['meta-llama/Llama-3.1-8B-Instruct', '--speculative-config', '{"method":"draft_model","model":"meta-llama/Llama-3.2-1B","num_speculative_tokens":5}'], { warn: () => {} });
    assert.deepEqual(o.speculative, { method: 'draft_model', model: 'meta-llama/Llama-3.2-1B', numSpeculativeTokens: 5, acceptanceRate: 0.7, draftCost: 0.125 });
    assert.deepEqual(o.ignoredArgs, []);
    const sg = parseEngineArgs(['--model-path', 'm', '--speculative-algorithm', 'EAGLE', '--speculative-num-steps', '3', '--speculative-eagle-topk', '1', '--speculative-num-draft-tokens', '4'], { warn: () => {} });
    assert.equal(sg.speculative?.method, 'eagle');
    assert.equal(sg.speculative?.numSpeculativeTokens, 3);
  });

  it('accepted proposals: (1 − α^(k+1)) / (1 − α) tokens per step on average', () => {
    const random = seededRandom(7);
    for (const [k, alpha] of [[5, 0.7], [3, 0.3], [4, 0.9]] as const) {
      let sum = 0;
      const n = 200_000;
      for (let i = 0; i < n; i++) sum += 1 + acceptedTokens(k, alpha, random);
      assert.ok(Math.abs(sum / n - expectedTokensPerStep(k, alpha)) < 0.02, `k=${k} α=${alpha}: ${sum / n}`);
    }
    assert.equal(expectedTokensPerStep(3, 0), 1);
  });
});

describe('Scheduler with speculative decoding', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setImmediate', 'Date'], now: 0 }));
  afterEach(() => mock.timers.reset());

  function run(speculative: SpeculativeConfig, maxTokens: number, alwaysAccept: boolean) {
    const steps: StepStats[] = [];
    const itl: number[] = [];
    const sched = new Scheduler({
      maxNumSeqs: 4,
      maxNumBatchedTokens: 1024,
      latency: LAT,
      kv: new PagedKvCache({ numBlocks: 1000, blockSize: 16 }),
      observer: { onFirstToken: () => {}, onInterToken: (s) => itl.push(s), onStep: (s) => steps.push({ ...s, specAcceptedPerPosition: [...s.specAcceptedPerPosition] }), onFinish: () => {} },
      now: () => Date.now(),
      speculative,
      acceptRandom: () => (alwaysAccept ? 0 : 0.999),
    });
    const tokens: number[] = [];
    let finish: string | undefined;
    sched.submit({ promptTokens: 100, maxTokens, finishReasonAtMax: 'length' }, { onToken: (s) => void tokens.push(Date.now() - s.arrivalTime), onFinish: (_s, r) => void (finish = r) });
    mock.timers.tick(0);
    for (let i = 0; i < 500; i++) mock.timers.tick(1);
    return { tokens, finish, steps, itl, sched };
  }

  it('every proposal accepted: k + 1 tokens per step, the step paying for verification and drafting', () => {
    // Step: ITL 4 + verification 3 × 1 + drafting 3 × 0.25 × 4 = 10 ms for 4 tokens (2.5 ms a token against 4).
    const { tokens, finish, steps, itl, sched } = run({ method: 'draft_model', numSpeculativeTokens: 3, acceptanceRate: 1 - 1e-9, draftCost: 0.25 }, 9, true);
    assert.deepEqual(tokens, [60, 70, 70, 70, 70, 80, 80, 80, 80]);
    assert.equal(finish, 'length');
    assert.deepEqual(itl, Array(8).fill(0.0025));
    const decode = steps.filter((s) => s.specDrafts > 0);
    assert.deepEqual(decode.map((s) => [s.specDraftTokens, s.specAcceptedTokens, s.generationTokens, s.specAcceptedPerPosition]), [
      [3, 3, 4, [1, 1, 1]],
      [3, 3, 4, [1, 1, 1]],
    ]);
    assert.equal(sched.kv.usage(), 0, 'blocks freed at the end');
  });

  it('no proposal accepted: one token per step, slower than without', () => {
    const { tokens } = run({ method: 'draft_model', numSpeculativeTokens: 3, acceptanceRate: 0.5, draftCost: 0.25 }, 5, false);
    // A 10 ms step for 3 proposals (4 ms without speculation), then 2, 1 and none as max_tokens nears (8, 6, 4 ms).
    assert.deepEqual(tokens, [60, 70, 78, 84, 88]);
  });

  it('proposals stop at max_tokens', () => {
    const { tokens, steps } = run({ method: 'ngram', numSpeculativeTokens: 5, acceptanceRate: 0.9, draftCost: 0 }, 3, true);
    // After the first token two remain: the target's own next token and one proposal (ITL 4 + 1 × 1), accepted.
    assert.deepEqual(tokens, [60, 65, 65]);
    assert.deepEqual(steps.filter((s) => s.specDrafts > 0).map((s) => s.specDraftTokens), [1]);
  });
});

describe('engine metrics', () => {
  it("vLLM's vllm:spec_decode_* counters, only with speculative decoding", async () => {
    const args = ['m-8b', '--host', '127.0.0.1', '--port', '0', '--time-to-first-token-ms', '1', '--inter-token-latency-ms', '1', '--inter-token-latency-per-seq-ms', '0'];
    const engine = await startEngine(parseEngineArgs([...args, '--speculative-config', '{"method":"ngram","num_speculative_tokens":3}'], { warn: () => {} }));
    try {
      const res = await fetch(`${engine.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm-8b', prompt: 'Hello there', max_tokens: 40 }) });
      const body = (await res.json()) as { usage: { completion_tokens: number } };
      assert.equal(body.usage.completion_tokens, 40);
      const metrics = await (await fetch(`${engine.url}/metrics`)).text();
      const value = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
      const drafts = value('vllm:spec_decode_num_drafts_total');
      const proposed = value('vllm:spec_decode_num_draft_tokens_total');
      const accepted = value('vllm:spec_decode_num_accepted_tokens_total');
      assert.ok(drafts > 0 && drafts < 39, `${drafts} drafts for 39 decoded tokens`);
      assert.equal(accepted, 39 - drafts, 'every step emits its own token plus the accepted ones');
      assert.ok(proposed >= accepted);
      assert.match(metrics, /vllm:spec_decode_num_accepted_tokens_per_pos_total\{[^}]*position="2"\}/);
    } finally {
      await engine.close();
    }
    const plain = await startEngine(parseEngineArgs(args, { warn: () => {} }));
    try {
      assert.doesNotMatch(await (await fetch(`${plain.url}/metrics`)).text(), /spec_decode/);
    } finally {
      await plain.close();
    }
  });
});
