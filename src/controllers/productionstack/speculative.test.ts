// SpeculativeDecoding and PrefillDecodingDisaggregation: engine arguments, roles, amendments and status (pure).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelInfer, PrefillDecodingDisaggregation, SpeculativeDecoding } from '../../api/kinds/index.ts';
import type { KubeObject } from '../../api/admission.ts';
import { desiredModelInfer, desiredModelServer } from '../model/desired.ts';
import { amendmentsFor } from './amender.ts';
import { disaggregate, roleCounts } from './disaggregation.ts';
import { carriesArgs, speculativeArgs, withEngineArgs } from './speculative.ts';
import { claimWorkloads } from './resolve.ts';
import { computeDisaggregationStatus, computeSpeculativeStatus } from './workload-status.ts';
import { meta, model, route, served, world } from './fixtures.ts';

const GROUP = 'production-stack.vllm.ai/v1alpha1';
const seedSd = (name = 'sd-llama3-chatbot', spec: Partial<SpeculativeDecoding['spec']> = {}): SpeculativeDecoding => ({
  apiVersion: GROUP,
  kind: 'SpeculativeDecoding',
  metadata: meta(name),
  spec: { draftModel: 'llama3-1b', targetModel: 'llama3-70b', ...spec },
});
const seedPdd = (name = 'pdd-llama3-chatbot'): PrefillDecodingDisaggregation => ({
  apiVersion: GROUP,
  kind: 'PrefillDecodingDisaggregation',
  metadata: meta(name),
  spec: { modelName: 'llama3-70b', topologyHint: { nodeSelector: { gpuType: 'NVIDIA-A100', zone: 'rack1' } } },
});
const engineArgs = (mi: ModelInfer, role: string) => (mi.spec.roles.find((r) => r.name === role)!.template.spec as { containers: { args: string[] }[] }).containers[0]!.args;

test('vLLM and SGLang arguments', () => {
  assert.deepEqual(speculativeArgs({ targetModel: 't', draftModel: 'd' }, 'vLLM', 'meta-llama/Llama-3.2-1B'), {
    args: ['--speculative-config', '{"method":"draft_model","model":"meta-llama/Llama-3.2-1B","num_speculative_tokens":5}'],
  });
  assert.deepEqual(speculativeArgs({ targetModel: 't', speculationType: 'ngram', numSpeculativeTokens: 4, promptLookupMax: 3 }, 'vLLM', undefined), {
    args: ['--speculative-config', '{"method":"ngram","num_speculative_tokens":4,"prompt_lookup_max":3}'],
  });
  assert.deepEqual(speculativeArgs({ targetModel: 't', draftModel: 'h', speculationType: 'eagle3', draftTensorParallelSize: 1 }, 'vLLM', 'h'), {
    args: ['--speculative-config', '{"method":"eagle3","model":"h","num_speculative_tokens":5,"draft_tensor_parallel_size":1}'],
  });
  assert.deepEqual(speculativeArgs({ targetModel: 't', draftModel: 'd', numSpeculativeTokens: 3 }, 'SGLang', 'd'), {
    args: ['--speculative-algorithm', 'STANDALONE', '--speculative-draft-model-path', 'd', '--speculative-num-steps', '3', '--speculative-eagle-topk', '1', '--speculative-num-draft-tokens', '4'],
  });
  assert.deepEqual(speculativeArgs({ targetModel: 't', draftModel: 'd', speculationType: 'mlp' }, 'SGLang', 'd'), { problem: { reason: 'Unsupported', message: 'SGLang has no mlp speculation' } });
});

