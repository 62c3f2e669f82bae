// KV events from the engine: what the cache reports (a recording sink), and the real thing over ZeroMQ on loopback —
// a subscriber sees BlockStored with the hashes the gateway computes for the same tokens, and the replay socket
// serves missed batches.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { Dealer, Subscriber } from 'zeromq';
import { DEFAULT_KV_HASH_SEED, key53OfWire, KvBlockHasher } from '../api/kv-block-hash.ts';
import { decodeKvEventBatch, readSeq, seqFrame, type KvEvent } from '../api/kv-events.ts';
import { emptyKvState, PagedKvCache, type KvEventSink, type KvHolder } from './kv-cache.ts';
import { bindAddress, parseKvEventsConfig } from '../api/kv-events-config.ts';
import { parseEngineArgs } from './options.ts';
import { startEngine, type EngineServer } from './server.ts';
import { createTokenizer } from './tokenizer.ts';

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);
const holder = (ids: number[], lora: string | null = null): KvHolder => ({ ...emptyKvState(), promptTokenIds: ids, outputTokenIds: [], lora, cacheable: true });

function recorder(): KvEventSink & { log: string[]; stored_: Array<{ hashes: bigint[]; parent: bigint | null; tokens: number[] }> } {
  const log: string[] = [];
  const stored_: Array<{ hashes: bigint[]; parent: bigint | null; tokens: number[] }> = [];
  return {
    log,
    stored_,
    stored: (hashes, parent, tokens) => {
      log.push(`stored ${hashes.length}`);
      stored_.push({ hashes, parent, tokens });
    },
    removed: () => log.push('removed'),
    cleared: () => log.push('cleared'),
  };
}

async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, host, r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('KV cache events', () => {
  it('reports registered blocks as one BlockStored per run, chained to the parent, with hashes anyone can recompute', () => {
    const sink = recorder();
    const kv = new PagedKvCache({ numBlocks: 8, blockSize: 4, events: sink });
    const a = holder(range(0, 10));
    kv.allocate(a, 10);
    kv.commit(a, 10);
    assert.deepEqual(sink.log, ['stored 2']);
    const h = new KvBlockHasher({ algo: 'sha256_cbor', seed: DEFAULT_KV_HASH_SEED });
    const keys = new Float64Array(2);
    h.keys(range(0, 10), 4, null, keys);
    assert.deepEqual(sink.stored_[0]!.hashes.map(key53OfWire), [...keys]);
    assert.equal(sink.stored_[0]!.parent, null);
    assert.deepEqual(sink.stored_[0]!.tokens, range(0, 8));
    kv.free(a);

    // A second sequence sharing the first block: only its new block is stored, with the shared block as parent.
    const b = holder([...range(0, 4), 100, 101, 102, 103, 104]);
    const cached = kv.lookup(b, 9);
    assert.equal(cached, 4);
    kv.allocate(b, 9, cached);
    kv.commit(b, 9);
    assert.deepEqual(sink.log, ['stored 2', 'stored 1']);
    assert.equal(sink.stored_[1]!.parent, sink.stored_[0]!.hashes[0]);
    kv.free(b);

    // Fill the cache: cached blocks are evicted (BlockRemoved); a reset clears all.
    const c = holder(range(500, 32));
    assert.ok(kv.allocate(c, 32));
    assert.ok(sink.log.filter((e) => e === 'removed').length >= 3, sink.log.join());
    kv.free(c);
    assert.equal(kv.resetPrefixCache(), true);
    assert.equal(sink.log.at(-1), 'cleared');
  });

  it('the flag takes vLLM\'s fields and binds `*` to the engine host', () => {
    const c = parseKvEventsConfig('{"enable_kv_cache_events":true,"publisher":"zmq","endpoint":"tcp://*:5557","replay_endpoint":"tcp://*:5558","topic":"kv-events"}');
    assert.equal(c.topic, 'kv-events');
    assert.equal(bindAddress(c.endpoint, '10.1.2.3'), 'tcp://10.1.2.3:5557');
    assert.equal(bindAddress(c.endpoint, '0.0.0.0'), 'tcp://*:5557');
    assert.throws(() => parseKvEventsConfig('{"enable_kv_cache_events":"yes"}'), /boolean/);
    assert.throws(() => parseKvEventsConfig('{"endpoint":"ipc:///tmp/x"}'), /tcp:\/\/host:port/);
    assert.throws(() => parseKvEventsConfig('{"nope":1}'), /unknown field/);
    assert.throws(() => parseEngineArgs(['m', '--kv-events-config', '[1]'], { warn: () => {} }));
    assert.equal(parseEngineArgs(['m', '--kv-events-config', '{"enable_kv_cache_events":false}'], { warn: () => {} }).kvEvents, undefined);
  });
});

