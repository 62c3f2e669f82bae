// Traffic policy end to end: the embedded API server with the project CRDs, a real simulated engine on its own
// loopback "pod IP", and the gateway. Authentication with JWTs signed by keys made here and served as a JWKS by a
// small local HTTP server (rotated mid-test), API keys in real Secrets, local request and token limits, token
// accounting on streams (byte-for-byte what the client would get from the engine), and the TLS listener with a
// self-signed certificate made by the openssl CLI, rotated through its Secret.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createHash, X509Certificate } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { startTestApiServer, projectCrds, type TestApiServer } from '../../src/kube/testing/apiserver.ts';
import { startEngine, type EngineServer } from '../../src/engine/server.ts';
import { parseEngineArgs } from '../../src/engine/options.ts';
import { startGateway, type GatewayHandle } from '../../src/gateway/gateway.ts';
import { until } from '../../src/kube/testing/until.ts';
import { API_KEYS_LABEL } from '../../src/gateway/auth/apikey.ts';
import { readyPod } from '../support/pods.ts';
import { generateCA, issueServingCertificate } from '../../src/webhooks/certs.ts';

const NET = '/apis/networking.matrixinfer.ai/v1alpha1/namespaces/default';
const ENGINE_IP = '127.0.0.51';
const DEAD_IP = '127.0.0.59';
const ISSUER = 'https://auth.test';
const AUDIENCE = 'matrixinfer-api';

let api: TestApiServer;
let engine: EngineServer;
let gw: GatewayHandle;
let jwks: Server;
let jwksUrl: string;
let idpBase: string;
let served: { keys: JWK[] } = { keys: [] };
let jwksFetches = 0;
const accessLog: Array<Record<string, unknown>> = [];

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
let key1: KeyPair;
let key2: KeyPair;
let jwk1: JWK;
let jwk2: JWK;

async function server(name: string, spec: Record<string, unknown>, inferName = 'sim'): Promise<void> {
  await api.call('POST', `${NET}/modelservers`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelServer',
    metadata: { name },
    spec: { modelInferRef: { name: inferName }, model: 'sim-model', service: { port: engine.port }, ...spec },
  });
}

async function route(name: string, model: string, serverName: string, rateLimit?: Record<string, unknown>): Promise<void> {
  await api.call('POST', `${NET}/modelroutes`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelRoute',
    metadata: { name },
    spec: { modelName: model, rules: [{ targetModels: [{ modelServerName: serverName }] }], ...(rateLimit ? { rateLimit } : {}) },
  });
}

function b64(s: string | Buffer): string {
  return Buffer.from(s).toString('base64');
}

async function chat(model: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}): Promise<Response> {
  return fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 4, ...extra }),
  });
}

async function status(res: Response): Promise<number> {
  await res.arrayBuffer();
  return res.status;
}

function token(key: KeyPair, kid: string, claims: Record<string, unknown> = {}, opts: { exp?: number | string; nbf?: number | string; iss?: string; aud?: string } = {}): Promise<string> {
  const jwt = new SignJWT({ ...claims }).setProtectedHeader({ alg: 'RS256', kid }).setSubject('alice@example.com').setIssuedAt();
  jwt.setIssuer(opts.iss ?? ISSUER).setAudience(opts.aud ?? AUDIENCE).setExpirationTime(opts.exp ?? '5m');
  if (opts.nbf !== undefined) jwt.setNotBefore(opts.nbf);
  return jwt.sign(key.privateKey);
}

/** A serving certificate for `cn` (and gw.test, 127.0.0.1) from a CA of its own; `ca` is what a client trusts. */
function servingCertificate(cn: string): { cert: string; key: string; ca: string } {
  const ca = generateCA(`${cn} CA`);
  return { ...issueServingCertificate(ca, [cn, 'gw.test'], ['127.0.0.1']), ca: ca.cert };
}

let cert1: { cert: string; key: string; ca: string };
let cert2: { cert: string; key: string; ca: string };

