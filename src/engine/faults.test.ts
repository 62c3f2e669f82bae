import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { IncomingMessage } from 'node:http';
import { ApiError } from './errors.ts';
import { FaultInjector } from './fault-injector.ts';
import {
  decideFault,
  defaultFaultConfig,
  DEFAULT_FAULTS,
  FAILURE_TYPE_NAMES,
  FaultConfigError,
  faultsDisabled,
  mergeFaultConfig,
  parseFaultHeader,
  parseRate,
  type FaultConfig,
  type FaultDecision,
} from './faults.ts';
import { seededRandom } from './latency.ts';
import { engineHelpText, parseEngineArgs } from './options.ts';

const CTX = { model: 'sim-model', maxModelLen: 4096 };

function config(patch: Partial<FaultConfig>): FaultConfig {
  return { ...defaultFaultConfig(), ...patch };
}

function run(c: FaultConfig, seed: number, n: number): FaultDecision[] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, () => decideFault(c, random, CTX));
}

describe('faults: decisions', () => {
  it('injects errors at the configured rate, deterministically for a seed', () => {
    for (const rate of [0.05, 0.3, 0.9]) {
      const ds = run(config({ failureRate: rate }), 11, 20_000);
      const errors = ds.filter((d) => d.kind === 'error').length / ds.length;
      assert.ok(Math.abs(errors - rate) < 0.02, `rate ${rate}: got ${errors}`);
    }
    const c = config({ failureRate: 0.3, mode: 'slow', modeRate: 0.5 });
    assert.deepEqual(run(c, 5, 500), run(c, 5, 500));
    assert.notDeepEqual(run(c, 5, 500), run(c, 6, 500));
  });

  it('chooses failure types uniformly and shapes them like vLLM/OpenAI errors', () => {
    const ds = run(config({ failureRate: 1 }), 3, 14_000);
    const counts = new Map<string, number>();
    for (const d of ds) {
      assert.equal(d.kind, 'error');
      if (d.kind === 'error') counts.set(d.label, (counts.get(d.label) ?? 0) + 1);
    }
    assert.deepEqual([...counts.keys()].sort(), [...FAILURE_TYPE_NAMES].sort());
    for (const [t, n] of counts) assert.ok(Math.abs(n / ds.length - 1 / 7) < 0.02, `${t}: ${n}`);

    const [rl] = run(config({ failureRate: 1, failureTypes: ['rate_limit'] }), 1, 1);
    assert.deepEqual(rl, {
      kind: 'error',
      status: 429,
      type: 'RateLimitError',
      message: 'Rate limit reached for model sim-model. Please try again later.',
      label: 'rate_limit',
    });
    const statuses = new Set(run(config({ failureRate: 1, failureTypes: ['overloaded', '502'] }), 1, 200).map((d) => (d.kind === 'error' ? `${d.status} ${d.type}` : '')));
    assert.deepEqual([...statuses].sort(), ['502 InternalServerError', '503 ServiceUnavailableError']);
  });

  it('applies the mode to the configured share of requests that did not fail', () => {
    const ds = run(config({ failureRate: 0.2, mode: 'kill', modeRate: 0.5, afterTokens: 3 }), 9, 20_000);
    const kills = ds.filter((d) => d.kind === 'kill');
    const errors = ds.filter((d) => d.kind === 'error').length;
    assert.ok(Math.abs(errors / ds.length - 0.2) < 0.02);
    assert.ok(Math.abs(kills.length / ds.length - 0.8 * 0.5) < 0.02, `${kills.length}`);
    assert.deepEqual(kills[0], { kind: 'kill', afterTokens: 3 });
    assert.deepEqual(run(config({ mode: 'slow', slowFactor: 7 }), 1, 1), [{ kind: 'slow', factor: 7 }]);
    assert.ok(run(config({}), 1, 1000).every((d) => d.kind === 'none'));
    assert.ok(faultsDisabled(defaultFaultConfig()));
    assert.ok(!faultsDisabled(config({ mode: 'hang' })));
  });

  it('draws exactly three numbers per request, and none when a header decides', () => {
    let draws = 0;
    const random = () => (draws++, 0.5);
    for (const c of [config({}), config({ failureRate: 1 }), config({ mode: 'hang', modeRate: 1 })]) {
      draws = 0;
      decideFault(c, random, CTX);
      assert.equal(draws, 3);
    }
    draws = 0;
    decideFault(config({ failureRate: 1 }), random, CTX, parseFaultHeader('none'));
    decideFault(config({}), random, CTX, parseFaultHeader('status=503'));
    assert.equal(draws, 0);
    // Parameters alone force nothing: the config decides (and draws).
    decideFault(config({ mode: 'hang' }), random, CTX, parseFaultHeader('after-tokens=2'));
    assert.equal(draws, 3);
  });
});

