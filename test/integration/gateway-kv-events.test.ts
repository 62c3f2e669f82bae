// Exact prefix routing from KV events, end to end: the embedded API server, simulated engines publishing vLLM's KV
// events over real ZeroMQ sockets on their own loopback "pod IPs", and the gateway subscribing to them because the
// pods' engine command lines carry --kv-events-config. Checked: a long prompt goes back to the pod that holds it,
// decided by the default policy's TTFT scorer (which reads the exact index), and the engine serves it from cache;
// after that pod's cache is cleared (AllBlocksCleared), the gateway knows it no longer holds it; a pod whose stream
// is garbage falls back to the approximate index, with the metric saying so.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { PassThrough } from 'node:stream';
import { Publisher } from 'zeromq';
import { startTestApiServer, projectCrds, type TestApiServer } from '../../src/kube/testing/apiserver.ts';
import { startEngine, type EngineServer } from '../../src/engine/server.ts';
import { parseEngineArgs } from '../../src/engine/options.ts';
import { startGateway, type GatewayHandle } from '../../src/gateway/gateway.ts';
import { until } from '../../src/kube/testing/until.ts';
import { MODELINFER_NAME_LABEL } from '../../src/api/labels.ts';
import { seqFrame } from '../../src/api/kv-events.ts';
import { setPodStatus } from '../support/pods.ts';
import { fastEngineArgs } from '../support/engines.ts';

const NET = '/apis/networking.matrixinfer.ai/v1alpha1/namespaces/default';
const IPS = ['127.0.0.111', '127.0.0.112', '127.0.0.113'];
const GARBAGE_IP = '127.0.0.114';
const SEED = '5';

let api: TestApiServer;
let gw: GatewayHandle;
const engines: EngineServer[] = [];
let garbage: Publisher | undefined;
let garbageTimer: NodeJS.Timeout | undefined;
const accessLog: Array<Record<string, unknown>> = [];
let kvConfig = '';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function metricsText(): Promise<string> {
  return (await fetch(gw.url + '/metrics')).text();
}

function sample(text: string, name: string, labels: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    const close = line.indexOf('} ');
    if (labels.split(',').every((l) => line.slice(0, close).includes(l))) sum += Number(line.slice(close + 2));
  }
  return sum;
}

async function kvState(pod: string, state: string): Promise<boolean> {
  return sample(await metricsText(), 'matrixinfer_gateway_kv_index_state', `pod="${pod}",state="${state}"`) === 1;
}

async function decisions(pod: string, scorer: string): Promise<number> {
  return sample(await metricsText(), 'matrixinfer_gateway_routing_decisions_total', `pod="${pod}",scorer="${scorer}"`);
}

async function complete(model: string, prompt: string): Promise<{ pod: string; cached: number; promptTokens: number }> {
  const id = `req-${Math.random().toString(36).slice(2)}`;
  const res = await fetch(gw.url + '/v1/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': id },
    body: JSON.stringify({ model, prompt, max_tokens: 2 }),
  });
  const body = (await res.json()) as { usage: { prompt_tokens: number; prompt_tokens_details?: { cached_tokens?: number } } };
  assert.equal(res.status, 200, JSON.stringify(body));
  const line = await until('the access log line', async () => accessLog.find((l) => l.request_id === id));
  return { pod: String(line.pod).split('/').pop()!, cached: body.usage.prompt_tokens_details?.cached_tokens ?? 0, promptTokens: body.usage.prompt_tokens };
}

/** A pod whose engine container's command line says it publishes KV events (what the gateway reads). */
async function kvPod(name: string, infer: string, ip: string): Promise<void> {
  await api.call('POST', '/api/v1/namespaces/default/pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { [MODELINFER_NAME_LABEL]: infer } },
    spec: {
      containers: [{ name: 'engine', image: 'matrixinfer/engine', args: ['m', '--kv-events-config', kvConfig], env: [{ name: 'PYTHONHASHSEED', value: SEED }] }],
    },
  });
  await setPodStatus(api, name, ip, true);
}

