// The autoscaling benchmark's "cheap fleet mode": a discrete-event simulation of a fleet of simulated engines and
// an autoscaler, in simulated time (fast, exact, reproducible). bench/autoscaling.ts builds the workload and the
// policies and prints the tables; this module is the fleet, the workload generator and the two peer baselines
// (HPA-style, KPA-style). Our policy is the project's own pure modules, adapted in bench/autoscaling.ts.
//
// Rules of the model:
//  - Workload: the Azure LLM inference traces of 2023 (conv + code, merged by time) give the inter-arrival structure
//    and (prompt, output) token pairs; they are walked in consecutive runs from seeded random offsets, and the time
//    between arrivals is divided by rate(t) / trace rate, where rate(t) is a 24 h diurnal envelope compressed into
//    `daySeconds`, times the flash crowds' factor. Prefix sharing is not modelled (the trace has no prompt text).
//  - Replica: the engine's continuous-batching step (src/engine/scheduler.ts, README "The engine loop") re-done
//    compactly in simulated time, because the engine's scheduler runs on real timers: FIFO waiting queue; each step
//    decodes one token for every running sequence, then spends the rest of the token budget (max-num-batched-tokens)
//    on chunked prefill, continuing partial prefills first, admitting while fewer than max-num-seqs run and the KV
//    cache can hold the new sequence's prompt + output in full (a conservative admission: no preemption). The step
//    takes src/engine/latency.ts stepDurationMs() of its shape, the profile's parameters, jitter off. A sequence's
//    first token comes at the end of the step that finishes its prompt.
//  - A replica exists from its creation (replica-seconds count from then: the GPU is held during the cold start)
//    and serves from creation + cold start. A scale-down removes starting replicas first (newest first), then the
//    least-loaded ready ones, which drain: they take no new request and finish what they hold, then go away.
//  - Routing: least-loaded (waiting + running) among ready, non-draining replicas. With none ready a request waits
//    at the gateway (bounded). A request fails when its replica's waiting queue is full (vLLM-simulator's 1000,
//    a 429), the gateway queue is full, or it waited longer than `maxWaitSeconds` before its prefill began.
//  - Scalers are called on their period with what a scrape would see (per ready pod: waiting, running, KV usage)
//    and return the desired count; the fleet applies it at once (the ModelInfer controller's pod creation and
//    deletion are not delayed further).
import { stepDurationMs, seededRandom, attentionPairs, type LatencyParams } from '../src/engine/latency.ts';

// ---- Workload -------------------------------------------------------------------------------------------------

export interface Trace {
  /** Seconds between consecutive requests of the merged trace (first is 0). */
  gaps: Float64Array;
  prompt: Int32Array;
  output: Int32Array;
  /** Requests per second over the trace. */
  rate: number;
}

/** Parses one or more Azure 2023 CSVs (`TIMESTAMP,ContextTokens,GeneratedTokens`) and merges them by time. */
export function parseTraces(texts: readonly string[]): Trace {
  const rows: { t: number; p: number; g: number }[] = [];
  for (const text of texts) {
    const lines = text.split('\n');
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (!line) continue;
      const [ts, p, g] = line.split(',');
      const t = Date.parse(ts!.replace(' ', 'T').slice(0, 23) + 'Z');
      const pi = Number(p), gi = Number(g);
      if (!Number.isFinite(t) || !(pi > 0) || !(gi >= 0)) continue;
      rows.push({ t: t / 1000, p: pi, g: Math.max(1, gi) });
    }
  }
  if (rows.length < 2) throw new Error('trace: fewer than 2 requests');
  rows.sort((a, b) => a.t - b.t);
  const n = rows.length;
  const gaps = new Float64Array(n), prompt = new Int32Array(n), output = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    gaps[i] = i === 0 ? 0 : rows[i]!.t - rows[i - 1]!.t;
    prompt[i] = rows[i]!.p;
    output[i] = rows[i]!.g;
  }
  return { gaps, prompt, output, rate: (n - 1) / (rows[n - 1]!.t - rows[0]!.t) };
}

export interface FlashCrowd {
  /** Start, seconds from the start of the stream. */
  at: number;
  seconds: number;
  factor: number;
}

