import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { BlockCounter } from './kv-cache.ts';
import { stepDurationMs, type LatencyParams } from './latency.ts';
import { Scheduler, type FinishReason, type SchedulerObserver, type Sequence, type SequenceSpec } from './scheduler.ts';

// The loop runs on mocked timers and a mocked clock (Date.now), so timings are exact.

const LAT: LatencyParams = {
  timeToFirstTokenMs: 10,
  prefillTimePerTokenMs: 0.5,
  interTokenLatencyMs: 4,
  interTokenLatencyPerSeqMs: 1,
  jitter: 0,
};

interface Trace {
  tokens: number[];
  finish?: FinishReason;
}

function setup(opts: { maxNumSeqs?: number; maxNumBatchedTokens?: number; numBlocks?: number; blockSize?: number } = {}) {
  const kv = new BlockCounter(opts.numBlocks ?? 10_000, opts.blockSize ?? 16);
  const stats = { preemptions: 0, ttft: [] as number[], steps: 0 };
  const observer: SchedulerObserver = {
    onFirstToken: (_s, t) => stats.ttft.push(t),
    onInterToken: () => {},
    onStep: (s) => {
      stats.preemptions += s.preemptions;
      stats.steps++;
    },
    onFinish: () => {},
  };
  const sched = new Scheduler({
    maxNumSeqs: opts.maxNumSeqs ?? 4,
    maxNumBatchedTokens: opts.maxNumBatchedTokens ?? 1024,
    latency: LAT,
    kv,
    observer,
    now: () => Date.now(),
  });
  const submit = (spec: Partial<SequenceSpec> & { promptTokens: number; maxTokens: number }) => {
    const trace: Trace = { tokens: [] };
    const seq = sched.submit(
      { finishReasonAtMax: 'length', ...spec },
      {
        onToken: (s) => void trace.tokens.push(Date.now() - s.arrivalTime),
        onFinish: (_s, r) => void (trace.finish = r),
      },
    );
    return { seq, trace };
  };
  return { sched, kv, stats, submit };
}

/** Advance mocked time in 1 ms ticks (lets setImmediate and timers interleave as they would). */
function advance(ms: number): void {
  mock.timers.tick(0);
  for (let i = 0; i < ms; i++) mock.timers.tick(1);
}

