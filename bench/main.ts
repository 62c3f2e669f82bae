// `npm run bench -- <name> [args]`: runs one benchmark. Each is a module exporting `run(argv)` that prints a table;
// add a line to BENCHMARKS for a new one. Without a name (or with --help) this lists them.
//
//   npm run bench -- engine [--smoke]      simulated engine: TTFT/ITL vs the published figures the profile was fitted to
//   npm run bench -- overhead [--smoke]    gateway overhead vs direct and nginx
//   npm run bench -- routing [--smoke]     routing quality on shared-prefix workloads
//   npm run bench -- footprint [--smoke]   resident memory of the quickstart's process tree, with one and more engines
//   npm run bench -- autoscaling [--smoke] fixed fleet, HPA-style, KPA-style and our autoscaler on a compressed diurnal day of Azure traces
//   npm run bench -- cache [--smoke]       response cache: hit and false-hit rates on labelled pairs, latency of a hit vs a miss
//   npm run bench -- speculative [--smoke] simulated speculative decoding: TTFT/TPOT with a draft model, EAGLE-3, n-gram vs none
//   npm run bench -- download [--smoke]    model downloader: MiB/s per store (local S3, Azure, GCS servers, Hub stand-in), cache hit, resume

interface Benchmark {
  description: string;
  load: () => Promise<{ run(argv: string[]): Promise<void> }>;
}

const BENCHMARKS: Record<string, Benchmark> = {
  engine: {
    description: 'simulated engine: TTFT and ITL vs published vLLM figures for the profile (same workload), CPU per token, a fleet of 64 engines, tokenizer speed',
    load: () => import('./engine.ts'),
  },
  overhead: { description: 'latency the gateway adds over direct and nginx', load: () => import('./overhead.ts') },
  routing: { description: 'routing quality (TTFT, prefix-cache hits) per scheduling policy', load: () => import('./routing.ts') },
  footprint: { description: 'resident memory (RSS) per process of the quickstart, with one engine and scaled up, vs the targets', load: () => import('./footprint.ts') },
  autoscaling: {
    description: 'SLO attainment, replica-seconds, actions and oscillations of a fixed fleet, HPA-style, KPA-style and our autoscaler on a compressed day of real traces (discrete-event simulation)',
    load: () => import('./autoscaling.ts'),
  },
  speculative: {
    description: "simulated speculative decoding (what a SpeculativeDecoding writes): TTFT, time per output token and tokens/s against none, with the engine's acceptance",
    load: () => import('./speculative.ts'),
  },
  download: {
    description: 'model downloader: throughput per store against local S3/Azure/GCS servers and the Hub stand-in, cache-hit time, bytes re-fetched after a resume at 50 %',
    load: () => import('./download.ts'),
  },
  cache: {
    description: 'response cache: hit rate and false-hit rate on labelled near-duplicate and must-not-match pairs, a threshold sweep, latency of a hit vs a miss',
    load: () => import('./cache.ts'),
  },
};

const [name, ...rest] = process.argv.slice(2);
const bench = name !== undefined ? BENCHMARKS[name] : undefined;
if (!bench) {
  const out = name === undefined || name === '--help' || name === '-h' ? process.stdout : process.stderr;
  if (name !== undefined && name !== '--help' && name !== '-h') out.write(`unknown benchmark ${JSON.stringify(name)}\n`);
  out.write('usage: npm run bench -- <name> [--smoke] [options]\n\n');
  for (const [n, b] of Object.entries(BENCHMARKS)) out.write(`  ${n.padEnd(11)} ${b.description}\n`);
  process.exit(out === process.stdout ? 0 : 2);
}
try {
  await (await bench.load()).run(rest);
} catch (err) {
  console.error(err);
  process.exit(1);
}
