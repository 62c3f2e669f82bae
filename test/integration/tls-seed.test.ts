// The seed's "LoadBalancer with Rate Limiting" ModelServer (tls.enabled, secretName model-server-tls) on the
// platform as `matrixinfer up` starts it: the Secret made with `kubectl create secret tls` from an openssl
// certificate, the seed example applied unchanged with a ModelInfer for it, then HTTPS to the gateway's TLS port
// with SNI. Also: the ModelServer's Service leads to the gateway (a selector-less Service and an EndpointSlice
// with the gateway's address and TLS port), and a plain-HTTP request for that ModelServer is refused (426).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { freePort, kubectl, run, startPlatform, stopProcess, until } from '../support/platform.ts';
import { needs } from '../support/system.ts';

const home = mkdtempSync(join(tmpdir(), 'matrixinfer-tls-'));
const env = { ...process.env, MATRIXINFER_HOME: home };
const kubeconfig = join(home, 'kubeconfig');
const SEED = 'examples/seeds/modelserver-loadbalancer-ratelimit.yaml';
let platform: ReturnType<typeof startPlatform> | undefined;
let httpPort = 0;
let tlsPort = 0;

const MODEL_INFER = `
apiVersion: workload.matrixinfer.ai/v1alpha1
kind: ModelInfer
metadata: {name: production-model-infer, namespace: production}
spec:
  roles:
    - name: server
      template:
        spec:
          containers:
            - name: engine
              image: matrixinfer/engine:latest
              args: [production, --served-model-name, production, --host, 0.0.0.0, --port, "8000"]
              ports: [{name: http, containerPort: 8000}]
              readinessProbe: {httpGet: {path: /health, port: 8000}, periodSeconds: 1}
`;

/** A self-signed certificate for `names` (the first is the CN), written as PEM files. */
async function certificate(dir: string, names: string[]): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${names[0]}.crt`);
  const key = join(dir, `${names[0]}.key`);
  const r = await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`, '-keyout', key, '-out', cert]);
  assert.equal(r.code, 0, r.stderr);
  return { cert, key };
}

/** HTTPS request to the TLS port with `servername` as SNI; resolves with the status, body and server certificate. */
function https(servername: string, path: string, body: string | undefined, ca?: string): Promise<{ status: number; body: string; cert: PeerCertificate }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: tlsPort, servername, path, method: body ? 'POST' : 'GET', headers: { 'content-type': 'application/json', host: servername }, ...(ca ? { ca } : { rejectUnauthorized: false }) },
      (res) => {
        const cert = (res.socket as TLSSocket).getPeerCertificate();
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, cert }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const fingerprint = (pemFile: string): string => new X509Certificate(readFileSync(pemFile)).fingerprint256;
const INFER = JSON.stringify({ inputs: { text: 'Hello world' }, parameters: { max_tokens: 4 } });

