import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Endpoint, EndpointRegistry, type EngineMetrics } from './endpoint.ts';
import { Scheduler } from './scheduler.ts';
import { BlockHasher, PrefixLru, PrefixCacheScorer, DEFAULT_PREFIX_CONFIG, capacityFor, indexedBlock, indexedCount } from './prefix.ts';
import { HashRing, KvCacheScorer, LoraAffinityScorer, QueueScorer, RunningScorer, SessionAffinityScorer, cookieValue } from './scorers.ts';
import { compileProfile } from './profiles.ts';
import type { SchedulingRequest } from './types.ts';

function eps(n: number): Endpoint[] {
  return Array.from({ length: n }, (_, i) => new Endpoint('default', `p${i}`, `10.0.0.${i + 1}`, 8000));
}
function req(body: Record<string, unknown> | undefined, headers: Record<string, string> = {}, extra: Partial<SchedulingRequest> = {}): SchedulingRequest {
  return { model: 'm', body, headers, ...extra };
}
function metrics(m: Partial<EngineMetrics>): EngineMetrics {
  return { waiting: 0, running: 0, kvUsage: NaN, cacheTokens: 0, loras: new Set(), maxLoras: 0, queuedTokens: NaN, at: performance.now(), inflightAtScrape: 0, awaitingAtScrape: 0, pendingAtScrape: 0, ...m };
}
const text = (seed: string, chars: number): string => {
  let s = '';
  let i = 0;
  while (s.length < chars) s += `${seed} sentence ${i++} of the shared system prompt. `;
  return s.slice(0, chars);
};

test('block hashes are chained: same prefix → same leading hashes, a change alters every later block', () => {
  const h = new BlockHasher(64, 64);
  const a = text('alpha', 64 * 10);
  h.hashBody('m', { prompt: a });
  const first = Array.from(h.hashes.subarray(0, h.n));
  assert.equal(first.length, 10);
  assert.equal(new Set(first).size, 10);
  // Same first 5 blocks, different after.
  const b = a.slice(0, 64 * 5) + text('beta', 64 * 5);
  h.hashBody('m', { prompt: b });
  const second = Array.from(h.hashes.subarray(0, h.n));
  assert.deepEqual(second.slice(0, 5), first.slice(0, 5));
  for (let i = 5; i < 10; i++) assert.notEqual(second[i], first[i]);
  // Changing block 2 changes blocks 3.. even though they are identical text.
  const c = a.slice(0, 128) + 'X' + a.slice(129);
  h.hashBody('m', { prompt: c });
  assert.equal(h.hashes[1], first[1]);
  for (let i = 2; i < 10; i++) assert.notEqual(h.hashes[i], first[i]);
  // Another model name: nothing shared.
  h.hashBody('other', { prompt: a });
  assert.notEqual(h.hashes[0], first[0]);
  // Partial trailing block dropped; maxBlocks bounds the work.
  h.hashBody('m', { prompt: a.slice(0, 64 * 3 + 10) });
  assert.equal(h.n, 3);
  const small = new BlockHasher(64, 4);
  small.hashBody('m', { prompt: a });
  assert.equal(small.n, 4);
  assert.deepEqual(Array.from(small.hashes), first.slice(0, 4));
});

test('long text hashes the same whole (copied to a buffer) or block by block (read in place), any code units', () => {
  const whole = new BlockHasher(128, 4096);
  const pieces = new BlockHasher(128, 4096);
  // Past the 512-unit threshold, with Latin-1, CJK, an emoji's surrogate pair and a lone surrogate.
  const long = (text('wide', 30_000) + 'é中😀\ud800' + text('tail', 9_000)).repeat(2);
  whole.reset('m');
  whole.feed(long);
  pieces.reset('m');
  // Block-sized pieces (below the copy threshold) split nowhere the chain would notice.
  for (let i = 0; i < long.length; i += 128) pieces.feed(long.slice(i, i + 128));
  assert.equal(whole.n, Math.floor(long.length / 128));
  assert.equal(pieces.n, whole.n);
  assert.deepEqual(Array.from(pieces.hashes.subarray(0, pieces.n)), Array.from(whole.hashes.subarray(0, whole.n)));
  // A bound on blocks bounds the copy too: the hasher stops where maxBlocks ends, whichever path.
  const capped = new BlockHasher(128, 10);
  capped.hashBody('m', { prompt: long });
  assert.equal(capped.n, 10);
  assert.deepEqual(Array.from(capped.hashes), Array.from(whole.hashes.subarray(0, 10)));
  assert.equal(capped.chars, long.length, 'every character counted for the size estimate');
});

