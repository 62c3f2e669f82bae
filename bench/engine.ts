// Simulated-engine benchmark: runs `matrixinfer engine` (a child process, as the node agent runs it) with a profile
// and drives it closed-loop at 1, 8, 32 and 128 concurrent streaming requests of the profile's reference workload
// (unique 1,000-token prompts, 128 output tokens, so nothing hits the prefix cache). Prints, per concurrency, the
// median time to first token and median per-request inter-token latency measured by the client beside the profile's
// reference figures, and the engine process's own CPU time per generated token (from /proc), which bounds how many
// busy engines this machine can simulate. Also times the tokenizer on a 220 KB prompt.
//
//   npm run bench -- engine [--smoke] [--profile llama-3.1-70b-h100-tp4] [--concurrency 1,8,32,128] [--requests N]

import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_PROFILE, getProfile, type EngineProfile } from '../src/engine/profiles.ts';
import { createTokenizer, Llama3Tokenizer } from '../src/engine/tokenizer.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLK_TCK = 100; // Linux USER_HZ

interface Options {
  smoke: boolean;
  profile: EngineProfile;
  concurrency: number[];
  /** Requests per client per level (0: by concurrency). */
  requests: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { smoke: false, profile: getProfile(DEFAULT_PROFILE), concurrency: [1, 8, 32, 128], requests: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--smoke') o.smoke = true;
    else if (a === '--profile') o.profile = getProfile(next());
    else if (a === '--concurrency') o.concurrency = next().split(',').map(Number);
    else if (a === '--requests') o.requests = Number(next());
    else throw new Error(`unknown argument ${a}`);
  }
  if (o.smoke) o.concurrency = [1, 8];
  return o;
}

// ---- the engine process ---------------------------------------------------------------------------------------

interface Engine {
  url: string;
  child: ChildProcess;
  cpuMs(): number;
}

async function startEngine(profile: EngineProfile): Promise<Engine> {
  const child = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', join(ROOT, 'src/cli/main.ts'), 'engine', '--profile', profile.name, '--served-model-name', 'm', '--port', '0'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`engine did not start: ${err}`)), 30_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /engine listening on (http:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', (code) => reject(new Error(`engine exited (${code}): ${err}`)));
  });
  const pid = child.pid!;
  return {
    url,
    child,
    cpuMs() {
      // /proc/<pid>/stat: fields 14 and 15 (utime, stime) after the parenthesised command name.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
    },
  };
}

// ---- the load ---------------------------------------------------------------------------------------------------

