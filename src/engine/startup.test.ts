import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { defaultEngineOptions, parseEngineArgs } from './options.ts';
import { coldStartSeconds, PROFILES } from './profiles.ts';
import { startEngine, type EngineServer } from './server.ts';
import { lifecyclePlan } from './startup.ts';

const FAST = { timeToFirstTokenMs: 1, prefillTimePerTokenMs: 0, interTokenLatencyMs: 1, interTokenLatencyPerSeqMs: 0 };
// Long enough to span several KV blocks of 16, so a repeat is served mostly from the prefix cache.
const PROMPT = 'The quick brown fox jumps over the lazy dog while the five boxing wizards jump quickly. '.repeat(4);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function complete(e: EngineServer): Promise<Response> {
  return fetch(e.url + '/v1/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', prompt: PROMPT, max_tokens: 2 }),
  });
}

async function cachedTokens(e: EngineServer): Promise<number> {
  const res = await complete(e);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { usage: { prompt_tokens_details?: { cached_tokens?: number } } };
  return body.usage.prompt_tokens_details?.cached_tokens ?? 0;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

describe('start-up', () => {
  it('refuses connections until the simulated load is over, then /health answers 200', async () => {
    const port = await freePort();
    const t0 = performance.now();
    const starting = startEngine(defaultEngineOptions({ port, servedModelNames: ['m'], startupSeconds: 0.8, latency: FAST }));
    await new Promise((r) => setTimeout(r, 300));
    await assert.rejects(fetch(`http://127.0.0.1:${port}/health`), (err: Error & { cause?: { code?: string } }) => err.cause?.code === 'ECONNREFUSED');
    const e = await starting;
    try {
      assert.ok(performance.now() - t0 >= 800, 'listens only after --startup-seconds');
      assert.equal((await fetch(e.url + '/health')).status, 200);
    } finally {
      await e.close();
    }
  });

  it('--startup-seconds sets it; `matrixinfer engine` defaults to the profile, in-process engines to 0', () => {
    const warn = () => {};
    assert.equal(parseEngineArgs(['m', '--startup-seconds', '0.25'], { warn }).startupSeconds, 0.25);
    assert.equal(parseEngineArgs(['m'], { warn }).startupSeconds, 0);
    assert.equal(parseEngineArgs(['m'], { warn, defaultStartupSeconds: 'profile' }).startupSeconds, 62);
    assert.equal(parseEngineArgs(['m', '--profile', 'llama-3.1-70b-h100-tp4'], { warn, defaultStartupSeconds: 'profile' }).startupSeconds, 185);
    assert.equal(parseEngineArgs(['m', '--startup-seconds', '0'], { warn, defaultStartupSeconds: 'profile' }).startupSeconds, 0);
    assert.throws(() => parseEngineArgs(['m', '--startup-seconds', '-1'], { warn }), /--startup-seconds must be a number >= 0/);
    assert.equal(defaultEngineOptions().startupSeconds, 0);
  });

  it('the phases add up to the start-up time; wake-ups scale with it, level 1 < level 2 < cold start', () => {
    for (const profile of Object.values(PROFILES)) {
      for (const seconds of [coldStartSeconds(profile.startup), 2]) {
        const plan = lifecyclePlan(profile.startup, seconds);
        const sum = plan.phases.reduce((s, p) => s + p.seconds, 0);
        assert.ok(Math.abs(sum - seconds) < 1e-9, `${profile.name}: phases sum to ${sum}, not ${seconds}`);
        assert.ok(plan.wakeSeconds[1] > 0 && plan.wakeSeconds[1] < plan.wakeSeconds[2] && plan.wakeSeconds[2] < seconds, profile.name);
      }
    }
  });
});

describe('sleep mode', () => {
  // 3.1 s start-up is 1/20 of the 8B profile's 62 s: level 1 wakes in 25 ms, level 2 in 125 ms.
  const opts = { port: 0, servedModelNames: ['m'], startupSeconds: 3.1, enableSleepMode: true, serverDevMode: true, latency: FAST };

  it('sleep refuses generation with 503, keeps /health and /metrics, clears the prefix cache; wake-up time by level', async () => {
    const e = await startEngine(defaultEngineOptions(opts));
    try {
      assert.equal(await cachedTokens(e), 0);
      assert.ok((await cachedTokens(e)) > 0, 'a repeat hits the prefix cache');
      const isSleeping = async () => ((await (await fetch(e.url + '/is_sleeping')).json()) as { is_sleeping: boolean }).is_sleeping;
      const metrics = async () => (await fetch(e.url + '/metrics')).text();
      assert.equal(await isSleeping(), false);
      assert.match(await metrics(), /vllm:engine_sleep_state\{model_name="m",engine="0",sleep_state="awake"\} 1/);

      assert.equal((await fetch(e.url + '/sleep?level=1', { method: 'POST' })).status, 200);
      assert.equal(await isSleeping(), true);
      const refused = await complete(e);
      assert.equal(refused.status, 503);
      assert.equal(((await refused.json()) as { error: { type: string } }).error.type, 'ServiceUnavailableError');
      assert.equal((await fetch(e.url + '/health')).status, 200, 'vLLM keeps /health at 200 while asleep');
      assert.match(await metrics(), /sleep_state="weights_offloaded"\} 1/);
      const wake1 = await timed(() => fetch(e.url + '/wake_up', { method: 'POST' }));
      assert.equal(await isSleeping(), false);
      assert.equal(await cachedTokens(e), 0, 'sleep discarded the KV cache, prefix cache included');

      assert.equal((await fetch(e.url + '/sleep?level=2', { method: 'POST' })).status, 200);
      assert.match(await metrics(), /sleep_state="discard_all"\} 1/);
      const wake2 = await timed(() => fetch(e.url + '/wake_up', { method: 'POST' }));
      assert.ok(wake1 >= 24 && wake1 < wake2, `level 1 wake ${wake1.toFixed(0)} ms < level 2 ${wake2.toFixed(0)} ms`);
      assert.ok(wake2 >= 124 && wake2 < 3100, `level 2 wake ${wake2.toFixed(0)} ms: a weight reload, well below the cold start`);
      assert.equal((await complete(e)).status, 200);
      assert.equal((await fetch(e.url + '/sleep?level=3', { method: 'POST' })).status, 400);
    } finally {
      await e.close();
    }
  });

  it('the endpoints exist only in dev mode (VLLM_SERVER_DEV_MODE=1) and work only with --enable-sleep-mode', async () => {
    const plain = await startEngine(defaultEngineOptions({ ...opts, startupSeconds: 0, serverDevMode: false }));
    const disabled = await startEngine(defaultEngineOptions({ ...opts, startupSeconds: 0, enableSleepMode: false }));
    try {
      assert.equal((await fetch(plain.url + '/sleep', { method: 'POST' })).status, 404);
      assert.equal((await fetch(disabled.url + '/sleep', { method: 'POST' })).status, 400);
      assert.doesNotMatch(await (await fetch(disabled.url + '/metrics')).text(), /engine_sleep_state/);
      assert.equal(parseEngineArgs(['m', '--enable-sleep-mode'], { env: { VLLM_SERVER_DEV_MODE: '1' } }).serverDevMode, true);
    } finally {
      await Promise.all([plain.close(), disabled.close()]);
    }
  });
});