// What the seed's users run: kubectl for the Secret, openssl for the certificate, curl as a client.
describe('TLS as shipped, with the seed example', { skip: needs('kubectl', 'openssl', 'curl') }, () => {
  before(async () => {
    httpPort = await freePort();
    tlsPort = await freePort();
    platform = startPlatform(
      ['--gateway-port', String(httpPort), '--gateway-tls-port', String(tlsPort), '--gateway-grpc-port', String(await freePort()), '--apiserver-port', String(await freePort()), '--controller-manager-metrics-port', String(await freePort()), '--dashboard-port', String(await freePort())],
      env,
    );
    await platform.up;
    assert.match(platform.output(), new RegExp(`HTTPS: https://127\\.0\\.0\\.1:${tlsPort}`));
  });

  after(async () => {
    if (platform) await stopProcess(platform.child);
    rmSync(home, { recursive: true, force: true });
  });

  test('the seed LoadBalancer example serves HTTPS with the certificate of its Secret, chosen by SNI', async () => {
    // A second TLS ModelServer, older, so its certificate is the default one: SNI must pick the seed's.
    const other = await certificate(home, ['other.example.com']);
    let r = await kubectl(kubeconfig, ['create', 'secret', 'tls', 'other-tls', '--cert', other.cert, '--key', other.key]);
    assert.equal(r.code, 0, r.stderr);
    writeFileSync(join(home, 'other.yaml'), 'apiVersion: networking.matrixinfer.ai/v1alpha1\nkind: ModelServer\nmetadata: {name: other}\nspec:\n  modelInferRef: {name: none}\n  service: {port: 443}\n  tls: {enabled: true, secretName: other-tls}\n');
    r = await kubectl(kubeconfig, ['apply', '-f', join(home, 'other.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // creation timestamps have a resolution of 1 s

    const seed = await certificate(home, ['models.example.com']);
    assert.equal((await kubectl(kubeconfig, ['create', 'namespace', 'production'])).code, 0);
    r = await kubectl(kubeconfig, ['-n', 'production', 'create', 'secret', 'tls', 'model-server-tls', '--cert', seed.cert, '--key', seed.key]);
    assert.equal(r.code, 0, r.stderr);
    r = await kubectl(kubeconfig, ['apply', '-f', SEED]);
    assert.equal(r.code, 0, r.stderr);
    // The seed sets no targetPort (its port 443 is the Service's, which leads to the gateway): the gateway reaches
    // the engine below on its containerPort 8000.
    r = await kubectl(kubeconfig, ['-n', 'production', 'get', 'modelserver', 'public-model-server', '-o', 'jsonpath={.spec.service}']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { targetPort?: number }).targetPort, undefined, 'admission leaves targetPort unset');
    r = await kubectl(kubeconfig, ['apply', '-f', '-'], { input: MODEL_INFER });
    assert.equal(r.code, 0, r.stderr);

    // The certificate's own name, verified against it as the CA (curl --resolve works the same way).
    const verified = await until('an HTTPS infer answered', async () => {
      const res = await https('models.example.com', '/v1/models/production/infer', INFER, readFileSync(seed.cert, 'utf8')).catch(() => undefined);
      return res?.status === 200 ? res : undefined;
    }, 60_000, 250);
    assert.equal((JSON.parse(verified.body) as { model_name: string }).model_name, 'production');
    assert.equal(verified.cert.fingerprint256, fingerprint(seed.cert));
    const curl = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', seed.cert, '--resolve', `models.example.com:${tlsPort}:127.0.0.1`, `https://models.example.com:${tlsPort}/v1/models/production`]);
    if (curl.code !== 127) assert.equal(curl.stdout, '200', curl.stderr);

    // The ModelServer's Service names select its certificate too, and the other server keeps its own.
    for (const name of ['public-model-server.production', 'public-model-server.production.svc', 'public-model-server.production.svc.cluster.local']) {
      assert.equal((await https(name, '/v1/models/production', undefined)).cert.fingerprint256, fingerprint(seed.cert), name);
    }
    assert.equal((await https('other.example.com', '/v1/models', undefined)).cert.fingerprint256, fingerprint(other.cert));

    // A new certificate in the Secret is served to new connections without a restart.
    const renewed = await certificate(home, ['models.example.com', 'renewed.example.com']);
    r = await kubectl(kubeconfig, ['-n', 'production', 'create', 'secret', 'tls', 'model-server-tls', '--cert', renewed.cert, '--key', renewed.key, '--dry-run=client', '-o', 'yaml']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await kubectl(kubeconfig, ['apply', '-f', '-'], { input: r.stdout })).code, 0);
    await until('the renewed certificate served', async () => (await https('models.example.com', '/v1/models/production', undefined)).cert.fingerprint256 === fingerprint(renewed.cert) || undefined, 15_000, 200);
  });

  test('plain HTTP to a tls.enabled ModelServer is refused with 426 tls_required', async () => {
    const res = await fetch(`http://127.0.0.1:${httpPort}/v1/models/production/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: INFER });
    assert.equal(res.status, 426);
    const body = (await res.json()) as { error: { code: string; type: string } };
    assert.equal(body.error.code, 'tls_required');
    assert.equal(body.error.type, 'invalid_request_error');
  });

  test("the ModelServer's Service leads to the gateway's TLS port, not to the engine pods", async () => {
    const svc = JSON.parse((await kubectl(kubeconfig, ['-n', 'production', 'get', 'service', 'public-model-server', '-o', 'json'])).stdout) as { spec: { type: string; selector?: unknown; ports: unknown[] }; metadata: { annotations: Record<string, string> } };
    assert.equal(svc.spec.type, 'LoadBalancer');
    assert.equal(svc.spec.selector, undefined);
    assert.equal(svc.metadata.annotations['service.beta.kubernetes.io/aws-load-balancer-type'], 'nlb');
    assert.deepEqual((svc.spec.ports[0] as { name: string; port: number; targetPort: number }), { ...(svc.spec.ports[0] as object), name: 'https', port: 443, targetPort: tlsPort });
    const slices = await until('the EndpointSlice', async () => {
      const r = await kubectl(kubeconfig, ['-n', 'production', 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=public-model-server']);
      return r.code === 0 && r.stdout.includes('127.0.0.1') ? r.stdout : undefined;
    }, 15_000, 250);
    assert.match(slices, new RegExp(`public-model-server-gateway\\s+IPv4\\s+${tlsPort}\\s+127\\.0\\.0\\.1\\s`));
    const ms = JSON.parse((await kubectl(kubeconfig, ['-n', 'production', 'get', 'modelserver', 'public-model-server', '-o', 'json'])).stdout) as { status: { serviceEndpoint: string } };
    assert.equal(ms.status.serviceEndpoint, 'https://public-model-server.production.svc:443/v1/models/production');
  });
});
