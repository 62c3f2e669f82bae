// Leader election against the real embedded API server (one per file, in a temp dir): electors contend for one
// coordination.k8s.io/v1 Lease.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { LeaderElector } from './leaderelection.ts';
import { createLogger } from './log.ts';
import { startTestApiServer, type TestApiServer } from './testing/apiserver.ts';
import { until } from './testing/until.ts';

const quiet = createLogger('test', 'silent');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let api: TestApiServer;
before(async () => {
  api = await startTestApiServer();
});
after(async () => {
  await api?.close();
});

interface Lease {
  metadata: { resourceVersion?: string };
  spec: { holderIdentity?: string; renewTime?: string; leaseTransitions?: number; leaseDurationSeconds?: number };
}
const leasePath = () => `${api.url}/apis/coordination.k8s.io/v1/namespaces/default/leases/lock`;
/** The Lease as stored, in wire format (MicroTimes as the server renders them). */
async function lease(): Promise<Lease> {
  const res = await fetch(leasePath());
  assert.equal(res.status, 200);
  return (await res.json()) as Lease;
}

test('leader election: one leader, release hands over at once, a silent leader is replaced after the lease expires', async () => {
  const log: string[] = [];
  const make = (identity: string) =>
    new LeaderElector({
      kubeConfig: api.kubeConfig,
      namespace: 'default',
      name: 'lock',
      identity,
      leaseDurationMs: 1500,
      renewDeadlineMs: 1000,
      retryPeriodMs: 100,
      logger: quiet,
      onStartedLeading: () => void log.push(`${identity}+`),
      onStoppedLeading: () => void log.push(`${identity}-`),
    });
  const a = make('a');
  const b = make('b');
  const c = make('c');
  try {
    a.start();
    await until('condition', () => a.isLeader);
    b.start();
    await sleep(1800); // longer than the lease: a keeps renewing, b must not take over
    assert.equal(b.isLeader, false);
    const held = await lease();
    assert.equal(held.spec.holderIdentity, 'a');
    assert.match(String(held.spec.renewTime), /\.\d{6}Z$/, 'MicroTime with microseconds');

    // Graceful stop releases the lease: b takes over without waiting for expiry.
    const stopped = Date.now();
    await a.stop();
    await until('condition', () => b.isLeader);
    assert.ok(Date.now() - stopped < 1000, 'handover faster than the lease duration');
    assert.equal((await lease()).spec.holderIdentity, 'b');
    assert.equal((await lease()).spec.leaseTransitions, 1);

    // b can no longer write the lease (the API server is gone): it steps down after the renew deadline.
    await api.down();
    await until('condition', () => !b.isLeader, 3000);
    await b.stop();
    await api.up();
    assert.deepEqual(log, ['a+', 'a-', 'b+', 'b-']);
    assert.equal((await lease()).spec.holderIdentity, 'b', 'b could not release the lease');

    // A leader that vanished without releasing (holder set, renewed just now): c waits out the lease.
    const record = await lease();
    record.spec = { ...record.spec, holderIdentity: 'ghost', renewTime: new Date().toISOString().replace('Z', '000Z') };
    const put = await fetch(leasePath(), { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(record) });
    assert.equal(put.status, 200, await put.clone().text());
    const started = Date.now();
    c.start();
    await until('condition', () => c.isLeader, 5000);
    assert.ok(Date.now() - started >= 1400, `c waited for the lease to expire (${Date.now() - started} ms)`);
    assert.equal((await lease()).spec.holderIdentity, 'c');
    assert.equal((await lease()).spec.leaseTransitions, 2);
  } finally {
    await api.up();
    await Promise.all([a.stop(), b.stop(), c.stop()]);
  }
});
