// Micro-benchmark of exact prefix scoring (src/gateway/scheduling/prefix.ts with KV-event indexes): the scorer's
// prepare + score over 4 candidate pods whose exact indexes are live, for an ordinary prompt and a 200 KB one, both
// for a prompt seen before (the tokenizer's whole-prompt cache and the block-key cache hit) and a new one (tokenized
// and hashed from scratch), after warming the JIT up; min over the runs.
// `./node_modules/.bin/node scripts/kv-scorer-bench.ts`.
import { encodeKvEventBatch } from '../src/api/kv-events.ts';
import { createTokenizer } from '../src/engine/tokenizer.ts';
import { ExactPrefixIndex } from '../src/gateway/kv-events/exact-index.ts';
import { promptTokenIds, setTokenizer } from '../src/gateway/kv-events/prompt-tokens.ts';
import { kvEventsTarget } from '../src/gateway/kv-events/target.ts';
import { Endpoint } from '../src/gateway/scheduling/endpoint.ts';
import { PrefixCacheScorer } from '../src/gateway/scheduling/prefix.ts';
import { KvBlockHasher, wireHash } from '../src/api/kv-block-hash.ts';
import type { SchedulingRequest } from '../src/gateway/scheduling/types.ts';

const tok = createTokenizer('llama3');
setTokenizer('llama3', tok);
const cfg = '{"enable_kv_cache_events":true,"publisher":"zmq","endpoint":"tcp://*:5557"}';
const text = (seed: number, chars: number): string => {
  let s = '';
  for (let i = 0; s.length < chars; i++) s += `Item ${seed}.${i}: the ${i % 3 ? 'blue' : 'red'} report for unit ${(i * 31 + seed) % 977} notes ${(i * 7) % 113} open tasks. `;
  return s;
};

function endpoints(holding: string): Endpoint[] {
  const eps: Endpoint[] = [];
  for (let p = 0; p < 4; p++) {
    const ep = new Endpoint('default', `pod-${p}`, `10.0.0.${p}`, 8000);
    ep.kvEvents = kvEventsTarget([{ args: ['m', '--kv-events-config', cfg] }], ep.ip, 'm').target;
    const ix = new ExactPrefixIndex(1 << 20);
    ix.start(0);
    ix.replayed(0, []);
    // Pod 0 holds the whole prompt, the others its first half.
    const ids = promptTokenIds({ prompt: holding }, tok, 'm')!;
    const h = new KvBlockHasher({ algo: 'sha256_cbor', seed: '0' });
    const hashes: bigint[] = [];
    let parent: Buffer | null = null;
    const n = Math.floor(ids.length / 16) >> (p === 0 ? 0 : 1);
    for (let b = 0; b < n; b++) hashes.push(wireHash((parent = h.next(parent, ids, b * 16, b * 16 + 16, null))));
    ix.live(0, encodeKvEventBatch({ ts: 0, dataParallelRank: 0, events: [{ type: 'BlockStored', blockHashes: hashes, parentBlockHash: null, tokenIds: [], blockSize: 16, loraId: null, medium: 'GPU', loraName: null }] }), 0);
    ep.kvIndex = ix;
    eps.push(ep);
  }
  return eps;
}

function bench(label: string, chars: number): void {
  const base = text(0, chars);
  const eps = endpoints(base);
  const scorer = new PrefixCacheScorer(1);
  const out = new Float64Array(4);
  const decide = (prompt: string): number => {
    const req: SchedulingRequest = { model: 'm', body: { prompt }, headers: {} };
    const t0 = process.hrtime.bigint();
    scorer.prepare(req);
    scorer.score(req, eps, out);
    return Number(process.hrtime.bigint() - t0) / 1000;
  };
  const runs = chars > 20_000 ? 30 : 1000; // warm the JIT up first
  for (let i = 0; i < runs; i++) decide(base);
  let warm = Infinity;
  for (let i = 0; i < runs; i++) warm = Math.min(warm, decide(base));
  if (out[0]! < 99) throw new Error(`pod 0 should hold the whole prompt: ${out[0]}`);
  let cold = Infinity;
  for (let i = 1; i <= (chars > 20_000 ? 5 : 50); i++) cold = Math.min(cold, decide(text(i, chars))); // a new prompt each time
  const blocks = Math.floor(promptTokenIds({ prompt: base }, tok, 'm')!.length / 16);
  console.log(`${label} (${chars} chars, ${blocks} blocks): seen before ${warm.toFixed(0)} µs, new ${cold.toFixed(0)} µs per decision (4 live pods, min of runs)`);
}

bench('ordinary prompt', 2_000);
bench('long prompt', 200_000);
