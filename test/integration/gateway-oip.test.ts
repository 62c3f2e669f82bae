// The Open Inference Protocol end to end, over REST and gRPC, with real clients: the embedded API server with the
// project's CRDs, a simulated engine on its own loopback "pod IP", and the gateway with its HTTP, HTTPS and gRPC
// listeners. Clients: Triton's Python `tritonclient` (gRPC and HTTP), `grpcurl` (reflection, health, calls), an
// @grpc/grpc-js client and fetch. Checked: answers, streaming ending with `triton_final_response`, bad input with
// exact HTTP statuses and gRPC codes, API-key authentication, a client cancelling mid-stream aborting the engine's
// request, TLS with a Secret's certificate, and that gRPC calls are accounted and logged like REST ones.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { credentials, loadPackageDefinition, Metadata, status, type Client, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { startTestApiServer, projectCrds, type TestApiServer } from '../../src/kube/testing/apiserver.ts';
import { startEngine, type EngineServer } from '../../src/engine/server.ts';
import { parseEngineArgs } from '../../src/engine/options.ts';
import { startGateway, type GatewayHandle } from '../../src/gateway/gateway.ts';
import { until } from '../../src/kube/testing/until.ts';
import { API_KEYS_LABEL } from '../../src/gateway/auth/apikey.ts';
import { packageDefinition } from '../../src/gateway/grpc/proto.ts';
import { generateCA, issueServingCertificate } from '../../src/webhooks/certs.ts';
import { readyPod } from '../support/pods.ts';
import { grpcurlPath, needs, tritonPython } from '../support/system.ts';

const NET = '/apis/networking.matrixinfer.ai/v1alpha1/namespaces/default';
const ENGINE_IP = '127.0.0.61';
const API_KEY = 'sk-oip-alice';

let api: TestApiServer;
let engine: EngineServer;
let gw: GatewayHandle;
let grpcAddress: string;
let dir: string;
let caFile: string;
const accessLog: Array<Record<string, unknown>> = [];
const pkg = loadPackageDefinition(packageDefinition) as any;
let client: Client & Record<string, any>;

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');

async function server(name: string, spec: Record<string, unknown>, inferName = 'sim'): Promise<void> {
  await api.call('POST', `${NET}/modelservers`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelServer',
    metadata: { name },
    spec: { modelInferRef: { name: inferName }, model: 'sim-model', service: { port: engine.port }, ...spec },
  });
}

async function route(name: string, model: string, serverName: string): Promise<void> {
  await api.call('POST', `${NET}/modelroutes`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelRoute',
    metadata: { name },
    spec: { modelName: model, rules: [{ targetModels: [{ modelServerName: serverName }] }] },
  });
}

function run(file: string, args: string[], timeout = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout, maxBuffer: 16 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

function call<T = any>(c: Client & Record<string, any>, method: string, req: unknown, md = new Metadata()): Promise<T> {
  return new Promise((resolve, reject) => c[method](req, md, (err: ServiceError | null, res: T) => (err ? reject(err) : resolve(res))));
}

async function failure(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  assert.fail('expected the call to fail');
}

function textInput(prompt: string) {
  return { name: 'text_input', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.from(prompt)] } };
}

function inferRequest(model: string, prompt: string, parameters: Record<string, unknown> = { max_tokens: { int64_param: 4 } }) {
  return { model_name: model, inputs: [textInput(prompt)], parameters };
}

