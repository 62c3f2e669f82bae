// The controllers against the embedded API server (or a real kube-apiserver: MATRIXINFER_TEST_APISERVER=real, as
// `npm run test:cluster` runs it): a Model fans out into its five children, the ModelInfer
// creates the engine pod, readiness flows up to the Model, updates roll the pod through a surge pod, deleted
// children come back, scaling adds pods, and deleting the Model garbage-collects everything. No node agent runs here: the test
// writes pod status itself, as the agent would.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { KubeObject } from '../../src/api/admission.ts';
import type { AutoscalingPolicyBinding, Model, ModelInfer, ModelServer, ModelRoute } from '../../src/api/kinds/index.ts';
import { KubeClient, type ResourceType } from '../../src/kube/client.ts';
import { createLogger } from '../../src/kube/log.ts';
import { startControllerManager, type ControllerManager } from '../../src/controllers/manager.ts';
import {
  AUTOSCALING_POLICIES,
  AUTOSCALING_POLICY_BINDINGS,
  MODELS,
  MODEL_INFERS,
  MODEL_ROUTES,
  MODEL_SERVERS,
  PODS,
  SERVICES,
} from '../../src/controllers/resources.ts';
import { admissionPlugins } from '../../src/webhooks/plugins.ts';
import { until } from '../../src/kube/testing/until.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';

const REPO = new URL('../../', import.meta.url);
const NS = 'default';
const NAME = 'llama-7b';
/** The autoscaler syncs every 500 ms here (15 s by default), so its periodic status settles within the tests. */
const AUTOSCALER = { syncPeriodMs: 500 };
const CHILDREN: ResourceType[] = [MODEL_INFERS, MODEL_SERVERS, MODEL_ROUTES, AUTOSCALING_POLICIES, AUTOSCALING_POLICY_BINDINGS];

let cluster: TestCluster;
let client: KubeClient;
let manager: ControllerManager;


const get = <T extends KubeObject = KubeObject>(rt: ResourceType, name = NAME) => client.get<T>(rt, NS, name);

/** What the node agent does for a running, ready pod. */
async function markReady(name: string, ip: string): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await client.mergePatchStatus(PODS, NS, name, {
    status: {
      phase: 'Running',
      podIP: ip,
      podIPs: [{ ip }],
      startTime: now,
      conditions: [
        { type: 'Ready', status: 'True', lastTransitionTime: now },
        { type: 'ContainersReady', status: 'True', lastTransitionTime: now },
      ],
      containerStatuses: [{ name: 'engine', ready: true, started: true, restartCount: 0, image: 'x', imageID: '', state: { running: { startedAt: now } } }],
    },
  });
}

/** A pod marked for graceful deletion is finished off, as the node agent does once its containers stopped. */
async function finishTerminating(name: string): Promise<void> {
  const pod = await get(PODS, name);
  if (pod?.metadata.deletionTimestamp) await client.delete(PODS, NS, name, { gracePeriodSeconds: 0 });
}

before(async () => {
  // The project CRDs are installed; the embedded server runs our admission plugins inline.
  cluster = await startTestCluster(undefined, { admission: admissionPlugins });
  const kubeConfig = cluster.kubeConfig;
  client = new KubeClient(kubeConfig);
  for (const rt of [MODELS, ...CHILDREN]) await until(`${rt.plural} served`, async () => (await client.list(rt, { namespace: NS })) !== undefined);
  manager = await startControllerManager({ kubeConfig, autoscaler: AUTOSCALER, logger: createLogger('controller-manager', (process.env.MATRIXINFER_LOG_LEVEL as 'debug') ?? 'warn') });
});

after(async () => {
  await manager?.stop();
  await cluster?.stop();
});

