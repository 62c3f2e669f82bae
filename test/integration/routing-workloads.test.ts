// The routing benchmark's workloads (bench/routing-workloads.ts): reproducible from the seed, Zipf popularity over
// more prefixes than the fleet holds, multi-turn conversations bounded in context, and trace lengths read from the
// CSV or, without it, drawn from the fitted log-normals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildSessions, CHARS_PER_TOKEN, FITTED, lengthSource, MAX_CONTEXT_TOKENS, parseTraceLengths, zipfCdf, zipfPick, type WorkloadOptions,
} from '../../bench/routing-workloads.ts';
import { seededRandom } from '../../src/engine/latency.ts';

const O: WorkloadOptions = {
  seed: 1, scale: 4, rates: [40, 80], stepSeconds: 10, groups: 8, sysChars: 2000, questionChars: 100, outTokens: 8,
  prefixes: 128, zipfS: 1, maxOutputTokens: 64, meanTurns: 5, thinkSeconds: 1,
};
const FALLBACK = { conv: lengthSource('conv', undefined), code: lengthSource('code', undefined) };

test('the same seed gives the same sessions, another seed others', () => {
  for (const w of ['shared', 'control', 'zipf', 'multiturn'] as const) {
    const src = w === 'zipf' ? FALLBACK.code : FALLBACK.conv;
    assert.deepEqual(buildSessions(O, w, src), buildSessions(O, w, src), w);
    assert.notDeepEqual(buildSessions({ ...O, seed: 2 }, w, src), buildSessions(O, w, src), w);
  }
});

test('Poisson starts follow the stepped rates (divided by the time scale)', () => {
  const s = buildSessions(O, 'control');
  const perStep = [0, 1].map((step) => s.filter((x) => x.step === step).length);
  // 10 req/s then 20 req/s for 10 s each.
  assert.ok(Math.abs(perStep[0]! - 100) < 35, `${perStep[0]}`);
  assert.ok(Math.abs(perStep[1]! - 200) < 50, `${perStep[1]}`);
  assert.ok(s.every((x, i) => i === 0 || x.at >= s[i - 1]!.at));
});

test('zipf: rank 1 is the most popular, and many distinct prefixes are drawn', () => {
  const cdf = zipfCdf(128, 1);
  assert.equal(zipfPick(cdf, 0), 0);
  assert.equal(zipfPick(cdf, 1), 127);
  const s = buildSessions({ ...O, rates: [400], stepSeconds: 10 }, 'zipf', FALLBACK.code);
  const counts = new Map<string, number>();
  for (const x of s) counts.set(x.prefix, (counts.get(x.prefix) ?? 0) + 1);
  const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  assert.match(ranked[0]![0], /^System prompt 0\. /);
  // H(128) ≈ 5.43: rank 1 takes ≈ 18 % of 1000 requests, and ≥ 100 of the 128 prefixes appear.
  assert.ok(ranked[0]![1] > 120 && ranked[0]![1] < 250, `${ranked[0]![1]}`);
  assert.ok(counts.size >= 100, `${counts.size}`);
  assert.ok(s.every((x) => x.turns.length === 1 && x.turns[0]!.outTokens <= O.maxOutputTokens));
});

test('multiturn: 2–8 turns, think time between them, context bounded', () => {
  const s = buildSessions(O, 'multiturn', FALLBACK.conv);
  assert.ok(s.length > 10);
  let multi = 0;
  for (const c of s) {
    assert.ok(c.turns.length >= 1 && c.turns.length <= 8);
    if (c.turns.length > 1) multi++;
    assert.equal(c.turns[0]!.thinkMs, 0);
    assert.ok(c.turns.slice(1).every((t) => t.thinkMs > 0));
    // Estimated context (user text at CHARS_PER_TOKEN + answers at their max_tokens) stays under the bound.
    const context = c.turns.reduce((n, t) => n + t.user.length / CHARS_PER_TOKEN + t.outTokens, 0);
    assert.ok(context < MAX_CONTEXT_TOKENS * 1.05, `${context}`);
  }
  assert.ok(multi > s.length / 2, `${multi} of ${s.length}`);
});

test('trace lengths: read from the CSV when there, else the fitted log-normals', () => {
  const dir = mkdtempSync(join(tmpdir(), 'routing-traces-'));
  writeFileSync(join(dir, 'azure-llm-2023-conv.csv'), 'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,44\n2023-11-16 18:15:50.99,396,109\n');
  assert.deepEqual(parseTraceLengths('TIMESTAMP,ContextTokens,GeneratedTokens\nx,10,2\nbad\n'), [{ prompt: 10, output: 2 }]);
  const src = lengthSource('conv', dir);
  assert.match(src.describe, /2 requests/);
  const rng = seededRandom(3);
  for (let i = 0; i < 20; i++) assert.ok([374, 396].includes(src.sample(rng).prompt));

  const fitted = lengthSource('code', dir);
  assert.match(fitted.describe, /log-normal/);
  const prompts = Array.from({ length: 4000 }, () => fitted.sample(rng).prompt).sort((a, b) => a - b);
  const median = prompts[2000]!;
  assert.ok(Math.abs(Math.log(median) - FITTED.code.prompt.mu) < 0.1, `${median}`);
  assert.ok(prompts[prompts.length - 1]! <= FITTED.code.prompt.max);
});
