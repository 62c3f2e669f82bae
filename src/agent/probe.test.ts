import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type ProbeOutcome, ProbeRunner, ProbeTracker, resolvePort, runProbe } from './probe.ts';
import type { Probe } from './types.ts';
import { until } from '../kube/testing/until.ts';

const HOST = '127.0.0.1';
let server: http.Server;
let port = 0;
let healthy = true;

before(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/health') {
      res.statusCode = healthy ? 200 : 503;
      res.end(healthy ? 'ok' : 'unhealthy');
    } else if (req.url === '/redirect') {
      res.statusCode = 302;
      res.setHeader('location', '/health');
      res.end();
    } else if (req.url === '/header') {
      res.statusCode = req.headers['x-probe'] === 'yes' ? 200 : 400;
      res.end();
    } else if (req.url === '/slow') {
      setTimeout(() => res.end('late'), 3000).unref();
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, HOST, r));
  port = (server.address() as net.AddressInfo).port;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

describe('runProbe', () => {
  const ctx = () => ({ podIP: HOST, ports: [{ name: 'http', containerPort: port }] });

  it('httpGet: 2xx and 3xx succeed, others fail', async () => {
    assert.equal((await runProbe({ httpGet: { path: '/health', port } }, ctx())).ok, true);
    assert.equal((await runProbe({ httpGet: { path: '/redirect', port } }, ctx())).ok, true);
    const r = await runProbe({ httpGet: { path: '/nope', port } }, ctx());
    assert.equal(r.ok, false);
    assert.match(r.message, /404/);
  });

  it('httpGet: named ports and headers', async () => {
    assert.equal((await runProbe({ httpGet: { path: '/health', port: 'http' } }, ctx())).ok, true);
    assert.equal((await runProbe({ httpGet: { path: '/health', port: 'other' } }, ctx())).ok, false);
    assert.equal((await runProbe({ httpGet: { path: '/header', port, httpHeaders: [{ name: 'X-Probe', value: 'yes' }] } }, ctx())).ok, true);
    assert.equal((await runProbe({ httpGet: { path: '/header', port } }, ctx())).ok, false);
  });

  it('httpGet: honours timeoutSeconds', async () => {
    const t0 = Date.now();
    const r = await runProbe({ httpGet: { path: '/slow', port }, timeoutSeconds: 1 }, ctx());
    assert.equal(r.ok, false);
    assert.ok(Date.now() - t0 < 2500);
  });

  it('httpGet: connection refused fails', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, HOST, r));
    const p = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    assert.equal((await runProbe({ httpGet: { path: '/', port: p } }, ctx())).ok, false);
  });

  it('tcpSocket', async () => {
    assert.equal((await runProbe({ tcpSocket: { port } }, ctx())).ok, true);
    assert.equal((await runProbe({ tcpSocket: { port: 'http' } }, ctx())).ok, true);
    assert.equal((await runProbe({ tcpSocket: { port: 1 } }, ctx())).ok, false);
  });

  it('exec', async () => {
    assert.equal((await runProbe({ exec: { command: ['sh', '-c', 'exit 0'] } }, ctx())).ok, true);
    const r = await runProbe({ exec: { command: ['sh', '-c', 'echo broken; exit 2'] } }, ctx());
    assert.equal(r.ok, false);
    assert.match(r.message, /exit code 2: broken/);
    assert.equal((await runProbe({ exec: { command: ['/nonexistent/bin'] } }, ctx())).ok, false);
    const t0 = Date.now();
    assert.equal((await runProbe({ exec: { command: ['sh', '-c', 'sleep 5'] }, timeoutSeconds: 1 }, ctx())).ok, false);
    assert.ok(Date.now() - t0 < 2500);
  });

  it('resolvePort', () => {
    assert.equal(resolvePort(80, []), 80);
    assert.equal(resolvePort('8080', []), 8080);
    assert.equal(resolvePort('metrics', [{ name: 'metrics', containerPort: 9000 }]), 9000);
    assert.equal(resolvePort('x', []), undefined);
  });
});

