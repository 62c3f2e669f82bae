// Command-line options of the simulated engine, named like vLLM's (`vllm serve MODEL --port …`), with SGLang's
// spellings accepted as aliases. Flags the simulator does not model (GPU memory, parallelism, dtype, …) are accepted
// and ignored with a warning, because the node agent passes whatever a vLLM or SGLang pod spec carries.

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { addFaultOptions, faultConfigFromFlags, type FaultConfig } from './faults.ts';
import type { LatencyParams } from './latency.ts';
import { coldStartSeconds, DEFAULT_PROFILE, getProfile, PROFILES, type EngineProfile } from './profiles.ts';
import { writeRecord } from '../kube/log.ts';
import { speculativeConfigOf, type SpeculativeConfig } from './speculative.ts';
import { parseKvEventsConfig, type KvEventsConfig } from '../api/kv-events-config.ts';
import { DEFAULT_KV_HASH_SEED, parseKvHashAlgo, type KvHashAlgo } from '../api/kv-block-hash.ts';

export type EngineKind = 'vllm' | 'sglang';

/** A LoRA adapter served from the start (--lora-modules). */
export interface LoraModule {
  name: string;
  path: string;
  /** The base model it applies to (vLLM's base_model_name); the served model when absent. */
  baseModelName?: string;
}

export interface EngineOptions {
  /** The model path or id (`vllm serve MODEL`). */
  model: string;
  /** Names the API accepts in the `model` field; the first is the public one (used in responses and metric labels). */
  servedModelNames: string[];
  host: string;
  port: number;
  /** Which engine to impersonate: metric names, default port, `owned_by`. */
  engine: EngineKind;
  maxModelLen: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  blockSize: number;
  numGpuBlocks: number;
  seed: number;
  /** Default max_tokens when a request gives none; undefined means 16 for completions and 32 for chat. */
  maxTokensDefault: number | undefined;
  latency: LatencyParams;
  /** The named profile the latency and KV-cache defaults came from (profiles.ts). */
  profile: string;
  /** Automatic prefix caching (vLLM V1 default on; --no-enable-prefix-caching). */
  enablePrefixCaching: boolean;
  /** Most sequences waiting for a slot; beyond it requests get 429 (--max-waiting-queue-length). */
  maxWaitingQueueLength: number;
  /** Most distinct LoRA adapters in the running batch (--max-loras). */
  maxLoras: number;
  loraModules: LoraModule[];
  /** Tokenizer: `approx` for the regex approximation, anything else (default) the Llama-3 BPE. */
  tokenizer: string;
  /** --kv-events-config: publish KV-cache events over ZeroMQ as vLLM does (kv-events.ts); off when absent. */
  kvEvents?: KvEventsConfig;
  /** --prefix-caching-hash-algo: how block hashes are computed (src/api/kv-block-hash.ts). */
  kvHashAlgo: KvHashAlgo;
  /** PYTHONHASHSEED of the environment (NONE_HASH's seed), DEFAULT_KV_HASH_SEED when unset. */
  kvHashSeed: string;
  /** --kv-transfer-config as given (JSON), for P/D deployments; requests' kv_transfer_params work without it. */
  kvTransferConfig?: Record<string, unknown>;
  /** Speculative decoding (--speculative-config, or SGLang's --speculative-*): speculative.ts. */
  speculative?: SpeculativeConfig;
  /**
   * Seconds from start until the engine listens (--startup-seconds): the simulated model load. The phases and the
   * sleep-mode wake-ups scale with it (startup.ts). The CLI's default is the profile's cold start; in-process
   * engines (`defaultEngineOptions`) start at once unless given.
   */
  startupSeconds: number;
  /** --enable-sleep-mode: POST /sleep and /wake_up work (they exist only with VLLM_SERVER_DEV_MODE=1, as in vLLM). */
  enableSleepMode: boolean;
  /** VLLM_SERVER_DEV_MODE=1 in the environment: the development endpoints (/sleep, /wake_up, /is_sleeping) exist. */
  serverDevMode: boolean;
  /** Fault injection for tests (faults.ts, --failure-rate, --fault-mode, …); none when absent. */
  faults?: FaultConfig;
  /** Arguments that were accepted but ignored. */
  ignoredArgs: string[];
}

