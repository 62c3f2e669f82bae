// Exported traces (issue 11 §5), read back from a real OTLP receiver: Jaeger v2 (scripts/jaeger.sh), with its
// in-memory store and its query API. The platform runs as `matrixinfer up` runs it, each component a child process
// exporting under its own service name, with only the standard OTEL_* variables set. Asserted from what Jaeger
// stored: the gateway's server span continues the client's traceparent, the pipeline's stages are its children, the
// upstream attempt is the proxy stage's child and the engine's span the attempt's child; controllers span their
// reconciles and the API server's spans join them; the node agent and the API server span their work; log lines
// written inside a span and the gateway's access log carry the trace id; a client's unsampled trace is continued and not recorded. Then an engine with
// tracing disabled, or without OTEL_* at all, exports nothing and still serves.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, MAIN, REPO, startPlatform, stopProcess, until } from '../support/platform.ts';
import { jaegerPath, needs } from '../support/system.ts';
import { jaegerQuery as jaeger, parentOf, serviceOf as service, startJaeger, stopJaeger, tag, type JaegerSpan, type JaegerTrace } from '../support/jaeger.ts';

const skip = needs(['jaeger', jaegerPath()]);

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

describe('exported traces', { skip }, () => {
  const home = mkdtempSync(join(tmpdir(), 'matrixinfer-traces-'));
  let receiver: Awaited<ReturnType<typeof startJaeger>>;
  let platform: ReturnType<typeof startPlatform>;
  let gateway = '';

  before(async () => {
    receiver = await startJaeger(home);
    const [gatewayPort, tlsPort, grpcPort, apiserverPort, metricsPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    gateway = `http://127.0.0.1:${gatewayPort}`;
    // Only the standard variables: each component names itself (matrixinfer-<component>); a short batch delay so
    // the test need not wait the SDK's default 5 s for spans to leave.
    const env: NodeJS.ProcessEnv = { ...process.env, MATRIXINFER_HOME: home, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.otlp, OTEL_BSP_SCHEDULE_DELAY: '200' };
    delete env.OTEL_SERVICE_NAME;
    const args = ['-f', 'examples/quickstart.yaml', '--gateway-port', String(gatewayPort), '--gateway-tls-port', String(tlsPort), '--gateway-grpc-port', String(grpcPort)];
    args.push('--apiserver-port', String(apiserverPort), '--controller-manager-metrics-port', String(metricsPort), '--dashboard-port', String(await freePort()));
    platform = startPlatform(args, env);
    await platform.up;
    await until('a first completion', async () => (await chat()).status === 200, 60_000, 100);
  });

  after(async () => {
    if (platform) await stopProcess(platform.child);
    await stopJaeger(receiver);
    rmSync(home, { recursive: true, force: true });
  });

  function chat(traceparent?: string): Promise<Response> {
    return fetch(`${gateway}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(traceparent ? { traceparent } : {}) },
      body: JSON.stringify({ model: 'llama-7b', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4 }),
    });
  }

  test("a request's trace: the client's parent → gateway server span → stages → proxy → attempt → engine", async () => {
    const traceId = hex(16);
    const clientSpan = hex(8);
    const res = await chat(`00-${traceId}-${clientSpan}-01`);
    assert.equal(res.status, 200);
    await res.text();

    let trace: JaegerTrace | undefined;
    await until(
      'the gateway and the engine spans of the trace in Jaeger',
      async () => {
        trace = (await jaeger<JaegerTrace[]>(receiver.query, `/api/traces/${traceId}`))?.[0];
        const services = new Set(trace?.spans.map((s) => service(trace!, s)));
        return services.has('matrixinfer-gateway') && services.has('matrixinfer-engine') && trace!.spans.some((s) => s.operationName === 'attempt');
      },
      20_000,
      200,
    );
    const spans = trace!.spans;
    const byName = (name: string): JaegerSpan[] => spans.filter((s) => s.operationName === name);

    const server = byName('POST /v1/chat/completions').find((s) => service(trace!, s) === 'matrixinfer-gateway');
    assert.ok(server, `a gateway server span among ${spans.map((s) => s.operationName).join(', ')}`);
    assert.equal(server.traceID, traceId);
    assert.equal(parentOf(server), clientSpan, "the server span's parent is the client's span");
    assert.equal(tag(server, 'span.kind'), 'server');
    assert.equal(tag(server, 'matrixinfer.model'), 'llama-7b');
    assert.equal(tag(server, 'http.response.status_code'), 200);
    assert.equal(tag(server, 'matrixinfer.attempts'), 1);
    assert.match(String(tag(server, 'matrixinfer.pod')), /^default\//);
    assert.equal(tag(server, 'matrixinfer.route'), 'default/llama-7b');

    for (const stage of ['parse', 'match route', 'authenticate', 'authorize', 'limit', 'cache lookup', 'schedule', 'proxy']) {
      const [span] = byName(stage);
      assert.ok(span, `a span for the stage '${stage}'`);
      assert.equal(parentOf(span), server.spanID, `'${stage}' is a child of the server span`);
    }
    const proxy = byName('proxy')[0]!;
    const [attempt] = byName('attempt');
    assert.ok(attempt);
    assert.equal(parentOf(attempt), proxy.spanID, 'the attempt is a child of the proxy stage');
    assert.equal(tag(attempt, 'span.kind'), 'client');
    assert.equal(tag(attempt, 'matrixinfer.attempt.outcome'), 'success');
    assert.equal(tag(attempt, 'http.response.status_code'), 200);
    assert.equal(tag(attempt, 'matrixinfer.pod'), tag(server, 'matrixinfer.pod'));

    const engine = spans.find((s) => service(trace!, s) === 'matrixinfer-engine');
    assert.ok(engine);
    assert.equal(engine.operationName, 'POST /v1/chat/completions');
    assert.equal(tag(engine, 'span.kind'), 'server');
    assert.equal(parentOf(engine), attempt.spanID, "the engine's span is the attempt's child: it received the attempt's traceparent");
    assert.equal(tag(engine, 'gen_ai.request.model'), 'llama-7b');

    // The access log (the gateway's stderr under up) carries the same trace id.
    await until('the access log line', async () => readFileSync(join(home, 'logs', 'gateway.log'), 'utf8').includes(`"trace_id":"${traceId}"`), 5_000, 100);
  });

  test('a request without a traceparent starts a trace at the gateway; its access log line names it', async () => {
    const before = readFileSync(join(home, 'logs', 'gateway.log'), 'utf8').length;
    const res = await chat();
    assert.equal(res.status, 200);
    await res.text();
    let traceId = '';
    await until(
      'the access log line',
      async () => {
        const line = readFileSync(join(home, 'logs', 'gateway.log'), 'utf8').slice(before).split('\n').find((l) => l.includes('"path":"/v1/chat/completions"'));
        traceId = line === undefined ? '' : (JSON.parse(line) as { trace_id: string }).trace_id;
        return traceId !== '';
      },
      5_000,
      100,
    );
    await until(
      "the logged trace id's server span in Jaeger, a root",
      async () => {
        const trace = (await jaeger<JaegerTrace[]>(receiver.query, `/api/traces/${traceId}`))?.[0];
        const server = trace?.spans.find((s) => s.operationName === 'POST /v1/chat/completions' && service(trace, s) === 'matrixinfer-gateway');
        return server !== undefined && parentOf(server) === undefined;
      },
      20_000,
      200,
    );
  });

  test('a client trace not sampled (flags 00) is continued, not recorded: nothing exported, the access log keeps its id', async () => {
    const traceId = hex(16);
    const res = await chat(`00-${traceId}-${hex(8)}-00`);
    assert.equal(res.status, 200);
    await res.text();
    await until('the access log line', async () => readFileSync(join(home, 'logs', 'gateway.log'), 'utf8').includes(`"trace_id":"${traceId}"`), 5_000, 100);
    await new Promise((r) => setTimeout(r, 1_000)); // five batch delays of gateway and engine
    assert.equal((await jaeger<JaegerTrace[]>(receiver.query, `/api/traces/${traceId}`))?.length ?? 0, 0);
  });

  test('controllers span their reconciles (the API server spans their requests in the same trace); the agent its work, logged with the ids', async () => {
    const services = (await jaeger<string[]>(receiver.query, '/api/services')) ?? [];
    for (const name of ['matrixinfer-gateway', 'matrixinfer-engine', 'matrixinfer-controller-manager', 'matrixinfer-apiserver', 'matrixinfer-agent']) {
      assert.ok(services.includes(name), `${name} exported spans (services: ${services.join(', ')})`);
    }
    const traces = (await jaeger<JaegerTrace[]>(receiver.query, `/api/traces?service=matrixinfer-controller-manager&operation=${encodeURIComponent('reconcile model')}&limit=50`)) ?? [];
    assert.ok(traces.length > 0, "the model controller's reconciles");
    const reconcile = traces[0]!.spans.find((s) => s.operationName === 'reconcile model')!;
    assert.equal(tag(reconcile, 'matrixinfer.controller'), 'model');
    assert.match(String(tag(reconcile, 'matrixinfer.key')), /\//);
    // Some reconcile of the Model wrote to the API server: that request's span is a child of the reconcile.
    const joined = traces.some((t) => {
      const r = t.spans.find((s) => s.operationName === 'reconcile model');
      return r !== undefined && t.spans.some((s) => service(t, s) === 'matrixinfer-apiserver' && parentOf(s) === r.spanID);
    });
    assert.ok(joined, "an API server span whose parent is a model reconcile");
    const agent = (await jaeger<JaegerTrace[]>(receiver.query, `/api/traces?service=matrixinfer-agent&operation=${encodeURIComponent('start container')}&limit=5`)) ?? [];
    assert.ok(agent.length > 0, 'the node agent spans container starts');
    // kube/log.ts: a line written inside a span carries its ids (the agent's line about the engine it starts).
    const line = readFileSync(join(home, 'logs', 'agent.log'), 'utf8')
      .split('\n')
      .find((l) => l.includes('container engine') && l.includes('"trace_id"'));
    assert.ok(line, "the agent's log line about starting the engine carries a trace id");
    const ids = JSON.parse(line) as { trace_id: string; span_id: string };
    const started = (await jaeger<JaegerTrace[]>(receiver.query, `/api/traces/${ids.trace_id}`))?.[0];
    assert.equal(started?.spans.find((s) => s.spanID === ids.span_id)?.operationName, 'start container');
  });
});

describe('tracing off', { skip }, () => {
  test('disabled (OTEL_SDK_DISABLED=true beside an endpoint) or unset: the engine serves and exports nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'matrixinfer-traces-off-'));
    const receiver = await startJaeger(dir);
    try {
      for (const env of [{ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.otlp, OTEL_SDK_DISABLED: 'true' }, {}]) {
        const port = await freePort();
        const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
        const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN, 'engine', '--port', String(port), '--host', '127.0.0.1', '--startup-seconds', '0'], {
          cwd: REPO,
          env: { ...clean, ...env, OTEL_BSP_SCHEDULE_DELAY: '100' },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        try {
          const url = `http://127.0.0.1:${port}`;
          await until('the engine', async () => (await fetch(`${url}/health`).catch(() => undefined))?.ok === true, 20_000, 100);
          const traceId = hex(16);
          const res = await fetch(`${url}/v1/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${hex(8)}-01` },
            body: JSON.stringify({ model: 'meta-llama/Llama-3.1-8B-Instruct', prompt: 'Hello', max_tokens: 2 }),
          });
          assert.equal(res.status, 200, await res.text());
          await new Promise((r) => setTimeout(r, 600)); // three batch delays
          assert.equal((await jaeger<JaegerTrace[]>(receiver.query, `/api/traces/${traceId}`))?.length ?? 0, 0);
          assert.doesNotMatch(stderr, /exporting traces/);
        } finally {
          await stopProcess(child);
        }
      }
      assert.deepEqual((await jaeger<string[]>(receiver.query, '/api/services')) ?? [], []);
    } finally {
      await stopJaeger(receiver);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
