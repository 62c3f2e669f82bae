// The shipped static embedder, and the remote provider against a real HTTP server that serves /v1/embeddings with
// the static embedder (so both providers must agree).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { staticEmbedder } from './static.ts';
import { RemoteEmbedder } from './remote.ts';
import { dot } from './embedder.ts';

test('the static embedder: unit vectors, deterministic, paraphrases closer than unrelated texts', () => {
  const e = staticEmbedder();
  assert.equal(e.dims, 128);
  const a = e.embedSync('How do I reset my password?');
  assert.ok(Math.abs(dot(a, a) - 1) < 1e-5);
  assert.deepEqual(e.embedSync('How do I reset my password?'), a);
  const para = dot(a, e.embedSync('How can I reset my password'));
  const other = dot(a, e.embedSync('Recommend a good pasta recipe'));
  assert.ok(para > 0.85 && other < 0.5, `paraphrase ${para}, unrelated ${other}`);
  assert.ok(dot(e.embedSync(''), e.embedSync('')) === 0, 'an empty text matches nothing');
  assert.equal(e.embedSync('x'.repeat(100_000)).length, 128);
});

test('the remote embedder reads an OpenAI /v1/embeddings answer and fails fast on a bad one', async () => {
  const e = staticEmbedder();
  let seen: { model?: string; input?: string; auth?: string } = {};
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const { model, input } = JSON.parse(body) as { model: string; input: string };
      seen = { model, input, auth: req.headers.authorization };
      if (input === 'fail') return res.writeHead(500).end('{}');
      if (input === 'slow') return setTimeout(() => res.end('{}'), 500);
      const v = Array.from(e.embedSync(input), (x) => x * 3); // not normalised: the client normalises
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: v }], model }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/embeddings`;
    const remote = new RemoteEmbedder({ url, model: 'emb', apiKey: 'k', timeoutMs: 200 });
    const v = await remote.embed('How do I reset my password?');
    assert.deepEqual(seen, { model: 'emb', input: 'How do I reset my password?', auth: 'Bearer k' });
    assert.equal(remote.dims, 128);
    assert.ok(dot(v, e.embedSync('How do I reset my password?')) > 0.9999);
    assert.match(remote.id, /^remote:http:\/\/127\.0\.0\.1:\d+\/v1\/embeddings#emb$/);
    await assert.rejects(remote.embed('fail'), /500/);
    await assert.rejects(remote.embed('slow'));
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