test("the seed's SD on a Model serving llama3-70b through a route: the Model controller's ModelInfer gets the arguments", () => {
  const engine = served(model('llama3-engine'));
  const draft = served(model('llama3-1b', {}, 'hf://meta-llama/Llama-3.2-1B'));
  const w = world(engine, draft, route('llama3-chatbot-service', 'llama3-70b', 'llama3-engine'));
  const sd = seedSd();
  const amendments = amendmentsFor(engine.model, {}, w, [sd], []);
  assert.deepEqual(amendments.map((a) => a.source), ['SpeculativeDecoding/sd-llama3-chatbot']);
  const amended = amendments[0]!.modelInfer!(desiredModelInfer(engine.model));
  const args = ['--speculative-config', '{"method":"draft_model","model":"meta-llama/Llama-3.2-1B","num_speculative_tokens":5}'];
  assert.deepEqual(engineArgs(amended, 'server').slice(-2), args);
  assert.ok(carriesArgs(amended, args));
  assert.deepEqual(amendmentsFor(draft.model, {}, w, [sd], []), [], 'the draft Model is left alone');

  // Status: applied once the live ModelInfer carries them, ready once it rolled out.
  const claims = claimWorkloads([sd], (o) => o.spec.targetModel, w);
  const pending = computeSpeculativeStatus(sd, { claims, models: w.models, modelInfers: w.modelInfers });
  assert.deepEqual(pending.conditions!.map((c) => [c.type, c.status, c.reason]), [
    ['ResolvedRefs', 'True', 'Resolved'],
    ['Applied', 'False', 'Pending'],
    ['Ready', 'False', 'NotApplied'],
  ]);
  const live: ModelInfer = { ...amended, metadata: engine.modelInfer.metadata, status: { observedGeneration: 1, replicas: 2, updatedReplicas: 1, readyReplicas: 1, conditions: [{ type: 'Progressing', status: 'True', reason: 'Updating' }] } };
  const rolling = computeSpeculativeStatus(sd, { claims, models: w.models, modelInfers: [live, draft.modelInfer] });
  assert.equal(rolling.conditions![1]!.status, 'True');
  assert.equal(rolling.conditions![1]!.message, `ModelInfer llama3-engine runs with ${args.join(' ')}`);
  assert.equal(rolling.conditions![2]!.reason, 'RollingOut');
  assert.deepEqual(rolling.workloads, [
    { modelInfer: 'llama3-engine', model: 'llama3-engine', engine: 'vLLM', applied: true, replicas: 1, updatedReplicas: 1, readyReplicas: 1, message: 'rolling out: 1/1 replicas updated' },
  ]);
  assert.deepEqual(rolling.engineArgs, args);
  const done = { ...live, status: { ...live.status, conditions: [{ type: 'Progressing', status: 'True' as const, reason: 'RolloutComplete' }] } };
  assert.equal(computeSpeculativeStatus(sd, { claims, models: w.models, modelInfers: [done] }).conditions![2]!.reason, 'RolledOut');
});

test('not applied: no target, a younger object, a hand-written ModelInfer, runtime args that already speculate', () => {
  const engine = served(model('llama3-engine', { args: ['--speculative-config', '{}'] }));
  const w = world(engine, route('r', 'llama3-70b', 'llama3-engine'));
  const older = seedSd('older');
  const younger = seedSd('younger');
  const claims = claimWorkloads([older, younger], (o) => o.spec.targetModel, w);
  const status = (sd: SpeculativeDecoding) => computeSpeculativeStatus(sd, { claims, models: w.models, modelInfers: w.modelInfers }).conditions![1]!;
  assert.deepEqual([status(older).reason, status(older).message], ['ArgsConflict', "Model llama3-engine's runtime.args already configure speculative decoding; left as they are"]);
  assert.deepEqual([status(younger).reason, status(younger).message], ['Conflict', 'ModelInfer llama3-engine is held by SpeculativeDecoding older (older)']);
  assert.deepEqual(amendmentsFor(engine.model, {}, w, [older, younger], []), []);
  const none = seedSd('none', { targetModel: 'mistral3' });
  assert.equal(computeSpeculativeStatus(none, { claims: claimWorkloads([none], (o) => o.spec.targetModel, w), models: [], modelInfers: [] }).conditions![0]!.message, 'no ModelRoute or Model serves mistral3');
});

test("the seed's PDD: prefill and decode roles with the KV connector and the topology hint; routing once a pair is ready", () => {
  const engine = served(model('llama3-engine'));
  const w = world(engine, route('chat', 'llama3-70b', 'llama3-engine'));
  const pdd = seedPdd();
  const sd = seedSd();
  const [split, spec] = amendmentsFor(engine.model, {}, w, [sd], [pdd]);
  assert.equal(split!.source, 'PrefillDecodingDisaggregation/pdd-llama3-chatbot');
  assert.equal(split!.modelServer, undefined, 'no pair ready yet: the ModelServer keeps routing to every pod');
  assert.equal(spec!.source, 'SpeculativeDecoding/sd-llama3-chatbot');
  const mi = spec!.modelInfer!(split!.modelInfer!(desiredModelInfer(engine.model)));
  assert.deepEqual(mi.spec.roles.map((r) => [r.name, r.replicas]), [['prefill', 1], ['decode', 1]]);
  const kv = ['--kv-transfer-config', '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'];
  assert.deepEqual(engineArgs(mi, 'prefill').slice(-2), kv);
  assert.deepEqual(engineArgs(mi, 'decode').slice(-4), [...kv, '--speculative-config', '{"method":"draft_model","model":"llama3-1b","num_speculative_tokens":5}']);
  for (const role of mi.spec.roles) assert.deepEqual((role.template.spec as { nodeSelector: unknown }).nodeSelector, { gpuType: 'NVIDIA-A100', zone: 'rack1' });

  // A ready pair in the status: the ModelServer routes prefill/decode pairs.
  const withPair = { ...pdd, status: { readyPairs: 1, modelInfer: 'llama3-engine' } };
  const [routed] = amendmentsFor(engine.model, {}, w, [], [withPair]);
  assert.deepEqual(routed!.modelServer!(desiredModelServer(engine.model)).spec.pdDisaggregation, { prefillRole: 'prefill', decodeRole: 'decode' });
  assert.deepEqual(disaggregate(desiredModelInfer(engine.model), { modelName: 'x', prefillReplicas: 2 }).spec.roles.map((r) => r.replicas), [2, 1]);
});

