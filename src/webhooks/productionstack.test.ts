// Admission of the production-stack.vllm.ai kinds: what is knowable from the object is refused with its field path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { formatFieldError, type FieldError, type KubeObject } from '../api/admission.ts';
import { statedParameters } from '../api/kinds/index.ts';
import { admissionPlugins } from './plugins.ts';

const GROUP = 'production-stack.vllm.ai';

function validate(kind: string, spec: Record<string, unknown>): string[] {
  const plugin = admissionPlugins.find((p) => p.group === GROUP && p.kind === kind)!;
  const object: KubeObject = { apiVersion: `${GROUP}/v1alpha1`, kind, metadata: { name: 'x', namespace: 'default' }, spec };
  const errors: FieldError[] = plugin.validate!({ operation: 'CREATE', group: GROUP, version: 'v1alpha1', kind, resource: kind.toLowerCase() + 's', name: 'x', object });
  return errors.map(formatFieldError);
}

test('every seed 004 example passes admission unchanged', () => {
  for (const file of ['inference-service', 'gateway', 'cache-pdd-sd', 'staticroute']) {
    const text = readFileSync(new URL(`../../examples/seeds/production-stack-${file}.yaml`, import.meta.url), 'utf8');
    for (const doc of parseAllDocuments(text)) {
      const object = doc.toJS() as KubeObject;
      assert.deepEqual(validate(object.kind, object.spec as Record<string, unknown>), [], `${file}: ${object.kind}`);
    }
  }
});

test('InferenceService: names of objects, a positive similarity threshold', () => {
  assert.deepEqual(validate('InferenceService', { modelName: 'm', backendRef: 'Bad_Name' }), [
    'spec.backendRef: Invalid value: "Bad_Name": must be the name of an object: lower-case letters, digits, "-" and ".", starting and ending with a letter or digit',
  ]);
  assert.deepEqual(validate('InferenceService', { modelName: 'm', backendRef: 'b', nlpFilters: { semanticCache: { storeRef: 'memory', threshold: 0 } } }), [
    'spec.nlpFilters.semanticCache.threshold: Invalid value: 0: must be greater than 0',
  ]);
});

test('InferenceGateway: unknown strategies and policies are refused with the valid values; aliases pass', () => {
  assert.deepEqual(validate('InferenceGateway', { routeStrategy: 'Sticky' }), [
    'spec.routeStrategy: Unsupported value: "Sticky": supported values: "RoundRobin", "PrefixHash", "SessionAffinity", "KVAware", "LeastRequest", "Random" (also the router\'s "roundrobin", "prefixaware", "session", "kvaware")',
  ]);
  assert.deepEqual(validate('InferenceGateway', { schedulingPolicy: 'cheapest' }), [
    'spec.schedulingPolicy: Unsupported value: "cheapest": supported values: "default", "gpu-load-aware", "least-request", "round-robin", "random"',
  ]);
  for (const routeStrategy of ['prefixaware', 'prefix-hash', 'session', 'round_robin', 'KVAware']) assert.deepEqual(validate('InferenceGateway', { routeStrategy }), [], routeStrategy);
  assert.deepEqual(validate('InferenceGateway', { schedulingPolicy: 'least-loaded' }), []);
  assert.deepEqual(
    validate('InferenceGateway', { sessionHeader: 'x session', sessionCookie: 'a;b', routes: [{ model: 'a', inferenceServiceRef: 's' }, { model: 'a', inferenceServiceRef: 't' }] }),
    [
      'spec.sessionHeader: Invalid value: "x session": must be an HTTP header name',
      'spec.sessionCookie: Invalid value: "a;b": must be a cookie name (an HTTP token)',
      'spec.routes[1].model: Duplicate value: "a"',
    ],
  );
});

test('SpeculativeDecoding: a draft is needed, smaller than its target when the names state sizes', () => {
  assert.equal(statedParameters('llama3-70b'), 70e9);
  assert.equal(statedParameters('meta-llama/Llama-3.1-8B-Instruct'), 8e9);
  assert.equal(statedParameters('facebook/opt-125m'), 125e6);
  assert.equal(statedParameters('mistral3'), undefined);
  assert.deepEqual(validate('SpeculativeDecoding', { targetModel: 'llama3-70b' }), ['spec.draftModel: Required value: speculationType draft needs a draft model']);
  assert.deepEqual(validate('SpeculativeDecoding', { targetModel: 'llama3-70b', speculationType: 'ngram', promptLookupMax: 4 }), []);
  assert.deepEqual(validate('SpeculativeDecoding', { draftModel: 'llama3-70b', targetModel: 'llama3-8b' }), [
    'spec.draftModel: Invalid value: "llama3-70b": a draft model must be smaller than its target: 70B parameters against 8B for llama3-8b',
  ]);
  assert.deepEqual(validate('SpeculativeDecoding', { draftModel: 'a', targetModel: 'a' }), ['spec.draftModel: Invalid value: "a": must differ from targetModel']);
  assert.deepEqual(validate('SpeculativeDecoding', { draftModel: 'small', targetModel: 'big', promptLookupMax: 3 }), ['spec.promptLookupMax: Forbidden: only with speculationType ngram']);
});

test('PrefillDecodingDisaggregation: the topology hint is made of labels', () => {
  assert.deepEqual(validate('PrefillDecodingDisaggregation', { modelName: 'm', topologyHint: { nodeSelector: { 'topology.kubernetes.io/zone': 'a' } } }), []);
  assert.deepEqual(validate('PrefillDecodingDisaggregation', { modelName: 'm', topologyHint: { nodeSelector: { zone: 'rack 1' } } }), [
    'spec.topologyHint.nodeSelector[zone]: Invalid value: "rack 1": must be a label value: at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit',
  ]);
});

test('StaticRoute: backend URLs parse, one model per backend, session needs its key', () => {
  const spec = { staticBackends: 'http://a:1,https://b', staticModels: 'm1,m2' };
  assert.deepEqual(validate('StaticRoute', spec), []);
  assert.deepEqual(validate('StaticRoute', { ...spec, staticModels: 'm1' }), [
    'spec.staticModels: Invalid value: "m1": lists 1 model for 2 backends: staticModels[i] is the model of staticBackends[i]',
  ]);
  assert.deepEqual(validate('StaticRoute', { staticBackends: 'http://a:1,ftp://b,localhost:9', staticModels: 'a,b,c' }), [
    'spec.staticBackends: Invalid value: "http://a:1,ftp://b,localhost:9": backend 2 ("ftp://b") has scheme ftp, not http or https: each entry must be an http or https URL such as http://10.0.0.5:8000',
    'spec.staticBackends: Invalid value: "http://a:1,ftp://b,localhost:9": backend 3 ("localhost:9") has scheme localhost, not http or https: each entry must be an http or https URL such as http://10.0.0.5:8000',
  ]);
  assert.deepEqual(validate('StaticRoute', { staticBackends: 'http://a,,http://b', staticModels: 'x,y,z' }), [
    'spec.staticBackends: Invalid value: "http://a,,http://b": backend 2 ("") is empty: each entry must be an http or https URL such as http://10.0.0.5:8000',
  ]);
  assert.deepEqual(validate('StaticRoute', { ...spec, routingLogic: 'session' }), ['spec.sessionKey: Required value: routingLogic session needs the header naming the session']);
});