describe('ProbeTracker', () => {
  it('flips after consecutive thresholds', () => {
    const t = new ProbeTracker(2, 3, false);
    assert.equal(t.record(true), false);
    assert.equal(t.record(false), false);
    assert.equal(t.record(true), false);
    assert.equal(t.record(true), true);
    assert.equal(t.result, true);
    assert.equal(t.record(false), false);
    assert.equal(t.record(false), false);
    assert.equal(t.record(true), false);
    assert.equal(t.record(false), false);
    assert.equal(t.record(false), false);
    assert.equal(t.record(false), true);
    assert.equal(t.result, false);
  });
  it('liveness starts passing and reports only failures', () => {
    const t = new ProbeTracker(1, 1, true);
    assert.equal(t.record(true), false);
    assert.equal(t.record(false), true);
  });
});

describe('ProbeRunner', () => {
  it('readiness polls every 0.5 s until the first success, even with a long period', async () => {
    healthy = false;
    const results: boolean[] = [];
    const r = new ProbeRunner({
      kind: 'readiness',
      probe: { httpGet: { path: '/health', port }, periodSeconds: 30 },
      ctx: { podIP: HOST },
      startedAtMs: Date.now(),
      onResult: (ok) => results.push(ok),
    });
    r.start();
    setTimeout(() => (healthy = true), 700);
    const t0 = Date.now();
    await until('a probe result', () => results.length > 0, 3000, 20);
    r.stop();
    assert.deepEqual(results, [true]);
    assert.ok(Date.now() - t0 < 2000);
  });

  it('honours initialDelaySeconds', async () => {
    let calls = 0;
    const run = async (): Promise<ProbeOutcome> => {
      calls++;
      return { ok: true, message: '' };
    };
    const r = new ProbeRunner({ kind: 'readiness', probe: { exec: { command: ['true'] }, initialDelaySeconds: 1 }, ctx: { podIP: HOST }, startedAtMs: Date.now(), onResult: () => {}, run });
    r.start();
    await new Promise((res) => setTimeout(res, 600));
    assert.equal(calls, 0);
    await until('a probe call', () => calls > 0, 1500, 20);
    r.stop();
  });

  it('liveness reports failure after failureThreshold periods', async () => {
    let calls = 0;
    const run = async (): Promise<ProbeOutcome> => {
      calls++;
      return { ok: calls <= 1, message: `call ${calls}` };
    };
    const failures: string[] = [];
    const probe: Probe = { exec: { command: ['x'] }, periodSeconds: 1, failureThreshold: 2 };
    const r = new ProbeRunner({ kind: 'liveness', probe, ctx: { podIP: HOST }, startedAtMs: Date.now(), onResult: (ok, m) => !ok && failures.push(m), run });
    const t0 = Date.now();
    r.start();
    await until('a probe failure', () => failures.length > 0, 4000, 20);
    r.stop();
    // success at 0 s, failures at 1 s and 2 s
    assert.equal(calls, 3);
    assert.ok(Date.now() - t0 >= 1900);
    assert.deepEqual(failures, ['call 3']);
  });

  it('startup failures polled fast still count once per period', async () => {
    let calls = 0;
    const run = async (): Promise<ProbeOutcome> => {
      calls++;
      return { ok: false, message: 'no' };
    };
    let failedAt = 0;
    const t0 = Date.now();
    const r = new ProbeRunner({
      kind: 'startup',
      probe: { exec: { command: ['x'] }, periodSeconds: 1, failureThreshold: 2 },
      ctx: { podIP: HOST },
      startedAtMs: t0,
      onResult: (ok) => {
        if (!ok) failedAt = Date.now();
      },
      run,
    });
    r.start();
    await until('the failure time', () => failedAt > 0, 4000, 20);
    r.stop();
    assert.ok(failedAt - t0 >= 900, `failed after ${failedAt - t0} ms`);
    assert.ok(calls >= 3, `polled ${calls} times`);
  });
});
