// The gRPC definitions the gateway serves, loaded once at run time (no generated code): the Open Inference
// Protocol's `inference.GRPCInferenceService` from proto/inference.proto and the standard `grpc.health.v1.Health`
// from the grpc-health-check package, in one package definition, which server reflection also describes.
//
// Decoding rules (proto-loader options): field names as in the .proto (snake_case), 64-bit integers as JS numbers
// (shapes, token counts), bytes as Buffers, every field present with its default, and `parameter_choice` naming the
// member of InferParameter's oneof that is set. The TypeScript shapes below mirror the messages as decoded.
//
// The file descriptors that reflection serves are corrected once here: protobufjs names the implicit message of a
// `map<K, V> field` after the field ("Parameters") where protoc and the protobuf runtimes require `<Field>Entry`
// ("ParametersEntry"), and strict clients refuse the whole file otherwise (grpcurl: "invalid map: incorrect implicit
// map entry name"; fullstorydev/grpcurl#519). The wire format is the same either way.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSync, type PackageDefinition, type ServiceDefinition } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import descriptor from 'protobufjs/ext/descriptor/index.js';

const PROTO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../proto');
const HEALTH_DIR = join(dirname(healthProtoPath), '../..');

export const INFERENCE_SERVICE = 'inference.GRPCInferenceService';

export const packageDefinition: PackageDefinition = withMapEntryNames(
  loadSync(['inference.proto', 'health/v1/health.proto'], {
    includeDirs: [PROTO_DIR, HEALTH_DIR],
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  }),
);

export const inferenceService = packageDefinition[INFERENCE_SERVICE] as ServiceDefinition;

export type ParameterChoice = 'bool_param' | 'int64_param' | 'string_param' | 'double_param' | 'uint64_param';

export interface InferParameter {
  bool_param?: boolean;
  int64_param?: number;
  string_param?: string;
  double_param?: number;
  uint64_param?: number;
  parameter_choice?: ParameterChoice;
}

export interface InferTensorContents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: number[];
  uint_contents?: number[];
  uint64_contents?: number[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Buffer[];
}

export interface InferInputTensor {
  name: string;
  datatype: string;
  shape: number[];
  parameters: Record<string, InferParameter>;
  contents: InferTensorContents | null;
}

export interface ModelInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, InferParameter>;
  inputs: InferInputTensor[];
  outputs: Array<{ name: string; parameters: Record<string, InferParameter> }>;
  raw_input_contents: Buffer[];
}

export interface InferOutputTensor {
  name: string;
  datatype: string;
  shape: number[];
  parameters: Record<string, InferParameter>;
  contents?: InferTensorContents;
}

export interface ModelInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, InferParameter>;
  outputs: InferOutputTensor[];
  raw_output_contents: Buffer[];
}

export interface ModelStreamInferResponse {
  error_message: string;
  infer_response: ModelInferResponse | null;
}

export interface ModelRequest {
  name: string;
  version: string;
}

export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

export interface ModelMetadataResponse {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

export interface ServerMetadataResponse {
  name: string;
  version: string;
  extensions: string[];
}

// ---- map entry names in the file descriptors ------------------------------------------------------------------

interface MessageDescriptor {
  name?: string;
  field?: Array<{ name?: string; typeName?: string }>;
  nestedType?: MessageDescriptor[];
  options?: { mapEntry?: boolean } | null;
}

/** protoc's name of a map field's entry message: the field name in CamelCase, then "Entry" (foo_bar → FooBarEntry). */
export function mapEntryName(field: string): string {
  let out = '';
  let upper = true;
  for (const c of field) {
    if (c === '_') {
      upper = true;
      continue;
    }
    out += upper ? c.toUpperCase() : c;
    upper = false;
  }
  return `${out}Entry`;
}

function renameMapEntries(message: MessageDescriptor): void {
  const nested = message.nestedType ?? [];
  for (const field of message.field ?? []) {
    const typeName = field.typeName;
    if (typeName === undefined || field.name === undefined) continue;
    const last = typeName.slice(typeName.lastIndexOf('.') + 1);
    const entry = nested.find((n) => n.name === last && n.options?.mapEntry === true);
    if (entry === undefined) continue;
    const name = mapEntryName(field.name);
    entry.name = name;
    field.typeName = typeName.slice(0, typeName.length - last.length) + name;
  }
  for (const n of nested) renameMapEntries(n);
}

/** The package definition with its file descriptors' map entries named as protoc names them. */
function withMapEntryNames(definition: PackageDefinition): PackageDefinition {
  const fixed = new Map<Buffer, Buffer>();
  const fix = (buf: Buffer): Buffer => {
    let out = fixed.get(buf);
    if (out === undefined) {
      const file = descriptor.FileDescriptorProto.decode(buf) as unknown as { messageType?: MessageDescriptor[] };
      for (const m of file.messageType ?? []) renameMapEntries(m);
      out = Buffer.from(descriptor.FileDescriptorProto.encode(file as never).finish());
      fixed.set(buf, out);
    }
    return out;
  };
  for (const entry of Object.values(definition)) {
    const protos = (entry as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos;
    if (protos !== undefined) (entry as { fileDescriptorProtos: Buffer[] }).fileDescriptorProtos = protos.map(fix);
  }
  return definition;
}
