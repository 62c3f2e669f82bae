// Prometheus metrics under vLLM's (or SGLang's) names, types and histogram buckets, in a private registry.
// Gauges are computed from the scheduler when scraped, so they are current at scrape time; counters and histograms
// are fed by the engine loop (SchedulerObserver).
//
// The simulated GPU is reported too, as NVIDIA's DCGM exporter reports a real one (on a cluster from its own pod on
// :9400; here on the engine's /metrics), one series per GPU of the profile (gpu="0".."count−1"), for either engine:
//   DCGM_FI_DEV_GPU_UTIL  percent of the last second during which an engine step (prefill or decode) was computing,
//                         = round(100 × busy ms / window ms): an idle engine reads 0, one stepping back to back 100.
//   DCGM_FI_DEV_FB_USED   MiB per GPU = (weights + KV bytes per token × --num-gpu-blocks × --block-size) / GPUs
//                         + overhead (CUDA context, activations, CUDA graphs), at most the framebuffer; the KV cache
//                         is allocated whole at start, as vLLM does; asleep (sleep mode): the overhead only.
//   DCGM_FI_DEV_FB_FREE   MiB per GPU = framebuffer − FB_USED.
// The window, the buckets and the formulas are in gpu.ts; the per-profile figures in profiles.ts. Labels as the
// exporter's: gpu, UUID (GPU-… derived from the pod or the engine's address and the index), device="nvidia<i>",
// modelName (the profile's GPU), Hostname (NODE_NAME, else the host name) and, when the environment gives them (the
// node agent sets POD_NAME and POD_NAMESPACE, as a Downward API env would), pod, namespace and container
// (CONTAINER_NAME).

import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { framebufferUsedMiB, type GpuSpec } from './gpu.ts';
import { SLEEP_STATE_LABELS } from './startup.ts';
import type { EngineKind } from './options.ts';
import type { FinishReason, SchedulerObserver, Sequence, StepStats } from './scheduler.ts';

/** Live engine state read at scrape time. */
/**
 * The simulated engine's own gauge, in both modes: neither vLLM nor SGLang exports a count of queued prompt tokens
 * (only of queued requests), so it carries the project's prefix rather than borrowing theirs.
 */
import { QUEUED_PROMPT_TOKENS } from '../api/engine-metrics/parse.ts';
export { QUEUED_PROMPT_TOKENS };
const QUEUED_PROMPT_TOKENS_HELP = 'Prompt tokens accepted and not yet prefilled (queued requests, and the rest of chunked prefills).';

export interface EngineState {
  running(): number;
  waiting(): number;
  kvUsage(): number;
  usedTokens(): number;
  /** Prompt tokens accepted and not yet prefilled (Scheduler.queuedPromptTokens). */
  queuedPromptTokens?(): number;
  /** LoRA adapters with running and with waiting requests, and --max-loras. */
  loras(): { max: number; running: readonly string[]; waiting: readonly string[] };
  /** 0 awake, 1 or 2 the sleep level; read with `sleepMode` (startup.ts) and for the DCGM framebuffer gauges. */
  sleepLevel?(): 0 | 1 | 2;
  /** Share (0..1) of the last second the simulated GPU computed (Scheduler.gpuUtilization); for DCGM's gauges. */
  gpuUtilization?(): number;
}

/** The DCGM exporter's view of the engine's GPUs. */
export interface DcgmConfig {
  gpu: GpuSpec;
  /** Hostname label. */
  hostname: string;
  pod?: string;
  namespace?: string;
  container?: string;
  /** Makes the UUIDs distinct per engine (pod, else address). */
  uuidSeed: string;
}

/** The DCGM config from the environment the node agent (or a Downward API env) gives the engine. */
export function dcgmFromEnv(gpu: GpuSpec, address: string, env: NodeJS.ProcessEnv = process.env): DcgmConfig {
  const pod = env.POD_NAME || undefined;
  const namespace = env.POD_NAMESPACE || undefined;
  return {
    gpu,
    hostname: env.NODE_NAME || hostname(),
    pod,
    namespace,
    container: env.CONTAINER_NAME || undefined,
    uuidSeed: pod ? `${namespace ?? ''}/${pod}` : address,
  };
}