async function server(name: string, infer: string, port: number): Promise<void> {
  await api.call('POST', `${NET}/modelservers`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelServer',
    metadata: { name },
    spec: { modelInferRef: { name: infer }, model: 'm', service: { port } },
  });
  await api.call('POST', `${NET}/modelroutes`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelRoute',
    metadata: { name },
    spec: { modelName: `${name}-model`, rules: [{ targetModels: [{ modelServerName: name }] }] },
  });
}

/** A long document: `chars` characters of varied text, distinct per seed. */
const longText = (seed: string, chars: number): string => {
  let s = '';
  for (let i = 0; s.length < chars; i++) s += `${seed} paragraph ${i}: the ${i % 7 === 0 ? 'quarterly' : 'annual'} figures for region ${(i * 37) % 101} rose by ${(i * 13) % 97} percent. `;
  return s;
};

before(async () => {
  api = await startTestApiServer();
  await api.installCrds(projectCrds());
  const [zPub, zReplay] = [await freePort(), await freePort()];
  kvConfig = JSON.stringify({ enable_kv_cache_events: true, publisher: 'zmq', endpoint: `tcp://*:${zPub}`, replay_endpoint: `tcp://*:${zReplay}`, topic: 'kv-events' });
  let port = 0;
  for (const ip of IPS) {
    const e = await startEngine(
      parseEngineArgs(fastEngineArgs('m', ip, port, ['--kv-events-config', kvConfig, '--enable-sleep-mode']), { warn: () => {}, env: { PYTHONHASHSEED: SEED, VLLM_SERVER_DEV_MODE: '1' } }),
    );
    port = e.port;
    engines.push(e);
  }
  // The garbage pod: a real engine (no events) and, where its events should be, a publisher of nonsense.
  engines.push(await startEngine(parseEngineArgs(fastEngineArgs('m', GARBAGE_IP, port), { warn: () => {} })));
  garbage = new Publisher({ linger: 0 });
  await garbage.bind(`tcp://${GARBAGE_IP}:${zPub}`);
  let seq = 0;
  garbageTimer = setInterval(() => void garbage!.send(['kv-events', seqFrame(seq++), Buffer.from('not msgpack \xc1')]).catch(() => {}), 50);

  const log = new PassThrough();
  log.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line) accessLog.push(JSON.parse(line) as Record<string, unknown>);
  });
  gw = await startGateway({ kubeConfig: api.kubeConfig, port: 0, accessLog: log, log: () => {}, scrapeIntervalMs: 100 });
  await gw.ready;
  await server('kv', 'kv-infer', port);
  for (let i = 0; i < IPS.length; i++) await kvPod(`kv-${i}`, 'kv-infer', IPS[i]!);
});

after(async () => {
  clearInterval(garbageTimer);
  garbage?.close();
  await gw?.close();
  for (const e of engines) await e.close();
  await api?.close();
});

