// The gRPC definitions as loaded: the service's methods, and file descriptors for reflection whose map entries are
// named as protoc names them (what grpcurl and other strict clients require).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { inferenceService, mapEntryName, packageDefinition } from './proto.ts';

test('map entries in the served file descriptors are named as protoc names them', () => {
  assert.equal(mapEntryName('parameters'), 'ParametersEntry');
  assert.equal(mapEntryName('foo_bar_baz'), 'FooBarBazEntry');
  const protos = (packageDefinition['inference.ModelInferRequest'] as { fileDescriptorProtos: Buffer[] }).fileDescriptorProtos;
  const file = protos.map((b) => descriptor.FileDescriptorProto.decode(b) as any).find((f) => f.name === 'inference.proto');
  const request = file.messageType.find((m: any) => m.name === 'ModelInferRequest');
  assert.deepEqual(
    request.nestedType.filter((n: any) => n.options?.mapEntry).map((n: any) => n.name),
    ['ParametersEntry'],
  );
  assert.equal(request.field.find((f: any) => f.name === 'parameters').typeName, 'ParametersEntry');
  const tensor = request.nestedType.find((n: any) => n.name === 'InferInputTensor');
  assert.deepEqual(tensor.nestedType.map((n: any) => n.name), ['ParametersEntry']);
});

test('the service has the OIP methods and Triton’s streaming one', () => {
  assert.deepEqual(Object.keys(inferenceService).sort(), ['ModelInfer', 'ModelMetadata', 'ModelReady', 'ModelStreamInfer', 'ServerLive', 'ServerMetadata', 'ServerReady']);
  assert.equal(inferenceService.ModelStreamInfer!.requestStream, true);
  assert.equal(inferenceService.ModelStreamInfer!.responseStream, true);
  assert.equal(inferenceService.ModelInfer!.path, '/inference.GRPCInferenceService/ModelInfer');
});
