// The gRPC definitions the gateway serves, loaded once at run time (no generated code): the Open Inference
// Protocol's `inference.GRPCInferenceService` from proto/inference.proto and the standard `grpc.health.v1.Health`
// from the grpc-health-check package, in one package definition, which server reflection also describes.
//
// Decoding rules (proto-loader options): field names as in the .proto (snake_case), 64-bit integers as JS numbers
// (shapes, token counts), bytes as Buffers, every field present with its default, and `parameter_choice` naming the
// member of InferParameter's oneof that is set. The TypeScript shapes below mirror the messages as decoded.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSync, type PackageDefinition, type ServiceDefinition } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';

const PROTO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../proto');
const HEALTH_DIR = join(dirname(healthProtoPath), '../..');

export const INFERENCE_SERVICE = 'inference.GRPCInferenceService';

export const packageDefinition: PackageDefinition = loadSync(['inference.proto', 'health/v1/health.proto'], {
  includeDirs: [PROTO_DIR, HEALTH_DIR],
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});

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
