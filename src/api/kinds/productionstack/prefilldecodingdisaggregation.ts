// production-stack.vllm.ai/v1alpha1 PrefillDecodingDisaggregation: the target model's workload split into prefill and
// decode roles (MatrixInfer's P/D: each replica is a group with a prefill and a decode role, paired by group index; the
// gateway prefills on the group's prefill pod and decodes with the returned kv_transfer_params). Both roles run vLLM
// with `--kv-transfer-config {"kv_connector":"NixlConnector","kv_role":"kv_both"}` and get
// `topologyHint.nodeSelector`, so each prefill/decode pair lands within the hinted topology.
import { Type, Obj, StringMap, type Static } from '../../schema-kit.ts';
import { AGE_COLUMN, type KindDefinition } from '../../kind.ts';
import type { KubeObject } from '../../admission.ts';
import { PRODUCTION_STACK_CATEGORIES, PRODUCTION_STACK_GROUP, PRODUCTION_STACK_VERSION, conditionColumn, statusBase } from './common.ts';

export const DEFAULT_KV_CONNECTOR = 'NixlConnector';

export const PrefillDecodingDisaggregationSpec = Obj({
  modelName: Type.String({ minLength: 1, description: 'Model name (as clients request it) whose workload is disaggregated.' }),
  topologyHint: Type.Optional(
    Obj(
      {
        nodeSelector: Type.Optional(StringMap(Type.String(), { description: 'Node labels both roles are placed on, e.g. gpuType, zone.' })),
      },
      { description: 'Where the prefill and decode pods run.' },
    ),
  ),
  prefillReplicas: Type.Optional(Type.Integer({ minimum: 1, maximum: 16, format: 'int32', description: 'Prefill pods per replica (default 1).' })),
  decodeReplicas: Type.Optional(Type.Integer({ minimum: 1, maximum: 16, format: 'int32', description: 'Decode pods per replica (default 1).' })),
  kvConnector: Type.Optional(Type.String({ minLength: 1, description: `vLLM KV connector moving the prompt's KV cache from prefill to decode (default ${DEFAULT_KV_CONNECTOR}).` })),
});
export type PrefillDecodingDisaggregationSpec = Static<typeof PrefillDecodingDisaggregationSpec>;

export const RoleReplicas = Obj({
  replicas: Type.Integer({ format: 'int32', description: 'Pods of the role.' }),
  readyReplicas: Type.Integer({ format: 'int32', description: 'Ready pods of the role.' }),
});

export const PrefillDecodingDisaggregationStatus = Obj({
  ...statusBase,
  modelInfer: Type.Optional(Type.String({ description: 'The ModelInfer split into roles.' })),
  prefill: Type.Optional(RoleReplicas),
  decode: Type.Optional(RoleReplicas),
  readyPairs: Type.Optional(Type.Integer({ format: 'int32', description: 'Ready decode pods with a ready prefill pod in their group (what the gateway routes to).' })),
});
export type PrefillDecodingDisaggregationStatus = Static<typeof PrefillDecodingDisaggregationStatus>;

export interface PrefillDecodingDisaggregation extends KubeObject {
  spec: PrefillDecodingDisaggregationSpec;
  status?: PrefillDecodingDisaggregationStatus;
}

export const prefillDecodingDisaggregationKind: KindDefinition = {
  group: PRODUCTION_STACK_GROUP,
  version: PRODUCTION_STACK_VERSION,
  kind: 'PrefillDecodingDisaggregation',
  plural: 'prefilldecodingdisaggregations',
  singular: 'prefilldecodingdisaggregation',
  shortNames: ['pdd'],
  categories: PRODUCTION_STACK_CATEGORIES,
  scope: 'Namespaced',
  description: "Splits a model's workload into prefill and decode roles (vLLM NIXL KV transfer), placed by the topology hint.",
  spec: PrefillDecodingDisaggregationSpec,
  status: PrefillDecodingDisaggregationStatus,
  printerColumns: [
    { name: 'Model', type: 'string', jsonPath: '.spec.modelName' },
    { name: 'Prefill', type: 'integer', jsonPath: '.status.prefill.readyReplicas' },
    { name: 'Decode', type: 'integer', jsonPath: '.status.decode.readyReplicas' },
    conditionColumn('Ready'),
    { name: 'ModelInfer', type: 'string', jsonPath: '.status.modelInfer', priority: 1 },
    AGE_COLUMN,
  ],
};
