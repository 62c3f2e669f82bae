// Simulated-engine benchmark: runs `matrixinfer engine` (a child process, as the node agent runs it) with a profile
// and drives it with the workload of the published benchmark the profile was calibrated from (bench/reference/): the
// same prompt shape, output length, streaming API and load pattern (closed loop at the source's concurrencies, or
// Poisson arrivals at its request rates). Prints, per level, the median time to first token and median time per
// output token measured by the client beside the published figures, with the residual, and the engine process's own
// CPU time per generated token (from /proc), which bounds how many busy engines this machine can simulate. Also
// times the tokenizer on a 220 KB prompt.
//
// Then a fleet (`--fleet N`, default 64; `--smoke`: 16 engines briefly; `--no-fleet` skips it): N engines (each its
// own HTTP server, scheduler, KV cache and metrics; `--engines-per-proc` of them per process, default 8, so the
// tokenizer vocabulary and module code load once per process), driven by a load generator in a separate process at
// each per-engine concurrency of `--fleet-levels` (closed loop, short chat prompts, max_tokens 128, every 4th request
// non-streaming). It prints total tokens/s, the CPU the engine processes and the load generator use (from /proc),
// the engines' event-loop lag (monitorEventLoopDelay p99) and timing fidelity: each engine's streaming TTFT/TPOT p50
// under the fleet against the same engine alone at the same load (one engine in its own process, same load
// generator). Drift means the machine cannot keep up with that many engines at that load.
//
//   npm run bench -- engine [--smoke] [--profile llama-3.1-70b-h100-tp4] [--levels 1,4,16,64] [--requests N]
//   npm run bench -- engine --fleet 64 [--fleet-levels 1,2,4,8] [--fleet-seconds 10] [--engines-per-proc 8]

import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_PROFILE, getProfile, type EngineProfile } from '../src/engine/profiles.ts';
import { createTokenizer, Llama3Tokenizer } from '../src/engine/tokenizer.ts';
import { referenceFor, type ClosedLoopWorkload, type PoissonWorkload, type Reference, type ReferencePoint } from './reference/index.ts';
import { seededRandom } from '../src/engine/latency.ts';
import { ENGINE_NODE_FLAGS } from '../src/agent/host.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLK_TCK = 100; // Linux USER_HZ

interface Options {
  smoke: boolean;
  profile: EngineProfile;
  /** Concurrencies (closed loop) or request rates (Poisson) to run; default: the reference's. */
  levels?: number[];
  /** Requests per client per level (closed loop) or per rate (Poisson); 0: the default for the level. */
  requests: number;
  /** Fleet: number of engines (0: no fleet), per-engine concurrencies, seconds per level, engines per process. */
  fleet: number;
  fleetLevels?: number[];
  fleetSeconds?: number;
  enginesPerProc: number;
  /** Run only the fleet (when --fleet is given explicitly). */
  fleetOnly: boolean;
  /** Internal: this process is a fleet engine host (N engines) or the fleet's load generator. */
  fleetHost: number;
  fleetClient: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    smoke: false,
    profile: getProfile(DEFAULT_PROFILE),
    requests: 0,
    fleet: -1,
    enginesPerProc: 8,
    fleetOnly: false,
    fleetHost: 0,
    fleetClient: false,
  };
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
    else if (a === '--fleet') {
      o.fleet = Number(next());
      o.fleetOnly = true;
    } else if (a === '--no-fleet') o.fleet = 0;
    else if (a === '--fleet-levels') o.fleetLevels = next().split(',').map(Number);
    else if (a === '--fleet-seconds') o.fleetSeconds = Number(next());
    else if (a === '--engines-per-proc') o.enginesPerProc = Number(next());
    else if (a === '--fleet-host') o.fleetHost = Number(next());
    else if (a === '--fleet-client') o.fleetClient = true;
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
    // The Node flags the node agent starts engines with (a small young generation), so the figures are the platform's.
    ['--disable-warning=ExperimentalWarning', ...ENGINE_NODE_FLAGS, join(ROOT, 'src/cli/main.ts'), 'engine', '--profile', profile.name, '--served-model-name', 'm', '--port', '0', '--startup-seconds', '0'],
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


