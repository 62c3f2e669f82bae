// Scheduling end to end: the embedded API server with the project CRDs, real simulated engines on their own
// loopback "pod IPs", and the gateway watching ModelServers, ModelRoutes and Pods. Scheduling policies are changed
// by patching the ModelServer / ModelRoute (no restart); decisions are read from the access log's `pod` field.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { startTestApiServer, projectCrds, type TestApiServer } from '../../src/kube/testing/apiserver.ts';
import { startEngine, type EngineServer } from '../../src/engine/server.ts';
import { parseEngineArgs } from '../../src/engine/options.ts';
import { startGateway, type GatewayHandle } from '../../src/gateway/gateway.ts';
import { until } from '../../src/kube/testing/until.ts';
import { GROUP_INDEX_LABEL, ROLE_LABEL } from '../../src/api/labels.ts';
import { readyPod } from '../support/pods.ts';

const NET = '/apis/networking.matrixinfer.ai/v1alpha1/namespaces/default';
const IPS = ['127.0.0.81', '127.0.0.82', '127.0.0.83'];
const PD_IPS = ['127.0.0.84', '127.0.0.85', '127.0.0.86', '127.0.0.87'];

let api: TestApiServer;
let gw: GatewayHandle;
const engines: EngineServer[] = [];
const accessLog: Array<Record<string, unknown>> = [];

async function readyEndpoints(server: string): Promise<number> {
  const text = await (await fetch(gw.url + '/metrics')).text();
  const m = new RegExp(`matrixinfer_gateway_ready_endpoints\\{namespace="default",model_server="${server}"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

/** Send a completion; returns the pod that served it (from the access log). */
async function complete(model: string, prompt: string, headers: Record<string, string> = {}, maxTokens = 2): Promise<string> {
  const id = `req-${Math.random().toString(36).slice(2)}`;
  const res = await fetch(gw.url + '/v1/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': id, ...headers },
    body: JSON.stringify({ model, prompt, max_tokens: maxTokens }),
  });
  const body = await res.text();
  assert.equal(res.status, 200, body);
  const line = await until('the access log line', async () => accessLog.find((l) => l.request_id === id));
  return String(line.pod);
}

async function engineCounter(e: EngineServer, name: string): Promise<number> {
  const text = await (await fetch(`${e.url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name + '{') || line.startsWith(name + ' ')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

async function patchServer(name: string, spec: Record<string, unknown>): Promise<void> {
  await api.call('PATCH', `${NET}/modelservers/${name}`, { spec }, 'application/merge-patch+json');
}

const longText = (seed: string, chars = 2000): string => {
  let s = '';
  for (let i = 0; s.length < chars; i++) s += `${seed}: rule ${i} of a long system prompt shared by this group. `;
  return s;
};

before(async () => {
  api = await startTestApiServer();
  await api.installCrds(projectCrds());
  const args = (ip: string): string[] => ['m', '--host', ip, '--port', '0', '--time-to-first-token-ms', '1', '--inter-token-latency-ms', '1', '--inter-token-latency-per-seq-ms', '0'];
  for (const ip of [...IPS, ...PD_IPS]) engines.push(await startEngine(parseEngineArgs(args(ip), { warn: () => {} })));
  const log = new PassThrough();
  log.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line) accessLog.push(JSON.parse(line) as Record<string, unknown>);
  });
  gw = await startGateway({ kubeConfig: api.kubeConfig, port: 0, accessLog: log, log: () => {}, scrapeIntervalMs: 100 });
  await gw.ready;

  await api.call('POST', `${NET}/modelservers`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelServer',
    metadata: { name: 'sched' },
    spec: { modelInferRef: { name: 'sched-infer' }, model: 'm', service: { port: engines[0]!.port } },
  });
  await api.call('POST', `${NET}/modelroutes`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelRoute',
    metadata: { name: 'sched' },
    spec: { modelName: 'sched-model', rules: [{ targetModels: [{ modelServerName: 'sched' }] }] },
  });
});

after(async () => {
  await gw?.close();
  for (const e of engines) await e.close();
  await api?.close();
});