describe('faults: the x-matrixinfer-fault header', () => {
  const decide = (header: string, c: FaultConfig = defaultFaultConfig()) => decideFault(c, () => 0, CTX, parseFaultHeader(header));

  it('forces a status, a failure type, a mode or no fault', () => {
    assert.deepEqual(decide('status=503'), {
      kind: 'error',
      status: 503,
      type: 'ServiceUnavailableError',
      message: 'The server is overloaded or not ready yet. Please try again later.',
      label: 'status_503',
    });
    assert.equal((decide('429') as { type: string }).type, 'RateLimitError');
    assert.equal((decide('status=418') as { type: string }).type, 'BadRequestError');
    assert.equal((decide('status=504') as { type: string }).type, 'InternalServerError');
    assert.deepEqual(
      [decide('rate_limit'), decide('type=model-not-found')].map((d) => d.kind === 'error' && [d.status, d.type, d.label]),
      [
        [429, 'RateLimitError', 'rate_limit'],
        [404, 'NotFoundError', 'model_not_found'],
      ],
    );
    assert.equal((decide('type=context_length') as { message: string }).message.includes('4096 tokens'), true);
    assert.equal((decide('overloaded; status=500') as { status: number }).status, 500);
    assert.deepEqual(decide('kill, after-tokens=3'), { kind: 'kill', afterTokens: 3 });
    assert.deepEqual(decide('mode=reset;after=0'), { kind: 'reset', afterTokens: 0 });
    assert.deepEqual(decide('hang', config({ afterTokens: 4 })), { kind: 'hang', afterTokens: 4 });
    assert.deepEqual(decide('slow; factor=10'), { kind: 'slow', factor: 10 });
    assert.deepEqual(decide('SLOW', config({ slowFactor: 3 })), { kind: 'slow', factor: 3 });
    assert.deepEqual(decide('none', config({ failureRate: 1, mode: 'kill' })), { kind: 'none' });
    assert.deepEqual(decide('mode=none', config({ failureRate: 1 })), { kind: 'none' });
  });

  it('rejects what it does not understand', () => {
    for (const bad of ['', ' , ', 'status=200', 'status=abc', '600', 'bogus', 'type=teapot', 'mode=explode', 'after=-1', 'factor=0.5', 'color=red']) {
      assert.throws(() => parseFaultHeader(bad), FaultConfigError, bad);
    }
  });
});

