import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BusyWindow, framebufferUsedMiB } from './gpu.ts';
import { createEngineMetrics, dcgmFromEnv, type EngineState } from './metrics.ts';
import { defaultEngineOptions } from './options.ts';
import { PROFILES } from './profiles.ts';
import { startEngine, type EngineServer } from './server.ts';

const H100_8B = PROFILES['llama-3.1-8b-h100']!;
const H100_70B = PROFILES['llama-3.1-70b-h100-tp4']!;

/** Samples of `name` in a Prometheus exposition: [labels block, value]. */
function samples(text: string, name: string): [string, number][] {
  const out: [string, number][] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    out.push([line.slice(name.length, line.lastIndexOf('}') + 1), Number(line.slice(line.lastIndexOf(' ') + 1))]);
  }
  return out;
}

async function gpuUtil(e: EngineServer): Promise<number> {
  const s = samples(await (await fetch(e.url + '/metrics')).text(), 'DCGM_FI_DEV_GPU_UTIL');
  assert.equal(s.length, 1);
  return s[0]![1];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('BusyWindow: share of the last second a step computed', () => {
  it('idle reads 0; back-to-back steps read 1; half busy reads 0.5', () => {
    const w = new BusyWindow();
    assert.equal(w.utilization(10_000), 0);
    for (let t = 10_000; t < 12_000; t += 10) {
      w.begin(t, t + 10);
      w.close();
    }
    assert.equal(w.utilization(12_000), 1);
    // Then 5 ms of every 10 for two seconds.
    for (let t = 12_000; t < 14_000; t += 10) {
      w.begin(t, t + 5);
      w.close();
    }
    assert.ok(Math.abs(w.utilization(14_000) - 0.5) < 1e-9, String(w.utilization(14_000)));
    // Nothing for a second: back to 0.
    assert.equal(w.utilization(15_001), 0);
  });

  it('counts the step in flight up to now, and clips a long step to the window', () => {
    const w = new BusyWindow();
    w.begin(1_000, 5_000); // a 4 s prefill
    assert.equal(w.utilization(1_000), 0);
    assert.equal(w.utilization(3_000), 1);
    w.close(); // completes at its planned end, however late the timer
    assert.equal(w.utilization(5_000), 1);
    assert.ok(Math.abs(w.utilization(5_500) - 450 / 950) < 1e-9); // window [4550, 5500], busy [4550, 5000]
    assert.equal(w.utilization(7_000), 0);
  });

  it('a step cut short (loop stopped) counts up to the cut; steps never overlap', () => {
    const w = new BusyWindow();
    w.begin(2_000, 3_000);
    w.close(2_100);
    w.begin(2_050, 2_150); // starts before the last ended: counted from 2100
    w.close();
    assert.ok(Math.abs(w.utilization(2_950) - 150 / 950) < 1e-9);
  });

  it('stays within 0..1 when a step completes before its planned end', () => {
    const w = new BusyWindow();
    for (let t = 0; t < 3_000; t += 7) {
      w.begin(t, t + 7);
      w.close();
      const u = w.utilization(t + 6); // completion observed 1 ms early
      assert.ok(u >= 0 && u <= 1, String(u));
    }
  });
});

describe('DCGM framebuffer gauges', () => {
  it('weights + the whole KV cache + overhead per GPU; the overhead alone asleep', () => {
    assert.equal(framebufferUsedMiB(H100_8B.gpu, 25_000, 16), 68_177);
    assert.equal(framebufferUsedMiB(H100_70B.gpu, 25_000, 16), 68_706);
    assert.equal(framebufferUsedMiB(H100_8B.gpu, 1_000, 16), Math.round((16.06e9 + 131_072 * 16_000 + 3e9) / 2 ** 20));
    assert.equal(framebufferUsedMiB(H100_8B.gpu, 25_000, 16, true), Math.round(3e9 / 2 ** 20));
    assert.equal(framebufferUsedMiB(H100_8B.gpu, 10_000_000, 16), H100_8B.gpu.memoryMiB, 'at most the framebuffer');
  });

  it('one series per GPU of the profile with the exporter labels; pod and namespace from the environment', async () => {
    const state: EngineState = {
      running: () => 0,
      waiting: () => 0,
      kvUsage: () => 0,
      usedTokens: () => 0,
      loras: () => ({ max: 1, running: [], waiting: [] }),
      sleepLevel: () => 0,
      gpuUtilization: () => 0.426,
    };
    const env = { POD_NAME: 'llama-0', POD_NAMESPACE: 'team-a', NODE_NAME: 'node-1' };
    const m = createEngineMetrics({
      engine: 'vllm',
      modelName: 'm',
      maxModelLen: 4096,
      blockSize: 16,
      numGpuBlocks: 25_000,
      state,
      dcgm: dcgmFromEnv(H100_70B.gpu, '127.0.0.1:8000', env),
    });
    const text = await m.render();
    const util = samples(text, 'DCGM_FI_DEV_GPU_UTIL');
    assert.equal(util.length, 4);
    assert.deepEqual(util.map(([, v]) => v), [43, 43, 43, 43]);
    assert.match(
      util[0]![0],
      /^\{gpu="0",UUID="GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="node-1",namespace="team-a",pod="llama-0"\}$/,
    );
    assert.equal(new Set(util.map(([l]) => /UUID="([^"]+)"/.exec(l)![1])).size, 4, 'distinct UUIDs');
    assert.match(util[3]![0], /gpu="3".*device="nvidia3"/);
    assert.deepEqual(samples(text, 'DCGM_FI_DEV_FB_USED').map(([, v]) => v), [68_706, 68_706, 68_706, 68_706]);
    assert.deepEqual(samples(text, 'DCGM_FI_DEV_FB_FREE').map(([, v]) => v), Array(4).fill(81_559 - 68_706));
    assert.match(text, /# TYPE DCGM_FI_DEV_GPU_UTIL gauge/);
    // No pod in the environment: no pod/namespace labels; the same address gives the same UUIDs.
    const bare = dcgmFromEnv(H100_8B.gpu, '127.0.0.1:8000', {});
    assert.equal(bare.pod, undefined);
    assert.equal(bare.namespace, undefined);
    assert.equal(bare.uuidSeed, '127.0.0.1:8000');
  });
});

describe('DCGM_FI_DEV_GPU_UTIL from the running engine', () => {
  it('reads ~0 idle, > 50 under steady load, always within 0..100', async () => {
    // The default profile's latencies (6.4 ms decode steps): the engine steps back to back while requests run.
    const e = await startEngine(defaultEngineOptions({ port: 0, servedModelNames: ['m'] }));
    try {
      assert.equal(await gpuUtil(e), 0, 'idle engine');
      const text = await (await fetch(e.url + '/metrics')).text();
      assert.deepEqual(samples(text, 'DCGM_FI_DEV_FB_USED').map(([, v]) => v), [68_177]);
      assert.match(samples(text, 'DCGM_FI_DEV_GPU_UTIL')[0]![0], /modelName="NVIDIA H100 80GB HBM3"/);

      let stop = false;
      const client = async (): Promise<void> => {
        while (!stop) {
          const r = await fetch(e.url + '/v1/completions', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'm', prompt: 'The quick brown fox jumps over the lazy dog', max_tokens: 40 }),
          });
          assert.equal(r.status, 200);
          await r.arrayBuffer();
        }
      };
      const clients = Array.from({ length: 8 }, client);
      const seen: number[] = [];
      await sleep(1_200); // a full window of load
      for (let i = 0; i < 5; i++) {
        seen.push(await gpuUtil(e));
        await sleep(100);
      }
      stop = true;
      await Promise.all(clients);
      for (const v of seen) assert.ok(v >= 0 && v <= 100 && Number.isInteger(v), String(v));
      assert.ok(Math.min(...seen) > 50, `under load: ${seen.join(', ')}`);

      await sleep(1_100); // a window with nothing to do
      assert.equal(await gpuUtil(e), 0, 'idle again');
    } finally {
      await e.close();
    }
  });
});