export interface WorkloadOptions {
  /** Compressed length of a 24 h day, seconds. */
  daySeconds: number;
  days: number;
  /** Requests/s at the envelope's peak (flash crowds multiply it further). */
  peakRps: number;
  /** Trough / peak of the envelope (0.25 = 4:1). */
  troughRatio: number;
  /** Hour of day (0–24) of the envelope's peak; the trough is 12 h away. */
  peakHour: number;
  flashCrowds: FlashCrowd[];
  /** Consecutive trace requests taken from one random offset before jumping. */
  runLength: number;
  seed: number;
}

export interface Workload {
  arrival: Float64Array;
  prompt: Int32Array;
  output: Int32Array;
  end: number;
}

/** The diurnal envelope in [troughRatio, 1] at hour of day h: a cosine with its maximum at peakHour. */
export function envelope(o: Pick<WorkloadOptions, 'troughRatio' | 'peakHour'>, hour: number): number {
  return o.troughRatio + (1 - o.troughRatio) * (0.5 + 0.5 * Math.cos((2 * Math.PI * (hour - o.peakHour)) / 24));
}

export function rateAt(o: WorkloadOptions, t: number): number {
  const hour = ((t % o.daySeconds) / o.daySeconds) * 24;
  let r = o.peakRps * envelope(o, hour);
  for (const f of o.flashCrowds) if (t >= f.at && t < f.at + f.seconds) r *= f.factor;
  return r;
}

export function buildWorkload(trace: Trace, o: WorkloadOptions): Workload {
  const random = seededRandom(o.seed);
  const end = o.daySeconds * o.days;
  const arrival: number[] = [], prompt: number[] = [], output: number[] = [];
  const n = trace.gaps.length;
  let k = Math.floor(random() * n), left = o.runLength, t = 0;
  for (;;) {
    if (left-- <= 0 || k >= n - 1) {
      k = Math.floor(random() * (n - 1));
      left = o.runLength;
    }
    k++;
    // The trace's gap, stretched or squeezed to the envelope's rate at this moment.
    t += trace.gaps[k]! * (trace.rate / rateAt(o, t));
    if (t >= end) break;
    arrival.push(t);
    prompt.push(trace.prompt[k]!);
    output.push(trace.output[k]!);
  }
  return { arrival: Float64Array.from(arrival), prompt: Int32Array.from(prompt), output: Int32Array.from(output), end };
}

/** A constant-rate Poisson stream with the trace's token pairs (for calibrating one replica). */
export function poissonWorkload(trace: Trace, rps: number, seconds: number, seed: number): Workload {
  const random = seededRandom(seed);
  const arrival: number[] = [], prompt: number[] = [], output: number[] = [];
  for (let t = -Math.log(1 - random()) / rps; t < seconds; t += -Math.log(1 - random()) / rps) {
    const k = Math.floor(random() * trace.prompt.length);
    arrival.push(t);
    prompt.push(trace.prompt[k]!);
    output.push(trace.output[k]!);
  }
  return { arrival: Float64Array.from(arrival), prompt: Int32Array.from(prompt), output: Int32Array.from(output), end: seconds };
}

// ---- Replica --------------------------------------------------------------------------------------------------

export interface EngineModel {
  latency: LatencyParams;
  maxNumSeqs: number;
  maxBatchedTokens: number;
  /** KV-cache capacity in tokens (blocks × block size). */
  kvTokens: number;
  maxWaiting: number;
  coldStartSeconds: number;
}

/** Per-request outcome, shared by all replicas of a run. */
export interface Outcomes {
  /** Seconds from arrival to first token; NaN until then (and for failures). */
  ttft: Float64Array;
  /** Mean seconds per output token after the first; 0 for one-token outputs. */
  tpot: Float64Array;
  /** 0 pending, 1 finished, 2 failed. */
  state: Uint8Array;
}

