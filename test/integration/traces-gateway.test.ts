// The gateway's spans where a request takes more than one upstream request, read back from Jaeger v2 (as in
// traces.test.ts): a retry after a refused connection (two `attempt` spans under `proxy`, the first failed with its
// outcome), and prefill/decode (a `prefill` span beside the decode's `attempt`, each the parent of its engine's span).
// Gateway and engines run in this process with tracing started here, so all spans come from one service.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { GROUP_INDEX_LABEL, ROLE_LABEL } from '../../src/api/labels.ts';
import { parseEngineArgs } from '../../src/engine/options.ts';
import { startEngine, type EngineServer } from '../../src/engine/server.ts';
import { startGateway, type GatewayHandle } from '../../src/gateway/gateway.ts';
import { projectCrds, startTestApiServer, type TestApiServer } from '../../src/kube/testing/apiserver.ts';
import { startTracing } from '../../src/kube/tracing.ts';
import { readyPod } from '../support/pods.ts';
import { until } from '../support/platform.ts';
import { jaegerPath, needs } from '../support/system.ts';
import { jaegerTraces, parentOf, startJaeger, stopJaeger, tag, type JaegerSpan } from '../support/jaeger.ts';

const NET = '/apis/networking.matrixinfer.ai/v1alpha1/namespaces/default';
const skip = needs(['jaeger', jaegerPath()]);
const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

