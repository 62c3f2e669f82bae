// The engine's drain (what SIGTERM does): requests already accepted finish, nothing new is accepted, idle
// keep-alive connections close, and the engine stops once the last request has ended.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { defaultEngineOptions } from './options.ts';
import { startEngine, type EngineServer } from './server.ts';

// 20 tokens at 10 ms each: a request runs ≈ 200 ms, long enough to drain while it runs.
const SLOW = { timeToFirstTokenMs: 5, prefillTimePerTokenMs: 0, interTokenLatencyMs: 10, interTokenLatencyPerSeqMs: 0 };

function engine(): Promise<EngineServer> {
  return startEngine(defaultEngineOptions({ port: 0, servedModelNames: ['sim'], latency: SLOW }));
}

function completion(e: EngineServer, stream: boolean): Promise<Response> {
  return fetch(e.url + '/v1/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'sim', prompt: 'hello', max_tokens: 20, ignore_eos: true, stream }),
  });
}

/** A raw keep-alive connection: `request()` sends one GET and resolves with the response text once it is whole. */
function rawConnection(e: EngineServer): Promise<{ socket: Socket; closed: Promise<void>; request(path: string): Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(e.port, '127.0.0.1');
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    let received = '';
    let waiter: ((text: string) => void) | undefined;
    socket.on('data', (d) => {
      received += d.toString('latin1');
      const end = received.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(received);
      if (waiter && end >= 0 && length && received.length >= end + 4 + Number(length[1])) {
        const text = received;
        received = '';
        waiter(text);
      }
    });
    socket.once('error', reject);
    socket.once('connect', () =>
      resolve({
        socket,
        closed,
        request: (path) =>
          new Promise((r) => {
            waiter = r;
            socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`);
          }),
      }),
    );
  });
}

describe('engine drain', () => {
  it('finishes running requests (streamed and not), refuses new connections, then stops', async () => {
    const e = await engine();
    const plain = completion(e, false);
    const streamed = completion(e, true);
    await new Promise((r) => setTimeout(r, 50)); // both accepted and generating
    const t0 = Date.now();
    const drained = e.drain();
    await assert.rejects(fetch(e.url + '/health'), 'new connections are refused');
    const [a, b] = await Promise.all([plain, streamed]);
    assert.equal(a.status, 200);
    assert.equal(a.headers.get('connection'), 'close', 'a response written during the drain closes its connection');
    const body = (await a.json()) as { usage: { completion_tokens: number } };
    assert.equal(body.usage.completion_tokens, 20);
    assert.equal(b.status, 200);
    const text = await b.text();
    assert.ok(text.trimEnd().endsWith('data: [DONE]'), 'the stream ran to its end');
    await drained;
    assert.ok(Date.now() - t0 >= 100, 'the drain waited for the running requests');
    assert.equal(e.scheduler.numRunning, 0);
  });

  it('closes idle keep-alive connections at once and busy ones when their response ends', async () => {
    const e = await engine();
    const idle = await rawConnection(e);
    assert.match(await idle.request('/health'), /^HTTP\/1\.1 200/);
    const busy = await rawConnection(e);
    assert.match(await busy.request('/health'), /^HTTP\/1\.1 200/);
    const running = completion(e, true);
    await new Promise((r) => setTimeout(r, 50));
    const drained = e.drain();
    await idle.closed; // closed by the drain, not by the keep-alive timeout (5 s)
    assert.equal((await running).status, 200);
    await (await running).text();
    await drained;
    await busy.closed;
  });

  it('cuts what is still running when the timeout passes', async () => {
    const e = await engine();
    const res = await fetch(e.url + '/v1/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'sim', prompt: 'hello', max_tokens: 500, ignore_eos: true, stream: true }),
    });
    const t0 = Date.now();
    await e.drain(100);
    assert.ok(Date.now() - t0 < 2000);
    await assert.rejects(res.text());
  });
});