function restInfer(model: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gw.url}/v2/models/${model}/infer`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

const restText = (prompt: string) => ({ name: 'text_input', datatype: 'BYTES', shape: [1], data: [prompt] });

async function engineAborts(): Promise<number> {
  const text = await (await fetch(`http://${ENGINE_IP}:${engine.port}/metrics`)).text();
  const m = /^vllm:request_success_total\{[^}]*finished_reason="abort"[^}]*\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'matrixinfer-oip-'));
  api = await startTestApiServer();
  await api.installCrds(projectCrds());
  engine = await startEngine(
    parseEngineArgs(['sim-model', '--host', ENGINE_IP, '--port', '0', '--time-to-first-token-ms', '1', '--inter-token-latency-ms', '2', '--inter-token-latency-per-seq-ms', '0'], { warn: () => {} }),
  );
  const ca = generateCA('oip CA');
  const cert = issueServingCertificate(ca, ['gw.test'], ['127.0.0.1']);
  caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, ca.cert);

  const log = new PassThrough();
  log.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line) accessLog.push(JSON.parse(line) as Record<string, unknown>);
  });
  gw = await startGateway({ kubeConfig: api.kubeConfig, port: 0, tlsPort: 0, grpcPort: 0, accessLog: log, log: () => {}, scrapeIntervalMs: 0 });
  await gw.ready;
  grpcAddress = gw.grpcAddress!;
  client = new pkg.inference.GRPCInferenceService(grpcAddress, credentials.createInsecure());

  await readyPod(api, 'sim-0', 'sim', ENGINE_IP);
  await api.call('POST', '/api/v1/namespaces/default/secrets', {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'oip-keys', labels: { [API_KEYS_LABEL]: 'true' } },
    data: { alice: b64(API_KEY) },
  });
  await api.call('POST', '/api/v1/namespaces/default/secrets', {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'oip-tls' },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64(cert.cert), 'tls.key': b64(cert.key) },
  });
  await server('sim-server', {});
  await route('llama', 'llama', 'sim-server');
  await server('key-server', { authentication: { enabled: true, type: 'apiKey', config: { secretName: 'oip-keys' } } });
  await route('secret', 'secret-model', 'key-server');
  await server('tls-server', { tls: { enabled: true, secretName: 'oip-tls' } });
  await route('secure', 'secure-model', 'tls-server');
  await server('cold-server', {}, 'cold');
  await route('cold', 'cold-model', 'cold-server');
  await until('the models served', async () => (await fetch(`${gw.url}/v2/models/llama/ready`)).status === 200 && (await fetch(`${gw.url}/v2/models/secret-model`, { headers: { authorization: `Bearer ${API_KEY}` } })).status === 200);
});

