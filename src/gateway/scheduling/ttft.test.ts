import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Endpoint, type EngineMetrics } from './endpoint.ts';
import { Scheduler } from './scheduler.ts';
import { compileProfile } from './profiles.ts';
import type { SchedulingRequest } from './types.ts';
import { PrefillMeter, calibrateTokens, charsPerTokenOf, estimateTokens, resetTokenCalibration, DEFAULT_CHARS_PER_TOKEN } from './work.ts';

function eps(n: number): Endpoint[] {
  return Array.from({ length: n }, (_, i) => new Endpoint('default', `p${i}`, `10.0.0.${i + 1}`, 8000));
}
const words = (seed: string, chars: number): string => {
  let s = '';
  let i = 0;
  while (s.length < chars) s += `${seed} word ${i++} `;
  return s.slice(0, chars);
};

/** A request the test holds on its pod the way the exchange does: awaiting and pendingPrefill until its first byte. */
interface Held {
  req: SchedulingRequest;
  ep: Endpoint;
}
function send(s: Scheduler, e: readonly Endpoint[], prompt: string, model = 'm'): Held {
  const req: SchedulingRequest = { model, body: { prompt }, headers: {} };
  const ep = s.schedule(req, e, { rr: 0 })!;
  ep.inflight++;
  ep.awaiting++;
  ep.pendingPrefill += req.work!;
  ep.prefill.sent(req.work!);
  return { req, ep };
}
function firstByte(h: Held): void {
  h.ep.awaiting--;
  h.ep.pendingPrefill -= h.req.work!;
}
function metrics(m: Partial<EngineMetrics>): EngineMetrics {
  return { waiting: 0, running: 0, kvUsage: NaN, cacheTokens: 0, loras: new Set(), maxLoras: 0, queuedTokens: NaN, at: performance.now(), inflightAtScrape: 0, awaitingAtScrape: 0, pendingAtScrape: 0, ...m };
}

test('ttft: load is counted in prompt tokens, not requests', () => {
  resetTokenCalibration();
  const e = eps(2);
  const rr = new Scheduler(compileProfile({ policy: 'round-robin', scorers: [{ name: 'ttft', weight: 1 }] }));
  // p0 prefills one 80k-character prompt (20k tokens); p1 three 800-character ones.
  const big = send(rr, [e[0]!], words('big', 80_000));
  for (let i = 0; i < 3; i++) send(rr, [e[1]!], words(`small${i}`, 800));
  assert.equal(big.req.work, 20_000, 'the pick records the uncached tokens it sends');
  assert.deepEqual(e.map((x) => [x.awaiting, x.pendingPrefill]), [[1, 20_000], [3, 600]]);
  const d = new Scheduler(compileProfile(undefined));
  const q = new Scheduler(compileProfile({ scorers: [{ name: 'queue', weight: 1 }] }));
  const next = { model: 'm', body: { prompt: words('next', 2000) }, headers: {} };
  assert.equal(q.schedule(next, e, { rr: 0 }), e[0], 'the request-counting queue scorer sees 1 against 3');
  assert.equal(d.schedule(next, e, { rr: 0 }), e[1], 'the default sees 20,000 tokens against 600');
  // Its first byte: the pod's work drops by exactly what the request carried.
  firstByte(big);
  assert.equal(e[0]!.pendingPrefill, 0);
});

test('ttft: a long conversation goes back to its history unless the queue there outweighs the saving', () => {
  resetTokenCalibration();
  const e = eps(4);
  const s = new Scheduler(compileProfile(undefined));
  // A 60 KB conversation (far beyond the first 16 KiB the prefix index used to hash) lands on some pod.
  const history = words('conversation', 60_000);
  const t1 = send(s, e, history);
  firstByte(t1);
  const home = t1.ep;
  // Other conversations fill every pod's index with their own histories.
  for (let i = 0; i < 6; i++) firstByte(send(s, e, words(`other${i}`, 20_000)));
  // The next turn shares the whole previous prompt: it returns home, and only its new part is work there.
  const turn2 = history + words(' reply and question', 2_000);
  const t2 = send(s, e, turn2);
  assert.equal(t2.ep, home, 'the history pod');
  // (to the index's resolution beyond 128 blocks: within an eighth of the matched length)
  assert.ok(t2.req.work! < 500 + 15_000 / 8, `only the new part is uncached: ${t2.req.work}`);
  firstByte(t2);
  // Home is now busy prefilling others' long prompts: more queued work than re-prefilling the history elsewhere.
  const busy = new Scheduler(compileProfile({ policy: 'round-robin', scorers: [{ name: 'ttft', weight: 1 }] }));
  for (let i = 0; i < 3; i++) send(busy, [home], words(`load${i}`, 40_000));
  const turn3 = turn2 + words(' more', 2_000);
  const t3 = send(s, e, turn3);
  assert.notEqual(t3.ep, home, `queued ${home.pendingPrefill} tokens outweigh the ${estimateTokens('m', turn2.length)} saved`);
  // A little queue does not: the saving wins.
  const e2 = eps(2);
  const s2 = new Scheduler(compileProfile(undefined));
  const h = send(s2, e2, history);
  firstByte(h);
  send(busy, [h.ep], words('light', 4_000));
  assert.equal(send(s2, e2, turn2).ep, h.ep, '1,000 queued tokens cost less than re-prefilling 15,000');
});