test('the seed Model becomes five owned, labelled children and an engine pod; readiness flows up', async () => {
  const seed = parse(readFileSync(new URL('examples/quickstart.yaml', REPO), 'utf8')) as Model;
  const model = await client.create<Model>(MODELS, seed);

  for (const rt of CHILDREN) {
    const child = await until(rt.kind, () => get(rt));
    assert.deepEqual(child.metadata.ownerReferences, [
      { apiVersion: 'registry.matrixinfer.ai/v1alpha1', kind: 'Model', name: NAME, uid: model.metadata.uid!, controller: true, blockOwnerDeletion: true },
    ], rt.kind);
    assert.equal(child.metadata.labels?.['registry.matrixinfer.ai/managed-by'], 'registry.matrixinfer.ai', rt.kind);
    assert.equal(child.metadata.labels?.['registry.matrixinfer.ai/model-name'], NAME, rt.kind);
  }

  const pod = await until('engine pod', () => get(PODS, `${NAME}-0-server-0`));
  const mi = (await get<ModelInfer>(MODEL_INFERS))!;
  assert.equal(pod.metadata.ownerReferences?.[0]?.uid, mi.metadata.uid);
  assert.equal(pod.metadata.labels?.['workload.matrixinfer.ai/modelinfer-name'], NAME);
  assert.equal(pod.metadata.labels?.['workload.matrixinfer.ai/group-index'], '0');
  assert.equal(pod.metadata.labels?.['workload.matrixinfer.ai/role'], 'server');
  assert.match(pod.metadata.labels?.['workload.matrixinfer.ai/revision'] ?? '', /^[0-9a-f]{10}$/);
  assert.equal(pod.metadata.labels?.['registry.matrixinfer.ai/model-name'], NAME);
  const spec = pod.spec as { nodeName?: string; restartPolicy: string; containers: any[]; volumes: any[] };
  assert.equal(spec.nodeName, undefined);
  assert.equal(spec.restartPolicy, 'Always');
  assert.equal(spec.containers.length, 1);
  const engine = spec.containers[0];
  assert.equal(engine.name, 'engine');
  assert.equal(engine.image, 'matrixinfer/pytorch-runtime:latest');
  assert.deepEqual(engine.args, ['/var/lib/matrixinfer/models/Llama-2-7b-hf-09d7a57727f4', '--served-model-name', NAME, '--host', '0.0.0.0', '--port', '8000']);
  assert.deepEqual(engine.ports, [{ name: 'http', containerPort: 8000, protocol: 'TCP' }]);
  assert.deepEqual(engine.resources, { requests: { memory: '8Gi', cpu: '2' }, limits: { memory: '16Gi', cpu: '4' } });
  assert.equal(engine.readinessProbe.httpGet.path, '/health');
  assert.equal(engine.readinessProbe.httpGet.port, 8000);
  // The node cache the download step fills and the engine reads (src/registry/contract.ts).
  assert.deepEqual(spec.volumes, [
    { name: 'dshm', emptyDir: { medium: 'Memory' } },
    { name: 'model-cache', hostPath: { path: '/var/lib/matrixinfer/models', type: 'DirectoryOrCreate' } },
  ]);
  assert.deepEqual((pod.spec as { initContainers: { name: string }[] }).initContainers.map((c) => c.name), ['model-download']);

  // Before readiness: Pending everywhere.
  await until('Model Pending', async () => (await get<Model>(MODELS))?.status?.phase === 'Pending');
  await until('ModelServer Pending', async () => (await get<ModelServer>(MODEL_SERVERS))?.status?.phase === 'Pending');

  await markReady(`${NAME}-0-server-0`, '127.0.1.10');
  const readyMi = await until('ModelInfer ready', async () => {
    const m = await get<ModelInfer>(MODEL_INFERS);
    return m?.status?.readyReplicas === 1 ? m : undefined;
  });
  assert.equal(readyMi.status?.replicas, 1);
  assert.equal(readyMi.status?.labelSelector, `workload.matrixinfer.ai/modelinfer-name=${NAME}`);
  assert.equal(readyMi.status?.observedGeneration, readyMi.metadata.generation);
  const ms = await until('ModelServer Ready', async () => {
    const s = await get<ModelServer>(MODEL_SERVERS);
    return s?.status?.phase === 'Ready' ? s : undefined;
  });
  assert.equal(ms.status?.readyEndpoints, 1);
  assert.equal(ms.status?.serviceEndpoint, `http://${NAME}.${NS}.svc:8080/v1/models/${NAME}`);
  const route = await until('ModelRoute Ready', async () => {
    const r = await get<ModelRoute>(MODEL_ROUTES);
    return r?.status?.phase === 'Ready' ? r : undefined;
  });
  assert.equal(route.status?.conditions?.[0]?.type, 'Ready');
  const ready = await until('Model Ready', async () => {
    const m = await get<Model>(MODELS);
    return m?.status?.phase === 'Ready' ? m : undefined;
  });
  assert.equal(ready.status?.readyReplicas, 1);
  assert.equal(ready.status?.observedGeneration, ready.metadata.generation);
  assert.deepEqual(ready.status?.conditions?.map((c) => [c.type, c.status]), [['ChildrenSynced', 'True'], ['Ready', 'True']]);

  // The ModelServer's Service leads to the gateway (no selector: its EndpointSlice lists the gateway, here none
  // running), and events a user sees with `kubectl describe`.
  const service = await until('Service', () => get(SERVICES));
  assert.equal((service.spec as { selector?: unknown }).selector, undefined);
  assert.equal((service.spec as { ports: { name: string }[] }).ports[0]!.name, 'http');
  const events = await client.core.listNamespacedEvent({ namespace: NS });
  assert.ok(events.items.some((e) => e.involvedObject.kind === 'Model' && e.reason === 'Created'), 'Model events recorded');
});