after(async () => {
  client?.close();
  await gw?.close();
  await engine?.close();
  await api?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---- REST -------------------------------------------------------------------------------------------------------

test('REST: health, server and model metadata, readiness', async () => {
  assert.equal((await fetch(`${gw.url}/v2/health/live`)).status, 200);
  assert.equal((await fetch(`${gw.url}/v2/health/ready`)).status, 200);
  const server = (await (await fetch(`${gw.url}/v2`)).json()) as { name: string; extensions: string[] };
  assert.equal(server.name, 'matrixinfer');
  const md = (await (await fetch(`${gw.url}/v2/models/llama`)).json()) as { name: string; platform: string; inputs: Array<{ name: string }> };
  assert.equal(md.name, 'llama');
  assert.equal(md.platform, 'vllm');
  assert.deepEqual(md.inputs.map((i) => i.name), ['text_input', 'stream', 'sampling_parameters']);
  assert.deepEqual(await (await fetch(`${gw.url}/v2/models/llama/versions/1/ready`)).json(), { name: 'llama', ready: true });
  const unknown = await fetch(`${gw.url}/v2/models/nope/ready`);
  assert.equal(unknown.status, 404);
  assert.deepEqual(await unknown.json(), { error: "The model 'nope' does not exist." });
  const version = await fetch(`${gw.url}/v2/models/llama/versions/7`);
  assert.equal(version.status, 404);
  assert.match(((await version.json()) as { error: string }).error, /Unknown version '7'/);
  assert.equal((await fetch(`${gw.url}/v2/models/cold-model/ready`)).status, 503);
  const secretMd = await fetch(`${gw.url}/v2/models/secret-model`);
  assert.equal(secretMd.status, 401);
  assert.equal(typeof ((await secretMd.json()) as { error: unknown }).error, 'string');
});

test('REST: infer, collected and streamed, accounted like the OpenAI API', async () => {
  const res = await restInfer('llama', { id: 'rest-1', inputs: [restText('Hello there')], parameters: { max_tokens: 5, temperature: 0 } }, { 'x-request-id': 'oip-rest-1' });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { id: string; model_name: string; outputs: Array<{ name: string; datatype: string; shape: number[]; data: string[] }>; parameters: Record<string, unknown> };
  assert.equal(body.id, 'rest-1');
  assert.equal(body.model_name, 'llama');
  assert.equal(body.outputs[0]!.name, 'text_output');
  assert.deepEqual(body.outputs[0]!.shape, [1]);
  assert.ok(body.outputs[0]!.data[0]!.length > 0);
  assert.equal(body.parameters.completion_tokens, 5);
  assert.equal(body.parameters.finish_reason, 'length');
  const line = await until('the access log line', () => accessLog.find((l) => l.request_id === 'oip-rest-1'));
  assert.equal(line.path, '/v2/models/llama/infer');
  assert.equal(line.model, 'llama');
  assert.equal(line.status, 200);
  assert.equal(line.completion_tokens, 5);

  const streamed = await restInfer('llama', { inputs: [restText('Stream me')], parameters: { max_tokens: 4, stream: true } });
  assert.equal(streamed.status, 200);
  assert.match(streamed.headers.get('content-type') ?? '', /text\/event-stream/);
  const events = (await streamed.text())
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => JSON.parse(e.slice(6)) as { outputs: Array<{ data: string[] }>; parameters: Record<string, unknown> });
  assert.ok(events.length >= 2, JSON.stringify(events));
  assert.ok(events.slice(0, -1).every((e) => e.parameters.triton_final_response === false));
  const last = events.at(-1)!;
  assert.equal(last.parameters.triton_final_response, true);
  assert.equal(last.parameters.finish_reason, 'length');
  assert.equal(last.parameters.completion_tokens, 4);
});

test('REST: bad input and refusals in the protocol’s error shape', async () => {
  const cases: Array<[string, unknown, number, RegExp]> = [
    ['llama', { inputs: [{ name: 'prompt', datatype: 'BYTES', shape: [1], data: ['x'] }] }, 400, /Unknown input tensor 'prompt' for model 'llama'/],
    ['llama', { inputs: [{ ...restText('x'), datatype: 'FP32' }] }, 400, /must have datatype BYTES, not FP32/],
    ['llama', { inputs: [{ ...restText('x'), shape: [3] }] }, 400, /shape \[3\] \(3 elements\) but 1 data elements/],
    ['llama', { inputs: [restText('x')], parameters: { max_tokens: 'lots' } }, 400, /'max_tokens' must be an integer/],
    ['nope', { inputs: [restText('x')] }, 404, /The model 'nope' does not exist/],
    ['secret-model', { inputs: [restText('x')] }, 401, /./],
  ];
  for (const [model, body, code, message] of cases) {
    const res = await restInfer(model, body);
    assert.equal(res.status, code, JSON.stringify(body));
    const err = (await res.json()) as { error: unknown };
    assert.equal(typeof err.error, 'string');
    assert.match(err.error as string, message);
  }
  const malformed = await fetch(`${gw.url}/v2/models/llama/infer`, { method: 'POST', body: '{"inputs": [' });
  assert.equal(malformed.status, 400);
  assert.match(((await malformed.json()) as { error: string }).error, /not valid JSON/);
  const ok = await restInfer('secret-model', { inputs: [restText('x')], parameters: { max_tokens: 2 } }, { authorization: `Bearer ${API_KEY}` });
  assert.equal(ok.status, 200);
  await ok.arrayBuffer();
});

// ---- gRPC with @grpc/grpc-js ----------------------------------------------------------------------------------------

test('gRPC: ModelInfer through the pipeline, logged and counted like REST', async () => {
  const md = new Metadata();
  md.set('x-request-id', 'oip-grpc-1');
  const res = await call(client, 'ModelInfer', { id: 'g1', ...inferRequest('llama', 'Hello from gRPC', { max_tokens: { int64_param: 3 } }) }, md);
  assert.equal(res.id, 'g1');
  assert.equal(res.model_name, 'llama');
  assert.equal(res.outputs[0].name, 'text_output');
  assert.ok(res.outputs[0].contents.bytes_contents[0].length > 0);
  assert.equal(res.parameters.completion_tokens.int64_param, 3);
  const line = await until('the access log line', () => accessLog.find((l) => l.request_id === 'oip-grpc-1'));
  assert.equal(line.path, '/v2/models/llama/infer');
  assert.equal(line.status, 200);
  assert.equal(line.completion_tokens, 3);
  assert.equal(line.pod, 'default/sim-0');
  const metrics = await (await fetch(`${gw.url}/metrics`)).text();
  assert.match(metrics, /matrixinfer_gateway_requests_total\{model="llama",code="200"\} \d+/);
  assert.deepEqual(await call(client, 'ModelReady', { name: 'llama' }), { ready: true });
  assert.deepEqual(await call(client, 'ModelReady', { name: 'cold-model' }), { ready: false });
  assert.deepEqual(await call(client, 'ServerLive', {}), { live: true });
  assert.deepEqual(await call(client, 'ServerReady', {}), { ready: true });
});

test('gRPC: bad input, unknown models and authentication get exact status codes', async () => {
  const cases: Array<[unknown, status, RegExp]> = [
    [{ model_name: 'llama', inputs: [{ ...textInput('x'), name: 'prompt' }] }, status.INVALID_ARGUMENT, /Unknown input tensor 'prompt'/],
    [{ model_name: 'llama', inputs: [{ name: 'text_input', datatype: 'INT64', shape: [1], contents: { int64_contents: [7] } }] }, status.INVALID_ARGUMENT, /must have datatype BYTES, not INT64/],
    [{ model_name: 'llama', inputs: [{ ...textInput('x'), shape: [1, 2] }] }, status.INVALID_ARGUMENT, /shape \[1,2\]/],
    [{ model_name: 'llama', inputs: [textInput('x')], parameters: { temperature: { string_param: 'hot' } } }, status.INVALID_ARGUMENT, /'temperature' must be a number/],
    [{ model_name: 'llama' }, status.INVALID_ARGUMENT, /'inputs' must be a non-empty list/],
    [inferRequest('nope', 'x'), status.NOT_FOUND, /The model 'nope' does not exist/],
    [inferRequest('secret-model', 'x'), status.UNAUTHENTICATED, /./],
    [inferRequest('secure-model', 'x'), status.FAILED_PRECONDITION, /requires TLS/],
  ];
  for (const [req, code, message] of cases) {
    const err = await failure(call(client, 'ModelInfer', req));
    assert.equal(err.code, code, `${JSON.stringify(req)}: ${err.details}`);
    assert.match(err.details, message);
  }
  const malformed = await new Promise<ServiceError>((resolve) =>
    client.makeUnaryRequest('/inference.GRPCInferenceService/ModelInfer', (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0x2a, 0x05, 0x0a, 0x01]), (err) => resolve(err!)),
  );
  assert.equal(malformed.code, status.INVALID_ARGUMENT);
  assert.match(malformed.details, /not a valid protobuf/);
  const md = new Metadata();
  md.set('authorization', `Bearer ${API_KEY}`);
  const ok = await call(client, 'ModelInfer', inferRequest('secret-model', 'x'), md);
  assert.equal(ok.model_name, 'secret-model');
});