interface Sample {
  ttftMs: number;
  itlMs: number;
  tokens: number;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

/** One streaming completion; TTFT and mean inter-token gap as the client sees them. */
function request(url: string, prompt: number[], maxTokens: number): Promise<Sample> {
  const body = JSON.stringify({ model: 'm', prompt, max_tokens: maxTokens, ignore_eos: true, stream: true });
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(url + '/v1/completions', { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`status ${res.statusCode}`));
        res.resume();
        return;
      }
      const times: number[] = [];
      let tail = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const now = performance.now();
        const text = tail + chunk;
        let from = 0;
        for (let i = text.indexOf('\n\n'); i >= 0; i = text.indexOf('\n\n', from)) {
          if (text.startsWith('data: {', from)) times.push(now);
          from = i + 2;
        }
        tail = text.slice(from);
      });
      res.on('end', () => {
        if (times.length < 2) return reject(new Error(`only ${times.length} chunks`));
        resolve({ ttftMs: times[0]! - t0, itlMs: (times.at(-1)! - times[0]!) / (times.length - 1), tokens: times.length });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

let promptCounter = 0;
/** Unique token ids, so no two prompts share a cached block. */
function uniquePrompt(n: number): number[] {
  const k = ++promptCounter;
  return Array.from({ length: n }, (_, i) => 1000 + ((k * 7919 + i * 104_729) % 100_000));
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Level {
  concurrency: number;
  samples: Sample[];
  cpuMsPerToken: number;
  tokensPerSecond: number;
}

/**
 * `concurrency` clients, each sending `perClient` requests back to back. Client i starts i/concurrency of a request's
 * expected duration late, so prefills are spread over time as in a steady stream (clients that start together with
 * equal output lengths would prefill in lockstep forever); each client's first request (the ramp) is not counted
 * when it sends more than one.
 */
async function level(e: Engine, concurrency: number, perClient: number, promptTokens: number, outputTokens: number, expectedMs: number): Promise<Level> {
  const samples: Sample[] = [];
  let tokens = 0;
  const cpu0 = e.cpuMs();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      await new Promise((r) => setTimeout(r, (i * expectedMs) / concurrency));
      for (let r = 0; r < perClient; r++) {
        const s = await request(e.url, uniquePrompt(promptTokens), outputTokens);
        tokens += s.tokens;
        if (r > 0 || perClient === 1) samples.push(s);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return { concurrency, samples, cpuMsPerToken: (e.cpuMs() - cpu0) / tokens, tokensPerSecond: tokens / seconds };
}

// ---- tokenizer ----------------------------------------------------------------------------------------------------

/** ≈ 220 KB of the repository's own TypeScript and Markdown: prose, code and JSON-ish text. */
function bigPrompt(bytes: number): string {
  let out = '';
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      if (out.length >= bytes) return;
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(ts|md)$/.test(name)) out += readFileSync(p, 'utf8');
    }
  };
  walk(join(ROOT, 'src'));
  return out.slice(0, bytes);
}

function tokenizerTimes(): { loadMs: number; chars: number; tokens: number; coldMs: number; warmMs: number; repeatMs: number } {
  let t = performance.now();
  createTokenizer('llama3');
  const loadMs = performance.now() - t;
  const text = bigPrompt(220 * 1024);
  const tok = new Llama3Tokenizer();
  t = performance.now();
  const ids = tok.encode(text);
  const coldMs = performance.now() - t;
  t = performance.now();
  tok.encode(text + ' (a different question)'); // new prompt, known pieces
  const warmMs = performance.now() - t;
  t = performance.now();
  tok.encode(text); // the same prompt again
  const repeatMs = performance.now() - t;
  return { loadMs, chars: text.length, tokens: ids.length, coldMs, warmMs, repeatMs };
}

// ---- report -----------------------------------------------------------------------------------------------------

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const fmt = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');

export async function run(argv: string[]): Promise<void> {
  const o = parseArgs(argv);
  const p = o.profile;
  const promptTokens = o.smoke ? 200 : p.referenceWorkload.promptTokens;
  const outputTokens = o.smoke ? 16 : p.referenceWorkload.outputTokens;

  const tk = tokenizerTimes();
  console.log(
    `tokenizer (Llama-3 BPE): vocabulary load ${fmt(tk.loadMs, 0)} ms; ${Math.round(tk.chars / 1024)} KB prompt = ${tk.tokens} tokens: ` +
      `cold ${fmt(tk.coldMs, 0)} ms, new prompt with known pieces ${fmt(tk.warmMs, 0)} ms, same prompt again ${fmt(tk.repeatMs, 1)} ms`,
  );

  const e = await startEngine(p);
  try {
    await request(e.url, uniquePrompt(promptTokens), 8); // warm-up (JIT)
    const levels: Level[] = [];
    for (const c of o.concurrency) {
      const perClient = o.requests || (o.smoke ? 1 : c >= 32 ? 3 : c >= 8 ? 4 : 5);
      const ref = p.reference.find((r) => r.concurrency === c) ?? p.reference.at(-1)!;
      levels.push(await level(e, c, perClient, promptTokens, outputTokens, ref.ttftMs + outputTokens * ref.itlMs));
    }

    console.log(`\nprofile ${p.name}: ${p.description}`);
    console.log(
      `workload: closed loop, unique ${promptTokens}-token prompts, ${outputTokens} output tokens, streaming, client starts ` +
        `staggered over one request, first request per client not counted${o.smoke ? ' (smoke: reduced)' : ''}\n`,
    );
    const rows = levels.map((l) => {
      const ref = o.smoke ? undefined : p.reference.find((r) => r.concurrency === l.concurrency);
      const ttft = median(l.samples.map((s) => s.ttftMs));
      const itl = median(l.samples.map((s) => s.itlMs));
      return [
        String(l.concurrency),
        String(l.samples.length),
        fmt(ttft),
        ref ? fmt(ref.ttftMs) : '-',
        ref ? `${fmt((ttft / ref.ttftMs - 1) * 100, 0)}%` : '-',
        fmt(itl),
        ref ? fmt(ref.itlMs) : '-',
        ref ? `${fmt((itl / ref.itlMs - 1) * 100, 0)}%` : '-',
        fmt(l.tokensPerSecond, 0),
        fmt(l.cpuMsPerToken * 1000, 0),
      ];
    });
    console.log(
      table(
        ['concurrency', 'requests', 'TTFT p50 ms', 'ref', 'Δ', 'ITL p50 ms', 'ref', 'Δ', 'tokens/s', 'engine CPU µs/token'],
        rows,
      ),
    );
    console.log(`\nref: ${p.referenceBasis}.`);
    const busiest = levels.at(-1)!;
    const cores = (64 * busiest.tokensPerSecond * busiest.cpuMsPerToken) / 1000;
    console.log(
      `CPU: at ${busiest.concurrency} concurrent the engine process used ${fmt(busiest.cpuMsPerToken * 1000, 0)} µs per generated token ` +
        `(HTTP, SSE and scheduling included); 64 engines at ${fmt(busiest.tokensPerSecond, 0)} tokens/s each would need ${fmt(cores, 2)} cores.`,
    );
  } finally {
    e.child.kill('SIGTERM');
    agent.destroy();
  }
}

if (import.meta.main) {
  run(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
