// The admission webhooks on the real kube-apiserver: the controller manager serves them over TLS with a
// certificate it generated (Secret) and patched into the Validating/MutatingWebhookConfigurations (failurePolicy
// Fail). Invalid objects are rejected with the embedded API server's own message (prefixed by kube-apiserver with
// the webhook's name), defaults are the same as the embedded server's, a webhook that is down fails closed, and a
// certificate rotation (CA included) re-patches the CA bundle without a single failed admission.
//
// kube-apiserver reaches webhooks by Service (needs kube-proxy/endpoints: not here) or by URL: these tests use
// `url: https://127.0.0.1:<port>/...`; on clusters the chart uses the Service form (deploy/WEBHOOKS.md).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { AdmissionregistrationV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { KubeObject } from '../../src/api/admission.ts';
import { ALL_KINDS } from '../../src/api/kinds/index.ts';
import { startControllerManager, type ControllerManager } from '../../src/controllers/manager.ts';
import { createLogger } from '../../src/kube/log.ts';
import { projectCrds, startTestApiServer, type TestApiServer } from '../../src/kube/testing/apiserver.ts';
import { until } from '../../src/kube/testing/until.ts';
import { certificatesFromSecretData, splitPem } from '../../src/webhooks/certs.ts';
import { deleteWebhookConfigurations, MUTATING_CONFIGURATION_NAME, VALIDATING_CONFIGURATION_NAME } from '../../src/webhooks/configurations.ts';
import { admissionPlugins } from '../../src/webhooks/plugins.ts';
import { REGISTRY_POLICY_CONFIGMAP } from '../../src/webhooks/policy.ts';
import { defaultingCases, invalidCases } from '../../src/webhooks/testing/cases.ts';
import { kubectl } from '../support/platform.ts';
import { parseExposition, total } from '../support/prom.ts';
import { startRealCluster, type RealCluster } from './harness.ts';

const quiet = createLogger('test', 'silent');
const NS = 'webhooks';

let cluster: RealCluster;
let embedded: TestApiServer;
let manager: ControllerManager | undefined;

function startManager(extra: Record<string, unknown> = {}): Promise<ControllerManager> {
  return startControllerManager({
    kubeConfig: cluster.kubeConfig,
    leaderElection: false,
    namespace: NS,
    logger: quiet,
    webhook: { port: 0, host: '127.0.0.1', url: 'https://127.0.0.1:{port}', checkIntervalMs: 1_000, ...extra },
  });
}

before(async () => {
  [cluster, embedded] = await Promise.all([startRealCluster(), startTestApiServer({ admission: admissionPlugins })]);
  await embedded.installCrds(projectCrds());
  const ns = await cluster.fetch('/api/v1/namespaces', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }) });
  assert.equal(ns.status, 201, await ns.text());
  manager = await startManager();
  // The API server picks the configurations up asynchronously: wait until an invalid object is denied by the webhook.
  const probe = invalidCases()[0]!;
  await until('the validating webhook to be in force', async () => {
    const res = await createOn('real', probe.group, probe.plural, probe.object, true);
    return res.status === 422 && String(res.body.message).includes('admission webhook');
  }, 60_000, 250);
}, { timeout: 180_000 });

after(async () => {
  await manager?.stop();
  await cluster?.stop();
  await embedded?.close();
});

