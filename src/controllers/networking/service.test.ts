import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../api/admission.ts';
import type { ModelServer } from '../../api/kinds/index.ts';
import { desiredEndpointSlice, desiredService, gatewayEndpoints, keepAllocated, parseEqualitySelector, type GatewayLocation } from './service.ts';

const ms: ModelServer = {
  apiVersion: 'networking.matrixinfer.ai/v1alpha1',
  kind: 'ModelServer',
  metadata: { name: 'llama', namespace: 'ns', uid: 'u' },
  spec: { modelInferRef: { name: 'llama-mi' }, service: { type: 'LoadBalancer', port: 443, targetPort: 8000, annotations: { a: 'b' } }, routing: { path: '/v1/models/llama' } },
};
const tls: ModelServer = { ...ms, spec: { ...ms.spec, tls: { enabled: true, secretName: 's' } } };
const location: GatewayLocation = { namespace: 'matrixinfer-system', selector: 'app=gw,tier=edge', port: 8080, tlsPort: 8443 };

function gwPod(name: string, ip: string, opts: { ready?: boolean; ns?: string; app?: string; deleting?: boolean } = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: opts.ns ?? 'matrixinfer-system',
      uid: `uid-${name}`,
      labels: { app: opts.app ?? 'gw', tier: 'edge' },
      ...(opts.deleting ? { deletionTimestamp: '2025-01-01T00:00:00Z' } : {}),
    },
    spec: { nodeName: 'n1' },
    status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] },
  };
}

test('the Service has no selector and leads to the gateway port (TLS port when tls.enabled), with the seed fields', () => {
  assert.deepEqual(desiredService(ms, location), {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'llama', namespace: 'ns', labels: { 'networking.matrixinfer.ai/modelserver-name': 'llama' }, annotations: { a: 'b' } },
    spec: { type: 'LoadBalancer', ports: [{ name: 'http', protocol: 'TCP', port: 443, targetPort: 8080 }] },
  });
  assert.deepEqual((desiredService(tls, location).spec as { ports: unknown[] }).ports, [{ name: 'https', protocol: 'TCP', port: 443, targetPort: 8443 }]);
});

test('rewriting a Service written with a selector drops it and keeps allocated fields', () => {
  const existing: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'llama', namespace: 'ns' },
    spec: { clusterIP: '10.0.0.7', selector: { x: 'y' }, ports: [{ name: 'http', port: 443, nodePort: 31000 }] },
  };
  const merged = keepAllocated(desiredService(ms, location), existing).spec as Record<string, unknown>;
  assert.equal(merged.selector, undefined);
  assert.equal(merged.clusterIP, '10.0.0.7');
  assert.deepEqual(merged.ports, [{ name: 'http', protocol: 'TCP', port: 443, targetPort: 8080, nodePort: 31000 }]);
});

test('gateway endpoints: ready, non-terminating pods with an IP matching the selector in the gateway namespace, by name', () => {
  const pods = [
    gwPod('gw-b', '10.1.0.2'),
    gwPod('gw-a', '10.1.0.1'),
    gwPod('gw-unready', '10.1.0.3', { ready: false }),
    gwPod('gw-leaving', '10.1.0.4', { deleting: true }),
    gwPod('other-app', '10.1.0.5', { app: 'x' }),
    gwPod('gw-elsewhere', '10.1.0.6', { ns: 'ns' }),
  ];
  const eps = gatewayEndpoints(location, pods);
  assert.deepEqual(eps.map((e) => e.address), ['10.1.0.1', '10.1.0.2']);
  const slice = desiredEndpointSlice(tls, location, eps) as KubeObject & { addressType: string; endpoints: unknown[]; ports: unknown[] };
  assert.equal(slice.metadata.name, 'llama-gateway');
  assert.equal(slice.metadata.labels?.['kubernetes.io/service-name'], 'llama');
  assert.equal(slice.metadata.labels?.['endpointslice.kubernetes.io/managed-by'], 'controller-manager.matrixinfer.ai');
  assert.equal(slice.addressType, 'IPv4');
  assert.deepEqual(slice.ports, [{ name: 'https', protocol: 'TCP', port: 8443 }]);
  assert.deepEqual(slice.endpoints[0], {
    addresses: ['10.1.0.1'],
    conditions: { ready: true, serving: true, terminating: false },
    targetRef: { kind: 'Pod', namespace: 'matrixinfer-system', name: 'gw-a', uid: 'uid-gw-a' },
    nodeName: 'n1',
  });
});

test('fixed gateway addresses (matrixinfer up) replace pods', () => {
  const eps = gatewayEndpoints({ ...location, addresses: ['127.0.0.1'] }, [gwPod('gw-a', '10.1.0.1')]);
  assert.deepEqual(eps, [{ address: '127.0.0.1' }]);
  const slice = desiredEndpointSlice(ms, location, eps) as KubeObject & { endpoints: unknown[] };
  assert.deepEqual(slice.endpoints, [{ addresses: ['127.0.0.1'], conditions: { ready: true, serving: true, terminating: false } }]);
});

test('selectors for NetworkPolicies are equality terms only', () => {
  assert.deepEqual(parseEqualitySelector('a=b, c==d'), { a: 'b', c: 'd' });
  assert.deepEqual(parseEqualitySelector(''), {});
  assert.throws(() => parseEqualitySelector('a!=b'), /only key=value/);
  assert.throws(() => parseEqualitySelector('a in (b)'), /only key=value/);
});
