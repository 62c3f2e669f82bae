// A machine with only Node.js and npm: test files that need a system program skip with one line naming what
// installs it, and MATRIXINFER_REQUIRE_ALL=1 (CI) turns that skip into a failure. Checked by running such a file
// with the program hidden (REDIS_SERVER pointing nowhere), as a fresh machine would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { missingReason, needs } from '../support/system.ts';

const REDIS_TEST = fileURLToPath(new URL('./gateway-ratelimit-redis.test.ts', import.meta.url));
const NOWHERE = '/nonexistent/redis-server';

function runTestFile(file: string, env: Record<string, string>): Promise<{ code: number; out: string }> {
  // Without NODE_TEST_CONTEXT, which would make the inner runner report to this one instead of exiting on failure.
  const { NODE_TEST_CONTEXT: _, ...outer } = process.env;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--test', '--test-reporter=spec', file], { env: { ...outer, ...env }, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout + stderr }),
    );
  });
}

test('without redis-server the Redis tests skip with one line naming the package', async () => {
  const { code, out } = await runTestFile(REDIS_TEST, { REDIS_SERVER: NOWHERE, MATRIXINFER_REQUIRE_ALL: '' });
  assert.equal(code, 0, out);
  const skipLines = out.split('\n').filter((line) => line.includes('apt-get install redis-server'));
  assert.equal(skipLines.length, 1, out);
  assert.match(skipLines[0]!, /needs redis-server/);
  assert.match(out, /ℹ fail 0/);
});

test('under MATRIXINFER_REQUIRE_ALL=1 the same file fails instead of skipping', async () => {
  const { code, out } = await runTestFile(REDIS_TEST, { REDIS_SERVER: NOWHERE, MATRIXINFER_REQUIRE_ALL: '1' });
  assert.notEqual(code, 0, out);
  assert.match(out, /MATRIXINFER_REQUIRE_ALL=1: a test needs redis-server/);
});

test('needs(): false for a program that is there, the reason for one that is not', () => {
  const saved = process.env.MATRIXINFER_REQUIRE_ALL;
  delete process.env.MATRIXINFER_REQUIRE_ALL;
  try {
    assert.equal(needs(['curl', process.execPath]), false);
    assert.equal(missingReason('nginx', '/nonexistent/nginx'), 'needs nginx, not found on this machine (apt-get install nginx enables it)');
    process.env.MATRIXINFER_REQUIRE_ALL = '1';
    assert.throws(() => needs(['nginx', '/nonexistent/nginx']), /MATRIXINFER_REQUIRE_ALL=1/);
  } finally {
    if (saved === undefined) delete process.env.MATRIXINFER_REQUIRE_ALL;
    else process.env.MATRIXINFER_REQUIRE_ALL = saved;
  }
});
