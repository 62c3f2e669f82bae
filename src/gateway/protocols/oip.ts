// The Open Inference Protocol (KServe V2 / Triton) over REST, as pure functions: no I/O, no exchange. The OIP front
// and the gRPC adapter (grpc/) call them; their tests need nothing running.
//
//   GET  /v2                                   server metadata
//   GET  /v2/health/live, /v2/health/ready     liveness, readiness
//   GET  /v2/models/{name}[/versions/{v}]      model metadata
//   GET  /v2/models/{name}[/versions/{v}]/ready
//   POST /v2/models/{name}[/versions/{v}]/infer
//
// Rules of the infer request, following Triton's vLLM backend:
//  - Inputs: `text_input` (BYTES, one element: the prompt), required; `stream` (BOOL, one element) and
//    `sampling_parameters` (BYTES, one element: a JSON object of generation settings), optional. Any other name,
//    another datatype, a shape whose element count is not the data's, or more than one element is a 400 naming it.
//  - Generation settings come from the request's `parameters` (max_tokens, temperature, top_p, top_k, stop, seed, …;
//    the known ones are type-checked, others pass to the engine when they are scalars), over `sampling_parameters`.
//    Triton's control parameters (binary_data_output, triton_*, sequence_*, priority, timeout) are read or ignored,
//    never forwarded; `model`, `prompt`, `n`, `best_of`, `echo`, `suffix` and `stream_options` are refused (the
//    gateway sets them, or they would change the shape of the output).
//  - Output: `text_output` (BYTES, shape [1]); the response's `parameters` carry `finish_reason`, `prompt_tokens`
//    and `completion_tokens` when the engine gave them. `id` is the request's, echoed.
//  - Triton's binary tensor data extension: a body whose JSON is followed by binary tensors
//    (`inference-header-content-length` gives the JSON's length; a tensor's `parameters.binary_data_size` its
//    bytes, BYTES elements each as a 4-byte little-endian length and the bytes), and binary outputs when asked
//    (`binary_data_output`, or an output's `binary_data`), as tritonclient does by default.
//  - Streaming (`stream` true): the engine's SSE completion chunks become SSE events of OIP responses, one per
//    chunk with text (Triton's generate_stream style). Every response carries `triton_final_response`; the last is
//    true and carries finish_reason and token counts (the chunk with the finish reason is held until the engine's
//    usage event, which follows at once). With `triton_enable_empty_final_response` the last is an empty response.
//  - Errors are `{"error": "<message>"}` with the HTTP status (what OIP clients parse).
//  - A model has one version, "1"; an empty or absent version means it, any other is 404.
import { StringDecoder } from 'node:string_decoder';

export const TEXT_INPUT = 'text_input';
export const TEXT_OUTPUT = 'text_output';
export const STREAM_INPUT = 'stream';
export const SAMPLING_INPUT = 'sampling_parameters';
export const MODEL_VERSION = '1';
export const SERVER_NAME = 'matrixinfer';

export type OipParameter = string | number | boolean;

export interface OipTensor {
  name: string;
  datatype: string;
  shape: number[];
  parameters?: Record<string, OipParameter>;
  data?: unknown[];
}

export interface OipResponse {
  model_name: string;
  model_version: string;
  id?: string;
  parameters: Record<string, OipParameter>;
  outputs: OipTensor[];
}

/** A request the protocol refuses: the HTTP status and the message of `{"error": message}`. */
export class OipError {
  readonly status: number;
  readonly message: string;
  constructor(status: number, message: string) {
    this.status = status;
    this.message = message;
  }

  body(): string {
    return errorJson(this.message);
  }
}

/** The protocol's error body. */
export function errorJson(message: string): string {
  return JSON.stringify({ error: message });
}

/** A validated infer request. */
export interface OipInfer {
  /** The request's `id`, echoed in responses; null when it gave none. */
  id: string | null;
  prompt: string;
  /** Generation settings for the engine's completion request. */
  sampling: Record<string, unknown>;
  stream: boolean;
  /** text_output as binary data (Triton's binary tensor data extension). */
  binaryOutput: boolean;
  /** Streaming: end with an empty response carrying `triton_final_response: true`. */
  emptyFinal: boolean;
}

// ---- paths -----------------------------------------------------------------------------------------------------

export type OipPath =
  | { kind: 'server-metadata' }
  | { kind: 'live' }
  | { kind: 'ready' }
  | { kind: 'model'; action: 'metadata' | 'ready' | 'infer'; model: string; version: string | null };

