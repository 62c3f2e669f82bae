import { test } from 'node:test';
import assert from 'node:assert/strict';
import { engineErrorBody } from './engine-errors.ts';

const norm = (status: number, body: string | object) => JSON.parse(engineErrorBody(status, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body))).toString()) as unknown;

test('a body already in the OpenAI shape is returned as it is (same buffer)', () => {
  const body = Buffer.from(JSON.stringify({ error: { message: 'm', type: 'BadRequestError', param: null, code: 400 } }));
  assert.equal(engineErrorBody(400, body), body);
});

test("vLLM's and SGLang's {object: error} keep message, type, param and code", () => {
  assert.deepEqual(norm(400, { object: 'error', message: 'too long', type: 'BadRequestError', param: 'prompt', code: 400 }), {
    error: { message: 'too long', type: 'BadRequestError', code: 400, param: 'prompt' },
  });
});

test('an error object missing type or code gets the gateway type for the status and the status as code', () => {
  assert.deepEqual(norm(503, { error: { message: 'busy' } }), { error: { message: 'busy', type: 'server_error', code: 503, param: null } });
  assert.deepEqual(norm(429, { error: 'slow down', code: 'rate_limit' }), { error: { message: 'slow down', type: 'invalid_request_error', code: 'rate_limit', param: null } });
  assert.deepEqual(norm(400, { message: 'bad' }), { error: { message: 'bad', type: 'invalid_request_error', code: 400, param: null } });
});

test("FastAPI's detail: a string, or validation errors with their location", () => {
  assert.deepEqual(norm(404, { detail: 'Not Found' }), { error: { message: 'Not Found', type: 'invalid_request_error', code: 404, param: null } });
  const validation = { detail: [{ loc: ['body', 'messages'], msg: 'Field required' }, { loc: ['body', 'n'], msg: 'must be > 0' }] };
  assert.equal((norm(422, validation) as { error: { message: string } }).error.message, 'body.messages: Field required; body.n: must be > 0');
});

test('plain text, empty and unrecognised bodies', () => {
  assert.deepEqual(norm(502, 'Bad Gateway\n'), { error: { message: 'Bad Gateway', type: 'server_error', code: 502, param: null } });
  assert.deepEqual(norm(500, ''), { error: { message: 'The engine answered HTTP 500.', type: 'server_error', code: 500, param: null } });
  assert.equal((norm(500, { weird: true }) as { error: { message: string } }).error.message, '{"weird":true}');
  const long = (norm(500, 'x'.repeat(10_000)) as { error: { message: string } }).error.message;
  assert.ok(long.length < 4100 && long.endsWith('…'));
});