test('chat messages hash like one text; text parts count; prompt lists use the first', () => {
  const h = new BlockHasher(16, 64);
  const sys = text('sys', 200);
  h.hashBody('m', { messages: [{ role: 'system', content: sys }, { role: 'user', content: 'question one' }] });
  const a = Array.from(h.hashes.subarray(0, h.n));
  h.hashBody('m', { messages: [{ role: 'system', content: [{ type: 'text', text: sys }] }, { role: 'user', content: 'another question entirely' }] });
  const b = Array.from(h.hashes.subarray(0, h.n));
  const shared = Math.floor(('system\n'.length + 200) / 16);
  assert.deepEqual(a.slice(0, shared), b.slice(0, shared));
  h.hashBody('m', { prompt: [sys, 'x'] });
  assert.equal(h.n, Math.floor(200 / 16));
  assert.equal(h.hashBody('m', { prompt: 42 }), 0);
  assert.equal(h.hashBody('m', undefined), 0);
});

test('prefix LRU: bounded in blocks, prefix-closed matching, oldest prefixes evicted first', () => {
  const lru = new PrefixLru(8);
  const a = Float64Array.from([1, 2, 3, 4, 5]);
  lru.add(a, 5);
  assert.equal(lru.matched(a, 5), 5);
  assert.equal(lru.matched(Float64Array.from([1, 2, 3, 9, 9]), 5), 3);
  assert.equal(lru.matched(Float64Array.from([7, 2]), 2), 0);
  const b = Float64Array.from([11, 12, 13, 14, 15]);
  lru.add(b, 5);
  assert.ok(lru.size <= 7, 'past the capacity, a sweep keeps 7/8 of it');
  // a's tail went first (a was stamped last block first, so its head is the most recent part of a).
  assert.equal(lru.matched(a, 5), 2);
  assert.equal(lru.matched(b, 5), 5);
  // Touching a's head again keeps it over b's tail.
  lru.add(a, 2);
  for (let i = 0; i < 3; i++) lru.add(Float64Array.from([100 + i]), 1);
  assert.equal(lru.matched(a, 5), 2);
  assert.equal(lru.matched(b, 5), 3);
  // Long prompts: exact to 16 blocks, then to within 8.
  const long = Float64Array.from({ length: 100 }, (_, i) => 1000 + i);
  const big = new PrefixLru(1000);
  big.add(long, 100);
  assert.equal(big.size, 16 + 10);
  assert.equal(big.matched(long, 100), 96);
  const other = Float64Array.from(long);
  other[40] = -1;
  for (let i = 41; i < 100; i++) other[i] = -i;
  assert.equal(big.matched(other, 100), 40);
  assert.equal(big.matched(long.subarray(0, 12), 12), 12);
  // Beyond 128 blocks, 8 indexed blocks per doubling: a 1000-block conversation costs 53 entries and matches to
  // within an eighth of its length; one that diverged at block 700 matches its first 640.
  const conv = Float64Array.from({ length: 1000 }, (_, i) => 5000 + i);
  const huge = new PrefixLru(100_000);
  huge.add(conv, 1000);
  assert.equal(huge.size, 53);
  assert.equal(huge.matched(conv, 1000), 960);
  const fork = Float64Array.from(conv);
  for (let i = 700; i < 1000; i++) fork[i] = -i;
  assert.equal(huge.matched(fork, 1000), 640);
  // The capacity counts blocks, not entries: re-sending a prompt costs nothing, a new one its length. In a 1000-block
  // LRU a second 960-block prompt leaves no room for the first, and the sweep keeps 7/8 of the capacity: its head.
  const tight = new PrefixLru(1000);
  tight.add(conv, 1000);
  tight.add(conv, 1000);
  assert.equal(tight.blocks, 960);
  const next = Float64Array.from({ length: 1000 }, (_, i) => 9000 + i);
  tight.add(next, 1000);
  assert.equal(tight.matched(conv, 1000), 0);
  assert.ok(tight.blocks <= 875 && tight.matched(next, 1000) === tight.blocks, `the newest prompt's head: ${tight.blocks}`);
});

