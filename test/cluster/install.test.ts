// The cluster install, on a real kube-apiserver: the Helm chart rendered by the real `helm template` equals the
// committed plain manifests; those pass a server-side dry run and then apply for real (kubectl --server-side); the
// controller manager and the gateway then run exactly as their Deployments say (same args), each authenticated only
// by a token minted through the TokenRequest API for its own ServiceAccount, and do their jobs without a single 403;
// and what they were not granted is really forbidden.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { startRealCluster, type RealCluster } from './harness.ts';
import { helmBinary, helmTemplate, MANIFESTS_FILE, NAMESPACE, renderManifests, REPO, CHART_DIR } from '../../scripts/render-manifests.ts';
import { until } from '../../src/kube/testing/until.ts';
import { freePort } from '../support/platform.ts';

const run = promisify(execFile);
const MANAGER = 'matrixinfer-controller-manager';
const GATEWAY = 'matrixinfer-gateway';

interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: any;
  [k: string]: any;
}

const docsOf = (yaml: string): Doc[] =>
  parseAllDocuments(yaml)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);

/** A component started as a process, with the args of its Deployment's container. */
class Component {
  readonly child: ChildProcess;
  output = '';
  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', join(REPO, 'src/cli/main.ts'), ...args], {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (c: Buffer) => (this.output += c.toString()));
    this.child.stderr!.on('data', (c: Buffer) => (this.output += c.toString()));
  }
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  async stop(): Promise<void> {
    if (!this.running) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

describe('cluster install: Helm chart, plain manifests, least-privilege RBAC', { timeout: 900_000 }, () => {
  let helm: string;
  let cluster: RealCluster;
  const components: Component[] = [];
  let manifests: Doc[];

  const kubectl = (args: string[], token?: string) => {
    const kubeconfig = token ? cluster.kubeConfigFor(token).path : cluster.kubeconfigPath;
    return run('kubectl', ['--kubeconfig', kubeconfig, ...args], { maxBuffer: 64 << 20 });
  };
  const json = async (path: string, init: Parameters<RealCluster['fetch']>[1] = {}) => {
    const res = await cluster.fetch(path, init);
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as any) : undefined };
  };
  /** A token for the ServiceAccount, minted with the TokenRequest API (as the kubelet would project it). */
  const serviceAccountToken = async (name: string) => {
    const res = await json(`/api/v1/namespaces/${NAMESPACE}/serviceaccounts/${name}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } }),
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.status.token as string;
  };
  const containerOf = (deployment: string) => manifests.find((d) => d.kind === 'Deployment' && d.metadata.name === deployment)!.spec.template.spec.containers[0];

  before(async () => {
    helm = helmBinary();
    cluster = await startRealCluster({ crds: false });
  });

  after(async () => {
    for (const c of components) await c.stop();
    await cluster?.stop();
  });

  it('helm lint passes and `helm template` renders exactly the committed manifests', async () => {
    await run(helm, ['lint', CHART_DIR, '--strict']);
    const rendered = renderManifests(helm);
    assert.equal(rendered, readFileSync(MANIFESTS_FILE, 'utf8'), 'deploy/manifests/matrixinfer.yaml is stale: run npm run render');
    manifests = docsOf(rendered);
    // Options render too: one namespace (Roles instead of ClusterRoles), no Secrets, ServiceMonitor.
    const variant = docsOf(helmTemplate(helm, ['--set', 'watchNamespace=team-a,gateway.watchSecrets=false,serviceMonitor.enabled=true']));
    // Cluster-wide, only the webhook configurations (cluster-scoped objects) remain.
    const clusterRoles = variant.filter((d) => d.kind === 'ClusterRole');
    assert.deepEqual(clusterRoles.map((d) => d.metadata.name), [`${MANAGER}-webhook`]);
    assert.ok(clusterRoles[0]!.rules.every((r: { apiGroups: string[] }) => r.apiGroups.join() === 'admissionregistration.k8s.io'));
    // serviceMonitor.enabled scrapes every component the chart runs: the gateway, every manager replica (through
    // its metrics Service, by the scrape label), the engine pods of the watched namespace.
    const monitors = variant.filter((d) => d.kind === 'ServiceMonitor');
    assert.deepEqual(monitors.map((d) => d.metadata.name).sort(), [MANAGER, GATEWAY].sort());
    const managerMonitor = monitors.find((d) => d.metadata.name === MANAGER)!;
    const metricsService = variant.find((d) => d.kind === 'Service' && d.metadata.name === `${MANAGER}-metrics`)!;
    for (const [k, v] of Object.entries(managerMonitor.spec.selector.matchLabels as Record<string, string>)) assert.equal((metricsService.metadata as { labels?: Record<string, string> }).labels?.[k], v, `the manager's ServiceMonitor selects its metrics Service (${k})`);
    assert.deepEqual(managerMonitor.spec.endpoints.map((e: { port: string }) => e.port), ['metrics']);
    const engines = variant.find((d) => d.kind === 'PodMonitor')!;
    assert.deepEqual(engines.spec.namespaceSelector, { matchNames: ['team-a'] });
    assert.deepEqual(engines.spec.podMetricsEndpoints.map((e: { port: string }) => e.port), ['http']);
    const gwRole = variant.find((d) => d.kind === 'Role' && d.metadata.name === GATEWAY)!;
    assert.equal(gwRole.metadata.namespace, 'team-a');
    assert.ok(!gwRole.rules.some((r: { resources: string[] }) => r.resources.includes('secrets')));
    assert.ok(variant.find((d) => d.kind === 'Deployment' && d.metadata.name === GATEWAY)!.spec.template.spec.containers[0].args.includes('--no-watch-secrets'));
    // The dashboard: off by default; on, every manager replica serves it behind a ClusterIP Service of its own.
    assert.ok(!manifests.some((d) => d.kind === 'Service' && d.metadata.name === 'matrixinfer-dashboard'));
    const withDashboard = docsOf(helmTemplate(helm, ['--set', 'controllerManager.dashboard.enabled=true']));
    const dashboard = withDashboard.find((d) => d.kind === 'Service' && d.metadata.name === 'matrixinfer-dashboard')!;
    assert.equal(dashboard.spec.type, 'ClusterIP');
    assert.deepEqual(dashboard.spec.ports, [{ name: 'dashboard', port: 8090, targetPort: 'dashboard', protocol: 'TCP' }]);
    const manager = withDashboard.find((d) => d.kind === 'Deployment' && d.metadata.name === MANAGER)!.spec.template.spec.containers[0];
    assert.ok(manager.args.includes('--dashboard-port=8090') && manager.args.includes('--dashboard-host=0.0.0.0'), manager.args.join(' '));
    assert.ok(manager.ports.some((p: { name: string; containerPort: number }) => p.name === 'dashboard' && p.containerPort === 8090));
  });

  it('the manifests pass a server-side dry run, then apply for real', async () => {
    const file = join(cluster.dir, 'matrixinfer.yaml');
    writeFileSync(file, readFileSync(MANIFESTS_FILE, 'utf8'));
    // Cluster-scoped objects first (namespaced ones cannot be dry-run before their namespace exists): nothing stays.
    const clusterScoped = join(cluster.dir, 'cluster-scoped.yaml');
    const isClusterScoped = (d: Doc) => d.kind === 'CustomResourceDefinition' || d.kind === 'Namespace' || d.kind.startsWith('Cluster');
    writeFileSync(clusterScoped, manifests.filter(isClusterScoped).map((d) => stringify(d)).join('---\n'));
    const dry1 = await kubectl(['apply', '--server-side', '--dry-run=server', '-f', clusterScoped]);
    assert.match(dry1.stdout, /customresourcedefinition.apiextensions.k8s.io\/models.registry.matrixinfer.ai serverside-applied \(server dry run\)/);
    assert.equal((await json('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/models.registry.matrixinfer.ai')).status, 404, 'dry run persisted nothing');
    assert.equal((await json(`/api/v1/namespaces/${NAMESPACE}`)).status, 404);
    // With the manifests' Namespace in place, the whole file dry-runs clean.
    const namespaceFile = join(cluster.dir, 'namespace.yaml');
    writeFileSync(namespaceFile, stringify(manifests.find((d) => d.kind === 'Namespace')));
    await kubectl(['apply', '--server-side', '-f', namespaceFile]);
    const dry2 = await kubectl(['apply', '--server-side', '--dry-run=server', '-f', file]);
    assert.equal(dry2.stdout.trim().split('\n').length, manifests.length, dry2.stdout);
    assert.equal((await json(`/apis/apps/v1/namespaces/${NAMESPACE}/deployments`)).body.items.length, 0, 'dry run persisted nothing');

    const applied = await kubectl(['apply', '--server-side', '-f', file]);
    assert.equal(applied.stdout.trim().split('\n').length, manifests.length, applied.stdout);
    for (const d of manifests) {
      const args = ['get', d.kind.toLowerCase(), d.metadata.name, '-o', 'name', ...(d.metadata.namespace ? ['-n', d.metadata.namespace] : [])];
      assert.ok((await kubectl(args)).stdout.trim(), `${d.kind} ${d.metadata.name} exists`);
    }
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...manifests.filter((d) => d.kind === 'CustomResourceDefinition').map((d) => `crd/${d.metadata.name}`)]);
    // Re-applying is a no-op (the chart renders stable objects).
    const again = await kubectl(['apply', '--server-side', '-f', file]);
    assert.equal(again.stdout.trim().split('\n').length, manifests.length);
  });

  it('the controller manager, with only its ServiceAccount token, deploys a Model: children, pods, status, events, Lease', async () => {
    await withLogOnFailure(() => managerScenario());
  });

  const managerScenario = async () => {
    const token = await serviceAccountToken(MANAGER);
    const { path } = cluster.kubeConfigFor(token);
    const [healthPort, webhookPort, metricsPort, dashboardPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    // As the Deployment runs it, but on loopback ports; this bare kube-apiserver cannot reach Services, so the
    // webhook configurations point at the URL instead (--webhook-url), the rest is the chart's.
    const ports: Record<string, number> = { '--health-port': healthPort, '--webhook-port': webhookPort, '--metrics-port': metricsPort };
    const args = (containerOf(MANAGER).args as string[]).map((a) => {
      const flag = a.split('=')[0]!;
      return ports[flag] !== undefined ? `${flag}=${ports[flag]}` : a;
    });
    assert.ok(args.includes(`--metrics-port=${metricsPort}`), 'the chart serves the metrics');
    args.push('--webhook-host=127.0.0.1', '--metrics-host=127.0.0.1', `--webhook-url=https://127.0.0.1:{port}`);
    // The dashboard too (off in the default chart): its informers list and watch under the same ServiceAccount.
    args.push(`--dashboard-port=${dashboardPort}`, '--dashboard-host=127.0.0.1');
    assert.ok(args.includes(`--lease-namespace=${NAMESPACE}`), 'leader election is on, Lease in the release namespace');
    const manager = new Component([...args, `--kubeconfig=${path}`], { POD_NAMESPACE: NAMESPACE });
    components.push(manager);
    await until('manager /readyz', async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined))?.status === 200, 60_000, 250);
    assert.equal((await fetch(`http://127.0.0.1:${healthPort}/healthz`)).status, 200);
    const lease = await until('manager holds the Lease', async () => {
      const res = await json(`/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/${MANAGER}`);
      return res.status === 200 && res.body.spec?.holderIdentity ? res.body : undefined;
    }, 60_000, 250);
    assert.ok(lease.spec.holderIdentity);
    // The webhook certificate Secret and both configurations, with the CA bundle, written under the SA's RBAC.
    await until('webhook configurations with CA bundle', async () => {
      const v = await json('/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/matrixinfer-validating-webhook');
      const m = await json('/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/matrixinfer-mutating-webhook');
      return v.status === 200 && m.status === 200 && v.body.webhooks?.[0]?.clientConfig?.caBundle && m.body.webhooks?.[0]?.clientConfig?.caBundle;
    }, 60_000, 250);
    assert.equal((await json(`/api/v1/namespaces/${NAMESPACE}/secrets/matrixinfer-webhook-cert`)).status, 200);

    await kubectl(['apply', '-f', join(REPO, 'examples/quickstart.yaml')]);
    const children = [
      '/apis/workload.matrixinfer.ai/v1alpha1/namespaces/default/modelinfers/llama-7b',
      '/apis/networking.matrixinfer.ai/v1alpha1/namespaces/default/modelservers/llama-7b',
      '/apis/networking.matrixinfer.ai/v1alpha1/namespaces/default/modelroutes/llama-7b',
      '/apis/registry.matrixinfer.ai/v1alpha1/namespaces/default/autoscalingpolicies/llama-7b',
      '/apis/registry.matrixinfer.ai/v1alpha1/namespaces/default/autoscalingpolicybindings/llama-7b',
      '/api/v1/namespaces/default/pods/llama-7b-0-server-0',
      '/api/v1/namespaces/default/services/llama-7b',
    ];
    for (const child of children) await until(child, async () => (await json(child)).status === 200, 60_000, 250);
    const pod = (await json('/api/v1/namespaces/default/pods/llama-7b-0-server-0')).body;
    // The engine opens the node cache entry the download step fills (src/registry/contract.ts).
    assert.deepEqual(pod.spec.containers[0].args, ['/var/lib/matrixinfer/models/Llama-2-7b-hf-09d7a57727f4', '--served-model-name', 'llama-7b', '--host', '0.0.0.0', '--port', '8000']);
    // The download step reports with an identity of its own, whose token only it mounts; the engine gets none.
    assert.equal(pod.spec.initContainers[0].image, 'matrixinfer/downloader:0.1.0', 'the chart\'s downloader image');
    assert.equal(pod.spec.serviceAccountName, 'matrixinfer-model-download');
    assert.equal(pod.spec.automountServiceAccountToken, false);
    const mounts = (c: { volumeMounts?: { mountPath: string }[] }) => (c.volumeMounts ?? []).map((m) => m.mountPath);
    assert.ok(mounts(pod.spec.initContainers[0]).includes('/var/run/secrets/kubernetes.io/serviceaccount'));
    assert.ok(!mounts(pod.spec.containers[0]).includes('/var/run/secrets/kubernetes.io/serviceaccount'), 'no token in the engine');
    const roleBinding = (await json('/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/matrixinfer-model-download')).body;
    assert.deepEqual(roleBinding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'matrixinfer-model-download' });
    const canI = async (verb: string, namespace: string) => {
      const review = await json('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: { user: 'system:serviceaccount:default:matrixinfer-model-download', groups: ['system:serviceaccounts'], resourceAttributes: { namespace, verb, resource: 'pods' } },
        }),
      });
      return review.body.status?.allowed === true;
    };
    assert.deepEqual([await canI('patch', 'default'), await canI('delete', 'default'), await canI('patch', NAMESPACE)], [true, false, false], 'patch its namespace\'s pods, nothing more');
    // Status subresources are patched (the Model's and the children's).
    await until('Model status', async () => (await json('/apis/registry.matrixinfer.ai/v1alpha1/namespaces/default/models/llama-7b')).body?.status?.observedGeneration === 1, 60_000, 250);
    await until('ModelServer status', async () => (await json(children[1]!)).body?.status?.observedGeneration !== undefined, 60_000, 250);
    await until('ModelInfer status', async () => (await json(children[0]!)).body?.status?.observedGeneration !== undefined, 60_000, 250);
    // The ModelInfer controller deletes pods too: a pod deleted by hand is recreated (uid changes).
    const uid = pod.metadata.uid;
    await kubectl(['delete', 'pod', 'llama-7b-0-server-0', '--grace-period=0', '--force', '--wait=false']);
    await until('pod recreated', async () => {
      const p = await json('/api/v1/namespaces/default/pods/llama-7b-0-server-0');
      return p.status === 200 && p.body.metadata.uid !== uid && !p.body.metadata.deletionTimestamp;
    }, 60_000, 250);
    // The autoscaler's decision for the quickstart's binding on the manager's /metrics.
    await until('the binding on /metrics', async () => {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      return text.includes('matrixinfer_autoscaler_desired_replicas{namespace="default",binding="llama-7b"}');
    }, 60_000, 250);
    // The dashboard's API shows the Model and its pod from its own informers.
    const dashboardModel = await until('the Model on the dashboard', async () => {
      const res = await fetch(`http://127.0.0.1:${dashboardPort}/api/v1/models/default/llama-7b`).catch(() => undefined);
      const body = res?.status === 200 ? ((await res.json()) as { model: { version: string }; pods: { name: string }[] }) : undefined;
      return body && body.pods.length > 0 ? body : undefined;
    }, 60_000, 250);
    assert.equal(dashboardModel.model.version, '1.0.0');
    assert.deepEqual(dashboardModel.pods.map((p) => p.name), ['llama-7b-0-server-0']);
    // Events are recorded (and counted up: create, then patch) by the manager.
    await until('Model events', async () => {
      const events = (await json('/api/v1/namespaces/default/events')).body.items as Array<{ involvedObject: { kind: string; name: string }; reportingComponent?: string; reason: string }>;
      return events.some((e) => e.involvedObject.kind === 'Model' && e.reason === 'Created' && e.reportingComponent === MANAGER);
    }, 60_000, 250);
    assert.ok(manager.running, manager.output);
    assert.doesNotMatch(manager.output, /\b403\b|forbidden/i, `no authorization failure in the manager's log:\n${manager.output}`);
  };

  /** On failure, show the output of the components started so far. */
  const withLogOnFailure = async (fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (error) {
      const logs = components.map((c) => c.output.split('\n').slice(-40).join('\n')).join('\n---\n');
      if (error instanceof Error) error.message += `\ncomponent logs (last lines):\n${logs}`;
      throw error;
    }
  };

  it('the gateway, with only its ServiceAccount token, watches routes, servers, ModelInfers, pods, StaticRoutes and secrets', () => withLogOnFailure(async () => {
    const token = await serviceAccountToken(GATEWAY);
    const { path } = cluster.kubeConfigFor(token);
    const port = await freePort();
    const args = (containerOf(GATEWAY).args as string[]).map((a) =>
      a.startsWith('--port=') ? `--port=${port}` : a.startsWith('--host=') ? '--host=127.0.0.1' : a,
    );
    const gateway = new Component([...args, `--kubeconfig=${path}`]);
    components.push(gateway);
    // /ready is 503 until every informer (routes, servers, ModelInfers, pods, StaticRoutes, TLS and API-key secrets) has listed.
    await until('gateway /ready', async () => (await fetch(`http://127.0.0.1:${port}/ready`).catch(() => undefined))?.status === 200, 60_000, 250);
    await until('llama-7b in /v1/models', async () => {
      const res = await fetch(`http://127.0.0.1:${port}/v1/models`);
      const body = (await res.json()) as { data?: Array<{ id: string }> };
      return body.data?.some((m) => m.id === 'llama-7b');
    }, 60_000, 250);
    assert.ok(gateway.running, gateway.output);
    assert.doesNotMatch(gateway.output, /\b403\b|forbidden/i, `no authorization failure in the gateway's log:\n${gateway.output}`);
  }));

  it('what the ServiceAccounts were not granted is forbidden', async () => {
    const manager = await serviceAccountToken(MANAGER);
    const gateway = await serviceAccountToken(GATEWAY);
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'intruder', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };
    const post = (path: string, token: string, body: unknown) =>
      json(path, { method: 'POST', token, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const cases: Array<[string, Promise<{ status: number }>, number]> = [
      ['gateway creates a pod', post('/api/v1/namespaces/default/pods', gateway, pod), 403],
      ['gateway reads a secret by name', json('/api/v1/namespaces/default/secrets/x', { token: gateway }), 403],
      ['gateway lists models', json('/apis/registry.matrixinfer.ai/v1alpha1/models', { token: gateway }), 403],
      ['gateway writes a route status', json('/apis/networking.matrixinfer.ai/v1alpha1/namespaces/default/modelroutes/llama-7b/status', { method: 'PATCH', token: gateway, headers: { 'content-type': 'application/merge-patch+json' }, body: '{"status":{}}' }), 403],
      ['gateway lists secrets (granted: TLS and API keys)', json('/api/v1/secrets', { token: gateway }), 200],
      ['gateway lists ModelInfers (granted: replicas, for starts from zero)', json('/apis/workload.matrixinfer.ai/v1alpha1/modelinfers', { token: gateway }), 200],
      ['gateway lists StaticRoutes (granted: backends it serves)', json('/apis/production-stack.vllm.ai/v1alpha1/staticroutes', { token: gateway }), 200],
      ['gateway writes a StaticRoute status', json('/apis/production-stack.vllm.ai/v1alpha1/namespaces/default/staticroutes/absent/status', { method: 'PATCH', token: gateway, headers: { 'content-type': 'application/merge-patch+json' }, body: '{"status":{}}' }), 403],
      ['gateway reads a ModelInfer scale (granted; absent: 404)', json('/apis/workload.matrixinfer.ai/v1alpha1/namespaces/default/modelinfers/absent/scale', { token: gateway }), 404],
      ['gateway patches a ModelInfer scale (granted: the 0→1 step; absent: 404)', json('/apis/workload.matrixinfer.ai/v1alpha1/namespaces/default/modelinfers/absent/scale', { method: 'PATCH', token: gateway, headers: { 'content-type': 'application/merge-patch+json' }, body: '{"spec":{"replicas":1}}' }), 404],
      ['gateway patches a ModelInfer spec', json('/apis/workload.matrixinfer.ai/v1alpha1/namespaces/default/modelinfers/llama-7b', { method: 'PATCH', token: gateway, headers: { 'content-type': 'application/merge-patch+json' }, body: '{"spec":{"replicas":3}}' }), 403],
      ['gateway reads a ModelInfer by name', json('/apis/workload.matrixinfer.ai/v1alpha1/namespaces/default/modelinfers/llama-7b', { token: gateway }), 403],
      ['gateway deletes a ModelInfer', json('/apis/workload.matrixinfer.ai/v1alpha1/namespaces/default/modelinfers/llama-7b', { method: 'DELETE', token: gateway }), 403],
      ['manager lists secrets', json('/api/v1/secrets', { token: manager }), 403],
      ['manager reads another secret in its namespace', json(`/api/v1/namespaces/${NAMESPACE}/secrets/other`, { token: manager }), 403],
      ['manager deletes a webhook configuration', json('/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/matrixinfer-validating-webhook', { method: 'DELETE', token: manager }), 403],
      ['manager lists nodes', json('/api/v1/nodes', { token: manager }), 403],
      ['manager deletes a service', json('/api/v1/namespaces/default/services/llama-7b', { method: 'DELETE', token: manager }), 403],
      ['manager updates a Model spec', json('/apis/registry.matrixinfer.ai/v1alpha1/namespaces/default/models/llama-7b', { method: 'PATCH', token: manager, headers: { 'content-type': 'application/merge-patch+json' }, body: '{"spec":{"runtime":{"replicas":3}}}' }), 403],
      ['manager creates a Deployment', post('/apis/apps/v1/namespaces/default/deployments', manager, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' } }), 403],
      ['manager creates a Lease in another namespace', post('/apis/coordination.k8s.io/v1/namespaces/default/leases', manager, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'x' } }), 403],
      ['manager updates another Lease', json(`/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/other`, { method: 'PUT', token: manager, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'other' } }) }), 403],
      ['manager edits its own RBAC', json(`/apis/rbac.authorization.k8s.io/v1/clusterroles/${MANAGER}`, { method: 'PATCH', token: manager, headers: { 'content-type': 'application/merge-patch+json' }, body: '{"rules":[]}' }), 403],
    ];
    for (const [what, response, want] of cases) assert.equal((await response).status, want, what);
  });
});
