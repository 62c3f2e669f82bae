// The webhook transport of the admission plugins, without a real cluster: JSON Patch, certificates and their
// rotation, and the HTTPS server answering AdmissionReviews exactly as the embedded API server answers the same
// objects inline (same Status message, same defaults). The real kube-apiserver calling this server is
// test/cluster/webhooks.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import https from 'node:https';
import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeObject } from '../api/admission.ts';
import { ALL_KINDS } from '../api/kinds/index.ts';
import { createLogger } from '../kube/log.ts';
import { projectCrds, startTestApiServer, type TestApiServer } from '../kube/testing/apiserver.ts';
import { renewCertificates, splitPem, certificatesFromSecretData, certificatesToSecretData } from './certs.ts';
import { desiredMutatingConfiguration, desiredValidatingConfiguration } from './configurations.ts';
import { applyJsonPatch, createJsonPatch } from './jsonpatch.ts';
import { admissionPlugins } from './plugins.ts';
import { reviewAdmission, type AdmissionReview } from './review.ts';
import { startWebhookServer, type WebhookServer } from './server.ts';
import { createReview, defaultingCases, invalidCases } from './testing/cases.ts';

const quiet = createLogger('test', 'silent');

test('JSON Patch: diff then apply gives the target; only what changed is patched', () => {
  const from = { a: 1, b: { c: [1, 2, { d: 'x' }], 'e/f': 1, 'g~h': 2 }, gone: true, list: [1, 2] };
  const to = { a: 1, b: { c: [1, 2, { d: 'y', n: null }], 'e/f': 2, 'g~h': 2, added: { deep: [1] } }, list: [1, 2, 3] };
  const patch = createJsonPatch(from, to);
  assert.deepEqual(applyJsonPatch(from, patch), to);
  assert.deepEqual(
    patch.map((op) => `${op.op} ${op.path}`).sort(),
    ['add /b/added', 'add /b/c/2/n', 'remove /gone', 'replace /b/c/2/d', 'replace /b/e~1f', 'replace /list'].sort(),
  );
  assert.deepEqual(createJsonPatch(from, structuredClone(from)), []);
});

const certOptions = { dnsNames: ['matrixinfer-webhook.ns.svc', 'localhost'], ipAddresses: ['127.0.0.1'] };

test('certificates: a CA and a serving certificate for the Service names and 127.0.0.1, kept until due', () => {
  const { certs, changed } = renewCertificates(undefined, certOptions);
  assert.equal(changed, true);
  const ca = new X509Certificate(certs.ca.cert);
  const serving = new X509Certificate(certs.serving.cert);
  assert.equal(ca.ca, true);
  assert.equal(serving.ca, false);
  assert.ok(serving.checkIssued(ca) && serving.verify(ca.publicKey));
  assert.equal(serving.subjectAltName, 'DNS:matrixinfer-webhook.ns.svc, DNS:localhost, IP Address:127.0.0.1');
  assert.ok(serving.checkPrivateKey(createPrivateKey(certs.serving.key)));
  assert.deepEqual(splitPem(certs.caBundle), [certs.ca.cert.endsWith('\n') ? certs.ca.cert : certs.ca.cert + '\n']);
  // Round trip through a Secret; nothing due, nothing renewed.
  const again = renewCertificates(certificatesFromSecretData(certificatesToSecretData(certs)), certOptions);
  assert.equal(again.changed, false);
  assert.deepEqual(again.certs, certs);
  // A new name to serve: new serving certificate, same CA.
  const renamed = renewCertificates(certs, { ...certOptions, dnsNames: [...certOptions.dnsNames, 'other'] });
  assert.equal(renamed.changed, true);
  assert.equal(renamed.certs.ca.cert, certs.ca.cert);
  assert.notEqual(renamed.certs.serving.cert, certs.serving.cert);
});

test('certificates: rotated before expiry; a rotated CA keeps the old one in the bundle until it expires', () => {
  const short = { ...certOptions, validityMs: 30_000, caValidityMs: 90_000 };
  const t0 = Date.now();
  const first = renewCertificates(undefined, short, t0).certs;
  assert.equal(renewCertificates(first, short, t0 + 10_000).changed, false);
  // 25 s in, 5 s of 30 are left (< a third): a new serving certificate from the same CA.
  const second = renewCertificates(first, short, t0 + 25_000);
  assert.equal(second.changed, true);
  assert.equal(second.certs.ca.cert, first.ca.cert);
  assert.ok(Date.parse(new X509Certificate(second.certs.serving.cert).validTo) > Date.parse(new X509Certificate(first.serving.cert).validTo));
  // 65 s in, the CA has 25 s of 90 left: new CA; the bundle trusts both.
  const third = renewCertificates(second.certs, short, t0 + 65_000);
  assert.notEqual(third.certs.ca.cert, first.ca.cert);
  assert.equal(splitPem(third.certs.caBundle).length, 2);
  assert.ok(new X509Certificate(third.certs.serving.cert).checkIssued(new X509Certificate(third.certs.ca.cert)));
  // Once the old CA has expired it leaves the bundle.
  const fourth = renewCertificates(third.certs, { ...short, caValidityMs: 90_000 }, t0 + 95_000);
  assert.ok(fourth.changed);
  assert.ok(!fourth.certs.caBundle.includes(first.ca.cert.trim()));
});

