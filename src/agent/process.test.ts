import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { exitCodeOf, findExecutable, groupAlive, killStaleProcesses, pidFilePath, procStartTime, startProcess } from './process.ts';
import { until } from '../kube/testing/until.ts';

const dir = mkdtempSync(join(tmpdir(), 'agent-proc-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('container processes', () => {
  it('append output to the log, record and clear the pid file, report the exit code', async () => {
    const podDir = join(dir, 'ns_p1');
    const log = join(dir, 'ns_p1_c.log');
    writeFileSync(log, 'earlier\n');
    const pidFile = pidFilePath(podDir, 'c');
    const p = startProcess({
      command: 'sh',
      args: ['-c', 'echo out-$POD_X; echo err >&2; sleep 0.2; exit 3'],
      env: { ...process.env, POD_X: 'x' },
      cwd: podDir,
      logPath: log,
      pidFile,
      record: { node: 'n', podUid: 'u', container: 'c' },
    });
    assert.ok(p.pid);
    assert.ok(existsSync(pidFile));
    assert.equal(JSON.parse(readFileSync(pidFile, 'utf8')).pid, p.pid);
    const e = await p.exited;
    assert.equal(e.exitCode, 3);
    assert.equal(readFileSync(log, 'utf8'), 'earlier\nout-x\nerr\n');
    assert.ok(!existsSync(pidFile));
  });

  it('stop() kills the whole process group, escalating to SIGKILL', async () => {
    const podDir = join(dir, 'ns_p2');
    // The shell ignores SIGTERM; its child sleeps. Both must die.
    const p = startProcess({
      command: 'sh',
      args: ['-c', 'trap "" TERM; sleep 30 & wait'],
      env: process.env,
      cwd: podDir,
      logPath: join(dir, 'p2.log'),
      pidFile: pidFilePath(podDir, 'c'),
      record: { node: 'n', podUid: 'u', container: 'c' },
    });
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    const e = await p.stop(300);
    assert.ok(Date.now() - t0 >= 250);
    assert.equal(e.exitCode, 137);
    await until('the process group gone', () => !groupAlive(p.pid!), 2000, 20);
  });

  it('a missing executable reports a start error', async () => {
    const podDir = join(dir, 'ns_p3');
    const p = startProcess({
      command: '/nonexistent/x',
      args: [],
      env: process.env,
      cwd: podDir,
      logPath: join(dir, 'p3.log'),
      pidFile: pidFilePath(podDir, 'c'),
      record: { node: 'n', podUid: 'u', container: 'c' },
    });
    const e = await p.exited;
    assert.equal(e.exitCode, 128);
    assert.match(e.error ?? '', /ENOENT/);
  });

  it('killStaleProcesses kills groups recorded by an earlier agent', async () => {
    const podsDir = join(dir, 'pods');
    const podDir = join(podsDir, 'ns_old');
    // An "earlier agent's" container: detached group, recorded in a pid file.
    const child = spawn('sh', ['-c', 'sleep 30 & sleep 30'], { detached: true, stdio: 'ignore' });
    const pid = child.pid!;
    mkdirSync(join(podDir, '.agent'), { recursive: true });
    writeFileSync(pidFilePath(podDir, 'c'), JSON.stringify({ pid, procStart: procStartTime(pid), node: 'n', podUid: 'u', container: 'c', command: 'sh' }));
    // A record of another node is left alone.
    writeFileSync(pidFilePath(podDir, 'other'), JSON.stringify({ pid, node: 'someone-else', podUid: 'u', container: 'other', command: 'sh' }));
    assert.ok(groupAlive(pid));
    const n = await killStaleProcesses(podsDir, 'n', 1000);
    assert.equal(n, 1);
    await until('the process group gone', () => !groupAlive(pid), 2000, 20);
    assert.ok(!existsSync(pidFilePath(podDir, 'c')));
    assert.ok(existsSync(pidFilePath(podDir, 'other')));
  });

  it('helpers', () => {
    assert.equal(exitCodeOf(null, 'SIGKILL'), 137);
    assert.equal(exitCodeOf(null, 'SIGTERM'), 143);
    assert.equal(exitCodeOf(2, null), 2);
    assert.ok(findExecutable('sh'));
    assert.equal(findExecutable('definitely-not-a-command-xyz'), undefined);
    assert.equal(findExecutable('/bin/sh'), '/bin/sh');
  });
});