export const DEFAULT_MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
export const DEFAULT_PORTS: Readonly<Record<EngineKind, number>> = { vllm: 8000, sglang: 30000 };
/** Completions default like vLLM's (OpenAI's) 16; chat gets a modest answer length. */
export const DEFAULT_MAX_TOKENS = { completion: 16, chat: 32 } as const;
/** KV-cache capacity of the default profile (llama-3.1-8b-h100: ≈ 400k tokens in blocks of 16; see profiles.ts). */
export const DEFAULT_NUM_GPU_BLOCKS = PROFILES[DEFAULT_PROFILE]!.numGpuBlocks;
/** llm-d-inference-sim's default queue bound; vLLM itself has none. */
export const DEFAULT_MAX_WAITING_QUEUE_LENGTH = 1000;

/**
 * The latency parameters of a profile with some overridden. A dependent term not given explicitly scales with the
 * base figure it shares a bottleneck with: prefill attention with the per-token prefill cost (compute), the per-KV-token
 * decode cost with the single-sequence ITL (memory bandwidth). So `--inter-token-latency-ms 1` makes the whole decode
 * 7× faster, and `--prefill-time-per-token-ms 0` removes prefill cost entirely.
 */
export function profileLatency(profile: EngineProfile, overrides: Partial<LatencyParams>): LatencyParams {
  const base = profile.latency;
  const l: LatencyParams = { ...base, jitter: 0, ...overrides };
  if (overrides.prefillAttentionTimeMs === undefined && overrides.prefillTimePerTokenMs !== undefined) {
    l.prefillAttentionTimeMs = base.prefillTimePerTokenMs > 0 ? (base.prefillAttentionTimeMs * overrides.prefillTimePerTokenMs) / base.prefillTimePerTokenMs : 0;
  }
  if (overrides.interTokenLatencyPerKvTokenMs === undefined && overrides.interTokenLatencyMs !== undefined) {
    l.interTokenLatencyPerKvTokenMs = base.interTokenLatencyMs > 0 ? (base.interTokenLatencyPerKvTokenMs * overrides.interTokenLatencyMs) / base.interTokenLatencyMs : 0;
  }
  return l;
}

/** Options with every default applied; overrides replace fields (latency is merged). */
export function defaultEngineOptions(overrides: Partial<Omit<EngineOptions, 'latency'>> & { latency?: Partial<LatencyParams> } = {}): EngineOptions {
  const engine = overrides.engine ?? 'vllm';
  const profile = getProfile(overrides.profile ?? DEFAULT_PROFILE);
  const model = overrides.model ?? profile.model;
  const options: EngineOptions = {
    model,
    servedModelNames: [model],
    host: '127.0.0.1',
    port: DEFAULT_PORTS[engine],
    engine,
    maxModelLen: profile.maxModelLen,
    maxNumSeqs: 256,
    maxNumBatchedTokens: 8192,
    blockSize: profile.blockSize,
    numGpuBlocks: profile.numGpuBlocks,
    seed: 0,
    maxTokensDefault: undefined,
    profile: profile.name,
    enablePrefixCaching: true,
    maxWaitingQueueLength: DEFAULT_MAX_WAITING_QUEUE_LENGTH,
    maxLoras: 1,
    loraModules: [],
    tokenizer: 'llama3',
    kvHashAlgo: 'sha256_cbor',
    kvHashSeed: DEFAULT_KV_HASH_SEED,
    startupSeconds: 0,
    enableSleepMode: false,
    serverDevMode: false,
    ignoredArgs: [],
    ...overrides,
    latency: profileLatency(profile, overrides.latency ?? {}),
  };
  if (overrides.servedModelNames === undefined) options.servedModelNames = [options.model];
  if (overrides.maxModelLen === undefined) options.maxModelLen = Math.min(profile.maxModelLen, options.numGpuBlocks * options.blockSize);
  validateEngineOptions(options);
  return options;
}