test('indexed blocks: strictly increasing, and indexedCount(n) counts those below n', () => {
  let k = 0;
  let prev = -1;
  for (let n = 0; n <= 20_000; n++) {
    while (indexedBlock(k) < n) {
      assert.ok(indexedBlock(k) > prev);
      prev = indexedBlock(k);
      k++;
    }
    assert.equal(indexedCount(n), k, `n=${n}`);
  }
});

test('prefix affinity: requests sharing a prefix follow it; the load guard spreads a hot prefix', () => {
  const e = eps(4);
  const scorer = new PrefixCacheScorer(3, { ...DEFAULT_PREFIX_CONFIG, blockChars: 64, guardAbsolute: 2, guardRelative: 0 });
  const s = new Scheduler(compileProfile({ scorers: [{ name: 'prefix-cache', weight: 3 }, { name: 'least-request', weight: 1 }] }));
  void scorer;
  const cursor = { rr: 0 };
  const groups = ['g0', 'g1', 'g2', 'g3', 'g4', 'g5'].map((g) => text(g, 1024));
  const home = new Map<string, Endpoint>();
  // Sequential traffic (nothing in flight): each group settles on one pod and stays there.
  for (let round = 0; round < 5; round++) {
    for (const g of groups) {
      const ep = s.schedule(req({ prompt: g + ` question ${round}` }), e, cursor)!;
      if (round === 0) home.set(g, ep);
      else assert.equal(ep, home.get(g), `group stays on its pod (round ${round})`);
    }
  }
  // The first six land on distinct-as-possible pods (ties → round-robin): every pod got a group.
  assert.equal(new Set(home.values()).size, 4);

  // A hot prefix under load: requests stay in flight; the guard (2 over the least loaded) moves some elsewhere.
  const hot = text('hot', 2048);
  const counts = new Map<Endpoint, number>();
  for (let i = 0; i < 40; i++) {
    const ep = s.schedule(req({ prompt: hot + ` q${i}` }), e, cursor)!;
    ep.inflight++;
    counts.set(ep, (counts.get(ep) ?? 0) + 1);
  }
  const loads = e.map((x) => x.inflight);
  assert.ok(Math.max(...loads) - Math.min(...loads) <= 3, `balanced within the guard: ${loads}`);
  assert.ok(counts.size === 4, 'the hot prefix spread over every pod');

  // Without the guard the hot prefix piles onto one pod.
  const e2 = eps(4);
  const noGuard = new Scheduler(
    compileProfile({ scorers: [{ name: 'prefix-cache', weight: 3 }, { name: 'least-request', weight: 1 }], prefixCache: { loadGuard: { enabled: false } } }),
  );
  for (let i = 0; i < 40; i++) noGuard.schedule(req({ prompt: hot + ` q${i}` }), e2, cursor)!.inflight++;
  assert.equal(Math.max(...e2.map((x) => x.inflight)), 40);
});

