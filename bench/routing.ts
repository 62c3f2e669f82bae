// Routing-quality benchmark: 8 simulated engines (one child process, KV-cache/prefix-cache model on, a small GPU
// block count so cache pressure matters), the embedded API server and the gateway (this process), and a Poisson
// load generator with stepped rates. Two workloads — shared-prefix (groups of requests sharing a long system
// prompt) and a low-sharing control (unique prompts of the same length) — under each policy: random, round-robin,
// least-request, prefix-affinity (with load guard) and the default mix. Policies are switched by patching the
// ModelServer (no restart); engines are restarted between runs so every run starts with cold caches, and their pods
// go unready meanwhile, which purges the gateway's prefix index.
//
// Prints time to first token p50/p90/p99 (client side, through the gateway, streaming), output tokens/s, the
// engines' prefix-cache hit rate (vllm:prefix_cache_hits_total / queries_total), the largest waiting queue seen on
// any engine (polled), and the scheduler's own per-decision cost for a small and a 220 KB prompt; then TTFT p50/p90
// per rate step with the mean spread between the longest and shortest engine queue (how evenly load went out), and
// the round-robin / default and least-request / default TTFT ratios.
//
// Time scale: engine latencies are the README's H100/8B defaults multiplied by --scale (default 4) and arrival rates
// are divided by it, so the queueing behaviour is the same while the CPU needed to simulate it is 4× smaller.
//
//   npm run bench -- routing [--smoke] [--policies default,round-robin] [--workloads shared,control]
//                            [--scale 4] [--rates 4,8,12] [--step-seconds 20]
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Agent } from 'undici';
import { startTestApiServer, projectCrds, type TestApiServer } from '../src/kube/testing/apiserver.ts';
import { startGateway, type GatewayHandle } from '../src/gateway/gateway.ts';
import { MODELINFER_NAME_LABEL } from '../src/api/labels.ts';
import { Endpoint } from '../src/gateway/scheduling/endpoint.ts';
import { Scheduler } from '../src/gateway/scheduling/scheduler.ts';
import { compileProfile } from '../src/gateway/scheduling/profiles.ts';
import { DEFAULT_PROFILE, PROFILES } from '../src/engine/profiles.ts';
import { seededRandom } from '../src/engine/latency.ts';

type Policy = 'random' | 'round-robin' | 'least-request' | 'prefix-affinity' | 'default';
type WorkloadName = 'shared' | 'control';

interface Options {
  smoke: boolean;
  policies: Policy[];
  workloads: WorkloadName[];
  scale: number;
  /** Requests/s at scale 1 for each step (divided by scale). */
  rates: number[];
  stepSeconds: number;
  groups: number;
  sysChars: number;
  questionChars: number;
  outTokens: number;
  gpuBlocks: number;
  engines: number;
  drainSeconds: number;
  seed: number;
}

function parseOptions(argv: string[]): Options {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const smoke = argv.includes('--smoke');
  const scale = Number(get('scale') ?? 4);
  const o: Options = {
    smoke,
    policies: (get('policies')?.split(',') as Policy[] | undefined) ?? (smoke ? ['round-robin', 'default'] : ['random', 'round-robin', 'least-request', 'prefix-affinity', 'default']),
    workloads: (get('workloads')?.split(',') as WorkloadName[] | undefined) ?? ['shared', 'control'],
    scale,
    rates: get('rates')?.split(',').map(Number) ?? (smoke ? [32] : [48, 96, 144]),
    stepSeconds: Number(get('step-seconds') ?? (smoke ? 3 : 15)),
    groups: Number(get('groups') ?? (smoke ? 8 : 32)),
    sysChars: Number(get('sys-chars') ?? 12000),
    questionChars: Number(get('question-chars') ?? 400),
    outTokens: Number(get('out-tokens') ?? (smoke ? 8 : 16)),
    gpuBlocks: Number(get('gpu-blocks') ?? 1200),
    engines: Number(get('engines') ?? 8),
    drainSeconds: Number(get('drain-seconds') ?? (smoke ? 15 : 90)),
    seed: Number(get('seed') ?? 1),
  };
  return o;
}

// ---- deterministic workload --------------------------------------------------------------------------------------


const WORDS =
  'the model answers questions about routing caching engines tokens latency queues batches prompts groups users systems policy rules context memory blocks schedule decode prefill cluster gateway kernel tensor weight layer attention vector matrix stream request response metric label pod node service route server adapter session header value budget quota limit'.split(
    ' ',
  );

function words(rng: () => number, chars: number): string {
  let s = '';
  while (s.length < chars) s += WORDS[Math.floor(rng() * WORDS.length)] + (rng() < 0.1 ? '. ' : ' ');
  return s.slice(0, chars);
}

interface Arrival {
  at: number;
  prompt: string;
  /** Index of the rate step it arrives in. */
  step: number;
}