test('updating the Model rolls the pod to the new template through a surge pod, never without a ready one', async () => {
  const before = (await get(PODS, `${NAME}-0-server-0`))!;
  const oldRevision = before.metadata.labels?.['workload.matrixinfer.ai/revision'];
  await client.mergePatch(MODELS, NS, NAME, { spec: { runtime: { args: ['--max-model-len', '4096'] } } });
  // One replica, maxSurge 25% rounded up: a surge pod (group 1) at the new revision first; the old pod stays.
  const surge = await until('surge pod', () => get(PODS, `${NAME}-1-server-0`));
  const newRevision = surge.metadata.labels?.['workload.matrixinfer.ai/revision'];
  assert.notEqual(newRevision, oldRevision);
  assert.equal(surge.metadata.labels?.['workload.matrixinfer.ai/group-index'], '1');
  assert.deepEqual((surge.spec as any).containers[0].args.slice(-2), ['--max-model-len', '4096']);
  // Counted as a Deployment counts: 2 replicas (the surge one included), 1 ready (old), 1 updated (surge).
  const rolling = await until('ModelInfer rolling', async () => {
    const m = await get<ModelInfer>(MODEL_INFERS);
    const s = m?.status;
    return s !== undefined && s.currentRevision === newRevision && s.replicas === 2 && s.readyReplicas === 1 && s.updatedReplicas === 1 ? m : undefined;
  });
  assert.equal(rolling.status?.conditions?.find((c) => c.type === 'Progressing')?.reason, 'Updating');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await get(PODS, `${NAME}-0-server-0`))?.metadata.deletionTimestamp, undefined, 'the old pod stays while the surge pod is not ready');

  // Surge pod ready: the old pod goes, and comes back at the new revision; the surge pod serves meanwhile.
  await markReady(`${NAME}-1-server-0`, '127.0.1.13');
  const replaced = await until('pod replaced', async () => {
    await finishTerminating(`${NAME}-0-server-0`);
    const p = await get(PODS, `${NAME}-0-server-0`);
    return p && p.metadata.uid !== before.metadata.uid && !p.metadata.deletionTimestamp ? p : undefined;
  });
  assert.equal(replaced.metadata.labels?.['workload.matrixinfer.ai/revision'], newRevision);
  assert.deepEqual((replaced.spec as any).containers[0].args.slice(-2), ['--max-model-len', '4096']);
  await until('ModelInfer: the surge pod serves', async () => {
    const m = await get<ModelInfer>(MODEL_INFERS);
    return m?.status?.updatedReplicas === 2 && m.status.readyReplicas === 1;
  });
  assert.equal((await get<Model>(MODELS))?.status?.phase, 'Ready', 'the Model never stopped being Ready');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await get(PODS, `${NAME}-1-server-0`))?.metadata.deletionTimestamp, undefined, 'the surge pod stays while the new pod is not ready');

  // New pod ready: the surge pod goes; one pod at the new revision is left.
  await markReady(`${NAME}-0-server-0`, '127.0.1.11');
  await until('surge pod gone', async () => {
    await finishTerminating(`${NAME}-1-server-0`);
    return (await get(PODS, `${NAME}-1-server-0`)) === undefined;
  });
  // The status converges once the controller's cache has seen the surge pod go (a sync on the stale cache may
  // still count it ready for a moment, as any informer-fed controller's status may).
  const done = await until('rollout complete', async () => {
    const m = await get<ModelInfer>(MODEL_INFERS);
    const complete = m?.status?.conditions?.find((c) => c.type === 'Progressing')?.reason === 'RolloutComplete';
    return complete && m.status?.readyReplicas === 1 ? m : undefined;
  });
  assert.deepEqual([done.status?.replicas, done.status?.readyReplicas, done.status?.updatedReplicas], [1, 1, 1]);
  await until('Model Ready', async () => (await get<Model>(MODELS))?.status?.readyReplicas === 1);
});

