import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { PagedKvCache } from './kv-cache.ts';
import { stepDurationMs, type LatencyParams } from './latency.ts';
import { Scheduler, type FinishReason, type SchedulerObserver, type Sequence, type SequenceSpec } from './scheduler.ts';

// The loop runs on mocked timers and a mocked clock (Date.now), so timings are exact.

const LAT: LatencyParams = {
  timeToFirstTokenMs: 10,
  prefillTimePerTokenMs: 0.5,
  interTokenLatencyMs: 4,
  interTokenLatencyPerSeqMs: 1,
  prefillAttentionTimeMs: 0,
  interTokenLatencyPerKvTokenMs: 0,
  kvTransferLatencyMs: 20,
  kvTransferTimePerTokenMs: 0.1,
  jitter: 0,
};

interface Trace {
  tokens: number[];
  finish?: FinishReason;
}

function setup(
  opts: { maxNumSeqs?: number; maxNumBatchedTokens?: number; numBlocks?: number; blockSize?: number; maxLoras?: number; latency?: Partial<LatencyParams> } = {},
) {
  const kv = new PagedKvCache({ numBlocks: opts.numBlocks ?? 10_000, blockSize: opts.blockSize ?? 16 });
  const stats = { preemptions: 0, ttft: [] as number[], steps: 0, hits: 0, queries: 0 };
  const observer: SchedulerObserver = {
    onFirstToken: (_s, t) => stats.ttft.push(t),
    onInterToken: () => {},
    onStep: (s) => {
      stats.preemptions += s.preemptions;
      stats.hits += s.prefixCacheHits;
      stats.queries += s.prefixCacheQueries;
      stats.steps++;
    },
    onFinish: () => {},
  };
  const sched = new Scheduler({
    maxNumSeqs: opts.maxNumSeqs ?? 4,
    maxNumBatchedTokens: opts.maxNumBatchedTokens ?? 1024,
    latency: { ...LAT, ...opts.latency },
    kv,
    observer,
    maxLoras: opts.maxLoras ?? 1,
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

  it('queued prompt tokens: whole prompts waiting, the rest of a chunked prefill, none once prefilled', () => {
    const { sched, submit } = setup({ maxNumSeqs: 1, maxNumBatchedTokens: 64 });
    submit({ promptTokens: 200, maxTokens: 2 });
    submit({ promptTokens: 50, maxTokens: 2 });
    assert.equal(sched.queuedPromptTokens(), 250);
    advance(50); // the first step (42 ms) prefilled 64 of the first prompt's 200; the second is under way
    assert.equal(sched.queuedPromptTokens(), 250 - 64);
    advance(1000);
    assert.equal(sched.queuedPromptTokens(), 0);
    assert.ok(sched.idle);
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

  it('a repeated prompt hits the prefix cache: lower TTFT, cached tokens counted', () => {
    const { submit, stats } = setup();
    const ids = Array.from({ length: 200 }, (_, i) => i + 1);
    const first = submit({ promptTokens: 200, promptTokenIds: ids, maxTokens: 2 });
    advance(300);
    const again = submit({ promptTokens: 200, promptTokenIds: ids, maxTokens: 2 });
    advance(300);
    assert.equal(first.seq.numCachedTokens, 0);
    assert.equal(again.seq.numCachedTokens, 192, '12 full blocks of 16; the last prompt token is always computed');
    assert.equal(first.trace.tokens[0], 10 + 0.5 * 200);
    assert.equal(again.trace.tokens[0], 10 + 0.5 * 8);
    assert.equal(stats.hits, 192);
    assert.equal(stats.queries, 400);
  });

  it('TTFT grows with the uncached prompt length', () => {
    const { submit } = setup({ latency: { prefillAttentionTimeMs: 0.001 } });
    const ttft = (n: number): number => {
      const r = submit({ promptTokens: n, maxTokens: 1 });
      advance(2000);
      return r.trace.tokens[0]!;
    };
    const [a, b, c] = [ttft(100), ttft(400), ttft(800)];
    assert.ok(a < b && b < c);
    assert.equal(b, 10 + 0.5 * 400 + 0.001 * 400 * 200, 'fixed + per token + attention pairs');
  });

  it('ITL grows with the context the batch reads', () => {
    const run = (promptTokens: number): number => {
      const { submit } = setup({ maxNumBatchedTokens: 4096, latency: { interTokenLatencyPerKvTokenMs: 0.01 } });
      const r = submit({ promptTokens, maxTokens: 3 });
      advance(3000);
      return r.trace.tokens[2]! - r.trace.tokens[1]!;
    };
    // Timers fire on whole milliseconds: within 1 ms of the formula.
    assert.ok(Math.abs(run(100) - (4 + 0.01 * 102)) <= 1);
    assert.ok(Math.abs(run(1000) - (4 + 0.01 * 1002)) <= 1);
  });

  it('KV usage is bounded by eviction: many distinct long prompts all finish in a small cache', () => {
    const { submit, kv, sched } = setup({ maxNumSeqs: 4, numBlocks: 64, blockSize: 16 });
    const runs = Array.from({ length: 12 }, (_, k) =>
      submit({ promptTokens: 200, promptTokenIds: Array.from({ length: 200 }, (_, i) => k * 1000 + i), maxTokens: 4 }),
    );
    let peak = 0;
    for (let t = 0; t < 3000; t += 10) {
      advance(10);
      peak = Math.max(peak, kv.usage());
    }
    assert.ok(runs.every((r) => r.trace.finish === 'length'));
    assert.ok(peak > 0.5 && peak <= 1, `peak usage ${peak}`);
    assert.ok(kv.stats.evictions > 0, 'old prompts were evicted to make room');
    assert.equal(kv.usage(), 0);
    assert.ok(sched.idle);
  });

  it('at most --max-loras adapters run at once; requests for another adapter wait, others pass them', () => {
    const { submit, sched } = setup({ maxNumSeqs: 8, maxLoras: 1 });
    const a1 = submit({ promptTokens: 8, maxTokens: 20, lora: 'a' });
    const b1 = submit({ promptTokens: 8, maxTokens: 2, lora: 'b' });
    const a2 = submit({ promptTokens: 8, maxTokens: 2, lora: 'a' });
    const base = submit({ promptTokens: 8, maxTokens: 2 });
    advance(1);
    assert.deepEqual(sched.runningLoras(), ['a']);
    assert.deepEqual(sched.waitingLoras(), ['b']);
    assert.equal(sched.numRunning, 3, 'a2 and the base model request skip past b1');
    advance(40);
    assert.equal(a2.trace.finish, 'length');
    assert.equal(base.trace.finish, 'length');
    assert.equal(b1.trace.tokens.length, 0, 'b waits while a runs');
    advance(500);
    assert.equal(a1.trace.finish, 'length');
    assert.equal(b1.trace.finish, 'length');
    assert.ok(b1.trace.tokens[0]! > a1.trace.tokens.at(-1)!, 'b started after a finished');
  });

  it('a remote prefill (P/D decode side) costs a KV transfer instead of prefill, without blocking the batch', () => {
    const { submit, sched } = setup({ maxNumBatchedTokens: 4096 });
    const local = submit({ promptTokens: 1000, maxTokens: 1 });
    advance(1000);
    const other = submit({ promptTokens: 4, maxTokens: 30 });
    const remote = submit({ promptTokens: 1000, maxTokens: 3, remotePrefill: true });
    advance(1);
    assert.equal(sched.numWaiting, 1, 'the transferring sequence counts as waiting');
    advance(1000);
    assert.equal(local.trace.tokens[0], 10 + 0.5 * 1000);
    // Transfer 20 + 0.1 × 1000 = 120 ms, then the last prompt token as a decode step.
    const ttft = remote.trace.tokens[0]!;
    assert.ok(ttft >= 120 && ttft < 120 + 2 * 8, `remote TTFT ${ttft}`);
    assert.equal(remote.seq.numCachedTokens, 0);
    assert.equal(other.trace.finish, 'length');
    assert.equal(remote.trace.finish, 'length');
  });

  it('preempted sequences re-use their cached blocks when they come back', () => {
    const { submit, stats } = setup({ maxNumSeqs: 2, numBlocks: 8, blockSize: 4 });
    const ids = (k: number) => Array.from({ length: 8 }, (_, i) => k * 100 + i);
    const a = submit({ promptTokens: 8, promptTokenIds: ids(1), maxTokens: 12 });
    const b = submit({ promptTokens: 8, promptTokenIds: ids(2), maxTokens: 12 });
    advance(3000);
    assert.equal(a.trace.finish, 'length');
    assert.equal(b.trace.finish, 'length');
    assert.ok(stats.preemptions > 0);
  });

  it('hasRoomFor enforces the waiting-queue bound', () => {
    const kv = new PagedKvCache({ numBlocks: 100, blockSize: 16 });
    const sched = new Scheduler({ maxNumSeqs: 1, maxNumBatchedTokens: 64, latency: LAT, kv, maxWaiting: 2, now: () => Date.now() });
    const l = { onToken: () => null, onFinish: () => {} };
    sched.submit({ promptTokens: 4, maxTokens: 100, finishReasonAtMax: 'length' }, l);
    advance(1);
    assert.equal(sched.hasRoomFor(2), true);
    sched.submit({ promptTokens: 4, maxTokens: 1, finishReasonAtMax: 'length' }, l);
    sched.submit({ promptTokens: 4, maxTokens: 1, finishReasonAtMax: 'length' }, l);
    assert.equal(sched.hasRoomFor(1), false);
    sched.stop();
  });
});
