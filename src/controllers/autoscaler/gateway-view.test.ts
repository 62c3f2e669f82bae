import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { combine, readGateway, GatewayView } from './gateway-view.ts';

const exposition = (pods: Record<string, [inflight: number, awaiting: number, requests: number]>) =>
  [
    '# HELP matrixinfer_gateway_endpoint_inflight per endpoint',
    '# TYPE matrixinfer_gateway_endpoint_inflight gauge',
    ...Object.entries(pods).flatMap(([key, [inflight, awaiting, requests]]) => {
      const [ns, pod] = key.split('/');
      const labels = `{namespace="${ns}",pod="${pod}",address="10.0.0.1:8000"}`;
      return [`matrixinfer_gateway_endpoint_inflight${labels} ${inflight}`, `matrixinfer_gateway_endpoint_awaiting_first_byte${labels} ${awaiting}`, `matrixinfer_gateway_endpoint_requests_total${labels} ${requests}`];
    }),
    'matrixinfer_gateway_inflight_requests{model="m"} 99',
  ].join('\n') + '\n';

test('one gateway: gauges per pod, a rate from two scrapes, a restarted counter counts from zero', () => {
  const first = readGateway(exposition({ 'ns/a': [2, 1, 100], 'ns/b': [0, 0, 5] }), 0, undefined);
  assert.deepEqual(first.pods.get('ns/a'), { inflight: 2, awaiting: 1, requests: 100, rate: undefined });
  const second = readGateway(exposition({ 'ns/a': [3, 0, 120], 'ns/b': [0, 0, 2] }), 10_000, first);
  assert.equal(second.pods.get('ns/a')!.rate, 2);
  assert.equal(second.pods.get('ns/b')!.rate, 0.2); // 5 → 2: the gateway restarted; its 2 are the window's
});

test('gateways add up per pod; a rate known by one gateway only is that gateway\'s', () => {
  const g1 = readGateway(exposition({ 'ns/a': [1, 1, 10] }), 10_000, readGateway(exposition({ 'ns/a': [0, 0, 0] }), 0, undefined));
  const g2 = readGateway(exposition({ 'ns/a': [2, 0, 4], 'ns/c': [1, 0, 1] }), 10_000, undefined);
  assert.deepEqual(Object.fromEntries(combine([g1, g2])), { 'ns/a': { inflight: 3, awaiting: 1, rate: 1 }, 'ns/c': { inflight: 1, awaiting: 0, rate: undefined } });
});

async function serve(body: () => string | null): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const text = body();
    if (text === null) res.writeHead(500).end('down');
    else res.writeHead(200, { 'content-type': 'text/plain' }).end(text);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/metrics`, server };
}

test('GatewayView: reuse within the window, a failed gateway kept until stale then partial, none answering is an error', async (t) => {
  let hits = 0;
  let up = true;
  const a = await serve(() => (hits++, up ? exposition({ 'ns/p': [2, 0, 10] }) : null));
  const b = await serve(() => exposition({ 'ns/p': [1, 1, 3] }));
  t.after(() => { a.server.close(); b.server.close(); });
  const view = new GatewayView({ timeoutMs: 1000, staleMs: 30_000, reuseMs: 5_000 });
  const r1 = await view.read([a.url, b.url], 0);
  assert.ok(r1.ok);
  assert.deepEqual(r1.value.get('ns/p'), { inflight: 3, awaiting: 1, rate: undefined });
  assert.equal(r1.partial, undefined);
  await view.read([a.url, b.url], 1_000); // within reuseMs: no new scrape
  assert.equal(hits, 1);
  up = false;
  const r2 = await view.read([a.url, b.url], 10_000); // a fails, its last view is 10 s old: still used
  assert.ok(r2.ok && !r2.partial && r2.value.get('ns/p')!.inflight === 3);
  const r3 = await view.read([a.url, b.url], 40_000); // now 40 s old: left out, the reading is partial
  assert.ok(r3.ok && r3.partial === true && r3.value.get('ns/p')!.inflight === 1);
  const r4 = await view.read([a.url], 80_000);
  assert.ok(!r4.ok && /no gateway answered/.test(r4.error));
  assert.deepEqual(await view.read([], 90_000), { ok: false, error: 'no ready gateway to read' });
});
