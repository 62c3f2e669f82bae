// Usage from /proc: the parsers on fixed text, then the sampler on this test's own process tree (a detached parent,
// as the agent starts containers, whose child spins), and the agent's /stats/summary endpoint.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatGoDuration } from '../api/node-stats.ts';
import { until } from '../kube/testing/until.ts';
import {
  listProcesses, parseNodeCpuTicks, parseNodeMemoryBytes, parseProcStat, processTree, startStatsEndpoint, treeUsage, usageSupported,
  UsageSampler, USER_HZ,
} from './usage.ts';

describe('usage parsers', () => {
  it('reads /proc/<pid>/stat fields after the last parenthesis of comm', () => {
    const line = '4242 (we ird) (name) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 3 0 123456 1000000 2000 18446744073709551615';
    assert.deepEqual(parseProcStat(line), { pid: 4242, ppid: 17, pgrp: 4242, ticks: 250 + 50 + 7 + 3 });
    assert.equal(parseProcStat('garbage'), undefined);
  });

  it('counts the busy ticks of /proc/stat and MemTotal - MemAvailable', () => {
    const stat = 'cpu  100 5 30 9000 40 2 3 1 0 0\ncpu0 50 2 15 4500 20 1 1 0 0 0\nintr 1 2 3\n';
    assert.equal(parseNodeCpuTicks(stat), 100 + 5 + 30 + 2 + 3 + 1); // idle and iowait are not busy
    const meminfo = 'MemTotal:        8000000 kB\nMemFree:         1000000 kB\nMemAvailable:    6000000 kB\n';
    assert.equal(parseNodeMemoryBytes(meminfo), 2_000_000 * 1024);
    assert.equal(parseNodeMemoryBytes('MemTotal: 1 kB\n'), undefined);
  });

  it('prints windows as Go durations', () => {
    assert.deepEqual([10_000, 10_004, 500, 0, 65_000, 3_605_000].map(formatGoDuration), ['10s', '10.004s', '500ms', '0s', '1m5s', '1h0m5s']);
  });

  it('takes the tree below a root by parent pid and its process group, each process once', () => {
    const procs = [
      { pid: 10, ppid: 1, pgrp: 10, ticks: 1 },
      { pid: 11, ppid: 10, pgrp: 10, ticks: 2 },
      { pid: 12, ppid: 11, pgrp: 12, ticks: 4 }, // its own group, still a descendant
      { pid: 13, ppid: 1, pgrp: 10, ticks: 8 }, // reparented to init, still in the group
      { pid: 20, ppid: 1, pgrp: 20, ticks: 16 },
    ];
    assert.deepEqual(processTree(10, procs).map((p) => p.pid).sort(), [10, 11, 12, 13]);
    assert.deepEqual(processTree(10, procs, new Set([11])).map((p) => p.pid).sort(), [10, 13]);
    assert.deepEqual(processTree(99, procs), []);
  });
});

describe('usage of a process tree', { skip: usageSupported() ? false : 'no /proc on this platform: the agent reports no usage here' }, () => {
  /** A detached parent (its own process group, as the agent starts containers) that idles while its child spins. */
  function busyTree(): number {
    const child = "require('node:child_process').spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }); setInterval(() => {}, 1000);";
    const parent = spawn(process.execPath, ['-e', child], { detached: true, stdio: 'ignore' });
    parent.unref();
    return parent.pid!;
  }
  const kill = (pgid: number) => {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* gone */
    }
  };

  it('sums the CPU and memory of a container and its children; the rate comes from the second sample', async (t) => {
    const pid = busyTree();
    t.after(() => kill(pid));
    await until('the spinning child', () => processTree(pid, listProcesses()).length >= 2);
    const usage = treeUsage(processTree(pid, listProcesses()));
    assert.ok(usage.memoryBytes > 10 * 1024 * 1024, `two node processes hold more than 10 MiB (${usage.memoryBytes})`);

    const sampler = new UsageSampler();
    const pods = [{ namespace: 'ns', name: 'busy', uid: 'u1', containers: [{ name: 'main', pid }] }];
    const start = Date.now();
    sampler.sample(pods, start);
    assert.deepEqual(sampler.summary('n').pods, [], 'nothing after one sample');
    await sleep(1000);
    const end = Date.now();
    sampler.sample(pods, end);
    const summary = sampler.summary('n');
    assert.equal(summary.pods.length, 1);
    const [c] = summary.pods[0]!.containers;
    assert.equal(c!.name, 'main');
    assert.equal(c!.window, formatGoDuration(end - start));
    // One spinning child: close to one core on an idle machine; the test machine's 2 cores are shared, so only a floor.
    assert.ok(c!.usageNanoCores > 0.25e9, `the spinning child shows (${c!.usageNanoCores / 1e9} cores)`);
    assert.ok(c!.usageNanoCores < 1.5e9 + (2 * 1e9) / USER_HZ, `one process is at most one core (${c!.usageNanoCores / 1e9})`);
    assert.ok(c!.workingSetBytes > 10 * 1024 * 1024);
    assert.ok(summary.node.usageNanoCores! >= c!.usageNanoCores * 0.8, 'the node includes its pods');
    assert.ok(summary.node.workingSetBytes! > c!.workingSetBytes);

    // A restarted container (another pid) has no rate until its second sample.
    sampler.sample([{ ...pods[0]!, containers: [{ name: 'main', pid: process.pid }] }]);
    assert.deepEqual(sampler.summary('n').pods, []);
  });

  it('serves the summary on /stats/summary', async (t) => {
    const pid = busyTree();
    t.after(() => kill(pid));
    const endpoint = await startStatsEndpoint({
      nodeName: 'node-a',
      host: '127.0.0.1',
      windowMs: 300,
      pods: () => [{ namespace: 'ns', name: 'busy', uid: 'u1', containers: [{ name: 'main', pid }] }],
    });
    t.after(() => endpoint.close());
    const summary = await until('a pod in the summary', async () => {
      const body = (await (await fetch(`${endpoint.url}/stats/summary`)).json()) as { node: { nodeName: string }; pods: unknown[] };
      return body.pods.length > 0 && body;
    }, 5000, 100);
    assert.equal(summary.node.nodeName, 'node-a');
    assert.equal((await fetch(`${endpoint.url}/other`)).status, 404);
  });
});