test('gRPC: a client cancelling ModelStreamInfer mid-stream aborts the engine request', async () => {
  const abortsBefore = await engineAborts();
  const md = new Metadata();
  md.set('x-request-id', 'oip-cancel-1');
  const stream = client.ModelStreamInfer(md) as ClientDuplexStream<any, any>;
  stream.on('error', () => {});
  const responses: any[] = [];
  stream.on('data', (r) => responses.push(r));
  stream.write(inferRequest('llama', 'Tell me a long story', { max_tokens: { int64_param: 3000 }, stream: { bool_param: true } }));
  await until('three streamed responses', () => responses.length >= 3);
  assert.ok(responses.every((r) => r.error_message === '' && r.infer_response.parameters.triton_final_response.bool_param === false));
  stream.cancel();
  // The call's x-request-id, numbered per request on the stream.
  const line = await until('the access log line', () => accessLog.find((l) => l.request_id === 'oip-cancel-1-1'));
  assert.equal(line.status, 499);
  assert.equal(line.error, 'client_closed_request');
  await until('the engine aborted the request', async () => (await engineAborts()) > abortsBefore, 5000);
});

test('gRPC over TLS on the same port, with the certificate from the ModelServer’s Secret', async () => {
  // SNI gw.test: the name the Secret's certificate carries.
  const tlsClient = new pkg.inference.GRPCInferenceService(grpcAddress, credentials.createSsl(readFileSync(caFile)), {
    'grpc.ssl_target_name_override': 'gw.test',
  }) as Client & Record<string, any>;
  try {
    const res = await call(tlsClient, 'ModelInfer', inferRequest('secure-model', 'over TLS'));
    assert.equal(res.model_name, 'secure-model');
    assert.ok(res.outputs[0].contents.bytes_contents[0].length > 0);
  } finally {
    tlsClient.close();
  }
});

