// Engine NetworkPolicies: per ModelInfer (owned by it, named `<name>-engine`), ingress to its pods only from the
// gateway pods, from Prometheus (when configured) and from the ModelInfer's own pods (prefill → decode KV
// transfer, multi-node groups), on every port; and from the controller-manager pods (when configured) on the engine
// port only: the autoscaler scrapes /metrics there and needs nothing else. So the only way to inference is
// through the gateway and its policy.
//
// Why per ModelInfer in the ModelInfer's namespace: a NetworkPolicy applies to pods of its own namespace only, and
// engine pods live in user namespaces, where the chart cannot put objects. On by a flag
// (`--engine-network-policy`, chart value `networkPolicy.enabled`); a cluster without a NetworkPolicy-enforcing
// network plugin stores the objects and enforces nothing.
// `desiredEnginePolicy` is pure; the controller below only writes what it returns.
import type { KubeObject } from '../../api/admission.ts';
import { WORKLOAD_GROUP, type ModelInfer } from '../../api/kinds/index.ts';
import { MODELINFER_NAME_LABEL } from '../../api/labels.ts';
import { ensureChild } from '../../kube/apply.ts';
import type { KubeClient, ResourceType } from '../../kube/client.ts';
import { Controller, toController } from '../../kube/controller.ts';
import type { InformerFactory } from '../../kube/informer.ts';
import type { Logger } from '../../kube/log.ts';
import { isDeleting, splitKey } from '../../kube/objects.ts';
import { MODEL_INFERS } from '../resources.ts';
import { parseEqualitySelector } from './service.ts';

export const NETWORK_POLICIES: ResourceType = { group: 'networking.k8s.io', version: 'v1', kind: 'NetworkPolicy', plural: 'networkpolicies', namespaced: true };
/** On NetworkPolicies this controller owns: the ModelInfer whose pods they guard. */
export const ENGINE_POLICY_LABEL = 'networking.matrixinfer.ai/engine-policy-for';

export interface EnginePolicyOptions {
  /** Gateway pods: namespace and equality selector (`a=b,c=d`). */
  gatewayNamespace: string;
  gatewaySelector: string;
  /** Prometheus pods allowed to scrape engine metrics; no rule when the namespace is empty. */
  prometheusNamespace?: string;
  prometheusSelector?: string;
  /** Controller-manager pods (the autoscaler scrapes engine metrics); no rule when the namespace is empty. */
  controllerManagerNamespace?: string;
  controllerManagerSelector?: string;
}

const DEFAULT_ENGINE_PORT = 8000;

/** The port the autoscaler scrapes in each role: its first container's first port (as the autoscaler reads it). */
function enginePorts(mi: ModelInfer): number[] {
  const ports = new Set<number>();
  for (const role of mi.spec.roles ?? []) {
    const containers = (role.template?.spec as { containers?: { ports?: { containerPort?: number }[] }[] } | undefined)?.containers;
    ports.add(containers?.[0]?.ports?.[0]?.containerPort ?? DEFAULT_ENGINE_PORT);
  }
  if (ports.size === 0) ports.add(DEFAULT_ENGINE_PORT);
  return [...ports].sort((a, b) => a - b);
}

/** A peer in another namespace, by that namespace's automatic name label. */
function peer(namespace: string, selector: string | undefined): Record<string, unknown> {
  return {
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
    podSelector: { matchLabels: parseEqualitySelector(selector ?? '') },
  };
}

export function desiredEnginePolicy(mi: ModelInfer, options: EnginePolicyOptions): KubeObject {
  const pods = { matchLabels: { [MODELINFER_NAME_LABEL]: mi.metadata.name! } };
  const from: Record<string, unknown>[] = [peer(options.gatewayNamespace, options.gatewaySelector), { podSelector: pods }];
  if (options.prometheusNamespace) from.push(peer(options.prometheusNamespace, options.prometheusSelector));
  const ingress: Record<string, unknown>[] = [{ from }];
  if (options.controllerManagerNamespace) {
    ingress.push({ from: [peer(options.controllerManagerNamespace, options.controllerManagerSelector)], ports: enginePorts(mi).map((port) => ({ protocol: 'TCP', port })) });
  }
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: `${mi.metadata.name}-engine`,
      namespace: mi.metadata.namespace ?? 'default',
      labels: { [ENGINE_POLICY_LABEL]: mi.metadata.name! },
    },
    spec: { podSelector: pods, policyTypes: ['Ingress'], ingress },
  };
}

export function createEnginePolicyController(deps: {
  client: KubeClient;
  informers: InformerFactory;
  options: EnginePolicyOptions;
  logger?: Logger;
  workers?: number;
}): Controller {
  const { client, informers, options } = deps;
  const modelInfers = informers.informer<ModelInfer>(MODEL_INFERS);
  const policies = informers.informer(NETWORK_POLICIES, { labelSelector: ENGINE_POLICY_LABEL });

  async function reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const mi = modelInfers.get(namespace, name);
    if (!mi || isDeleting(mi)) return;
    const desired = desiredEnginePolicy(mi, options);
    await ensureChild(client, NETWORK_POLICIES, desired, { owner: mi, existing: policies.get(namespace, desired.metadata.name!) });
  }

  const controller = new Controller({ name: 'engine-network-policy', reconcile, workers: deps.workers, logger: deps.logger });
  controller.watchPrimary(modelInfers);
  controller.watch(policies, toController('ModelInfer', WORKLOAD_GROUP));
  return controller;
}