describe('faults: config', () => {
  it('merges a partial config, validating all of it before changing anything', () => {
    const base = defaultFaultConfig();
    const c = mergeFaultConfig(base, { failureRate: '10%', failureTypes: ['rate_limit', 503], mode: 'hang', afterTokens: 2 });
    assert.deepEqual(c, { ...base, failureRate: 0.1, failureTypes: ['rate_limit', '503'], mode: 'hang', afterTokens: 2 });
    assert.deepEqual(mergeFaultConfig(c, { mode: 'none' }).failureTypes, ['rate_limit', '503']);
    for (const bad of [
      { failureRate: 1.5 },
      { failureRate: 0.5, mode: 'explode' },
      { failureTypes: [] },
      { failureTypes: ['teapot'] },
      { failureTypes: [200] },
      { afterTokens: 1.5 },
      { slowFactor: 0.5 },
      { modeRate: -0.1 },
      { failurerate: 0.5 },
    ]) {
      assert.throws(() => mergeFaultConfig(base, bad), FaultConfigError, JSON.stringify(bad));
    }
    assert.throws(() => mergeFaultConfig(base, [1]), FaultConfigError);
    assert.deepEqual(base, defaultFaultConfig(), 'the base is never modified');
    assert.equal(parseRate('25%', 'x'), 0.25);
    assert.equal(parseRate(0, 'x'), 0);
  });

  it('takes the initial faults from command-line flags, documented in --help', () => {
    const o = parseEngineArgs(
      ['m', '--failure-rate', '0.25', '--failure-types', 'rate_limit,503', '--fault-mode', 'kill', '--fault-rate', '50%', '--fault-after-tokens', '3', '--fault-slow-factor', '2.5'],
      { warn: () => {} },
    );
    assert.deepEqual(o.faults, { failureRate: 0.25, failureTypes: ['rate_limit', '503'], mode: 'kill', modeRate: 0.5, afterTokens: 3, slowFactor: 2.5 });
    assert.deepEqual(parseEngineArgs(['m']).faults, { ...DEFAULT_FAULTS, failureTypes: [...DEFAULT_FAULTS.failureTypes] });
    assert.equal(parseEngineArgs(['m', '--failure-injection-rate', '20']).faults!.failureRate, 0.2);
    assert.equal(parseEngineArgs(['m', '--failure_rate=5%']).faults!.failureRate, 0.05);
    assert.throws(() => parseEngineArgs(['m', '--failure-rate', '2']), /--failure-rate must be a fraction/);
    assert.throws(() => parseEngineArgs(['m', '--failure-types', 'teapot']), /unknown failure type "teapot"/);
    assert.throws(() => parseEngineArgs(['m', '--fault-mode', 'explode']), /explode/);
    assert.throws(() => parseEngineArgs(['m', '--fault-slow-factor', '0']), /must be a number >= 1/);
    const help = engineHelpText();
    for (const flag of ['--failure-rate', '--failure-types', '--fault-mode', '--fault-rate', '--fault-after-tokens', '--fault-slow-factor']) {
      assert.ok(help.includes(flag), flag);
    }
  });
});

describe('faults: FaultInjector', () => {
  const request = (headers: Record<string, string> = {}) => ({ headers }) as unknown as IncomingMessage;

  it('counts what it injects, in its state and in the metrics registry', async () => {
    const registry = new Registry();
    const f = new FaultInjector({ seed: 1, maxModelLen: 100, registry, config: config({ failureRate: 1, failureTypes: ['overloaded'] }) });
    for (let i = 0; i < 3; i++) assert.equal(f.decide(request(), 'm').kind, 'error');
    assert.equal(f.decide(request({ 'x-matrixinfer-fault': 'hang' }), 'm').kind, 'hang');
    assert.equal(f.decide(request({ 'x-return-error': '404' }), 'm').kind, 'error');
    assert.equal(f.decide(request({ 'x-matrixinfer-fault': 'none' }), 'm').kind, 'none');
    assert.throws(() => f.decide(request({ 'x-matrixinfer-fault': 'nonsense' }), 'm'), (e: unknown) => e instanceof ApiError && e.status === 400 && /x-matrixinfer-fault/.test(e.message));
    const s = f.state();
    assert.equal(s.requests, 6);
    assert.deepEqual(s.injected, { overloaded: 3, hang: 1, status_404: 1 });
    const text = await registry.metrics();
    assert.match(text, /matrixinfer_engine_injected_faults_total\{type="overloaded"\} 3/);
    assert.match(text, /matrixinfer_engine_injected_faults_total\{type="status_404"\} 1/);
  });

  it('restarts the decision sequence when reseeded', () => {
    const f = new FaultInjector({ seed: 0, maxModelLen: 100, config: config({ failureRate: 0.5 }) });
    const seq = () => Array.from({ length: 50 }, () => f.decide(request(), 'm').kind).join();
    f.set(f.state().config, 42);
    const a = seq();
    f.set(f.state().config, 42);
    assert.equal(seq(), a);
    assert.equal(f.state().seed, 42);
  });
});
