// The whole platform from the quickstart, as a new user meets it: `matrixinfer up -f examples/quickstart.yaml`,
// then the openai SDK, plain HTTP, kubectl and the matrixinfer CLI as clients.
import { test, before, after } from 'node:test';
import { needs } from '../support/system.ts';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { credentials, loadPackageDefinition, Metadata, type ServiceError } from '@grpc/grpc-js';
import { packageDefinition } from '../../src/gateway/grpc/proto.ts';
import { freePort, kubectl, matrixinfer, startPlatform, stopProcess, until } from '../support/platform.ts';

const home = mkdtempSync(join(tmpdir(), 'matrixinfer-platform-'));
const kubeconfig = join(home, 'kubeconfig');
const env = { ...process.env, MATRIXINFER_HOME: home };
let gatewayPort = 0;
let gatewayTlsPort = 0;
let gatewayGrpcPort = 0;
let apiserverPort = 0;
let metricsPort = 0;
let dashboardPort = 0;
let platform: ReturnType<typeof startPlatform>;
let gateway = '';
let firstCompletionMs = 0;

async function chat(): Promise<Response> {
  return fetch(`${gateway}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'llama-7b', messages: [{ role: 'user', content: 'Hello' }] }),
  });
}

function upArgs(): string[] {
  return [
    '-f',
    'examples/quickstart.yaml',
    '--gateway-port',
    String(gatewayPort),
    '--gateway-tls-port',
    String(gatewayTlsPort),
    '--gateway-grpc-port',
    String(gatewayGrpcPort),
    '--apiserver-port',
    String(apiserverPort),
    '--controller-manager-metrics-port',
    String(metricsPort),
    '--dashboard-port',
    String(dashboardPort),
  ];
}

before(async () => {
  gatewayPort = await freePort();
  gatewayTlsPort = await freePort();
  gatewayGrpcPort = await freePort();
  apiserverPort = await freePort();
  metricsPort = await freePort();
  dashboardPort = await freePort();
  gateway = `http://127.0.0.1:${gatewayPort}`;
  const started = Date.now();
  platform = startPlatform(upArgs(), env);
  await platform.up;
  await until('a first completion', async () => (await chat()).status === 200, 60_000, 100);
  firstCompletionMs = Date.now() - started;
  console.log(`time from start to first completion: ${firstCompletionMs} ms`);
});

after(async () => {
  if (platform) await stopProcess(platform.child);
  rmSync(home, { recursive: true, force: true });
});

test('the first completion arrives within 15 seconds of start', () => {
  assert.ok(firstCompletionMs > 0 && firstCompletionMs < 15_000, `took ${firstCompletionMs} ms`);
});

test('the Open Inference Protocol over REST and over gRPC on the port `up` prints', async () => {
  assert.match(platform.output(), new RegExp(`gRPC: 127\\.0\\.0\\.1:${gatewayGrpcPort}, cleartext and TLS`));
  const rest = await fetch(`${gateway}/v2/models/llama-7b/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [1], data: ['Hello'] }], parameters: { max_tokens: 4 } }),
  });
  assert.equal(rest.status, 200);
  const body = (await rest.json()) as { outputs: Array<{ name: string; data: string[] }> };
  assert.equal(body.outputs[0]!.name, 'text_output');

  const pkg = loadPackageDefinition(packageDefinition) as any;
  const client = new pkg.inference.GRPCInferenceService(`127.0.0.1:${gatewayGrpcPort}`, credentials.createInsecure());
  try {
    const res = await new Promise<any>((resolve, reject) =>
      client.ModelInfer(
        { model_name: 'llama-7b', inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.from('Hello')] } }], parameters: { max_tokens: { int64_param: 4 } } },
        new Metadata(),
        (err: ServiceError | null, r: unknown) => (err ? reject(err) : resolve(r)),
      ),
    );
    assert.equal(res.model_name, 'llama-7b');
    assert.ok(res.outputs[0].contents.bytes_contents[0].length > 0);
  } finally {
    client.close();
  }
});

test('the dashboard on the URL `up` prints: the page, and the quickstart Model with its pod in its API', async () => {
  const url = `http://127.0.0.1:${dashboardPort}/`;
  assert.match(platform.output(), new RegExp(`dashboard: +${url.replace(/\./g, '\\.')}`));
  const page = await fetch(url);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<script type="module" src="\/static\/app\.js">/);
  const detail = await until('the Model and its pod on the dashboard', async () => {
    const res = await fetch(`${url}api/v1/models/default/llama-7b`);
    const body = res.status === 200 ? ((await res.json()) as { model: { phase: string }; pods: { name: string; ready: boolean }[] }) : undefined;
    return body?.model.phase === 'Ready' && body.pods.some((p) => p.ready) && body;
  }, 30_000, 250);
  assert.deepEqual(detail.pods.map((p) => p.name), ['llama-7b-0-server-0']);
});

