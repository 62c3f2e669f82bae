// Simulated-engine benchmark: runs `matrixinfer engine` (a child process, as the node agent runs it) with a profile
// and drives it with the workload of the published benchmark the profile was calibrated from (bench/reference/): the
// same prompt shape, output length, streaming API and load pattern (closed loop at the source's concurrencies, or
// Poisson arrivals at its request rates). Prints, per level, the median time to first token and median time per
// output token measured by the client beside the published figures, with the residual, and the engine process's own
// CPU time per generated token (from /proc), which bounds how many busy engines this machine can simulate. Also
// times the tokenizer on a 220 KB prompt.
//
//   npm run bench -- engine [--smoke] [--profile llama-3.1-70b-h100-tp4] [--levels 1,4,16,64] [--requests N]

import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_PROFILE, getProfile, type EngineProfile } from '../src/engine/profiles.ts';
import { createTokenizer, Llama3Tokenizer } from '../src/engine/tokenizer.ts';
import { referenceFor, type ClosedLoopWorkload, type PoissonWorkload, type Reference, type ReferencePoint } from './reference/index.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLK_TCK = 100; // Linux USER_HZ

interface Options {
  smoke: boolean;
  profile: EngineProfile;
  /** Concurrencies (closed loop) or request rates (Poisson) to run; default: the reference's. */
  levels?: number[];
  /** Requests per client per level (closed loop) or per rate (Poisson); 0: the default for the level. */
  requests: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { smoke: false, profile: getProfile(DEFAULT_PROFILE), requests: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--smoke') o.smoke = true;
    else if (a === '--profile') o.profile = getProfile(next());
    else if (a === '--levels' || a === '--concurrency' || a === '--rates') o.levels = next().split(',').map(Number);
    else if (a === '--requests') o.requests = Number(next());
    else throw new Error(`unknown argument ${a}`);
  }
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
  /** Time per output token after the first: (last token − first token) / (tokens − 1), vLLM's TPOT. */
  tpotMs: number;
  tokens: number;
  /** From the usage chunk: prompt tokens and how many of them the prefix cache served. */
  promptTokens: number;
  cachedTokens: number;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

type RequestBody = Record<string, unknown>;

/**
 * One streaming request; TTFT and TPOT as the client sees them. Token events are the SSE chunks carrying text; the
 * chat role chunk (sent with the first token) and the final usage chunk are not tokens.
 */
function request(url: string, path: string, body: RequestBody): Promise<Sample> {
  const payload = JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } });
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(url + path, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`status ${res.statusCode}`));
        res.resume();
        return;
      }
      let first = -1;
      let last = -1;
      let tokens = 0;
      let usage = { prompt_tokens: 0, prompt_tokens_details: { cached_tokens: 0 } };
      let tail = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const now = performance.now();
        const text = tail + chunk;
        let from = 0;
        for (let i = text.indexOf('\n\n'); i >= 0; i = text.indexOf('\n\n', from)) {
          const ev = text.slice(from, i);
          from = i + 2;
          if (!ev.startsWith('data: {')) continue;
          if (ev.includes('"choices":[]')) usage = (JSON.parse(ev.slice(6)) as { usage: typeof usage }).usage;
          else if (!ev.includes('"role":"assistant"')) {
            if (first < 0) first = now;
            last = now;
            tokens++;
          }
        }
        tail = text.slice(from);
      });
      res.on('end', () => {
        if (tokens < 2) return reject(new Error(`only ${tokens} tokens`));
        resolve({
          ttftMs: first - t0,
          tpotMs: (last - first) / (tokens - 1),
          tokens,
          promptTokens: usage.prompt_tokens,
          cachedTokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

let promptCounter = 0;
/** Unique token ids, so no two prompts share a cached block. */
function uniquePrompt(n: number): number[] {
  const k = ++promptCounter;
  return Array.from({ length: n }, (_, i) => 1000 + ((k * 7919 + i * 104_729) % 100_000));
}

/**
 * Short one-sentence questions in the manner of the source's built-in chatbot prompts (our own wording; about 50
 * prompt tokens each with the Llama-3.1 chat template), sent round robin as the source does.
 */
const SHORT_QUESTIONS = [
  'In two sentences, how does a hash map handle collisions?',
  'Write a short Python function that reverses a singly linked list.',
  'Give a three-sentence summary of the story of Macbeth.',
  'Why is quicksort fast on average but slow in its worst case?',
  'Describe at a high level how virtual memory paging works.',
  'When would you choose gradient clipping over a lower learning rate?',
  'List three common causes of packet loss on a busy network link.',
  'What does the TCP congestion window control, and why does it matter?',
  'When is a message queue a better choice than a direct RPC call?',
  'Briefly: how does continuous batching raise LLM serving throughput?',
];

function bodyFor(w: ClosedLoopWorkload | PoissonWorkload, i: number, maxTokens: number, promptTokens?: number): { path: string; body: RequestBody } {
  const common = { model: 'm', max_tokens: maxTokens, ignore_eos: true };
  if (w.kind === 'closed-loop' && w.promptSet.kind === 'short-chat') {
    const content = SHORT_QUESTIONS[i % Math.min(w.promptSet.distinct, SHORT_QUESTIONS.length)]!;
    return { path: '/v1/chat/completions', body: { ...common, messages: [{ role: 'user', content }] } };
  }
  const n = promptTokens ?? (w.kind === 'poisson' ? w.promptTokens : w.promptSet.kind === 'unique' ? w.promptSet.promptTokens : 0);
  return { path: '/v1/completions', body: { ...common, prompt: uniquePrompt(n) } };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Level {
  level: number;
  samples: Sample[];
  cpuMsPerToken: number;
  tokensPerSecond: number;
  /** Mean requests in flight (Little's law: Σ request durations / elapsed). */
  meanInFlight: number;
}

/**
 * Closed loop: `concurrency` clients, each sending `perClient` requests back to back. Client i starts i/concurrency
 * of a request's expected duration late, so prefills are spread over time as in a steady stream (clients that start
 * together with equal output lengths would prefill in lockstep forever); each client's first request (the ramp) is
 * not counted when it sends more than one.
 */
async function closedLoop(e: Engine, w: ClosedLoopWorkload, concurrency: number, perClient: number, maxTokens: number, expectedMs: number): Promise<Level> {
  const samples: Sample[] = [];
  let tokens = 0;
  let busyMs = 0;
  let next = 0;
  const cpu0 = e.cpuMs();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      await new Promise((r) => setTimeout(r, (i * expectedMs) / concurrency));
      for (let r = 0; r < perClient; r++) {
        const { path, body } = bodyFor(w, next++, maxTokens);
        const start = performance.now();
        const s = await request(e.url, path, body);
        busyMs += performance.now() - start;
        tokens += s.tokens;
        if (r > 0 || perClient === 1) samples.push(s);
      }
    }),
  );
  const elapsed = performance.now() - t0;
  return { level: concurrency, samples, cpuMsPerToken: (e.cpuMs() - cpu0) / tokens, tokensPerSecond: tokens / (elapsed / 1000), meanInFlight: busyMs / elapsed };
}

/** Seeded uniform [0, 1) (mulberry32), so every run sends the same arrival pattern. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Open loop: `count` requests with exponential gaps at `rate` per second; the first tenth (ramp-up) is not counted. */
async function poisson(e: Engine, w: PoissonWorkload, rate: number, count: number, outputTokens: number, promptTokens: number): Promise<Level> {
  const random = rng(42 + rate);
  const all: Promise<{ s: Sample; ms: number }>[] = [];
  const cpu0 = e.cpuMs();
  const t0 = performance.now();
  let at = 0;
  for (let k = 0; k < count; k++) {
    at += (-Math.log(1 - random()) / rate) * 1000;
    const wait = t0 + at - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const { path, body } = bodyFor(w, k, outputTokens, promptTokens);
    const start = performance.now();
    all.push(request(e.url, path, body).then((s) => ({ s, ms: performance.now() - start })));
  }
  const done = await Promise.all(all);
  const elapsed = performance.now() - t0;
  const tokens = done.reduce((n, d) => n + d.s.tokens, 0);
  return {
    level: rate,
    samples: done.slice(Math.floor(count / 10)).map((d) => d.s),
    cpuMsPerToken: (e.cpuMs() - cpu0) / tokens,
    tokensPerSecond: tokens / (elapsed / 1000),
    meanInFlight: done.reduce((n, d) => n + d.ms, 0) / elapsed,
  };
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
const delta = (sim: number, pub: number | undefined): string => (pub === undefined ? '-' : `${(sim / pub - 1) * 100 >= 0 ? '+' : ''}${fmt((sim / pub - 1) * 100, 0)}%`);

export async function run(argv: string[]): Promise<void> {
  const o = parseArgs(argv);
  const p = o.profile;
  const ref: Reference | undefined = referenceFor(p.name);
  if (!ref) throw new Error(`no published reference for profile ${p.name} in bench/reference/`);
  const w = ref.workload;
  const closed = w.kind === 'closed-loop';
  const allLevels = closed ? w.concurrency : w.rates;
  const levels = o.levels ?? (o.smoke ? allLevels.slice(0, 2) : allLevels);
  const outputTokens = o.smoke ? 16 : closed ? w.maxTokens : w.outputTokens;
  const promptTokens = closed ? undefined : o.smoke ? 64 : w.promptTokens;

  const tk = tokenizerTimes();
  console.log(
    `tokenizer (Llama-3 BPE): vocabulary load ${fmt(tk.loadMs, 0)} ms; ${Math.round(tk.chars / 1024)} KB prompt = ${tk.tokens} tokens: ` +
      `cold ${fmt(tk.coldMs, 0)} ms, new prompt with known pieces ${fmt(tk.warmMs, 0)} ms, same prompt again ${fmt(tk.repeatMs, 1)} ms`,
  );

  const e = await startEngine(p);
  try {
    await request(e.url, '/v1/completions', { model: 'm', prompt: uniquePrompt(64), max_tokens: 8, ignore_eos: true }); // warm-up (JIT)
    const results: Level[] = [];
    for (const level of levels) {
      if (closed) {
        const perClient = o.requests || (o.smoke ? 2 : level >= 64 ? 3 : level >= 16 ? 5 : level >= 4 ? 8 : 12);
        // Stagger client starts over one request as the profile itself would serve it at this concurrency.
        const l = p.latency;
        const expectedMs = l.timeToFirstTokenMs + outputTokens * (l.interTokenLatencyMs + l.interTokenLatencyPerSeqMs * (level - 1));
        results.push(await closedLoop(e, w, level, perClient, outputTokens, expectedMs));
      } else {
        const count = o.requests || (o.smoke ? 8 : Math.round(30 * level));
        results.push(await poisson(e, w, level, count, outputTokens, promptTokens!));
      }
    }

    const s = ref.source;
    console.log(`\nprofile ${p.name}: ${p.description}`);
    console.log(`published: ${s.title} (${s.publisher}, ${s.date})\n  ${s.url}`);
    console.log(`  ${s.model}; ${s.hardware}; ${s.engine}`);
    console.log(`  ${s.setup}`);
    const shape = closed
      ? `closed loop, ${w.promptSet.kind === 'short-chat' ? `${w.promptSet.distinct} short chat questions round robin` : `unique ${w.promptSet.promptTokens}-token prompts`}, ` +
        `max_tokens ${outputTokens} with ignore_eos, streaming ${w.api} API`
      : `Poisson arrivals, ${promptTokens}-token prompts (unique), ${outputTokens} output tokens (ignore_eos), streaming ${w.api} API`;
    console.log(`workload: ${shape}${o.smoke ? ' (smoke: reduced, not comparable)' : ''}`);
    if (!o.smoke) for (const d of ref.deviations) console.log(`  differs from the source: ${d}`);
    console.log('');

    const rows = results.map((l) => {
      const pub = o.smoke || outputTokens !== (closed ? w.maxTokens : w.outputTokens) ? undefined : ref.points.find((r) => r.level === l.level);
      const ttft = median(l.samples.map((x) => x.ttftMs));
      const tpot = median(l.samples.map((x) => x.tpotMs));
      const prompt = l.samples.reduce((n, x) => n + x.promptTokens, 0) / l.samples.length;
      const cached = l.samples.reduce((n, x) => n + x.cachedTokens, 0) / l.samples.length;
      const fit = (yes: boolean | undefined) => (yes === undefined ? '' : yes ? '' : ' *');
      return [
        closed ? String(l.level) : `${l.level}/s`,
        String(l.samples.length),
        `${fmt(prompt, 0)}/${fmt(cached, 0)}`,
        fmt(ttft),
        pub ? fmt(pub.ttftP50Ms, 2) : '-',
        delta(ttft, pub?.ttftP50Ms) + fit(pub?.fitTtft),
        fmt(tpot, 2),
        pub ? fmt(pub.tpotP50Ms, 2) : '-',
        delta(tpot, pub?.tpotP50Ms) + fit(pub?.fitTpot),
        fmt(l.tokensPerSecond, 0),
        pub?.throughputTokS !== undefined ? fmt(pub.throughputTokS, 0) : '-',
        fmt(l.meanInFlight, 1),
        fmt(l.cpuMsPerToken * 1000, 0),
      ];
    });
    console.log(
      table(
        [closed ? 'concurrency' : 'rate', 'requests', 'prompt/cached', 'TTFT p50 ms', 'published', 'Δ', 'TPOT p50 ms', 'published', 'Δ', 'tokens/s', 'published', 'in flight', 'engine CPU µs/token'],
        rows,
      ),
    );
    if (!o.smoke) {
      const notFit = ref.points.filter((r: ReferencePoint) => (!r.fitTtft || !r.fitTpot) && levels.includes(r.level));
      if (notFit.length > 0) console.log('\n* not a calibration target:');
      for (const r of notFit) console.log(`  ${closed ? 'concurrency' : 'rate'} ${r.level}: ${r.why ?? ''}`);
    }
    const busiest = results.at(-1)!;
    const cores = (64 * busiest.tokensPerSecond * busiest.cpuMsPerToken) / 1000;
    console.log(
      `\nCPU: at ${closed ? `${busiest.level} concurrent` : `${busiest.level} req/s`} the engine process used ${fmt(busiest.cpuMsPerToken * 1000, 0)} µs per generated token ` +
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
