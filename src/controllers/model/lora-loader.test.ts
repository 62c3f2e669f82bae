import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AdapterModel, Model } from '../../api/kinds/index.ts';
import { adapterAnnotations, loadedAdapters, podRestarts, recordedAdapters, LORA_ADAPTERS_ANNOTATION, LORA_RESTARTS_ANNOTATION } from '../../api/lora-adapters.ts';
import { parseEngineArgs } from '../../engine/options.ts';
import { startEngine } from '../../engine/server.ts';
import { desiredAdapters, EngineLoraClient, engineOrigin, nextRecord, planPod } from './lora-loader.ts';

function adapter(name: string, uri: string, base = 'llama'): AdapterModel {
  return {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'Model',
    metadata: { name, namespace: 'ns' },
    spec: { modelSpec: { modelId: name, framework: 'pytorch', version: '1', source: { uri }, baseModelRef: { name: base } } },
  };
}

const base: Model = {
  apiVersion: 'registry.matrixinfer.ai/v1alpha1',
  kind: 'Model',
  metadata: { name: 'llama', namespace: 'ns' },
  spec: { modelSpec: { modelId: 'llama', framework: 'pytorch', version: '1', source: { uri: 'hf://org/llama' } }, runtime: { image: 'img', port: 9000 } },
};

test('desired adapters: the base\'s loadable adapters with their lora_path, by name; object stores left out', () => {
  const models = [base, adapter('sql', 'hf://org/sql-lora'), adapter('chat', 'pvc://loras/chat'), adapter('s3', 's3://bucket/x'), adapter('other', 'hf://o/x', 'mistral')];
  assert.deepEqual(desiredAdapters(models, 'llama'), [
    { name: 'chat', path: '/mnt/models/loras/chat' },
    { name: 'sql', path: 'org/sql-lora' },
  ]);
});

test('plan: load the desired ones the engine lacks; unload only what the loader recorded and is no longer wanted; reload a changed path', () => {
  const desired = [{ name: 'a', path: 'o/a' }, { name: 'b', path: 'o/b' }];
  const on = (...names: string[]) => names.map((name) => ({ name }));
  // `static` came from --lora-modules (never recorded): left alone.
  assert.deepEqual(planPod(desired, on('b', 'gone', 'static'), ['b', 'gone']), { unload: ['gone'], load: [{ name: 'a', path: 'o/a' }] });
  // After an engine restart the engine has nothing: everything is loaded again.
  assert.deepEqual(planPod(desired, [], ['a', 'b']), { unload: [], load: desired });
  assert.deepEqual(planPod([], on('a'), ['a']), { unload: ['a'], load: [] });
  // The adapter's source changed: the engine's copy (root o/old) is replaced; the same path is left alone.
  assert.deepEqual(planPod(desired, [{ name: 'a', root: 'o/old' }, { name: 'b', root: 'o/b' }], ['a', 'b']), { unload: ['a'], load: [{ name: 'a', path: 'o/a' }] });
});

test('record after the calls: desired adapters the engine has, plus recorded ones an unload left behind', () => {
  const desired = [{ name: 'a', path: 'o/a' }, { name: 'b', path: 'o/b' }];
  assert.deepEqual(nextRecord(desired, ['gone'], new Set(['a', 'gone', 'static'])), ['a', 'gone']);
  assert.deepEqual(nextRecord([], ['gone'], new Set(['static'])), []);
});

test('the pod record: stale once the pod\'s containers restarted since it was written', () => {
  const annotations = adapterAnnotations(['b', 'a', 'b'], 2);
  assert.deepEqual(annotations, { [LORA_ADAPTERS_ANNOTATION]: 'a,b', [LORA_RESTARTS_ANNOTATION]: '2' });
  const pod = (restarts: number[]) => ({ metadata: { annotations }, status: { containerStatuses: restarts.map((restartCount) => ({ restartCount })) } });
  assert.equal(podRestarts(pod([1, 1])), 2);
  assert.deepEqual([...loadedAdapters(pod([1, 1]))], ['a', 'b']);
  assert.deepEqual([...loadedAdapters(pod([2, 1]))], [], 'restarted since');
  assert.deepEqual(recordedAdapters(pod([2, 1])), { names: ['a', 'b'], restarts: 2 });
  assert.equal(recordedAdapters({ metadata: {} }), undefined);
  assert.deepEqual([...loadedAdapters({ metadata: { annotations: { [LORA_ADAPTERS_ANNOTATION]: '', [LORA_RESTARTS_ANNOTATION]: '0' } } })], []);
});

test('engine origin: the engine container\'s port, else the base\'s runtime port', () => {
  const pod = (containers: unknown[]) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers }, status: { podIP: '10.0.0.7' } });
  assert.equal(engineOrigin(pod([{ name: 'sidecar', ports: [{ containerPort: 1 }] }, { name: 'engine', ports: [{ containerPort: 8001 }] }]), base), 'http://10.0.0.7:8001');
  assert.equal(engineOrigin(pod([{ name: 'engine' }]), base), 'http://10.0.0.7:9000');
  assert.equal(engineOrigin({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, status: {} }, base), undefined);
});

test('engine client against the simulated engine: list, load (twice is fine), unload (twice is fine), --lora-modules listed', async () => {
  const engine = await startEngine(parseEngineArgs(['org/llama', '--served-model-name', 'llama', '--host', '127.0.0.1', '--port', '0', '--lora-modules', 'static=/x'], { warn: () => {} }));
  try {
    const client = new EngineLoraClient(2000);
    assert.deepEqual(await client.list(engine.url), [{ name: 'static', root: '/x' }]);
    await client.load(engine.url, { name: 'sql', path: 'org/sql-lora' });
    await client.load(engine.url, { name: 'sql', path: 'org/sql-lora' });
    assert.deepEqual((await client.list(engine.url)).map((a) => a.name).sort(), ['sql', 'static']);
    const models = (await (await fetch(`${engine.url}/v1/models`)).json()) as { data: { id: string; parent: string | null; root: string }[] };
    assert.deepEqual(models.data.find((m) => m.id === 'sql'), { ...models.data.find((m) => m.id === 'sql'), parent: 'llama', root: 'org/sql-lora' });
    await client.unload(engine.url, 'sql');
    await client.unload(engine.url, 'sql');
    assert.deepEqual(await client.list(engine.url), [{ name: 'static', root: '/x' }]);
    // The engine's refusal comes back with its reason.
    await assert.rejects(client.load(engine.url, { name: 'bad', path: '' }), /loading bad from  into http:.*: 400 .*lora_path/);
  } finally {
    await engine.close();
  }
});