test('prefix index is bounded by the engine KV capacity and purged when the pod leaves', () => {
  const reg = new EndpointRegistry();
  const ep = reg.obtain('default', 'p0', '10.0.0.1', 8000);
  assert.equal(capacityFor(ep, DEFAULT_PREFIX_CONFIG), 16384);
  ep.metrics = metrics({ cacheTokens: 64 * 16 });
  // 4 × 1024 tokens × 4 chars / 128 chars per block = 128.
  assert.equal(capacityFor(ep, DEFAULT_PREFIX_CONFIG), 128);
  ep.metrics = metrics({ cacheTokens: 25_000 * 16 });
  assert.equal(capacityFor(ep, DEFAULT_PREFIX_CONFIG), 50_000);
  assert.equal(capacityFor(ep, DEFAULT_PREFIX_CONFIG, 6), 75_000, "at the model's measured characters per token");
  assert.equal(capacityFor(ep, { ...DEFAULT_PREFIX_CONFIG, capacityBlocks: 99 }), 99);

  const s = new Scheduler(compileProfile({ policy: 'prefix-affinity' }));
  s.schedule(req({ prompt: text('x', 4096) }), [ep], { rr: 0 });
  assert.equal(ep.prefix?.size, 18, '32 blocks: the first 16 and every 8th after');
  // Memory stays bounded however many distinct prompts pass.
  ep.metrics = metrics({ cacheTokens: 64 * 16 });
  for (let i = 0; i < 50; i++) s.schedule(req({ prompt: text(`p${i}`, 4096) }), [ep], { rr: 0 });
  assert.ok(ep.prefix!.blocks <= 128 && ep.prefix!.size >= 18, `bounded: ${ep.prefix!.blocks} blocks`);
  reg.retain(new Set());
  assert.equal(ep.prefix, null, 'purged with the pod');
});

test('session affinity: consistent hashing on a header; only the leaving pod’s sessions move', () => {
  const e = eps(5);
  const s = new Scheduler(compileProfile({ policy: 'session-affinity', sessionAffinity: { header: 'X-User-Id' } }));
  const owner = new Map<string, Endpoint>();
  for (let i = 0; i < 200; i++) {
    const id = `user-${i}`;
    const a = s.schedule(req(undefined, { 'x-user-id': id }), e, { rr: 0 })!;
    const b = s.schedule(req(undefined, { 'x-user-id': id }), e, { rr: 7 })!;
    assert.equal(a, b);
    owner.set(id, a);
  }
  const perPod = e.map((x) => [...owner.values()].filter((o) => o === x).length);
  assert.ok(Math.min(...perPod) >= 15, `sessions spread: ${perPod}`);
  const fewer = e.slice(0, 4);
  let moved = 0;
  for (const [id, was] of owner) {
    const now = s.schedule(req(undefined, { 'x-user-id': id }), fewer, { rr: 0 })!;
    if (was !== e[4]) assert.equal(now, was, 'sessions of remaining pods stay');
    else moved++;
  }
  assert.equal(moved, perPod[4]);
  // No header: least-request decides.
  e[0]!.inflight = 3;
  assert.notEqual(s.schedule(req(undefined), e.slice(0, 2), { rr: 0 }), e[0]);
  const ring = new HashRing(e);
  assert.equal(ring.points.length, 500);
  const sc = new SessionAffinityScorer(1, 'x-session-id');
  const out = new Float64Array(5);
  sc.score(req(undefined, { 'x-session-id': 'abc' }), e, out);
  assert.deepEqual([...out].filter((x) => x === 100).length, 1);
});

