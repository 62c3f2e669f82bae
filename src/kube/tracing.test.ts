// tracingConfig: when tracing is on and what the OTEL_* variables select (the SDK itself is exercised against a real
// OTLP receiver in test/integration/traces.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inSpan, startTracing, tracing, tracingConfig } from './tracing.ts';

const ENDPOINT = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' };

test('off unless an OTLP endpoint is set, and when disabled', () => {
  assert.equal(tracingConfig('gateway', {}), undefined);
  assert.equal(tracingConfig('gateway', { OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }), undefined);
  assert.notEqual(tracingConfig('gateway', ENDPOINT), undefined);
  assert.notEqual(tracingConfig('gateway', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }), undefined);
  assert.equal(tracingConfig('gateway', { ...ENDPOINT, OTEL_SDK_DISABLED: 'TRUE' }), undefined);
  assert.equal(tracingConfig('gateway', { ...ENDPOINT, OTEL_TRACES_EXPORTER: 'none' }), undefined);
  assert.notEqual(tracingConfig('gateway', { ...ENDPOINT, OTEL_SDK_DISABLED: 'false' }), undefined);
});

test('defaults: the component names the service, http/protobuf, parentbased_always_on', () => {
  const c = tracingConfig('controller-manager', ENDPOINT)!;
  assert.equal(c.serviceName, 'matrixinfer-controller-manager');
  assert.equal(c.url, 'http://127.0.0.1:4318/v1/traces');
  assert.equal(tracingConfig('g', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/base/' })!.url, 'http://c:4318/base/v1/traces');
  assert.equal(tracingConfig('g', { ...ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:4318/x' })!.url, 'http://t:4318/x');
  assert.equal(c.protocol, 'http/protobuf');
  assert.equal(c.sampler, 'parentbased_always_on');
  assert.equal(c.ratio, 1);
  assert.deepEqual(c.batch, {});
  assert.deepEqual(c.warnings, []);
  assert.equal(tracingConfig('engine', { ...ENDPOINT, OTEL_SERVICE_NAME: 'mine' })!.serviceName, 'mine');
});

test('protocol, sampler and batching as the SDKs read them; what is not understood is reported, defaults used', () => {
  assert.equal(tracingConfig('g', { ...ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })!.protocol, 'http/json');
  assert.equal(tracingConfig('g', { ...ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' })!.protocol, 'http/protobuf');
  const grpc = tracingConfig('g', { ...ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })!;
  assert.equal(grpc.protocol, 'http/protobuf');
  assert.match(grpc.warnings[0]!, /grpc is not supported/);
  const ratio = tracingConfig('g', { ...ENDPOINT, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' })!;
  assert.equal(ratio.sampler, 'parentbased_traceidratio');
  assert.equal(ratio.ratio, 0.25);
  const bad = tracingConfig('g', { ...ENDPOINT, OTEL_TRACES_SAMPLER: 'xray', OTEL_BSP_SCHEDULE_DELAY: '200', OTEL_BSP_MAX_QUEUE_SIZE: '-1' })!;
  assert.equal(bad.sampler, 'parentbased_always_on');
  assert.deepEqual(bad.batch, { scheduledDelayMillis: 200 });
  assert.equal(bad.warnings.length, 2);
  assert.equal(tracingConfig('g', { ...ENDPOINT, OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' })!.ratio, 1);
});

test('unset, startTracing is a no-op: nothing loaded, helpers run their work as it is', async () => {
  const t = await startTracing('gateway', {});
  assert.equal(tracing(), null);
  assert.equal(await inSpan('x', {}, async () => 42), 42);
  await t.shutdown();
});