test('webhook configurations: one webhook per group, Fail, None, v1, the CA bundle, url or Service', () => {
  const validating = desiredValidatingConfiguration({ plugins: admissionPlugins, endpoint: { url: 'https://127.0.0.1:9443' }, caBundle: 'PEM' });
  assert.deepEqual(validating.webhooks!.map((w) => w.name), ['validate.networking.matrixinfer.ai', 'validate.production-stack.vllm.ai', 'validate.registry.matrixinfer.ai', 'validate.workload.matrixinfer.ai']);
  for (const w of validating.webhooks!) {
    assert.equal(w.failurePolicy, 'Fail');
    assert.equal(w.sideEffects, 'None');
    assert.deepEqual(w.admissionReviewVersions, ['v1']);
    assert.equal(w.clientConfig.url, 'https://127.0.0.1:9443/validate');
    assert.equal(Buffer.from(w.clientConfig.caBundle!, 'base64').toString(), 'PEM');
  }
  const registry = validating.webhooks!.find((w) => w.name === 'validate.registry.matrixinfer.ai')!;
  assert.deepEqual(registry.rules![0]!.resources!.sort(), ['autoscalingpolicies', 'autoscalingpolicybindings', 'models']);
  const mutating = desiredMutatingConfiguration({ plugins: admissionPlugins, endpoint: { service: { namespace: 'mi', name: 'matrixinfer-webhook', port: 443 } }, caBundle: 'PEM' });
  assert.deepEqual(mutating.webhooks!.map((w) => [w.name, w.rules![0]!.resources]), [
    ['default.networking.matrixinfer.ai', ['modelservers']],
    ['default.registry.matrixinfer.ai', ['models']],
    ['default.workload.matrixinfer.ai', ['modelinfers']],
  ]);
  assert.deepEqual(mutating.webhooks![0]!.clientConfig.service, { namespace: 'mi', name: 'matrixinfer-webhook', port: 443, path: '/mutate' });
});

// ---------- against the embedded API server ----------

let api: TestApiServer;
let webhook: WebhookServer;
before(async () => {
  api = await startTestApiServer({ admission: admissionPlugins });
  await api.installCrds(projectCrds());
  // The embedded server has no admissionregistration API: only the Secret is managed here.
  webhook = await startWebhookServer({ kubeConfig: api.kubeConfig, namespace: 'default', port: 0, host: '127.0.0.1', manageConfigurations: false, logger: quiet });
});
after(async () => {
  await webhook?.close();
  await api?.close();
});

