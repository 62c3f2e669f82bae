// The controller manager end to end, with leader election, against the real embedded API server (one per file, in a
// temp dir, with the project's CRDs and admission plugins). No node agent runs: the test writes pod status and
// finishes terminating pods itself, as the agent would. The longer story, with garbage collection, is
// test/integration/controllers.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { KubeObject } from '../api/admission.ts';
import type { Model, ModelInfer, ModelServer } from '../api/kinds/index.ts';
import { KubeClient } from '../kube/client.ts';
import { createLogger } from '../kube/log.ts';
import { startTestApiServer, type TestApiServer } from '../kube/testing/apiserver.ts';
import { admissionPlugins } from '../webhooks/plugins.ts';
import { startControllerManager } from './manager.ts';
import { AUTOSCALING_POLICIES, AUTOSCALING_POLICY_BINDINGS, MODELS, MODEL_INFERS, MODEL_ROUTES, MODEL_SERVERS, PODS } from './resources.ts';
import { until } from '../kube/testing/until.ts';
import { parseExposition, total } from '../../test/support/prom.ts';

const seed = parse(readFileSync(new URL('../../examples/quickstart.yaml', import.meta.url), 'utf8')) as Model;
const quiet = createLogger('test', 'silent');
const crdDir = new URL('../../deploy/crds/', import.meta.url);
const crds = readdirSync(crdDir).filter((f) => f.endsWith('.yaml')).map((f) => parse(readFileSync(new URL(f, crdDir), 'utf8')) as unknown);

let api: TestApiServer;
before(async () => {
  api = await startTestApiServer({ admission: admissionPlugins });
  await api.installCrds(crds);
});
after(async () => {
  await api?.close();
});


async function markReady(client: KubeClient, name: string, ip: string): Promise<void> {
  await client.mergePatchStatus(PODS, 'default', name, {
    status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString() }] },
  });
}

/** Pods are deleted gracefully (deletionTimestamp set); the node agent finishes them off once stopped. */
async function finishTerminating(client: KubeClient, name: string): Promise<void> {
  const pod = await client.get(PODS, 'default', name);
  if (pod?.metadata.deletionTimestamp) await client.delete(PODS, 'default', name, { gracePeriodSeconds: 0 });
}

