// The gRPC front with a real grpc-js client, over cleartext and TLS on one port, in front of a small REST handler
// that answers as the gateway's /v2 paths do (through the real OIP codec, protocols/oip.ts): what each call becomes
// as a REST request (path, headers, body), how answers and errors come back (codes, messages, trailers), streaming,
// cancellation, health and malformed messages. The gateway's own pipeline behind it is tested in
// test/integration/gateway-oip.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { credentials, loadPackageDefinition, Metadata, status, type Client, type ServiceError, type ClientDuplexStream } from '@grpc/grpc-js';
import type { ClientStream } from '../http1/server.ts';
import { CertificateStore } from '../tls/certificates.ts';
import { generateCA, issueServingCertificate } from '../../webhooks/certs.ts';
import {
  OipError,
  OipEventStream,
  encodeResponse,
  inferResponse,
  modelMetadata,
  parseInferRequest,
  parseOipPath,
  serializeBytes,
  serverMetadata,
  deserializeBytes,
} from '../protocols/oip.ts';
import { packageDefinition, type ModelMetadataResponse } from './proto.ts';
import { startGrpcFront, type GrpcFront } from './server.ts';

// ---- a REST handler answering as the gateway's /v2 paths ---------------------------------------------------------

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  secure: boolean;
}

const seen: Seen[] = [];
const gone: string[] = [];
let serverReady = false;

function json(stream: ClientStream, code: number, obj: unknown, headers: Record<string, string> = {}): void {
  const body = Buffer.from(JSON.stringify(obj));
  stream.writeHead(code, { 'content-type': 'application/json', 'content-length': body.length, 'x-request-id': 'rid-1', ...headers });
  stream.end(body);
}

function completionChunk(text: string, finish: string | null = null): string {
  return `data: ${JSON.stringify({ choices: [{ index: 0, text, finish_reason: finish }] })}\n\n`;
}