test('a deleted child is recreated', async () => {
  for (const rt of [MODEL_SERVERS, MODEL_ROUTES, AUTOSCALING_POLICY_BINDINGS]) {
    const old = (await get(rt))!;
    await client.delete(rt, NS, NAME);
    const again = await until(`${rt.kind} recreated`, async () => {
      const c = await get(rt);
      return c && c.metadata.uid !== old.metadata.uid ? c : undefined;
    });
    assert.equal(again.metadata.ownerReferences?.[0]?.kind, 'Model');
  }
});

test('scaling the Model to 2 replicas creates a second pod group', async () => {
  await client.mergePatch(MODELS, NS, NAME, { spec: { runtime: { replicas: 2 } } });
  const pod = await until('second pod', () => get(PODS, `${NAME}-1-server-0`));
  assert.equal(pod.metadata.labels?.['workload.matrixinfer.ai/group-index'], '1');
  const pods = await client.list(PODS, { namespace: NS, labelSelector: `workload.matrixinfer.ai/modelinfer-name=${NAME}` });
  assert.deepEqual(pods.items.map((p) => p.metadata.name).sort(), [`${NAME}-0-server-0`, `${NAME}-1-server-0`]);
  await markReady(`${NAME}-1-server-0`, '127.0.1.12');
  await until('two ready replicas', async () => (await get<Model>(MODELS))?.status?.readyReplicas === 2);
  await until('two endpoints', async () => (await get<ModelServer>(MODEL_SERVERS))?.status?.readyEndpoints === 2);
});

test('a restarted controller manager changes nothing that is already right', async () => {
  await new Promise((r) => setTimeout(r, 300)); // let in-flight reconciles settle
  // The autoscaler's status is periodic (as the HPA's): wait until it has seen the pods as they are now.
  await until('the binding status current', async () => {
    const ready = (await get<ModelInfer>(MODEL_INFERS))?.status?.readyReplicas;
    return ready !== undefined && (await get<AutoscalingPolicyBinding>(AUTOSCALING_POLICY_BINDINGS))?.status?.readyReplicas === ready;
  });
  const versions = async () =>
    Object.fromEntries(
      await Promise.all(
        [MODELS, ...CHILDREN, SERVICES].map(async (rt) => [rt.kind, (await get(rt))?.metadata.resourceVersion] as const),
      ),
    );
  const podVersions = async () =>
    (await client.list(PODS, { namespace: NS })).items.map((p) => `${p.metadata.name}@${p.metadata.resourceVersion}`).sort();
  const before = await versions();
  const podsBefore = await podVersions();
  await manager.stop();
  manager = await startControllerManager({ kubeConfig: client.kubeConfig, autoscaler: AUTOSCALER, logger: createLogger('controller-manager', 'warn') });
  await new Promise((r) => setTimeout(r, 1000));
  assert.deepEqual(await versions(), before, 'no child or status was rewritten');
  assert.deepEqual(await podVersions(), podsBefore, 'no pod was touched');
});

test('an autoscaled Model leaves ModelInfer replicas to the autoscaler', async () => {
  const seed = parse(readFileSync(new URL('examples/quickstart.yaml', REPO), 'utf8')) as Model;
  seed.metadata.name = 'scaled';
  seed.spec.autoscaling = { minReplicas: 1, maxReplicas: 3 };
  await client.create(MODELS, seed);
  const binding = await until('binding', () => get(AUTOSCALING_POLICY_BINDINGS, 'scaled'));
  assert.deepEqual(binding.spec, { policyRef: { name: 'scaled' }, targetRef: { kind: 'ModelInfer', name: 'scaled' }, minReplicas: 1, maxReplicas: 3 });
  await until('ModelInfer at 1', async () => (await get<ModelInfer>(MODEL_INFERS, 'scaled'))?.spec.replicas === 1);
  // The autoscaler scales the ModelInfer; a later Model change does not undo it.
  await client.mergePatch(MODEL_INFERS, NS, 'scaled', { spec: { replicas: 3 } });
  await client.mergePatch(MODELS, NS, 'scaled', { spec: { serving: { retries: 1 } } });
  await until('ModelServer updated', async () => (await get<ModelServer>(MODEL_SERVERS, 'scaled'))?.spec.routing?.retries === 1);
  await until('three pods', async () => (await client.list(PODS, { namespace: NS, labelSelector: 'workload.matrixinfer.ai/modelinfer-name=scaled' })).items.length === 3);
  assert.equal((await get<ModelInfer>(MODEL_INFERS, 'scaled'))?.spec.replicas, 3);
  await client.delete(MODELS, NS, 'scaled');
});

