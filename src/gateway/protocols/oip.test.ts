// The Open Inference Protocol's REST codec alone (protocols/oip.ts, pure functions): paths, metadata, infer requests
// and every way they can be wrong, Triton's binary tensor data, completions and streamed chunks into OIP responses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  OipError,
  OipEventStream,
  checkVersion,
  completionRequest,
  deserializeBytes,
  encodeResponse,
  errorMessage,
  inferResponse,
  modelMetadata,
  oipModelPath,
  parseInferRequest,
  parseOipPath,
  serializeBytes,
  type OipInfer,
} from './oip.ts';

const body = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));
const text = (s: string, shape = [1]) => ({ name: 'text_input', datatype: 'BYTES', shape, data: [s] });

function ok(r: OipInfer | OipError): OipInfer {
  if (r instanceof OipError) assert.fail(`unexpected error: ${r.message}`);
  return r;
}

function err(r: OipInfer | OipError, status: number, pattern: RegExp): void {
  assert.ok(r instanceof OipError, `expected an error matching ${pattern}`);
  assert.equal(r.status, status);
  assert.match(r.message, pattern);
  assert.deepEqual(JSON.parse(r.body()), { error: r.message });
}

test('paths', () => {
  assert.deepEqual(parseOipPath('/v2'), { kind: 'server-metadata' });
  assert.deepEqual(parseOipPath('/v2/health/live'), { kind: 'live' });
  assert.deepEqual(parseOipPath('/v2/health/ready'), { kind: 'ready' });
  assert.deepEqual(parseOipPath('/v2/models/llama'), { kind: 'model', action: 'metadata', model: 'llama', version: null });
  assert.deepEqual(parseOipPath('/v2/models/llama/ready'), { kind: 'model', action: 'ready', model: 'llama', version: null });
  assert.deepEqual(parseOipPath('/v2/models/llama/versions/1/infer'), { kind: 'model', action: 'infer', model: 'llama', version: '1' });
  assert.deepEqual(parseOipPath('/v2/models/meta-llama/Llama-2-7b/infer'), { kind: 'model', action: 'infer', model: 'meta-llama/Llama-2-7b', version: null });
  assert.deepEqual(parseOipPath('/v2/models/meta-llama%2FLlama-2-7b/ready'), { kind: 'model', action: 'ready', model: 'meta-llama/Llama-2-7b', version: null });
  assert.equal(parseOipPath('/v2/models/'), null);
  assert.equal(parseOipPath('/v2/models//infer'), null);
  assert.equal(parseOipPath('/v2/models/%E0%A4%A/infer'), null);
  assert.equal(parseOipPath('/v1/models/x'), null);
  assert.equal(oipModelPath('meta-llama/L 2', '', 'infer'), '/v2/models/meta-llama%2FL%202/infer');
  assert.equal(oipModelPath('m', '1', 'ready'), '/v2/models/m/versions/1/ready');
  for (const action of ['metadata', 'ready', 'infer'] as const) {
    const p = parseOipPath(oipModelPath('a/b?c', '1', action));
    assert.deepEqual(p, { kind: 'model', action, model: 'a/b?c', version: '1' });
  }
  assert.equal(checkVersion('m', null), null);
  assert.equal(checkVersion('m', ''), null);
  assert.equal(checkVersion('m', '1'), null);
  assert.equal(checkVersion('m', '2')?.status, 404);
});

test('metadata names the tensors of Triton’s vLLM backend', () => {
  const md = modelMetadata('llama', 'vllm') as { inputs: Array<{ name: string }>; outputs: Array<{ name: string }>; versions: string[] };
  assert.deepEqual(md.inputs.map((t) => t.name), ['text_input', 'stream', 'sampling_parameters']);
  assert.deepEqual(md.outputs.map((t) => t.name), ['text_output']);
  assert.deepEqual(md.versions, ['1']);
});

