// Routing-quality benchmark: 8 simulated engines (one child process, KV-cache/prefix-cache model on, a small GPU
// block count so cache pressure matters), the embedded API server and the gateway (this process), and a Poisson
// load generator with stepped rates. Workloads (bench/routing-workloads.ts):
//   shared     groups of requests sharing a long system prompt
//   control    unique prompts of the same length (no sharing)
//   zipf       256 distinct system prompts (≈3× what the fleet's KV cache holds) with Zipf(1) popularity, then a
//              user part with prompt/output token counts from the Azure 2023 code trace
//   multiturn  conversations whose context grows turn by turn (next prompt = previous prompt + the answer the
//              engine streamed + a new message), think time between turns, lengths from the Azure 2023 conversation
//              trace
// The traces are read from ../shared/data/traces beside the repository, or `--traces DIR`; without them the lengths
// come from log-normals fitted to them (the output says which). Every choice is seeded (`--seed`, default 1).
//
// Routed through: our gateway under each policy — random, round-robin, least-request, prefix-affinity (with load
// guard) and the default mix, switched by patching the ModelServer (no restart); the default mix again with the
// engines publishing KV-cache events (`default+kv-events`: the pods' command lines carry vLLM's --kv-events-config,
// so the gateway scores the prefix each pod really holds; the log says how many event batches it applied) — and
// through each peer router
// installed by `bash scripts/peer-routers.sh` (sglang-router and vllm-router, both `cache_aware` at their defaults,
// started with the engines' URLs as a static worker list; bench/routing-peers.ts). A peer not installed is skipped
// with one line naming the script (an error under MATRIXINFER_REQUIRE_ALL=1, as in CI). Engines are restarted
// between runs so every run starts with cold caches; our pods go unready meanwhile, which purges the gateway's
// prefix index, and stay unready while a peer runs.
//
// Prints time to first token p50/p90/p99 (client side, streaming), output tokens/s, the engines' prefix-cache hit
// rate (vllm:prefix_cache_hits_total / queries_total), the largest waiting queue seen on any engine (polled) and the
// queue spread (mean longest − shortest engine waiting queue: how evenly load went out), and the scheduler's own
// per-decision cost for a small and a 220 KB prompt; then TTFT p50/p90 per rate step, the round-robin / default and
// least-request / default TTFT ratios, and the default policy beside each peer with our ratio to the best peer at
// each percentile.
//
// Time scale: engine latencies are the README's H100/8B defaults multiplied by --scale (default 4) and arrival rates
// and think times are scaled by it, so the queueing behaviour is the same while the CPU needed to simulate it is 4×
// smaller.
//
//   npm run bench -- routing [--smoke] [--policies default,default+kv-events,round-robin] [--peers sglang-router,vllm-router|none]
//                            [--workloads shared,control,zipf,multiturn] [--traces DIR] [--scale 4] [--rates 4,8,12]
//                            [--step-seconds 15] [--prefixes 256] [--zipf-s 1] [--max-output-tokens 128] [--turns 5]
//                            [--think-seconds 1] [--seed 1]
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Agent } from 'undici';
import { startTestApiServer, projectCrds, type TestApiServer } from '../src/kube/testing/apiserver.ts';
import { startGateway, type GatewayHandle } from '../src/gateway/gateway.ts';
import { MODELINFER_NAME_LABEL } from '../src/api/labels.ts';
import { label, readSamples } from '../src/api/engine-metrics/samples.ts';
import { Endpoint } from '../src/gateway/scheduling/endpoint.ts';
import { Scheduler } from '../src/gateway/scheduling/scheduler.ts';
import { compileProfile } from '../src/gateway/scheduling/profiles.ts';
import { DEFAULT_PROFILE, PROFILES } from '../src/engine/profiles.ts';
import { seededRandom } from '../src/engine/latency.ts';
import { requireAll } from '../test/support/system.ts';
import { PEERS, peerMissing, startPeer, type PeerHandle, type PeerName } from './routing-peers.ts';
import {
  buildSessions, CHARS_PER_TOKEN, lengthSource, MAX_CONTEXT_TOKENS, requestCount, traceDir, words, WORKLOADS,
  type LengthSource, type Session, type WorkloadName, type WorkloadOptions,
} from './routing-workloads.ts';

