// Fault injection over HTTP against the real engine: errors, the per-request header, hang, slow, reset, the admin
// endpoint, and (in a child process running `matrixinfer engine`, never in this one) kill.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { defaultEngineOptions } from './options.ts';
import { startEngine, type EngineServer } from './server.ts';
import { defaultFaultConfig, type FaultConfig } from './faults.ts';

const FAST = { timeToFirstTokenMs: 2, prefillTimePerTokenMs: 0.005, interTokenLatencyMs: 1, interTokenLatencyPerSeqMs: 0.05 };
const MODEL = 'sim-model';

async function engine(faults?: Partial<FaultConfig>, latency: Partial<typeof FAST> = {}): Promise<EngineServer> {
  return startEngine(
    defaultEngineOptions({
      port: 0,
      servedModelNames: [MODEL],
      latency: { ...FAST, ...latency },
      ...(faults ? { faults: { ...defaultFaultConfig(), ...faults } } : {}),
    }),
  );
}

function complete(url: string, body: Record<string, unknown> = {}, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
  return fetch(url + '/v1/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: MODEL, prompt: 'Tell me a story', max_tokens: 5, ...body }),
    ...(signal ? { signal } : {}),
  });
}

function admin(e: EngineServer, method: string, body?: unknown): Promise<Response> {
  return fetch(e.url + '/admin/faults', { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

/** Reads an SSE stream, counting token events, until it ends, fails, or `idleMs` pass without a byte. */
async function readStream(res: Response, idleMs = 5000): Promise<{ tokens: number; done: boolean; error: unknown; idle: boolean }> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let error: unknown = null;
  let idle = false;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'idle'>((r) => (timer = setTimeout(() => r('idle'), idleMs)));
    try {
      const r = await Promise.race([reader.read(), timeout]);
      if (r === 'idle') {
        idle = true;
        await reader.cancel().catch(() => {});
        break;
      }
      if (r.done) break;
      text += decoder.decode(r.value, { stream: true });
    } catch (err) {
      error = err;
      break;
    } finally {
      clearTimeout(timer);
    }
  }
  const events = text.split('\n\n').filter((s) => s.startsWith('data: '));
  return { tokens: events.filter((s) => s.startsWith('data: {') && s.includes('"text"')).length, done: events.includes('data: [DONE]'), error, idle };
}

const isTimeout = (err: unknown) => err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');

describe('fault injection over HTTP', () => {
  let e: EngineServer;
  before(async () => {
    e = await engine();
  });
  after(() => e.close());

  it('injects errors at the configured rate, seeded, and counts them', async () => {
    const run = async (): Promise<number[]> => {
      const statuses: number[] = [];
      for (let i = 0; i < 200; i++) {
        const r = await complete(e.url, { max_tokens: 1 });
        statuses.push(r.status);
        const body = (await r.json()) as { error?: { type: string; code: number; param: null; message: string } };
        if (r.status !== 200) {
          assert.equal(body.error!.code, r.status);
          assert.equal(body.error!.type, r.status === 429 ? 'RateLimitError' : 'ServiceUnavailableError');
          assert.equal(r.headers.get('x-matrixinfer-fault'), r.status === 429 ? 'rate_limit' : 'overloaded');
        }
      }
      return statuses;
    };
    assert.equal((await admin(e, 'PUT', { failureRate: 0.3, failureTypes: ['rate_limit', 'overloaded'], seed: 7 })).status, 200);
    const first = await run();
    const failed = first.filter((s) => s !== 200).length;
    assert.ok(failed >= 40 && failed <= 80, `failed ${failed}/200`);
    assert.ok(first.includes(429) && first.includes(503));
    const state = (await (await admin(e, 'GET')).json()) as { injected: Record<string, number>; requests: number };
    assert.equal((state.injected.rate_limit ?? 0) + (state.injected.overloaded ?? 0), failed);

    // Same seed, same decisions.
    await admin(e, 'PATCH', { seed: 7 });
    assert.deepEqual(await run(), first);

    const metrics = await (await fetch(e.url + '/metrics')).text();
    assert.match(metrics, /matrixinfer_engine_injected_faults_total\{type="rate_limit"\} \d+/);
    await admin(e, 'DELETE');
  });

  it('forces a status per request with x-matrixinfer-fault (and llm-d\'s X-Return-Error)', async () => {
    let r = await complete(e.url, {}, { 'x-matrixinfer-fault': 'status=503' });
    assert.equal(r.status, 503);
    assert.deepEqual(await r.json(), {
      error: { message: 'The server is overloaded or not ready yet. Please try again later.', type: 'ServiceUnavailableError', param: null, code: 503 },
    });
    r = await complete(e.url, { stream: true }, { 'x-matrixinfer-fault': 'rate_limit' });
    assert.equal(r.status, 429);
    assert.equal(((await r.json()) as { error: { type: string } }).error.type, 'RateLimitError');
    r = await complete(e.url, {}, { 'X-Return-Error': '500' });
    assert.equal(r.status, 500);
    assert.equal(((await r.json()) as { error: { type: string } }).error.type, 'InternalServerError');
    r = await complete(e.url, {}, { 'x-matrixinfer-fault': 'status=200' });
    assert.equal(r.status, 400);
    assert.match(((await r.json()) as { error: { message: string } }).error.message, /invalid x-matrixinfer-fault header/);
    // `none` wins over the config.
    await admin(e, 'PUT', { failureRate: 1 });
    r = await complete(e.url, {}, { 'x-matrixinfer-fault': 'none' });
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    await admin(e, 'DELETE');
  });

  it('hang: accepts the request and never answers; the engine keeps serving others', async () => {
    await admin(e, 'PUT', { mode: 'hang' });
    const hung = complete(e.url, {}, {}, AbortSignal.timeout(1000));
    // Clear the fault once the hung request has been decided.
    const hangs = async () => (((await (await admin(e, 'GET')).json()) as { injected: Record<string, number> }).injected.hang ?? 0);
    for (let i = 0; (await hangs()) < 1; i++) {
      assert.ok(i < 200, 'the hung request reached the engine');
      await new Promise((r) => setTimeout(r, 5));
    }
    await admin(e, 'DELETE');
    const ok = await complete(e.url);
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    await assert.rejects(hung, isTimeout);
  });

  it('hang mid-stream: stops after N tokens without closing the stream', async () => {
    const r = await complete(e.url, { stream: true, max_tokens: 10 }, { 'x-matrixinfer-fault': 'hang, after-tokens=2' });
    assert.equal(r.status, 200);
    const s = await readStream(r, 800);
    assert.deepEqual({ tokens: s.tokens, done: s.done, idle: s.idle, error: s.error }, { tokens: 2, done: false, idle: true, error: null });
  });

  it('slow: the response takes factor times as long', async () => {
    const slowEngine = await engine(undefined, { timeToFirstTokenMs: 10, interTokenLatencyMs: 10 });
    try {
      const timed = async (headers: Record<string, string>) => {
        const t0 = performance.now();
        const r = await complete(slowEngine.url, { max_tokens: 10 }, headers);
        assert.equal(r.status, 200);
        assert.equal(((await r.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens, 10);
        return performance.now() - t0;
      };
      const base = await timed({});
      const slow = await timed({ 'x-matrixinfer-fault': 'slow, factor=5' });
      // Natural time is at least TTFT + 9 ITL = 100 ms (timers never fire early), so slow >= 5 × 100 ms.
      assert.ok(slow >= 0.95 * 5 * 100, `slow ${slow.toFixed(0)} ms`);
      assert.ok(slow > base, `slow ${slow.toFixed(0)} ms vs ${base.toFixed(0)} ms`);

      // Streaming: tokens still arrive in order and complete.
      await fetch(slowEngine.url + '/admin/faults', { method: 'PUT', body: JSON.stringify({ mode: 'slow', slowFactor: 3 }) });
      const t0 = performance.now();
      const s = await readStream(await complete(slowEngine.url, { stream: true, max_tokens: 10 }));
      assert.deepEqual({ tokens: s.tokens, done: s.done }, { tokens: 10, done: true });
      assert.ok(performance.now() - t0 >= 0.95 * 3 * 100);
    } finally {
      await slowEngine.close();
    }
  });

  it('reset: the connection is reset mid-stream after N tokens, or before any byte', async () => {
    const r = await complete(e.url, { stream: true, max_tokens: 10 }, { 'x-matrixinfer-fault': 'reset, after-tokens=3' });
    assert.equal(r.status, 200);
    const s = await readStream(r);
    assert.equal(s.tokens, 3);
    assert.equal(s.done, false);
    assert.ok(s.error, 'the stream fails');
    assert.equal(((s.error as Error).cause as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');

    await assert.rejects(complete(e.url, {}, { 'x-matrixinfer-fault': 'reset' }));
    await assert.rejects(complete(e.url, { max_tokens: 10 }, { 'x-matrixinfer-fault': 'reset; after=4' }));
    // The engine is fine, and freed the sequences.
    const ok = await complete(e.url);
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    assert.equal(e.scheduler.numRunning + e.scheduler.numWaiting, 0);
  });

  it('admin endpoint: reads, replaces, patches and clears faults at run time', async () => {
    let r = await admin(e, 'GET');
    assert.equal(r.status, 200);
    assert.deepEqual(((await r.json()) as { config: FaultConfig }).config, defaultFaultConfig());

    r = await admin(e, 'PUT', { failureRate: 1, failureTypes: ['model_not_found'] });
    assert.equal(((await r.json()) as { config: FaultConfig }).config.failureRate, 1);
    let c = await complete(e.url);
    assert.equal(c.status, 404);
    assert.equal(((await c.json()) as { error: { message: string } }).error.message, 'The model `sim-model` does not exist.');

    r = await admin(e, 'PATCH', { failureTypes: ['server_error'] });
    const patched = ((await r.json()) as { config: FaultConfig }).config;
    assert.deepEqual([patched.failureRate, patched.failureTypes], [1, ['server_error']]);
    c = await complete(e.url);
    assert.equal(c.status, 500);
    await c.arrayBuffer();

    // Invalid changes are rejected whole.
    r = await admin(e, 'PATCH', { failureRate: 0, mode: 'explode' });
    assert.equal(r.status, 400);
    assert.match(((await r.json()) as { error: { message: string } }).error.message, /mode must be one of/);
    r = await admin(e, 'PUT', { failureRat: 0 });
    assert.equal(r.status, 400);
    r = await fetch(e.url + '/admin/faults', { method: 'PATCH', body: '{not json' });
    assert.equal(r.status, 400);
    assert.equal(((await (await admin(e, 'GET')).json()) as { config: FaultConfig }).config.failureRate, 1);

    r = await admin(e, 'DELETE');
    assert.deepEqual(((await r.json()) as { config: FaultConfig }).config, defaultFaultConfig());
    c = await complete(e.url);
    assert.equal(c.status, 200);
    await c.arrayBuffer();

    r = await admin(e, 'PUT', { failureRate: 1 });
    await r.arrayBuffer();
    r = await admin(e, 'PUT', {});
    assert.equal(((await r.json()) as { config: FaultConfig }).config.failureRate, 0);

    assert.equal((await admin(e, 'OPTIONS')).status, 405);
  });
});

describe('fault injection: kill (child process)', () => {
  let child: ChildProcess | undefined;
  after(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it('kills the engine process mid-stream after N tokens', async () => {
    const main = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
    child = spawn(
      process.execPath,
      [
        '--disable-warning=ExperimentalWarning', main, 'engine', MODEL, '--port', '0', '--startup-seconds', '0', '--fault-mode', 'kill', '--fault-after-tokens', '3',
        '--time-to-first-token-ms', '2', '--inter-token-latency-ms', '5',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const exited = once(child, 'exit');
    let stderr = '';
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`engine did not start: ${stderr}`)), 10_000);
      child!.stderr!.setEncoding('utf8').on('data', (s: string) => {
        stderr += s;
        const m = /listening on (http:\/\/[^\s"]+)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child!.once('exit', () => reject(new Error(`engine exited: ${stderr}`)));
    });

    const r = await complete(url, { stream: true, max_tokens: 20 });
    assert.equal(r.status, 200);
    const s = await readStream(r);
    assert.equal(s.tokens, 3);
    assert.equal(s.done, false);
    assert.ok(s.error, 'the stream fails');
    const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
    assert.deepEqual([code, signal], [null, 'SIGKILL']);
    await assert.rejects(fetch(url + '/health'));
  });
});