export function validateEngineOptions(o: EngineOptions): void {
  if (!o.model) throw new Error('a model is required');
  if (o.servedModelNames.length === 0) throw new Error('--served-model-name needs at least one name');
  if (o.maxNumBatchedTokens < o.maxNumSeqs) {
    throw new Error(`--max-num-batched-tokens (${o.maxNumBatchedTokens}) must be >= --max-num-seqs (${o.maxNumSeqs})`);
  }
  if (o.numGpuBlocks * o.blockSize < o.maxModelLen) {
    throw new Error(
      `The model's max seq len (${o.maxModelLen}) is larger than the maximum number of tokens that can be stored in ` +
        `KV cache (${o.numGpuBlocks * o.blockSize}). Try increasing --num-gpu-blocks or decreasing --max-model-len.`,
    );
  }
  const l = o.latency;
  for (const [k, v] of Object.entries(l)) {
    if (!(Number.isFinite(v) && v >= 0)) throw new Error(`latency parameter ${k} must be a non-negative number`);
  }
  if (l.jitter > 0.5) throw new Error('--latency-jitter must be between 0 and 0.5');
  if (!(Number.isFinite(o.startupSeconds) && o.startupSeconds >= 0)) throw new Error('--startup-seconds must be a number >= 0');
  if (!(o.maxLoras >= 1)) throw new Error('--max-loras must be at least 1');
  const names = new Set(o.servedModelNames);
  for (const m of o.loraModules) {
    if (!m.name || names.has(m.name)) throw new Error(`--lora-modules: invalid or duplicate adapter name ${JSON.stringify(m.name)}`);
    names.add(m.name);
  }
}

/** One --lora-modules value: `name=path` or a JSON object {"name", "path", "base_model_name"}. */
export function parseLoraModule(v: string): LoraModule {
  const t = v.trim();
  if (t.startsWith('{')) {
    let j: { name?: unknown; path?: unknown; base_model_name?: unknown };
    try {
      j = JSON.parse(t) as typeof j;
    } catch {
      throw new InvalidArgumentError(`--lora-modules: invalid JSON ${t}`);
    }
    if (typeof j.name !== 'string' || !j.name || typeof j.path !== 'string') {
      throw new InvalidArgumentError('--lora-modules: a JSON module needs string "name" and "path"');
    }
    return { name: j.name, path: j.path, ...(typeof j.base_model_name === 'string' ? { baseModelName: j.base_model_name } : {}) };
  }
  const eq = t.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`--lora-modules: expected name=path or JSON, got ${JSON.stringify(v)}`);
  return { name: t.slice(0, eq), path: t.slice(eq + 1) };
}

/** SGLang (and other) spellings of our flags. */
const ALIASES: Readonly<Record<string, string>> = {
  '--model-path': '--model',
  '--context-length': '--max-model-len',
  '--max-running-requests': '--max-num-seqs',
  '--chunked-prefill-size': '--max-num-batched-tokens',
  '--page-size': '--block-size',
  '--random-seed': '--seed',
  '--max-loras-per-batch': '--max-loras',
  '--lora-paths': '--lora-modules',
  '--disable-radix-cache': '--no-enable-prefix-caching',
  '--max-queued-requests': '--max-waiting-queue-length',
  '--tokenizer-path': '--tokenizer',
};