// ---- Triton's Python client -------------------------------------------------------------------------------------

const TRITON_GRPC = `
import json, queue, sys
import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

url = sys.argv[1]
key = sys.argv[2]
out = {}
c = grpcclient.InferenceServerClient(url)
out['live'] = c.is_server_live()
out['ready'] = c.is_server_ready()
out['model_ready'] = c.is_model_ready('llama')
out['cold_ready'] = c.is_model_ready('cold-model')
out['metadata_inputs'] = [i['name'] for i in c.get_model_metadata('llama', as_json=True)['inputs']]

def text_input(s):
    t = grpcclient.InferInput('text_input', [1], 'BYTES')
    t.set_data_from_numpy(np.array([s.encode()], dtype=np.object_))
    return t

r = c.infer('llama', [text_input('Hello')], parameters={'max_tokens': 6}, request_id='t1')
resp = r.get_response(as_json=True)
out['infer'] = {'id': resp['id'], 'text': r.as_numpy('text_output')[0].decode(), 'completion_tokens': resp['parameters']['completion_tokens']['int64_param']}

results = queue.Queue()
c.start_stream(callback=lambda result, error: results.put((result, error)))
stream = grpcclient.InferInput('stream', [1], 'BOOL')
stream.set_data_from_numpy(np.array([True]))
c.async_stream_infer('llama', [text_input('Hi there'), stream], parameters={'max_tokens': 5}, request_id='s1')
chunks = []
while True:
    result, error = results.get(timeout=20)
    if error is not None:
        out['stream_error'] = str(error)
        break
    final = result.get_response().parameters['triton_final_response'].bool_param
    text = result.as_numpy('text_output')
    chunks.append([text[0].decode() if text is not None and len(text) else None, final, result.get_response().id])
    if final:
        break
c.stop_stream()
out['stream'] = chunks

def failure(f):
    try:
        f()
        return None
    except InferenceServerException as e:
        return [e.status(), e.message()]

out['unknown_model'] = failure(lambda: c.infer('nope', [text_input('x')]))
bad = grpcclient.InferInput('prompt', [1], 'BYTES')
bad.set_data_from_numpy(np.array([b'x'], dtype=np.object_))
out['unknown_tensor'] = failure(lambda: c.infer('llama', [bad]))
out['no_key'] = failure(lambda: c.infer('secret-model', [text_input('x')]))
with_key = c.infer('secret-model', [text_input('x')], parameters={'max_tokens': 2}, headers={'authorization': 'Bearer ' + key})
out['with_key'] = with_key.get_response().model_name
c.close()
print(json.dumps(out))
`;