before(async () => {
  api = await startTestApiServer();
  await api.installCrds(projectCrds());
  engine = await startEngine(
    parseEngineArgs(['sim-model', '--host', ENGINE_IP, '--port', '0', '--time-to-first-token-ms', '1', '--inter-token-latency-ms', '1', '--inter-token-latency-per-seq-ms', '0'], { warn: () => {} }),
  );

  key1 = await generateKeyPair('RS256', { extractable: true });
  key2 = await generateKeyPair('RS256', { extractable: true });
  jwk1 = { ...(await exportJWK(key1.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  jwk2 = { ...(await exportJWK(key2.publicKey)), kid: 'k2', alg: 'RS256', use: 'sig' };
  served = { keys: [jwk1] };
  jwks = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (req.url === '/.well-known/openid-configuration') {
      res.end(JSON.stringify({ issuer: idpBase, jwks_uri: `${idpBase}/oidc-keys.json` }));
      return;
    }
    if (req.url === '/oidc-keys.json') {
      res.end(JSON.stringify({ keys: [jwk1] }));
      return;
    }
    jwksFetches++;
    res.end(JSON.stringify(served));
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  idpBase = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}`;
  jwksUrl = `${idpBase}/jwks.json`;

  cert1 = servingCertificate('one.gw.test');
  cert2 = servingCertificate('two.gw.test');

  const log = new PassThrough();
  log.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line) accessLog.push(JSON.parse(line) as Record<string, unknown>);
  });
  gw = await startGateway({ kubeConfig: api.kubeConfig, port: 0, tlsPort: 0, accessLog: log, log: () => {}, scrapeIntervalMs: 0 });
  await gw.ready;

  await readyPod(api, 'sim-0', 'sim', ENGINE_IP);
  await readyPod(api, 'dead-0', 'dead', DEAD_IP);
  await api.call('POST', '/api/v1/namespaces/default/secrets', {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'llm-keys', labels: { [API_KEYS_LABEL]: 'true' } },
    data: { alice: b64('sk-alice-123'), bob: b64(`sha256:${createHash('sha256').update('sk-bob-456').digest('hex')}`) },
  });
  await api.call('POST', '/api/v1/namespaces/default/secrets', {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'gw-tls' },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64(cert1.cert), 'tls.key': b64(cert1.key) },
  });

  await server('open-server', {});
  await route('open', 'open-model', 'open-server');
  await server('tls-server', { tls: { enabled: true, secretName: 'gw-tls' } });
  await route('secure', 'secure-model', 'tls-server');
  await server('jwt-server', {
    routing: { path: '/v1/models/secure' },
    authentication: { enabled: true, type: 'jwt', config: { issuer: ISSUER, audience: AUDIENCE, jwksUri: jwksUrl, jwksCacheDuration: '1s' } },
  });
  await route('jwt', 'jwt-model', 'jwt-server');
  // Like the seed example: issuer and audience only; keys found through OpenID discovery.
  await server('oidc-server', { authentication: { enabled: true, type: 'jwt', config: { issuer: idpBase, audience: AUDIENCE } } });
  await route('oidc', 'oidc-model', 'oidc-server');
  await server('key-server', {
    routing: { path: '/v1/models/keyed' },
    authentication: { enabled: true, type: 'apiKey', config: { secretName: 'llm-keys' } },
  });
  await route('key', 'key-model', 'key-server');
  await route('per-user', 'per-user-model', 'key-server', { perUser: { outputTokensPerUnit: 10 }, unit: 'hour' });
  await server('rps-server', { rateLimit: { enabled: true, requestsPerSecond: 1, burstSize: 3 } });
  await route('rps', 'rps-model', 'rps-server');
  await route('tokens', 'tokens-model', 'open-server', { inputTokensPerUnit: 200, outputTokensPerUnit: 30, unit: 'hour' });
  await server('dead-server', { rateLimit: { enabled: true, requestsPerSecond: 1, burstSize: 2 }, routing: { path: '/v1/models/dead', retries: 0 } }, 'dead');
  await route('dead', 'dead-model', 'dead-server', { inputTokensPerUnit: 10, unit: 'hour' });
  await until('every route served', async () => {
    const res = await fetch(`${gw.url}/v1/models`);
    const ids = ((await res.json()) as { data: { id: string }[] }).data.map((m) => m.id);
    return ['open-model', 'oidc-model', 'jwt-model', 'key-model', 'per-user-model', 'rps-model', 'tokens-model', 'dead-model'].every((m) => ids.includes(m));
  });
  await until('the open model answering', async () => { const r = await chat('open-model'); const t = await r.text(); if (r.status !== 200) throw new Error(`${r.status} ${t}`); return true; });
});

after(async () => {
  await gw?.close();
  await engine?.close();
  await new Promise<void>((r) => (jwks ? jwks.close(() => r()) : r()));
  await api?.close();
});

// ---- JWT -------------------------------------------------------------------------------------------------------

test('jwt: a valid token passes and names the user in the access log', async () => {
  const t = await token(key1, 'k1');
  const res = await chat('jwt-model', { authorization: `Bearer ${t}`, 'x-request-id': 'jwt-ok' });
  assert.equal(res.status, 200, await res.clone().text());
  await res.arrayBuffer();
  const line = await until('the access log line', async () => accessLog.find((l) => l.request_id === 'jwt-ok'));
  assert.equal(line.user, 'alice@example.com');
  // The seed path of the same ModelServer is protected too.
  const meta = await fetch(`${gw.url}/v1/models/secure`);
  assert.equal(await status(meta), 401);
  const metaOk = await fetch(`${gw.url}/v1/models/secure`, { headers: { authorization: `Bearer ${t}` } });
  assert.equal(await status(metaOk), 200);
});

test('jwt: missing, expired, not yet valid, wrong audience/issuer, alg none, bad signature and HMAC are refused', async () => {
  const now = Math.floor(Date.now() / 1000);
  const wrongKey = await generateKeyPair('RS256');
  const bad: Array<[string, string | undefined]> = [
    ['missing', undefined],
    ['expired', await token(key1, 'k1', {}, { exp: now - 600 })],
    ['not yet valid', await token(key1, 'k1', {}, { nbf: now + 600 })],
    ['wrong audience', await token(key1, 'k1', {}, { aud: 'someone-else' })],
    ['wrong issuer', await token(key1, 'k1', {}, { iss: 'https://evil.test' })],
    ['alg none', new UnsecuredJWT({ sub: 'mallory' }).setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('5m').encode()],
    ['bad signature', await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('mallory').setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('5m').sign(wrongKey.privateKey)],
    ['hmac', await new SignJWT({}).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).setSubject('mallory').setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('5m').sign(new TextEncoder().encode('x'.repeat(32)))],
    ['no exp', await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('mallory').setIssuer(ISSUER).setAudience(AUDIENCE).sign(key1.privateKey)],
    ['garbage', 'not.a.jwt'],
  ];
  for (const [what, t] of bad) {
    const res = await chat('jwt-model', t ? { authorization: `Bearer ${t}` } : {});
    assert.equal(res.status, 401, what);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="matrixinfer"/, what);
    const body = (await res.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'unauthorized', what);
  }
});

test('jwt: a rotated key (new kid) is accepted once the JWKS serves it', async () => {
  const t2 = await token(key2, 'k2', {}, {});
  assert.equal(await status(await chat('jwt-model', { authorization: `Bearer ${t2}` })), 401, 'unknown kid before rotation');
  const fetchesBefore = jwksFetches;
  served = { keys: [jwk2] };
  await until(
    'the new key accepted',
    async () => (await status(await chat('jwt-model', { authorization: `Bearer ${t2}` }))) === 200,
    10_000,
  );
  assert.ok(jwksFetches > fetchesBefore, 'the JWKS was fetched again');
  // The old key is gone from the JWKS: once the cache refreshes, its tokens fail.
  const t1 = await token(key1, 'k1');
  await until('the removed key refused', async () => (await status(await chat('jwt-model', { authorization: `Bearer ${t1}` }))) === 401);
});

test('jwt: keys found through OpenID discovery when only the issuer is configured', async () => {
  const t = await token(key1, 'k1', {}, { iss: idpBase });
  assert.equal(await status(await chat('oidc-model', { authorization: `Bearer ${t}` })), 200);
  const other = await token(key1, 'k1', {}, { iss: ISSUER });
  assert.equal(await status(await chat('oidc-model', { authorization: `Bearer ${other}` })), 401, 'issuer mismatch');
});

// ---- API keys ----------------------------------------------------------------------------------------------

test('api keys from a Secret: plain and sha256 entries, wrong and missing keys refused, updates take effect', async () => {
  assert.equal(await status(await chat('key-model')), 401);
  assert.equal(await status(await chat('key-model', { authorization: 'Bearer sk-wrong' })), 401);
  const ok = await chat('key-model', { authorization: 'Bearer sk-alice-123', 'x-request-id': 'key-alice' });
  assert.equal(await status(ok), 200);
  assert.equal(await status(await chat('key-model', { authorization: 'Bearer sk-bob-456' })), 200);
  const line = await until('the access log line', async () => accessLog.find((l) => l.request_id === 'key-alice'));
  assert.equal(line.user, 'alice');
  // The seed path of the server (POST P/infer) needs the key too.
  const infer = (headers: Record<string, string>) =>
    fetch(`${gw.url}/v1/models/keyed/infer`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ inputs: { text: 'Hi' }, parameters: { max_tokens: 3 } }) });
  assert.equal(await status(await infer({})), 401);
  assert.equal(await status(await infer({ authorization: 'Bearer sk-bob-456' })), 200);
  // Alice's key is removed from the Secret: refused without a restart.
  await api.call('PATCH', '/api/v1/namespaces/default/secrets/llm-keys', { data: { alice: null } }, 'application/merge-patch+json');
  await until('alice refused', async () => (await status(await chat('key-model', { authorization: 'Bearer sk-alice-123' }))) === 401);
  assert.equal(await status(await chat('key-model', { authorization: 'Bearer sk-bob-456' })), 200);
  await api.call('PATCH', '/api/v1/namespaces/default/secrets/llm-keys', { data: { alice: b64('sk-alice-123') } }, 'application/merge-patch+json');
  await until('alice back', async () => (await status(await chat('key-model', { authorization: 'Bearer sk-alice-123' }))) === 200);
});

// ---- limits ------------------------------------------------------------------------------------------------

test('requests per second with burst: 429 with retry-after past the burst', async () => {
  const results: number[] = [];
  const started = Date.now();
  for (let i = 0; i < 8; i++) results.push(await status(await chat('rps-model')));
  const elapsed = (Date.now() - started) / 1000;
  const admitted = results.filter((s) => s === 200).length;
  assert.ok(admitted >= 3 && admitted <= 3 + Math.ceil(elapsed), `${admitted} admitted in ${elapsed}s: ${results}`);
  assert.ok(results.includes(429));
  const res = await chat('rps-model');
  if (res.status === 429) {
    assert.equal(res.headers.get('retry-after'), '1');
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'rate_limited');
  } else await res.arrayBuffer();
  const metrics = await (await fetch(`${gw.url}/metrics`)).text();
  const m = /matrixinfer_gateway_rate_limited_total\{model="rps-model",limit="requests"\} (\d+)/.exec(metrics);
  assert.ok(m && Number(m[1]) >= 1, 'rejections counted in /metrics');
});

test('quota is not consumed by requests that never reach an engine', async () => {
  // burst 2, and input 10 tokens/hour: without refunds the third request (and the second prompt) would be 429.
  for (let i = 0; i < 5; i++) {
    const res = await chat('dead-model');
    const body = (await res.json()) as { error: { code: string } };
    assert.notEqual(res.status, 429, `request ${i}: ${JSON.stringify(body)}`);
    assert.ok(res.status === 502 || res.status === 503, `request ${i}: ${res.status}`);
  }
});

/** Stream a chat completion; returns the raw SSE text. */
async function streamText(model: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}): Promise<{ status: number; text: string }> {
  const res = await chat(model, headers, { stream: true, ...extra });
  return { status: res.status, text: await res.text() };
}

function completionTokensOf(sse: string): number {
  // Content chunks: one token each (the simulated engine streams one token per chunk).
  return sse.split('\n').filter((l) => l.startsWith('data: {') && l.includes('"delta":{"content"')).length;
}

test('output tokens per route, counted from streams the client did not ask usage for', async () => {
  // 30 output tokens per hour; each stream produces up to 8. Admitted while the bucket is not exhausted.
  let used = 0;
  let rejectedAt = -1;
  for (let i = 0; i < 10; i++) {
    const r = await streamText('tokens-model', {}, { max_tokens: 8, messages: [{ role: 'user', content: 'Hi' }] });
    if (r.status === 429) {
      rejectedAt = used;
      break;
    }
    assert.equal(r.status, 200);
    assert.ok(!r.text.includes('"usage"'), 'the client did not ask for usage and gets none');
    used += completionTokensOf(r.text);
  }
  assert.ok(rejectedAt >= 30, `rejected after ${rejectedAt} output tokens`);
  assert.ok(rejectedAt < 30 + 8, `rejected after ${rejectedAt} output tokens`);
});

test('per-user output tokens: one user exhausted, another still served', async () => {
  const alice = { authorization: 'Bearer sk-alice-123' };
  const bob = { authorization: 'Bearer sk-bob-456' };
  let aliceRejected = false;
  for (let i = 0; i < 6 && !aliceRejected; i++) {
    const res = await chat('per-user-model', alice, { max_tokens: 4 });
    if (res.status === 429) {
      aliceRejected = true;
      assert.ok(Number(res.headers.get('retry-after')) > 60, `retry-after ${res.headers.get('retry-after')}`);
      assert.match(((await res.json()) as { error: { message: string } }).error.message, /output token rate limit for this user/);
    } else assert.equal(await status(res), 200);
  }
  assert.ok(aliceRejected, 'alice reached her limit');
  assert.equal(await status(await chat('per-user-model', bob, { max_tokens: 4 })), 200);
});

// ---- token accounting ----------------------------------------------------------------------------------------

function normalize(sse: string): string {
  return sse.replace(/"id":"[^"]*"/g, '"id":"X"').replace(/"created":\d+/g, '"created":0');
}

test('stream accounting: the client receives exactly what the engine would send it; usage lands in the access log', async () => {
  const body = { model: 'sim-model', messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 6, stream: true };
  const direct = await (
    await fetch(`http://${ENGINE_IP}:${engine.port}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  ).text();
  const r = await streamText('open-model', { 'x-request-id': 'acct-stream' }, { messages: body.messages, max_tokens: 6 });
  assert.equal(r.status, 200);
  assert.equal(normalize(r.text), normalize(direct));
  const line = await until('the access log line', async () => accessLog.find((l) => l.request_id === 'acct-stream'));
  assert.equal(line.completion_tokens, 6);
  assert.ok((line.prompt_tokens as number) > 0);
  // A client that asks for usage gets the usage event.
  const asked = await streamText('open-model', {}, { messages: body.messages, max_tokens: 6, stream_options: { include_usage: true } });
  const usageLine = asked.text.split('\n').find((l) => l.includes('"usage":{'));
  assert.ok(usageLine, 'usage event relayed');
  assert.match(asked.text, /data: \[DONE\]\n\n$/);
});

// ---- TLS -----------------------------------------------------------------------------------------------------

function httpsChat(servername: string | undefined, ca: string): Promise<{ status: number; body: string; fingerprint: string }> {
  const url = new URL(gw.tlsUrl!);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: url.hostname,
        port: url.port,
        path: '/v1/chat/completions',
        method: 'POST',
        ca,
        servername,
        agent: false,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, fingerprint }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ model: 'secure-model', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3 }));
  });
}