/**
 * What a `/v2` path asks for, or null when it is not one of the protocol's. Model names may contain `/` (e.g.
 * `meta-llama/Llama-2-7b`), raw or as %2F; a trailing `/ready` or `/infer` is the action.
 */
export function parseOipPath(path: string): OipPath | null {
  if (path === '/v2' || path === '/v2/') return { kind: 'server-metadata' };
  if (path === '/v2/health/live') return { kind: 'live' };
  if (path === '/v2/health/ready') return { kind: 'ready' };
  if (!path.startsWith('/v2/models/')) return null;
  let rest = path.slice(11);
  let action: 'metadata' | 'ready' | 'infer' = 'metadata';
  if (rest.endsWith('/infer')) {
    action = 'infer';
    rest = rest.slice(0, -6);
  } else if (rest.endsWith('/ready')) {
    action = 'ready';
    rest = rest.slice(0, -6);
  }
  let version: string | null = null;
  const v = rest.lastIndexOf('/versions/');
  if (v > 0) {
    version = rest.slice(v + 10);
    rest = rest.slice(0, v);
    if (version.length === 0 || version.includes('/')) return null;
  }
  if (rest.length === 0) return null;
  let model: string;
  try {
    model = decodeURIComponent(rest);
    if (version !== null) version = decodeURIComponent(version);
  } catch {
    return null;
  }
  return { kind: 'model', action, model, version };
}

/** The path of a model action, as a client would build it (the name escaped, `/` included). */
export function oipModelPath(model: string, version: string, action: 'metadata' | 'ready' | 'infer'): string {
  let path = `/v2/models/${encodeURIComponent(model)}`;
  if (version !== '') path += `/versions/${encodeURIComponent(version)}`;
  return action === 'metadata' ? path : `${path}/${action}`;
}

/** Null when `version` names the model's one version (or none), else the 404. */
export function checkVersion(model: string, version: string | null): OipError | null {
  if (version === null || version === '' || version === MODEL_VERSION) return null;
  return new OipError(404, `Unknown version '${clip(version)}' of model '${clip(model)}': it has version ${MODEL_VERSION}.`);
}

// ---- metadata --------------------------------------------------------------------------------------------------

export function serverMetadata(version: string): Record<string, unknown> {
  return { name: SERVER_NAME, version, extensions: ['binary_tensor_data'] };
}

/** A model's metadata: the tensors of Triton's vLLM backend. `platform` is the engine ("vllm", "sglang"). */
export function modelMetadata(model: string, platform: string): Record<string, unknown> {
  return {
    name: model,
    versions: [MODEL_VERSION],
    platform,
    inputs: [
      { name: TEXT_INPUT, datatype: 'BYTES', shape: [1] },
      { name: STREAM_INPUT, datatype: 'BOOL', shape: [1] },
      { name: SAMPLING_INPUT, datatype: 'BYTES', shape: [1] },
    ],
    outputs: [{ name: TEXT_OUTPUT, datatype: 'BYTES', shape: [-1] }],
  };
}

// ---- the infer request -----------------------------------------------------------------------------------------

type Check = (v: unknown) => boolean;
const isInt: Check = (v) => typeof v === 'number' && Number.isSafeInteger(v);
const isNum: Check = (v) => typeof v === 'number' && Number.isFinite(v);

/** Known generation settings: how each is checked and what the message says it must be. */
const SETTINGS: Record<string, [Check, string]> = {
  max_tokens: [(v) => isInt(v) && (v as number) >= 1, 'an integer ≥ 1'],
  min_tokens: [(v) => isInt(v) && (v as number) >= 0, 'an integer ≥ 0'],
  temperature: [(v) => isNum(v) && (v as number) >= 0, 'a number ≥ 0'],
  top_p: [(v) => isNum(v) && (v as number) > 0 && (v as number) <= 1, 'a number in (0, 1]'],
  top_k: [(v) => isInt(v) && ((v as number) >= 1 || v === -1 || v === 0), 'an integer ≥ 1, or 0 or -1 for no limit'],
  min_p: [(v) => isNum(v) && (v as number) >= 0 && (v as number) <= 1, 'a number in [0, 1]'],
  seed: [isInt, 'an integer'],
  presence_penalty: [isNum, 'a number'],
  frequency_penalty: [isNum, 'a number'],
  repetition_penalty: [(v) => isNum(v) && (v as number) > 0, 'a number > 0'],
  ignore_eos: [(v) => typeof v === 'boolean', 'a boolean'],
  stop: [(v) => typeof v === 'string' || (Array.isArray(v) && v.every((s) => typeof s === 'string')), 'a string or a list of strings'],
  stream: [(v) => typeof v === 'boolean', 'a boolean'],
};