/** A stable UUID in nvidia-smi's form, GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx. */
function gpuUuid(seed: string, index: number): string {
  const h = createHash('sha256').update(`${seed}#${index}`).digest('hex');
  return `GPU-${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export interface MetricsConfig {
  engine: EngineKind;
  modelName: string;
  maxModelLen: number;
  blockSize: number;
  numGpuBlocks: number;
  state: EngineState;
  /** vllm:cache_config_info{enable_prefix_caching}; default true. */
  prefixCaching?: boolean;
  /** --enable-sleep-mode: vllm:engine_sleep_state{sleep_state="awake"|"weights_offloaded"|"discard_all"}. */
  sleepMode?: boolean;
  /** The DCGM exporter's GPU gauges (header); none without. */
  dcgm?: DcgmConfig;
  /** Speculative decoding is on: vLLM's vllm:spec_decode_* counters (speculative.ts), as vLLM registers them only then. */
  speculative?: { numSpeculativeTokens: number };
}

// vLLM v1 (vllm/v1/metrics/loggers.py) bucket boundaries.
const VLLM_TTFT_BUCKETS = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0,
  640.0, 2560.0,
];
const VLLM_ITL_BUCKETS = [
  0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
];
const VLLM_REQUEST_LATENCY_BUCKETS = [
  0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0,
  7680.0,
];
const VLLM_ITERATION_TOKEN_BUCKETS = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384];

// SGLang (python/sglang/srt/metrics/collector.py) defaults.
const SGLANG_TTFT_BUCKETS = [0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400];
const SGLANG_E2E_BUCKETS = [0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400, 800];
const SGLANG_ITL_BUCKETS = [
  0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.06, 0.08, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4,
  6, 8,
];

/** 1, 2, 5, 10, 20, 50, … up to max (vLLM's build_1_2_5_buckets). */
export function buckets125(max: number): number[] {
  const out: number[] = [];
  for (let e = 1; ; e *= 10) {
    for (const m of [1, 2, 5]) {
      if (m * e > max) return out;
      out.push(m * e);
    }
  }
}

interface Observe {
  observe(v: number): void;
}
interface Inc {
  inc(v?: number): void;
}

export interface EngineMetrics extends SchedulerObserver {
  readonly registry: Registry;
  readonly contentType: string;
  /** The Prometheus text exposition. */
  render(): Promise<string>;
}

export function createEngineMetrics(config: MetricsConfig): EngineMetrics {
  return config.engine === 'sglang' ? new SglangMetrics(config) : new VllmMetrics(config);
}

/** Counters exist (at 0) from the first scrape, as in vLLM. */
function zero(c: Inc): Inc {
  c.inc(0);
  return c;
}

/**
 * A counter child bound to one label set, at 0 from the first scrape, incrementing prom-client's series for those
 * labels without per-call label hashing (the loop counts tokens every step); falls back to the library's labels()
 * child should that internal layout change.
 */
export function boundCounter(c: Counter, labels: Record<string, string>): Inc {
  const child = zero(c.labels(labels));
  const series = Object.values((c as unknown as { hashMap?: Record<string, unknown> }).hashMap ?? {}) as { value?: number }[];
  const s = series.length === 1 ? series[0]! : undefined;
  if (!s || typeof s.value !== 'number') return child;
  return {
    inc(v = 1): void {
      if (!Number.isFinite(v) || v < 0) return child.inc(v); // the library's errors
      s.value! += v;
    },
  };
}

/**
 * A histogram child bound to one label set, observing without prom-client's per-call label validation and hashing
 * (the engine observes the inter-token latency once per generated token). It updates the series prom-client keeps
 * for those labels (created at 0 by zero()), so the exposition is prom-client's own; should that internal layout
 * ever change, it falls back to the library's labels() child.
 */
export function boundHistogram(h: Histogram, labels: Record<string, string>): Observe {
  h.zero(labels);
  const series = Object.values((h as unknown as { hashMap?: Record<string, unknown> }).hashMap ?? {}) as {
    labels?: unknown;
    bucketValues?: Record<string, number>;
    sum?: number;
    count?: number;
  }[];
  const s = series.length === 1 ? series[0]! : undefined;
  const bounds = (h as unknown as { upperBounds?: readonly number[] }).upperBounds;
  if (!s || !s.bucketValues || typeof s.sum !== 'number' || typeof s.count !== 'number' || !Array.isArray(bounds)) return h.labels(labels);
  const values = s.bucketValues;
  const n = bounds.length;
  return {
    observe(v: number): void {
      if (!Number.isFinite(v)) throw new TypeError(`Value is not a valid number: ${v}`);
      s.sum! += v;
      s.count!++;
      for (let i = 0; i < n; i++) {
        if (v <= bounds[i]!) {
          values[bounds[i]!]!++;
          return;
        }
      }
    },
  };
}

const secondsBetween = (from: number, to: number): number => (from >= 0 && to >= from ? (to - from) / 1000 : 0);

/**
 * What both engines' metrics share: a private registry, series bound to this engine's labels (gauges read at
 * scrape time, counters and histograms updated in place), and the TTFT / inter-token histograms the token events feed.
 */
abstract class EngineRegistry implements EngineMetrics {
  readonly registry = new Registry();
  readonly contentType = this.registry.contentType;
  protected abstract readonly ttft: Observe;
  protected abstract readonly itl: Observe;
  readonly #labelNames: string[];
  readonly #labels: Record<string, string>;

  constructor(labels: Record<string, string>) {
    this.#labels = labels;
    this.#labelNames = Object.keys(labels);
  }

  protected gauge(name: string, help: string, read: () => number): void {
    const labels = this.#labels;
    new Gauge({
      name,
      help,
      labelNames: this.#labelNames,
      registers: [this.registry],
      collect() {
        this.set(labels, read());
      },
    });
  }

  protected counter(name: string, help: string): Inc {
    return boundCounter(new Counter({ name, help, labelNames: this.#labelNames, registers: [this.registry] }), this.#labels);
  }

  protected histogram(name: string, help: string, buckets: number[]): Observe {
    return boundHistogram(new Histogram({ name, help, labelNames: this.#labelNames, buckets, registers: [this.registry] }), this.#labels);
  }

  /** DCGM_FI_DEV_GPU_UTIL, _FB_USED and _FB_FREE, one series per GPU (header). */
  protected dcgm(c: MetricsConfig): void {
    const d = c.dcgm;
    if (!d) return;
    const { state } = c;
    const perGpu: Record<string, string>[] = [];
    for (let i = 0; i < d.gpu.count; i++) {
      const l: Record<string, string> = { gpu: String(i), UUID: gpuUuid(d.uuidSeed, i), device: `nvidia${i}`, modelName: d.gpu.name, Hostname: d.hostname };
      if (d.container) l.container = d.container;
      if (d.namespace) l.namespace = d.namespace;
      if (d.pod) l.pod = d.pod;
      perGpu.push(l);
    }
    const labelNames = Object.keys(perGpu[0] ?? {});
    const registers = [this.registry];
    const used = (): number => framebufferUsedMiB(d.gpu, c.numGpuBlocks, c.blockSize, (state.sleepLevel?.() ?? 0) > 0);
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          const v = read();
          for (const l of perGpu) this.set(l, v);
        },
      });
    };
    gauge('DCGM_FI_DEV_GPU_UTIL', 'GPU utilization (in %).', () => Math.round(100 * Math.min(1, Math.max(0, state.gpuUtilization?.() ?? 0))));
    gauge('DCGM_FI_DEV_FB_FREE', 'Framebuffer memory free (in MiB).', () => d.gpu.memoryMiB - used());
    gauge('DCGM_FI_DEV_FB_USED', 'Framebuffer memory used (in MiB).', used);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  onFirstToken(_seq: Sequence, ttftSeconds: number): void {
    this.ttft.observe(ttftSeconds);
  }

  onInterToken(seconds: number): void {
    this.itl.observe(seconds);
  }

  abstract onStep(s: StepStats): void;
  abstract onFinish(seq: Sequence, reason: FinishReason): void;
}

class VllmMetrics extends EngineRegistry {
  private readonly promptTokens: Inc;
  private readonly generationTokens: Inc;
  private readonly preemptions: Inc;
  private readonly prefixQueries: Inc;
  private readonly prefixHits: Inc;
  private readonly success: Record<FinishReason, Inc>;
  protected readonly ttft: Observe;
  protected readonly itl: Observe;
  private readonly e2e: Observe;
  private readonly queue: Observe;
  private readonly inference: Observe;
  private readonly prefill: Observe;
  private readonly decode: Observe;
  private readonly promptTokensRequest: Observe;
  private readonly generationTokensRequest: Observe;
  private readonly maxTokensParam: Observe;
  private readonly iterationTokens: Observe;
  private readonly spec: { drafts: Inc; draftTokens: Inc; accepted: Inc; perPosition: Inc[] } | undefined;

  constructor(c: MetricsConfig) {
    const labels = { model_name: c.modelName, engine: '0' };
    super(labels);
    const labelNames = Object.keys(labels);
    const registers = [this.registry];
    const { state } = c;

    this.gauge('vllm:num_requests_running', 'Number of requests in model execution batches.', () => state.running());
    this.gauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', () => state.waiting());
    this.gauge('vllm:kv_cache_usage_perc', 'KV-cache usage. 1 means 100 percent usage.', () => state.kvUsage());
    this.gauge(QUEUED_PROMPT_TOKENS, QUEUED_PROMPT_TOKENS_HELP, () => state.queuedPromptTokens?.() ?? 0);
    if (c.sleepMode) {
      // As vLLM's: one series per state, 1 on the current one (awake = 0 means sleeping).
      new Gauge({
        name: 'vllm:engine_sleep_state',
        help: 'Engine sleep state; awake = 0 means engine is sleeping; awake = 1 means engine is awake; weights_offloaded = 1 means sleep level 1; discard_all = 1 means sleep level 2.',
        labelNames: [...labelNames, 'sleep_state'],
        registers,
        collect() {
          const level = state.sleepLevel?.() ?? 0;
          SLEEP_STATE_LABELS.forEach((sleep_state, i) => this.set({ ...labels, sleep_state }, i === level ? 1 : 0));
        },
      });
    }
    const info = {
      block_size: String(c.blockSize),
      cache_dtype: 'auto',
      enable_prefix_caching: c.prefixCaching === false ? 'False' : 'True',
      num_gpu_blocks: String(c.numGpuBlocks),
      num_cpu_blocks: 'None',
      engine: '0',
    };
    new Gauge({
      name: 'vllm:cache_config_info',
      help: 'Information of the LLMEngine CacheConfig',
      labelNames: Object.keys(info),
      registers,
    }).set(info, 1);

    // vLLM sets a new label set each time; the value (a timestamp) tells the latest. One current series here.
    new Gauge({
      name: 'vllm:lora_requests_info',
      help: 'Running stats on lora requests.',
      labelNames: ['max_lora', 'waiting_lora_adapters', 'running_lora_adapters'],
      registers,
      collect() {
        const l = state.loras();
        this.reset();
        this.set({ max_lora: String(l.max), waiting_lora_adapters: l.waiting.join(','), running_lora_adapters: l.running.join(',') }, Date.now() / 1000);
      },
    });

    this.promptTokens = this.counter('vllm:prompt_tokens_total', 'Number of prefill tokens processed.');
    this.generationTokens = this.counter('vllm:generation_tokens_total', 'Number of generation tokens processed.');
    this.preemptions = this.counter('vllm:num_preemptions_total', 'Cumulative number of preemption from the engine.');
    this.prefixQueries = this.counter('vllm:prefix_cache_queries_total', 'Prefix cache queries, in terms of number of queried tokens.');
    this.prefixHits = this.counter('vllm:prefix_cache_hits_total', 'Prefix cache hits, in terms of number of cached tokens.');
    const success = new Counter({
      name: 'vllm:request_success_total',
      help: 'Count of successfully processed requests.',
      labelNames: [...labelNames, 'finished_reason'],
      registers,
    });
    this.success = {
      stop: zero(success.labels({ ...labels, finished_reason: 'stop' })),
      length: zero(success.labels({ ...labels, finished_reason: 'length' })),
      abort: zero(success.labels({ ...labels, finished_reason: 'abort' })),
    };

    const tokenBuckets = buckets125(c.maxModelLen);
    this.promptTokensRequest = this.histogram('vllm:request_prompt_tokens', 'Number of prefill tokens processed.', tokenBuckets);
    this.generationTokensRequest = this.histogram('vllm:request_generation_tokens', 'Number of generation tokens processed.', tokenBuckets);
    this.maxTokensParam = this.histogram('vllm:request_params_max_tokens', 'Histogram of the max_tokens request parameter.', tokenBuckets);
    this.iterationTokens = this.histogram('vllm:iteration_tokens_total', 'Histogram of number of tokens per engine_step.', VLLM_ITERATION_TOKEN_BUCKETS);
    this.ttft = this.histogram('vllm:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', VLLM_TTFT_BUCKETS);
    this.itl = this.histogram('vllm:inter_token_latency_seconds', 'Histogram of inter-token latency in seconds.', VLLM_ITL_BUCKETS);
    this.e2e = this.histogram('vllm:e2e_request_latency_seconds', 'Histogram of e2e request latency in seconds.', VLLM_REQUEST_LATENCY_BUCKETS);
    this.queue = this.histogram('vllm:request_queue_time_seconds', 'Histogram of time spent in WAITING phase for request.', VLLM_REQUEST_LATENCY_BUCKETS);
    this.inference = this.histogram('vllm:request_inference_time_seconds', 'Histogram of time spent in RUNNING phase for request.', VLLM_REQUEST_LATENCY_BUCKETS);
    this.prefill = this.histogram('vllm:request_prefill_time_seconds', 'Histogram of time spent in PREFILL phase for request.', VLLM_REQUEST_LATENCY_BUCKETS);
    this.decode = this.histogram('vllm:request_decode_time_seconds', 'Histogram of time spent in DECODE phase for request.', VLLM_REQUEST_LATENCY_BUCKETS);
    this.dcgm(c);
    if (c.speculative) {
      const perPosition = new Counter({
        name: 'vllm:spec_decode_num_accepted_tokens_per_pos_total',
        help: 'Accepted tokens per draft position.',
        labelNames: [...labelNames, 'position'],
        registers,
      });
      this.spec = {
        drafts: this.counter('vllm:spec_decode_num_drafts_total', 'Number of spec decoding drafts.'),
        draftTokens: this.counter('vllm:spec_decode_num_draft_tokens_total', 'Number of draft tokens.'),
        accepted: this.counter('vllm:spec_decode_num_accepted_tokens_total', 'Number of accepted tokens.'),
        perPosition: Array.from({ length: c.speculative.numSpeculativeTokens }, (_, position) => zero(perPosition.labels({ ...labels, position: String(position) }))),
      };
    }
  }

  onStep(s: StepStats): void {
    if (this.spec && s.specDrafts > 0) {
      this.spec.drafts.inc(s.specDrafts);
      this.spec.draftTokens.inc(s.specDraftTokens);
      if (s.specAcceptedTokens) this.spec.accepted.inc(s.specAcceptedTokens);
      s.specAcceptedPerPosition.forEach((n, position) => n > 0 && this.spec!.perPosition[position]?.inc(n));
    }
    if (s.promptTokens) this.promptTokens.inc(s.promptTokens);
    if (s.generationTokens) this.generationTokens.inc(s.generationTokens);
    if (s.preemptions) this.preemptions.inc(s.preemptions);
    if (s.prefixCacheQueries) this.prefixQueries.inc(s.prefixCacheQueries);
    if (s.prefixCacheHits) this.prefixHits.inc(s.prefixCacheHits);
    if (s.scheduledTokens) this.iterationTokens.observe(s.scheduledTokens);
  }

  onFinish(seq: Sequence, reason: FinishReason): void {
    this.success[reason].inc();
    this.e2e.observe(secondsBetween(seq.arrivalTime, seq.finishTime));
    if (seq.firstScheduledTime >= 0) {
      this.queue.observe(secondsBetween(seq.arrivalTime, seq.firstScheduledTime));
      this.inference.observe(secondsBetween(seq.firstScheduledTime, seq.finishTime));
      this.prefill.observe(secondsBetween(seq.firstScheduledTime, seq.firstTokenTime >= 0 ? seq.firstTokenTime : seq.finishTime));
      this.decode.observe(seq.firstTokenTime >= 0 ? secondsBetween(seq.firstTokenTime, seq.finishTime) : 0);
    }
    this.promptTokensRequest.observe(seq.spec.promptTokens);
    this.generationTokensRequest.observe(seq.numOutputTokens);
    if (seq.spec.maxTokensParam !== undefined) this.maxTokensParam.observe(seq.spec.maxTokensParam);
  }
}

class SglangMetrics extends EngineRegistry {
  private readonly promptTokens: Inc;
  private readonly generationTokens: Inc;
  private readonly requests: Inc;
  private readonly aborted: Inc;
  private readonly cachedTokens: Inc;
  private cacheHits = 0;
  private cacheQueries = 0;
  protected readonly ttft: Observe;
  protected readonly itl: Observe;
  private readonly e2e: Observe;
  private readonly queue: Observe;
  private generatedSinceScrape = 0;
  private lastScrape = performance.now();

  constructor(c: MetricsConfig) {
    super({ model_name: c.modelName });
    const { state } = c;
    const capacity = c.numGpuBlocks * c.blockSize;
    this.gauge('sglang:num_running_reqs', 'The number of running requests.', () => state.running());
    this.gauge('sglang:num_queue_reqs', 'The number of requests in the waiting queue.', () => state.waiting());
    this.gauge('sglang:token_usage', 'The token usage.', () => state.kvUsage());
    this.gauge('sglang:num_used_tokens', 'The number of used tokens.', () => state.usedTokens());
    this.gauge(QUEUED_PROMPT_TOKENS, QUEUED_PROMPT_TOKENS_HELP, () => state.queuedPromptTokens?.() ?? 0);
    this.gauge('sglang:max_total_num_tokens', 'Maximum total number of tokens in the KV cache pool.', () => capacity);
    this.gauge('sglang:cache_hit_rate', 'The prefix cache hit rate.', () => (this.cacheQueries > 0 ? this.cacheHits / this.cacheQueries : 0));
    this.gauge('sglang:gen_throughput', 'The generation throughput (token/s).', () => {
      const now = performance.now();
      const elapsed = (now - this.lastScrape) / 1000;
      const rate = elapsed > 0 ? this.generatedSinceScrape / elapsed : 0;
      this.lastScrape = now;
      this.generatedSinceScrape = 0;
      return rate;
    });

    this.promptTokens = this.counter('sglang:prompt_tokens_total', 'Number of prefill tokens processed.');
    this.generationTokens = this.counter('sglang:generation_tokens_total', 'Number of generation tokens processed.');
    this.requests = this.counter('sglang:num_requests_total', 'Number of requests processed.');
    this.aborted = this.counter('sglang:num_aborted_requests_total', 'Number of requests aborted.');
    this.cachedTokens = this.counter('sglang:cached_tokens_total', 'Number of cached prompt tokens.');

    this.ttft = this.histogram('sglang:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', SGLANG_TTFT_BUCKETS);
    this.itl = this.histogram('sglang:inter_token_latency_seconds', 'Histogram of inter-token latency in seconds.', SGLANG_ITL_BUCKETS);
    this.e2e = this.histogram('sglang:e2e_request_latency_seconds', 'Histogram of End-to-end request latency in seconds', SGLANG_E2E_BUCKETS);
    this.queue = this.histogram('sglang:queue_time_seconds', 'Histogram of queueing time in seconds.', SGLANG_E2E_BUCKETS);
    this.dcgm(c);
  }

  onStep(s: StepStats): void {
    if (s.promptTokens) this.promptTokens.inc(s.promptTokens);
    if (s.generationTokens) this.generationTokens.inc(s.generationTokens);
    this.generatedSinceScrape += s.generationTokens;
    if (s.prefixCacheHits) this.cachedTokens.inc(s.prefixCacheHits);
    this.cacheHits += s.prefixCacheHits;
    this.cacheQueries += s.prefixCacheQueries;
  }

  onFinish(seq: Sequence, reason: FinishReason): void {
    this.requests.inc();
    if (reason === 'abort') this.aborted.inc();
    this.e2e.observe(secondsBetween(seq.arrivalTime, seq.finishTime));
    if (seq.firstScheduledTime >= 0) this.queue.observe(secondsBetween(seq.arrivalTime, seq.firstScheduledTime));
  }
}