type Policy = 'random' | 'round-robin' | 'least-request' | 'prefix-affinity' | 'default';
/** What a run routes through: our gateway under one policy, or a peer router. */
// `kvEvents`: the engines publish KV-cache events (vLLM's --kv-events-config) and the gateway scores the prefix each
// pod really holds (written `default+kv-events` in --policies); otherwise it keeps its approximate index.
type Target = { kind: 'ours'; policy: Policy; kvEvents: boolean } | { kind: 'peer'; peer: PeerName };
const targetName = (t: Target): string => (t.kind === 'ours' ? t.policy + (t.kvEvents ? KV_SUFFIX : '') : `${t.peer} cache_aware`);
const KV_SUFFIX = '+kv-events';
/** What the engines (and their pods' command lines, which the gateway reads) carry to publish KV events. */
const KV_EVENTS_ARGS = ['--kv-events-config', JSON.stringify({ enable_kv_cache_events: true, publisher: 'zmq', endpoint: 'tcp://*:5557', replay_endpoint: 'tcp://*:5558', topic: 'kv-events' })];
const POLICIES: readonly string[] = ['random', 'round-robin', 'least-request', 'prefix-affinity', 'default'];

interface Options extends WorkloadOptions {
  smoke: boolean;
  /** Our targets, from --policies. */
  ours: Array<Extract<Target, { kind: 'ours' }>>;
  peers: PeerName[];
  workloads: WorkloadName[];
  /** Requests/s at scale 1 for each step (divided by scale), per workload. */
  ratesOf: Record<WorkloadName, number[]>;
  traces: string | undefined;
  gpuBlocks: number;
  engines: number;
  drainSeconds: number;
}

/** Default steps per workload: the trace workloads carry ~2–4× the prompt tokens of shared/control per request. */
const DEFAULT_RATES: Record<WorkloadName, number[]> = { shared: [48, 96, 144], control: [48, 96, 144], zipf: [24, 48, 72], multiturn: [24, 48, 72] };

function parseOptions(argv: string[]): Options {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const smoke = argv.includes('--smoke');
  const scale = Number(get('scale') ?? 4);
  const rates = get('rates')?.split(',').map(Number);
  const workloads = (get('workloads')?.split(',') ?? [...WORKLOADS]) as WorkloadName[];
  for (const w of workloads) if (!(WORKLOADS as readonly string[]).includes(w)) throw new Error(`unknown workload ${w} (${WORKLOADS.join(', ')})`);
  const peersArg = get('peers');
  const peers = (peersArg === undefined ? [...PEERS] : peersArg === 'none' ? [] : peersArg.split(',')) as PeerName[];
  for (const p of peers) if (!(PEERS as readonly string[]).includes(p)) throw new Error(`unknown peer ${p} (${PEERS.join(', ')}, or none)`);
  const ratesOf = Object.fromEntries(WORKLOADS.map((w) => [w, rates ?? (smoke ? [w === 'shared' || w === 'control' ? 32 : 12] : DEFAULT_RATES[w])])) as Record<WorkloadName, number[]>;
  const policies = get('policies')?.split(',') ?? (smoke ? ['round-robin', 'default', 'default' + KV_SUFFIX] : [...POLICIES, 'default' + KV_SUFFIX]);
  const ours = policies.map((name) => {
    const kvEvents = name.endsWith(KV_SUFFIX);
    const policy = kvEvents ? name.slice(0, -KV_SUFFIX.length) : name;
    if (!POLICIES.includes(policy)) throw new Error(`unknown policy ${name} (${POLICIES.join(', ')}, each optionally with ${KV_SUFFIX})`);
    return { kind: 'ours' as const, policy: policy as Policy, kvEvents };
  });
  return {
    smoke,
    ours,
    peers,
    workloads,
    ratesOf,
    rates: ratesOf.shared,
    traces: get('traces'),
    scale,
    stepSeconds: Number(get('step-seconds') ?? (smoke ? 3 : 15)),
    groups: Number(get('groups') ?? (smoke ? 8 : 32)),
    sysChars: Number(get('sys-chars') ?? 12000),
    questionChars: Number(get('question-chars') ?? 400),
    outTokens: Number(get('out-tokens') ?? (smoke ? 8 : 16)),
    prefixes: Number(get('prefixes') ?? (smoke ? 64 : 256)),
    zipfS: Number(get('zipf-s') ?? 1),
    maxOutputTokens: Number(get('max-output-tokens') ?? (smoke ? 16 : 128)),
    meanTurns: Number(get('turns') ?? (smoke ? 2 : 5)),
    thinkSeconds: Number(get('think-seconds') ?? (smoke ? 0.1 : 1)),
    gpuBlocks: Number(get('gpu-blocks') ?? 1200),
    engines: Number(get('engines') ?? 8),
    drainSeconds: Number(get('drain-seconds') ?? (smoke ? 15 : 90)),
    seed: Number(get('seed') ?? 1),
  };
}

// ---- engines, API objects, gateway --------------------------------------------------------------------------------

const NET = '/apis/networking.matrixinfer.ai/v1alpha1/namespaces/default';
const IPS = (n: number): string[] => Array.from({ length: n }, (_, i) => `127.0.0.${101 + i}`);