function post(path: string, body: unknown, ca: string): Promise<{ status: number; body: string; peerCert: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${webhook.url}${path}`, { method: 'POST', ca, servername: 'localhost', headers: { 'content-type': 'application/json' } }, (res) => {
      const socket = res.socket as import('node:tls').TLSSocket;
      const peerCert = socket.getPeerX509Certificate()?.toString() ?? '';
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, peerCert }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}


async function createInline(group: string, plural: string, object: KubeObject): Promise<{ status: number; body: Record<string, unknown> }> {
  const kind = ALL_KINDS.find((k) => k.group === group && k.plural === plural)!;
  const res = await fetch(`${api.url}/apis/${group}/${kind.version}/namespaces/default/${plural}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(object),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('the certificate Secret is created and the server presents its serving certificate', async () => {
  const secret = await api.kubeConfig.makeApiClient(CoreV1Api).readNamespacedSecret({ name: 'matrixinfer-webhook-cert', namespace: 'default' });
  const certs = certificatesFromSecretData(secret.data)!;
  assert.equal(certs.serving.cert, webhook.certificates().serving.cert);
  const res = await post('/validate', createReview(invalidCases()[0]!.object, 'models'), certs.caBundle);
  assert.equal(res.status, 200);
  assert.equal(new X509Certificate(res.peerCert).fingerprint256, new X509Certificate(certs.serving.cert).fingerprint256);
  // A second replica starting against the same Secret serves the same certificate.
  const replica = await startWebhookServer({ kubeConfig: api.kubeConfig, namespace: 'default', port: 0, host: '127.0.0.1', manageConfigurations: false, logger: quiet });
  try {
    assert.equal(replica.certificates().serving.cert, certs.serving.cert);
  } finally {
    await replica.close();
  }
});

for (const c of invalidCases()) {
  test(`denied with the embedded server's own message: ${c.title}`, async () => {
    const inline = await createInline(c.group, c.plural, c.object);
    assert.equal(inline.status, 422, JSON.stringify(inline.body));
    assert.ok(String(inline.body.message).startsWith(c.expect), String(inline.body.message));
    const res = await post('/validate', createReview(c.object, c.plural), webhook.certificates().caBundle);
    assert.equal(res.status, 200);
    const review = JSON.parse(res.body) as AdmissionReview;
    assert.equal(review.apiVersion, 'admission.k8s.io/v1');
    assert.equal(review.kind, 'AdmissionReview');
    assert.equal(review.response!.allowed, false);
    assert.equal(review.response!.status!.code, 422);
    assert.equal(review.response!.status!.reason, 'Invalid');
    assert.equal(review.response!.status!.message, inline.body.message);
    assert.deepEqual(review.response!.status!.details, inline.body.details);
  });
}

for (const c of defaultingCases()) {
  test(`defaulted the same inline and by the webhook: ${c.title}`, async () => {
    const inline = await createInline(c.group, c.plural, c.object);
    assert.equal(inline.status, 201, JSON.stringify(inline.body));
    assert.equal(c.check(inline.body as unknown as KubeObject, true), undefined);
    const request = createReview(c.object, c.plural);
    const res = await post('/mutate', request, webhook.certificates().caBundle);
    const review = JSON.parse(res.body) as AdmissionReview;
    assert.equal(review.response!.allowed, true);
    assert.equal(review.response!.uid, request.request!.uid);
    assert.equal(review.response!.patchType, 'JSONPatch');
    const patched = applyJsonPatch(request.request!.object!, JSON.parse(Buffer.from(review.response!.patch!, 'base64').toString()));
    assert.equal(c.check(patched, false), undefined);
    // Already defaulted: nothing to patch (the defaults are idempotent).
    const again = reviewAdmission({ ...request, request: { ...request.request!, object: patched } }, admissionPlugins, 'mutate');
    assert.equal(again.response!.patch, undefined);
    // And validation passes on the defaulted object.
    assert.equal(reviewAdmission({ ...request, request: { ...request.request!, object: patched } }, admissionPlugins, 'validate').response!.allowed, true);
  });
}

test('malformed reviews get 400, other paths 404, health 200', async () => {
  const ca = webhook.certificates().caBundle;
  assert.equal((await post('/validate', { hello: 1 }, ca)).status, 400);
  assert.equal((await post('/elsewhere', {}, ca)).status, 404);
  // Kinds without a plugin, DELETE and status updates are allowed untouched.
  const review = createReview({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }, 'configmaps');
  const res = JSON.parse((await post('/mutate', review, ca)).body) as AdmissionReview;
  assert.deepEqual(res.response, { uid: review.request!.uid, allowed: true });
});

test('rotation: a due certificate is renewed in the Secret and served without a restart', async () => {
  const rotating = await startWebhookServer({
    kubeConfig: api.kubeConfig,
    namespace: 'default',
    secretName: 'rotating-cert',
    port: 0,
    host: '127.0.0.1',
    manageConfigurations: false,
    validityMs: 6_000,
    caValidityMs: 600_000,
    checkIntervalMs: 3_600_000,
    logger: quiet,
  });
  try {
    const before = rotating.certificates();
    await rotating.sync();
    assert.equal(rotating.certificates().serving.cert, before.serving.cert, 'renewed too early');
    await new Promise((r) => setTimeout(r, 4_500)); // 1.5 s of 6 left: due
    await rotating.sync();
    const after = rotating.certificates();
    assert.notEqual(after.serving.cert, before.serving.cert);
    assert.equal(after.ca.cert, before.ca.cert);
    const secret = await api.kubeConfig.makeApiClient(CoreV1Api).readNamespacedSecret({ name: 'rotating-cert', namespace: 'default' });
    assert.equal(certificatesFromSecretData(secret.data)!.serving.cert, after.serving.cert);
    const res = await new Promise<string>((resolve, reject) => {
      https.get(`${rotating.url}/healthz`, { ca: after.caBundle }, (r) => {
        resolve((r.socket as import('node:tls').TLSSocket).getPeerX509Certificate()!.fingerprint256);
        r.resume();
      }).on('error', reject);
    });
    assert.equal(res, new X509Certificate(after.serving.cert).fingerprint256);
  } finally {
    await rotating.close();
  }
});