test('an infer request becomes a completion request', () => {
  const r = ok(parseInferRequest(body({ id: 'r1', inputs: [text('Hello')], parameters: { max_tokens: 8, temperature: 0.5, stop: '.', custom: 'x' } }), null, 'm'));
  assert.deepEqual(r, { id: 'r1', prompt: 'Hello', sampling: { max_tokens: 8, temperature: 0.5, stop: '.', custom: 'x' }, stream: false, binaryOutput: false, emptyFinal: false });
  assert.deepEqual(completionRequest(r, 'llama-7b'), { model: 'llama-7b', prompt: 'Hello', max_tokens: 8, temperature: 0.5, stop: '.', custom: 'x', stream: false });

  // Nested data, shape [1, 1]; stream as a parameter; Triton's control parameters are not forwarded.
  const s = ok(
    parseInferRequest(
      body({
        inputs: [{ ...text('Hi', [1, 1]), data: [['Hi']] }],
        parameters: { stream: true, triton_enable_empty_final_response: true, priority: 2, sequence_id: 3, binary_data_output: true },
      }),
      null,
      'm',
    ),
  );
  assert.equal(s.stream, true);
  assert.equal(s.emptyFinal, true);
  assert.equal(s.binaryOutput, true);
  assert.deepEqual(s.sampling, {});
  assert.deepEqual(completionRequest(s, 'm'), { model: 'm', prompt: 'Hi', stream: true });

  // The vLLM backend's tensors: stream (BOOL) wins over the parameter; sampling_parameters under request parameters.
  const v = ok(
    parseInferRequest(
      body({
        inputs: [
          text('Hey'),
          { name: 'stream', datatype: 'BOOL', shape: [1], data: [true] },
          { name: 'sampling_parameters', datatype: 'BYTES', shape: [1], data: ['{"temperature": 0.1, "max_tokens": 4, "stop": ["a", "b"]}'] },
        ],
        parameters: { stream: false, max_tokens: 9 },
      }),
      null,
      'm',
    ),
  );
  assert.equal(v.stream, true);
  assert.deepEqual(v.sampling, { temperature: 0.1, max_tokens: 9, stop: ['a', 'b'] });
});