/** The default engine profile with every latency multiplied by the time scale (the model first, as a pod runs it). */
function engineArgs(o: Options, kvEvents: boolean): string[] {
  const l = PROFILES[DEFAULT_PROFILE]!.latency;
  const s = o.scale;
  return [
    'meta-llama/Llama-3.1-8B-Instruct',
    '--served-model-name',
    'llama',
    '--num-gpu-blocks',
    String(o.gpuBlocks),
    '--time-to-first-token-ms',
    String(l.timeToFirstTokenMs * s),
    '--prefill-time-per-token-ms',
    String(l.prefillTimePerTokenMs * s),
    '--prefill-attention-time-ms',
    String(l.prefillAttentionTimeMs * s),
    '--inter-token-latency-ms',
    String(l.interTokenLatencyMs * s),
    '--inter-token-latency-per-seq-ms',
    String(l.interTokenLatencyPerSeqMs * s),
    '--inter-token-latency-per-kv-token-ms',
    String(l.interTokenLatencyPerKvTokenMs * s),
    ...(kvEvents ? KV_EVENTS_ARGS : []),
  ];
}

async function startEngines(o: Options, port: number, kvEvents: boolean): Promise<{ child: ChildProcess; port: number }> {
  const script = fileURLToPath(new URL('./routing-engines.ts', import.meta.url));
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', script, JSON.stringify({ ips: IPS(o.engines), port, args: engineArgs(o, kvEvents) })], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const got = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /ready (\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`engines exited (${code})`)));
  });
  return { child, port: got };
}

async function stopEngines(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.stdin!.end();
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

async function k(api: TestApiServer, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<unknown> {
  const res = await fetch(api.url + path, { method, headers: body === undefined ? {} : { 'content-type': contentType }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

async function setReady(api: TestApiServer, o: Options, ready: boolean): Promise<void> {
  await Promise.all(
    IPS(o.engines).map((ip, i) =>
      k(
        api,
        'PATCH',
        `/api/v1/namespaces/default/pods/engine-${i}/status`,
        { status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: new Date().toISOString() }] } },
        'application/merge-patch+json',
      ),
    ),
  );
}

/**
 * The engine pods, (re)created when their command line must change: the gateway subscribes to a pod's KV events when
 * its engine container's command line has --kv-events-config, as with real vLLM pods. Created unready.
 */
async function createPods(api: TestApiServer, o: Options, kvEvents: boolean, replace: boolean): Promise<void> {
  for (let i = 0; replace && i < o.engines; i++) await k(api, 'DELETE', `/api/v1/namespaces/default/pods/engine-${i}`);
  for (let i = 0; i < o.engines; i++) {
    await k(api, 'POST', '/api/v1/namespaces/default/pods', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `engine-${i}`, labels: { [MODELINFER_NAME_LABEL]: 'bench-infer' } },
      spec: { containers: [{ name: 'engine', image: 'vllm/vllm-openai:latest', args: engineArgs(o, kvEvents) }] },
    });
  }
}

/** The gateway's scheduling time so far under a policy (matrixinfer_gateway_scheduling_duration_seconds). */
async function decisionTime(gw: GatewayHandle, policy: Policy): Promise<{ sum: number; count: number }> {
  const base = 'matrixinfer_gateway_scheduling_duration_seconds';
  const samples = readSamples(await (await fetch(gw.url + '/metrics')).text(), [`${base}_sum`, `${base}_count`]);
  const read = (name: string): number => samples.get(name)?.find((x) => label(x, 'policy') === policy)?.value ?? 0;
  return { sum: read(`${base}_sum`), count: read(`${base}_count`) };
}

/** matrixinfer_gateway_kv_events_total summed over pods, per outcome. */
async function kvEventOutcomes(gw: GatewayHandle): Promise<Map<string, number>> {
  const name = 'matrixinfer_gateway_kv_events_total';
  const by = new Map<string, number>();
  for (const x of readSamples(await (await fetch(gw.url + '/metrics')).text(), [name]).get(name) ?? []) {
    const outcome = label(x, 'outcome') ?? '';
    by.set(outcome, (by.get(outcome) ?? 0) + x.value);
  }
  return by;
}

/** The outcomes counted between two readings: `applied 1234, replayed 8`. */
function describeOutcomes(after: Map<string, number>, before: Map<string, number>): string {
  const parts = [...after].map(([o, n]): [string, number] => [o, n - (before.get(o) ?? 0)]).filter(([, n]) => n > 0);
  return parts.length === 0 ? 'none' : parts.map(([o, n]) => `${o} ${n}`).join(', ');
}