// Engines listen on ephemeral ports; a ModelServer has one port for all its pods. Restart the engines of a
// ModelServer on one shared port number (distinct IPs make that possible).
async function onSharedPort(indexes: number[]): Promise<number> {
  const port = engines[indexes[0]!]!.port;
  for (const i of indexes.slice(1)) {
    const ip = new URL(engines[i]!.url).hostname;
    await engines[i]!.close();
    engines[i] = await startEngine(
      parseEngineArgs(['m', '--host', ip, '--port', String(port), '--time-to-first-token-ms', '1', '--inter-token-latency-ms', '1', '--inter-token-latency-per-seq-ms', '0'], {
        warn: () => {},
      }),
    );
  }
  return port;
}

test('policies change with the ModelServer, without a restart', async () => {
  await onSharedPort([0, 1, 2]);
  for (let i = 0; i < 3; i++) await readyPod(api, `sched-${i}`, 'sched-infer', IPS[i]!);
  await until('three endpoints', async () => (await readyEndpoints('sched')) === 3);

  // Default policy: each group's long shared prompt keeps going to the same pod.
  const groups = ['alpha', 'beta', 'gamma', 'delta'].map((g) => longText(g));
  const home = new Map<string, string>();
  for (let round = 0; round < 4; round++) {
    for (const g of groups) {
      const pod = await complete('sched-model', `${g}\nQuestion ${round}?`);
      if (round === 0) home.set(g, pod);
      else assert.equal(pod, home.get(g), 'prefix affinity keeps the group on its pod');
    }
  }
  assert.ok(new Set(home.values()).size >= 2, 'groups are spread over pods');

  // Round-robin: the same prompt cycles over all three pods.
  await patchServer('sched', { scheduling: { policy: 'round-robin' } });
  await until('round-robin in effect', async () => {
    const pods = new Set<string>();
    for (let i = 0; i < 3; i++) pods.add(await complete('sched-model', groups[0]!));
    return pods.size === 3;
  });

  // Session affinity on x-user-id.
  await patchServer('sched', { scheduling: { policy: 'session-affinity', sessionAffinity: { header: 'x-user-id' } } });
  await until('session affinity in effect', async () => {
    const first = await complete('sched-model', 'hello', { 'x-user-id': 'alice' });
    for (let i = 0; i < 5; i++) if ((await complete('sched-model', `hello ${i}`, { 'x-user-id': 'alice' })) !== first) return false;
    return true;
  });
  const users = new Set<string>();
  for (let u = 0; u < 24; u++) users.add(await complete('sched-model', 'hi', { 'x-user-id': `user-${u}` }));
  assert.equal(users.size, 3, 'users spread over the pods');

  // A route override wins over the server's policy.
  await api.call('PATCH', `${NET}/modelroutes/sched`, { spec: { scheduling: { policy: 'round-robin' } } }, 'application/merge-patch+json');
  await until('route override in effect', async () => {
    const pods = new Set<string>();
    for (let i = 0; i < 3; i++) pods.add(await complete('sched-model', 'x', { 'x-user-id': 'alice' }));
    return pods.size === 3;
  });
  await api.call('PATCH', `${NET}/modelroutes/sched`, { spec: { scheduling: null } }, 'application/merge-patch+json');

  // Scheduling is measured, engines are scraped.
  const metrics = await (await fetch(gw.url + '/metrics')).text();
  for (const policy of ['default', 'round-robin', 'session-affinity']) {
    const m = new RegExp(`matrixinfer_gateway_scheduling_duration_seconds_count\\{policy="${policy}"\\} (\\d+)`).exec(metrics);
    assert.ok(m && Number(m[1]) > 0, `decisions counted for ${policy}`);
  }
  assert.match(metrics, /matrixinfer_gateway_endpoint_score\{/);
});

test('prefill/decode: a prefill pod of the decode pod’s group runs the prompt with max_tokens 1, the decode pod the rest', async () => {
  const idx = [3, 4, 5, 6];
  const port = await onSharedPort(idx);
  await api.call('POST', `${NET}/modelservers`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelServer',
    metadata: { name: 'pd' },
    spec: { modelInferRef: { name: 'pd-infer' }, model: 'm', service: { port }, pdDisaggregation: {}, scheduling: { policy: 'round-robin' } },
  });
  await api.call('POST', `${NET}/modelroutes`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelRoute',
    metadata: { name: 'pd' },
    spec: { modelName: 'pd-model', rules: [{ targetModels: [{ modelServerName: 'pd' }] }] },
  });
  // Group 0: prefill .84, decode .85; group 1: prefill .86, decode .87.
  await readyPod(api, 'pd-prefill-0', 'pd-infer', PD_IPS[0]!, { [ROLE_LABEL]: 'prefill', [GROUP_INDEX_LABEL]: '0' });
  await readyPod(api, 'pd-decode-0', 'pd-infer', PD_IPS[1]!, { [ROLE_LABEL]: 'decode', [GROUP_INDEX_LABEL]: '0' });
  await readyPod(api, 'pd-prefill-1', 'pd-infer', PD_IPS[2]!, { [ROLE_LABEL]: 'prefill', [GROUP_INDEX_LABEL]: '1' });
  await readyPod(api, 'pd-decode-1', 'pd-infer', PD_IPS[3]!, { [ROLE_LABEL]: 'decode', [GROUP_INDEX_LABEL]: '1' });
  await until('two decode endpoints', async () => (await readyEndpoints('pd')) === 2);
  const before = await Promise.all(idx.map((i) => engineCounter(engines[i]!, 'vllm:generation_tokens_total')));
  const served = new Map<string, number>();
  for (let i = 0; i < 6; i++) {
    const pod = await complete('pd-model', `prompt ${i}`, {}, 5);
    served.set(pod, (served.get(pod) ?? 0) + 1);
  }
  assert.deepEqual([...served.keys()].sort(), ['default/pd-decode-0', 'default/pd-decode-1'], 'only decode pods answer clients');
  const after = await Promise.all(idx.map((i) => engineCounter(engines[i]!, 'vllm:generation_tokens_total')));
  const delta = after.map((v, i) => v - before[i]!);
  // 6 requests: each prefill generated 1 token, each decode 5.
  assert.equal(delta[0]! + delta[2]!, 6, `prefill pods generated one token per request: ${delta}`);
  assert.equal(delta[1]! + delta[3]!, 30, `decode pods generated the answers: ${delta}`);
  // Same-group pairing: prefill tokens of group g equal the decode requests of group g.
  assert.equal(delta[0]! * 5, delta[1]!, 'group 0 pairs');
  assert.equal(delta[2]! * 5, delta[3]!, 'group 1 pairs');

  // A failing prefill is an attempt like any other: its 5xx reaches the client as the engine sent it, the attempt
  // metrics and the circuit breaker hear it, and the prefill pod's counters come back to zero.
  const attempts = async (outcome: string) => {
    const m = new RegExp(`matrixinfer_gateway_upstream_attempts_total\\{model="pd-model",outcome="${outcome}"\\} (\\d+)`).exec(await (await fetch(gw.url + '/metrics')).text());
    return m ? Number(m[1]) : 0;
  };
  const failedBefore = await attempts('status');
  const okBefore = await attempts('success');
  await fetch(engines[idx[0]!]!.url + '/admin/faults', { method: 'PUT', body: JSON.stringify({ failureRate: 1, failureTypes: ['server_error'] }) });
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await fetch(gw.url + '/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'pd-model', prompt: `p ${i}`, max_tokens: 2 }) });
      await res.text();
      statuses.push(res.status);
    }
    // Round robin over the two decode pods: two requests went to group 0, whose prefill fails.
    assert.deepEqual(statuses.filter((s) => s === 500).length, 2, `statuses ${statuses}`);
    assert.equal((await attempts('status')) - failedBefore, 2, 'each failed prefill counted as a failed attempt');
    // The two good requests: a prefill and a decode attempt each.
    assert.equal((await attempts('success')) - okBefore, 4);
    const text = await (await fetch(gw.url + '/metrics')).text();
    for (const gauge of ['matrixinfer_gateway_endpoint_inflight', 'matrixinfer_gateway_endpoint_awaiting_first_byte']) {
      const line = text.split('\n').find((l) => l.startsWith(`${gauge}{`) && l.includes('pod="pd-prefill-0"'));
      assert.ok(line?.endsWith(' 0'), `${gauge} of the prefill pod back to 0: ${line}`);
    }
  } finally {
    await fetch(engines[idx[0]!]!.url + '/admin/faults', { method: 'DELETE' });
  }
});