/** Open loop: `count` requests with exponential gaps at `rate` per second; the first tenth (ramp-up) is not counted. */
async function poisson(e: Engine, w: PoissonWorkload, rate: number, count: number, outputTokens: number, promptTokens: number): Promise<Level> {
  const random = seededRandom(42 + rate);
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


// ---- fleet ------------------------------------------------------------------------------------------------------

const BENCH_FILE = fileURLToPath(import.meta.url);
const NODE_FLAGS = ['--disable-warning=ExperimentalWarning'];

/** /proc/<pid>/stat utime + stime, in ms. */
function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

/** Resident set size of a process, in MB (/proc/<pid>/status VmRSS). */
function procRssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

type HostMessage = { urls: string[] } | { lag: { p99Ms: number; maxMs: number } };

/** Child side: start N engines in this process, report their URLs, answer lag queries, stop on disconnect. */
async function fleetHost(n: number, profile: EngineProfile): Promise<void> {
  const { parseEngineArgs } = await import('../src/engine/options.ts');
  const { startEngine: start } = await import('../src/engine/server.ts');
  const engines: Awaited<ReturnType<typeof start>>[] = [];
  for (let i = 0; i < n; i++) {
    engines.push(await start(parseEngineArgs([profile.model, '--profile', profile.name, '--served-model-name', 'm', '--port', '0', '--seed', String(i)], { warn: () => {} })));
  }
  // 5 ms resolution: the monitor's own timer should not be a load of its own (a 1 ms timer wakes the process 1000×/s).
  const lag = monitorEventLoopDelay({ resolution: 5 });
  lag.enable();
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'mark') lag.reset();
    else if (m.cmd === 'lag') process.send!({ lag: { p99Ms: lag.percentile(99) / 1e6, maxMs: lag.max / 1e6 } } satisfies HostMessage);
  });
  process.on('disconnect', () => {
    void Promise.all(engines.map((e) => e.close())).then(() => process.exit(0));
  });
  process.send!({ urls: engines.map((e) => e.url) } satisfies HostMessage);
}

interface Host {
  child: ChildProcess;
  urls: string[];
  lag(): Promise<{ p99Ms: number; maxMs: number }>;
  mark(): void;
}