test('controller manager: fan-out, readiness, rolling update, self-healing, scaling, conflicts', async () => {
  const kubeConfig = api.kubeConfig;
  const client = new KubeClient(kubeConfig);
  const manager = await startControllerManager({ kubeConfig, leaderElection: true, retryPeriodMs: 100, renewDeadlineMs: 1000, leaseDurationMs: 1500, logger: quiet });
  try {
    const model = await client.create<Model>(MODELS, structuredClone(seed));

    // Five children, owned and labelled.
    for (const rt of [MODEL_INFERS, MODEL_SERVERS, MODEL_ROUTES, AUTOSCALING_POLICIES, AUTOSCALING_POLICY_BINDINGS]) {
      const child = await until(rt.kind, () => client.get(rt, 'default', 'llama-7b'));
      assert.equal(child.metadata.ownerReferences?.[0]?.uid, model.metadata.uid, rt.kind);
      assert.equal(child.metadata.ownerReferences?.[0]?.controller, true);
      assert.equal(child.metadata.labels?.['registry.matrixinfer.ai/managed-by'], 'registry.matrixinfer.ai');
    }
    const pod = await until('pod', () => client.get(PODS, 'default', 'llama-7b-0-server-0'));
    const firstRevision = pod.metadata.labels?.['workload.matrixinfer.ai/revision'];
    assert.ok(firstRevision);
    assert.equal((pod.spec as { nodeName?: string }).nodeName, undefined);

    // Ready pod → ModelInfer, ModelServer, Model ready.
    await markReady(client, 'llama-7b-0-server-0', '127.0.1.1');
    await until('ModelInfer ready', async () => (await client.get<ModelInfer>(MODEL_INFERS, 'default', 'llama-7b'))?.status?.readyReplicas === 1);
    const ms = await until('ModelServer ready', async () => {
      const s = await client.get<ModelServer>(MODEL_SERVERS, 'default', 'llama-7b');
      return s?.status?.phase === 'Ready' ? s : undefined;
    });
    assert.equal(ms.status?.readyEndpoints, 1);
    await until('Model ready', async () => (await client.get<Model>(MODELS, 'default', 'llama-7b'))?.status?.phase === 'Ready');

    // Model update → new revision → a surge pod first; once it is ready the pod is replaced, then the surge pod goes.
    await client.mergePatch(MODELS, 'default', 'llama-7b', { spec: { runtime: { args: ['--max-model-len', '2048'] } } });
    const surge = await until('surge pod', () => client.get(PODS, 'default', 'llama-7b-1-server-0'));
    assert.notEqual(surge.metadata.labels?.['workload.matrixinfer.ai/revision'], firstRevision);
    await markReady(client, 'llama-7b-1-server-0', '127.0.1.2');
    const replaced = await until('replacement pod', async () => {
      await finishTerminating(client, 'llama-7b-0-server-0');
      const p = await client.get(PODS, 'default', 'llama-7b-0-server-0');
      return p && p.metadata.uid !== pod.metadata.uid && p.metadata.labels?.['workload.matrixinfer.ai/revision'] !== firstRevision ? p : undefined;
    });
    assert.deepEqual(((replaced.spec as any).containers[0].args as string[]).slice(-2), ['--max-model-len', '2048']);
    await markReady(client, 'llama-7b-0-server-0', '127.0.1.3');
    await until('surge pod gone', async () => {
      await finishTerminating(client, 'llama-7b-1-server-0');
      return (await client.get(PODS, 'default', 'llama-7b-1-server-0')) === undefined;
    });

    // A deleted child comes back.
    await client.delete(MODEL_ROUTES, 'default', 'llama-7b');
    await until('ModelRoute recreated', () => client.get(MODEL_ROUTES, 'default', 'llama-7b'));

    // Drift on a child is reverted.
    await client.mergePatch(MODEL_SERVERS, 'default', 'llama-7b', { spec: { model: 'hijacked' } });
    await until('ModelServer restored', async () => (await client.get<ModelServer>(MODEL_SERVERS, 'default', 'llama-7b'))?.spec.model === 'llama-7b');

    // Scale to 2 and back to 1.
    await client.mergePatch(MODELS, 'default', 'llama-7b', { spec: { runtime: { replicas: 2 } } });
    await until('second pod', () => client.get(PODS, 'default', 'llama-7b-1-server-0'));
    await client.mergePatch(MODELS, 'default', 'llama-7b', { spec: { runtime: { replicas: 1 } } });
    await until('second pod gone', async () => {
      await finishTerminating(client, 'llama-7b-1-server-0');
      return (await client.get(PODS, 'default', 'llama-7b-1-server-0')) === undefined;
    });

    // A name taken by someone else's object: the Model is Failed, with the reason.
    const foreign: KubeObject = { apiVersion: 'networking.matrixinfer.ai/v1alpha1', kind: 'ModelRoute', metadata: { name: 'other', namespace: 'default' }, spec: { modelName: 'x', rules: [{ targetModels: [{ modelServerName: 'x' }] }] } };
    await client.create(MODEL_ROUTES, foreign);
    const other = structuredClone(seed);
    other.metadata.name = 'other';
    await client.create(MODELS, other);
    const failed = await until('Model Failed', async () => {
      const m = await client.get<Model>(MODELS, 'default', 'other');
      return m?.status?.phase === 'Failed' ? m : undefined;
    });
    assert.match(failed.status?.conditions?.find((c) => c.type === 'ChildrenSynced')?.message ?? '', /ModelRoute .*already exists/);
  } finally {
    await manager.stop();
  }
});

test('leader_election_master_status: 1 on the leader, 0 on the standby, which takes over when the leader stops', async () => {
  const timings = { leaderElection: true, leaseName: 'status-test', retryPeriodMs: 100, renewDeadlineMs: 1000, leaseDurationMs: 1500, logger: quiet } as const;
  const status = async (m: { registry: { metrics(): Promise<string> } }) =>
    total(parseExposition(await m.registry.metrics()), 'leader_election_master_status', { name: 'status-test' });
  const a = await startControllerManager({ kubeConfig: api.kubeConfig, identity: 'a', ...timings });
  await until('a leads', async () => (await status(a)) === 1);
  const b = await startControllerManager({ kubeConfig: api.kubeConfig, identity: 'b', ...timings });
  try {
    // b campaigns: the series is there at 0 while a holds the Lease.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(await status(b), 0);
    assert.equal(await status(a), 1);
    await a.stop();
    await until('b leads', async () => (await status(b)) === 1, 10_000);
    assert.equal(await status(a), 0);
  } finally {
    await b.stop();
    await a.stop();
  }
});