test('session affinity on a cookie: the header wins, else the cookie of that name; one id lands on one pod either way', () => {
  const e = eps(5);
  const s = new Scheduler(compileProfile({ policy: 'session-affinity', sessionAffinity: { header: 'x-session-id', cookie: 'session_id' } }));
  for (let i = 0; i < 50; i++) {
    const id = `conversation-${i}`;
    const byHeader = s.schedule(req(undefined, { 'x-session-id': id }), e, { rr: 0 })!;
    assert.equal(s.schedule(req(undefined, { cookie: `theme=dark; session_id=${id}; lang=en` }), e, { rr: 3 }), byHeader);
    assert.equal(s.schedule(req(undefined, { cookie: `session_id="${id}"` }), e, { rr: 1 }), byHeader, 'quoted value');
    assert.equal(s.schedule(req(undefined, { 'x-session-id': id, cookie: 'session_id=someone-else' }), e, { rr: 2 }), byHeader, 'the header wins');
  }
  assert.equal(cookieValue('a=1; session_id=x; session_id=y', 'session_id'), 'x', 'first occurrence');
  assert.equal(cookieValue('my_session_id=x;session_id= y ', 'session_id'), 'y', 'whole name only; spaces around the value trimmed');
  assert.equal(cookieValue('SESSION_ID=x', 'session_id'), '', 'names are case-sensitive');
  assert.equal(cookieValue('session_id', 'session_id'), '', 'no value');
  assert.equal(cookieValue('', 'session_id'), '');
  // Without a cookie name configured the cookie is not read.
  const sc = new SessionAffinityScorer(1, 'x-session-id');
  const out = new Float64Array(5);
  sc.score(req(undefined, { cookie: 'x-session-id=abc' }), e, out);
  assert.deepEqual([...out], [0, 0, 0, 0, 0]);
});

/** A request as the proxy holds it: its pod's in-flight and awaiting-first-byte counts are up until released. */
interface Tracked {
  req: SchedulingRequest;
  endpoint: Endpoint;
  awaiting: boolean;
}
function send(s: Scheduler, e: Endpoint[], body?: Record<string, unknown>): Tracked {
  const r: SchedulingRequest = { model: 'm', body, headers: {} };
  const ep = s.schedule(r, e, { rr: 0 })!;
  ep.inflight++;
  ep.awaiting++;
  ep.pendingPrefill += r.work ?? 0;
  return { req: r, endpoint: ep, awaiting: true };
}
/** The first response byte: the request no longer stands ahead of a new one's first token. */
function firstByte(t: Tracked): void {
  if (t.awaiting) {
    t.endpoint.awaiting--;
    t.endpoint.pendingPrefill -= t.req.work ?? 0;
  }
  t.awaiting = false;
}
/** The request ended (with or without a byte). */
function end(t: Tracked): void {
  firstByte(t);
  t.endpoint.inflight--;
}

test('queue: the gateway’s requests awaiting their first byte, plus others’ waiting requests as scraped', () => {
  const e = eps(3);
  const out = new Float64Array(3);
  const q = new QueueScorer();
  const s = new Scheduler(compileProfile({ policy: 'round-robin' }));
  // p0 is streaming 3 requests (first bytes in), p1 has 1 still prefilling, p2 is idle.
  const rs = Array.from({ length: 7 }, () => send(s, e));
  for (const r of rs) if (r.endpoint === e[0] || r.endpoint === e[2]) firstByte(r);
  firstByte(rs[4]!); // p1 keeps one of its two
  assert.deepEqual(e.map((x) => [x.inflight, x.awaiting]), [[3, 0], [2, 1], [2, 0]]);
  for (const r of rs) if (r.endpoint === e[2]) end(r);
  // Stale metrics: the gateway's own counts. In-flight would rank p0 last; what delays a first token is p1's prefill.
  q.score(req(undefined), e, out);
  assert.deepEqual([...out], [100, 0, 100]);
  // Fresh metrics: the scrape shows p0 with 4 waiting that are not ours (another gateway replica's), p1 with just ours.
  e[0]!.metrics = metrics({ waiting: 4 });
  e[1]!.metrics = metrics({ waiting: 1, awaitingAtScrape: 1 });
  e[2]!.metrics = metrics({ waiting: 0 });
  for (const x of e) x.fresh = true;
  q.score(req(undefined), e, out);
  assert.deepEqual([...out], [0, 75, 100]);
  assert.deepEqual(e.map((x) => x.queued()), [4, 1, 0]);
  // Our own sends since the scrape count at once, without waiting for the next scrape.
  for (const x of e) send(s, [x]);
  assert.deepEqual(e.map((x) => x.queued()), [5, 2, 1]);
  // The next scrape: p1's first request got its first byte meanwhile; the engine reports the other one waiting.
  firstByte(rs[1]!);
  e[1]!.metrics = metrics({ waiting: 1, awaitingAtScrape: 1, at: performance.now() + 1 });
  assert.equal(e[1]!.queued(), 1, 'our own waiting requests are not counted twice');
});

