// The node agent against the embedded API server: node registration, binding, pod IPs, readiness, logs,
// crash-loop back-off, graceful deletion, agent restart, and the simulated engine behind the seed image.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { CoordinationV1Api, CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { type NodeAgent, startNodeAgent } from '../../src/agent/agent.ts';
import type { Logger } from '../../src/agent/log.ts';
import { startTestApiServer, type TestApiServer } from '../../src/kube/testing/apiserver.ts';
import { MAIN, REPO, alive, memoryLogger, until } from '../support/platform.ts';

const NODE = 'matrixinfer-local';
const NS = 'default';

const tmp = mkdtempSync(join(tmpdir(), 'agent-it-'));
const home = join(tmp, 'home');
const logsDir = join(home, 'logs', 'pods');
let server: TestApiServer;
let kc: KubeConfig;
let core: CoreV1Api;
let agent: NodeAgent | undefined;
const agentLog: string[] = [];
const log: Logger = memoryLogger(agentLog);

function start(): Promise<NodeAgent> {
  return startNodeAgent({ kubeConfig: kc, home, nodeName: NODE, maxGracePeriodSeconds: 3, log });
}

// A tiny HTTP server on the pod IP: the container a pod runs.
const WEB = `
const http = require('node:http');
const s = http.createServer((req, res) => res.end(req.url === '/health' ? 'ok' : 'hello from ' + process.env.POD_NAME));
s.listen(8000, process.env.POD_IP, () => console.log('listening on ' + process.env.POD_IP + ':8000'));
process.on('SIGTERM', () => { console.log('got SIGTERM'); s.close(); process.exit(0); });
`;

function webPod(name: string): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: {
      containers: [
        {
          name: 'web',
          image: 'node-web',
          command: [process.execPath, '-e', WEB],
          ports: [{ name: 'http', containerPort: 8000 }],
          readinessProbe: { httpGet: { path: '/health', port: 'http' }, periodSeconds: 5 },
          livenessProbe: { tcpSocket: { port: 8000 }, periodSeconds: 5, initialDelaySeconds: 1 },
        },
      ],
      terminationGracePeriodSeconds: 30,
    },
  };
}

