// PrefillDecodingDisaggregation → the target's ModelInfer split into prefill and decode roles, pure. The server role's
// template becomes two roles, `prefill` and `decode` (prefillReplicas and decodeReplicas pods per replica), each:
//   - running vLLM with `--kv-transfer-config {"kv_connector":<kvConnector>,"kv_role":"kv_both"}` (NIXL by default:
//     the decode pod pulls the prompt's KV cache from the prefill pod of its group, as the gateway's P/D expects);
//   - placed by `topologyHint.nodeSelector` (merged into the pod spec's nodeSelector), so both pods of a pair, which
//     share a replica group, land within the hinted topology.
// The ModelServer gets `pdDisaggregation` (the gateway then prefills on a group's prefill pod and decodes on its decode
// pod) once a prefill/decode pair is ready: switching earlier would leave the old server pods unused before any pair
// can serve. SGLang's P/D (its bootstrap handshake) is not what the gateway speaks, so SGLang workloads are not split.
import type { InferenceEngine, ModelInfer, ModelServer, PrefillDecodingDisaggregationSpec, Role } from '../../api/kinds/index.ts';
import { DEFAULT_KV_CONNECTOR } from '../../api/kinds/index.ts';
import type { KubeObject } from '../../api/admission.ts';
import { GROUP_INDEX_LABEL, ROLE_LABEL } from '../../api/labels.ts';
import { isDeleting, isPodReady } from '../../kube/objects.ts';
import { ENGINE_CONTAINER } from '../model/desired.ts';

export const PREFILL_ROLE = 'prefill';
export const DECODE_ROLE = 'decode';

/** Why this engine's workload is not split, undefined when it is. */
export function disaggregationProblem(engine: InferenceEngine): { reason: string; message: string } | undefined {
  return engine === 'SGLang'
    ? { reason: 'Unsupported', message: "SGLang's prefill/decode bootstrap is not what the gateway's P/D speaks (vLLM kv_transfer_params); not split" }
    : undefined;
}

export function kvTransferArgs(spec: PrefillDecodingDisaggregationSpec): string[] {
  return ['--kv-transfer-config', JSON.stringify({ kv_connector: spec.kvConnector ?? DEFAULT_KV_CONNECTOR, kv_role: 'kv_both' })];
}

function roleFrom(server: Role, name: string, replicas: number, spec: PrefillDecodingDisaggregationSpec): Role {
  const podSpec = structuredClone(server.template.spec) as { containers?: { name?: string; args?: string[] }[]; nodeSelector?: Record<string, string> };
  const containers = podSpec.containers ?? [];
  const engine = containers.find((c) => c.name === ENGINE_CONTAINER) ?? containers[0];
  if (engine) engine.args = [...(engine.args ?? []), ...kvTransferArgs(spec)];
  const hint = spec.topologyHint?.nodeSelector;
  if (hint && Object.keys(hint).length > 0) podSpec.nodeSelector = { ...(podSpec.nodeSelector ?? {}), ...hint };
  const labels = { ...(server.template.metadata?.labels ?? {}) };
  delete labels[ROLE_LABEL];
  return { name, replicas, template: { ...server.template, metadata: { ...(server.template.metadata ?? {}), labels }, spec: podSpec } };
}

/** The ModelInfer with its (single) role split into prefill and decode. */
export function disaggregate(mi: ModelInfer, spec: PrefillDecodingDisaggregationSpec): ModelInfer {
  const server = mi.spec.roles[0]!;
  return {
    ...mi,
    spec: {
      ...mi.spec,
      roles: [roleFrom(server, PREFILL_ROLE, spec.prefillReplicas ?? 1, spec), roleFrom(server, DECODE_ROLE, spec.decodeReplicas ?? 1, spec)],
    },
  };
}

/** The ModelServer routing prefill/decode pairs. */
export function withPdRouting(ms: ModelServer): ModelServer {
  return { ...ms, spec: { ...ms.spec, pdDisaggregation: { prefillRole: PREFILL_ROLE, decodeRole: DECODE_ROLE } } };
}

/** Whether a ModelInfer already runs prefill and decode roles. */
export function isDisaggregated(mi: ModelInfer | undefined): boolean {
  const names = new Set((mi?.spec.roles ?? []).map((r) => r.name));
  return names.has(PREFILL_ROLE) && names.has(DECODE_ROLE);
}

export interface RoleCounts {
  prefill: { replicas: number; readyReplicas: number };
  decode: { replicas: number; readyReplicas: number };
  /** Ready decode pods with a ready prefill pod in their group: what the gateway can route to. */
  readyPairs: number;
}

/** Prefill and decode pods of a ModelInfer, from its pods (those not terminating). */
export function roleCounts(pods: readonly KubeObject[]): RoleCounts {
  const live = pods.filter((p) => !isDeleting(p));
  const of = (role: string) => live.filter((p) => p.metadata.labels?.[ROLE_LABEL] === role);
  const prefill = of(PREFILL_ROLE);
  const decode = of(DECODE_ROLE);
  const readyPrefillGroups = new Set(prefill.filter(isPodReady).map((p) => p.metadata.labels?.[GROUP_INDEX_LABEL]));
  return {
    prefill: { replicas: prefill.length, readyReplicas: prefill.filter(isPodReady).length },
    decode: { replicas: decode.length, readyReplicas: decode.filter(isPodReady).length },
    readyPairs: decode.filter((p) => isPodReady(p) && readyPrefillGroups.has(p.metadata.labels?.[GROUP_INDEX_LABEL])).length,
  };
}