const TRITON_HTTP = `
import json, sys
import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

out = {}
c = httpclient.InferenceServerClient(sys.argv[1])
out['live'] = c.is_server_live()
out['ready'] = c.is_server_ready()
out['model_ready'] = c.is_model_ready('llama')
out['server'] = c.get_server_metadata()['name']

def text_input(s, binary):
    t = httpclient.InferInput('text_input', [1], 'BYTES')
    t.set_data_from_numpy(np.array([s.encode()], dtype=np.object_), binary_data=binary)
    return t

r = c.infer('llama', [text_input('Hello', True)], parameters={'max_tokens': 4})
out['binary'] = r.as_numpy('text_output')[0].decode()
out['binary_params'] = r.get_response()['parameters']
r = c.infer('llama', [text_input('Hello', False)], outputs=[httpclient.InferRequestedOutput('text_output', binary_data=False)], parameters={'max_tokens': 3}, request_id='h2')
out['json'] = str(r.as_numpy('text_output')[0])
out['json_id'] = r.get_response()['id']

def failure(f):
    try:
        f()
        return None
    except InferenceServerException as e:
        return [e.status(), e.message()]

out['unknown_model'] = failure(lambda: c.infer('nope', [text_input('x', False)]))
bad = httpclient.InferInput('text_input', [1], 'INT32')
bad.set_data_from_numpy(np.array([3], dtype=np.int32), binary_data=False)
out['wrong_type'] = failure(lambda: c.infer('llama', [bad]))
print(json.dumps(out))
`;

describe('Triton’s tritonclient', { skip: needs(['tritonclient', tritonPython()]) }, () => {
  test('gRPC: liveness, readiness, metadata, infer, a stream ending with triton_final_response, errors, API keys', async () => {
    const { code, stdout, stderr } = await run(tritonPython(), ['-c', TRITON_GRPC, grpcAddress, API_KEY]);
    assert.equal(code, 0, stderr);
    const out = JSON.parse(stdout);
    assert.equal(out.live, true);
    assert.equal(out.ready, true);
    assert.equal(out.model_ready, true);
    assert.equal(out.cold_ready, false);
    assert.deepEqual(out.metadata_inputs, ['text_input', 'stream', 'sampling_parameters']);
    assert.equal(out.infer.id, 't1');
    assert.ok(out.infer.text.length > 0);
    assert.equal(Number(out.infer.completion_tokens), 6);
    assert.equal(out.stream_error, undefined);
    const chunks = out.stream as Array<[string | null, boolean, string]>;
    assert.ok(chunks.length >= 2, stdout);
    assert.ok(chunks.slice(0, -1).every(([text, final]) => text !== null && text.length > 0 && final === false), stdout);
    assert.equal(chunks.at(-1)![1], true);
    assert.ok(chunks.every(([, , id]) => id === 's1'));
    assert.deepEqual(out.unknown_model, ['StatusCode.NOT_FOUND', "The model 'nope' does not exist."]);
    assert.equal(out.unknown_tensor[0], 'StatusCode.INVALID_ARGUMENT');
    assert.match(out.unknown_tensor[1], /Unknown input tensor 'prompt'/);
    assert.equal(out.no_key[0], 'StatusCode.UNAUTHENTICATED');
    assert.equal(out.with_key, 'secret-model');
  });

  test('HTTP: liveness, readiness, infer with binary and JSON tensors, errors', async () => {
    const { code, stdout, stderr } = await run(tritonPython(), ['-c', TRITON_HTTP, new URL(gw.url).host]);
    assert.equal(code, 0, stderr);
    const out = JSON.parse(stdout);
    assert.equal(out.live, true);
    assert.equal(out.ready, true);
    assert.equal(out.model_ready, true);
    assert.equal(out.server, 'matrixinfer');
    assert.ok(out.binary.length > 0);
    assert.equal(out.binary_params.completion_tokens, 4);
    assert.ok(out.json.length > 0);
    assert.equal(out.json_id, 'h2');
    assert.deepEqual(out.unknown_model, ['404', "The model 'nope' does not exist."]);
    assert.equal(out.wrong_type[0], '400');
    assert.match(out.wrong_type[1], /must have datatype BYTES, not INT32/);
  });
});