test('TLS listener: the certificate from the ModelServer Secret, by SNI and by default; rotation without restart', async () => {
  assert.ok(gw.tlsUrl?.startsWith('https://'));
  const fp1 = new X509Certificate(cert1.cert).fingerprint256;
  const fp2 = new X509Certificate(cert2.cert).fingerprint256;
  const bySni = await until('TLS served', () => httpsChat('one.gw.test', cert1.ca));
  assert.equal(bySni.status, 200, bySni.body);
  assert.equal(bySni.fingerprint, fp1);
  // No SNI (an IP address): the default certificate; its SAN has the IP, so verification passes.
  const byIp = await httpsChat(undefined, cert1.ca);
  assert.equal(byIp.fingerprint, fp1);
  // A client that does not trust the certificate fails the handshake.
  await assert.rejects(httpsChat('one.gw.test', cert2.ca));
  // Rotate the Secret: new connections get the new certificate.
  await api.call('PUT', '/api/v1/namespaces/default/secrets/gw-tls', {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'gw-tls' },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64(cert2.cert), 'tls.key': b64(cert2.key) },
  });
  const rotated = await until('the rotated certificate', async () => {
    const r = await httpsChat('two.gw.test', cert2.ca).catch(() => undefined);
    return r?.fingerprint === fp2 ? r : undefined;
  });
  assert.equal(rotated.status, 200);
  assert.equal((await httpsChat(undefined, cert2.ca)).fingerprint, fp2, 'the default follows the rotation');
  // The same model over plain HTTP is refused: a ModelServer with tls.enabled is served over TLS only.
  const plain = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'secure-model', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3 }),
  });
  assert.equal(plain.status, 426);
  assert.equal(((await plain.json()) as { error: { code: string } }).error.code, 'tls_required');
});

