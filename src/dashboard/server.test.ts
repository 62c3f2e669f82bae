import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startDashboardServer, type DashboardData, type DashboardServer } from './server.ts';
import type { ModelSummary } from './views.ts';

const summary: ModelSummary = { namespace: 'ns', name: 'm', phase: 'Ready', lifecycle: 'Validated', version: '1', revision: 1, base: undefined, ready: 1, desired: 1, download: '100%', downloadError: undefined, created: undefined, autoscaler: undefined, live: { rps: 2 } };
/** The summary as JSON carries it (undefined fields left out). */
const sent = JSON.parse(JSON.stringify(summary)) as unknown;
let update: () => void = () => {};
const windows: number[] = [];
const data: DashboardData = {
  models: () => [summary],
  model: (ns, name) => (ns === 'ns' && name === 'm' ? { model: summary, pods: [], autoscaler: undefined } : undefined),
  timeseries: async (ns, name, windowMs) => {
    windows.push(windowMs);
    return ns === 'ns' && name === 'm' ? { t: [1, 2], columns: { rps: [1, null] }, decisions: [] } : undefined;
  },
  routing: () => [{ namespace: 'ns', name: 'm', pods: { p0: { 'prefix-cache': 1 } } }],
  onUpdate: (listener) => {
    update = listener;
    return () => (update = () => {});
  },
};

let server: DashboardServer;
before(async () => (server = await startDashboardServer(data, { port: 0 })));
after(() => server.close());

/** A raw request (fetch would normalise `..` away). */
function raw(method: string, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(server.url), { method, path }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the page, our modules and the vendored libraries; nothing else from the file system', async () => {
  const index = await raw('GET', '/');
  assert.equal(index.status, 200);
  assert.match(index.type, /^text\/html/);
  // Every URL the page names is ours: no CDN.
  assert.doesNotMatch(index.body, /https?:\/\//);
  for (const path of ['/static/app.js', '/static/style.css', '/vendor/preact.mjs', '/vendor/hooks.mjs', '/vendor/htm.mjs', '/vendor/uPlot.esm.js', '/vendor/uPlot.min.css']) {
    const res = await raw('GET', path);
    assert.equal(res.status, 200, path);
    assert.ok(res.body.length > 100, path);
  }
  assert.match((await raw('GET', '/static/app.js')).type, /^text\/javascript/);
  for (const path of ['/static/../server.ts', '/static/%2e%2e/server.ts', '/vendor/../../package.json', '/vendor/preact.js', '/static/', '/etc/passwd']) {
    assert.equal((await raw('GET', path)).status, 404, path);
  }
  assert.equal((await raw('POST', '/api/v1/models')).status, 405);
  assert.equal((await raw('DELETE', '/')).status, 405);
});

test('the JSON API: models, one model, its time series with a window, routing; 404 and 400 where due', async () => {
  assert.deepEqual(JSON.parse((await raw('GET', '/api/v1/models')).body), { models: [sent] });
  assert.deepEqual(JSON.parse((await raw('GET', '/api/v1/models/ns/m')).body).model, sent);
  assert.equal((await raw('GET', '/api/v1/models/ns/nope')).status, 404);
  const series = await raw('GET', '/api/v1/models/ns/m/timeseries?window=5m');
  assert.deepEqual(JSON.parse(series.body), { t: [1, 2], columns: { rps: [1, null] }, decisions: [] });
  assert.equal(windows.at(-1), 300_000);
  await raw('GET', '/api/v1/models/ns/m/timeseries');
  assert.equal(windows.at(-1), 900_000, 'default window 15m');
  assert.equal((await raw('GET', '/api/v1/models/ns/m/timeseries?window=soon')).status, 400);
  assert.equal((await raw('GET', '/api/v1/models/ns/nope/timeseries')).status, 404);
  assert.deepEqual(JSON.parse((await raw('GET', '/api/v1/routing')).body).models[0].pods, { p0: { 'prefix-cache': 1 } });
  assert.equal((await raw('GET', '/api/v1/nothing')).status, 404);
});

test('SSE: a snapshot at once and one after every update', async () => {
  const controller = new AbortController();
  const res = await fetch(`${server.url}api/v1/events`, { signal: controller.signal });
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const reader = res.body!.getReader();
  let text = '';
  const events = () => text.split('\n\n').filter((e) => e.includes('event: snapshot'));
  while (events().length < 1) text += new TextDecoder().decode((await reader.read()).value);
  update();
  while (events().length < 2) text += new TextDecoder().decode((await reader.read()).value);
  const data = JSON.parse(events()[1]!.split('data: ')[1]!);
  assert.deepEqual(data.models, [sent]);
  controller.abort();
});