/** Triton's request parameters the gateway reads itself or ignores; never forwarded to the engine. */
const CONTROL = new Set(['binary_data_output', 'sequence_id', 'sequence_start', 'sequence_end', 'priority', 'timeout', 'headers']);

/** Parameters the gateway sets, or that would change the output's shape. */
const REFUSED: Record<string, string> = {
  model: 'the model is the one named in the path',
  prompt: `the prompt is the ${TEXT_INPUT} tensor`,
  n: 'one output per request',
  best_of: 'one output per request',
  echo: 'the output is the generated text',
  suffix: 'not supported',
  stream_options: 'the gateway sets it',
};

const EXPECTED = `${TEXT_INPUT} (BYTES, required), ${STREAM_INPUT} (BOOL) and ${SAMPLING_INPUT} (BYTES)`;

function clip(s: string): string {
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
}

function bad(message: string): OipError {
  return new OipError(400, message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Generation settings from `source` into `out`; an error for a value of the wrong type or a refused name. */
function takeSettings(source: Record<string, unknown>, where: string, out: Record<string, unknown>, control: Record<string, unknown> | null): OipError | null {
  for (const [name, value] of Object.entries(source)) {
    const refused = REFUSED[name];
    if (refused !== undefined) return bad(`${where} '${name}' is not accepted: ${refused}.`);
    if (CONTROL.has(name) || name.startsWith('triton_')) {
      if (control !== null) control[name] = value;
      continue;
    }
    const setting = SETTINGS[name];
    if (setting !== undefined) {
      if (!setting[0](value)) return bad(`${where} '${name}' must be ${setting[1]}.`);
    } else if (typeof value !== 'string' && typeof value !== 'boolean' && !isNum(value)) {
      return bad(`${where} '${clip(name)}' must be a string, a number or a boolean.`);
    }
    out[name] = value;
  }
  return null;
}

/** Nested JSON `data` flattened in row-major order (the protocol allows both forms). */
function flatten(data: unknown[], out: unknown[]): void {
  for (const item of data) {
    if (Array.isArray(item)) flatten(item, out);
    else out.push(item);
  }
}

/** The binary section of a body, consumed tensor by tensor in input order. */
interface BinaryCursor {
  buf: Buffer;
  at: number;
}

/** BYTES elements of a binary tensor: each a 4-byte little-endian length and its bytes. */
export function deserializeBytes(buf: Buffer): Buffer[] | null {
  const out: Buffer[] = [];
  let at = 0;
  while (at < buf.length) {
    if (at + 4 > buf.length) return null;
    const n = buf.readUInt32LE(at);
    at += 4;
    if (at + n > buf.length) return null;
    out.push(buf.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** BYTES elements as one binary tensor (the inverse of deserializeBytes). */
export function serializeBytes(items: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [];
  for (const item of items) {
    const b = typeof item === 'string' ? Buffer.from(item, 'utf8') : item;
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32LE(b.length, 0);
    parts.push(len, b);
  }
  return Buffer.concat(parts);
}

/** One input tensor's elements (strings for BYTES, booleans for BOOL), checked against its shape. */
function tensorElements(t: Record<string, unknown>, name: string, datatype: string, binary: BinaryCursor | null): unknown[] | OipError {
  const shape = t.shape;
  if (!Array.isArray(shape) || !shape.every((d) => isInt(d) && (d as number) >= 0)) {
    return bad(`Input tensor '${name}' must have a shape: a list of non-negative integers.`);
  }
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  const params = t.parameters;
  if (params !== undefined && !isObject(params)) return bad(`The parameters of input tensor '${name}' must be an object.`);
  const size = params?.binary_data_size;
  let elements: unknown[];
  if (size !== undefined) {
    if (!isInt(size) || (size as number) < 0) return bad(`Input tensor '${name}': binary_data_size must be a non-negative integer.`);
    if (t.data !== undefined) return bad(`Input tensor '${name}' has both data and binary_data_size.`);
    if (binary === null || binary.at + (size as number) > binary.buf.length) {
      return bad(`Input tensor '${name}': binary_data_size ${size as number} exceeds the binary data after the JSON header.`);
    }
    const raw = binary.buf.subarray(binary.at, binary.at + (size as number));
    binary.at += size as number;
    if (datatype === 'BYTES') {
      const items = deserializeBytes(raw);
      if (items === null) return bad(`Input tensor '${name}': malformed BYTES binary data (each element is a 4-byte little-endian length and its bytes).`);
      elements = items.map((b) => b.toString('utf8'));
    } else if (datatype === 'BOOL') {
      elements = [...raw].map((b) => b !== 0);
    } else {
      return bad(`Input tensor '${name}' must have datatype ${datatype}.`);
    }
  } else {
    if (!Array.isArray(t.data)) return bad(`Input tensor '${name}' must carry data (or binary_data_size).`);
    elements = [];
    flatten(t.data, elements);
  }
  if (elements.length !== count) {
    return bad(`Input tensor '${name}' has shape [${(shape as number[]).join(',')}] (${count} elements) but ${elements.length} data elements.`);
  }
  const want = datatype === 'BYTES' ? 'string' : 'boolean';
  if (!elements.every((e) => typeof e === want)) return bad(`Input tensor '${name}' (${datatype}) must hold ${want === 'string' ? 'strings' : 'booleans'}.`);
  if (count !== 1) return bad(`Input tensor '${name}' must hold exactly one element (shape [1]); it has ${count}.`);
  return elements;
}

const DATATYPES: Record<string, string> = { [TEXT_INPUT]: 'BYTES', [STREAM_INPUT]: 'BOOL', [SAMPLING_INPUT]: 'BYTES' };

/**
 * Validate an infer request body. `headerLength` is the `inference-header-content-length` header (the JSON's
 * length when binary tensors follow it), or null.
 */
export function parseInferRequest(raw: Buffer, headerLength: number | null, model: string): OipInfer | OipError {
  if (headerLength !== null && (!Number.isSafeInteger(headerLength) || headerLength < 0 || headerLength > raw.length)) {
    return bad(`inference-header-content-length ${headerLength} does not fit the body of ${raw.length} bytes.`);
  }
  const jsonPart = headerLength === null ? raw : raw.subarray(0, headerLength);
  let body: unknown;
  try {
    body = JSON.parse(jsonPart.toString('utf8'));
  } catch (err) {
    return bad(`The request body is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(body)) return bad('The request body must be a JSON object.');
  const id = body.id;
  if (id !== undefined && typeof id !== 'string') return bad("'id' must be a string.");

  const sampling: Record<string, unknown> = {};
  const control: Record<string, unknown> = {};
  const requestParams = body.parameters;
  if (requestParams !== undefined && !isObject(requestParams)) return bad("'parameters' must be an object.");

  const inputs = body.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) return bad(`'inputs' must be a non-empty list of tensors: ${EXPECTED}.`);
  const binary = headerLength === null ? null : { buf: raw.subarray(headerLength), at: 0 };
  const seen = new Map<string, unknown>();
  for (const t of inputs) {
    if (!isObject(t) || typeof t.name !== 'string') return bad("Every input tensor must be an object with a string 'name'.");
    const name = t.name;
    const datatype = DATATYPES[name];
    if (datatype === undefined) return bad(`Unknown input tensor '${clip(name)}' for model '${clip(model)}': expected ${EXPECTED}.`);
    if (seen.has(name)) return bad(`Input tensor '${name}' is given twice.`);
    if (t.datatype !== datatype) {
      return bad(`Input tensor '${name}' must have datatype ${datatype}, not ${typeof t.datatype === 'string' ? clip(t.datatype) : 'none'}.`);
    }
    const elements = tensorElements(t, name, datatype, binary);
    if (elements instanceof OipError) return elements;
    seen.set(name, elements[0]);
  }
  if (binary !== null && binary.at !== binary.buf.length) {
    return bad(`The body has ${binary.buf.length - binary.at} bytes of binary data that no input tensor's binary_data_size covers.`);
  }
  const prompt = seen.get(TEXT_INPUT);
  if (prompt === undefined) return bad(`The request has no '${TEXT_INPUT}' input tensor (BYTES, shape [1]: the prompt).`);

  const samplingJson = seen.get(SAMPLING_INPUT);
  if (samplingJson !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(samplingJson as string);
    } catch (err) {
      return bad(`Input tensor '${SAMPLING_INPUT}' is not valid JSON: ${(err as Error).message}`);
    }
    if (!isObject(parsed)) return bad(`Input tensor '${SAMPLING_INPUT}' must be a JSON object.`);
    const e = takeSettings(parsed, `Sampling parameter`, sampling, null);
    if (e !== null) return e;
  }
  if (requestParams !== undefined) {
    const e = takeSettings(requestParams, 'Parameter', sampling, control);
    if (e !== null) return e;
  }

  let binaryOutput = control.binary_data_output === true;
  const outputs = body.outputs;
  if (outputs !== undefined) {
    if (!Array.isArray(outputs)) return bad(`'outputs' must be a list of requested output tensors.`);
    for (const o of outputs) {
      if (!isObject(o) || typeof o.name !== 'string') return bad("Every requested output must be an object with a string 'name'.");
      if (o.name !== TEXT_OUTPUT) return bad(`Unknown output tensor '${clip(o.name)}' for model '${clip(model)}': the output is ${TEXT_OUTPUT} (BYTES).`);
      if (o.parameters !== undefined && !isObject(o.parameters)) return bad(`The parameters of output '${TEXT_OUTPUT}' must be an object.`);
      const b = o.parameters?.binary_data;
      if (b !== undefined && typeof b !== 'boolean') return bad(`Output '${TEXT_OUTPUT}': binary_data must be a boolean.`);
      if (b !== undefined) binaryOutput = b;
    }
  }

  const streamInput = seen.get(STREAM_INPUT);
  const stream = streamInput !== undefined ? (streamInput as boolean) : sampling.stream === true;
  delete sampling.stream;
  return {
    id: (id as string | undefined) ?? null,
    prompt: prompt as string,
    sampling,
    stream,
    binaryOutput,
    emptyFinal: control.triton_enable_empty_final_response === true,
  };
}

/**
 * The engine's completion request for a validated infer request (for a stream the pipeline asks the engine for its
 * usage event, accounting/usage.ts).
 */
export function completionRequest(req: OipInfer, model: string): Record<string, unknown> {
  return { model, prompt: req.prompt, ...req.sampling, stream: req.stream };
}

// ---- responses -------------------------------------------------------------------------------------------------

function count(v: unknown): number | null {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;
}

function textOutput(text: string): OipTensor {
  return { name: TEXT_OUTPUT, datatype: 'BYTES', shape: [1], data: [text] };
}

function response(model: string, req: OipInfer, outputs: OipTensor[], parameters: Record<string, OipParameter>): OipResponse {
  const out: OipResponse = { model_name: model, model_version: MODEL_VERSION, parameters, outputs };
  if (req.id !== null) out.id = req.id;
  return out;
}

function usageParameters(usage: unknown, into: Record<string, OipParameter>): { prompt: number; completion: number } | null {
  if (!isObject(usage)) return null;
  const prompt = count(usage.prompt_tokens);
  const completion = count(usage.completion_tokens);
  if (prompt !== null) into.prompt_tokens = prompt;
  if (completion !== null) into.completion_tokens = completion;
  return prompt === null && completion === null ? null : { prompt: prompt ?? 0, completion: completion ?? 0 };
}

/** The engine's completion → the OIP response; null when the answer is not a completion. */
export function inferResponse(completion: unknown, model: string, req: OipInfer): OipResponse | null {
  if (!isObject(completion) || !Array.isArray(completion.choices)) return null;
  const first = completion.choices[0];
  const choice = isObject(first) ? first : {};
  const parameters: Record<string, OipParameter> = {};
  if (typeof choice.finish_reason === 'string') parameters.finish_reason = choice.finish_reason;
  usageParameters(completion.usage, parameters);
  return response(model, req, [textOutput(typeof choice.text === 'string' ? choice.text : '')], parameters);
}

/**
 * A response as a body: JSON, or with binary outputs the JSON followed by the BYTES tensors, `headerLength` being the
 * JSON's length (sent as `inference-header-content-length`).
 */
export function encodeResponse(res: OipResponse, binary: boolean): { body: Buffer; headerLength: number | null } {
  if (!binary) return { body: Buffer.from(JSON.stringify(res)), headerLength: null };
  const blobs: Buffer[] = [];
  const outputs = res.outputs.map((o) => {
    if (o.datatype !== 'BYTES' || o.data === undefined) return o;
    const blob = serializeBytes(o.data as string[]);
    blobs.push(blob);
    const { data: _data, ...rest } = o;
    return { ...rest, parameters: { ...o.parameters, binary_data_size: blob.length } };
  });
  const json = Buffer.from(JSON.stringify({ ...res, outputs }));
  return { body: Buffer.concat([json, ...blobs]), headerLength: json.length };
}

/** The message of an OIP (`{"error": "..."}`) or OpenAI (`{"error": {"message"}}`) error body; null otherwise. */
export function errorMessage(body: unknown): string | null {
  if (!isObject(body)) return null;
  const e = body.error;
  if (typeof e === 'string') return e;
  if (isObject(e) && typeof e.message === 'string') return e.message;
  if (typeof body.message === 'string') return body.message;
  return null;
}

/** Where the token counts of a stream may already be (the exchange, whose usage meter removes the usage event). */
export interface UsageSource {
  usage: { prompt: number; completion: number } | null;
}

/**
 * The engine's SSE completion stream → SSE events of OIP responses (one per chunk with text; see the rules above).
 * Fed the engine's bytes as they come; returns the text to send to the client ('' when nothing is complete yet).
 * The final response's token counts come from the usage event, or from `source` when something else consumed it.
 */
export class OipEventStream {
  readonly model: string;
  readonly req: OipInfer;
  readonly source: UsageSource | null;
  /** Token counts from the engine's usage event, once seen. */
  usage: { prompt: number; completion: number } | null = null;
  /** The final response (or an error event) was produced: nothing follows. */
  done = false;
  #decoder = new StringDecoder('utf8');
  #partial = '';
  /** The chunk that carried the finish reason, held for the usage event that follows it. */
  #held: { text: string; finish: string } | null = null;
  #finalParameters: Record<string, OipParameter> = {};

  constructor(model: string, req: OipInfer, source: UsageSource | null = null) {
    this.model = model;
    this.req = req;
    this.source = source;
  }

  push(chunk: Buffer): string {
    if (this.done) return '';
    const text = this.#partial + this.#decoder.write(chunk);
    this.#partial = '';
    let out = '';
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      let line = text.slice(start, nl);
      start = nl + 1;
      if (line.endsWith('\r')) line = line.slice(0, -1);
      out += this.#line(line);
      if (this.done) return out;
    }
    this.#partial = text.slice(start);
    return out;
  }

  /** The engine's stream ended (or [DONE]): what is held goes out as the final response. */
  end(): string {
    if (this.done) return '';
    const rest = this.#partial + this.#decoder.end();
    this.#partial = '';
    let out = rest.length > 0 ? this.#line(rest) : '';
    if (this.done) return out;
    this.done = true;
    const held = this.#held;
    this.#held = null;
    const params = this.#finalParameters;
    if (held !== null) params.finish_reason = held.finish;
    const counted = this.source?.usage;
    if (this.usage === null && counted != null) usageParameters({ prompt_tokens: counted.prompt, completion_tokens: counted.completion }, params);
    if (this.req.emptyFinal) {
      if (held !== null && held.text.length > 0) out += event(response(this.model, this.req, [textOutput(held.text)], { triton_final_response: false }));
      out += event(response(this.model, this.req, [], { ...params, triton_final_response: true }));
    } else {
      out += event(response(this.model, this.req, held === null ? [] : [textOutput(held.text)], { ...params, triton_final_response: true }));
    }
    return out;
  }

  #line(line: string): string {
    if (!line.startsWith('data:')) return '';
    const data = line.slice(line.charCodeAt(5) === 32 ? 6 : 5);
    if (data === '[DONE]') return this.end();
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return '';
    }
    if (!isObject(parsed)) return '';
    if (parsed.error !== undefined) {
      this.done = true;
      return `data: ${errorJson(errorMessage(parsed) ?? 'The engine reported an error.')}\n\n`;
    }
    const usage = usageParameters(parsed.usage, this.#finalParameters);
    if (usage !== null) this.usage = usage;
    const choices = parsed.choices;
    const first = Array.isArray(choices) ? choices[0] : undefined;
    if (!isObject(first)) return '';
    const text = typeof first.text === 'string' ? first.text : '';
    let out = '';
    const held = this.#held;
    if (held !== null) {
      // A chunk after the finish reason (not expected from vLLM or SGLang): the held one was not the last.
      this.#held = null;
      if (held.text.length > 0) out += event(response(this.model, this.req, [textOutput(held.text)], { triton_final_response: false }));
    }
    if (typeof first.finish_reason === 'string') this.#held = { text, finish: first.finish_reason };
    else if (text.length > 0) out += event(response(this.model, this.req, [textOutput(text)], { triton_final_response: false }));
    return out;
  }
}

function event(res: OipResponse): string {
  return `data: ${JSON.stringify(res)}\n\n`;
}