/** Min-heap of (finish step, request) pairs: the decoding sequences of one replica. */
class DecodeHeap {
  keys: number[] = [];
  ids: number[] = [];
  get size(): number {
    return this.keys.length;
  }
  push(key: number, id: number): void {
    const { keys, ids } = this;
    let i = keys.length;
    keys.push(key);
    ids.push(id);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (keys[p]! <= key) break;
      keys[i] = keys[p]!;
      ids[i] = ids[p]!;
      i = p;
    }
    keys[i] = key;
    ids[i] = id;
  }
  peek(): number {
    return this.keys.length ? this.keys[0]! : Infinity;
  }
  pop(): number {
    const { keys, ids } = this;
    const top = ids[0]!;
    const k = keys.pop()!, v = ids.pop()!;
    const n = keys.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && keys[r]! < keys[l]! ? r : l;
        if (keys[c]! >= k) break;
        keys[i] = keys[c]!;
        ids[i] = ids[c]!;
        i = c;
      }
      keys[i] = k;
      ids[i] = v;
    }
    return top;
  }
}

export class Replica {
  readonly id: number;
  readonly createdAt: number;
  readonly readyAt: number;
  removedAt: number | undefined;
  draining = false;
  waiting: number[] = [];
  #head = 0;
  /** Sequences admitted whose prompt is not fully computed: request id and prompt tokens done. */
  #prefilling: { id: number; done: number }[] = [];
  #decode = new DecodeHeap();
  /** Sum of the decoding sequences' context lengths. */
  #context = 0;
  /** Prompt + output tokens of every admitted sequence (the conservative KV reservation). */
  #reserved = 0;
  #step = 0;
  /** End of the step in progress, -1 when idle. */
  stepEnd = -1;
  #decodingInStep = 0;
  #completing: number[] = [];

  readonly m: EngineModel;
  readonly w: Workload;
  readonly out: Outcomes;

  constructor(id: number, createdAt: number, readyAt: number, m: EngineModel, w: Workload, out: Outcomes) {
    this.m = m;
    this.w = w;
    this.out = out;
    this.id = id;
    this.createdAt = createdAt;
    this.readyAt = readyAt;
  }

  get waitingCount(): number {
    return this.waiting.length - this.#head;
  }
  get running(): number {
    return this.#prefilling.length + this.#decode.size;
  }
  get load(): number {
    return this.waitingCount + this.running;
  }
  get kvUsage(): number {
    return this.#reserved / this.m.kvTokens;
  }
  get idle(): boolean {
    return this.load === 0 && this.stepEnd < 0;
  }

  /** Queue a request at time t; false when the waiting queue is full. */
  enqueue(id: number, t: number): boolean {
    if (this.waitingCount >= this.m.maxWaiting) return false;
    this.waiting.push(id);
    if (this.stepEnd < 0) this.#startStep(t);
    return true;
  }

  /** Run every step that ends by time t. */
  advance(t: number): void {
    while (this.stepEnd >= 0 && this.stepEnd <= t) {
      const end = this.stepEnd;
      this.#finishStep(end);
      this.stepEnd = -1;
      this.#startStep(end);
    }
  }