async function gatewayMetric(gw: GatewayHandle, re: RegExp): Promise<number> {
  const text = await (await fetch(gw.url + '/metrics')).text();
  const m = re.exec(text);
  return m ? Number(m[1]) : 0;
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---- load generator ------------------------------------------------------------------------------------------------

interface RunResult {
  sent: number;
  ok: number;
  failed: number;
  ttfts: number[];
  outputTokens: number;
  seconds: number;
  hitRate: number | null;
  maxQueue: number;
  /** Mean over the polls of (longest − shortest) waiting queue across the engines: how unevenly load is spread. */
  queueSpread: number;
  /** Rate step of each request (same indexes as ttfts). */
  steps: number[];
}

function sum(text: string, name: string): number {
  let total = 0;
  let i = text.indexOf(name);
  while (i >= 0) {
    if ((i === 0 || text[i - 1] === '\n') && (text[i + name.length] === '{' || text[i + name.length] === ' ')) {
      const eol = text.indexOf('\n', i);
      const line = text.slice(i, eol < 0 ? undefined : eol);
      total += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
    }
    i = text.indexOf(name, i + name.length);
  }
  return total;
}

async function engineMetrics(agent: Agent, urls: string[]): Promise<string[]> {
  return Promise.all(
    urls.map(async (u) => {
      try {
        const res = await agent.request({ origin: u, path: '/metrics', method: 'GET', headersTimeout: 2000, bodyTimeout: 2000 });
        return await res.body.text();
      } catch {
        return '';
      }
    }),
  );
}

/** The text of a streamed completion's chunks (`choices[0].text`), and how many chunks carried text. */
function readSse(body: string): { text: string; tokens: number; done: boolean } {
  let text = '';
  let tokens = 0;
  let done = false;
  for (const line of body.split('\n')) {
    if (!line.startsWith('data: ')) continue;
    const data = line.slice(6);
    if (data === '[DONE]') {
      done = true;
      continue;
    }
    try {
      const t = (JSON.parse(data) as { choices?: Array<{ text?: string }> }).choices?.[0]?.text;
      if (t) {
        text += t;
        tokens++;
      }
    } catch {
      // a malformed event: not counted
    }
  }
  return { text, tokens, done };
}

/**
 * Replays `sessions` against `origin` (our gateway or a peer): each session starts at its time and runs its turns in
 * order, a turn's prompt being the previous prompt + the answer received + the turn's message, after its think time.
 */
async function runLoad(origin: string, o: Options, sessions: Session[], engineUrls: string[], traceLengths: boolean): Promise<RunResult> {
  const agent = new Agent({ connections: null, keepAliveTimeout: 30_000, pipelining: 1 });
  const metricsAgent = new Agent({ connections: 1 });
  const steps = o.ratesOf[sessions === undefined ? 'shared' : 'shared'].length;
  const ttfts: number[] = [];
  const reqSteps: number[] = [];
  let sent = 0;
  let ok = 0;
  let failed = 0;
  let outputTokens = 0;
  let maxQueue = 0;
  let spreadSum = 0;
  let polls = 0;
  let lastDone = 0;
  let stopping = false;
  const controllers = new Set<AbortController>();
  const pending = new Set<Promise<void>>();
  const poll = setInterval(() => {
    void engineMetrics(metricsAgent, engineUrls).then((texts) => {
      let lo = Infinity;
      let hi = 0;
      for (const t of texts) {
        const w = sum(t, 'vllm:num_requests_waiting');
        if (w > hi) hi = w;
        if (w < lo) lo = w;
      }
      maxQueue = Math.max(maxQueue, hi);
      if (hi > 0) {
        spreadSum += hi - lo;
        polls++;
      }
    });
  }, 500);
  const t0 = performance.now();

  /** One request; resolves to the answer's text (undefined when it failed). */
  const send = async (prompt: string, maxTokens: number): Promise<string | undefined> => {
    const ac = new AbortController();
    controllers.add(ac);
    const start = performance.now();
    const idx = sent++;
    ttfts.push(Infinity);
    reqSteps.push(Math.min(o.rates.length - 1, Math.floor((start - t0) / 1000 / o.stepSeconds)));
    let first = -1;
    const body = JSON.stringify({ model: 'llama', prompt, max_tokens: maxTokens, stream: true, ...(traceLengths ? { ignore_eos: true } : {}) });
    try {
      const res = await agent.request({ origin, path: '/v1/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: ac.signal, headersTimeout: 0, bodyTimeout: 0 });
      let all = '';
      for await (const chunk of res.body) {
        if (first < 0) first = performance.now() - start;
        all += (chunk as Buffer).toString();
      }
      const r = readSse(all);
      if (res.statusCode === 200 && r.done) {
        ok++;
        outputTokens += r.tokens;
        ttfts[idx] = first;
        lastDone = performance.now();
        return r.text;
      }
      failed++;
    } catch {
      failed++;
    } finally {
      controllers.delete(ac);
    }
    return undefined;
  };

  const converse = async (s: Session): Promise<void> => {
    let context = s.prefix;
    for (const turn of s.turns) {
      if (turn.thinkMs > 0) await new Promise((r) => setTimeout(r, turn.thinkMs));
      if (stopping) return;
      const prompt = context + turn.user;
      const answer = await send(prompt, turn.outTokens);
      if (answer === undefined) return;
      context = prompt + answer;
    }
  };

  for (const s of sessions) {
    const wait = t0 + s.at - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const p = converse(s);
    pending.add(p);
    void p.finally(() => pending.delete(p));
  }
  const drainDeadline = performance.now() + o.drainSeconds * 1000;
  while (pending.size > 0 && performance.now() < drainDeadline) await new Promise((r) => setTimeout(r, 50));
  stopping = true;
  for (const ac of controllers) ac.abort();
  await Promise.allSettled([...pending]);
  clearInterval(poll);
  const texts = await engineMetrics(metricsAgent, engineUrls);
  let hits = 0;
  let queries = 0;
  for (const t of texts) {
    hits += sum(t, 'vllm:prefix_cache_hits_total');
    queries += sum(t, 'vllm:prefix_cache_queries_total');
  }
  await agent.close();
  await metricsAgent.close();
  void steps;
  return {
    sent,
    ok,
    failed,
    ttfts,
    outputTokens,
    seconds: ((lastDone || performance.now()) - t0) / 1000,
    hitRate: queries > 0 ? hits / queries : null,
    maxQueue,
    queueSpread: polls > 0 ? spreadSum / polls : 0,
    steps: reqSteps,
  };
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function ms(v: number): string {
  if (!Number.isFinite(v)) return '>drain';
  return v >= 10_000 ? `${(v / 1000).toFixed(1)}s` : `${Math.round(v)}`;
}

// ---- scheduler cost ----------------------------------------------------------------------------------------------

export function schedulerCost(): Array<{ prompt: string; policy: string; us: number }> {
  const eps = Array.from({ length: 8 }, (_, i) => {
    const e = new Endpoint('default', `p${i}`, `10.0.0.${i}`, 8000);
    e.metrics = { waiting: i % 3, running: 4 + i, kvUsage: 0.1 * i, cacheTokens: 400_000, loras: new Set(), maxLoras: 0, queuedTokens: NaN, at: performance.now(), inflightAtScrape: 0, awaitingAtScrape: 0, pendingAtScrape: 0 };
    e.fresh = true;
    e.inflight = i % 4;
    return e;
  });
  const rng = seededRandom(5);
  // Flat strings, as JSON.parse gives them (a concatenated string would be slower to read).
  const big = JSON.parse(JSON.stringify(words(rng, 220 * 1024))) as string;
  const small = JSON.parse(JSON.stringify(words(rng, 200))) as string;
  const out: Array<{ prompt: string; policy: string; us: number }> = [];
  for (const policy of ['default', 'round-robin'] as const) {
    const s = new Scheduler(compileProfile({ policy }));
    const cursor = { rr: 0 };
    // Populate the prefix index with 64 other prompts.
    for (let g = 0; g < 64; g++) s.schedule({ model: 'm', body: { prompt: JSON.parse(JSON.stringify(words(seededRandom(g), 20_000))) as string }, headers: {} }, eps, cursor);
    for (const [name, prompt] of [
      ['200 B', small],
      ['220 KB', big],
    ] as const) {
      const req = { model: 'm', body: { prompt }, headers: {}, exclude: undefined };
      for (let i = 0; i < 2000; i++) s.schedule(req, eps, cursor);
      // Best of 5 rounds: other processes on the machine only ever add time.
      const n = 4000;
      let best = Infinity;
      for (let round = 0; round < 5; round++) {
        const t = performance.now();
        for (let i = 0; i < n; i++) s.schedule(req, eps, cursor);
        best = Math.min(best, ((performance.now() - t) * 1000) / n);
      }
      out.push({ prompt: name, policy, us: best });
    }
  }
  return out;
}

// ---- main --------------------------------------------------------------------------------------------------------

interface Row {
  workload: WorkloadName;
  target: Target;
  r: RunResult;
}

export async function run(argv: string[]): Promise<void> {
  const o = parseOptions(argv);
  const log = (m: string): void => void process.stderr.write(m + '\n');

  // Peers: one line per missing one, naming what installs it; fatal under MATRIXINFER_REQUIRE_ALL=1 (CI installs them).
  const peers: PeerName[] = [];
  for (const peer of o.peers) {
    const missing = peerMissing(peer);
    if (missing === undefined) peers.push(peer);
    else if (requireAll()) throw new Error(`MATRIXINFER_REQUIRE_ALL=1: the routing benchmark ${missing}`);
    else console.log(`routing bench: no ${peer} column: the comparison ${missing}`);
  }
  const targets: Target[] = [...o.ours, ...peers.map((peer): Target => ({ kind: 'peer', peer }))];

  // Token lengths of the trace workloads.
  const dir = traceDir(o.traces);
  const lengthsOf: Partial<Record<WorkloadName, LengthSource>> = {};
  if (o.workloads.includes('zipf')) lengthsOf.zipf = lengthSource('code', dir);
  if (o.workloads.includes('multiturn')) lengthsOf.multiturn = lengthSource('conv', dir);
  for (const [w, src] of Object.entries(lengthsOf)) console.log(`routing bench: ${w} token lengths from ${src.describe}`);

  console.log('Scheduler cost per decision (8 pods, fresh metrics, 64 prefixes indexed):');
  console.log('| prompt | policy | µs/decision |');
  console.log('|---|---|---|');
  for (const r of schedulerCost()) console.log(`| ${r.prompt} | ${r.policy} | ${r.us.toFixed(2)} |`);
  console.log('');

  const api = await startTestApiServer();
  await api.installCrds(projectCrds());
  const gw = await startGateway({ kubeConfig: api.kubeConfig, port: 0, accessLog: false, log: () => {} });
  await gw.ready;
  let engines: { child: ChildProcess; port: number } | undefined;
  let peer: PeerHandle | undefined;
  const rows: Row[] = [];
  const sessionCounts = new Map<WorkloadName, { sessions: number; requests: number }>();
  try {
    // Engines first, to learn the shared port (they serve the first run).
    const first = targets[0];
    engines = await startEngines(o, 0, first?.kind === 'ours' && first.kvEvents);
    const port = engines.port;
    await k(api, 'POST', `${NET}/modelservers`, {
      apiVersion: 'networking.matrixinfer.ai/v1alpha1',
      kind: 'ModelServer',
      metadata: { name: 'bench' },
      spec: { modelInferRef: { name: 'bench-infer' }, service: { port }, scheduling: { policy: o.ours[0]?.policy ?? 'default' } },
    });
    await k(api, 'POST', `${NET}/modelroutes`, {
      apiVersion: 'networking.matrixinfer.ai/v1alpha1',
      kind: 'ModelRoute',
      metadata: { name: 'bench' },
      spec: { modelName: 'llama', rules: [{ targetModels: [{ modelServerName: 'bench' }] }] },
    });
    let podsKvEvents = false;
    await createPods(api, o, podsKvEvents, false);
    const readyEndpoints = /matrixinfer_gateway_ready_endpoints\{namespace="default",model_server="bench"\} (\d+)/;
    const engineUrls = IPS(o.engines).map((ip) => `http://${ip}:${port}`);

    for (const workload of o.workloads) {
      const wo: Options = { ...o, rates: o.ratesOf[workload] };
      const sessions = buildSessions(wo, workload, lengthsOf[workload]);
      sessionCounts.set(workload, { sessions: sessions.length, requests: requestCount(sessions) });
      for (const target of targets) {
        // Cold start: pods unready (the gateway drops its state about them), engines restarted, then either the pods
        // ready again under the run's policy, or a peer started in front of the engines (pods stay unready, so our
        // gateway neither scrapes nor routes meanwhile).
        await setReady(api, o, false);
        await until('no ready endpoints', async () => (await gatewayMetric(gw, readyEndpoints)) === 0);
        const kvEvents = target.kind === 'ours' && target.kvEvents;
        if (engines === undefined) engines = await startEngines(o, port, kvEvents);
        let origin = gw.url;
        if (target.kind === 'ours') {
          if (kvEvents !== podsKvEvents) await createPods(api, o, (podsKvEvents = kvEvents), true);
          await k(api, 'PATCH', `${NET}/modelservers/bench`, { spec: { scheduling: { policy: target.policy } } }, 'application/merge-patch+json');
          await setReady(api, o, true);
          await until('all endpoints ready', async () => (await gatewayMetric(gw, readyEndpoints)) === o.engines);
          // Let the scraper see every engine once.
          await new Promise((r) => setTimeout(r, 1500));
        } else {
          peer = await startPeer(target.peer, engineUrls, log);
          origin = peer.url;
        }
        log(`routing bench: ${workload} / ${targetName(target)}: ${requestCount(sessions)} requests in ${sessions.length} sessions over ${wo.rates.length * o.stepSeconds}s`);
        const eventsBefore = kvEvents ? await kvEventOutcomes(gw) : null;
        const decisionsBefore = target.kind === 'ours' ? await decisionTime(gw, target.policy) : null;
        const r = await runLoad(origin, wo, sessions, engineUrls, lengthsOf[workload] !== undefined);
        rows.push({ workload, target, r });
        if (decisionsBefore !== null && target.kind === 'ours') {
          const after = await decisionTime(gw, target.policy);
          const n = after.count - decisionsBefore.count;
          log(`routing bench: ${workload} / ${targetName(target)}: ${n} scheduling decisions, ${n > 0 ? (((after.sum - decisionsBefore.sum) / n) * 1e6).toFixed(0) : '-'} µs each on average`);
        }
        if (eventsBefore !== null) log(`routing bench: ${workload} / ${targetName(target)}: KV-event batches by outcome in this run: ${describeOutcomes(await kvEventOutcomes(gw), eventsBefore)}`);
        if (peer !== undefined) await peer.close();
        peer = undefined;
        await stopEngines(engines.child);
        engines = undefined;
      }
    }
  } finally {
    if (peer !== undefined) await peer.close();
    if (engines !== undefined) await stopEngines(engines.child);
    await gw.close();
    await api.close();
  }
  printTables(o, rows, sessionCounts, lengthsOf);
}

function printTables(
  o: Options,
  rows: Row[],
  counts: Map<WorkloadName, { sessions: number; requests: number }>,
  lengthsOf: Partial<Record<WorkloadName, LengthSource>>,
): void {
  const perSec = (rates: number[]): string => rates.map((r) => (r / o.scale).toFixed(1)).join(' → ');
  const fleetTokens = o.engines * o.gpuBlocks * 16;
  console.log(
    `Routing quality: ${o.engines} engines (${o.gpuBlocks} GPU blocks × 16 tokens each, ${fleetTokens} tokens in the fleet; latencies ×${o.scale}), ` +
      `Poisson arrivals in ${o.stepSeconds}s steps, streaming /v1/completions. Workloads:`,
  );
  for (const w of o.workloads) {
    const c = counts.get(w);
    const n = c === undefined ? '' : ` — ${c.requests} requests${c.sessions !== c.requests ? ` in ${c.sessions} conversations` : ''}`;
    const rates = `${perSec(o.ratesOf[w])} req/s`;
    if (w === 'shared') console.log(`- shared: ${o.groups} groups × ${o.sysChars}-char system prompts + ${o.questionChars}-char questions, ${o.outTokens} output tokens, ${rates}${n}`);
    if (w === 'control') console.log(`- control: unique ${o.sysChars}-char prompts + ${o.questionChars}-char questions, ${o.outTokens} output tokens, ${rates}${n}`);
    if (w === 'zipf')
      console.log(
        `- zipf: ${o.prefixes} distinct ${o.sysChars}-char system prompts (≈${Math.round((o.prefixes * o.sysChars) / CHARS_PER_TOKEN)} tokens, ` +
          `${((o.prefixes * o.sysChars) / CHARS_PER_TOKEN / fleetTokens).toFixed(1)}× the fleet's KV cache), Zipf s=${o.zipfS} popularity, then a user part with the code trace's prompt tokens; ` +
          `output tokens from the trace, clipped to ${o.maxOutputTokens}; ${rates}${n}`,
      );
    if (w === 'multiturn')
      console.log(
        `- multiturn: conversations of 2–${Math.max(2, 2 * o.meanTurns - 2)} turns (uniform), each prompt = previous prompt + the answer received + a new message; ` +
          `turn 1 from the conversation trace's prompt tokens (≤ ${MAX_CONTEXT_TOKENS / 2}), follow-ups ¼ of a record's; output tokens from the trace, clipped to ${o.maxOutputTokens}; ` +
          `think time exponential, mean ${(o.thinkSeconds * o.scale).toFixed(1)}s; a conversation stops before ${MAX_CONTEXT_TOKENS} tokens of context; ${rates} (conversations start at rate ÷ mean turns)${n}`,
      );
    if (lengthsOf[w] !== undefined) console.log(`  lengths: ${lengthsOf[w]!.describe}, seed ${o.seed}`);
  }
  console.log('');
  console.log('| workload | router / policy | requests | ok | TTFT p50 ms | TTFT p90 ms | TTFT p99 ms | output tok/s | prefix hit rate | max queue | queue spread |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  const sorted = (r: RunResult): number[] => [...r.ttfts].sort((a, b) => a - b);
  for (const { workload, target, r } of rows) {
    const s = sorted(r);
    console.log(
      `| ${workload} | ${targetName(target)} | ${r.sent} | ${r.ok} | ${ms(pct(s, 50))} | ${ms(pct(s, 90))} | ${ms(pct(s, 99))} | ${(r.outputTokens / r.seconds).toFixed(0)} | ` +
        `${r.hitRate === null ? 'n/a' : (r.hitRate * 100).toFixed(1) + '%'} | ${r.maxQueue} | ${r.queueSpread.toFixed(1)} |`,
    );
  }
  console.log('');
  console.log('By rate step (req/s): TTFT p50 / p90 ms; queue spread = mean (longest − shortest) engine waiting queue over the polls with a queue');
  for (const w of o.workloads) {
    const rates = o.ratesOf[w];
    console.log(`| workload | router / policy | ${rates.map((r) => `${(r / o.scale).toFixed(1)} req/s`).join(' | ')} | queue spread |`);
    console.log(`|---|---|${rates.map(() => '---|').join('')}---|`);
    for (const { workload, target, r } of rows.filter((x) => x.workload === w)) {
      const cells = rates.map((_, step) => {
        const s = r.ttfts.filter((_, i) => r.steps[i] === step).sort((a, b) => a - b);
        return `${ms(pct(s, 50))} / ${ms(pct(s, 90))}`;
      });
      console.log(`| ${workload} | ${targetName(target)} | ${cells.join(' | ')} | ${r.queueSpread.toFixed(1)} |`);
    }
  }
  console.log('');
  const pcts = (r: RunResult): number[] => {
    const s = sorted(r);
    return [pct(s, 50), pct(s, 90), pct(s, 99)];
  };
  const ratio = (a: number, b: number): string => {
    const r = a / b;
    return Number.isFinite(r) ? `${r.toFixed(2)}×` : '∞';
  };
  const ours = (w: WorkloadName, p: Policy, kvEvents = false): RunResult | undefined =>
    rows.find((x) => x.workload === w && x.target.kind === 'ours' && x.target.policy === p && x.target.kvEvents === kvEvents)?.r;
  for (const w of o.workloads) {
    const d = ours(w, 'default');
    if (d === undefined) continue;
    const dp = pcts(d);
    for (const base of ['round-robin', 'least-request'] as const) {
      const b = ours(w, base);
      if (b === undefined) continue;
      const bp = pcts(b);
      const target = base === 'round-robin' ? (w === 'shared' ? ' (target: p90 ≥ 3×)' : w === 'control' ? ' (target: ≥ 1×, no loss)' : '') : '';
      console.log(`${w}: ${base} TTFT / default TTFT = p50 ${ratio(bp[0]!, dp[0]!)}, p90 ${ratio(bp[1]!, dp[1]!)}, p99 ${ratio(bp[2]!, dp[2]!)}${target}`);
    }
  }
  // Ours (default policy) against the peers: the ratio to the best peer at each percentile (< 1× = we are faster).
  const peerRows = rows.filter((x) => x.target.kind === 'peer');
  if (peerRows.length === 0) return;
  console.log('');
  console.log(
    'Default policy against the peer routers (same engines, load and seed): TTFT ms p50 / p90 / p99; prefix hit rate; queue spread. ' +
      'Ratio = ours ÷ the best peer at that percentile (< 1× is better)',
  );
  const peerNames = [...new Set(peerRows.map((x) => targetName(x.target)))];
  console.log(`| workload | default | ${peerNames.join(' | ')} | ours ÷ best peer p50 / p90 / p99 |`);
  console.log(`|---|---|${peerNames.map(() => '---|').join('')}---|`);
  const cell = (r: RunResult | undefined): string => {
    if (r === undefined) return '—';
    const p = pcts(r);
    return `${ms(p[0]!)} / ${ms(p[1]!)} / ${ms(p[2]!)}; ${r.hitRate === null ? 'n/a' : (r.hitRate * 100).toFixed(1) + '%'}; ${r.queueSpread.toFixed(1)}`;
  };
  for (const kvEvents of [false, true]) {
    for (const w of o.workloads) {
      const d = ours(w, 'default', kvEvents);
      if (d === undefined && kvEvents) continue;
      const ps = peerNames.map((n) => rows.find((x) => x.workload === w && targetName(x.target) === n)?.r);
      const best = [0, 1, 2].map((i) => Math.min(...ps.filter((r) => r !== undefined).map((r) => pcts(r)[i]!)));
      const ratios = d === undefined ? '—' : pcts(d).map((v, i) => ratio(v, best[i]!)).join(' / ');
      console.log(`| ${w}${kvEvents ? ` (default${KV_SUFFIX})` : ''} | ${cell(d)} | ${ps.map(cell).join(' | ')} | ${ratios} |`);
    }
  }
}

if (import.meta.main) {
  run(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
