import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loopbackKubeConfig } from './config.ts';
import { LeaderElector } from './leaderelection.ts';
import { createLogger } from './log.ts';
import { startFakeApiServer } from './testing/fakeapi.ts';

const quiet = createLogger('test', 'silent');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

test('leader election: one leader, release hands over at once, a silent leader is replaced after the lease expires', async () => {
  const api = await startFakeApiServer();
  const kubeConfig = loopbackKubeConfig(api.url);
  const log: string[] = [];
  const make = (identity: string) =>
    new LeaderElector({
      kubeConfig,
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
  const lease = () => api.store.get('coordination.k8s.io/v1/leases')?.get('default/lock')?.spec;
  try {
    a.start();
    await until(() => a.isLeader);
    b.start();
    await sleep(1800); // longer than the lease: a keeps renewing, b must not take over
    assert.equal(b.isLeader, false);
    assert.equal(lease()?.holderIdentity, 'a');
    assert.match(String(lease()?.renewTime), /\.\d{6}Z$/, 'MicroTime with microseconds');

    // Graceful stop releases the lease: b takes over without waiting for expiry.
    const stopped = Date.now();
    await a.stop();
    await until(() => b.isLeader);
    assert.ok(Date.now() - stopped < 1000, 'handover faster than the lease duration');
    assert.equal(lease()?.holderIdentity, 'b');
    assert.equal(lease()?.leaseTransitions, 1);

    // b can no longer write the lease: it steps down after the renew deadline.
    api.failNext(/PUT .*leases\/lock/, 500, 1_000_000);
    await until(() => !b.isLeader, 3000);
    await b.stop();
    api.clearFailures();
    assert.deepEqual(log, ['a+', 'a-', 'b+', 'b-']);

    // A leader that vanished without releasing (holder still set, renewed just now): c waits out the lease.
    const record = api.store.get('coordination.k8s.io/v1/leases')!.get('default/lock')!;
    record.spec = { ...record.spec, holderIdentity: 'ghost', renewTime: new Date().toISOString() };
    const started = Date.now();
    c.start();
    await until(() => c.isLeader, 5000);
    assert.ok(Date.now() - started >= 1400, `c waited for the lease to expire (${Date.now() - started} ms)`);
    assert.equal(lease()?.holderIdentity, 'c');
  } finally {
    await Promise.all([a.stop(), b.stop(), c.stop()]);
    await api.close();
  }
});