describe('gateway spans of retries and prefill/decode', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'matrixinfer-traces-gw-'));
  let receiver: Awaited<ReturnType<typeof startJaeger>>;
  let tracing: { shutdown(): Promise<void> };
  let api: TestApiServer;
  let gw: GatewayHandle;
  const engines: EngineServer[] = [];

  const engine = async (ip: string, port = 0): Promise<EngineServer> => {
    const e = await startEngine(parseEngineArgs(['m', '--host', ip, '--port', String(port), '--time-to-first-token-ms', '1', '--inter-token-latency-ms', '1'], { warn: () => {} }));
    engines.push(e);
    return e;
  };

  before(async () => {
    receiver = await startJaeger(dir);
    tracing = await startTracing('gateway', { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.otlp, OTEL_BSP_SCHEDULE_DELAY: '100' });
    api = await startTestApiServer();
    await api.installCrds(projectCrds());
    gw = await startGateway({ kubeConfig: api.kubeConfig, port: 0, accessLog: new PassThrough().resume(), log: () => {} });
    await gw.ready;
  });

  after(async () => {
    await gw?.close();
    for (const e of engines) await e.close();
    await api?.close();
    await tracing?.shutdown();
    await stopJaeger(receiver);
    rmSync(dir, { recursive: true, force: true });
  });

  async function serve(name: string, port: number, extra: Record<string, unknown> = {}): Promise<void> {
    await api.call('POST', `${NET}/modelservers`, {
      apiVersion: 'networking.matrixinfer.ai/v1alpha1',
      kind: 'ModelServer',
      metadata: { name },
      spec: { modelInferRef: { name: `${name}-infer` }, model: 'm', service: { port }, scheduling: { policy: 'round-robin' }, ...extra },
    });
    await api.call('POST', `${NET}/modelroutes`, {
      apiVersion: 'networking.matrixinfer.ai/v1alpha1',
      kind: 'ModelRoute',
      metadata: { name },
      spec: { modelName: `${name}-model`, rules: [{ targetModels: [{ modelServerName: name }] }] },
    });
  }

  /** A completion with a fresh sampled traceparent; the trace's spans once `ready` holds for them. */
  async function traced(model: string, ready: (spans: JaegerSpan[]) => boolean): Promise<JaegerSpan[]> {
    const traceId = hex(16);
    const res = await fetch(`${gw.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${hex(8)}-01` },
      body: JSON.stringify({ model, prompt: 'Hello', max_tokens: 3 }),
    });
    assert.equal(res.status, 200, await res.text());
    return until(`the spans of trace ${traceId}`, async () => {
      const spans = (await jaegerTraces(receiver.query, `/api/traces/${traceId}`))?.[0]?.spans ?? [];
      return ready(spans) ? spans : undefined;
    }, 10_000, 100);
  }

  test('a retry: one attempt span per attempt under proxy, the refused one failed with its outcome', async () => {
    const live = await engine('127.0.0.91');
    // The other pod's address has nothing listening on the ModelServer's port: its attempt is refused.
    await serve('retry', live.port);
    await readyPod(api, 'retry-dead', 'retry-infer', '127.0.0.92');
    await readyPod(api, 'retry-live', 'retry-infer', '127.0.0.91');
    await until('two endpoints', async () => (await (await fetch(`${gw.url}/metrics`)).text()).includes('matrixinfer_gateway_ready_endpoints{namespace="default",model_server="retry"} 2'));
    // Round robin: of two requests, one starts on the dead pod.
    let spans: JaegerSpan[] = [];
    for (let i = 0; i < 2 && !spans.some((s) => tag(s, 'matrixinfer.attempt.outcome') === 'connect'); i++) {
      spans = await traced('retry-model', (s) => s.some((x) => x.operationName === 'POST /v1/completions' && tag(x, 'span.kind') === 'server') && s.filter((x) => x.operationName === 'attempt').length >= 1);
    }
    const attempts = spans.filter((s) => s.operationName === 'attempt').sort((a, b) => Number(tag(a, 'matrixinfer.attempt')) - Number(tag(b, 'matrixinfer.attempt')));
    assert.equal(attempts.length, 2, `two attempts: ${attempts.map((a) => tag(a, 'matrixinfer.attempt.outcome'))}`);
    const proxy = spans.find((s) => s.operationName === 'proxy')!;
    for (const a of attempts) assert.equal(parentOf(a), proxy.spanID);
    assert.equal(tag(attempts[0]!, 'matrixinfer.attempt.outcome'), 'connect');
    assert.equal(tag(attempts[0]!, 'error.type'), 'connect');
    assert.equal(tag(attempts[0]!, 'otel.status_code'), 'ERROR');
    assert.equal(tag(attempts[0]!, 'matrixinfer.pod'), 'default/retry-dead');
    assert.equal(tag(attempts[1]!, 'matrixinfer.attempt.outcome'), 'success');
    assert.equal(tag(attempts[1]!, 'matrixinfer.pod'), 'default/retry-live');
    const server = spans.find((s) => s.operationName === 'POST /v1/completions' && tag(s, 'span.kind') === 'server' && parentOf(s) !== attempts[1]!.spanID)!;
    assert.equal(tag(server, 'matrixinfer.attempts'), 2);
    await until("the engine's span under the second attempt", async () => {
      const all = (await jaegerTraces(receiver.query, `/api/traces/${server.traceID}`))?.[0]?.spans ?? [];
      return all.some((s) => parentOf(s) === attempts[1]!.spanID && tag(s, 'span.kind') === 'server');
    }, 10_000, 100);
  });

  test('prefill/decode: a prefill span and the decode attempt under proxy, each with its engine span', async () => {
    const prefill = await engine('127.0.0.93');
    await engine('127.0.0.94', prefill.port);
    await serve('pd', prefill.port, { pdDisaggregation: {} });
    await readyPod(api, 'pd-prefill', 'pd-infer', '127.0.0.93', { [ROLE_LABEL]: 'prefill', [GROUP_INDEX_LABEL]: '0' });
    await readyPod(api, 'pd-decode', 'pd-infer', '127.0.0.94', { [ROLE_LABEL]: 'decode', [GROUP_INDEX_LABEL]: '0' });
    await until('the decode endpoint', async () => (await (await fetch(`${gw.url}/metrics`)).text()).includes('matrixinfer_gateway_ready_endpoints{namespace="default",model_server="pd"} 1'));
    const spans = await traced('pd-model', (s) => {
      const ids = new Set(s.filter((x) => x.operationName === 'prefill' || x.operationName === 'attempt').map((x) => x.spanID));
      return ids.size === 2 && s.filter((x) => ids.has(parentOf(x) ?? '')).length === 2;
    });
    const proxy = spans.find((s) => s.operationName === 'proxy')!;
    const pre = spans.find((s) => s.operationName === 'prefill')!;
    const dec = spans.find((s) => s.operationName === 'attempt')!;
    assert.equal(parentOf(pre), proxy.spanID);
    assert.equal(parentOf(dec), proxy.spanID);
    assert.equal(tag(pre, 'matrixinfer.pod'), 'default/pd-prefill');
    assert.equal(tag(pre, 'matrixinfer.attempt.outcome'), 'success');
    assert.equal(tag(dec, 'matrixinfer.pod'), 'default/pd-decode');
    const enginePods = spans.filter((s) => tag(s, 'span.kind') === 'server' && (parentOf(s) === pre.spanID || parentOf(s) === dec.spanID));
    assert.equal(enginePods.length, 2, 'each engine continued the traceparent its request carried');
  });
});
