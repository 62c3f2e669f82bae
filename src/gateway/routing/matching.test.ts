// Rule matching through the whole request path: model and LoRA adapter names, header exact/prefix/regex, request
// path, rule order, weighted targets and table changes taking effect on the next request. The upstreams are
// recorders (each answers a fixed completion and records what it received: which server was chosen and the model
// name it was sent), because what is asserted here is what the gateway forwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCore, type TestableCore } from '../gateway.ts';
import { createGatewayServer } from '../http/server.ts';
import { modelRoute, modelServer, pod } from '../testing/fixtures.ts';
import type { ModelRoute } from '../../api/kinds/modelroute.ts';
import type { WorldSnapshot } from './table.ts';

interface Seen {
  server: string;
  path: string;
  model: unknown;
}

const IPS = { base: '127.0.0.71', canary: '127.0.0.72', gold: '127.0.0.73' } as const;
const seen: Seen[] = [];
const recorders: Server[] = [];
let port = 0;
let core: TestableCore;
let gw: ReturnType<typeof createGatewayServer>;
let url: string;

async function recorder(name: string, ip: string): Promise<void> {
  const s = createServer(async (req, res) => {
    let raw = '';
    for await (const c of req) raw += String(c);
    seen.push({ server: name, path: req.url ?? '', model: (JSON.parse(raw) as { model?: unknown }).model });
    const body = JSON.stringify({ id: 'x', object: 'chat.completion', choices: [] });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => s.listen(port, ip, () => r()));
  port = (s.address() as AddressInfo).port;
  recorders.push(s);
}

function route(rules: ModelRoute['spec']['rules']): ModelRoute {
  return modelRoute('r', 'llama', rules, { loraAdapters: ['sql-lora'] });
}

function world(routes: ModelRoute[]): WorldSnapshot {
  return {
    servers: [
      modelServer('base', { inferName: 'base', model: 'meta-llama/Llama-3.1-8B', service: { port } }),
      modelServer('canary', { inferName: 'canary', model: 'meta-llama/Llama-3.1-8B-canary', service: { port } }),
      modelServer('gold', { inferName: 'gold', service: { port } }),
    ],
    routes,
    pods: (Object.keys(IPS) as Array<keyof typeof IPS>).map((n) => pod(`${n}-0`, n, { ip: IPS[n] })),
  };
}

const RULES: ModelRoute['spec']['rules'] = [
  { name: 'gold', modelMatch: { headers: { 'x-tier': { exact: 'gold' } } }, targetModels: [{ modelServerName: 'gold' }] },
  { name: 'beta-chat', modelMatch: { uri: { prefix: '/v1/chat/' }, headers: { 'x-user': { regex: '^beta-' } } }, targetModels: [{ modelServerName: 'canary' }] },
  { name: 'enterprise', modelMatch: { headers: { 'x-org': { prefix: 'ent-' } } }, targetModels: [{ modelServerName: 'gold' }] },
  { name: 'split', targetModels: [{ modelServerName: 'base', weight: 80 }, { modelServerName: 'canary', weight: 20 }] },
];

before(async () => {
  await recorder('base', IPS.base);
  await recorder('canary', IPS.canary);
  await recorder('gold', IPS.gold);
  core = createCore({ accessLog: false });
  core.rebuild(world([route(RULES)]));
  core.synced = true;
  gw = createGatewayServer(core);
  await new Promise<void>((r) => gw.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(gw.address() as AddressInfo).port}`;
});

after(async () => {
  gw.closeAllConnections();
  await new Promise<void>((r) => gw.close(() => r()));
  await core.pools.destroy();
  for (const s of recorders) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

async function send(path: string, model: string, headers: Record<string, string> = {}): Promise<Seen> {
  const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ model, messages: [], prompt: 'x' }) });
  assert.equal(res.status, 200, await res.clone().text());
  await res.arrayBuffer();
  return seen.at(-1)!;
}

test('rules in order: headers exact/prefix/regex and the request path decide; the first match wins', async () => {
  assert.equal((await send('/v1/chat/completions', 'llama', { 'x-tier': 'gold', 'x-user': 'beta-1' })).server, 'gold');
  assert.equal((await send('/v1/chat/completions', 'llama', { 'x-user': 'beta-1' })).server, 'canary');
  // Same header on another path: rule 1's uri does not hold; falls to the split (base or canary).
  assert.equal((await send('/v1/completions', 'llama', { 'x-user': 'beta-1', 'x-org': 'ent-acme' })).server, 'gold', 'rule 2 by header prefix');
  assert.equal((await send('/v1/chat/completions', 'llama', { 'x-user': 'alpha-beta-1', 'x-org': 'ENT-acme' })).server === 'gold', false, 'regex anchored, prefix case-sensitive');
});

test('model names: the base name is rewritten to ModelServer.spec.model, a LoRA adapter name is forwarded as is', async () => {
  const base = await send('/v1/chat/completions', 'llama', { 'x-user': 'beta-7' });
  assert.deepEqual([base.server, base.model, base.path], ['canary', 'meta-llama/Llama-3.1-8B-canary', '/v1/chat/completions']);
  const lora = await send('/v1/chat/completions', 'sql-lora', { 'x-user': 'beta-7' });
  assert.deepEqual([lora.server, lora.model], ['canary', 'sql-lora'], 'LoRA name matched the same rules and was kept');
  // A server without spec.model receives the requested name.
  const gold = await send('/v1/completions', 'llama', { 'x-tier': 'gold' });
  assert.deepEqual([gold.server, gold.model], ['gold', 'llama']);
  // The query string is forwarded, and not part of the path that rules match.
  const q = await send('/v1/chat/completions?trace=1', 'llama', { 'x-user': 'beta-7' });
  assert.deepEqual([q.server, q.path], ['canary', '/v1/chat/completions?trace=1']);
});

test('weighted split 80/20 (canary) over many requests; a table change takes effect on the next request', async () => {
  const counts = { base: 0, canary: 0, gold: 0 };
  const N = 400;
  await Promise.all(
    Array.from({ length: N }, async () => {
      const s = await send('/v1/completions', 'llama');
      counts[s.server as keyof typeof counts]++;
    }),
  );
  assert.equal(counts.gold, 0);
  // 20 % of 400 = 80, σ = 8: 5σ bounds.
  assert.ok(counts.canary > 40 && counts.canary < 120, `canary ${counts.canary}/${N}`);
  // Shift everything to canary (weight 0 never receives traffic), as a ModelRoute edit would.
  core.rebuild(world([route([...RULES.slice(0, 3), { name: 'split', targetModels: [{ modelServerName: 'base', weight: 0 }, { modelServerName: 'canary', weight: 100 }] }])]));
  for (let i = 0; i < 20; i++) assert.equal((await send('/v1/completions', 'llama')).server, 'canary');
  core.rebuild(world([route(RULES)]));
});