async function getPod(name: string): Promise<V1Pod | undefined> {
  try {
    return await core.readNamespacedPod({ name, namespace: NS });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

const isReady = (p: V1Pod | undefined) => p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

before(async () => {
  server = await startTestApiServer({ podLogDir: logsDir });
  kc = server.kubeConfig;
  core = kc.makeApiClient(CoreV1Api);
  try {
    await core.createNamespace({ body: { metadata: { name: NS } } });
  } catch {
    /* exists */
  }
  agent = await start();
});

after(async () => {
  await agent?.stop();
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
  if (process.env.AGENT_TEST_LOG) console.log(agentLog.join('\n'));
});

describe('node agent', () => {
  it('registers a Ready node and renews its lease', async () => {
    const node = await core.readNode({ name: NODE });
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.status, 'True');
    assert.deepEqual(node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address, '127.0.0.1');
    assert.equal(node.status?.capacity?.pods, '110');
    assert.ok(Number(node.status?.capacity?.cpu) >= 1);
    const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: NODE, namespace: 'kube-node-lease' });
    assert.equal(lease.spec?.holderIdentity, NODE);
    assert.ok(lease.spec?.renewTime);
  });

  it('binds, runs and readies a pod on its own loopback IP, with logs', async () => {
    await core.createNamespacedPod({ namespace: NS, body: webPod('web') });
    const pod = await until('web ready', async () => {
      const p = await getPod('web');
      return isReady(p) && p;
    }, 15_000);
    assert.equal(pod.spec?.nodeName, NODE);
    assert.equal(pod.status?.phase, 'Running');
    const ip = pod.status?.podIP ?? '';
    assert.match(ip, /^127\.0\.\d+\.\d+$/);
    assert.notEqual(ip, '127.0.0.1');
    assert.deepEqual(pod.status?.podIPs?.map((x) => x.ip), [ip]);
    assert.equal(pod.status?.hostIP, '127.0.0.1');
    const cs = pod.status?.containerStatuses?.[0];
    assert.equal(cs?.name, 'web');
    assert.equal(cs?.ready, true);
    assert.equal(cs?.restartCount, 0);
    assert.ok(cs?.state?.running?.startedAt);
    const conds = Object.fromEntries((pod.status?.conditions ?? []).map((c) => [c.type, c.status]));
    assert.deepEqual(
      { PodScheduled: conds.PodScheduled, Initialized: conds.Initialized, ContainersReady: conds.ContainersReady, Ready: conds.Ready },
      { PodScheduled: 'True', Initialized: 'True', ContainersReady: 'True', Ready: 'True' },
    );
    const res = await fetch(`http://${ip}:8000/`);
    assert.equal(await res.text(), 'hello from web');
    const logFile = join(logsDir, `${NS}_web_web.log`);
    assert.match(readFileSync(logFile, 'utf8'), new RegExp(`listening on ${ip.replaceAll('.', '\\.')}:8000`));
    // Nothing changes, so nothing is written.
    const rv = (await getPod('web'))?.metadata?.resourceVersion;
    await sleep(1500);
    assert.equal((await getPod('web'))?.metadata?.resourceVersion, rv);
  });

  it('runs init containers first and passes env, $(VAR) expansion and the working directory', async () => {
    await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'cfg', namespace: NS }, data: { greeting: 'hi' } } });
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'init', namespace: NS, labels: { app: 'demo' } },
        spec: {
          initContainers: [{ name: 'prepare', image: 'busybox', command: ['sh', '-c', 'echo prepared > state.txt'] }],
          containers: [
            {
              name: 'main',
              image: 'busybox',
              command: ['sh', '-c'],
              args: ['echo "$(cat state.txt) $GREETING $MY_IP $APP $(POD_NAME) $NODE_NAME"; exec sleep 30'],
              env: [
                { name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'greeting' } } },
                { name: 'MY_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
                { name: 'MISSING', valueFrom: { secretKeyRef: { name: 'nope', key: 'k', optional: true } } },
              ],
            },
          ],
        },
      },
    });
    const pod = await until('init pod ready', async () => {
      const p = await getPod('init');
      return isReady(p) && p;
    }, 10_000);
    assert.equal(pod.status?.initContainerStatuses?.[0]?.state?.terminated?.exitCode, 0);
    assert.ok(pod.status?.conditions?.some((c) => c.type === 'Initialized' && c.status === 'True'));
    const out = await until('main output', async () => readFileSync(join(logsDir, `${NS}_init_main.log`), 'utf8') || undefined, 5_000);
    assert.equal(out.trim(), `prepared hi ${pod.status?.podIP} demo init ${NODE}`);
    assert.equal(readFileSync(join(logsDir, `${NS}_init_prepare.log`), 'utf8'), '');
    await core.deleteNamespacedPod({ name: 'init', namespace: NS, gracePeriodSeconds: 1 });
    await until('init deleted', async () => (await getPod('init')) === undefined, 10_000);
  });

  it('restarts a container whose liveness probe fails', async () => {
    const script = `
const http = require('node:http');
const t0 = Date.now();
http.createServer((req, res) => { res.statusCode = Date.now() - t0 > 800 ? 500 : 200; res.end(); }).listen(8000, process.env.POD_IP);`;
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'sick', namespace: NS },
        spec: {
          containers: [
            {
              name: 'app',
              image: 'node-web',
              command: [process.execPath, '-e', script],
              livenessProbe: { httpGet: { path: '/live', port: 8000 }, periodSeconds: 1, failureThreshold: 1, initialDelaySeconds: 1 },
            },
          ],
          terminationGracePeriodSeconds: 1,
        },
      },
    });
    const pod = await until('sick restarted', async () => {
      const p = await getPod('sick');
      return (p?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 && p;
    }, 10_000);
    const last = pod.status?.containerStatuses?.[0]?.lastState?.terminated;
    assert.match(last?.message ?? '', /Liveness probe failed: HTTP probe failed with statuscode: 500/);
    await core.deleteNamespacedPod({ name: 'sick', namespace: NS, gracePeriodSeconds: 0 });
    await until('sick deleted', async () => (await getPod('sick')) === undefined, 10_000);
  });

  it('restarts a crashing container with back-off', async () => {
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'crash', namespace: NS },
        spec: { containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'echo crashing; exit 1'] }] },
      },
    });
    let sawBackOff = false;
    const pod = await until('restartCount >= 2', async () => {
      const p = await getPod('crash');
      const cs = p?.status?.containerStatuses?.[0];
      if (cs?.state?.waiting?.reason === 'CrashLoopBackOff') sawBackOff = true;
      return (cs?.restartCount ?? 0) >= 2 && sawBackOff && p;
    }, 15_000, 50);
    const cs = pod.status!.containerStatuses![0]!;
    assert.equal(cs.lastState?.terminated?.exitCode, 1);
    assert.equal(pod.status?.phase, 'Running');
    assert.equal(isReady(pod), false);
    assert.match(readFileSync(join(logsDir, `${NS}_crash_c.log`), 'utf8'), /crashing\ncrashing\n/);
    await core.deleteNamespacedPod({ name: 'crash', namespace: NS });
    await until('crash deleted', async () => (await getPod('crash')) === undefined, 10_000);
  });

  it('runs pods to completion with restartPolicy Never', async () => {
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'job', namespace: NS },
        spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'echo done'] }] },
      },
    });
    const pod = await until('job succeeded', async () => {
      const p = await getPod('job');
      return p?.status?.phase === 'Succeeded' && p;
    }, 10_000);
    assert.equal(pod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 0);
    assert.equal(pod.status?.containerStatuses?.[0]?.state?.terminated?.reason, 'Completed');
  });

  it('reports images it cannot run', async () => {
    await core.createNamespacedPod({
      namespace: NS,
      body: { metadata: { name: 'nginx', namespace: NS }, spec: { containers: [{ name: 'c', image: 'nginx:1.27' }] } },
    });
    const pod = await until('ImageNotRunnable', async () => {
      const p = await getPod('nginx');
      return p?.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ImageNotRunnable' && p;
    }, 10_000);
    assert.equal(pod.status?.phase, 'Pending');
    assert.match(pod.status?.containerStatuses?.[0]?.state?.waiting?.message ?? '', /nginx/);
  });

  it('brings pods back after an agent restart', async () => {
    const before = agent!.inspect(NS, 'web')!;
    const oldPid = before.pids.web!;
    assert.ok(alive(oldPid));
    await agent!.stop();
    assert.equal(alive(oldPid), false);
    agent = await start();
    const pod = await until('web ready again', async () => {
      const p = await getPod('web');
      const cs = p?.status?.containerStatuses?.[0];
      return isReady(p) && cs?.restartCount === 1 && p;
    }, 15_000);
    assert.equal(pod.status?.podIP, before.podIP);
    assert.equal(pod.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode, 137);
    assert.equal(await (await fetch(`http://${before.podIP}:8000/health`)).text(), 'ok');
  });

  it('kills what a killed agent left behind and restarts it', async () => {
    await agent!.stop();
    agent = undefined;
    const kubeconfig = server.kubeconfigPath;
    const code = `
      import { startNodeAgent } from ${JSON.stringify(join(REPO, 'src/agent/agent.ts'))};
      import { loadKubeConfig } from ${JSON.stringify(join(REPO, 'src/kube/config.ts'))};
      await startNodeAgent({ kubeConfig: loadKubeConfig(${JSON.stringify(kubeconfig)}), home: ${JSON.stringify(home)}, nodeName: ${JSON.stringify(NODE)} });
      console.log('agent up');`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'ignore', 'pipe'] });
    let childLog = '';
    child.stderr!.on('data', (b: Buffer) => (childLog += b.toString()));
    let pid = 0;
    try {
      await until('web ready under the child agent', async () => {
        const p = await getPod('web');
        return isReady(p) && p?.status?.containerStatuses?.[0]?.restartCount === 2;
      }, 15_000).catch((err: Error) => {
        throw new Error(`${err.message}\nchild agent:\n${childLog}`);
      });
      pid = (JSON.parse(readFileSync(join(home, 'pods', `${NS}_web`, '.agent', 'web.pid.json'), 'utf8')) as { pid: number }).pid;
      assert.ok(alive(pid));
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r)));
    }
    assert.ok(alive(pid), 'the container outlives a SIGKILLed agent');
    agent = await start();
    assert.equal(alive(pid), false, 'the new agent killed the stale process');
    await until('web ready again', async () => {
      const p = await getPod('web');
      return isReady(p) && p?.status?.containerStatuses?.[0]?.restartCount === 3;
    }, 15_000);
  });

  it('deletes gracefully: SIGTERM, process gone, pod object gone', async () => {
    const { pids, podIP } = agent!.inspect(NS, 'web')!;
    const pid = pids.web!;
    assert.ok(alive(pid));
    await core.deleteNamespacedPod({ name: 'web', namespace: NS });
    // Graceful: the object stays (with deletionTimestamp) until the agent confirms.
    const t0 = Date.now();
    await until('web deleted', async () => (await getPod('web')) === undefined, 10_000);
    assert.ok(Date.now() - t0 < 3000, 'the container exits on SIGTERM, so deletion does not wait out the grace period');
    assert.equal(alive(pid), false);
    await assert.rejects(fetch(`http://${podIP}:8000/health`));
    assert.equal(existsSync(join(logsDir, `${NS}_web_web.log`)), false);
  });

  it('runs the seed image as the simulated engine', { skip: !existsSync(MAIN) && 'src/cli/main.ts missing' }, async () => {
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'llama', namespace: NS },
        spec: {
          containers: [
            {
              name: 'engine',
              image: 'matrixinfer/pytorch-runtime:latest',
              args: ['--model', 'meta-llama/Llama-2-7b-hf', '--served-model-name', 'llama-7b', '--port', '8000'],
              readinessProbe: { httpGet: { path: '/health', port: 8000 } },
            },
          ],
        },
      },
    });
    const pod = await until('engine ready', async () => {
      const p = await getPod('llama');
      return isReady(p) && p;
    }, 20_000);
    const res = await fetch(`http://${pod.status!.podIP}:8000/v1/models`);
    const body = (await res.json()) as { data: { id: string }[] };
    assert.ok(body.data.some((m) => m.id === 'llama-7b'), JSON.stringify(body));
    await core.deleteNamespacedPod({ name: 'llama', namespace: NS });
    await until('llama deleted', async () => (await getPod('llama')) === undefined, 10_000);
  });

  it('reports a slow-starting engine Ready only once it answers /health', { skip: !existsSync(MAIN) && 'src/cli/main.ts missing' }, async () => {
    const probe = { httpGet: { path: '/health', port: 8000 } };
    const t0 = Date.now();
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'slow-llama', namespace: NS },
        spec: {
          containers: [
            {
              name: 'engine',
              image: 'vllm/vllm-openai:latest',
              // The pod's own --startup-seconds wins over the agent's default; probes as the Model controller writes them.
              args: ['--model', 'meta-llama/Llama-3.1-8B-Instruct', '--served-model-name', 'slow', '--port', '8000', '--startup-seconds', '3'],
              startupProbe: { ...probe, periodSeconds: 10, failureThreshold: 60 },
              readinessProbe: { ...probe, periodSeconds: 2, failureThreshold: 3 },
            },
          ],
        },
      },
    });
    let healthyAt: number | undefined;
    let readyAt: number | undefined;
    await until('slow engine ready', async () => {
      const p = await getPod('slow-llama');
      const ip = p?.status?.podIP;
      if (ip && healthyAt === undefined) {
        const ok = await fetch(`http://${ip}:8000/health`).then((r) => r.ok, () => false);
        if (ok) healthyAt = Date.now();
      }
      if (isReady(p)) {
        readyAt = Date.now();
        return p;
      }
      return undefined;
    }, 30_000, 100);
    assert.ok(healthyAt !== undefined && healthyAt <= readyAt!, 'Ready before the engine answered /health');
    assert.ok(healthyAt! - t0 >= 3000, `the engine answered after ${healthyAt! - t0} ms, before its 3 s load`);
    const res = await fetch(`http://${(await getPod('slow-llama'))!.status!.podIP}:8000/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'slow', prompt: 'hello', max_tokens: 4 }),
    });
    assert.equal(res.status, 200);
    const servedAt = Date.now();
    log.info(`slow-llama: healthy ${healthyAt! - t0} ms, Ready ${readyAt! - t0} ms, first completion ${servedAt - t0} ms after creation`);
    await core.deleteNamespacedPod({ name: 'slow-llama', namespace: NS });
    await until('slow-llama deleted', async () => (await getPod('slow-llama')) === undefined, 10_000);
  });
});
