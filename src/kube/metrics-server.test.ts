import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Registry } from 'prom-client';
import { startMetricsServer } from './metrics-server.ts';

test('metrics server: GET /metrics is the registry in the text format, 404 elsewhere', async () => {
  const registry = new Registry();
  new Counter({ name: 'example_total', help: 'An example.', registers: [registry] }).inc(3);
  const server = await startMetricsServer({ host: '127.0.0.1', port: 0, registry });
  try {
    assert.equal(server.url, `http://127.0.0.1:${server.port}/metrics`);
    const res = await fetch(server.url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(await res.text(), /^example_total 3$/m);
    assert.equal((await fetch(server.url, { method: 'HEAD' })).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status, 404);
    assert.equal((await fetch(server.url, { method: 'POST' })).status, 404);
  } finally {
    await server.close();
  }
});
