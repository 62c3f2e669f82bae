import { test } from 'node:test';
import assert from 'node:assert/strict';
import { queries } from './prometheus.ts';

test("the PromQL per column: the model's gateway series, the binding's autoscaler series, label values quoted", () => {
  const q = queries({ namespace: 'ns', name: 'llama"7b', binding: 'b' }, '60s');
  assert.equal(q.rps, 'sum(rate(matrixinfer_gateway_requests_total{model="llama\\"7b"}[60s]))');
  assert.equal(q.errors, 'sum(rate(matrixinfer_gateway_requests_total{model="llama\\"7b",code!~"2.."}[60s]))');
  assert.equal(q.ttft_p99, 'histogram_quantile(0.99, sum by (le) (rate(matrixinfer_gateway_time_to_first_token_seconds_bucket{model="llama\\"7b"}[60s])))');
  assert.equal(q.as_current, 'max(matrixinfer_autoscaler_current_replicas{namespace="ns",binding="b"})');
  assert.match(q.as_mode!, /^0 \* max\(matrixinfer_autoscaler_mode\{namespace="ns",binding="b",mode="Hold"\}\) \+ 1 \* .* \+ 4 \* max\(.*mode="Schedule"\}\)$/);
  const unbound = queries({ namespace: 'ns', name: 'm', binding: undefined }, '60s');
  assert.deepEqual(Object.keys(unbound).filter((k) => k.startsWith('as_')), []);
});