// ---- authorization per model ----------------------------------------------------------------------------------

async function routeAllowing(name: string, model: string, serverName: string, allow: { users?: string[]; groups?: string[] }): Promise<void> {
  await api.call('POST', `${NET}/modelroutes`, {
    apiVersion: 'networking.matrixinfer.ai/v1alpha1',
    kind: 'ModelRoute',
    metadata: { name },
    spec: { modelName: model, rules: [{ targetModels: [{ modelServerName: serverName }] }], authorization: { allow } },
  });
}

test('authorization: users and groups (API-key Secret labels, JWT claim) listed on the route; 403 for others, 401 without identity', async () => {
  for (const [name, data, labels] of [
    ['authz-people', { dave: b64('sk-dave'), erin: b64('sk-erin') }, {}],
    ['authz-research', { carol: b64('sk-carol') }, { 'groups.matrixinfer.ai/research': 'true' }],
  ] as const) {
    await api.call('POST', '/api/v1/namespaces/default/secrets', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, labels: { [API_KEYS_LABEL]: 'true', tier: 'authz', ...labels } },
      data,
    });
  }
  await server('authz-server', { routing: { path: '/v1/models/authz' }, authentication: { enabled: true, type: 'apiKey', config: { secretSelector: { matchLabels: { tier: 'authz' } } } } });
  await routeAllowing('authz', 'authz-model', 'authz-server', { users: ['dave'], groups: ['research'] });
  await routeAllowing('jwt-authz', 'jwt-authz-model', 'jwt-server', { groups: ['admins'] });
  await routeAllowing('open-authz', 'open-authz-model', 'open-server', { users: ['anyone'] });
  const key = (k: string) => ({ authorization: `Bearer ${k}` });
  await until('the authz routes served', async () => (await status(await chat('authz-model', key('sk-dave')))) === 200);

  // API keys: a listed user, a member of a listed group (the Secret's label), and a known user who is neither.
  assert.equal(await status(await chat('authz-model', key('sk-carol'))), 200);
  const denied = await chat('authz-model', { ...key('sk-erin'), 'x-request-id': 'authz-erin' });
  assert.equal(denied.status, 403);
  const body = (await denied.json()) as { error: { code: string; type: string; message: string } };
  assert.equal(body.error.code, 'forbidden');
  assert.equal(body.error.type, 'invalid_request_error');
  assert.match(body.error.message, /erin/);
  const line = await until('the access log line of the refusal', async () => accessLog.find((l) => l.request_id === 'authz-erin'));
  assert.equal(line.user, 'erin', 'the log keeps the identity of a refused caller');
  assert.equal(line.status, 403);
  assert.equal(await status(await chat('authz-model', key('sk-wrong'))), 401, 'authentication still comes first');
  // The seed path names the ModelServer, not the model: the route's list guards it too.
  const infer = (headers: Record<string, string>) =>
    fetch(`${gw.url}/v1/models/authz/infer`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ inputs: { text: 'Hi' }, parameters: { max_tokens: 3 } }) });
  assert.equal(await status(await infer(key('sk-erin'))), 403);
  assert.equal(await status(await infer(key('sk-carol'))), 200);

  // JWT: groups from the `groups` claim (an array, or a space-separated string).
  assert.equal(await status(await chat('jwt-authz-model', { authorization: `Bearer ${await token(key2, 'k2', { groups: ['users', 'admins'] })}` })), 200);
  assert.equal(await status(await chat('jwt-authz-model', { authorization: `Bearer ${await token(key2, 'k2', { groups: 'ops admins' })}` })), 200);
  assert.equal(await status(await chat('jwt-authz-model', { authorization: `Bearer ${await token(key2, 'k2', { groups: ['users'] })}` })), 403);
  assert.equal(await status(await chat('jwt-authz-model', { authorization: `Bearer ${await token(key2, 'k2')}` })), 403, 'no groups claim');
  // The same ModelServer's other route has no list: any authenticated caller may use it.
  assert.equal(await status(await chat('jwt-model', { authorization: `Bearer ${await token(key2, 'k2', { groups: ['users'] })}` })), 200);

  // A list on a route whose ModelServer authenticates nobody: no identity, 401.
  const anonymous = await chat('open-authz-model');
  assert.equal(anonymous.status, 401);
  assert.equal(((await anonymous.json()) as { error: { code: string } }).error.code, 'unauthorized');
  assert.equal(await status(await chat('open-model')), 200, 'the server\'s unlisted route stays open');

  // The list changes: erin is added, without a restart.
  await api.call('PATCH', `${NET}/modelroutes/authz`, { spec: { authorization: { allow: { users: ['dave', 'erin'], groups: ['research'] } } } }, 'application/merge-patch+json');
  await until('erin allowed', async () => (await status(await chat('authz-model', key('sk-erin')))) === 200);
});