  #startStep(t: number): void {
    const { m, w, out } = this;
    const decoding = this.#decode.size;
    let budget = m.maxBatchedTokens - decoding;
    let prefill = 0, pairs = 0;
    this.#completing = [];
    for (const s of this.#prefilling) {
      if (budget <= 0) break;
      const chunk = Math.min(budget, w.prompt[s.id]! - s.done);
      pairs += attentionPairs(s.done, chunk);
      s.done += chunk;
      prefill += chunk;
      budget -= chunk;
      if (s.done >= w.prompt[s.id]!) this.#completing.push(s.id);
    }
    while (budget > 0 && this.#head < this.waiting.length && this.running < m.maxNumSeqs) {
      const id = this.waiting[this.#head]!;
      if (t - w.arrival[id]! > this.maxWait) {
        out.state[id] = 2;
        this.#head++;
        continue;
      }
      const need = w.prompt[id]! + w.output[id]!;
      if (this.#reserved + need > m.kvTokens && this.running > 0) break;
      this.#head++;
      this.#reserved += need;
      const chunk = Math.min(budget, w.prompt[id]!);
      pairs += attentionPairs(0, chunk);
      prefill += chunk;
      budget -= chunk;
      const s = { id, done: chunk };
      this.#prefilling.push(s);
      if (chunk >= w.prompt[id]!) this.#completing.push(id);
    }
    if (this.#head > 1024 && this.#head * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.#head);
      this.#head = 0;
    }
    if (decoding === 0 && prefill === 0) return;
    this.#decodingInStep = decoding;
    const ms = stepDurationMs(m.latency, { decodeSeqs: decoding, prefillTokens: prefill, decodeContextTokens: this.#context, prefillAttentionPairs: pairs });
    this.stepEnd = t + ms / 1000;
  }

  #finishStep(t: number): void {
    const { w, out } = this;
    this.#step++;
    this.#context += this.#decodingInStep;
    while (this.#decode.peek() <= this.#step) {
      const id = this.#decode.pop();
      this.#context -= w.prompt[id]! + w.output[id]!;
      this.#reserved -= w.prompt[id]! + w.output[id]!;
      const n = w.output[id]!;
      out.tpot[id] = n > 1 ? (t - w.arrival[id]! - out.ttft[id]!) / (n - 1) : 0;
      out.state[id] = 1;
    }
    if (this.#completing.length > 0) {
      const done = new Set(this.#completing);
      this.#prefilling = this.#prefilling.filter((s) => !done.has(s.id));
      for (const id of this.#completing) {
        out.ttft[id] = t - w.arrival[id]!;
        if (w.output[id]! <= 1) {
          out.tpot[id] = 0;
          out.state[id] = 1;
          this.#reserved -= w.prompt[id]! + w.output[id]!;
        } else {
          this.#context += w.prompt[id]! + 1;
          this.#decode.push(this.#step + w.output[id]! - 1, id);
        }
      }
      this.#completing = [];
    }
  }

  /** Seconds a request may wait before its prefill begins; longer and it has failed (the client gave up). */
  maxWait = Infinity;
}

// ---- Scalers --------------------------------------------------------------------------------------------------

/** What a scrape of the target shows at one instant. */
export interface FleetView {
  /** Seconds. */
  now: number;
  /** The replica count last asked for (spec.replicas). */
  current: number;
  ready: number;
  /** Per ready, non-draining replica. */
  pods: { waiting: number; running: number; kvUsage: number }[];
  /** Requests held at the gateway (no replica ready). */
  gatewayQueue: number;
  /** Requests that arrived at the gateway since the previous tick (its request counter's increase). */
  arrivals: number;
}

export interface Scaler {
  name: string;
  /** Seconds between calls. */
  periodSeconds: number;
  /** The desired replica count, or undefined to keep the current one. */
  tick(view: FleetView): number | undefined;
}

export function fixedScaler(replicas: number): Scaler {
  return { name: `fixed ${replicas}`, periodSeconds: Infinity, tick: () => replicas };
}

export interface HpaOptions {
  /** Per-pod average of num_requests_waiting. */
  targetWaiting: number;
  tolerance: number;
  periodSeconds: number;
  downWindowSeconds: number;
  min: number;
  max: number;
}

/**
 * HPA v2 on a Pods metric (AverageValue), as kube-controller-manager computes it (reference A.3): ratio = average /
 * target over ready pods; within the tolerance nothing changes; for a scale-up, pods not yet ready count as 0 and the
 * ratio is recomputed over all pods (if that reverses the direction or falls within the tolerance, nothing changes);
 * desired = ceil(ratio × pods). Scale-down takes the largest recommendation of the last 300 s; scale-up is limited
 * to max(+4 pods, +100 %) per 15 s of the count at the start of the period.
 */
export function hpaScaler(o: HpaOptions): Scaler {
  const history: { at: number; n: number }[] = [];
  const changes: { at: number; delta: number }[] = [];
  return {
    name: 'HPA-style',
    periodSeconds: o.periodSeconds,
    tick(v) {
      if (v.ready === 0) return undefined;
      const total = v.pods.reduce((s, p) => s + p.waiting, 0);
      let ratio = total / v.ready / o.targetWaiting;
      let pods = v.ready;
      if (Math.abs(ratio - 1) <= o.tolerance) ratio = NaN;
      else if (ratio > 1 && v.current > v.ready) {
        pods = v.current;
        ratio = total / pods / o.targetWaiting;
        if (ratio <= 1 + o.tolerance) ratio = NaN;
      }
      const rec = Number.isNaN(ratio) ? v.current : Math.max(o.min, Math.min(o.max, Math.ceil(ratio * pods)));
      history.push({ at: v.now, n: rec });
      while (history.length && history[0]!.at <= v.now - o.downWindowSeconds) history.shift();
      while (changes.length && changes[0]!.at <= v.now - 15) changes.shift();
      let desired = v.current;
      if (rec > v.current) {
        const base = v.current - changes.reduce((s, c) => s + c.delta, 0);
        desired = Math.min(rec, Math.max(base + 4, base * 2));
      } else if (rec < v.current) {
        desired = Math.min(v.current, Math.max(...history.map((h) => h.n)));
      }
      desired = Math.max(o.min, Math.min(o.max, desired));
      if (desired !== v.current) changes.push({ at: v.now, delta: desired - v.current });
      return desired;
    },
  };
}

export interface KpaOptions {
  /** Per-pod concurrency target (containerConcurrency × target utilisation). */
  target: number;
  stableWindowSeconds: number;
  panicWindowSeconds: number;
  panicThreshold: number;
  maxScaleUpRate: number;
  maxScaleDownRate: number;
  scaleDownDelaySeconds: number;
  /** Scrape every second, decide every tickSeconds (Knative: 1 s, 2 s). */
  tickSeconds: number;
  min: number;
  max: number;
}

/**
 * Knative's KPA (reference A.2, knative/serving pkg/autoscaler/scaling/autoscaler.go): per-second samples of the
 * total concurrency (waiting + running on ready pods, plus the activator's — here the gateway's — queue); every
 * tick the stable (60 s) and panic (6 s) window averages ask for ceil(value / target) pods, bounded by the rates
 * relative to the ready pods; panic starts when the panic want is ≥ 200 % of the ready pods, holds the count (a
 * ratchet, never down) and ends a stable window after the last tick over the threshold; scale-down-delay keeps
 * the largest desired count of its window.
 */
export function kpaScaler(o: KpaOptions): Scaler {
  const samples: { at: number; value: number }[] = [];
  let nextDecision = 0;
  let panicSince: number | undefined;
  let lastOverThreshold = -Infinity;
  let maxPanicPods = 0;
  const delayed: { at: number; n: number }[] = [];
  let desired: number | undefined;
  return {
    name: 'KPA-style',
    periodSeconds: 1,
    tick(v) {
      samples.push({ at: v.now, value: v.pods.reduce((s, p) => s + p.waiting + p.running, 0) + v.gatewayQueue });
      while (samples.length && samples[0]!.at <= v.now - o.stableWindowSeconds) samples.shift();
      if (v.now + 1e-9 < nextDecision) return desired;
      nextDecision = v.now + o.tickSeconds;
      const avg = (window: number) => {
        let s = 0, n = 0;
        for (let i = samples.length - 1; i >= 0 && samples[i]!.at > v.now - window; i--, n++) s += samples[i]!.value;
        return n ? s / n : 0;
      };
      const ready = Math.max(1, v.ready);
      const maxUp = Math.ceil(o.maxScaleUpRate * ready);
      const maxDown = Math.floor(ready / o.maxScaleDownRate);
      const clamp = (n: number) => Math.min(maxUp, Math.max(maxDown, n));
      const stableWant = clamp(Math.ceil(avg(o.stableWindowSeconds) / o.target));
      const panicWant = clamp(Math.ceil(avg(o.panicWindowSeconds) / o.target));
      const over = panicWant / ready >= o.panicThreshold;
      if (over) {
        lastOverThreshold = v.now;
        panicSince ??= v.now;
      } else if (panicSince !== undefined && v.now - lastOverThreshold >= o.stableWindowSeconds) {
        panicSince = undefined;
        maxPanicPods = 0;
      }
      let want: number;
      if (panicSince !== undefined) {
        maxPanicPods = Math.max(maxPanicPods, panicWant, stableWant, v.current);
        want = maxPanicPods;
      } else want = stableWant;
      delayed.push({ at: v.now, n: want });
      while (delayed.length && delayed[0]!.at <= v.now - o.scaleDownDelaySeconds) delayed.shift();
      if (o.scaleDownDelaySeconds > 0) want = Math.max(...delayed.map((d) => d.n));
      desired = Math.max(o.min, Math.min(o.max, want));
      return desired;
    },
  };
}

// ---- The fleet ------------------------------------------------------------------------------------------------

export interface RunOptions {
  model: EngineModel;
  scaler: Scaler;
  /** Replicas at the start (ready at once). */
  initialReplicas: number;
  /** Only requests arriving in [measureFrom, measureTo) are measured, and replica-seconds in the same window. */
  measureFrom: number;
  measureTo: number;
  /** Arrivals before this time are skipped (a fixed fleet needs no warm-up). */
  startAt?: number;
  maxWaitSeconds: number;
  gatewayQueue: number;
  /** Seconds between replica-count samples for the timeline (0: none). */
  timelineStep?: number;
}

export interface ScalingAction {
  at: number;
  from: number;
  to: number;
}

export interface RunResult {
  outcomes: Outcomes;
  /** Measured requests: first and one-past-last index. */
  from: number;
  to: number;
  replicaSeconds: number;
  actions: ScalingAction[];
  /** Replica count (existing, starting included) at each timeline step within the measured window. */
  timeline: number[];
  maxReplicas: number;
}

export function simulate(w: Workload, o: RunOptions): RunResult {
  const n = w.arrival.length;
  const out: Outcomes = { ttft: new Float64Array(n).fill(NaN), tpot: new Float64Array(n), state: new Uint8Array(n) };
  const m = o.model;
  const startAt = o.startAt ?? 0;
  let first = 0;
  while (first < n && w.arrival[first]! < startAt) first++;
  for (let i = 0; i < first; i++) out.state[i] = 2; // not part of this run
  const all: Replica[] = [];
  let live: Replica[] = [];
  let nextId = 0;
  let current = 0;
  let maxReplicas = 0;
  const actions: ScalingAction[] = [];
  const gateway: number[] = [];
  const timeline: number[] = [];
  const add = (t: number, ready: number) => {
    const r = new Replica(nextId++, t, ready, m, w, out);
    r.maxWait = o.maxWaitSeconds;
    all.push(r);
    live.push(r);
  };
  for (let i = 0; i < o.initialReplicas; i++) add(startAt, startAt);
  current = o.initialReplicas;
  maxReplicas = current;

  const scale = (t: number, desired: number) => {
    if (desired === current) return;
    actions.push({ at: t, from: current, to: desired });
    if (desired > current) for (let i = current; i < desired; i++) add(t, t + m.coldStartSeconds);
    else {
      let cut = current - desired;
      const active = live.filter((r) => !r.draining);
      const starting = active.filter((r) => r.readyAt > t).sort((a, b) => b.createdAt - a.createdAt);
      for (const r of starting) {
        if (cut === 0) break;
        r.removedAt = t;
        r.draining = true;
        cut--;
      }
      const ready = active.filter((r) => r.readyAt <= t).sort((a, b) => a.load - b.load || b.id - a.id);
      for (const r of ready) {
        if (cut === 0) break;
        r.draining = true;
        if (r.idle) r.removedAt = t;
        cut--;
      }
      live = live.filter((r) => r.removedAt === undefined);
    }
    current = desired;
    maxReplicas = Math.max(maxReplicas, live.length);
  };

  const routable = (t: number) => live.filter((r) => !r.draining && r.readyAt <= t);
  const route = (id: number, t: number, targets: Replica[]) => {
    if (targets.length === 0) {
      if (gateway.length >= o.gatewayQueue) out.state[id] = 2;
      else gateway.push(id);
      return;
    }
    let best = targets[0]!;
    for (const r of targets) if (r.load < best.load) best = r;
    if (!best.enqueue(id, t)) out.state[id] = 2;
  };
  const advance = (t: number) => {
    for (const r of live) {
      r.advance(t);
      if (r.draining && r.idle && r.removedAt === undefined) r.removedAt = Math.max(t, r.stepEnd);
    }
    if (live.some((r) => r.removedAt !== undefined)) live = live.filter((r) => r.removedAt === undefined);
  };

  const period = o.scaler.periodSeconds;
  let nextTick = Number.isFinite(period) ? startAt + period : Infinity;
  let nextTimeline = o.timelineStep ? o.measureFrom : Infinity;
  let i = first;
  let arrivedAtTick = first;
  let lastT = -Infinity;
  const limit = w.end + 3600;
  for (;;) {
    const nextArrival = i < n ? w.arrival[i]! : Infinity;
    let nextReady = Infinity;
    for (const r of live) if (r.readyAt > lastT && r.readyAt < nextReady) nextReady = r.readyAt;
    const t = Math.min(nextArrival, nextTick, nextReady, nextTimeline);
    if (t === Infinity || t > limit) break;
    if (i >= n && gateway.length === 0 && live.every((r) => r.idle) && t > o.measureTo) break;
    advance(t);
    lastT = t;
    if (t === nextTimeline) {
      if (t < o.measureTo) timeline.push(live.length);
      nextTimeline = t + o.timelineStep! < o.measureTo ? t + o.timelineStep! : Infinity;
    }
    if (t === nextReady || (gateway.length > 0 && t === nextTick)) {
      const targets = routable(t);
      if (targets.length > 0) {
        const held = gateway.splice(0);
        for (const id of held) {
          if (t - w.arrival[id]! > o.maxWaitSeconds) out.state[id] = 2;
          else route(id, t, targets);
        }
      }
    }
    if (t === nextTick) {
      const ready = routable(t);
      const view: FleetView = {
        now: t,
        current,
        ready: ready.length,
        pods: ready.map((r) => ({ waiting: r.waitingCount, running: r.running, kvUsage: r.kvUsage })),
        gatewayQueue: gateway.length,
        arrivals: i - arrivedAtTick,
      };
      arrivedAtTick = i;
      const desired = o.scaler.tick(view);
      if (desired !== undefined) scale(t, desired);
      nextTick = t + period;
      if (i >= n && t > w.end) nextTick = t + Math.max(period, 5);
    }
    if (t === nextArrival) {
      route(i, t, routable(t));
      i++;
    }
  }
  // Whatever is still held when the run stops (it cannot be served: no replica) has failed.
  for (const id of gateway) out.state[id] = 2;
  for (const r of live) r.advance(Infinity);
  for (let k = 0; k < n; k++) if (out.state[k] === 0) out.state[k] = 2;

  let from = 0;
  while (from < n && w.arrival[from]! < o.measureFrom) from++;
  let to = from;
  while (to < n && w.arrival[to]! < o.measureTo) to++;
  let replicaSeconds = 0;
  for (const r of all) {
    const a = Math.max(r.createdAt, o.measureFrom), b = Math.min(r.removedAt ?? Infinity, o.measureTo);
    if (b > a) replicaSeconds += b - a;
  }
  return { outcomes: out, from, to, replicaSeconds, actions: actions.filter((a) => a.at >= o.measureFrom && a.at < o.measureTo), timeline, maxReplicas };
}

// ---- Summaries ------------------------------------------------------------------------------------------------

export interface Slo {
  ttftSeconds: number;
  tpotSeconds: number;
}

export interface Summary {
  requests: number;
  finished: number;
  failed: number;
  /** Share (0–1) of measured requests that finished within both bounds (failures count as misses). */
  attainment: number;
  ttft: { p50: number; p90: number; p99: number };
}

export function summarize(r: RunResult, slo: Slo): Summary {
  const { outcomes: out, from, to } = r;
  let finished = 0, failed = 0, good = 0;
  const ttfts: number[] = [];
  for (let k = from; k < to; k++) {
    if (out.state[k] === 1) {
      finished++;
      ttfts.push(out.ttft[k]!);
      if (out.ttft[k]! <= slo.ttftSeconds && out.tpot[k]! <= slo.tpotSeconds) good++;
    } else failed++;
  }
  ttfts.sort((a, b) => a - b);
  const q = (p: number) => (ttfts.length ? ttfts[Math.min(ttfts.length - 1, Math.floor(p * ttfts.length))]! : NaN);
  const requests = to - from;
  return { requests, finished, failed, attainment: requests ? good / requests : 1, ttft: { p50: q(0.5), p90: q(0.9), p99: q(0.99) } };
}

/** A scale-up followed by a scale-down within `windowSeconds`, or the reverse. */
export function oscillations(actions: readonly ScalingAction[], windowSeconds: number): number {
  let count = 0;
  for (let k = 1; k < actions.length; k++) {
    const a = actions[k - 1]!, b = actions[k]!;
    if (Math.sign(a.to - a.from) !== Math.sign(b.to - b.from) && b.at - a.at <= windowSeconds) count++;
  }
  return count;
}
