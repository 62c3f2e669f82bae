// The node agent terminates a deleted pod as the kubelet does: Ready=False at once (while the container still runs,
// so traffic stops first), SIGTERM, up to terminationGracePeriodSeconds for the process to exit, then SIGKILL.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { type NodeAgent, startNodeAgent } from '../../src/agent/agent.ts';
import { startTestApiServer, type TestApiServer } from '../../src/kube/testing/apiserver.ts';
import { alive, memoryLogger, until } from '../support/platform.ts';

const NS = 'default';
const tmp = mkdtempSync(join(tmpdir(), 'agent-term-'));
const agentLog: string[] = [];
let server: TestApiServer;
let core: CoreV1Api;
let agent: NodeAgent;

// Serves /health on the pod IP; on SIGTERM keeps running for `DRAIN_MS` (forever when unset), then exits.
const SERVER = `
const http = require('node:http');
http.createServer((req, res) => res.end('ok')).listen(8000, process.env.POD_IP);
process.on('SIGTERM', () => { if (process.env.DRAIN_MS) setTimeout(() => process.exit(0), Number(process.env.DRAIN_MS)); });
`;

function pod(name: string, graceSeconds: number, drainMs?: number): V1Pod {
  return {
    metadata: { name, namespace: NS },
    spec: {
      terminationGracePeriodSeconds: graceSeconds,
      containers: [
        {
          name: 'app',
          image: 'node-app',
          command: [process.execPath, '-e', SERVER],
          env: drainMs === undefined ? [] : [{ name: 'DRAIN_MS', value: String(drainMs) }],
          readinessProbe: { httpGet: { path: '/health', port: 8000 }, periodSeconds: 1 },
        },
      ],
    },
  };
}

async function getPod(name: string): Promise<V1Pod | undefined> {
  try {
    return await core.readNamespacedPod({ name, namespace: NS });
  } catch {
    return undefined;
  }
}

const ready = (p: V1Pod | undefined) => p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

before(async () => {
  server = await startTestApiServer({ podLogDir: join(tmp, 'logs', 'pods') });
  core = server.kubeConfig.makeApiClient(CoreV1Api);
  agent = await startNodeAgent({ kubeConfig: server.kubeConfig, home: tmp, maxGracePeriodSeconds: 10, log: memoryLogger(agentLog) });
});

after(async () => {
  await agent?.stop();
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

test('a deleted pod is reported not ready at once, while its process drains after SIGTERM', async () => {
  await core.createNamespacedPod({ namespace: NS, body: pod('draining', 5, 2000) });
  await until('ready', async () => ready(await getPod('draining')), 15_000);
  const pid = agent.inspect(NS, 'draining')!.pids.app!;
  const t0 = Date.now();
  await core.deleteNamespacedPod({ name: 'draining', namespace: NS });
  const seen = await until('Ready=False', async () => {
    const p = await getPod('draining');
    return p !== undefined && !ready(p) && p;
  }, 5000, 20);
  assert.ok(seen.metadata?.deletionTimestamp);
  assert.ok(alive(pid), 'not ready while the process still runs (it drains for 2 s)');
  assert.ok(Date.now() - t0 < 1500, `Ready=False after ${Date.now() - t0} ms`);
  await until('gone', async () => (await getPod('draining')) === undefined, 10_000);
  assert.ok(Date.now() - t0 >= 1900, 'the process had its time to drain');
});

test('a process that ignores SIGTERM is killed when terminationGracePeriodSeconds ends', async () => {
  await core.createNamespacedPod({ namespace: NS, body: pod('stubborn', 1) });
  await until('ready', async () => ready(await getPod('stubborn')), 15_000);
  const pid = agent.inspect(NS, 'stubborn')!.pids.app!;
  const t0 = Date.now();
  await core.deleteNamespacedPod({ name: 'stubborn', namespace: NS });
  await until('gone', async () => (await getPod('stubborn')) === undefined, 10_000);
  const took = Date.now() - t0;
  assert.ok(took >= 900 && took < 5000, `deleted after ${took} ms for a 1 s grace period`);
  assert.equal(alive(pid), false);
});