/** Ignored flags known to take no value, so the next argument is not swallowed as theirs. */
const IGNORED_BOOLEAN_FLAGS = new Set([
  '--enforce-eager',
  '--trust-remote-code',
  '--enable-chunked-prefill',
  '--no-enable-chunked-prefill',
  '--disable-log-requests',
  '--disable-log-stats',
  '--enable-log-requests',
  '--enable-prompt-tokens-details',
  '--enable-auto-tool-choice',
  '--disable-custom-all-reduce',
  '--skip-tokenizer-init',
  '--disable-frontend-multiprocessing',
  '--enable-request-id-headers',
  '--enable-metrics',
  '--enable-mixed-chunk',
  '--disable-cuda-graph',
  '--enable-torch-compile',
  '--log-requests',
  '--async-scheduling',
]);

function int(name: string, min: number): (v: string) => number {
  return (v) => {
    if (!/^\d+$/.test(v.trim()) || Number(v) < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return Number(v);
  };
}

function nonNegative(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} must be a number >= 0`);
    return n;
  };
}

/** A flag whose value is a JSON object. */
function jsonObject(flag: string): (v: string) => Record<string, unknown> {
  return (v: string) => {
    try {
      const j = JSON.parse(v) as unknown;
      if (j && typeof j === 'object' && !Array.isArray(j)) return j as Record<string, unknown>;
    } catch {
      /* fall through */
    }
    throw new InvalidArgumentError(`${flag} must be a JSON object`);
  };
}

function buildProgram(): Command {
  const d = PROFILES[DEFAULT_PROFILE]!;
  const l = d.latency;
  const byProfile = (v: number | string): string => `(profile; ${d.name}: ${v})`;
  const p = new Command('matrixinfer engine')
    .description(
      'Simulated vLLM/SGLang-compatible LLM engine: OpenAI API, Prometheus metrics, continuous batching with a paged ' +
        'KV cache and prefix caching, LoRA adapters, prefill/decode disaggregation and a latency model from a named ' +
        'profile (default: Llama-3.1-8B on one H100). Unknown vLLM/SGLang flags are accepted and ignored.',
    )
    .argument('[model]', 'model to serve, as in `vllm serve MODEL` (a leading `serve` is skipped)')
    .option('--model <name>', `model to serve (default ${DEFAULT_MODEL}); alias --model-path`)
    .option('--served-model-name <names...>', 'names accepted in the API `model` field; the first is the public one (default: the model)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on; 0 picks a free one (default 8000, or 30000 with --engine sglang)', int('--port', 0))
    .addOption(new Option('--engine <kind>', 'engine to impersonate: metric names, default port').choices(['vllm', 'sglang']))
    .addOption(new Option('--profile <name>', `model/GPU profile setting the latency and KV-cache defaults (default ${DEFAULT_PROFILE})`).choices(Object.keys(PROFILES)))
    .option('--max-model-len <tokens>', `context length: prompt + completion tokens; alias --context-length ${byProfile(d.maxModelLen)}`, int('--max-model-len', 2))
    .option('--max-num-seqs <n>', 'most sequences running at once; the rest wait FIFO; alias --max-running-requests', int('--max-num-seqs', 1), 256)
    .option('--max-num-batched-tokens <n>', 'token budget of one engine step (chunked prefill); alias --chunked-prefill-size', int('--max-num-batched-tokens', 1), 8192)
    .option('--max-waiting-queue-length <n>', `most requests waiting for a slot; more get 429; alias --max-queued-requests`, int('--max-waiting-queue-length', 0), DEFAULT_MAX_WAITING_QUEUE_LENGTH)
    .option('--block-size <tokens>', `KV-cache block size in tokens; alias --page-size ${byProfile(d.blockSize)}`, int('--block-size', 1))
    .option('--num-gpu-blocks <n>', `KV-cache capacity in blocks (vllm:kv_cache_usage_perc = pinned / this) ${byProfile(d.numGpuBlocks)}`, int('--num-gpu-blocks', 1))
    .option('--enable-prefix-caching', 'automatic prefix caching with chained block hashes (the default)')
    .option('--no-enable-prefix-caching', 'turn prefix caching off; alias --disable-radix-cache')
    .option('--enable-prompt-tokens-details', 'accepted; usage.prompt_tokens_details.cached_tokens is always reported')
    .option('--lora-modules <modules...>', 'LoRA adapters served from the start: name=path or JSON {"name","path","base_model_name"}; alias --lora-paths', (v: string, prev: LoraModule[] | undefined) => [...(prev ?? []), parseLoraModule(v)])
    .option('--max-loras <n>', 'most distinct LoRA adapters in one batch; requests for others wait; alias --max-loras-per-batch', int('--max-loras', 1), 1)
    .option('--enable-lora', 'accepted; LoRA is always enabled (POST /v1/load_lora_adapter, /v1/unload_lora_adapter)')
    .option('--tokenizer <name>', 'tokenizer: `approx` (regex, ≈4 chars/token, little memory) or anything else for the Llama-3 BPE (default)')
    .option('--kv-events-config <json>', 'publish KV-cache events over ZeroMQ as vLLM: {"enable_kv_cache_events":true,"publisher":"zmq","endpoint":"tcp://*:5557","replay_endpoint":"tcp://*:5558","topic":"kv-events"} (`*` binds the --host address)', (v: string) => {
      try {
        return parseKvEventsConfig(v);
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message);
      }
    })
    .option('--prefix-caching-hash-algo <algo>', 'block hash: sha256_cbor (default; vLLM ≥ 0.10.2 with this flag) or sha256_cbor_64bit; NONE_HASH seeded by PYTHONHASHSEED (default "0")')
    .option('--kv-transfer-config <json>', 'P/D disaggregation connector config, e.g. {"kv_connector":"NixlConnector","kv_role":"kv_both"}; accepted for compatibility: requests\' kv_transfer_params decide each side', jsonObject('--kv-transfer-config'))
    .option('--speculative-config <json>', 'speculative decoding, as vLLM: {"method":"draft_model|eagle|eagle3|mtp|ngram|…","model":…,"num_speculative_tokens":k}', jsonObject('--speculative-config'))
    .option('--speculative-algorithm <name>', 'SGLang speculative decoding: STANDALONE, EAGLE, EAGLE3, NEXTN, NGRAM')
    .option('--speculative-num-steps <n>', 'SGLang: draft steps (k when --speculative-num-draft-tokens is not given)', int('--speculative-num-steps', 1))
    .option('--speculative-num-draft-tokens <n>', 'SGLang: tokens verified per step (k + 1)', int('--speculative-num-draft-tokens', 2))
    .option('--speculative-draft-model-path <path>', 'SGLang: the draft model')
    .option('--speculative-eagle-topk <n>', 'SGLang: accepted; the simulator drafts one chain')
    .option('--speculative-acceptance-rate <p>', 'simulator: probability a proposed token is accepted, 0 to <1 (default by method: draft_model 0.7, eagle3 0.8, ngram 0.3, …)', nonNegative('--speculative-acceptance-rate'))
    .option('--speculative-draft-cost <fraction>', "simulator: one draft step's time as a fraction of --inter-token-latency-ms (default: the draft's stated size over the target's, else by method)", nonNegative('--speculative-draft-cost'))
    .option('--seed <n>', 'seed of the generated text and latency jitter', int('--seed', 0), 0)
    .option('--max-tokens-default <n>', 'max_tokens when a request gives none (default 16 for completions, 32 for chat)', int('--max-tokens-default', 1))
    .option('--time-to-first-token-ms <ms>', `fixed cost of a step that prefills: TTFT of a tiny prompt on an idle engine ${byProfile(l.timeToFirstTokenMs)}`, nonNegative('--time-to-first-token-ms'))
    .option('--prefill-time-per-token-ms <ms>', `prefill cost per uncached prompt token ${byProfile(l.prefillTimePerTokenMs)}`, nonNegative('--prefill-time-per-token-ms'))
    .option('--prefill-attention-time-ms <ms>', `prefill cost per (token × context token) pair; scales with --prefill-time-per-token-ms unless given ${byProfile(l.prefillAttentionTimeMs)}`, nonNegative('--prefill-attention-time-ms'))
    .option('--inter-token-latency-ms <ms>', `decode step time with one running sequence ${byProfile(l.interTokenLatencyMs)}`, nonNegative('--inter-token-latency-ms'))
    .option('--inter-token-latency-per-seq-ms <ms>', `extra decode step time per additional running sequence ${byProfile(l.interTokenLatencyPerSeqMs)}`, nonNegative('--inter-token-latency-per-seq-ms'))
    .option('--inter-token-latency-per-kv-token-ms <ms>', `extra decode step time per context token of the decoding sequences; scales with --inter-token-latency-ms unless given ${byProfile(l.interTokenLatencyPerKvTokenMs)}`, nonNegative('--inter-token-latency-per-kv-token-ms'))
    .option('--kv-transfer-latency-ms <ms>', `P/D decode side: fixed time to pull a prompt's KV cache ${byProfile(l.kvTransferLatencyMs)}`, nonNegative('--kv-transfer-latency-ms'))
    .option('--kv-transfer-time-per-token-ms <ms>', `P/D decode side: transfer time per uncached prompt token ${byProfile(l.kvTransferTimePerTokenMs)}`, nonNegative('--kv-transfer-time-per-token-ms'))
    .option('--startup-seconds <s>', `simulated model load before the server listens (connections refused until then); the phases and sleep-mode wake-ups scale with it; 0 starts at once (default: the profile's estimated cold start; ${d.name}: ${coldStartSeconds(d.startup)})`, nonNegative('--startup-seconds'))
    .option('--enable-sleep-mode', 'POST /sleep?level=1|2 and /wake_up (with VLLM_SERVER_DEV_MODE=1, as in vLLM), GET /is_sleeping')
    .option('--latency-jitter <fraction>', 'relative random noise on step times, 0 to 0.5, seeded by --seed', nonNegative('--latency-jitter'), 0)
    .helpOption('-h, --help', 'show this help')
    .allowExcessArguments(true)
    .exitOverride();
  addFaultOptions(p);
  p.addHelpText(
    'after',
    '\nStep time = max(TTFT fixed cost if prefilling, ITL if decoding) + ITL-per-seq × (decoding seqs − 1)\n' +
      '            + ITL-per-kv-token × context of decoding seqs + prefill-per-token × uncached prompt tokens\n' +
      '            + prefill-attention × token pairs. Profiles: ' + Object.keys(PROFILES).join(', ') + ' (src/engine/README.md).\n' +
      'SGLang spellings accepted: --model-path, --context-length, --max-running-requests, --chunked-prefill-size,\n' +
      '--page-size, --random-seed, --max-loras-per-batch, --lora-paths, --disable-radix-cache, --max-queued-requests,\n' +
      '--tokenizer-path (--model-path alone also selects --engine sglang). Underscores in flag names work.\n',
  );
  return p;
}

