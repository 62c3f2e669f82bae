// A ModelServer's Service leads to the gateway, never around it (issue 9 §2), on a real control plane: etcd +
// kube-apiserver + the garbage collector, our controller manager as a child process with the gateway flags the
// chart renders (deploy/manifests/matrixinfer.yaml), and the node agent as the kubelet of the engine pod and of a
// gateway pod.
//
// The gateway pod is the chart's gateway container (image matrixinfer/gateway, its args, ports and readiness
// probe) with the chart's labels in the chart's namespace, run by the node agent as `matrixinfer gateway`. It uses
// the host network, and the agent's node address is a non-loopback address of this machine: kube-apiserver refuses
// 127.0.0.0/8 addresses in EndpointSlices, so the agent's loopback pod IPs cannot stand for a gateway pod. A second
// gateway pod is an object only, bound to a node no agent serves, its status written by the test as a kubelet
// would; its address is listed, never dialled. Traffic goes where kube-proxy would send it: to an address and port
// of the Service's EndpointSlice, with the Service's name as Host. Only addresses of this machine are connected to.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { startNodeAgent, type NodeAgent } from '../../src/agent/agent.ts';
import { MODELINFER_NAME_LABEL } from '../../src/api/labels.ts';
import { API_KEYS_LABEL } from '../../src/gateway/auth/apikey.ts';
import { MAIN, REPO, freePort, memoryLogger, stopProcess, until } from '../support/platform.ts';
import { startRealCluster, type RealCluster } from './harness.ts';

const NODE = 'engine-node';
/** The node the gateway pods are bound to: no agent serves it, so the test plays its kubelet. */
const GATEWAY_NODE = 'gateway-node';
const NS = 'default';
const PROMETHEUS_NS = 'monitoring';
const PROMETHEUS_SELECTOR = 'app.kubernetes.io/name=prometheus';
const SERVICE_PORT = 8080;
const ENGINE_PORT = 8000;

type Obj = { metadata: { name: string; namespace?: string; labels?: Record<string, string>; deletionTimestamp?: string; ownerReferences?: { kind: string; name: string; controller?: boolean }[] }; spec?: any; status?: any };
type Slice = Obj & { endpoints?: { addresses: string[]; targetRef?: { kind: string; name: string; namespace: string } }[]; ports?: { name: string; port: number; protocol: string }[] };

/** A non-loopback IPv4 address of this machine (the gateway listens there; nothing else is ever dialled). */
function localAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal && !a.address.startsWith('127.')) return a.address;
  }
  return undefined;
}
const GATEWAY_IP = localAddress();

/** What the chart renders: the gateway pods' labels and namespace, and the controller manager's gateway flags. */
function chart(): { namespace: string; labels: Record<string, string>; container: Record<string, any>; flags: string[]; managerLabels: Record<string, string> } {
  const docs = parseAllDocuments(readFileSync(join(REPO, 'deploy/manifests/matrixinfer.yaml'), 'utf8')).map((d) => d.toJS() as Obj & { kind?: string } | null);
  const deployment = (component: string) => docs.find((d) => d?.kind === 'Deployment' && d.metadata.labels?.['app.kubernetes.io/component'] === component)!;
  const gw = deployment('gateway');
  const cm = deployment('controller-manager');
  const args = (cm.spec.template.spec.containers as { args: string[] }[])[0]!.args;
  return {
    namespace: gw.metadata.namespace!,
    labels: gw.spec.template.metadata.labels as Record<string, string>,
    container: (gw.spec.template.spec.containers as Record<string, any>[])[0]!,
    flags: args.filter((a) => a.startsWith('--gateway-') || a.startsWith('--controller-manager-') || a === '--engine-network-policy'),
    managerLabels: cm.spec.template.metadata.labels as Record<string, string>,
  };
}

let cluster: RealCluster;
let manager: ChildProcess | undefined;
let agent: NodeAgent | undefined;
let gwContainer: Record<string, any> = {};
const home = mkdtempSync(join(tmpdir(), 'matrixinfer-msvc-agent-'));
const agentLog: string[] = [];
let gwNamespace = '';
let gwLabels: Record<string, string> = {};
let managerLabels: Record<string, string> = {};
let gwPort = 0;
let gwTlsPort = 0;

