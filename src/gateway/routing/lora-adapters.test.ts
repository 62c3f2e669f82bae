// The gateway's LoRA filter (table.ts): an adapter Model's route (labelled with its base) reaches only the pods whose
// LoRA loader record lists the adapter and is not older than the pod's last restart; other LoRA routes reach every pod.
// A request held while the base starts from zero (activation/hold.ts) waits until a pod has the adapter.
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adapterAnnotations, LORA_BASE_LABEL } from '../../api/lora-adapters.ts';
import { parseEngineArgs } from '../../engine/options.ts';
import { startEngine } from '../../engine/server.ts';
import { createCore } from '../gateway.ts';
import { modelRoute, modelServer, pod, serveCore, toServers } from '../testing/fixtures.ts';
import { buildRoutingTable, servingEndpoints, type WorldSnapshot } from './table.ts';
import { dumpServers } from '../observability/debug.ts';
import { until } from '../../kube/testing/until.ts';
import { fastEngineArgs, engineMetric } from '../../../test/support/engines.ts';

/** A base pod of ModelInfer `llama` with the loader's record of `adapters` at `recordedAt`, after `restarts` restarts. */
function basePod(name: string, ip: string, adapters?: string[], recordedAt = 0, restarts = 0) {
  const p = pod(name, 'llama', { ip });
  return {
    ...p,
    metadata: { ...p.metadata, ...(adapters ? { annotations: adapterAnnotations(adapters, recordedAt) } : {}) },
    status: { ...p.status, containerStatuses: [{ restartCount: restarts }] },
  };
}

function adapterRoute(name: string, labelled = true) {
  const route = modelRoute(name, undefined, [toServers('llama')], { loraAdapters: [name] });
  if (labelled) route.metadata.labels = { [LORA_BASE_LABEL]: 'llama' };
  return route;
}

function world(pods: ReturnType<typeof basePod>[], port = 8000): WorldSnapshot {
  return {
    servers: [modelServer('llama', { inferName: 'llama', model: 'llama', service: { port: 8080, targetPort: port } })],
    routes: [modelRoute('llama', 'llama', [toServers('llama')]), adapterRoute('sql'), adapterRoute('chat'), adapterRoute('static', false)],
    pods,
  };
}

test('table: per adapter, the pods that have it loaded; a stale record counts as none; unlabelled LoRA routes and the base reach all', () => {
  const table = buildRoutingTable(
    world([basePod('p0', '10.0.0.1', ['sql']), basePod('p1', '10.0.0.2', ['chat', 'sql'], 0, 1), basePod('p2', '10.0.0.3'), basePod('p3', '10.0.0.4', ['chat', 'sql'], 2, 2)]),
  );
  const server = table.servers.get('default/llama')!;
  const names = (eps: readonly { podName: string }[]) => eps.map((e) => e.podName);
  assert.deepEqual(names(servingEndpoints(server, 'sql', true)), ['p0', 'p3']);
  assert.deepEqual(names(servingEndpoints(server, 'chat', true)), ['p3'], 'p1 restarted since its record');
  assert.deepEqual(names(servingEndpoints(server, 'static', true)), ['p0', 'p1', 'p2', 'p3'], '--lora-modules: every pod');
  assert.deepEqual(names(servingEndpoints(server, 'llama', false)), ['p0', 'p1', 'p2', 'p3']);
  assert.equal(servingEndpoints(server, 'sql', true), servingEndpoints(server, 'sql', true), 'precomputed: the same array every request');
  assert.equal(table.models.get('sql')!.lora, true);
  assert.equal(table.models.get('sql')!.routes[0]!.rules[0]!.targets.length, 1);
  // The debug view (/debug/config_dump/servers) shows the subsets.
  const dumped = dumpServers(table).find((d) => (d as { server: string }).server === 'default/llama') as { adapterEndpoints?: Record<string, string[]> };
  assert.deepEqual(dumped.adapterEndpoints, { sql: ['default/p0@10.0.0.1:8000', 'default/p3@10.0.0.4:8000'], chat: ['default/p3@10.0.0.4:8000'] });

  // Nowhere loaded: the target has no ready endpoint for the adapter (503, not a 404 from an engine).
  const none = buildRoutingTable(world([basePod('p0', '10.0.0.1'), basePod('p1', '10.0.0.2', ['chat'])]));
  assert.equal(none.models.get('sql')!.routes[0]!.rules[0]!.targets.length, 0);
  assert.equal(none.models.get('sql')!.routes[0]!.rules[0]!.resolvable, true);
  assert.equal(none.models.get('chat')!.routes[0]!.rules[0]!.targets.length, 1);
});