async function createOn(server: 'real' | 'embedded', group: string, plural: string, object: KubeObject, dryRun = false): Promise<{ status: number; body: Record<string, unknown> }> {
  const kind = ALL_KINDS.find((k) => k.group === group && k.plural === plural)!;
  const path = `/apis/${group}/${kind.version}/namespaces/${NS}/${plural}${dryRun ? '?dryRun=All' : ''}`;
  const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(object) };
  if (server === 'real') {
    const res = await cluster.fetch(path, init);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }
  if (!(await fetch(`${embedded.url}/api/v1/namespaces/${NS}`)).ok) {
    await fetch(`${embedded.url}/api/v1/namespaces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }) });
  }
  const res = await fetch(embedded.url + path, init);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('the manager created the certificate Secret and both configurations: Fail, None, v1, its CA bundle', async () => {
  const secret = await cluster.kubeConfig.makeApiClient(CoreV1Api).readNamespacedSecret({ name: 'matrixinfer-webhook-cert', namespace: NS });
  const certs = certificatesFromSecretData(secret.data)!;
  assert.ok(certs, 'certificate Secret');
  assert.equal(secret.type, 'kubernetes.io/tls');
  const api = cluster.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const validating = await api.readValidatingWebhookConfiguration({ name: VALIDATING_CONFIGURATION_NAME });
  const mutating = await api.readMutatingWebhookConfiguration({ name: MUTATING_CONFIGURATION_NAME });
  assert.deepEqual(validating.webhooks!.map((w) => w.name), ['validate.networking.matrixinfer.ai', 'validate.production-stack.vllm.ai', 'validate.registry.matrixinfer.ai', 'validate.workload.matrixinfer.ai']);
  assert.deepEqual(mutating.webhooks!.map((w) => w.name), ['default.networking.matrixinfer.ai', 'default.registry.matrixinfer.ai', 'default.workload.matrixinfer.ai']);
  for (const w of [...validating.webhooks!, ...mutating.webhooks!]) {
    assert.equal(w.failurePolicy, 'Fail');
    assert.equal(w.sideEffects, 'None');
    assert.deepEqual(w.admissionReviewVersions, ['v1']);
    assert.equal(Buffer.from(w.clientConfig.caBundle!, 'base64').toString(), certs.caBundle);
    assert.match(w.clientConfig.url!, /^https:\/\/127\.0\.0\.1:\d+\/(validate|mutate)$/);
  }
});

for (const c of invalidCases()) {
  test(`rejected on the real server with the embedded server's message: ${c.title}`, async () => {
    const inline = await createOn('embedded', c.group, c.plural, c.object);
    assert.equal(inline.status, 422);
    assert.ok(String(inline.body.message).startsWith(c.expect), String(inline.body.message));
    const real = await createOn('real', c.group, c.plural, c.object);
    assert.equal(real.status, 422, JSON.stringify(real.body));
    assert.equal(real.body.reason, 'Invalid');
    assert.equal(real.body.message, `admission webhook "validate.${c.group}" denied the request: ${inline.body.message}`);
    assert.deepEqual(real.body.details, inline.body.details);
  });
}

for (const c of defaultingCases()) {
  test(`defaulted on the real server exactly as inline: ${c.title}`, async () => {
    const real = await createOn('real', c.group, c.plural, c.object);
    assert.equal(real.status, 201, JSON.stringify(real.body));
    assert.equal(c.check(real.body as unknown as KubeObject, true), undefined);
    const inline = await createOn('embedded', c.group, c.plural, c.object);
    assert.equal(inline.status, 201, JSON.stringify(inline.body));
    assert.deepEqual(real.body.spec, inline.body.spec);
  });
}

test("the manager counts the reviews it served, as controller-runtime's webhook series", async () => {
  const exp = parseExposition(await manager!.registry.metrics());
  // Each invalid case was denied by /validate (an answer is HTTP 200 whatever the verdict); each defaulted object went
  // through /mutate, then /validate.
  assert.ok(total(exp, 'controller_runtime_webhook_requests_total', { webhook: '/validate', code: '200' }) >= invalidCases().length + defaultingCases().length);
  assert.ok(total(exp, 'controller_runtime_webhook_requests_total', { webhook: '/mutate', code: '200' }) >= defaultingCases().length);
  assert.equal(total(exp, 'controller_runtime_webhook_latency_seconds_count', { webhook: '/validate' }), total(exp, 'controller_runtime_webhook_requests_total', { webhook: '/validate' }));
});

test('kubectl shows the denial', async () => {
  // Asynchronously: the webhook server runs in this process, a blocked event loop would time the webhook out.
  const c = invalidCases()[2]!;
  const res = await kubectl(cluster.kubeconfigPath, ['-n', NS, 'apply', '-f', '-'], { input: JSON.stringify(c.object) });
  assert.notEqual(res.code, 0);
  // kubectl renders a 422 from its causes, as it does for the embedded server's inline denial.
  assert.equal(res.stderr.trim(), 'The ModelServer "bad-server" is invalid: spec.rateLimit.requestsPerSecond: Required value: required when rateLimit.enabled is true');
});

test('the registry policy ConfigMap in the manager\'s namespace: Models refused through the webhook, naming field and key', async () => {
  const cms = `/api/v1/namespaces/${NS}/configmaps`;
  const created = await cluster.fetch(cms, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: REGISTRY_POLICY_CONFIGMAP }, data: { allowedSchemes: 'hf' } }) });
  assert.equal(created.status, 201, await created.text());
  const object = {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'Model',
    metadata: { name: 'from-s3' },
    spec: { modelSpec: { modelId: 'm', framework: 'pytorch', version: '1', source: { uri: 's3://bucket/llama' } }, runtime: { image: 'vllm/vllm-openai:v0.9.2' } },
  };
  // The manager's informer sees the ConfigMap shortly after it is written.
  const refused = await until('the policy in force', async () => {
    const res = await createOn('real', 'registry.matrixinfer.ai', 'models', object, true);
    return res.status === 422 ? res : undefined;
  }, 30_000, 250);
  assert.equal(refused.body.message, `admission webhook "validate.registry.matrixinfer.ai" denied the request: Model.registry.matrixinfer.ai "from-s3" is invalid: spec.modelSpec.source.uri: Forbidden: scheme s3:// is not allowed by the registry policy's allowedSchemes (ConfigMap ${NS}/${REGISTRY_POLICY_CONFIGMAP}): hf`);
  assert.equal((await cluster.fetch(`${cms}/${REGISTRY_POLICY_CONFIGMAP}`, { method: 'DELETE' })).status, 200);
  const admitted = await until('no policy once the ConfigMap is gone', async () => {
    const res = await createOn('real', 'registry.matrixinfer.ai', 'models', object, true);
    return res.status === 201 ? res : undefined;
  }, 30_000, 250);
  assert.equal((admitted.body.spec as { runtime: { engine?: string } }).runtime.engine, 'vLLM', 'defaulted by the mutating webhook');
});