test('the openai SDK works unchanged, streaming and not', async () => {
  const client = new OpenAI({ baseURL: `${gateway}/v1`, apiKey: 'unused' });
  const completion = await client.chat.completions.create({ model: 'llama-7b', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 8 });
  assert.equal(completion.model, 'llama-7b');
  assert.ok(completion.choices[0]!.message.content!.length > 0);
  assert.ok(completion.usage!.completion_tokens > 0 && completion.usage!.completion_tokens <= 8);

  const stream = await client.chat.completions.create({ model: 'llama-7b', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5, stream: true });
  let text = '';
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.ok(chunks >= 2, `expected several chunks, got ${chunks}`);
  assert.ok(text.length > 0);

  const models = await client.models.list();
  assert.ok(models.data.some((m) => m.id === 'llama-7b'), JSON.stringify(models.data));
});

test('a raw stream is server-sent events ending in [DONE]', async () => {
  const response = await fetch(`${gateway}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'llama-7b', stream: true, messages: [{ role: 'user', content: 'Hello' }] }),
  });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
  const body = await response.text();
  assert.match(body, /^data: /);
  assert.ok(body.trimEnd().endsWith('data: [DONE]'), body.slice(-200));
});

test('the seed request form, health, readiness and metrics answer', async () => {
  const infer = await fetch(`${gateway}/v1/models/llama-7b/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: { text: 'Hello world' } }),
  });
  assert.equal(infer.status, 200);
  const result = (await infer.json()) as { outputs?: { text?: string } };
  assert.equal(typeof result.outputs?.text, 'string');
  for (const path of ['/health', '/ready', '/metrics']) {
    const response = await fetch(gateway + path);
    assert.equal(response.status, 200, path);
  }
  assert.match(await (await fetch(`${gateway}/metrics`)).text(), /matrixinfer_gateway_requests_total/);
});

test("the controller manager's metrics: their URL printed, served on loopback", async () => {
  const url = `http://127.0.0.1:${metricsPort}/metrics`;
  assert.ok(platform.output().includes(`metrics:     ${url}`), platform.output());
  const response = await fetch(url);
  assert.equal(response.status, 200);
  assert.match(await response.text(), /^process_resident_memory_bytes \d/m);
});

