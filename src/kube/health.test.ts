import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHealthServer } from './health.ts';

test('health server: /healthz always, /readyz once ready, 404 elsewhere', async () => {
  let ready = false;
  const server = await startHealthServer({ host: '127.0.0.1', port: 0, ready: () => ready });
  try {
    const get = async (path: string, method = 'GET') => (await fetch(`http://127.0.0.1:${server.port}${path}`, { method })).status;
    assert.equal(await get('/healthz'), 200);
    assert.equal(await get('/readyz'), 503);
    ready = true;
    assert.equal(await get('/readyz'), 200);
    assert.equal(await get('/readyz', 'HEAD'), 200);
    assert.equal(await get('/metrics'), 404);
    assert.equal(await get('/healthz', 'POST'), 404);
  } finally {
    await server.close();
  }
});