test('ttft: a hot prefix stays on its pod until the pod is saturated, then spills and spreads', () => {
  resetTokenCalibration();
  const e = eps(4);
  const s = new Scheduler(compileProfile(undefined));
  const system = words('system prompt', 16_000); // 4,000 tokens shared
  const held: Held[] = [];
  // One at a time, they follow the prefix: 100 uncached tokens there against 4,100 elsewhere.
  for (let i = 0; i < 4; i++) {
    held.push(send(s, e, system + words(` question ${i}`, 400)));
    firstByte(held[i]!);
  }
  const first = held[0]!.ep;
  assert.ok(held.every((h) => h.ep === first), 'the prefix pod takes the sequential ones');
  // The first prefilled all 4,100 tokens; the others their 100 (256 to the index's 8-block resolution here).
  assert.deepEqual(held.map((h) => h.req.work), [4_100, 256, 256, 256]);
  // Under a burst the prefix pod's queue grows until another pod's full prefill is quicker: it spills, and then
  // that pod holds the prefix too.
  for (let i = 4; i < 200; i++) held.push(send(s, e, system + words(` question ${i}`, 400)));
  const counts = e.map((x) => held.filter((h) => h.ep === x).length);
  assert.ok(counts.every((c) => c > 0), `the hot prefix spread over every pod: ${counts}`);
  const spread = Math.max(...e.map((x) => x.pendingPrefill)) - Math.min(...e.map((x) => x.pendingPrefill));
  assert.ok(spread <= 4_100, `queued work stays within one full prefill across pods: ${e.map((x) => x.pendingPrefill)}`);
  // Each pod had to prefill the prefix only about once: most requests carried just their own question.
  const full = held.filter((h) => h.req.work! > 1_000).length;
  assert.ok(full <= 8, `full prefills: ${full}`);
});

test('ttft: when every pod has a queue a miss weighs more (it delays what queues behind it); an idle pod takes one', () => {
  resetTokenCalibration();
  const e = eps(4);
  const s = new Scheduler(compileProfile(undefined));
  const rr = new Scheduler(compileProfile({ policy: 'round-robin', scorers: [{ name: 'ttft', weight: 1 }] }));
  const system = words('system', 16_000); // 4,000 tokens
  firstByte(send(s, e, system + words(' q0', 400)));
  const home = e.find((x) => x.prefix !== null && x.prefix.blocks > 0)!;
  // Four requests ahead of a first token on every pod: 2,000-token ones at home, 750-token ones elsewhere.
  for (const x of e) for (let i = 0; i < 4; i++) send(rr, [x], words(`${x.podName} load ${i}`, x === home ? 8_000 : 3_000));
  assert.deepEqual(e.map((x) => x.pendingPrefill).sort((a, b) => a - b), [3_000, 3_000, 3_000, 8_000]);
  // Alone, time to first token says elsewhere (3,000 + 4,100 < 8,000 + 256); under a fleet-wide queue the miss's
  // 4,100 tokens also delay the requests that will queue behind it: home.
  assert.equal(send(s, e, system + words(' q1', 400)).ep, home);
  // A pod with nothing queued takes the next one: nobody waits behind a miss there, and it becomes a second home.
  const idle = e.find((x) => x !== home)!;
  idle.pendingPrefill = 0;
  idle.awaiting = 0;
  assert.equal(send(s, e, system + words(' q2', 400)).ep, idle);
});