async function call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<any> {
  const res = await cluster.fetch(path, { method, ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': contentType } } : {}) });
  const text = await res.text();
  if (res.status >= 300) throw Object.assign(new Error(`${method} ${path}: HTTP ${res.status}: ${text}`), { status: res.status });
  return text ? JSON.parse(text) : {};
}
const get = (path: string) => call('GET', path).catch((err: { status?: number }) => (err.status === 404 ? undefined : Promise.reject(err)));

async function gatewayPod(name: string, ip: string): Promise<void> {
  await call('POST', `/api/v1/namespaces/${gwNamespace}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: gwLabels },
    spec: { nodeName: GATEWAY_NODE, containers: [{ name: 'gateway', image: 'matrixinfer/gateway:0.1.0', args: ['gateway', `--port=${gwPort}`], ports: [{ name: 'http', containerPort: gwPort }] }] },
  });
  await setReady(name, ip, true);
}

async function setReady(name: string, ip: string, ready: boolean): Promise<void> {
  await call('PATCH', `/api/v1/namespaces/${gwNamespace}/pods/${name}/status`, {
    status: {
      phase: 'Running',
      hostIP: ip,
      hostIPs: [{ ip }],
      podIP: ip,
      podIPs: [{ ip }],
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: new Date().toISOString() }],
    },
  }, 'application/merge-patch+json');
}

async function slice(name: string): Promise<Slice | undefined> {
  return get(`/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices/${name}-gateway`);
}
const sliceTargets = (s: Slice | undefined) => (s?.endpoints ?? []).map((e) => `${e.targetRef?.namespace}/${e.targetRef?.name}@${e.addresses.join(',')}`);

/** One HTTP request to `address:port` as kube-proxy would deliver it: the Host header names the Service. */
function send(address: string, port: number, host: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = request({ host: address, port, method: 'POST', path, headers: { host, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Does a NetworkPolicy peer admit `pod` (in a namespace with `nsLabels`), for a policy in namespace `policyNs`? */
function peerAdmits(peer: { namespaceSelector?: { matchLabels?: Record<string, string> }; podSelector?: { matchLabels?: Record<string, string> } }, pod: Obj, nsLabels: Record<string, string>, policyNs: string): boolean {
  const matches = (sel: { matchLabels?: Record<string, string> } | undefined, labels: Record<string, string>) =>
    Object.entries(sel?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  if (peer.namespaceSelector) { if (!matches(peer.namespaceSelector, nsLabels)) return false; } else if (pod.metadata.namespace !== policyNs) return false;
  return matches(peer.podSelector, pod.metadata.labels ?? {});
}

const skip = GATEWAY_IP ? false : 'no non-loopback IPv4 address on this machine for the gateway pod (kube-apiserver refuses 127.0.0.0/8 in EndpointSlices)';

before(async () => {
  if (skip) return;
  const rendered = chart();
  gwNamespace = rendered.namespace;
  gwLabels = rendered.labels;
  managerLabels = rendered.managerLabels;
  gwContainer = rendered.container;
  [gwPort, gwTlsPort] = [await freePort(), await freePort()];
  cluster = await startRealCluster();

  // The controller manager with the chart's flags (gateway namespace, selector, engine NetworkPolicies), this
  // test's gateway ports and a Prometheus to admit.
  const flags = rendered.flags.map((f) => (f.startsWith('--gateway-port=') ? `--gateway-port=${gwPort}` : f.startsWith('--gateway-tls-port=') ? `--gateway-tls-port=${gwTlsPort}` : f));
  assert.ok(flags.includes(`--gateway-namespace=${gwNamespace}`) && flags.includes('--engine-network-policy') && flags.includes(`--controller-manager-namespace=${gwNamespace}`), flags.join(' '));
  const log = createWriteStream(join(cluster.dir, 'controller-manager.log'));
  manager = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN, 'controller-manager', '--kubeconfig', cluster.kubeconfigPath, '--no-leader-elect',
    ...flags, `--prometheus-namespace=${PROMETHEUS_NS}`, `--prometheus-selector=${PROMETHEUS_SELECTOR}`], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  manager.stdout!.pipe(log);
  manager.stderr!.pipe(log);

  agent = await startNodeAgent({ kubeConfig: cluster.kubeConfig, home, nodeName: NODE, nodeIP: GATEWAY_IP!, maxGracePeriodSeconds: 3, log: memoryLogger(agentLog) });
  await call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: gwNamespace } });
});

after(async () => {
  await agent?.stop();
  if (manager) await stopProcess(manager, 10_000);
  await cluster?.stop();
  rmSync(home, { recursive: true, force: true });
});

test('a ModelServer Service leads to the ready gateway pods only; through it, requests are authenticated and rate limited', { skip }, async () => {
  // gw-0: the chart's gateway container, with this test's ports and a kubeconfig (no in-cluster credentials
  // here), run by the node agent on the host network. The agent runs `matrixinfer gateway <args> --host <podIP>`
  // and reports it Ready when the chart's readiness probe (/ready: every watch listed) passes.
  const ports = (args: string[]) => args.map((a) => a.replace(/^--port=\d+$/, `--port=${gwPort}`).replace(/^--tls-port=\d+$/, `--tls-port=${gwTlsPort}`));
  assert.equal(gwContainer.image.split(':')[0], 'matrixinfer/gateway');
  await call('POST', `/api/v1/namespaces/${gwNamespace}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'gw-0', labels: gwLabels },
    spec: {
      hostNetwork: true,
      terminationGracePeriodSeconds: 3,
      volumes: [{ name: 'tmp', emptyDir: {} }],
      containers: [{
        ...gwContainer,
        args: ports(gwContainer.args),
        ports: [{ name: 'http', containerPort: gwPort, protocol: 'TCP' }, { name: 'https', containerPort: gwTlsPort, protocol: 'TCP' }],
        env: [{ name: 'KUBECONFIG', value: cluster.kubeconfigPath }],
      }],
    },
  });
  const gw0 = await until('gw-0 run by the node agent and Ready', async () => {
    const p = await get(`/api/v1/namespaces/${gwNamespace}/pods/gw-0`);
    return p?.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
  }, 120_000, 250);
  assert.equal(gw0.spec.nodeName, NODE);
  assert.equal(gw0.status.podIP, GATEWAY_IP);
  assert.ok(agentLog.some((l) => l.includes(`pod ${gwNamespace}/gw-0 container gateway (gateway)`)), agentLog.join('\n'));
  // gw-1: a second replica (an object only) that will turn unready and go away.
  const otherIP = GATEWAY_IP!.replace(/\.(\d+)$/, (_, d: string) => `.${Number(d) === 254 ? 253 : Number(d) + 1}`);
  await gatewayPod('gw-1', otherIP);

  // The engine: a ModelInfer whose pod the node agent runs (simulated engine on a loopback pod IP, port 8000).
  await call('POST', `/apis/workload.matrixinfer.ai/v1alpha1/namespaces/${NS}/modelinfers`, {
    apiVersion: 'workload.matrixinfer.ai/v1alpha1',
    kind: 'ModelInfer',
    metadata: { name: 'sim' },
    spec: {
      replicas: 1,
      roles: [{
        name: 'server',
        replicas: 1,
        template: { spec: { containers: [{
          name: 'engine',
          image: 'vllm/vllm-openai:latest',
          args: ['sim-model', '--port', String(ENGINE_PORT), '--time-to-first-token-ms', '1', '--inter-token-latency-ms', '1'],
          ports: [{ name: 'http', containerPort: ENGINE_PORT, protocol: 'TCP' }],
          readinessProbe: { httpGet: { path: '/health', port: ENGINE_PORT }, periodSeconds: 1 },
        }] } },
      }],
    },
  });
  await call('POST', `/api/v1/namespaces/${NS}/secrets`, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'llm-keys', labels: { [API_KEYS_LABEL]: 'true' } },
    data: { alice: Buffer.from('sk-alice-123').toString('base64') },
  });
  // No targetPort: the gateway reaches the engine on the pod's containerPort, whatever the Service's port is.
  const server = (name: string, extra: Record<string, unknown>) => call('POST', `/apis/networking.matrixinfer.ai/v1alpha1/namespaces/${NS}/modelservers`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelServer',
    metadata: { name },
    spec: { modelInferRef: { name: 'sim' }, model: 'sim-model', service: { type: 'ClusterIP', port: SERVICE_PORT }, ...extra },
  });
  await server('secure', {
    routing: { path: '/v1/models/secure' },
    authentication: { enabled: true, type: 'apiKey', config: { secretName: 'llm-keys' } },
    rateLimit: { enabled: true, requestsPerSecond: 1, burstSize: 3 },
  });
  await server('secure-tls', { tls: { enabled: true, secretName: 'absent' } });

  // The Service: no selector, its one port named as the gateway's and pointing at it.
  const svc = await until('the Service', () => get(`/api/v1/namespaces/${NS}/services/secure`), 60_000, 250);
  assert.equal(svc.spec.selector, undefined, 'a selector would lead around the gateway');
  assert.equal(svc.spec.type, 'ClusterIP');
  assert.match(svc.spec.clusterIP, /^10\.0\.0\.\d+$/);
  assert.deepEqual(svc.spec.ports, [{ name: 'http', protocol: 'TCP', port: SERVICE_PORT, targetPort: gwPort }]);
  assert.ok(svc.metadata.ownerReferences?.some((o: { kind: string; name: string; controller?: boolean }) => o.kind === 'ModelServer' && o.name === 'secure' && o.controller));

  // Its EndpointSlice: exactly the ready gateway pods, on the gateway's port.
  const both = await until('the slice lists both gateway pods', async () => {
    const s = await slice('secure');
    return sliceTargets(s).length === 2 ? s : undefined;
  }, 60_000, 250);
  assert.deepEqual(sliceTargets(both), [`${gwNamespace}/gw-0@${GATEWAY_IP}`, `${gwNamespace}/gw-1@${otherIP}`]);
  assert.equal(both!.metadata.labels?.['kubernetes.io/service-name'], 'secure');
  assert.deepEqual(both!.ports, [{ name: 'http', protocol: 'TCP', port: gwPort }]);
  // A tls.enabled ModelServer's Service leads to the gateway's TLS port.
  const tls = await until('the TLS slice', async () => { const s = await slice('secure-tls'); return sliceTargets(s).length === 2 ? s : undefined; }, 60_000, 250);
  assert.deepEqual(tls!.ports, [{ name: 'https', protocol: 'TCP', port: gwTlsPort }]);
  assert.equal((await get(`/api/v1/namespaces/${NS}/services/secure-tls`)).spec.ports[0].name, 'https');

  // gw-1 turns unready: it leaves the slice. Ready again: back. Deleted (terminating: no kubelet confirms it on
  // its node, so it keeps its deletionTimestamp): it leaves again.
  await setReady('gw-1', otherIP, false);
  await until('unready gw-1 gone from the slice', async () => sliceTargets(await slice('secure')).join() === `${gwNamespace}/gw-0@${GATEWAY_IP}`, 30_000, 250);
  await setReady('gw-1', otherIP, true);
  await until('ready gw-1 back', async () => sliceTargets(await slice('secure')).length === 2, 30_000, 250);
  await call('DELETE', `/api/v1/namespaces/${gwNamespace}/pods/gw-1`);
  const terminating = await get(`/api/v1/namespaces/${gwNamespace}/pods/gw-1`);
  assert.ok(terminating?.metadata.deletionTimestamp, 'gw-1 is terminating, not gone');
  assert.equal(terminating.status.conditions.find((c: { type: string }) => c.type === 'Ready').status, 'True', 'still reports Ready while terminating');
  const final = await until('terminating gw-1 gone from the slice', async () => { const s = await slice('secure'); return sliceTargets(s).join() === `${gwNamespace}/gw-0@${GATEWAY_IP}` ? s : undefined; }, 30_000, 250);

  // The engine pod runs; no endpoints of the Service lead to it.
  const enginePods = await until('the engine pod ready', async () => {
    const list = await call('GET', `/api/v1/namespaces/${NS}/pods?labelSelector=${encodeURIComponent(`${MODELINFER_NAME_LABEL}=sim`)}`);
    const ready = (list.items as Obj[]).filter((p) => p.status?.podIP && p.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True'));
    return ready.length === 1 ? ready : undefined;
  }, 120_000, 250);
  const engineIPs = enginePods.map((p) => p.status.podIP as string);
  const slices = await call('GET', `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices?labelSelector=${encodeURIComponent('kubernetes.io/service-name=secure')}`);
  const listed = (slices.items as Slice[]).flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses));
  assert.deepEqual(listed, [GATEWAY_IP]);
  for (const ip of engineIPs) assert.ok(!listed.includes(ip), `engine pod IP ${ip} in the Service's endpoints`);
  const endpoints = await get(`/api/v1/namespaces/${NS}/endpoints/secure`);
  const legacy = JSON.stringify(endpoints?.subsets ?? []);
  for (const ip of engineIPs) assert.ok(!legacy.includes(ip), `engine pod IP ${ip} in the Service's Endpoints`);

  // Traffic as kube-proxy delivers it: to the slice's address and the port named like the Service's port.
  const address = final!.endpoints![0]!.addresses[0]!;
  const port = final!.ports!.find((p) => p.name === svc.spec.ports[0].name)!.port;
  const host = `secure.${NS}.svc.cluster.local:${SERVICE_PORT}`;
  const infer = (headers: Record<string, string> = {}) => send(address, port, host, '/v1/models/secure/infer', { inputs: { text: 'Hello through the Service' }, parameters: { max_tokens: 2 } }, headers);
  const key = { authorization: 'Bearer sk-alice-123' };

  assert.equal((await infer()).status, 401, 'no credentials');
  assert.equal((await infer({ authorization: 'Bearer sk-wrong' })).status, 401, 'a wrong key');
  const ok = await until('an authenticated request answered by the engine', async () => {
    const r = await infer(key);
    return r.status === 200 ? r : undefined;
  }, 60_000, 500);
  const answer = JSON.parse(ok.body) as { model_name: string; outputs: { text: string }; usage: { completion_tokens: number } };
  assert.equal(answer.model_name, 'sim-model');
  assert.equal(answer.usage.completion_tokens, 2);

  // The bucket (1/s, burst 3) refills, then a burst of 6: the first three pass, the rest are 429.
  await new Promise((r) => setTimeout(r, 3_500));
  const started = Date.now();
  const results: { status: number; headers: Record<string, string | string[] | undefined>; body: string }[] = [];
  for (let i = 0; i < 6; i++) results.push(await infer(key));
  const elapsed = (Date.now() - started) / 1000;
  const statuses = results.map((r) => r.status);
  assert.deepEqual(statuses.slice(0, 3), [200, 200, 200], statuses.join());
  const admitted = statuses.filter((s) => s === 200).length;
  assert.ok(admitted <= 3 + Math.ceil(elapsed), `${admitted} admitted in ${elapsed}s: ${statuses}`);
  const limited = results.find((r) => r.status === 429);
  assert.ok(limited, `past the burst: ${statuses}`);
  assert.equal(limited.headers['retry-after'], '1');
  assert.equal((JSON.parse(limited.body) as { error: { code: string } }).error.code, 'rate_limited');
  // Unauthenticated requests are refused before the limiter and cost nothing.
  assert.equal((await infer()).status, 401);
});

