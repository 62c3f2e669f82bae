// A Model's artifacts end to end on the embedded API server: the Model controller adds the download step to the
// engine pods, the node agent runs it (`matrixinfer download`, a real process) against the Hugging Face Hub stand-in
// (test/support/hf-hub.ts) with the credentials of the Model's Secret, the step reports progress on its Pod and the
// Model shows it, then the engine opens the artifacts from the node cache. Two replicas on one node fetch once.
// A repository with a malicious pickle fails the Model (UnsafeArtifact, naming the file and the global) and no
// engine starts; a missing Secret fails it with MissingCredentials. ≈ 20 s.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import type { Model } from '../../src/api/kinds/index.ts';
import { MODELS, PODS } from '../../src/controllers/resources.ts';
import { until } from '../../src/kube/testing/until.ts';
import { startHfHub, type HfHub } from '../support/hf-hub.ts';
import { EVIL_PICKLE, safetensors } from '../support/model-files.ts';
import { startInProcessPlatform, type InProcessPlatform } from '../support/inprocess.ts';

const NS = 'default';
const TOKEN = 'hf_test_token';
const ENGINE_ARGS = ['--startup-seconds', '0', '--time-to-first-token-ms', '5', '--inter-token-latency-ms', '1'];


let platform: InProcessPlatform;
let hub: HfHub;
const tiny = { 'config.json': Buffer.from('{"architectures":["LlamaForCausalLM"]}'), 'model.safetensors': safetensors(6 * 1024 * 1024), 'tokenizer.json': Buffer.from('{}') };
const tinyBytes = Object.values(tiny).reduce((n, b) => n + b.length, 0);

before(async () => {
  hub = await startHfHub({
    token: TOKEN,
    repos: {
      'org/tiny': { files: tiny, private: true },
      'org/evil': { files: { 'config.json': Buffer.from('{}'), 'pytorch_model.bin': EVIL_PICKLE } },
    },
  });
  platform = await startInProcessPlatform();
  await platform.cluster.call('POST', `/api/v1/namespaces/${NS}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'hub' }, stringData: { HF_TOKEN: TOKEN, HF_ENDPOINT: hub.url } });
});

after(async () => {
  await platform?.stop();
  await hub?.close();
});

function model(name: string, uri: string, replicas: number, secret?: string): Model {
  return {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'Model',
    metadata: { name, namespace: NS },
    spec: {
      modelSpec: { modelId: name, framework: 'pytorch', version: '1.0.0', source: { uri, ...(secret ? { secretRef: { name: secret } } : {}) } },
      runtime: { image: 'matrixinfer/pytorch-runtime:latest', replicas, args: ENGINE_ARGS },
    },
  };
}

const getModel = (name: string) => platform.client.get(MODELS, NS, name) as Promise<Model>;

test('two replicas fetch a private Hub repository once, the Model shows the progress and becomes Validated, the engine opens the node cache', async () => {
  hub.sliceDelayMs = 300; // about 2 s for the 6 MiB file, so progress is seen on the way
  await platform.client.create(MODELS, model('tiny', 'hf://org/tiny', 2, 'hub'));
  const seen: number[] = [];
  const ready = await until('tiny Ready and Validated', async () => {
    const m = await getModel('tiny');
    const d = m.status?.download;
    if (d?.phase === 'Downloading' && d.bytesDone !== undefined) seen.push(d.bytesDone);
    return m.status?.phase === 'Ready' && m.status.lifecycle === 'Validated' ? m : undefined;
  }, 60_000, 100);
  hub.sliceDelayMs = 0;
  assert.ok(seen.some((b) => b > 0 && b < tinyBytes), `progress seen between 0 and ${tinyBytes} bytes: ${seen.join(', ')}`);
  assert.deepEqual(
    { phase: ready.status!.download!.phase, bytesTotal: ready.status!.download!.bytesTotal, filesTotal: ready.status!.download!.filesTotal, progress: ready.status!.download!.progress },
    { phase: 'Complete', bytesTotal: tinyBytes, filesTotal: 3, progress: '100%' },
  );
  assert.equal(ready.status!.conditions!.find((c) => c.type === 'Downloaded')?.status, 'True');
  assert.equal(hub.bytesServed(), tinyBytes, 'one download for both replicas of the node');

  // The engine's model argument is the cache entry under the agent's home, holding the files.
  const pods = (await platform.client.list(PODS, { namespace: NS, labelSelector: 'registry.matrixinfer.ai/model-name=tiny' })).items;
  assert.equal(pods.length, 2);
  const enginePath = String((pods[0]!.spec as { containers: { args: string[] }[] }).containers[0]!.args[0]);
  const local = enginePath.replace('/var/lib/matrixinfer', platform.home);
  assert.ok(existsSync(local), `${local} exists`);
  assert.deepEqual(readdirSync(local).filter((f) => !f.startsWith('.')).sort(), Object.keys(tiny).sort());

  // Served through the gateway.
  const response = await fetch(`${platform.gateway.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny', prompt: 'hi', max_tokens: 3 }) });
  assert.equal(response.status, 200);
});

test('a malicious pickle fails the Model with UnsafeArtifact naming the file and the global; no engine starts', async () => {
  await platform.client.create(MODELS, model('evil', 'hf://org/evil', 1, 'hub'));
  const failed = await until('evil Failed', async () => {
    const m = await getModel('evil');
    return m.status?.phase === 'Failed' ? m : undefined;
  }, 30_000, 100);
  const ready = failed.status!.conditions!.find((c) => c.type === 'Ready')!;
  assert.equal(ready.reason, 'UnsafeArtifact');
  assert.match(ready.message ?? '', /pytorch_model\.bin/);
  assert.match(ready.message ?? '', /os\.system/);
  assert.equal(failed.status!.lifecycle, 'Registered');
  assert.equal(failed.status!.readyReplicas ?? 0, 0);
  const pods = (await platform.client.list(PODS, { namespace: NS, labelSelector: 'registry.matrixinfer.ai/model-name=evil' })).items;
  for (const pod of pods) {
    const engine = (pod.status as { containerStatuses?: { state?: { running?: unknown } }[] } | undefined)?.containerStatuses?.[0];
    assert.equal(engine?.state?.running, undefined, 'the engine container never ran');
  }
});

test('a Secret that does not exist fails the Model with MissingCredentials', async () => {
  await platform.client.create(MODELS, model('nosecret', 'hf://org/tiny', 1, 'no-such-secret'));
  const failed = await until('nosecret Failed', async () => {
    const m = await getModel('nosecret');
    return m.status?.phase === 'Failed' ? m : undefined;
  }, 30_000, 100);
  const downloaded = failed.status!.conditions!.find((c) => c.type === 'Downloaded')!;
  assert.equal(downloaded.reason, 'MissingCredentials');
  assert.match(downloaded.message ?? '', /no-such-secret/);
});
