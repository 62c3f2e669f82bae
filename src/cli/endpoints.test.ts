// endpoints.json: the document from the ports, written whole and removed.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { endpointsDocument, endpointsPath, removeEndpoints, writeEndpoints, type EndpointPorts } from './endpoints.ts';

const ports: EndpointPorts = { host: '127.0.0.1', apiserver: 6443, controllerManagerMetrics: 8082, dashboard: 8090, agent: 10250, agentStats: true, gateway: 8080, gatewayTls: 8443, gatewayGrpc: 8081 };

test('every component and its URLs', () => {
  assert.deepEqual(endpointsDocument(ports), {
    apiserver: { url: 'http://127.0.0.1:6443', metrics: 'http://127.0.0.1:6443/metrics' },
    'controller-manager': { metrics: 'http://127.0.0.1:8082/metrics' },
    agent: { metrics: 'http://127.0.0.1:10250/metrics', stats: 'http://127.0.0.1:10250/stats/summary' },
    gateway: { url: 'http://127.0.0.1:8080', tls: 'https://127.0.0.1:8443', grpc: '127.0.0.1:8081', metrics: 'http://127.0.0.1:8080/metrics' },
    dashboard: { url: 'http://127.0.0.1:8090/' },
  });
  assert.deepEqual(endpointsDocument({ ...ports, agentStats: false }).agent, { metrics: 'http://127.0.0.1:10250/metrics' });
});

test('written atomically as JSON, removed on stop', (t) => {
  const home = mkdtempSync(join(tmpdir(), 'matrixinfer-endpoints-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const path = writeEndpoints(home, endpointsDocument(ports));
  assert.equal(path, endpointsPath(home));
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), endpointsDocument(ports));
  writeEndpoints(home, endpointsDocument({ ...ports, gateway: 9090 }));
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).gateway.url, 'http://127.0.0.1:9090');
  assert.deepEqual(readdirSync(home), ['endpoints.json'], 'no temporary file left behind');
  removeEndpoints(home);
  assert.equal(existsSync(path), false);
  removeEndpoints(home); // already gone: fine
});
