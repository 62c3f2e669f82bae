// readPodMetrics against a stand-in API server: the request it sends, quantities summed over containers, and a
// cluster without metrics.k8s.io (404 no such group, 503 metrics-server's APIService down).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { KubeClient } from './client.ts';
import { loopbackKubeConfig } from './config.ts';
import { MetricsApiUnavailableError, readPodMetrics } from './pod-metrics.ts';

describe('readPodMetrics', () => {
  let server: Server;
  let client: KubeClient;
  let answer: { status: number; body: unknown };
  const paths: string[] = [];

  before(async () => {
    server = createServer((req, res) => {
      paths.push(req.url ?? '');
      res.writeHead(answer.status, { 'Content-Type': 'application/json' }).end(JSON.stringify(answer.body));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    client = new KubeClient(loopbackKubeConfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
  after(() => server?.close());

  it('sums each pod over its containers, from the namespaced list with the label selector', async () => {
    answer = {
      status: 200,
      body: {
        kind: 'PodMetricsList',
        apiVersion: 'metrics.k8s.io/v1beta1',
        metadata: {},
        items: [
          {
            metadata: { name: 'p1', namespace: 'ns' },
            timestamp: '2025-01-02T03:04:05Z',
            window: '10.5s',
            containers: [
              { name: 'engine', usage: { cpu: '250m', memory: '1Gi' } },
              { name: 'sidecar', usage: { cpu: '1500000n', memory: '512Ki' } },
            ],
          },
          { metadata: { name: 'p2', namespace: 'ns' }, timestamp: '2025-01-02T03:04:06Z', window: '1m0s', containers: [{ name: 'engine', usage: { cpu: '0', memory: '0' } }] },
        ],
      },
    };
    const usage = await readPodMetrics(client, 'ns', 'app=a,tier in (x)');
    const url = new URL(paths.at(-1)!, 'http://x');
    assert.equal(url.pathname, '/apis/metrics.k8s.io/v1beta1/namespaces/ns/pods');
    assert.equal(url.searchParams.get('labelSelector'), 'app=a,tier in (x)');
    assert.deepEqual([...usage.keys()], ['p1', 'p2']);
    const p1 = usage.get('p1')!;
    assert.ok(Math.abs(p1.cpuCores - 0.2515) < 1e-12);
    assert.equal(p1.memoryBytes, 1024 ** 3 + 512 * 1024);
    assert.equal(p1.timestamp, '2025-01-02T03:04:05Z');
    assert.equal(p1.windowSeconds, 10.5);
    assert.deepEqual(usage.get('p2'), { cpuCores: 0, memoryBytes: 0, timestamp: '2025-01-02T03:04:06Z', windowSeconds: 60 });
  });

  it('says metrics.k8s.io is not served on a 404 or 503', async () => {
    for (const status of [404, 503]) {
      answer = { status, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: status, reason: status === 404 ? 'NotFound' : 'ServiceUnavailable' } };
      await assert.rejects(readPodMetrics(client, 'ns'), (err: unknown) => {
        assert.ok(err instanceof MetricsApiUnavailableError);
        assert.equal(err.status, status);
        assert.match(err.message, /metrics\.k8s\.io\/v1beta1 is not served/);
        return true;
      });
    }
    answer = { status: 403, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 403, reason: 'Forbidden' } };
    await assert.rejects(readPodMetrics(client, 'ns'), (err: unknown) => !(err instanceof MetricsApiUnavailableError));
  });
});