describe('Scheduler', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setImmediate', 'Date'], now: 0 }));
  afterEach(() => mock.timers.reset());

  it('step time follows the latency formula', () => {
    assert.equal(stepDurationMs(LAT, { decodeSeqs: 0, prefillTokens: 0 }), 0);
    assert.equal(stepDurationMs(LAT, { decodeSeqs: 1, prefillTokens: 0 }), 4);
    assert.equal(stepDurationMs(LAT, { decodeSeqs: 5, prefillTokens: 0 }), 8);
    assert.equal(stepDurationMs(LAT, { decodeSeqs: 0, prefillTokens: 100 }), 60);
    assert.equal(stepDurationMs(LAT, { decodeSeqs: 3, prefillTokens: 20 }), 10 + 2 + 10);
  });

  it('gives a lone request TTFT = fixed + per-token prefill, then one token per ITL, and goes idle', () => {
    const { sched, submit } = setup();
    const { trace } = submit({ promptTokens: 100, maxTokens: 4 });
    advance(200);
    assert.deepEqual(trace.tokens, [60, 64, 68, 72]);
    assert.equal(trace.finish, 'length');
    assert.equal(sched.numRunning, 0);
    assert.ok(sched.idle, 'no timer pending when idle');
  });

  it('runs at most max-num-seqs; the rest wait FIFO and start as slots free', () => {
    const { sched, submit } = setup({ maxNumSeqs: 2 });
    const a = submit({ promptTokens: 10, maxTokens: 3 });
    const b = submit({ promptTokens: 10, maxTokens: 50 });
    const c = submit({ promptTokens: 10, maxTokens: 3 });
    const d = submit({ promptTokens: 10, maxTokens: 3 });
    advance(1);
    assert.equal(sched.numRunning, 2);
    assert.equal(sched.numWaiting, 2);
    advance(50); // prefill 20 ms, two decode steps of 5 ms, then c's prefill with b's decode: 15 ms
    assert.equal(a.trace.finish, 'length');
    assert.equal(c.trace.tokens.length > 0, true, 'c took a\'s slot');
    assert.equal(d.trace.tokens.length, 0, 'd still waits behind c');
    assert.equal(sched.numRunning, 2);
    advance(1000);
    for (const x of [a, b, c, d]) assert.equal(x.trace.finish, 'length');
    assert.equal(b.trace.tokens.length, 50);
    assert.ok(sched.idle);
  });

  it('chunks a long prefill to the step token budget', () => {
    const { submit } = setup({ maxNumBatchedTokens: 64 });
    const { trace } = submit({ promptTokens: 200, maxTokens: 1 });
    advance(500);
    // 64 + 64 + 64 + 8 tokens: 4 prefill steps of 10 + 0.5 × tokens
    assert.deepEqual(trace.tokens, [3 * (10 + 32) + (10 + 4)]);
  });

  it('batches decodes: ITL grows with the number of running sequences', () => {
    const { submit } = setup({ maxNumSeqs: 8 });
    const runs = Array.from({ length: 5 }, () => submit({ promptTokens: 4, maxTokens: 3 }));
    advance(200);
    const t = runs[0]!.trace.tokens;
    assert.equal(t[0], 10 + 0.5 * 20); // one prefill step for all five prompts
    assert.equal(t[1]! - t[0]!, 4 + 4 * 1); // decode step with 5 sequences
  });

  it('frees the slot and blocks of an aborted sequence', () => {
    const { sched, kv, submit } = setup({ maxNumSeqs: 1 });
    const a = submit({ promptTokens: 32, maxTokens: 1000 });
    const b = submit({ promptTokens: 32, maxTokens: 2 });
    advance(100);
    assert.ok(a.trace.tokens.length > 0);
    assert.equal(b.trace.tokens.length, 0);
    assert.ok(kv.usedBlocks() > 0);
    sched.abort(a.seq);
    assert.equal(a.trace.finish, 'abort');
    assert.equal(sched.numRunning, 0);
    advance(100);
    assert.equal(b.trace.finish, 'length');
    assert.equal(kv.usedBlocks(), 0);
    assert.ok(sched.idle);
  });

  it('aborting a waiting sequence removes it from the queue', () => {
    const { sched, submit } = setup({ maxNumSeqs: 1 });
    submit({ promptTokens: 8, maxTokens: 100 });
    const b = submit({ promptTokens: 8, maxTokens: 2 });
    advance(5);
    assert.equal(sched.numWaiting, 1);
    sched.abort(b.seq);
    assert.equal(sched.numWaiting, 0);
    assert.equal(b.trace.finish, 'abort');
  });

  it('preempts the newest sequence when KV blocks run out, and still finishes everything', () => {
    // 6 blocks of 4 tokens = 24 tokens; two sequences of 8 prompt tokens growing to 18 each cannot both fit.
    const { stats, kv, submit, sched } = setup({ maxNumSeqs: 2, numBlocks: 6, blockSize: 4 });
    const a = submit({ promptTokens: 8, maxTokens: 10 });
    const b = submit({ promptTokens: 8, maxTokens: 10 });
    advance(2000);
    assert.equal(a.trace.finish, 'length');
    assert.equal(b.trace.finish, 'length');
    assert.equal(a.trace.tokens.length, 10);
    assert.equal(b.trace.tokens.length, 10);
    assert.ok(stats.preemptions > 0, 'a preemption happened');
    assert.ok(b.seq.numPreemptions > 0, 'the newer sequence was the victim');
    assert.equal(kv.usedBlocks(), 0);
    assert.ok(sched.idle);
  });

  it('a listener that throws loses its sequence, not the loop', (t) => {
    t.mock.method(process.stderr, 'write', () => true);
    const { sched, submit } = setup();
    let finished: FinishReason | undefined;
    sched.submit(
      { promptTokens: 5, maxTokens: 10, finishReasonAtMax: 'length' },
      {
        onToken: () => {
          throw new Error('socket gone');
        },
        onFinish: (_s, r) => void (finished = r),
      },
    );
    const ok = submit({ promptTokens: 5, maxTokens: 3 });
    advance(100);
    assert.equal(finished, 'abort');
    assert.equal(ok.trace.finish, 'length');
    assert.ok(sched.idle);
  });

  it('listener can end a sequence early with stop', () => {
    const { sched } = setup();
    let n = 0;
    let reason: FinishReason | undefined;
    sched.submit(
      { promptTokens: 5, maxTokens: 100, finishReasonAtMax: 'length' },
      { onToken: () => (++n === 3 ? 'stop' : null), onFinish: (_s: Sequence, r) => void (reason = r) },
    );
    advance(100);
    assert.equal(n, 3);
    assert.equal(reason, 'stop');
  });
});