test('a long prompt goes back to the pod whose KV cache holds it, known from its KV events', async () => {
  for (let i = 0; i < IPS.length; i++) await until(`kv-${i} index live`, () => kvState(`kv-${i}`, 'live'), 20_000);

  // A 40 KB document.
  const shared = longText('shared', 24_000);
  const docA = shared + longText('alpha', 16_000);
  const first = await complete('kv-model', `${docA}\nQuestion 1?`);
  assert.equal(first.cached, 0);
  // The engine's BlockStored reaches the gateway's index.
  await until('the blocks in the index', async () => sample(await metricsText(), 'matrixinfer_gateway_kv_index_blocks', `pod="${first.pod}"`) > 500);

  const before = await decisions(first.pod, 'ttft');
  const second = await complete('kv-model', `${docA}\nQuestion 2?`);
  assert.equal(second.pod, first.pod, 'the follow-up goes where the document is cached');
  assert.ok(second.cached > second.promptTokens - 64, `served from cache: ${second.cached} of ${second.promptTokens} prompt tokens`);
  assert.equal(await decisions(first.pod, 'ttft'), before + 1, 'decided by the TTFT scorer');

  // The pod's cache is emptied (sleep discards it: AllBlocksCleared): the gateway knows at once; the approximate
  // index alone would still send the document there.
  const engine = engines[Number(/^kv-(\d)$/.exec(first.pod)![1])]!;
  assert.equal((await fetch(`${engine.url}/sleep?level=1`, { method: 'POST' })).status, 200);
  assert.equal((await fetch(`${engine.url}/wake_up`, { method: 'POST' })).status, 200);
  await until('the index emptied', async () => sample(await metricsText(), 'matrixinfer_gateway_kv_index_blocks', `pod="${first.pod}"`) === 0);
  const prefixBefore = await decisions(first.pod, 'ttft');
  const third = await complete('kv-model', `${docA}\nQuestion 3?`);
  if (third.pod === first.pod) assert.equal(await decisions(first.pod, 'ttft'), prefixBefore, 'not sent there for a prefix it no longer holds');
  assert.ok(sample(await metricsText(), 'matrixinfer_gateway_kv_events_total', `pod="${first.pod}",outcome="applied"`) >= 2);
});

test('an engine restart is a new epoch: the pod\'s index restarts empty and follows the new engine', async () => {
  await until('kv-2 index live', () => kvState('kv-2', 'live'), 20_000);
  const old = engines[2]!;
  // Give the old engine some cached blocks the gateway knows about (sent to it directly).
  const doc = longText('epoch', 8000);
  await fetch(`${old.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: doc, max_tokens: 2 }) });
  await until('the old blocks indexed', async () => sample(await metricsText(), 'matrixinfer_gateway_kv_index_blocks', 'pod="kv-2"') > 50);
  const port = old.port;
  await old.close();
  engines[2] = await startEngine(
    parseEngineArgs(fastEngineArgs('m', IPS[2]!, port, ['--kv-events-config', kvConfig, '--enable-sleep-mode']), { warn: () => {}, env: { PYTHONHASHSEED: SEED, VLLM_SERVER_DEV_MODE: '1' } }),
  );
  await new Promise((r) => setTimeout(r, 300)); // the subscriber reconnects on its own
  const short = 'A short new prompt for the restarted engine, long enough for a few blocks of sixteen tokens each. '.repeat(3);
  const res = await fetch(`${engines[2]!.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: short, max_tokens: 2 }) });
  assert.equal(res.status, 200);
  await until('the new epoch seen', async () => sample(await metricsText(), 'matrixinfer_gateway_kv_events_total', 'pod="kv-2",outcome="epoch"') >= 1, 20_000);
  await until('the index holds the new engine\'s blocks only', async () => {
    const blocks = sample(await metricsText(), 'matrixinfer_gateway_kv_index_blocks', 'pod="kv-2"');
    return blocks > 0 && blocks < 20 && (await kvState('kv-2', 'live'));
  });
});

test('a pod whose event stream is garbage falls back to the approximate index', async () => {
  await server('kvg', 'kvg-infer', engines[0]!.port);
  await kvPod('kvg-0', 'kvg-infer', GARBAGE_IP);
  await until('the garbage pod stale', () => kvState('kvg-0', 'stale'), 20_000);
  assert.ok(sample(await metricsText(), 'matrixinfer_gateway_kv_events_total', 'pod="kvg-0",outcome="undecodable"') >= 1);
  // Scheduling goes on (one pod: no choice, but no wait either).
  const r = await complete('kvg-model', longText('gamma', 3000));
  assert.equal(r.pod, 'kvg-0');
  assert.ok(await kvState('kvg-0', 'stale'));
});