test('admission rejects an invalid Model; a Model whose child name is taken is Failed', async () => {
  // On a real cluster admission is the webhooks' job (served by the controller manager over TLS; tested with them).
  if (cluster.backend === 'embedded') await assert.rejects(
    client.create(MODELS, {
      apiVersion: 'registry.matrixinfer.ai/v1alpha1',
      kind: 'Model',
      metadata: { name: 'bad', namespace: NS },
      spec: { modelSpec: { modelId: 'b', framework: 'pytorch', version: '1', source: { uri: 'hf://a/b' } }, runtime: { image: 'img' }, autoscaling: { minReplicas: 3, maxReplicas: 2 } },
    }),
    (err: { code?: number; body?: unknown }) => err.code === 422 && String(err.body).includes('spec.autoscaling.minReplicas'),
  );

  await client.create(MODEL_ROUTES, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelRoute',
    metadata: { name: 'taken', namespace: NS },
    spec: { modelName: 'someone-else', rules: [{ targetModels: [{ modelServerName: 'elsewhere' }] }] },
  });
  const seed = parse(readFileSync(new URL('examples/quickstart.yaml', REPO), 'utf8')) as Model;
  seed.metadata.name = 'taken';
  await client.create(MODELS, seed);
  const failed = await until('Model Failed', async () => {
    const m = await get<Model>(MODELS, 'taken');
    return m?.status?.phase === 'Failed' ? m : undefined;
  });
  const synced = failed.status?.conditions?.find((c) => c.type === 'ChildrenSynced');
  assert.equal(synced?.status, 'False');
  assert.match(synced?.message ?? '', /ModelRoute default\/taken already exists and is not controlled by this owner/);
  // The other children were still created.
  await until('its ModelInfer', () => get(MODEL_INFERS, 'taken'));
  await client.delete(MODELS, NS, 'taken');
  await client.delete(MODEL_ROUTES, NS, 'taken');
});

test('deleting the Model garbage-collects its children and pods', async () => {
  await client.delete(MODELS, NS, NAME);
  for (const rt of CHILDREN) await until(`${rt.kind} gone`, async () => (await get(rt)) === undefined);
  await until('pods gone', async () => {
    const pods = await client.list(PODS, { namespace: NS, labelSelector: `workload.matrixinfer.ai/modelinfer-name=${NAME}` });
    for (const p of pods.items) await finishTerminating(p.metadata.name!);
    return pods.items.length === 0;
  });
  await until('Service gone', async () => (await get(SERVICES)) === undefined);
});

test('a second ModelServer with the same routing.path reports the conflict, naming the first; it clears when the first goes', async () => {
  const server = (name: string): ModelServer => ({
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelServer',
    metadata: { name, namespace: NS },
    spec: { modelInferRef: { name: 'nothing' }, service: { port: 8080 }, routing: { path: '/v1/models/shared' } },
  });
  // Created in this order (and, within one second, "path-first" sorts first): the first owns the path.
  await client.create(MODEL_SERVERS, server('path-first'));
  await client.create(MODEL_SERVERS, server('path-second'));
  const conflict = async (name: string) => (await get<ModelServer>(MODEL_SERVERS, name))?.status?.conditions?.find((c) => c.type === 'PathConflict');
  const lost = await until('PathConflict on the second', async () => ((await conflict('path-second'))?.status === 'True' ? conflict('path-second') : undefined));
  assert.equal(lost?.reason, 'PathInUse');
  assert.match(lost?.message ?? '', /already used by the older ModelServer default\/path-first/);
  assert.equal((await until('first reconciled', () => conflict('path-first')))?.status, 'False');
  await client.delete(MODEL_SERVERS, NS, 'path-first');
  await until('the second owns the path', async () => (await conflict('path-second'))?.status === 'False');
  await client.delete(MODEL_SERVERS, NS, 'path-second');
});