test('PDD status: the roles\' pods, pairs by group, conflicts', () => {
  const pod = (name: string, role: string, group: string, ready: boolean): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { 'workload.matrixinfer.ai/role': role, 'workload.matrixinfer.ai/group-index': group, 'workload.matrixinfer.ai/modelinfer-name': 'llama3-engine' } },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  });
  const pods = [pod('p0', 'prefill', '0', true), pod('d0', 'decode', '0', true), pod('p1', 'prefill', '1', false), pod('d1', 'decode', '1', true)];
  assert.deepEqual(roleCounts(pods), { prefill: { replicas: 2, readyReplicas: 1 }, decode: { replicas: 2, readyReplicas: 2 }, readyPairs: 1 });

  const engine = served(model('llama3-engine'));
  const annotate = <T extends KubeObject>(o: T): T => ({ ...o, metadata: { ...o.metadata, annotations: { 'registry.matrixinfer.ai/amended-by': 'PrefillDecodingDisaggregation/pdd-llama3-chatbot' } } });
  const mi = annotate(disaggregate(engine.modelInfer, { modelName: 'llama3-70b' }));
  const ms = annotate(engine.modelServer);
  const w = world(engine, route('chat', 'llama3-70b', 'llama3-engine'));
  const pdd = seedPdd();
  const younger = seedPdd('younger');
  const claims = claimWorkloads([pdd, younger], (o) => o.spec.modelName, w);
  const status = computeDisaggregationStatus(pdd, { claims, models: w.models, modelInfers: [mi], servers: [ms], podsOf: () => pods });
  assert.deepEqual(status.conditions!.map((c) => [c.type, c.status, c.reason]), [
    ['ResolvedRefs', 'True', 'Resolved'],
    ['Applied', 'True', 'Applied'],
    ['Ready', 'True', 'Serving'],
  ]);
  assert.equal(status.conditions![1]!.message, 'ModelInfer llama3-engine runs prefill and decode roles on nodes gpuType=NVIDIA-A100,zone=rack1');
  assert.deepEqual([status.modelInfer, status.prefill, status.decode, status.readyPairs], ['llama3-engine', { replicas: 2, readyReplicas: 1 }, { replicas: 2, readyReplicas: 2 }, 1]);
  const lost = computeDisaggregationStatus(younger, { claims, models: w.models, modelInfers: [mi], servers: [ms], podsOf: () => pods });
  assert.equal(lost.conditions![1]!.reason, 'AlreadyDisaggregated');
  // A hand-written ModelInfer already split is refused as such.
  const hand = { ...mi, metadata: meta('hand') };
  const handServer = { ...engine.modelServer, metadata: meta('hand'), spec: { ...engine.modelServer.spec, modelInferRef: { name: 'hand' } } };
  const hw = world(hand, handServer, route('h', 'h-model', 'hand'));
  const handPdd = { ...seedPdd('h'), spec: { modelName: 'h-model' } };
  const refused = computeDisaggregationStatus(handPdd, { claims: claimWorkloads([handPdd], (o) => o.spec.modelName, hw), models: [], modelInfers: [hand], servers: [], podsOf: () => [] });
  assert.equal(refused.conditions![1]!.reason, 'AlreadyDisaggregated');
});

test('withEngineArgs leaves prefill pods alone', () => {
  const mi = disaggregate(desiredModelInfer(model('m')), { modelName: 'm' });
  const out = withEngineArgs(mi, ['--x']);
  assert.equal(engineArgs(out, 'prefill').includes('--x'), false);
  assert.equal(engineArgs(out, 'decode').at(-1), '--x');
});