function answer(stream: ClientStream, body: Buffer, secure: boolean): void {
  seen.push({ method: stream.method, url: stream.url, headers: stream.headers, body, secure });
  const p = parseOipPath(stream.url);
  if (p === null) return json(stream, 404, { error: 'Unknown path.' });
  if (p.kind === 'live') return json(stream, 200, { live: true });
  if (p.kind === 'ready') return json(stream, serverReady ? 200 : 503, serverReady ? { ready: true } : { error: 'not ready' });
  if (p.kind === 'server-metadata') return json(stream, 200, serverMetadata('test'));
  const model = p.model;
  if (model === 'missing') return json(stream, 404, { error: `Unknown model '${model}'.` });
  if (model === 'secret' && stream.headers.authorization !== 'Bearer good') {
    return json(stream, 401, { error: { message: 'Invalid API key.', type: 'invalid_request_error', code: 'unauthorized', param: null } }, { 'www-authenticate': 'Bearer' });
  }
  if (model === 'busy') return json(stream, 429, { error: { message: 'Rate limited.', type: 'invalid_request_error', code: 'rate_limited', param: null } }, { 'retry-after': '3' });
  if (p.action === 'ready') return model === 'cold' ? json(stream, 400, { error: `Model '${model}' is not ready.` }) : json(stream, 200, { name: model, ready: true });
  if (p.action === 'metadata') return json(stream, 200, modelMetadata(model, 'vllm'));
  const headerLength = stream.headers['inference-header-content-length'];
  const req = parseInferRequest(body, headerLength === undefined ? null : Number(headerLength), model);
  if (req instanceof OipError) return json(stream, req.status, { error: req.message });
  const text = `You said: ${req.prompt}`;
  if (!req.stream) {
    const res = inferResponse({ choices: [{ text, finish_reason: 'stop' }], usage: { prompt_tokens: 2, completion_tokens: 3 } }, model, req)!;
    const enc = encodeResponse(res, req.binaryOutput);
    stream.writeHead(200, { 'content-type': 'application/json', 'content-length': enc.body.length });
    return stream.end(enc.body);
  }
  stream.writeHeadLines(200, 'content-type: text/event-stream\r\n', -1);
  const sse = new OipEventStream(model, req);
  if (model === 'slow') {
    let i = 0;
    const timer = setInterval(() => {
      if (stream.destroyed) return clearInterval(timer);
      stream.write(sse.push(Buffer.from(completionChunk(`t${i++} `))));
      if (i === 200) {
        clearInterval(timer);
        stream.end(sse.end());
      }
    }, 20);
    return;
  }
  const words = text.split(' ');
  for (let i = 0; i < words.length; i++) {
    const last = i === words.length - 1;
    // Split mid-event, as an engine's chunks may be.
    const wire = Buffer.from(completionChunk(i === 0 ? words[i]! : ` ${words[i]}`, last ? 'stop' : null));
    stream.write(sse.push(wire.subarray(0, 5)));
    stream.write(sse.push(wire.subarray(5)));
  }
  stream.write(sse.push(Buffer.from(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 2, completion_tokens: words.length } })}\n\ndata: [DONE]\n\n`)));
  stream.end(sse.end());
}

function handle(stream: ClientStream, secure: boolean): void {
  const chunks: Buffer[] = [];
  stream.sink = {
    onBodyData: (c) => chunks.push(c),
    onBodyEnd: () => answer(stream, Buffer.concat(chunks), secure),
    onClientGone: () => gone.push(stream.url),
    onWritable: () => {},
  };
}

// ---- clients ---------------------------------------------------------------------------------------------------

let front: GrpcFront;
let store: CertificateStore;
let ca: string;
const pkg = loadPackageDefinition(packageDefinition) as any;
let client: Client & Record<string, any>;
let health: Client & Record<string, any>;

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

function bytesInput(name: string, value: string) {
  return { name, datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.from(value)] } };
}

function inferReq(model: string, prompt: string, extra: Record<string, unknown> = {}) {
  return { model_name: model, inputs: [bytesInput('text_input', prompt)], ...extra };
}

before(async () => {
  const authority = generateCA('grpc test CA');
  ca = authority.cert;
  const served = issueServingCertificate(authority, ['gw.test'], ['127.0.0.1']);
  store = new CertificateStore();
  store.update(
    [{ apiVersion: 'networking.matrixinfer.ai/v1alpha1', kind: 'ModelServer', metadata: { name: 'tls-server', namespace: 'default' }, spec: { tls: { enabled: true, secretName: 'cert' } } } as any],
    [{ metadata: { name: 'cert', namespace: 'default' }, type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from(served.cert).toString('base64'), 'tls.key': Buffer.from(served.key).toString('base64') } }],
    [],
  );
  front = await startGrpcFront({ port: 0, handle, certificates: store });
  client = new pkg.inference.GRPCInferenceService(front.address, credentials.createInsecure());
  health = new pkg.grpc.health.v1.Health(front.address, credentials.createInsecure());
});

after(async () => {
  client.close();
  health.close();
  await front.close();
});

test('health, liveness, readiness and server metadata', async () => {
  assert.deepEqual(await call(health, 'Check', { service: '' }), { status: 'NOT_SERVING' });
  assert.deepEqual(await call(client, 'ServerReady', {}), { ready: false });
  front.setServing(true);
  serverReady = true;
  assert.deepEqual(await call(health, 'Check', { service: '' }), { status: 'SERVING' });
  assert.deepEqual(await call(health, 'Check', { service: 'inference.GRPCInferenceService' }), { status: 'SERVING' });
  assert.equal((await failure(call(health, 'Check', { service: 'other' }))).code, status.NOT_FOUND);
  assert.deepEqual(await call(client, 'ServerLive', {}), { live: true });
  assert.deepEqual(await call(client, 'ServerReady', {}), { ready: true });
  assert.deepEqual(await call(client, 'ServerMetadata', {}), { name: 'matrixinfer', version: 'test', extensions: ['binary_tensor_data'] });
  assert.equal(seen.at(-1)!.url, '/v2');
});

test('model readiness and metadata', async () => {
  assert.deepEqual(await call(client, 'ModelReady', { name: 'llama' }), { ready: true });
  assert.deepEqual(await call(client, 'ModelReady', { name: 'cold' }), { ready: false });
  assert.equal(seen.at(-1)!.url, '/v2/models/cold/ready');
  await call(client, 'ModelReady', { name: 'org/model', version: '1' });
  assert.equal(seen.at(-1)!.url, '/v2/models/org%2Fmodel/versions/1/ready');
  const missing = await failure(call(client, 'ModelReady', { name: 'missing' }));
  assert.equal(missing.code, status.NOT_FOUND);
  assert.equal(missing.details, "Unknown model 'missing'.");
  assert.equal((await failure(call(client, 'ModelReady', { name: '' }))).code, status.INVALID_ARGUMENT);
  const md = await call<ModelMetadataResponse>(client, 'ModelMetadata', { name: 'llama' });
  assert.deepEqual(md, {
    name: 'llama',
    versions: ['1'],
    platform: 'vllm',
    inputs: [
      { name: 'text_input', datatype: 'BYTES', shape: [1] },
      { name: 'stream', datatype: 'BOOL', shape: [1] },
      { name: 'sampling_parameters', datatype: 'BYTES', shape: [1] },
    ],
    outputs: [{ name: 'text_output', datatype: 'BYTES', shape: [-1] }],
  });
});

test('ModelInfer becomes POST /v2/models/{name}/infer with the metadata as headers', async () => {
  const md = new Metadata();
  md.set('authorization', 'Bearer good');
  md.set('x-request-id', 'abc');
  md.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  md.set('trace-bin', Buffer.from([1, 2]));
  const res = await call(client, 'ModelInfer', inferReq('secret', 'Hello', { id: 'r1', parameters: { max_tokens: { int64_param: 8 }, temperature: { double_param: 0.5 }, stream: { bool_param: true } } }), md);
  const last = seen.at(-1)!;
  assert.equal(last.method, 'POST');
  assert.equal(last.url, '/v2/models/secret/infer');
  assert.equal(last.secure, false);
  assert.equal(last.headers.authorization, 'Bearer good');
  assert.equal(last.headers['x-request-id'], 'abc');
  assert.equal(last.headers.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  assert.equal(last.headers['trace-bin'], undefined);
  assert.equal(last.headers.host, front.address);
  assert.equal(last.headers['content-type'], 'application/json');
  assert.equal(last.headers['content-length'], String(last.body.length));
  assert.match(String(last.headers['user-agent']), /grpc-node-js/);
  // A unary call never streams.
  assert.deepEqual(JSON.parse(last.body.toString()), {
    id: 'r1',
    parameters: { max_tokens: 8, temperature: 0.5, stream: false },
    inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [1], data: ['Hello'] }],
  });
  assert.equal(res.model_name, 'secret');
  assert.equal(res.model_version, '1');
  assert.equal(res.id, 'r1');
  assert.deepEqual(res.parameters, {
    finish_reason: { string_param: 'stop', parameter_choice: 'string_param' },
    prompt_tokens: { int64_param: 2, parameter_choice: 'int64_param' },
    completion_tokens: { int64_param: 3, parameter_choice: 'int64_param' },
  });
  assert.equal(res.outputs[0].name, 'text_output');
  assert.deepEqual(res.outputs[0].shape, [1]);
  assert.equal(res.outputs[0].contents.bytes_contents[0].toString(), 'You said: Hello');
  assert.deepEqual(res.raw_output_contents, []);
});

test('raw input contents travel as binary tensor data and come back raw, as tritonclient sends them', async () => {
  const res = await call(client, 'ModelInfer', {
    model_name: 'llama',
    inputs: [
      { name: 'text_input', datatype: 'BYTES', shape: [1] },
      { name: 'stream', datatype: 'BOOL', shape: [1] },
    ],
    raw_input_contents: [serializeBytes(['Bonjour']), Buffer.from([1])],
  });
  const last = seen.at(-1)!;
  const headerLength = Number(last.headers['inference-header-content-length']);
  assert.equal(last.headers['content-type'], 'application/octet-stream');
  // The stream input of a unary call is dropped (with its raw bytes).
  assert.deepEqual(JSON.parse(last.body.subarray(0, headerLength).toString()).inputs, [{ name: 'text_input', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 11 } }]);
  assert.equal(res.outputs[0].contents, null);
  assert.deepEqual(deserializeBytes(res.raw_output_contents[0]), [Buffer.from('You said: Bonjour')]);
});

test('bad input and refusals get their gRPC codes and messages', async () => {
  const unknownTensor = await failure(call(client, 'ModelInfer', { model_name: 'llama', inputs: [bytesInput('prompt', 'x')] }));
  assert.equal(unknownTensor.code, status.INVALID_ARGUMENT);
  assert.match(unknownTensor.details, /Unknown input tensor 'prompt' for model 'llama'/);
  const wrongType = await failure(call(client, 'ModelInfer', { model_name: 'llama', inputs: [{ name: 'text_input', datatype: 'INT32', shape: [1], contents: { int_contents: [3] } }] }));
  assert.equal(wrongType.code, status.INVALID_ARGUMENT);
  assert.match(wrongType.details, /must have datatype BYTES, not INT32/);
  const wrongShape = await failure(call(client, 'ModelInfer', { model_name: 'llama', inputs: [{ ...bytesInput('text_input', 'x'), shape: [2] }] }));
  assert.equal(wrongShape.code, status.INVALID_ARGUMENT);
  assert.match(wrongShape.details, /shape \[2\]/);
  const rawMismatch = await failure(call(client, 'ModelInfer', { model_name: 'llama', inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [1] }], raw_input_contents: [Buffer.from([9, 0, 0, 0, 1])] }));
  assert.equal(rawMismatch.code, status.INVALID_ARGUMENT);
  assert.match(rawMismatch.details, /malformed BYTES binary data/);
  assert.equal((await failure(call(client, 'ModelInfer', { model_name: '' }))).code, status.INVALID_ARGUMENT);
  const missing = await failure(call(client, 'ModelInfer', inferReq('missing', 'x')));
  assert.equal(missing.code, status.NOT_FOUND);
  assert.equal(missing.metadata.get('x-request-id')[0], 'rid-1');
  const unauth = await failure(call(client, 'ModelInfer', inferReq('secret', 'x')));
  assert.equal(unauth.code, status.UNAUTHENTICATED);
  assert.equal(unauth.details, 'Invalid API key.');
  assert.deepEqual(unauth.metadata.get('www-authenticate'), ['Bearer']);
  const busy = await failure(call(client, 'ModelInfer', inferReq('busy', 'x')));
  assert.equal(busy.code, status.RESOURCE_EXHAUSTED);
  assert.deepEqual(busy.metadata.get('retry-after'), ['3']);

  // Bytes that are not a ModelInferRequest: field 5 (an input tensor) claims 3 bytes and has 1.
  const malformed = await new Promise<ServiceError>((resolve) =>
    client.makeUnaryRequest(
      '/inference.GRPCInferenceService/ModelInfer',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from([0x2a, 0x03, 0x0a]),
      (err) => resolve(err!),
    ),
  );
  assert.equal(malformed.code, status.INVALID_ARGUMENT);
  assert.match(malformed.details, /not a valid protobuf of its type: index out of range/);
});

function openStream(md = new Metadata()): { stream: ClientDuplexStream<any, any>; responses: any[]; ended: Promise<ServiceError | null> } {
  const stream = client.ModelStreamInfer(md) as ClientDuplexStream<any, any>;
  const responses: any[] = [];
  stream.on('data', (r) => responses.push(r));
  const ended = new Promise<ServiceError | null>((resolve) => {
    stream.on('error', (err: ServiceError) => resolve(err));
    stream.on('status', (s) => {
      if (s.code === status.OK) resolve(null);
    });
  });
  return { stream, responses, ended };
}

const finalOf = (r: any): boolean | undefined => r.infer_response?.parameters.triton_final_response?.bool_param;
const textOf = (r: any): string | undefined => r.infer_response?.outputs[0]?.contents.bytes_contents[0]?.toString();

test('ModelStreamInfer: one response per chunk, the last final; several requests on one stream; errors in-band', async () => {
  const md = new Metadata();
  md.set('x-request-id', 'call-7');
  const { stream, responses, ended } = openStream(md);
  stream.write(inferReq('llama', 'one two', { id: 'a', parameters: { stream: { bool_param: true } } }));
  stream.write(inferReq('llama', 'whole', { id: 'b' }));
  stream.write(inferReq('missing', 'x', { id: 'c' }));
  stream.write({ model_name: 'llama', inputs: [bytesInput('nope', 'x')] });
  stream.end();
  assert.equal(await ended, null);
  const a = responses.filter((r) => r.infer_response?.id === 'a');
  assert.deepEqual(a.map(textOf), ['You', ' said:', ' one', ' two']);
  assert.deepEqual(a.map(finalOf), [false, false, false, true]);
  assert.equal(a.at(-1).infer_response.parameters.finish_reason.string_param, 'stop');
  assert.equal(a.at(-1).infer_response.parameters.completion_tokens.int64_param, 4);
  const b = responses.filter((r) => r.infer_response?.id === 'b');
  assert.deepEqual(b.map(textOf), ['You said: whole']);
  assert.deepEqual(b.map(finalOf), [true]);
  const errors = responses.filter((r) => r.error_message !== '').map((r) => r.error_message);
  assert.equal(errors.length, 2);
  assert.ok(errors.includes("Unknown model 'missing'."));
  assert.ok(errors.some((e) => /Unknown input tensor 'nope'/.test(e)));
  // The requests went to the REST side as they stand: the streaming one with its stream parameter.
  const streamed = seen.find((s) => s.body.includes('"id":"a"'))!;
  assert.equal(JSON.parse(streamed.body.toString()).parameters.stream, true);
  // Each request on the stream has a request id of its own, from the call's.
  assert.equal(streamed.headers['x-request-id'], 'call-7-1');
  assert.equal(seen.find((s) => s.body.includes('"id":"b"'))!.headers['x-request-id'], 'call-7-2');
});

test('ModelStreamInfer: an unauthenticated request ends the call with UNAUTHENTICATED', async () => {
  const { stream, ended } = openStream();
  stream.write(inferReq('secret', 'x'));
  const err = await ended;
  assert.equal(err?.code, status.UNAUTHENTICATED);
  assert.equal(err?.details, 'Invalid API key.');
});

test('a client cancelling mid-stream is the client going away for the pipeline', async () => {
  const { stream, responses } = openStream();
  stream.on('error', () => {});
  stream.write(inferReq('slow', 'x', { parameters: { stream: { bool_param: true } } }));
  while (responses.length < 3) await new Promise((r) => setTimeout(r, 10));
  stream.cancel();
  const deadline = Date.now() + 2000;
  while (!gone.includes('/v2/models/slow/infer') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(gone.includes('/v2/models/slow/infer'), 'the sink heard onClientGone');

  // A deadline that passes is the same.
  gone.length = 0;
  const err = await new Promise<ServiceError>((resolve) => {
    const s = client.ModelStreamInfer(new Metadata(), { deadline: Date.now() + 150 }) as ClientDuplexStream<any, any>;
    s.on('data', () => {});
    s.on('error', resolve);
    s.write(inferReq('slow', 'x', { parameters: { stream: { bool_param: true } } }));
  });
  assert.equal(err.code, status.DEADLINE_EXCEEDED);
  const until = Date.now() + 2000;
  while (!gone.includes('/v2/models/slow/infer') && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  assert.ok(gone.includes('/v2/models/slow/infer'));
});

test('TLS on the same port, with the certificate store’s certificate by SNI', async () => {
  const tlsClient = new pkg.inference.GRPCInferenceService(`127.0.0.1:${front.port}`, credentials.createSsl(Buffer.from(ca)), {
    'grpc.ssl_target_name_override': 'gw.test',
  }) as Client & Record<string, any>;
  try {
    const res = await call(tlsClient, 'ModelInfer', inferReq('llama', 'secure'));
    assert.equal(res.outputs[0].contents.bytes_contents[0].toString(), 'You said: secure');
    assert.equal(seen.at(-1)!.secure, true);
    assert.equal(seen.at(-1)!.headers.host, `127.0.0.1:${front.port}`);
  } finally {
    tlsClient.close();
  }
  // Cleartext still works beside it.
  await call(client, 'ServerLive', {});
  assert.equal(seen.at(-1)!.secure, false);
});