test('bad requests get OpenAI-style errors', async () => {
  const cases: [string, number][] = [
    ['{not json', 400],
    [JSON.stringify({ messages: [] }), 400],
    [JSON.stringify({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }), 404],
  ];
  for (const [body, status] of cases) {
    const response = await fetch(`${gateway}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(response.status, status, body);
    const error = (await response.json()) as { error?: { message?: string; type?: string } };
    assert.equal(typeof error.error?.message, 'string');
    assert.equal(typeof error.error?.type, 'string');
  }
});

test('kubectl lists what the Model fanned out into', { skip: needs('kubectl') }, async () => {
  const result = await kubectl(kubeconfig, ['get', 'models,modelinfers,modelservers,modelroutes,autoscalingpolicies,autoscalingpolicybindings,pods', '-A']);
  assert.equal(result.code, 0, result.stderr);
  for (const expected of ['model.registry.matrixinfer.ai/llama-7b', 'modelinfer.workload.matrixinfer.ai/llama-7b', 'modelserver.networking.matrixinfer.ai/llama-7b', 'modelroute.networking.matrixinfer.ai/llama-7b', 'autoscalingpolicy.registry.matrixinfer.ai/llama-7b', 'autoscalingpolicybinding.registry.matrixinfer.ai/llama-7b', 'pod/llama-7b-0-server-0']) {
    assert.ok(result.stdout.includes(expected), `missing ${expected} in:\n${result.stdout}`);
  }
  const labels = await kubectl(kubeconfig, ['get', 'modelinfers,modelservers,modelroutes,autoscalingpolicies,autoscalingpolicybindings', '-l', 'registry.matrixinfer.ai/managed-by=registry.matrixinfer.ai', '-o', 'name']);
  assert.equal(labels.stdout.trim().split('\n').length, 5, labels.stdout);
  const phase = await kubectl(kubeconfig, ['get', 'model', 'llama-7b', '-o', 'jsonpath={.status.phase}']);
  assert.equal(phase.stdout, 'Ready');
});

test('kubectl apply, get -o yaml, get -w and delete work for our kinds; invalid manifests are rejected by kubectl and matrixinfer', { skip: needs('kubectl') }, async () => {
  const manifest = join(home, 'extra-route.yaml');
  writeFileSync(manifest, ['apiVersion: networking.matrixinfer.ai/v1alpha1', 'kind: ModelRoute', 'metadata:', '  name: extra', 'spec:', '  modelName: extra', '  rules:', '  - targetModels:', '    - modelServerName: llama-7b', ''].join('\n'));
  const watcher = kubectl(kubeconfig, ['get', 'modelroutes', '-w', '--request-timeout=6s']);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const applied = await kubectl(kubeconfig, ['apply', '-f', manifest]);
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /modelroute.networking.matrixinfer.ai\/extra created/);
  const yaml = await kubectl(kubeconfig, ['get', 'modelroute', 'extra', '-o', 'yaml']);
  assert.match(yaml.stdout, /weight: 100/, 'the schema default is applied');
  const watched = await watcher;
  assert.match(watched.stdout, /extra/, `get -w printed:\n${watched.stdout}\n${watched.stderr}`);
  const deleted = await kubectl(kubeconfig, ['delete', '-f', manifest]);
  assert.equal(deleted.code, 0, deleted.stderr);

  const invalid = join(home, 'invalid.yaml');
  writeFileSync(invalid, ['apiVersion: registry.matrixinfer.ai/v1alpha1', 'kind: Model', 'metadata:', '  name: broken', 'spec:', '  modelSpec:', '    modelId: x', '    framework: pytorch', '    version: 7', '    source: {}', '  runtime: {}', ''].join('\n'));
  for (const result of [await kubectl(kubeconfig, ['apply', '-f', invalid]), await matrixinfer(['apply', '-f', invalid], { env })]) {
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /spec\.modelSpec\.source\.uri: Required value/, result.stderr);
    assert.match(result.stderr, /spec\.runtime\.image: Required value/, result.stderr);
    assert.match(result.stderr, /spec\.modelSpec\.version: Invalid value/, result.stderr);
  }
  const unknownKind = await matrixinfer(['apply', '-f', '-'], { env, input: 'apiVersion: registry.matrixinfer.ai/v1alpha1\nkind: Modle\nmetadata:\n  name: x\n' });
  assert.notEqual(unknownKind.code, 0);
  assert.match(unknownKind.stderr, /no matches for kind "Modle"/);
  const none = await kubectl(kubeconfig, ['get', 'models', 'broken']);
  assert.notEqual(none.code, 0, 'nothing partial was stored');
});

test('the matrixinfer CLI gets, describes and shows logs', async () => {
  const list = await matrixinfer(['get', 'models,pods', '-A'], { env });
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /llama-7b/);
  assert.match(list.stdout, /llama-7b-0-server-0/);
  assert.doesNotMatch(list.stdout, /NaN/, 'AGE cells are printed as the server wrote them');
  const described = await matrixinfer(['describe', 'model', 'llama-7b'], { env });
  assert.equal(described.code, 0, described.stderr);
  assert.match(described.stdout, /modelId: llama-7b-v1/);
  const logs = await matrixinfer(['logs', 'llama-7b-0-server-0'], { env });
  assert.equal(logs.code, 0, logs.stderr);
  assert.ok(logs.stdout.length > 0, 'the engine logged something');
});

/** An object as `matrixinfer get -o json` prints it (the CLI, so this runs where kubectl is not installed). */
async function getJson(type: string, name: string): Promise<{ metadata: { uid: string }; status?: { podIP?: string } }> {
  const r = await matrixinfer(['get', type, name, '-o', 'json'], { env });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { metadata: { uid: string }; status?: { podIP?: string } };
}

test('every component logs JSON lines with the same opening fields, naming the object or request concerned', async () => {
  const res = await chat();
  assert.equal(res.status, 200);
  await res.text();
  const logs = join(home, 'logs');
  const files = [...readdirSync(logs).filter((f) => f.endsWith('.log')).map((f) => join(logs, f)), ...readdirSync(join(logs, 'pods')).map((f) => join(logs, 'pods', f))];
  const byComponent = new Map<string, Record<string, unknown>[]>();
  await until('the access log line of the request', () => readFileSync(join(logs, 'gateway.log'), 'utf8').includes('"component":"gateway/access"'), 5000);
  for (const file of files) {
    for (const line of readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0)) {
      let record: Record<string, unknown>;
      assert.doesNotThrow(() => (record = JSON.parse(line) as Record<string, unknown>), `${file}: not a JSON line: ${line}`);
      const keys = Object.keys(record!).slice(0, 4);
      assert.deepEqual(keys, ['time', 'level', 'component', 'msg'], `${file}: ${line}`);
      assert.ok(!Number.isNaN(Date.parse(record!.time as string)) && ['debug', 'info', 'warn', 'error'].includes(record!.level as string), `${file}: ${line}`);
      const component = (record!.component as string).split('/')[0]!;
      byComponent.set(component, [...(byComponent.get(component) ?? []), record!]);
    }
  }
  for (const component of ['apiserver', 'controller-manager', 'agent', 'gateway', 'engine', 'downloader']) assert.ok(byComponent.has(component), `${component} logged: ${[...byComponent.keys()]}`);
  // The object concerned as fields: the agent's pod lines; the request concerned: the gateway's access log.
  const podLine = byComponent.get('agent')!.find((r) => r.kind === 'Pod');
  assert.ok(podLine && podLine.namespace === 'default' && typeof podLine.name === 'string', JSON.stringify(podLine));
  const access = byComponent.get('gateway')!.find((r) => r.component === 'gateway/access' && r.msg === 'request' && r.status === 200);
  assert.ok(access && typeof access.request_id === 'string' && access.status === 200, JSON.stringify(access));
});

test('stopping and starting again keeps every object and serves again; deleting the Model removes what it created', async () => {
  const before = (await getJson('modelinfer', 'llama-7b')).metadata.uid;
  await stopProcess(platform.child);
  platform = startPlatform(upArgs(), env);
  await platform.up;
  assert.equal((await getJson('modelinfer', 'llama-7b')).metadata.uid, before, 'the same object survived the restart');
  await until('a completion after restart', async () => (await chat()).status === 200, 30_000);

  const podIp = (await getJson('pod', 'llama-7b-0-server-0')).status?.podIP ?? '';
  assert.match(podIp, /^127\./);
  const deleted = await matrixinfer(['delete', 'model', 'llama-7b'], { env });
  assert.equal(deleted.code, 0, deleted.stderr);
  await until('the children and pods to be gone', async () => {
    const left = await matrixinfer(['get', 'modelinfers,modelservers,modelroutes,autoscalingpolicies,autoscalingpolicybindings,pods', '-A', '-o', 'name'], { env });
    return left.code === 0 && left.stdout.trim() === '';
  }, 30_000, 250);
  await until('the engine process to stop answering', async () => {
    try {
      await fetch(`http://${podIp}:8000/health`, { signal: AbortSignal.timeout(500) });
      return false;
    } catch {
      return true;
    }
  }, 15_000, 250);
  const gone = await chat();
  assert.equal(gone.status, 404);
  assert.ok(existsSync(join(home, 'data')), 'state is under MATRIXINFER_HOME');
});
