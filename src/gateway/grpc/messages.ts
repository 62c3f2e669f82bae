// Protobuf messages of the OIP gRPC service ↔ the OIP REST bodies the pipeline serves (protocols/oip.ts). Pure
// functions: a ModelInferRequest becomes the body of `POST /v2/models/{name}/infer`, and the REST answers (JSON
// responses, SSE events of a stream, metadata) become the protobuf responses.
//
// Rules:
//  - Tensor data sent in `contents` becomes JSON `data`; data sent as `raw_input_contents` goes as Triton's binary
//    tensor data (the JSON, then each input's bytes, `binary_data_size` per input, `inference-header-content-length`),
//    byte for byte: BYTES elements are length-prefixed the same way in both protocols, so nothing is decoded here and
//    the REST codec validates both forms alike.
//  - InferParameter ↔ JSON scalars: bool ↔ boolean, string ↔ string, int64/uint64 ↔ integer, double ↔ number (an
//    integral double is sent back as int64: JSON cannot tell them apart).
//  - A unary ModelInfer never streams: its `stream` setting (parameter or input tensor) is dropped and the request
//    asks for one response. Binary output requests (`binary_data_output`, `binary_data`) are dropped: the REST answer
//    stays JSON, and outputs go back as `raw_output_contents` when the request used raw inputs (as tritonclient does),
//    else as typed `contents`.
import { STREAM_INPUT, oipModelPath, serializeBytes, type OipParameter } from '../protocols/oip.ts';
import type {
  InferOutputTensor,
  InferParameter,
  InferTensorContents,
  ModelInferRequest,
  ModelInferResponse,
  ModelMetadataResponse,
  ServerMetadataResponse,
  TensorMetadata,
} from './proto.ts';