// ---- grpcurl ----------------------------------------------------------------------------------------------------

describe('grpcurl', { skip: needs(['grpcurl', grpcurlPath()]) }, () => {
  const grpcurl = (...args: string[]) => run(grpcurlPath(), args);

  test('lists the services by reflection, checks health, asks readiness and infers', async () => {
    const list = await grpcurl('-plaintext', grpcAddress, 'list');
    assert.equal(list.code, 0, list.stderr);
    const services = list.stdout.trim().split('\n');
    assert.ok(services.includes('inference.GRPCInferenceService'), list.stdout);
    assert.ok(services.includes('grpc.health.v1.Health'), list.stdout);
    const methods = await grpcurl('-plaintext', grpcAddress, 'list', 'inference.GRPCInferenceService');
    assert.ok(methods.stdout.includes('inference.GRPCInferenceService.ModelStreamInfer'), methods.stdout);

    const health = await grpcurl('-plaintext', '-d', '{"service": ""}', grpcAddress, 'grpc.health.v1.Health/Check');
    assert.equal(health.code, 0, health.stderr);
    assert.deepEqual(JSON.parse(health.stdout), { status: 'SERVING' });

    const ready = await grpcurl('-plaintext', '-d', '{"name": "llama"}', grpcAddress, 'inference.GRPCInferenceService/ModelReady');
    assert.equal(ready.code, 0, ready.stderr);
    assert.deepEqual(JSON.parse(ready.stdout), { ready: true });

    const body = JSON.stringify({
      model_name: 'llama',
      id: 'curl-1',
      inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [b64('Hello')] } }],
      parameters: { max_tokens: { int64_param: 3 } },
    });
    const infer = await grpcurl('-plaintext', '-d', body, grpcAddress, 'inference.GRPCInferenceService/ModelInfer');
    assert.equal(infer.code, 0, infer.stderr);
    const res = JSON.parse(infer.stdout);
    assert.equal(res.id, 'curl-1');
    assert.equal(res.outputs[0].name, 'text_output');
    const contents = res.outputs[0].contents;
    assert.ok(Buffer.from((contents.bytes_contents ?? contents.bytesContents)[0], 'base64').length > 0);
  });

  test('bad input and missing credentials come back as gRPC statuses', async () => {
    const bad = JSON.stringify({ model_name: 'llama', inputs: [{ name: 'bogus', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [b64('x')] } }] });
    const r = await grpcurl('-plaintext', '-d', bad, grpcAddress, 'inference.GRPCInferenceService/ModelInfer');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Code: InvalidArgument/);
    assert.match(r.stderr, /Unknown input tensor 'bogus'/);
    const missing = await grpcurl('-plaintext', '-d', '{"name": "nope"}', grpcAddress, 'inference.GRPCInferenceService/ModelMetadata');
    assert.match(missing.stderr, /Code: NotFound/);
    const secret = JSON.stringify({ model_name: 'secret-model', inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [b64('x')] } }] });
    const noKey = await grpcurl('-plaintext', '-d', secret, grpcAddress, 'inference.GRPCInferenceService/ModelInfer');
    assert.match(noKey.stderr, /Code: Unauthenticated/);
    const withKey = await grpcurl('-plaintext', '-H', `authorization: Bearer ${API_KEY}`, '-d', secret, grpcAddress, 'inference.GRPCInferenceService/ModelInfer');
    assert.equal(withKey.code, 0, withKey.stderr);
  });

  test('TLS with the Secret’s certificate', async () => {
    const r = await grpcurl('-cacert', caFile, '-d', '{"name": "secure-model"}', grpcAddress, 'inference.GRPCInferenceService/ModelReady');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { ready: true });
  });
});