test('bad infer requests are 400s that say what is wrong', () => {
  const p = (o: unknown) => parseInferRequest(body(o), null, 'llama');
  err(parseInferRequest(Buffer.from('{'), null, 'm'), 400, /not valid JSON/);
  err(p([]), 400, /JSON object/);
  err(p({}), 400, /'inputs' must be a non-empty list/);
  err(p({ inputs: [{ name: 'prompt', datatype: 'BYTES', shape: [1], data: ['x'] }] }), 400, /Unknown input tensor 'prompt' for model 'llama': expected text_input/);
  err(p({ inputs: [{ ...text('x'), datatype: 'INT32' }] }), 400, /'text_input' must have datatype BYTES, not INT32/);
  err(p({ inputs: [{ ...text('x'), datatype: undefined }] }), 400, /datatype BYTES, not none/);
  err(p({ inputs: [text('x', [2])] }), 400, /shape \[2\] \(2 elements\) but 1 data elements/);
  err(p({ inputs: [{ ...text('x', [2]), data: ['a', 'b'] }] }), 400, /exactly one element/);
  err(p({ inputs: [text('x', [-1])] }), 400, /non-negative integers/);
  err(p({ inputs: [{ ...text('x'), shape: undefined }] }), 400, /must have a shape/);
  err(p({ inputs: [{ ...text('x'), data: [3] }] }), 400, /must hold strings/);
  err(p({ inputs: [{ ...text('x'), data: undefined }] }), 400, /must carry data/);
  err(p({ inputs: [text('x'), text('y')] }), 400, /given twice/);
  err(p({ inputs: [{ name: 'stream', datatype: 'BOOL', shape: [1], data: [true] }] }), 400, /no 'text_input'/);
  err(p({ inputs: [text('x'), { name: 'stream', datatype: 'BOOL', shape: [1], data: ['yes'] }] }), 400, /must hold booleans/);
  err(p({ inputs: [text('x'), { name: 'sampling_parameters', datatype: 'BYTES', shape: [1], data: ['{'] }] }), 400, /sampling_parameters' is not valid JSON/);
  err(p({ inputs: [text('x'), { name: 'sampling_parameters', datatype: 'BYTES', shape: [1], data: ['{"top_p": 2}'] }] }), 400, /Sampling parameter 'top_p' must be a number in \(0, 1\]/);
  err(p({ inputs: [text('x')], parameters: { max_tokens: 'many' } }), 400, /Parameter 'max_tokens' must be an integer ≥ 1/);
  err(p({ inputs: [text('x')], parameters: { max_tokens: 1.5 } }), 400, /max_tokens/);
  err(p({ inputs: [text('x')], parameters: { temperature: -1 } }), 400, /temperature/);
  err(p({ inputs: [text('x')], parameters: { stream: 'true' } }), 400, /'stream' must be a boolean/);
  err(p({ inputs: [text('x')], parameters: { n: 2 } }), 400, /'n' is not accepted: one output per request/);
  err(p({ inputs: [text('x')], parameters: { model: 'other' } }), 400, /'model' is not accepted/);
  err(p({ inputs: [text('x')], parameters: { custom: { a: 1 } } }), 400, /'custom' must be a string, a number or a boolean/);
  err(p({ inputs: [text('x')], parameters: [] }), 400, /'parameters' must be an object/);
  err(p({ inputs: [text('x')], id: 3 }), 400, /'id' must be a string/);
  err(p({ inputs: [text('x')], outputs: [{ name: 'logits' }] }), 400, /Unknown output tensor 'logits'/);
  err(p({ inputs: [text('x')], outputs: [{ name: 'text_output', parameters: { binary_data: 1 } }] }), 400, /binary_data must be a boolean/);
});

test('Triton’s binary tensor data extension, in and out', () => {
  const json = Buffer.from(
    JSON.stringify({
      inputs: [
        { name: 'text_input', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 9 } },
        { name: 'stream', datatype: 'BOOL', shape: [1], parameters: { binary_data_size: 1 } },
      ],
      outputs: [{ name: 'text_output', parameters: { binary_data: true } }],
    }),
  );
  const raw = Buffer.concat([json, serializeBytes(['Hello']), Buffer.from([1])]);
  const r = ok(parseInferRequest(raw, json.length, 'm'));
  assert.equal(r.prompt, 'Hello');
  assert.equal(r.stream, true);
  assert.equal(r.binaryOutput, true);

  err(parseInferRequest(raw, raw.length + 1, 'm'), 400, /does not fit/);
  err(parseInferRequest(Buffer.concat([raw, Buffer.from('x')]), json.length, 'm'), 400, /1 bytes of binary data that no input/);
  err(parseInferRequest(raw.subarray(0, raw.length - 2), json.length, 'm'), 400, /exceeds the binary data/);
  const broken = Buffer.concat([json, Buffer.from([9, 0, 0, 0, 65, 65, 65, 65, 65]), Buffer.from([1])]);
  err(parseInferRequest(broken, json.length, 'm'), 400, /malformed BYTES binary data/);

  assert.deepEqual(deserializeBytes(serializeBytes(['a', '', 'héllo'])), [Buffer.from('a'), Buffer.from(''), Buffer.from('héllo')]);
  assert.equal(deserializeBytes(Buffer.from([5, 0, 0])), null);

  const res = inferResponse({ choices: [{ text: ' world', finish_reason: 'stop' }] }, 'm', r)!;
  const enc = encodeResponse(res, true);
  assert.ok(enc.headerLength !== null);
  const head = JSON.parse(enc.body.subarray(0, enc.headerLength).toString());
  assert.deepEqual(head.outputs, [{ name: 'text_output', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 10 } }]);
  assert.deepEqual(deserializeBytes(enc.body.subarray(enc.headerLength)), [Buffer.from(' world')]);
  assert.equal(encodeResponse(res, false).headerLength, null);
});

test('a completion becomes an OIP response', () => {
  const req = ok(parseInferRequest(body({ id: 'abc', inputs: [text('x')] }), null, 'm'));
  assert.deepEqual(
    inferResponse({ id: 'cmpl-1', choices: [{ text: ' there', finish_reason: 'length' }], usage: { prompt_tokens: 2, completion_tokens: 16, total_tokens: 18 } }, 'llama', req),
    {
      model_name: 'llama',
      model_version: '1',
      id: 'abc',
      parameters: { finish_reason: 'length', prompt_tokens: 2, completion_tokens: 16 },
      outputs: [{ name: 'text_output', datatype: 'BYTES', shape: [1], data: [' there'] }],
    },
  );
  const noId = ok(parseInferRequest(body({ inputs: [text('x')] }), null, 'm'));
  assert.equal(inferResponse({ choices: [] }, 'm', noId)!.id, undefined);
  assert.equal(inferResponse({ error: 'x' }, 'm', noId), null);
  assert.equal(errorMessage({ error: 'plain' }), 'plain');
  assert.equal(errorMessage({ error: { message: 'openai' } }), 'openai');
  assert.equal(errorMessage({ object: 'error', message: 'vllm' }), 'vllm');
  assert.equal(errorMessage('x'), null);
});