/** The REST request a gRPC call is served as. */
export interface RestRequest {
  method: 'GET' | 'POST';
  path: string;
  /** Content headers of the body (none for GET). */
  headers: Record<string, string>;
  body: Buffer | null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function parameterValue(p: InferParameter): OipParameter | undefined {
  switch (p.parameter_choice) {
    case 'bool_param':
      return p.bool_param;
    case 'int64_param':
      return p.int64_param;
    case 'string_param':
      return p.string_param;
    case 'double_param':
      return p.double_param;
    case 'uint64_param':
      return p.uint64_param;
    default:
      return undefined;
  }
}

export function toParameter(v: unknown): InferParameter | undefined {
  if (typeof v === 'boolean') return { bool_param: v };
  if (typeof v === 'string') return { string_param: v };
  if (typeof v === 'number' && Number.isFinite(v)) return Number.isSafeInteger(v) ? { int64_param: v } : { double_param: v };
  return undefined;
}

function parametersJson(map: Record<string, InferParameter> | undefined, drop: ReadonlySet<string>): Record<string, OipParameter> {
  const out: Record<string, OipParameter> = {};
  if (map === undefined) return out;
  for (const [k, p] of Object.entries(map)) {
    if (drop.has(k)) continue;
    const v = parameterValue(p);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

function parametersProto(params: unknown): Record<string, InferParameter> {
  const out: Record<string, InferParameter> = {};
  if (!isObject(params)) return out;
  for (const [k, v] of Object.entries(params)) {
    const p = toParameter(v);
    if (p !== undefined) out[k] = p;
  }
  return out;
}

/** A tensor's typed contents as JSON data, by datatype (FP16/BF16 have none: they travel raw only). */
function contentsData(datatype: string, c: InferTensorContents | null): unknown[] {
  if (c === null) return [];
  switch (datatype) {
    case 'BYTES':
      return (c.bytes_contents ?? []).map((b) => b.toString('utf8'));
    case 'BOOL':
      return c.bool_contents ?? [];
    case 'INT8':
    case 'INT16':
    case 'INT32':
      return c.int_contents ?? [];
    case 'INT64':
      return c.int64_contents ?? [];
    case 'UINT8':
    case 'UINT16':
    case 'UINT32':
      return c.uint_contents ?? [];
    case 'UINT64':
      return c.uint64_contents ?? [];
    case 'FP32':
      return c.fp32_contents ?? [];
    case 'FP64':
      return c.fp64_contents ?? [];
    default:
      return [];
  }
}

function hasContents(c: InferTensorContents | null): boolean {
  if (c === null) return false;
  for (const v of Object.values(c)) if (Array.isArray(v) && v.length > 0) return true;
  return false;
}

const NO_PARAMS = new Set<string>();
const DROPPED_REQUEST_PARAMS = new Set(['binary_data_output']);
const DROPPED_OUTPUT_PARAMS = new Set(['binary_data']);
const DROPPED_INPUT_PARAMS = new Set(['binary_data_size']);

/**
 * A ModelInferRequest → the REST infer request; a string is the INVALID_ARGUMENT message for what cannot be sent
 * (no model name, raw contents that do not match the inputs).
 */
export function inferRequest(req: ModelInferRequest, unary: boolean): RestRequest | string {
  if (req.model_name === '') return 'model_name is required.';
  const raw = req.raw_input_contents;
  const useRaw = raw.length > 0;
  if (useRaw && raw.length !== req.inputs.length) {
    return `raw_input_contents has ${raw.length} entries for ${req.inputs.length} inputs: it must have one per input, in order.`;
  }
  const inputs: Array<Record<string, unknown>> = [];
  const blobs: Buffer[] = [];
  for (let i = 0; i < req.inputs.length; i++) {
    const t = req.inputs[i]!;
    if (unary && t.name === STREAM_INPUT) continue;
    const parameters = parametersJson(t.parameters, DROPPED_INPUT_PARAMS);
    const tensor: Record<string, unknown> = { name: t.name, datatype: t.datatype, shape: t.shape };
    if (useRaw) {
      if (hasContents(t.contents)) return `Input tensor '${t.name}' has contents while the request uses raw_input_contents: use one or the other for all inputs.`;
      const blob = raw[i]!;
      parameters.binary_data_size = blob.length;
      blobs.push(blob);
    } else {
      tensor.data = contentsData(t.datatype, t.contents);
    }
    if (Object.keys(parameters).length > 0) tensor.parameters = parameters;
    inputs.push(tensor);
  }
  const body: Record<string, unknown> = {};
  if (req.id !== '') body.id = req.id;
  const parameters = parametersJson(req.parameters, DROPPED_REQUEST_PARAMS);
  if (unary) parameters.stream = false;
  if (Object.keys(parameters).length > 0) body.parameters = parameters;
  body.inputs = inputs;
  if (req.outputs.length > 0) {
    body.outputs = req.outputs.map((o) => {
      const params = parametersJson(o.parameters, DROPPED_OUTPUT_PARAMS);
      return Object.keys(params).length > 0 ? { name: o.name, parameters: params } : { name: o.name };
    });
  }
  const json = Buffer.from(JSON.stringify(body));
  const path = oipModelPath(req.model_name, req.model_version, 'infer');
  if (!useRaw) return { method: 'POST', path, headers: { 'content-type': 'application/json' }, body: json };
  return {
    method: 'POST',
    path,
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(json.length) },
    body: Buffer.concat([json, ...blobs]),
  };
}

/** JSON data of an output → typed contents. */
function dataContents(datatype: string, data: unknown[]): InferTensorContents {
  switch (datatype) {
    case 'BYTES':
      return { bytes_contents: data.map((d) => Buffer.from(typeof d === 'string' ? d : JSON.stringify(d), 'utf8')) };
    case 'BOOL':
      return { bool_contents: data.map(Boolean) };
    case 'INT8':
    case 'INT16':
    case 'INT32':
      return { int_contents: data as number[] };
    case 'INT64':
      return { int64_contents: data as number[] };
    case 'UINT8':
    case 'UINT16':
    case 'UINT32':
      return { uint_contents: data as number[] };
    case 'UINT64':
      return { uint64_contents: data as number[] };
    case 'FP32':
      return { fp32_contents: data as number[] };
    case 'FP64':
      return { fp64_contents: data as number[] };
    default:
      return {};
  }
}

function flat(data: unknown): unknown[] {
  if (!Array.isArray(data)) return [];
  const out: unknown[] = [];
  const walk = (a: unknown[]): void => {
    for (const x of a) Array.isArray(x) ? walk(x) : out.push(x);
  };
  walk(data);
  return out;
}

/**
 * An OIP JSON response → ModelInferResponse; null when it is not one. `raw`: outputs as raw_output_contents (only
 * when every output is BYTES; otherwise typed contents for all, as the protocol requires one form for all).
 */
export function inferResponse(json: unknown, raw: boolean, extraParameters?: Record<string, OipParameter>): ModelInferResponse | null {
  if (!isObject(json) || !Array.isArray(json.outputs)) return null;
  const outputs = json.outputs.filter(isObject);
  const useRaw = raw && outputs.every((o) => o.datatype === 'BYTES');
  const res: ModelInferResponse = {
    model_name: typeof json.model_name === 'string' ? json.model_name : '',
    model_version: typeof json.model_version === 'string' ? json.model_version : '',
    id: typeof json.id === 'string' ? json.id : '',
    parameters: parametersProto({ ...(isObject(json.parameters) ? json.parameters : {}), ...extraParameters }),
    outputs: [],
    raw_output_contents: [],
  };
  for (const o of outputs) {
    const datatype = typeof o.datatype === 'string' ? o.datatype : 'BYTES';
    const data = flat(o.data);
    const tensor: InferOutputTensor = {
      name: typeof o.name === 'string' ? o.name : '',
      datatype,
      shape: Array.isArray(o.shape) ? (o.shape.filter((d) => typeof d === 'number') as number[]) : [data.length],
      parameters: parametersProto(o.parameters),
    };
    if (useRaw) res.raw_output_contents.push(serializeBytes(data.map((d) => (typeof d === 'string' ? d : JSON.stringify(d)))));
    else tensor.contents = dataContents(datatype, data);
    res.outputs.push(tensor);
  }
  return res;
}

function tensors(v: unknown): TensorMetadata[] {
  if (!Array.isArray(v)) return [];
  return v.filter(isObject).map((t) => ({
    name: typeof t.name === 'string' ? t.name : '',
    datatype: typeof t.datatype === 'string' ? t.datatype : '',
    shape: Array.isArray(t.shape) ? (t.shape.filter((d) => typeof d === 'number') as number[]) : [],
  }));
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? (v.filter((s) => typeof s === 'string') as string[]) : [];
}

export function modelMetadataResponse(json: unknown): ModelMetadataResponse | null {
  if (!isObject(json) || typeof json.name !== 'string') return null;
  return {
    name: json.name,
    versions: strings(json.versions),
    platform: typeof json.platform === 'string' ? json.platform : '',
    inputs: tensors(json.inputs),
    outputs: tensors(json.outputs),
  };
}

export function serverMetadataResponse(json: unknown): ServerMetadataResponse | null {
  if (!isObject(json) || typeof json.name !== 'string') return null;
  return { name: json.name, version: typeof json.version === 'string' ? json.version : '', extensions: strings(json.extensions) };
}
