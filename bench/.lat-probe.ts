import { Pool } from 'undici';
import { createCore } from '../src/gateway/gateway.ts';
import { createGatewayServer } from '../src/gateway/http/server.ts';
import { modelRoute, modelServer, pod, toServers } from '../src/gateway/testing/fixtures.ts';
import { startEngine } from '../src/engine/server.ts';
import { parseEngineArgs } from '../src/engine/options.ts';
const e = await startEngine(parseEngineArgs(['bench-model','--host','127.0.0.61','--port','0','--time-to-first-token-ms','0','--inter-token-latency-ms','0','--inter-token-latency-per-seq-ms','0','--prefill-time-per-token-ms','0'], { warn: () => {} }));
const core = createCore({ accessLog: false });
core.rebuild({ servers: [modelServer('b', { inferName: 'b', service: { port: e.port } })], routes: [modelRoute('b', 'bench-model', [toServers('b')])], pods: [pod('b-0', 'b', { ip: '127.0.0.61' })] });
core.synced = true;
const srv = createGatewayServer(core);
await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
const gwUrl = `http://127.0.0.1:${(srv.address() as any).port}`;
const body = JSON.stringify({ model: 'bench-model', prompt: 'Say hello to the benchmark.', max_tokens: 4 });
async function lat(url: string, n: number) {
  const p = new Pool(url, { connections: 1 });
  const l: number[] = [];
  for (let i = 0; i < n; i++) { const t = performance.now(); const r = await p.request({ path: '/v1/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body }); await r.body.text(); l.push(performance.now() - t); }
  await p.close(); l.sort((a, b) => a - b);
  return `p50 ${l[n >> 1]!.toFixed(3)} p90 ${l[Math.floor(n * 0.9)]!.toFixed(3)} p99 ${l[Math.floor(n * 0.99)]!.toFixed(3)}`;
}
for (let k = 0; k < 2; k++) { console.log('direct ', await lat(e.url, 3000)); console.log('gateway', await lat(gwUrl, 3000)); }
srv.closeAllConnections(); srv.close(); await core.pools.destroy(); await e.close();