test('failurePolicy Fail: with the webhook down nothing of ours is admitted; back up, it is', async () => {
  const valid = { ...defaultingCases()[0]!.object, metadata: { name: 'while-down' } };
  await manager!.stop();
  manager = undefined;
  const down = await createOn('real', 'networking.matrixinfer.ai', 'modelservers', valid);
  assert.equal(down.status, 500, JSON.stringify(down.body));
  assert.match(String(down.body.message), /failed calling webhook "default\.networking\.matrixinfer\.ai"/);
  // Kinds the webhooks don't cover are unaffected.
  const cm = await cluster.fetch(`/api/v1/namespaces/${NS}/configmaps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'unaffected' } }) });
  assert.equal(cm.status, 201);
  // A new manager (another port) reuses the Secret's certificate and re-points the configurations.
  const secretBefore = await cluster.kubeConfig.makeApiClient(CoreV1Api).readNamespacedSecret({ name: 'matrixinfer-webhook-cert', namespace: NS });
  manager = await startManager();
  assert.equal(manager.webhook!.certificates().serving.cert, certificatesFromSecretData(secretBefore.data)!.serving.cert);
  const res = await until('admission through the restarted webhook', async () => {
    const r = await createOn('real', 'networking.matrixinfer.ai', 'modelservers', valid);
    return r.status === 201 ? r : undefined;
  }, 30_000, 250);
  assert.equal((res.body.spec as { rateLimit: { burstSize: number } }).rateLimit.burstSize, 20);
});

test('rotation: serving certificate and CA renewed before expiry, CA bundle re-patched, no admission fails meanwhile', async () => {
  // A manager whose certificates live seconds: serving 10 s, CA 24 s, both renewed with a third left (serving at
  // about 7 s and 13 s, CA and serving at 16 s).
  await manager!.stop();
  manager = undefined;
  await deleteWebhookConfigurations(cluster.kubeConfig);
  manager = await startManager({ secretName: 'short-lived-cert', validityMs: 10_000, caValidityMs: 24_000, caPropagationDelayMs: 1_500 });
  const api = cluster.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const bundle = async () => Buffer.from((await api.readValidatingWebhookConfiguration({ name: VALIDATING_CONFIGURATION_NAME })).webhooks![0]!.clientConfig.caBundle!, 'base64').toString();
  const first = manager.webhook!.certificates();
  assert.equal(await bundle(), first.caBundle);
  const probe = invalidCases()[3]!;
  const servingSeen = new Set<string>([first.serving.cert]);
  const bundlesSeen = new Set<string>([first.caBundle]);
  let admissions = 0;
  const deadline = Date.now() + 26_000;
  while (Date.now() < deadline) {
    const res = await createOn('real', probe.group, probe.plural, probe.object, true);
    assert.equal(res.status, 422, `admission failed during rotation: ${JSON.stringify(res.body)}`);
    assert.match(String(res.body.message), /^admission webhook "validate\.networking\.matrixinfer\.ai" denied the request/);
    admissions++;
    servingSeen.add(manager.webhook!.certificates().serving.cert);
    bundlesSeen.add(await bundle());
    await sleep(200);
  }
  const last = manager.webhook!.certificates();
  assert.ok(servingSeen.size >= 3, `serving certificate renewed (${servingSeen.size - 1} times)`);
  assert.notEqual(last.ca.cert, first.ca.cert, 'CA renewed');
  assert.ok(bundlesSeen.size >= 2, 'CA bundle re-patched');
  assert.equal(await bundle(), last.caBundle, 'configuration carries the current bundle');
  assert.ok(splitPem(last.caBundle).some((pem) => pem.trim() === last.ca.cert.trim()));
  const secret = await cluster.kubeConfig.makeApiClient(CoreV1Api).readNamespacedSecret({ name: 'short-lived-cert', namespace: NS });
  assert.equal(certificatesFromSecretData(secret.data)!.serving.cert, last.serving.cert);
  assert.ok(admissions > 20);
});