async function startHost(n: number, profile: EngineProfile): Promise<Host> {
  const child = fork(BENCH_FILE, ['--fleet-host', String(n), '--profile', profile.name], { execArgv: NODE_FLAGS, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const urls = await new Promise<string[]>((resolve, reject) => {
    child.once('message', (m: HostMessage) => ('urls' in m ? resolve(m.urls) : reject(new Error('unexpected message'))));
    child.once('exit', (code) => reject(new Error(`fleet host exited (${code})`)));
  });
  return {
    child,
    urls,
    mark: () => child.send({ cmd: 'mark' }),
    lag: () =>
      new Promise((resolve) => {
        child.once('message', (m: HostMessage) => resolve('lag' in m ? m.lag : { p99Ms: NaN, maxMs: NaN }));
        child.send({ cmd: 'lag' });
      }),
  };
}

interface FleetLoad {
  urls: string[];
  concurrency: number;
  seconds: number;
  maxTokens: number;
}

interface EngineResult {
  /** Streaming requests: TTFT and TPOT p50 (ms); all requests: count and tokens. */
  ttftP50: number;
  tpotP50: number;
  streamed: number;
  requests: number;
  tokens: number;
}

interface ClientResult {
  engines: EngineResult[];
  elapsedMs: number;
  errors: number;
}

/** A non-streaming chat request; resolves with the completion tokens. */
function requestJson(url: string, body: RequestBody): Promise<number> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(url + '/v1/chat/completions', { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
        resolve((JSON.parse(text) as { usage: { completion_tokens: number } }).usage.completion_tokens);
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * Child side: the load generator. `concurrency` closed-loop clients per engine, each starting at a random point of
 * one request's duration (no lockstep), sending short chat questions round robin with max_tokens 128 (ignore_eos),
 * every 4th request non-streaming, until `seconds` have passed; each client's first request is not counted.
 */
async function fleetClient(load: FleetLoad): Promise<ClientResult> {
  const random = seededRandom(7);
  const deadline = performance.now() + load.seconds * 1000;
  const perEngine = load.urls.map(() => ({ ttft: [] as number[], tpot: [] as number[], requests: 0, tokens: 0 }));
  let errors = 0;
  const expectedMs = 15 + load.maxTokens * 6.5;
  const t0 = performance.now();
  await Promise.all(
    load.urls.flatMap((url, e) =>
      Array.from({ length: load.concurrency }, async (_, c) => {
        await new Promise((r) => setTimeout(r, random() * expectedMs));
        for (let k = 0; performance.now() < deadline; k++) {
          const q = e * 7 + c * 3 + k;
          const body = { model: 'm', max_tokens: load.maxTokens, ignore_eos: true, messages: [{ role: 'user', content: SHORT_QUESTIONS[q % SHORT_QUESTIONS.length]! }] };
          try {
            if ((c + k) % 4 === 3) {
              const tokens = await requestJson(url, body);
              if (k > 0) {
                perEngine[e]!.requests++;
                perEngine[e]!.tokens += tokens;
              }
            } else {
              const s = await request(url, '/v1/chat/completions', body);
              if (k > 0) {
                perEngine[e]!.ttft.push(s.ttftMs);
                perEngine[e]!.tpot.push(s.tpotMs);
                perEngine[e]!.requests++;
                perEngine[e]!.tokens += s.tokens;
              }
            }
          } catch {
            errors++;
          }
        }
      }),
    ),
  );
  return {
    elapsedMs: performance.now() - t0,
    errors,
    engines: perEngine.map((p) => ({ ttftP50: median(p.ttft), tpotP50: median(p.tpot), streamed: p.ttft.length, requests: p.requests, tokens: p.tokens })),
  };
}

/** Run the load generator in its own process; returns its result and its CPU time. */
function runClient(load: FleetLoad, onStart: () => void): Promise<{ result: ClientResult; cpuMs: number }> {
  const child = fork(BENCH_FILE, ['--fleet-client'], { execArgv: NODE_FLAGS, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    let cpu0 = 0;
    child.on('message', (m: { ready?: true; result?: ClientResult }) => {
      if (m.ready) {
        cpu0 = procCpuMs(child.pid!);
        onStart();
        child.send(load);
      } else if (m.result) {
        const cpuMs = procCpuMs(child.pid!) - cpu0;
        child.disconnect();
        resolve({ result: m.result, cpuMs });
      }
    });
    child.once('exit', (code) => reject(new Error(`load generator exited (${code})`)));
  });
}

interface FleetLevel {
  concurrency: number;
  alone: { ttft: number; tpot: number };
  /** Per engine: fleet p50 / alone p50 − 1. */
  ttftDrift: number[];
  tpotDrift: number[];
  ttftMedian: number;
  tpotMedian: number;
  tokensPerSecond: number;
  engineCores: number;
  clientCores: number;
  cpuUsPerToken: number;
  lagP99Ms: number;
  errors: number;
}

async function measure(hosts: Host[], load: FleetLoad): Promise<{ result: ClientResult; engineCpuMs: number; clientCpuMs: number; lagP99Ms: number }> {
  let cpu0 = 0;
  const { result, cpuMs } = await runClient(load, () => {
    cpu0 = hosts.reduce((n, h) => n + procCpuMs(h.child.pid!), 0);
    for (const h of hosts) h.mark();
  });
  const engineCpuMs = hosts.reduce((n, h) => n + procCpuMs(h.child.pid!), 0) - cpu0;
  const lags = await Promise.all(hosts.map((h) => h.lag()));
  return { result, engineCpuMs, clientCpuMs: cpuMs, lagP99Ms: Math.max(...lags.map((l) => l.p99Ms)) };
}

const stopHosts = async (hosts: Host[]): Promise<void> => {
  await Promise.all(
    hosts.map(
      (h) =>
        new Promise<void>((resolve) => {
          if (h.child.exitCode !== null) return resolve();
          h.child.once('exit', () => resolve());
          h.child.disconnect();
          setTimeout(() => h.child.kill('SIGKILL'), 5000).unref();
        }),
    ),
  );
};

const quantile = (xs: number[], q: number): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))]!;
};