describe('KV events over ZeroMQ', () => {
  let engine: EngineServer | undefined;
  const sockets: Array<{ close(): void }> = [];
  after(async () => {
    for (const s of sockets) s.close();
    await engine?.close();
  });

  it('publishes [topic, seq, batch] per step and replays from a sequence number', async () => {
    const [pubPort, replayPort] = [await freePort(), await freePort()];
    const cfg = JSON.stringify({ enable_kv_cache_events: true, publisher: 'zmq', endpoint: `tcp://*:${pubPort}`, replay_endpoint: `tcp://*:${replayPort}`, topic: 'kv-events' });
    engine = await startEngine(
      parseEngineArgs(['m', '--host', '127.0.0.1', '--port', '0', '--time-to-first-token-ms', '1', '--inter-token-latency-ms', '1', '--kv-events-config', cfg, '--block-size', '16'], {
        warn: () => {},
        env: { PYTHONHASHSEED: '7' },
      }),
    );
    const sub = new Subscriber({ linger: 0 });
    sockets.push(sub);
    sub.connect(`tcp://127.0.0.1:${pubPort}`);
    sub.subscribe('kv-events');
    await new Promise((r) => setTimeout(r, 200)); // the slow-joiner: let the subscription reach the publisher

    const prompt = 'The quick brown fox jumps over the lazy dog. '.repeat(20);
    const res = await fetch(`${engine.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt, max_tokens: 2 }) });
    assert.equal(res.status, 200);

    const [topic, seq, payload] = await sub.receive();
    assert.equal(topic!.toString(), 'kv-events');
    assert.equal(readSeq(seq!), 0);
    const batch = decodeKvEventBatch(payload!);
    const stored = batch.events.filter((e): e is Extract<KvEvent, { type: 'BlockStored' }> => e.type === 'BlockStored');
    assert.ok(stored.length >= 1);
    assert.equal(stored[0]!.blockSize, 16);
    assert.equal(stored[0]!.medium, 'GPU');

    // The gateway's computation: BOS + the prompt's Llama-3 tokens, sha256_cbor with the engine's PYTHONHASHSEED.
    const tok = createTokenizer('llama3');
    const ids = [tok.bosTokenId!, ...tok.encode(prompt)];
    const keys = new Float64Array(Math.floor(ids.length / 16));
    new KvBlockHasher({ algo: 'sha256_cbor', seed: '7' }).keys(ids, 16, null, keys);
    const published = stored.flatMap((e) => e.blockHashes.map(key53OfWire));
    assert.deepEqual(published.slice(0, keys.length), [...keys], 'the published hashes are the ones the gateway computes');

    // Replay from 0: the same batch, then the end marker.
    const dealer = new Dealer({ linger: 0 });
    sockets.push(dealer);
    dealer.connect(`tcp://127.0.0.1:${replayPort}`);
    await dealer.send(['', seqFrame(0)]);
    const [, s0, p0] = await dealer.receive();
    assert.equal(readSeq(s0!), 0);
    assert.deepEqual(Buffer.from(p0!), Buffer.from(payload!));
    let frames = await dealer.receive();
    while (readSeq(frames[1]!) !== -1) frames = await dealer.receive();
    assert.equal(frames[2]!.length, 0, 'the end marker has an empty payload');
  });
});
