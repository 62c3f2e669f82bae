// Engine NetworkPolicies (engine-policy.ts): who may reach a ModelInfer's pods, and on which ports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelInfer } from '../../api/kinds/index.ts';
import { desiredEnginePolicy } from './engine-policy.ts';

test('engine NetworkPolicy: ingress from the gateway pods, the ModelInfer own pods and Prometheus only', () => {
  const mi: ModelInfer = { apiVersion: 'workload.matrixinfer.ai/v1alpha1', kind: 'ModelInfer', metadata: { name: 'llama-mi', namespace: 'ns' }, spec: { roles: [] } };
  const own = { matchLabels: { 'workload.matrixinfer.ai/modelinfer-name': 'llama-mi' } };
  const policy = desiredEnginePolicy(mi, { gatewayNamespace: 'matrixinfer-system', gatewaySelector: 'app=gw', prometheusNamespace: 'monitoring', prometheusSelector: 'app.kubernetes.io/name=prometheus' });
  assert.equal(policy.metadata.name, 'llama-mi-engine');
  assert.equal(policy.metadata.namespace, 'ns');
  assert.deepEqual(policy.spec, {
    podSelector: own,
    policyTypes: ['Ingress'],
    ingress: [
      {
        from: [
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'matrixinfer-system' } }, podSelector: { matchLabels: { app: 'gw' } } },
          { podSelector: own },
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } },
        ],
      },
    ],
  });
  const noProm = desiredEnginePolicy(mi, { gatewayNamespace: 'gw', gatewaySelector: 'app=gw' });
  assert.equal(((noProm.spec as { ingress: { from: unknown[] }[] }).ingress[0]!.from).length, 2);
  assert.equal((noProm.spec as { ingress: unknown[] }).ingress.length, 1, 'no controller-manager rule without its namespace');
});

test('engine NetworkPolicy: the controller manager (autoscaler scrapes) on the engine port of each role only', () => {
  const role = (name: string, port?: number) => ({ name, template: { spec: { containers: [{ name: 'engine', image: 'e', ...(port ? { ports: [{ containerPort: port }] } : {}) }] } } });
  const mi = { apiVersion: 'workload.matrixinfer.ai/v1alpha1', kind: 'ModelInfer', metadata: { name: 'pd', namespace: 'ns' }, spec: { roles: [role('prefill', 8100), role('decode', 8000), role('other')] } } as unknown as ModelInfer;
  const policy = desiredEnginePolicy(mi, { gatewayNamespace: 'gw', gatewaySelector: 'app=gw', controllerManagerNamespace: 'matrixinfer-system', controllerManagerSelector: 'app=cm' });
  const ingress = (policy.spec as { ingress: unknown[] }).ingress;
  assert.equal(ingress.length, 2);
  assert.deepEqual(ingress[1], {
    from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'matrixinfer-system' } }, podSelector: { matchLabels: { app: 'cm' } } }],
    ports: [{ protocol: 'TCP', port: 8000 }, { protocol: 'TCP', port: 8100 }],
  });
});