function schedule(o: Options, workload: WorkloadName): Arrival[] {
  const rng = seededRandom(o.seed * 7919 + (workload === 'shared' ? 1 : 2));
  const systems = Array.from({ length: o.groups }, (_, g) => `System prompt of group ${g}. ` + words(seededRandom(o.seed * 31 + g), o.sysChars));
  const out: Arrival[] = [];
  let t = 0;
  o.rates.forEach((rate, step) => {
    const r = rate / o.scale;
    const end = (step + 1) * o.stepSeconds;
    for (;;) {
      t += -Math.log(1 - rng()) / r;
      if (t >= end) {
        t = end;
        break;
      }
      const question = words(rng, o.questionChars);
      const prompt =
        workload === 'shared'
          ? `${systems[Math.floor(rng() * o.groups)]}\nQuestion: ${question}`
          : `Request ${out.length}: ${words(rng, o.sysChars)}\nQuestion: ${question}`;
      out.push({ at: t * 1000, prompt, step });
    }
  });
  return out;
}

// ---- engines, API objects, gateway --------------------------------------------------------------------------------

const NET = '/apis/networking.matrixinfer.ai/v1alpha1/namespaces/default';
const IPS = (n: number): string[] => Array.from({ length: n }, (_, i) => `127.0.0.${101 + i}`);

/** The default engine profile with every latency multiplied by the time scale. */
function engineArgs(o: Options): string[] {
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
  ];
}