function sse(...events: unknown[]): Buffer {
  return Buffer.from(events.map((e) => `data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`).join(''));
}

function events(text: string): Array<Record<string, any>> {
  return text
    .split('\n\n')
    .filter((e) => e.length > 0)
    .map((e) => {
      assert.ok(e.startsWith('data: '), e);
      return JSON.parse(e.slice(6));
    });
}

const chunk = (t: string, finish: string | null = null) => ({ id: 'c', object: 'text_completion', choices: [{ index: 0, text: t, finish_reason: finish }] });

test('a streamed completion becomes one OIP response per chunk, the last one final', () => {
  const req = ok(parseInferRequest(body({ id: 'q', inputs: [text('x')], parameters: { stream: true } }), null, 'm'));
  const s = new OipEventStream('m', req);
  const wire = sse(chunk('Hel'), chunk(''), chunk('lo'), chunk(' you', 'length'), { id: 'c', choices: [], usage: { prompt_tokens: 3, completion_tokens: 4 } }, '[DONE]');
  // Fed in awkward pieces: split inside an event and inside a multi-byte character would be the same.
  let out = '';
  for (let i = 0; i < wire.length; i += 7) out += s.push(wire.subarray(i, i + 7));
  out += s.end();
  const got = events(out);
  assert.deepEqual(
    got.map((e) => [e.outputs[0]?.data[0], e.parameters.triton_final_response]),
    [
      ['Hel', false],
      ['lo', false],
      [' you', true],
    ],
  );
  assert.deepEqual(got[2]!.parameters, { triton_final_response: true, finish_reason: 'length', prompt_tokens: 3, completion_tokens: 4 });
  assert.equal(got[0]!.id, 'q');
  assert.deepEqual(s.usage, { prompt: 3, completion: 4 });
  assert.equal(s.done, true);
  assert.equal(s.push(sse(chunk('late'))), '');
});

test('streaming: multi-byte characters split across chunks, an empty final response, an engine error, an abrupt end', () => {
  const req = ok(parseInferRequest(body({ inputs: [text('x')], parameters: { stream: true, triton_enable_empty_final_response: true } }), null, 'm'));
  const s = new OipEventStream('m', req);
  const wire = sse(chunk('héllo'), chunk('!', 'stop'), '[DONE]');
  const at = wire.indexOf(Buffer.from('é')) + 1;
  const out = s.push(wire.subarray(0, at)) + s.push(wire.subarray(at));
  const got = events(out);
  assert.deepEqual(
    got.map((e) => [e.outputs[0]?.data[0] ?? null, e.parameters.triton_final_response]),
    [
      ['héllo', false],
      ['!', false],
      [null, true],
    ],
  );
  assert.deepEqual(got[2]!.outputs, []);
  assert.equal(got[2]!.parameters.finish_reason, 'stop');

  const e = new OipEventStream('m', req);
  const errOut = e.push(sse(chunk('a'), { error: { message: 'boom', type: 'server_error' } }, chunk('b')));
  const errEvents = events(errOut);
  assert.deepEqual(errEvents[1], { error: 'boom' });
  assert.equal(errEvents.length, 2);
  assert.equal(e.end(), '');

  const plain = ok(parseInferRequest(body({ inputs: [text('x')], parameters: { stream: true } }), null, 'm'));
  const cut = new OipEventStream('m', plain);
  const cutEvents = events(cut.push(sse(chunk('partial'))) + cut.end());
  assert.deepEqual(
    cutEvents.map((ev) => ev.parameters.triton_final_response),
    [false, true],
  );
  assert.deepEqual(cutEvents[1]!.outputs, []);

  // The usage event consumed upstream (the exchange's meter): the counts come from the source.
  const source = { usage: null as { prompt: number; completion: number } | null };
  const metered = new OipEventStream('m', plain, source);
  let streamed = metered.push(sse(chunk('a'), chunk('b', 'stop')));
  source.usage = { prompt: 5, completion: 2 };
  streamed += metered.push(sse('[DONE]'));
  assert.deepEqual(events(streamed).at(-1)!.parameters, { triton_final_response: true, finish_reason: 'stop', prompt_tokens: 5, completion_tokens: 2 });
});