test('default policy: a pod streaming tokens beats a pod with fewer requests that is still prefilling', () => {
  const e = eps(2);
  const rr = new Scheduler(compileProfile({ policy: 'round-robin' }));
  // p0: 3 requests, all streaming tokens. p1: 1 request, sent just now, no first token yet.
  const rs = [send(rr, e), send(rr, e), send(rr, e), send(rr, e)];
  for (const r of rs) if (r.endpoint === e[0]) firstByte(r);
  firstByte(send(rr, [e[0]!]));
  assert.deepEqual(e.map((x) => [x.inflight, x.awaiting]), [[3, 0], [2, 2]]);
  end(rs[1]!);
  for (const x of e) {
    x.metrics = metrics({ waiting: 0, running: x.inflight, kvUsage: 0.1 * x.inflight });
    x.fresh = true;
  }
  const d = new Scheduler(compileProfile(undefined));
  const lr = new Scheduler(compileProfile({ policy: 'least-request' }));
  assert.equal(lr.schedule(req({ prompt: 'x' }), e, { rr: 0 }), e[1], 'least-request sees 3 vs 1 in flight');
  assert.equal(d.schedule(req({ prompt: 'y' }), e, { rr: 0 }), e[0], 'default: nothing ahead of the first token on p0');
});

test('running and kv-cache scorers: scraped values corrected by what the gateway sent since; in-flight when stale', () => {
  const e = eps(3);
  const out = new Float64Array(3);
  const r = new RunningScorer();
  e[0]!.metrics = metrics({ running: 10 });
  e[1]!.metrics = metrics({ running: 0 });
  e[2]!.metrics = metrics({ running: 5 });
  for (const x of e) x.fresh = true;
  r.score(req(undefined), e, out);
  assert.deepEqual([...out], [0, 100, 50]);
  // Sent 10 to p1 since the scrape: now it looks like p0.
  e[1]!.inflight = 10;
  r.score(req(undefined), e, out);
  assert.deepEqual([...out], [0, 0, 100]);
  // One stale pod: in-flight counts for everyone.
  e[2]!.fresh = false;
  r.score(req(undefined), e, out);
  assert.deepEqual([...out], [100, 0, 100]);

  const kv = new KvCacheScorer();
  for (const x of e) {
    x.fresh = true;
    x.inflight = 0;
  }
  e[0]!.metrics = metrics({ kvUsage: 0.9, running: 9 });
  e[1]!.metrics = metrics({ kvUsage: 0.2, running: 2 });
  e[2]!.metrics = metrics({ kvUsage: 0.5, running: 0 });
  kv.score(req(undefined), e, out);
  assert.deepEqual([...out].map(Math.round), [10, 80, 50]);
  // 4 sent to p1 since the scrape, at 0.1 of KV per running request there: 0.6 used, no longer the emptiest.
  // p2 runs nothing: the mean share (0.1) applies; one finished there since the scrape.
  e[1]!.inflight = 4;
  e[2]!.metrics.inflightAtScrape = 1;
  kv.score(req(undefined), e, out);
  assert.deepEqual([...out].map(Math.round), [10, 40, 60]);
  e[1]!.fresh = false;
  kv.score(req(undefined), e, out);
  assert.deepEqual([...out], [100, 0, 100], 'falls back to in-flight');
});