async function runFleet(o: Options): Promise<void> {
  const n = o.fleet;
  const levels = o.fleetLevels ?? (o.smoke ? [2] : [1, 2, 4, 8]);
  const seconds = o.fleetSeconds ?? (o.smoke ? 3 : 10);
  const maxTokens = 128;
  const perProc = Math.max(1, Math.min(o.enginesPerProc, n));
  const procs = Math.ceil(n / perProc);
  console.log(
    `\nfleet: ${n} engines (${o.profile.name}) in ${procs} processes of up to ${perProc}, load generator in its own process; ` +
      `closed loop per engine at ${levels.join(', ')} concurrent, short chat prompts, max_tokens ${maxTokens}, every 4th request non-streaming, ${seconds} s per level`,
  );

  // The same engine alone, in its own process, at each load: the reference the fleet's timings are compared to.
  const alone = await startHost(1, o.profile);
  let aloneRss = NaN;
  const aloneAt = new Map<number, { ttft: number; tpot: number; cpuUsPerToken: number }>();
  try {
    await fleetClientWarmup(alone.urls);
    for (const c of levels) {
      const m = await measure([alone], { urls: alone.urls, concurrency: c, seconds: Math.min(seconds, o.smoke ? 3 : 8), maxTokens });
      const e = m.result.engines[0]!;
      aloneAt.set(c, { ttft: e.ttftP50, tpot: e.tpotP50, cpuUsPerToken: (m.engineCpuMs * 1000) / Math.max(1, e.tokens) });
    }
    aloneRss = procRssMb(alone.child.pid!);
  } finally {
    await stopHosts([alone]);
  }

  const hosts: Host[] = [];
  const rows: FleetLevel[] = [];
  let rssPerEngine = NaN;
  try {
    for (let left = n; left > 0; left -= perProc) hosts.push(await startHost(Math.min(perProc, left), o.profile));
    const urls = hosts.flatMap((h) => h.urls);
    await fleetClientWarmup(urls);
    for (const c of levels) {
      const m = await measure(hosts, { urls, concurrency: c, seconds, maxTokens });
      const a = aloneAt.get(c)!;
      const tokens = m.result.engines.reduce((s, e) => s + e.tokens, 0);
      const elapsed = m.result.elapsedMs;
      rows.push({
        concurrency: c,
        alone: a,
        ttftDrift: m.result.engines.map((e) => e.ttftP50 / a.ttft - 1),
        tpotDrift: m.result.engines.map((e) => e.tpotP50 / a.tpot - 1),
        ttftMedian: median(m.result.engines.map((e) => e.ttftP50).filter(Number.isFinite)),
        tpotMedian: median(m.result.engines.map((e) => e.tpotP50).filter(Number.isFinite)),
        tokensPerSecond: tokens / (elapsed / 1000),
        engineCores: m.engineCpuMs / elapsed,
        clientCores: m.clientCpuMs / elapsed,
        cpuUsPerToken: (m.engineCpuMs * 1000) / Math.max(1, tokens),
        lagP99Ms: m.lagP99Ms,
        errors: m.result.errors,
      });
    }
    rssPerEngine = hosts.reduce((s, h) => s + procRssMb(h.child.pid!), 0) / n; // after the load: heaps grown
  } finally {
    await stopHosts(hosts);
  }

  const pct = (x: number): string => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${fmt(x * 100, 1)}%` : '-');
  // Faithful: the median engine within 3 % of its solo TPOT and 10 % of its solo TTFT (TTFT is a few ms, so one
  // timer tick is several per cent), and 90 % of the engines within twice that.
  const faithful = (r: FleetLevel): boolean =>
    Math.abs(quantile(r.tpotDrift, 0.5)) <= 0.03 &&
    Math.abs(quantile(r.ttftDrift, 0.5)) <= 0.1 &&
    quantile(r.tpotDrift.map(Math.abs), 0.9) <= 0.06 &&
    quantile(r.ttftDrift.map(Math.abs), 0.9) <= 0.2 &&
    r.errors === 0;
  console.log(
    '\n' +
      table(
        ['per engine', 'tokens/s', 'engine cores', 'µs/token', 'client cores', 'lag p99 ms', 'TTFT alone', 'fleet', 'Δ p50', '|Δ| p90', 'TPOT alone', 'fleet', 'Δ p50', '|Δ| p90', 'faithful'],
        rows.map((r) => [
          String(r.concurrency),
          fmt(r.tokensPerSecond, 0),
          fmt(r.engineCores, 2),
          fmt(r.cpuUsPerToken, 1),
          fmt(r.clientCores, 2),
          fmt(r.lagP99Ms, 1),
          fmt(r.alone.ttft, 1),
          fmt(r.ttftMedian, 1),
          pct(quantile(r.ttftDrift, 0.5)),
          pct(quantile(r.ttftDrift.map(Math.abs), 0.9)).replace('+', ''),
          fmt(r.alone.tpot, 2),
          fmt(r.tpotMedian, 2),
          pct(quantile(r.tpotDrift, 0.5)),
          pct(quantile(r.tpotDrift.map(Math.abs), 0.9)).replace('+', ''),
          (faithful(r) ? 'yes' : 'no') + (r.errors ? ` (${r.errors} errors)` : ''),
        ]),
      ),
  );
  const best = rows.filter(faithful).at(-1);
  const aloneCpu = [...aloneAt].map(([c, a]) => `${fmt(a.cpuUsPerToken, 0)} µs at ${c}`).join(', ');
  console.log(
    `RSS: ${fmt(rssPerEngine, 0)} MB per engine in the fleet (${perProc} per process), ${fmt(aloneRss, 0)} MB for one engine in its own process. ` +
      `Engine CPU per token alone: ${aloneCpu}.`,
  );
  console.log(
    best
      ? `Largest faithful load: ${n} engines at ${best.concurrency} concurrent each (${fmt(best.tokensPerSecond, 0)} tokens/s in all, ` +
          `engines ${fmt(best.engineCores, 2)} cores + load generator ${fmt(best.clientCores, 2)} cores of ${availableCores()}).`
      : `No level was faithful: ${n} engines at ${levels[0]} concurrent each already drift on this machine.`,
  );
  const worst = rows.at(-1);
  if (worst && worst.clientCores > worst.engineCores) console.log('The load generator uses more CPU than the engines: the client side dominates.');
}

/** One short request per engine, so every engine's code paths are compiled before timing. */
async function fleetClientWarmup(urls: string[]): Promise<void> {
  await Promise.all(urls.map((u) => request(u, '/v1/chat/completions', { model: 'm', max_tokens: 8, ignore_eos: true, messages: [{ role: 'user', content: 'warm up' }] })));
}

function availableCores(): number {
  return (globalThis as unknown as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 2;
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
  if (o.fleetHost > 0) return fleetHost(o.fleetHost, o.profile);
  if (o.fleetClient) {
    process.on('message', (load: FleetLoad) => {
      void fleetClient(load).then((result) => {
        agent.destroy();
        process.send!({ result });
      });
    });
    process.send!({ ready: true });
    return;
  }
  if (o.fleet < 0) o.fleet = o.smoke ? 16 : 64;
  if (o.fleetOnly) {
    try {
      return await runFleet(o);
    } finally {
      agent.destroy();
    }
  }
  try {
    await runPublished(o);
    if (o.fleet > 0) await runFleet(o);
  } finally {
    agent.destroy();
  }
}

async function runPublished(o: Options): Promise<void> {
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
  }
}

if (import.meta.main) {
  run(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
