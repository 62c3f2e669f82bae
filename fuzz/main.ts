// `npm run fuzz -- <name> [args]`: runs one fuzzer. Each is a module exporting `run(argv)` that prints a summary
// and sets a non-zero exit code on failure; add a line to FUZZERS for a new one. Without a name this lists them.
//
//   npm run fuzz -- http1 [--iterations N] [--seed S]   request framing: our HTTP/1.1 parser vs llhttp

interface Fuzzer {
  description: string;
  load: () => Promise<{ run(argv: string[]): Promise<void> }>;
}

const FUZZERS: Record<string, Fuzzer> = {
  http1: { description: 'HTTP/1.1 request framing, differential against llhttp (node:http)', load: () => import('./http1.ts') },
};

const [name, ...rest] = process.argv.slice(2);
const fuzzer = name !== undefined ? FUZZERS[name] : undefined;
if (!fuzzer) {
  const help = name === undefined || name === '--help' || name === '-h';
  const out = help ? process.stdout : process.stderr;
  if (!help) out.write(`unknown fuzzer ${JSON.stringify(name)}\n`);
  out.write('usage: npm run fuzz -- <name> [options]\n\n');
  for (const [n, f] of Object.entries(FUZZERS)) out.write(`  ${n.padEnd(10)} ${f.description}\n`);
  process.exit(help ? 0 : 2);
}
try {
  await (await fuzzer.load()).run(rest);
} catch (err) {
  console.error(err);
  process.exit(1);
}
