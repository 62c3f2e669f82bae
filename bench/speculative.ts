// Speculative decoding in the simulated engine (src/engine/speculative.ts): the same closed-loop streaming workload
// against an engine without speculation and with the configurations a SpeculativeDecoding writes (vLLM's
// --speculative-config: a draft model, EAGLE-3, n-gram lookup), each engine a child process as the node agent runs it.
// Per concurrency it prints the client's median time to first token and time per output token (TPOT: (last token −
// first token) / (tokens − 1)), output tokens per second, and what the engine's vllm:spec_decode_* counters say:
// the acceptance rate (accepted / proposed) and tokens per decode step (1 + accepted / drafts).
//
//   npm run bench -- speculative [--smoke] [--profile llama-3.1-8b-h100] [--levels 1,4,16,64] [--max-tokens 256]
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENGINE_NODE_FLAGS } from '../src/agent/host.ts';
import { DEFAULT_PROFILE } from '../src/engine/profiles.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Config {
  name: string;
  args: string[];
}

const CONFIGS: Config[] = [
  { name: 'none', args: [] },
  { name: 'draft Llama-3.2-1B, k=5', args: ['--speculative-config', '{"method":"draft_model","model":"meta-llama/Llama-3.2-1B","num_speculative_tokens":5}'] },
  { name: 'EAGLE-3, k=3', args: ['--speculative-config', '{"method":"eagle3","model":"yuhuili/EAGLE3-LLaMA3.1-Instruct-8B","num_speculative_tokens":3}'] },
  { name: 'n-gram, k=4', args: ['--speculative-config', '{"method":"ngram","num_speculative_tokens":4,"prompt_lookup_max":4}'] },
];

interface Engine {
  url: string;
  child: ChildProcess;
}

async function startEngine(profile: string, args: string[]): Promise<Engine> {
  const child = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', ...ENGINE_NODE_FLAGS, join(ROOT, 'src/cli/main.ts'), 'engine', 'meta-llama/Llama-3.1-8B-Instruct', '--profile', profile, '--served-model-name', 'm', '--port', '0', '--startup-seconds', '0', ...args],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`engine did not start: ${err}`)), 30_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /engine listening on (http:\/\/[^\s"]+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', (code) => reject(new Error(`engine exited (${code}): ${err}`)));
  });
  return { url, child };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

/** One streaming completion: TTFT and TPOT as the client sees them (a token is an SSE chunk carrying text). */
function stream(url: string, prompt: string, maxTokens: number): Promise<{ ttftMs: number; tpotMs: number; tokens: number }> {
  const payload = JSON.stringify({ model: 'm', prompt, max_tokens: maxTokens, ignore_eos: true, stream: true });
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(`${url}/v1/completions`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      let first = -1;
      let last = -1;
      let tokens = 0;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const now = performance.now();
        for (const ev of chunk.split('\n\n')) {
          if (!ev.startsWith('data: {')) continue;
          if (first < 0) first = now;
          last = now;
          tokens++;
        }
      });
      res.on('end', () => (tokens < 2 ? reject(new Error(`status ${res.statusCode}, ${tokens} tokens`)) : resolve({ ttftMs: first - t0, tpotMs: (last - first) / (tokens - 1), tokens })));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

let promptCounter = 0;
function prompt(): string {
  const n = ++promptCounter;
  return Array.from({ length: 40 }, (_, i) => `w${n}x${i}`).join(' ');
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)]!;
};

interface Row {
  config: string;
  concurrency: number;
  ttftMs: number;
  tpotMs: number;
  tokensPerSecond: number;
  acceptance: number;
  tokensPerStep: number;
}

async function level(engine: Engine, config: string, concurrency: number, perClient: number, maxTokens: number): Promise<Row> {
  const before = await Promise.all(['vllm:spec_decode_num_drafts_total', 'vllm:spec_decode_num_draft_tokens_total', 'vllm:spec_decode_num_accepted_tokens_total'].map((n) => metric(engine.url, n)));
  const samples: { ttftMs: number; tpotMs: number; tokens: number }[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = 0; i < perClient; i++) samples.push(await stream(engine.url, prompt(), maxTokens));
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const after = await Promise.all(['vllm:spec_decode_num_drafts_total', 'vllm:spec_decode_num_draft_tokens_total', 'vllm:spec_decode_num_accepted_tokens_total'].map((n) => metric(engine.url, n)));
  const [drafts, proposed, accepted] = after.map((v, i) => v - before[i]!);
  return {
    config,
    concurrency,
    ttftMs: median(samples.map((s) => s.ttftMs)),
    tpotMs: median(samples.map((s) => s.tpotMs)),
    tokensPerSecond: samples.reduce((n, s) => n + s.tokens, 0) / seconds,
    acceptance: accepted! / proposed!,
    tokensPerStep: 1 + accepted! / drafts!,
  };
}

export async function run(argv: string[]): Promise<void> {
  const smoke = argv.includes('--smoke');
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const profile = arg('--profile') ?? DEFAULT_PROFILE;
  const levels = (arg('--levels') ?? (smoke ? '1,16' : '1,4,16,64')).split(',').map(Number);
  const maxTokens = Number(arg('--max-tokens') ?? (smoke ? 64 : 256));
  const configs = smoke ? CONFIGS.slice(0, 2) : CONFIGS;
  console.log(`speculative decoding in the simulated engine: profile ${profile}, closed loop, 40-word prompts, ${maxTokens} output tokens (ignore_eos), streaming completions`);
  const rows: Row[] = [];
  for (const config of configs) {
    const engine = await startEngine(profile, config.args);
    try {
      for (const concurrency of levels) rows.push(await level(engine, config.name, concurrency, smoke ? 2 : Math.max(2, Math.ceil(16 / concurrency)), maxTokens));
    } finally {
      engine.child.kill('SIGKILL');
    }
  }
  const base = new Map(rows.filter((r) => r.config === 'none').map((r) => [r.concurrency, r]));
  const header = ['speculation', 'concurrent', 'TTFT p50 ms', 'TPOT p50 ms', 'TPOT vs none', 'tokens/s', 'accepted', 'tokens/step'];
  const lines = rows.map((r) => {
    const b = base.get(r.concurrency);
    return [
      r.config,
      String(r.concurrency),
      r.ttftMs.toFixed(1),
      r.tpotMs.toFixed(2),
      b && r.config !== 'none' ? `${((r.tpotMs / b.tpotMs - 1) * 100).toFixed(0)} %` : '',
      r.tokensPerSecond.toFixed(0),
      Number.isFinite(r.acceptance) ? `${(r.acceptance * 100).toFixed(0)} %` : '',
      Number.isFinite(r.tokensPerStep) ? r.tokensPerStep.toFixed(2) : '1',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i < 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(fmt(header));
  for (const l of lines) console.log(fmt(l));
}