test('through the gateway: adapter requests go only to the engine that has it; none loaded is 503; the base uses both', async () => {
  const a = await startEngine(parseEngineArgs(fastEngineArgs('llama', '127.0.0.81', 0), { warn: () => {} }));
  const b = await startEngine(parseEngineArgs(fastEngineArgs('llama', '127.0.0.82', a.port), { warn: () => {} }));
  const core = createCore({ accessLog: new PassThrough().resume(), log: () => {} });
  core.synced = true;
  const served = await serveCore(core);
  const post = async (model: string) => {
    const res = await fetch(`${served.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, prompt: 'hi', max_tokens: 2 }) });
    return { status: res.status, body: (await res.json()) as { model?: string; error?: { code: string } } };
  };
  try {
    await fetch(`${a.url}/v1/load_lora_adapter`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ lora_name: 'sql', lora_path: 'org/sql' }) });
    // b is ready but the loader has not reached it (no record): it must not get `sql`, which it would answer with 404.
    core.rebuild(world([basePod('a', '127.0.0.81', ['sql']), basePod('b', '127.0.0.82')], a.port));
    for (let i = 0; i < 10; i++) {
      const r = await post('sql');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.model, 'sql');
    }
    assert.equal(await engineMetric(b.url, 'vllm:request_success_total'), 0);
    assert.equal(await engineMetric(a.url, 'vllm:request_success_total'), 10);
    for (let i = 0; i < 4; i++) assert.equal((await post('llama')).status, 200);
    assert.ok((await engineMetric(b.url, 'vllm:request_success_total')) > 0, 'the base model still uses both pods');

    // a's engine restarted since its record: no pod has `sql` now.
    core.rebuild(world([basePod('a', '127.0.0.81', ['sql'], 0, 1), basePod('b', '127.0.0.82')], a.port));
    const r = await post('sql');
    assert.equal(r.status, 503);
    assert.equal(r.body.error?.code, 'no_healthy_upstream');
  } finally {
    await served.close();
    await a.close();
    await b.close();
  }
});

test('a base at zero replicas: an adapter request is held until a pod is ready and has the adapter loaded', async () => {
  const ip = '127.0.0.83';
  const engine = await startEngine(parseEngineArgs(fastEngineArgs('llama', ip, 0), { warn: () => {} }));
  const writes: string[] = [];
  const core = createCore({ accessLog: new PassThrough().resume(), holdMaxWaitMs: 5000, scaleFromZero: async (ns, name) => (writes.push(`${ns}/${name}`), 'scaled'), log: () => {} });
  core.synced = true;
  const served = await serveCore(core);
  const at = (replicas: number, pods: ReturnType<typeof basePod>[]): WorldSnapshot => ({
    ...world(pods, engine.port),
    infers: [{ metadata: { name: 'llama', namespace: 'default' }, spec: { replicas } }],
  });
  try {
    core.rebuild(at(0, []));
    const pending = fetch(`${served.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'sql', prompt: 'hi', max_tokens: 2 }) });
    await until('held', () => core.holds.waiting('default/llama') === 1, 3000, 5);
    assert.deepEqual(writes, ['default/llama'], 'the base is started');
    // The pod is ready, the loader has not loaded the adapter yet: still waiting (not a 503, not a 404 from the engine).
    core.rebuild(at(1, [basePod('p0', ip)]));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(core.holds.waiting('default/llama'), 1);
    await fetch(`${engine.url}/v1/load_lora_adapter`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ lora_name: 'sql', lora_path: 'org/sql' }) });
    core.rebuild(at(1, [basePod('p0', ip, ['sql'])]));
    const res = await pending;
    const body = (await res.json()) as { model?: string };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.model, 'sql');
    assert.equal(core.holds.waiting('default/llama'), 0);
  } finally {
    core.holds.close();
    await served.close();
    await engine.close();
  }
});