test('ttft: other senders’ waiting requests count at the pod’s mean work; a slower pod gets less', () => {
  resetTokenCalibration();
  const e = eps(2);
  const s = new Scheduler(compileProfile(undefined));
  const rr = new Scheduler(compileProfile({ policy: 'round-robin', scorers: [{ name: 'ttft', weight: 1 }] }));
  for (const x of e) firstByte(send(rr, [x], words(`w${x.podName}`, 8_000))); // mean work 2,000 tokens each
  // The scrape shows 3 requests waiting on p0 that the gateway did not send (another replica's).
  e[0]!.metrics = metrics({ waiting: 3 });
  e[1]!.metrics = metrics({ waiting: 0 });
  for (const x of e) x.fresh = true;
  assert.equal(e[0]!.queuedWork(), 6_000);
  // Where the engine exports its queued prompt tokens, those count instead (beyond the gateway's own of that moment).
  const mine = send(rr, [e[1]!], words('mine', 4_000));
  e[1]!.metrics = metrics({ waiting: 1, queuedTokens: 9_000, awaitingAtScrape: 1, pendingAtScrape: 1_000 });
  assert.equal(e[1]!.queuedWork(), 1_000 + 9_000 - 1_000, 'our 1,000 pending were in the scrape already');
  firstByte(mine);
  e[1]!.metrics = metrics({ waiting: 0, queuedTokens: 0 });
  assert.equal(s.schedule({ model: 'm', body: { prompt: words('a', 400) }, headers: {} }, e, { rr: 0 }), e[1]);
  // Measured rates: p0 prefills 20× faster than p1 (beyond the spread identical pods show, so its own rate counts),
  // so 1,000 queued tokens on p1 weigh more than 6,000 on p0.
  e[0]!.prefill.observe(10_000, 1_000);
  e[1]!.prefill.observe(10_000, 20_000);
  send(rr, [e[1]!], words('q', 4_000));
  assert.equal(s.schedule({ model: 'm', body: { prompt: words('b', 400) }, headers: {} }, e, { rr: 0 }), e[0]);
});

test('ttft: a prompt that does not fit in the free KV cache waits for running requests to free theirs', () => {
  resetTokenCalibration();
  const e = eps(2);
  const s = new Scheduler(compileProfile(undefined));
  // p0 has 5,000 tokens of prefill queued but plenty of free KV; p1 nothing queued but its KV cache 95% pinned.
  const rr = new Scheduler(compileProfile({ policy: 'round-robin', scorers: [{ name: 'ttft', weight: 1 }] }));
  send(rr, [e[0]!], words('queued', 20_000));
  e[0]!.metrics = metrics({ running: 2, kvUsage: 0.3, cacheTokens: 100_000 });
  e[1]!.metrics = metrics({ running: 8, kvUsage: 0.95, cacheTokens: 100_000 });
  for (const x of e) x.fresh = true;
  // A 2,000-token prompt fits in p1's 5,000 free tokens: p1. A 12,000-token one does not: p0, behind 5,000.
  assert.equal(s.schedule({ model: 'm', body: { prompt: words('short', 8_000) }, headers: {} }, e, { rr: 0 }), e[1]);
  assert.equal(s.schedule({ model: 'm', body: { prompt: words('long', 48_000) }, headers: {} }, e, { rr: 0 }), e[0]);
});

test('work estimates: characters per token calibrated from the engine’s usage; prefill rate from first bytes', () => {
  resetTokenCalibration();
  assert.equal(charsPerTokenOf('m'), DEFAULT_CHARS_PER_TOKEN);
  calibrateTokens('m', 3000, 1000);
  assert.equal(charsPerTokenOf('m'), 3, 'the first answer sets it');
  for (let i = 0; i < 200; i++) calibrateTokens('m', 5000, 1000);
  assert.ok(Math.abs(charsPerTokenOf('m') - 5) < 0.01, 'then a moving average follows the engine');
  assert.equal(charsPerTokenOf('other'), DEFAULT_CHARS_PER_TOKEN, 'per model');
  calibrateTokens('m', 0, 10);
  calibrateTokens('m', 10, 0);
  assert.ok(Math.abs(charsPerTokenOf('m') - 5) < 0.01, 'empty samples change nothing');
  calibrateTokens('garbage', 1_000_000, 1);
  assert.equal(charsPerTokenOf('garbage'), 16, 'bounded');

  const m = new PrefillMeter();
  assert.ok(Number.isNaN(m.rate), 'no rate before a sample');
  m.observe(100, 50);
  assert.ok(Number.isNaN(m.rate), 'tiny requests are no sample: fixed costs dominate them');
  m.observe(4000, 100);
  assert.equal(m.rate, 40);
  for (let i = 0; i < 100; i++) m.observe(4000, 400);
  assert.ok(Math.abs(m.rate - 10) < 0.1, `follows a slower pod: ${m.rate}`);
  m.sent(1000);
  m.sent(3000);
  assert.equal(m.meanWork, 1200);
  resetTokenCalibration();
});
