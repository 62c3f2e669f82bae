import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileModelMatch, compileStringMatch, modelMatches, stringMatches, type CompileProblem } from './match.ts';

test('string match: exact, prefix, regex, combined, empty', () => {
  assert.ok(stringMatches(compileStringMatch({ exact: 'a' }), 'a'));
  assert.ok(!stringMatches(compileStringMatch({ exact: 'a' }), 'ab'));
  assert.ok(stringMatches(compileStringMatch({ prefix: '/v1/' }), '/v1/chat'));
  assert.ok(!stringMatches(compileStringMatch({ prefix: '/v1/' }), '/v2/chat'));
  assert.ok(stringMatches(compileStringMatch({ regex: 'gold|premium' }), 'tier-premium'), 'regex is unanchored');
  assert.ok(!stringMatches(compileStringMatch({ regex: '^gold$' }), 'golden'));
  assert.ok(stringMatches(compileStringMatch({ prefix: 'a', regex: 'z$' }), 'abcz'));
  assert.ok(!stringMatches(compileStringMatch({ prefix: 'a', regex: 'z$' }), 'abc'));
  assert.ok(stringMatches(compileStringMatch({}), 'anything'));
});

test('invalid regex is reported and never matches', () => {
  const problems: CompileProblem[] = [];
  const m = compileStringMatch({ regex: '(' }, problems);
  assert.equal(problems.length, 1);
  assert.ok(!stringMatches(m, ''));
  assert.ok(!stringMatches(m, '('));
});

test('model match: headers (case-insensitive names, missing = empty), uri, all must hold', () => {
  assert.equal(compileModelMatch({}), null);
  assert.equal(compileModelMatch({ modelMatch: {} }), null);
  const m = compileModelMatch({ modelMatch: { headers: { 'X-User-Tier': { exact: 'gold' } }, uri: { prefix: '/v1/chat' } } });
  assert.ok(m);
  assert.ok(modelMatches(m, { 'x-user-tier': 'gold' }, '/v1/chat/completions'));
  assert.ok(!modelMatches(m, { 'x-user-tier': 'silver' }, '/v1/chat/completions'));
  assert.ok(!modelMatches(m, { 'x-user-tier': 'gold' }, '/v1/completions'));
  assert.ok(!modelMatches(m, {}, '/v1/chat/completions'));
  const empty = compileModelMatch({ modelMatch: { headers: { 'x-a': { exact: '' } } } });
  assert.ok(modelMatches(empty, {}, '/'), 'a missing header matches as the empty string');
  const multi = compileModelMatch({ modelMatch: { headers: { 'x-a': { regex: '^1, 2$' } } } });
  assert.ok(modelMatches(multi, { 'x-a': ['1', '2'] }, '/'), 'repeated headers are joined');
  assert.ok(modelMatches(null, {}, '/'));
});
