import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_STATUS, GatewayError, errorBody } from './errors.ts';

test('OpenAI error shape and statuses', () => {
  const e = new GatewayError('missing_model', 'need a model', { param: 'model' });
  assert.equal(e.status, 400);
  assert.deepEqual(e.body(), { error: { message: 'need a model', type: 'invalid_request_error', code: 'missing_model', param: 'model' } });
  assert.deepEqual(errorBody('no_healthy_upstream', 'x'), { error: { message: 'x', type: 'server_error', code: 'no_healthy_upstream', param: null } });
  assert.equal(ERROR_STATUS.model_not_found, 404);
  assert.equal(ERROR_STATUS.request_too_large, 413);
  assert.equal(ERROR_STATUS.upstream_connect_error, 502);
  assert.equal(ERROR_STATUS.upstream_timeout, 504);
  assert.equal(new GatewayError('no_healthy_upstream', 'x', { retryAfter: 1 }).retryAfter, 1);
});