async function startEngines(o: Options, port: number): Promise<{ child: ChildProcess; port: number }> {
  const script = fileURLToPath(new URL('./routing-engines.ts', import.meta.url));
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', script, JSON.stringify({ ips: IPS(o.engines), port, args: engineArgs(o) })], {
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

async function runLoad(gw: GatewayHandle, o: Options, arrivals: Arrival[], engineUrls: string[]): Promise<RunResult> {
  const agent = new Agent({ connections: null, keepAliveTimeout: 30_000, pipelining: 1 });
  const metricsAgent = new Agent({ connections: 1 });
  const origin = gw.url;
  // By arrival, so that each rate step can be reported on its own.
  const ttfts: number[] = new Array<number>(arrivals.length).fill(Infinity);
  let ok = 0;
  let failed = 0;
  let outputTokens = 0;
  let maxQueue = 0;
  let spreadSum = 0;
  let polls = 0;
  let lastDone = 0;
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

  const send = (idx: number, prompt: string): Promise<void> => {
    const ac = new AbortController();
    controllers.add(ac);
    const start = performance.now();
    let first = -1;
    const body = JSON.stringify({ model: 'llama', prompt, max_tokens: o.outTokens, stream: true });
    return agent
      .request({ origin, path: '/v1/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: ac.signal, headersTimeout: 0, bodyTimeout: 0 })
      .then(async (res) => {
        let tail = '';
        for await (const chunk of res.body) {
          if (first < 0) first = performance.now() - start;
          tail = (tail + (chunk as Buffer).toString()).slice(-64);
        }
        if (res.statusCode === 200 && tail.includes('[DONE]')) {
          ok++;
          outputTokens += o.outTokens;
          ttfts[idx] = first;
          lastDone = performance.now();
        } else {
          failed++;
        }
      })
      .catch(() => {
        failed++;
      })
      .finally(() => controllers.delete(ac));
  };

  for (let i = 0; i < arrivals.length; i++) {
    const a = arrivals[i]!;
    const wait = t0 + a.at - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const p = send(i, a.prompt);
    pending.add(p);
    void p.finally(() => pending.delete(p));
  }
  const drainDeadline = performance.now() + o.drainSeconds * 1000;
  while (pending.size > 0 && performance.now() < drainDeadline) await new Promise((r) => setTimeout(r, 50));
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
  return {
    sent: arrivals.length,
    ok,
    failed,
    ttfts,
    outputTokens,
    seconds: ((lastDone || performance.now()) - t0) / 1000,
    hitRate: queries > 0 ? hits / queries : null,
    maxQueue,
    queueSpread: polls > 0 ? spreadSum / polls : 0,
    steps: arrivals.map((a) => a.step),
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
    e.metrics = { waiting: i % 3, running: 4 + i, kvUsage: 0.1 * i, cacheTokens: 400_000, loras: new Set(), maxLoras: 0, at: performance.now(), inflightAtScrape: 0 };
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

export async function run(argv: string[]): Promise<void> {
  const o = parseOptions(argv);
  const log = (m: string): void => void process.stderr.write(m + '\n');

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
  const rows: Array<{ workload: WorkloadName; policy: Policy; r: RunResult }> = [];
  try {
    // Engines first, to learn the shared port.
    engines = await startEngines(o, 0);
    const port = engines.port;
    await k(api, 'POST', `${NET}/modelservers`, {
      apiVersion: 'networking.matrixinfer.ai/v1alpha1',
      kind: 'ModelServer',
      metadata: { name: 'bench' },
      spec: { modelInferRef: { name: 'bench-infer' }, service: { port }, scheduling: { policy: o.policies[0] } },
    });
    await k(api, 'POST', `${NET}/modelroutes`, {
      apiVersion: 'networking.matrixinfer.ai/v1alpha1',
      kind: 'ModelRoute',
      metadata: { name: 'bench' },
      spec: { modelName: 'llama', rules: [{ targetModels: [{ modelServerName: 'bench' }] }] },
    });
    for (let i = 0; i < o.engines; i++) {
      await k(api, 'POST', '/api/v1/namespaces/default/pods', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `engine-${i}`, labels: { [MODELINFER_NAME_LABEL]: 'bench-infer' } },
        spec: { containers: [{ name: 'engine', image: 'vllm/vllm-openai:latest' }] },
      });
    }
    const readyEndpoints = /matrixinfer_gateway_ready_endpoints\{namespace="default",model_server="bench"\} (\d+)/;
    const engineUrls = IPS(o.engines).map((ip) => `http://${ip}:${port}`);

    for (const workload of o.workloads) {
      const arrivals = schedule(o, workload);
      for (const policy of o.policies) {
        // Cold start: pods unready (the gateway drops its state about them), engines restarted, pods ready.
        await setReady(api, o, false);
        await until('no ready endpoints', async () => (await gatewayMetric(gw, readyEndpoints)) === 0);
        if (engines === undefined) engines = await startEngines(o, port);
        await k(api, 'PATCH', `${NET}/modelservers/bench`, { spec: { scheduling: { policy } } }, 'application/merge-patch+json');
        await setReady(api, o, true);
        await until('all endpoints ready', async () => (await gatewayMetric(gw, readyEndpoints)) === o.engines);
        // Let the scraper see every engine once.
        await new Promise((r) => setTimeout(r, 1500));
        log(`routing bench: ${workload} / ${policy}: ${arrivals.length} requests over ${o.rates.length * o.stepSeconds}s`);
        const r = await runLoad(gw, o, arrivals, engineUrls);
        rows.push({ workload, policy, r });
        await stopEngines(engines.child);
        engines = undefined;
      }
    }
  } finally {
    if (engines !== undefined) await stopEngines(engines.child);
    await gw.close();
    await api.close();
  }

  console.log(
    `Routing quality: ${o.engines} engines (${o.gpuBlocks} GPU blocks × 16 tokens each, latencies ×${o.scale}), ` +
      `${o.groups} groups × ${o.sysChars}-char system prompts + ${o.questionChars}-char questions, ${o.outTokens} output tokens, ` +
      `Poisson arrivals stepped ${o.rates.map((r) => (r / o.scale).toFixed(1)).join(' → ')} req/s × ${o.stepSeconds}s each`,
  );
  console.log('| workload | policy | requests | ok | TTFT p50 ms | TTFT p90 ms | TTFT p99 ms | output tok/s | prefix hit rate | max queue |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const { workload, policy, r } of rows) {
    const s = [...r.ttfts].sort((a, b) => a - b);
    console.log(
      `| ${workload} | ${policy} | ${r.sent} | ${r.ok} | ${ms(pct(s, 50))} | ${ms(pct(s, 90))} | ${ms(pct(s, 99))} | ${(r.outputTokens / r.seconds).toFixed(0)} | ` +
        `${r.hitRate === null ? 'n/a' : (r.hitRate * 100).toFixed(1) + '%'} | ${r.maxQueue} |`,
    );
  }
  console.log('');
  console.log('By rate step (req/s): TTFT p50 / p90 ms; queue spread = mean (longest − shortest) engine waiting queue over the polls with a queue');
  console.log(`| workload | policy | ${o.rates.map((r) => `${(r / o.scale).toFixed(1)} req/s`).join(' | ')} | queue spread |`);
  console.log(`|---|---|${o.rates.map(() => '---|').join('')}---|`);
  for (const { workload, policy, r } of rows) {
    const cells = o.rates.map((_, step) => {
      const s = r.ttfts.filter((_, i) => r.steps[i] === step).sort((a, b) => a - b);
      return `${ms(pct(s, 50))} / ${ms(pct(s, 90))}`;
    });
    console.log(`| ${workload} | ${policy} | ${cells.join(' | ')} | ${r.queueSpread.toFixed(1)} |`);
  }
  const pcts = (w: WorkloadName, p: Policy): number[] | undefined => {
    const row = rows.find((x) => x.workload === w && x.policy === p);
    if (row === undefined) return undefined;
    const s = [...row.r.ttfts].sort((a, b) => a - b);
    return [pct(s, 50), pct(s, 90), pct(s, 99)];
  };
  const ratio = (a: number, b: number): string => {
    const r = a / b;
    return Number.isFinite(r) ? `${r.toFixed(2)}×` : '∞';
  };
  for (const w of o.workloads) {
    const d = pcts(w, 'default');
    if (d === undefined) continue;
    for (const base of ['round-robin', 'least-request'] as const) {
      const b = pcts(w, base);
      if (b === undefined) continue;
      const target = base === 'round-robin' ? (w === 'shared' ? ' (target: p90 ≥ 3×)' : ' (target: ≥ 1×, no loss)') : '';
      console.log(`${w}: ${base} TTFT / default TTFT = p50 ${ratio(b[0]!, d[0]!)}, p90 ${ratio(b[1]!, d[1]!)}, p99 ${ratio(b[2]!, d[2]!)}${target}`);
    }
  }
}

if (import.meta.main) {
  run(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
