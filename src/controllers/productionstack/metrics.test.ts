// The production-stack controllers' series: statuses in, Prometheus text out; gone objects and a lost Lease leave none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { ProductionStackMetrics } from './metrics.ts';

test('conditions, per-kind gauges and reconciles', async () => {
  const registry = new Registry();
  const metrics = new ProductionStackMetrics(registry);
  metrics.reconciled('staticroute', true);
  metrics.reconciled('staticroute', false);
  metrics.observe('StaticRoute', 'default', 'staticroute-sample', {
    conditions: [{ type: 'Ready', status: 'True', reason: 'Ready' }, { type: 'BackendsHealthy', status: 'False', reason: 'SomeUnhealthy' }],
    backends: [{ healthy: true }, { healthy: false }, { healthy: false }],
  });
  metrics.observe('InferenceCache', 'default', 'llama3-chatbot-cache', { conditions: [], cacheStats: { hitRate: '0.420', kvCacheUsage: '0.100' } });
  metrics.observe('InferenceGateway', 'default', 'llm-gateway', { routes: [{ programmed: true }, { programmed: false }] });
  const text = await registry.metrics();
  for (const line of [
    'matrixinfer_production_stack_reconciles_total{controller="staticroute",result="success"} 1',
    'matrixinfer_production_stack_reconciles_total{controller="staticroute",result="error"} 1',
    'matrixinfer_production_stack_condition{kind="StaticRoute",namespace="default",name="staticroute-sample",condition="Ready",status="True"} 1',
    'matrixinfer_production_stack_condition{kind="StaticRoute",namespace="default",name="staticroute-sample",condition="BackendsHealthy",status="False"} 1',
    'matrixinfer_production_stack_static_backends{namespace="default",name="staticroute-sample",healthy="true"} 1',
    'matrixinfer_production_stack_static_backends{namespace="default",name="staticroute-sample",healthy="false"} 2',
    'matrixinfer_production_stack_cache_hit_rate{namespace="default",name="llama3-chatbot-cache"} 0.42',
    'matrixinfer_production_stack_kv_cache_usage{namespace="default",name="llama3-chatbot-cache"} 0.1',
    'matrixinfer_production_stack_gateway_routes{namespace="default",name="llm-gateway",programmed="true"} 1',
  ]) {
    assert.ok(text.includes(line), line);
  }
  metrics.forget('StaticRoute', 'default', 'staticroute-sample');
  assert.doesNotMatch(await registry.metrics(), /staticroute-sample/);
  metrics.clear();
  assert.doesNotMatch(await registry.metrics(), /llm-gateway/);
});
