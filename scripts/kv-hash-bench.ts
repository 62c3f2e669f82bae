// Micro-benchmark of the KV block hash (src/api/kv-block-hash.ts): ns per 16-token block over a long token
// sequence, min of several runs. `./node_modules/.bin/node scripts/kv-hash-bench.ts [blocks]`.
import { KvBlockHasher } from '../src/api/kv-block-hash.ts';

const blocks = Number(process.argv[2] ?? 4096);
const bs = 16;
const tokens = Array.from({ length: blocks * bs }, (_, i) => (i * 7919) % 128256);
const out = new Float64Array(blocks);
for (const algo of ['sha256_cbor', 'sha256_cbor_64bit'] as const) {
  const h = new KvBlockHasher({ algo, seed: '0' });
  for (let i = 0; i < 3; i++) h.keys(tokens, bs, null, out); // warm up
  let best = Infinity;
  for (let run = 0; run < 7; run++) {
    const t0 = process.hrtime.bigint();
    h.keys(tokens, bs, null, out);
    const ns = Number(process.hrtime.bigint() - t0);
    if (ns < best) best = ns;
  }
  console.log(`${algo}: ${(best / blocks).toFixed(0)} ns per ${bs}-token block (${blocks} blocks, min of 7)`);
}