test('the engine NetworkPolicy admits the gateway pods, Prometheus and the ModelInfer\'s own pods, and the controller manager on the engine port only', { skip }, async () => {
  const policy = await until('the NetworkPolicy', () => get(`/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies/sim-engine`), 60_000, 250);
  assert.ok(policy.metadata.ownerReferences?.some((o: { kind: string; name: string; controller?: boolean }) => o.kind === 'ModelInfer' && o.name === 'sim' && o.controller));
  assert.deepEqual(policy.spec.policyTypes, ['Ingress']);

  // Its podSelector selects exactly the ModelInfer's pods (listed by the API server with that selector).
  const selector = Object.entries(policy.spec.podSelector.matchLabels as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(',');
  assert.deepEqual(policy.spec.podSelector, { matchLabels: { [MODELINFER_NAME_LABEL]: 'sim' } });
  const selected = (await call('GET', `/api/v1/namespaces/${NS}/pods?labelSelector=${encodeURIComponent(selector)}`)).items as Obj[];
  const own = (await call('GET', `/api/v1/namespaces/${NS}/pods`)).items as Obj[];
  assert.ok(selected.length >= 1);
  assert.deepEqual(selected.map((p) => p.metadata.name).sort(), own.filter((p) => p.metadata.ownerReferences?.some((o) => o.kind === 'ModelInfer' && o.name === 'sim')).map((p) => p.metadata.name).sort());

  // Two ingress rules: no ports (every port) from three peers; the engine port from the controller-manager pods.
  assert.equal(policy.spec.ingress.length, 2);
  assert.equal(policy.spec.ingress[0].ports, undefined);
  const from = policy.spec.ingress[0].from as Parameters<typeof peerAdmits>[0][];
  assert.deepEqual(from, [
    { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': gwNamespace } }, podSelector: { matchLabels: gwLabels } },
    { podSelector: { matchLabels: { [MODELINFER_NAME_LABEL]: 'sim' } } },
    { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': PROMETHEUS_NS } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } } },
  ]);

  const mi = await call('GET', `/apis/workload.matrixinfer.ai/v1alpha1/namespaces/${NS}/modelinfers/sim`);
  const enginePort = mi.spec.roles[0].template.spec.containers[0].ports?.[0]?.containerPort ?? 8000;
  assert.deepEqual(policy.spec.ingress[1], {
    from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': gwNamespace } }, podSelector: { matchLabels: managerLabels } }],
    ports: [{ protocol: 'TCP', port: enginePort }],
  });
  const managerPeer = policy.spec.ingress[1].from[0] as Parameters<typeof peerAdmits>[0];

  // Evaluated against real objects: the gateway pod (its namespace's labels as the API server set them) and the
  // engine pods are admitted; a pod in the gateway namespace without the gateway labels, or a pod of another
  // ModelInfer, or a Prometheus-labelled pod elsewhere, is not.
  const ns = await call('GET', `/api/v1/namespaces/${gwNamespace}`);
  const nsLabels = ns.metadata.labels as Record<string, string>;
  const defaultLabels = (await call('GET', `/api/v1/namespaces/${NS}`)).metadata.labels as Record<string, string>;
  const admitted = (pod: Obj, labels: Record<string, string>) => from.some((peer) => peerAdmits(peer, pod, labels, NS));
  const gw0 = await call('GET', `/api/v1/namespaces/${gwNamespace}/pods/gw-0`);
  assert.ok(admitted(gw0, nsLabels), 'the gateway pod');
  for (const pod of selected) assert.ok(admitted(pod, defaultLabels), `engine pod ${pod.metadata.name}`);
  assert.ok(!admitted({ metadata: { name: 'x', namespace: gwNamespace, labels: { app: 'other' } } }, nsLabels), 'another pod in the gateway namespace');
  assert.ok(!admitted({ metadata: { name: 'y', namespace: NS, labels: { [MODELINFER_NAME_LABEL]: 'other' } } }, defaultLabels), "another ModelInfer's pod");
  assert.ok(!admitted({ metadata: { name: 'z', namespace: NS, labels: { ...gwLabels, 'app.kubernetes.io/name': 'prometheus' } } }, defaultLabels), 'gateway or Prometheus labels outside their namespaces');
  assert.ok(peerAdmits(managerPeer, { metadata: { name: 'cm', namespace: gwNamespace, labels: managerLabels } }, nsLabels, NS), 'a controller-manager pod (engine port)');
  assert.ok(!admitted({ metadata: { name: 'cm', namespace: gwNamespace, labels: managerLabels } }, nsLabels), 'the controller manager on other ports');
  assert.ok(!peerAdmits(managerPeer, { metadata: { name: 'cm', namespace: NS, labels: managerLabels } }, defaultLabels, NS), 'controller-manager labels elsewhere');

  // Clean up the terminating gateway pod nothing will confirm.
  await call('DELETE', `/api/v1/namespaces/${gwNamespace}/pods/gw-1?gracePeriodSeconds=0`).catch(() => {});
});