/** The --help text. */
export function engineHelpText(): string {
  return buildProgram().helpInformation();
}

export interface ParseEngineArgsOptions {
  /** Where warnings go (default: stderr). */
  warn?: (message: string) => void;
  /** Environment (VLLM_SERVER_DEV_MODE); default process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * --startup-seconds when not given: `profile` (the profile's cold start; what `matrixinfer engine` uses) or a number.
   * Default 0, so that engines started in-process by tests and benchmarks listen at once.
   */
  defaultStartupSeconds?: number | 'profile';
}

/**
 * Parse vLLM-style argv (without node and script) into options. Prints help and exits on --help; throws an Error
 * with a usage message on invalid values.
 */
export function parseEngineArgs(argv: string[], opts: ParseEngineArgsOptions = {}): EngineOptions {
  const warn = opts.warn ?? ((m: string) => writeRecord('warn', 'engine', m));
  const program = buildProgram();
  const known = new Set<string>(['--help', '-h']);
  for (const o of program.options) {
    if (o.long) known.add(o.long);
    if (o.short) known.add(o.short);
  }

  // Split argv into what commander parses and what we ignore.
  const kept: string[] = [];
  const ignored: string[] = [];
  let sawModelPath = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      kept.push(...argv.slice(i));
      break;
    }
    const isOption = arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg);
    if (!isOption) {
      kept.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    let name = eq >= 0 ? arg.slice(0, eq) : arg;
    const value = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (name.startsWith('--')) name = '--' + name.slice(2).replaceAll('_', '-');
    if (name === '--model-path') sawModelPath = true;
    name = ALIASES[name] ?? name;
    if (known.has(name)) {
      kept.push(value === undefined ? name : `${name}=${value}`);
      continue;
    }
    ignored.push(arg);
    const next = argv[i + 1];
    const nextIsValue = next !== undefined && !(next.startsWith('-') && next.length > 1 && !/^-\d/.test(next));
    if (value === undefined && nextIsValue && !IGNORED_BOOLEAN_FLAGS.has(name)) ignored.push(argv[++i]!);
  }

  let out = '';
  program.configureOutput({
    writeOut: (s) => (out += s),
    writeErr: (s) => (out += s),
  });
  try {
    program.parse(kept, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') {
        process.stdout.write(out);
        process.exit(0);
      }
      throw new Error(err.message.replace(/^error: /, ''));
    }
    throw err;
  }

  const o = program.opts<{
    model?: string;
    servedModelName?: string[];
    host: string;
    port?: number;
    engine?: EngineKind;
    profile?: string;
    maxModelLen?: number;
    maxNumSeqs: number;
    maxNumBatchedTokens: number;
    maxWaitingQueueLength: number;
    blockSize?: number;
    numGpuBlocks?: number;
    enablePrefixCaching?: boolean;
    loraModules?: LoraModule[];
    maxLoras: number;
    tokenizer?: string;
    kvTransferConfig?: Record<string, unknown>;
    kvEventsConfig?: KvEventsConfig;
    prefixCachingHashAlgo?: string;
    speculativeConfig?: Record<string, unknown>;
    speculativeAlgorithm?: string;
    speculativeNumSteps?: number;
    speculativeNumDraftTokens?: number;
    speculativeDraftModelPath?: string;
    speculativeAcceptanceRate?: number;
    speculativeDraftCost?: number;
    seed: number;
    maxTokensDefault?: number;
    timeToFirstTokenMs?: number;
    prefillTimePerTokenMs?: number;
    prefillAttentionTimeMs?: number;
    interTokenLatencyMs?: number;
    interTokenLatencyPerSeqMs?: number;
    interTokenLatencyPerKvTokenMs?: number;
    kvTransferLatencyMs?: number;
    kvTransferTimePerTokenMs?: number;
    latencyJitter: number;
    startupSeconds?: number;
    enableSleepMode?: boolean;
  }>();
  const profile = getProfile(o.profile ?? DEFAULT_PROFILE);
  const latencyOverrides: Partial<LatencyParams> = { jitter: o.latencyJitter };
  for (const k of [
    'timeToFirstTokenMs',
    'prefillTimePerTokenMs',
    'prefillAttentionTimeMs',
    'interTokenLatencyMs',
    'interTokenLatencyPerSeqMs',
    'interTokenLatencyPerKvTokenMs',
    'kvTransferLatencyMs',
    'kvTransferTimePerTokenMs',
  ] as const) {
    const v = o[k];
    if (v !== undefined) latencyOverrides[k] = v;
  }

  const positionals = [...program.args];
  if (positionals[0] === 'serve' && (positionals.length > 1 || o.model !== undefined)) positionals.shift();
  const model = positionals.shift() ?? o.model ?? profile.model;
  if (positionals.length > 0) ignored.push(...positionals);
  if (ignored.length > 0) warn(`engine: ignoring arguments the simulator does not model: ${ignored.join(' ')}`);

  const engine: EngineKind = o.engine ?? (sawModelPath ? 'sglang' : 'vllm');
  let kvHashAlgo = parseKvHashAlgo(o.prefixCachingHashAlgo);
  if (kvHashAlgo === undefined) {
    warn(`engine: --prefix-caching-hash-algo ${o.prefixCachingHashAlgo} is not modelled; using sha256_cbor`);
    kvHashAlgo = 'sha256_cbor';
  }
  const speculative: SpeculativeConfig | undefined = speculativeConfigOf(
      {
        ...(o.speculativeConfig ? { config: o.speculativeConfig } : {}),
        ...(o.speculativeAlgorithm ? { algorithm: o.speculativeAlgorithm } : {}),
        ...(o.speculativeNumSteps !== undefined ? { numSteps: o.speculativeNumSteps } : {}),
        ...(o.speculativeNumDraftTokens !== undefined ? { numDraftTokens: o.speculativeNumDraftTokens } : {}),
        ...(o.speculativeDraftModelPath ? { draftModelPath: o.speculativeDraftModelPath } : {}),
        ...(o.speculativeAcceptanceRate !== undefined ? { acceptanceRate: o.speculativeAcceptanceRate } : {}),
        ...(o.speculativeDraftCost !== undefined ? { draftCost: o.speculativeDraftCost } : {}),
      },
      model,
    );
  const options: EngineOptions = {
    model,
    servedModelNames: o.servedModelName && o.servedModelName.length > 0 ? o.servedModelName : [model],
    host: o.host,
    port: o.port ?? DEFAULT_PORTS[engine],
    engine,
    // Not given: the profile's context, capped to what the KV cache holds (vLLM would refuse to start instead).
    maxModelLen: o.maxModelLen ?? Math.min(profile.maxModelLen, (o.numGpuBlocks ?? profile.numGpuBlocks) * (o.blockSize ?? profile.blockSize)),
    maxNumSeqs: o.maxNumSeqs,
    maxNumBatchedTokens: o.maxNumBatchedTokens,
    blockSize: o.blockSize ?? profile.blockSize,
    numGpuBlocks: o.numGpuBlocks ?? profile.numGpuBlocks,
    seed: o.seed,
    maxTokensDefault: o.maxTokensDefault,
    latency: profileLatency(profile, latencyOverrides),
    profile: profile.name,
    enablePrefixCaching: o.enablePrefixCaching !== false,
    maxWaitingQueueLength: o.maxWaitingQueueLength,
    maxLoras: o.maxLoras,
    loraModules: o.loraModules ?? [],
    tokenizer: o.tokenizer ?? 'llama3',
    kvHashAlgo,
    kvHashSeed: (opts.env ?? process.env).PYTHONHASHSEED ?? DEFAULT_KV_HASH_SEED,
    ...(o.kvEventsConfig?.enableKvCacheEvents && o.kvEventsConfig.publisher === 'zmq' ? { kvEvents: o.kvEventsConfig } : {}),
    startupSeconds: o.startupSeconds ?? (opts.defaultStartupSeconds === 'profile' ? coldStartSeconds(profile.startup) : (opts.defaultStartupSeconds ?? 0)),
    enableSleepMode: o.enableSleepMode === true,
    serverDevMode: (opts.env ?? process.env).VLLM_SERVER_DEV_MODE === '1',
    ...(o.kvTransferConfig ? { kvTransferConfig: o.kvTransferConfig } : {}),
    ...(speculative ? { speculative } : {}),
    ignoredArgs: ignored,
    faults: faultConfigFromFlags(program.opts()),
  };
  validateEngineOptions(options);
  return options;
}