test('LoRA affinity prefers pods running the adapter, then free slots; neutral for base models', () => {
  const e = eps(3);
  e[0]!.metrics = metrics({ loras: new Set(['sql']), maxLoras: 1 });
  e[1]!.metrics = metrics({ loras: new Set(), maxLoras: 2 });
  e[2]!.metrics = metrics({ loras: new Set(['chat']), maxLoras: 1 });
  const out = new Float64Array(3);
  const l = new LoraAffinityScorer();
  l.score(req(undefined, {}, { model: 'sql', lora: true }), e, out);
  assert.deepEqual([...out], [100, 50, 0]);
  l.score(req(undefined, {}, { model: 'base' }), e, out);
  assert.deepEqual([...out], [100, 100, 100]);
  const s = new Scheduler(compileProfile(undefined));
  for (const x of e) x.fresh = true;
  assert.equal(s.schedule(req(undefined, {}, { model: 'chat', lora: true }), e, { rr: 0 }), e[2]);
});

test('baselines: round-robin rotates, random spreads, least-request follows in-flight', () => {
  const e = eps(4);
  const rr = new Scheduler(compileProfile({ policy: 'round-robin' }));
  e[0]!.inflight = 50;
  const cursor = { rr: 0 };
  assert.deepEqual(
    Array.from({ length: 8 }, () => rr.schedule(req(undefined), e, cursor)!.podName),
    ['p0', 'p1', 'p2', 'p3', 'p0', 'p1', 'p2', 'p3'],
  );
  const rnd = new Scheduler(compileProfile({ policy: 'random' }));
  const seen = new Map<string, number>();
  for (let i = 0; i < 400; i++) {
    const p = rnd.schedule(req(undefined), e, cursor)!.podName;
    seen.set(p, (seen.get(p) ?? 0) + 1);
  }
  assert.equal(seen.size, 4);
  for (const c of seen.values()) assert.ok(c > 40, `random spreads: ${[...seen.values()]}`);
  const lr = new Scheduler(compileProfile({ policy: 'least-request' }));
  e[1]!.inflight = 2;
  e[2]!.inflight = 1;
  e[3]!.inflight = 3;
  assert.equal(lr.schedule(req(undefined), e, cursor), e[2]);
});

test('profiles: scorer lists, weights and the default mix; route override wins over the server', () => {
  const d = compileProfile(undefined);
  assert.equal(d.policy, 'default');
  assert.deepEqual(d.scorers.map((x) => `${x.name}:${x.weight}`), ['ttft:4', 'lora-affinity:2']);
  const ds = compileProfile({ sessionAffinity: { header: 'x-user-id' } });
  assert.equal(ds.scorers[0]!.name, 'session-affinity');
  const custom = compileProfile({ policy: 'random', scorers: [{ name: 'kv-cache', weight: 2 }, { name: 'queue', weight: 0 }] });
  assert.deepEqual(custom.scorers.map((x) => x.name), ['kv-cache']);
  assert.equal(custom.picker.name, 'random');

  const s = new Scheduler();
  const server = { rr: 0, scheduling: { profile: compileProfile({ policy: 'round-robin' }), endpoints: [], pd: null } };
  const routeProfile = compileProfile({ policy: 'least-request' });
  assert.equal(s.profileFor(req(undefined), server).policy, 'round-robin');
  assert.equal(s.profileFor(req(undefined, {}, { route: { scheduling: routeProfile } }), server).policy, 'least-request');
  assert.equal(s.profileFor(req(undefined), { rr: 0 }).policy, 'least-request');
});

test('decisions are timed and recorded per pod', () => {
  const e = eps(3);
  const s = new Scheduler(compileProfile(undefined));
  const seen: Array<[string, number]> = [];
  s.observe = (p, sec) => seen.push([p, sec]);
  const ep = s.schedule(req({ prompt: text('a', 1000) }), e, { rr: 0 })!;
  assert.equal(seen.length, 1);
  assert.equal(seen[0]![0], 'default');
  assert.ok(seen[0]![1] >= 0 && seen[0]![1] < 1);
  assert.equal(ep.picks, 1);
  assert.ok(e.every((x) => x.lastScoredAt > 0));
  assert.ok(ep.lastPickedAt > 0);
  // A pinned endpoint is returned once, then normal scheduling resumes.
  const r = req(undefined);
  s.pin(r, e[2]!);
  assert.equal(s.schedule(r, e, { rr: 0 }), e[2]);
});
