// Command-line options of the simulated engine, named like vLLM's (`vllm serve MODEL --port …`), with SGLang's
// spellings accepted as aliases. Flags the simulator does not model (GPU memory, parallelism, dtype, …) are accepted
// and ignored with a warning, because the node agent passes whatever a vLLM or SGLang pod spec carries.

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_LATENCY, type LatencyParams } from './latency.ts';

export type EngineKind = 'vllm' | 'sglang';

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
  /** Arguments that were accepted but ignored. */
  ignoredArgs: string[];
}

export const DEFAULT_MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
export const DEFAULT_PORTS: Readonly<Record<EngineKind, number>> = { vllm: 8000, sglang: 30000 };
/** Completions default like vLLM's (OpenAI's) 16; chat gets a modest answer length. */
export const DEFAULT_MAX_TOKENS = { completion: 16, chat: 32 } as const;
/**
 * Llama-3.1-8B bf16 on one H100-80GB at --gpu-memory-utilization 0.9: 72 GB − 16 GB weights − ~3 GB activations and
 * CUDA graphs ≈ 53 GB of KV cache at 128 KiB per token (32 layers × 8 KV heads × 128 dims × 2 (K, V) × 2 bytes)
 * ≈ 400k tokens = 25,000 blocks of 16.
 */
export const DEFAULT_NUM_GPU_BLOCKS = 25_000;

/** Options with every default applied; overrides replace fields (latency is merged). */
export function defaultEngineOptions(overrides: Partial<Omit<EngineOptions, 'latency'>> & { latency?: Partial<LatencyParams> } = {}): EngineOptions {
  const engine = overrides.engine ?? 'vllm';
  const model = overrides.model ?? DEFAULT_MODEL;
  const options: EngineOptions = {
    model,
    servedModelNames: [model],
    host: '127.0.0.1',
    port: DEFAULT_PORTS[engine],
    engine,
    maxModelLen: 4096,
    maxNumSeqs: 256,
    maxNumBatchedTokens: 8192,
    blockSize: 16,
    numGpuBlocks: DEFAULT_NUM_GPU_BLOCKS,
    seed: 0,
    maxTokensDefault: undefined,
    ignoredArgs: [],
    ...overrides,
    latency: { ...DEFAULT_LATENCY, ...overrides.latency },
  };
  if (overrides.servedModelNames === undefined) options.servedModelNames = [options.model];
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
}

/** SGLang (and other) spellings of our flags. */
const ALIASES: Readonly<Record<string, string>> = {
  '--model-path': '--model',
  '--context-length': '--max-model-len',
  '--max-running-requests': '--max-num-seqs',
  '--chunked-prefill-size': '--max-num-batched-tokens',
  '--page-size': '--block-size',
  '--random-seed': '--seed',
};

/** Ignored flags known to take no value, so the next argument is not swallowed as theirs. */
const IGNORED_BOOLEAN_FLAGS = new Set([
  '--enforce-eager',
  '--trust-remote-code',
  '--enable-prefix-caching',
  '--no-enable-prefix-caching',
  '--enable-chunked-prefill',
  '--no-enable-chunked-prefill',
  '--disable-log-requests',
  '--disable-log-stats',
  '--enable-log-requests',
  '--enable-lora',
  '--enable-auto-tool-choice',
  '--disable-custom-all-reduce',
  '--enable-sleep-mode',
  '--skip-tokenizer-init',
  '--disable-frontend-multiprocessing',
  '--enable-request-id-headers',
  '--enable-metrics',
  '--disable-radix-cache',
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

function buildProgram(): Command {
  const d = DEFAULT_LATENCY;
  const p = new Command('matrixinfer engine')
    .description(
      'Simulated vLLM/SGLang-compatible LLM engine: OpenAI API, Prometheus metrics, continuous batching and a ' +
        'latency model (defaults: Llama-3.1-8B on one H100). Unknown vLLM/SGLang flags are accepted and ignored.',
    )
    .argument('[model]', 'model to serve, as in `vllm serve MODEL` (a leading `serve` is skipped)')
    .option('--model <name>', `model to serve (default ${DEFAULT_MODEL}); alias --model-path`)
    .option('--served-model-name <names...>', 'names accepted in the API `model` field; the first is the public one (default: the model)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on; 0 picks a free one (default 8000, or 30000 with --engine sglang)', int('--port', 0))
    .addOption(new Option('--engine <kind>', 'engine to impersonate: metric names, default port').choices(['vllm', 'sglang']))
    .option('--max-model-len <tokens>', 'context length: prompt + completion tokens; alias --context-length', int('--max-model-len', 2), 4096)
    .option('--max-num-seqs <n>', 'most sequences running at once; the rest wait FIFO; alias --max-running-requests', int('--max-num-seqs', 1), 256)
    .option('--max-num-batched-tokens <n>', 'token budget of one engine step (chunked prefill); alias --chunked-prefill-size', int('--max-num-batched-tokens', 1), 8192)
    .option('--block-size <tokens>', 'KV-cache block size in tokens; alias --page-size', int('--block-size', 1), 16)
    .option('--num-gpu-blocks <n>', 'KV-cache capacity in blocks (vllm:kv_cache_usage_perc = used / this)', int('--num-gpu-blocks', 1), DEFAULT_NUM_GPU_BLOCKS)
    .option('--seed <n>', 'seed of the generated text and latency jitter', int('--seed', 0), 0)
    .option('--max-tokens-default <n>', 'max_tokens when a request gives none (default 16 for completions, 32 for chat)', int('--max-tokens-default', 1))
    .option('--time-to-first-token-ms <ms>', 'fixed cost of a step that prefills: TTFT of a tiny prompt on an idle engine', nonNegative('--time-to-first-token-ms'), d.timeToFirstTokenMs)
    .option('--prefill-time-per-token-ms <ms>', 'prefill cost per (uncached) prompt token', nonNegative('--prefill-time-per-token-ms'), d.prefillTimePerTokenMs)
    .option('--inter-token-latency-ms <ms>', 'decode step time with one running sequence', nonNegative('--inter-token-latency-ms'), d.interTokenLatencyMs)
    .option('--inter-token-latency-per-seq-ms <ms>', 'extra decode step time per additional running sequence', nonNegative('--inter-token-latency-per-seq-ms'), d.interTokenLatencyPerSeqMs)
    .option('--latency-jitter <fraction>', 'relative random noise on step times, 0 to 0.5', nonNegative('--latency-jitter'), d.jitter)
    .helpOption('-h, --help', 'show this help')
    .allowExcessArguments(true)
    .exitOverride();
  p.addHelpText(
    'after',
    '\nStep time = max(TTFT fixed cost if prefilling, ITL if decoding) + ITL-per-seq × (decoding seqs − 1)\n' +
      '            + prefill-per-token × prompt tokens in the step.\n' +
      'SGLang spellings accepted: --model-path, --context-length, --max-running-requests, --chunked-prefill-size,\n' +
      '--page-size, --random-seed (--model-path alone also selects --engine sglang). Underscores in flag names work.\n',
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
}

/**
 * Parse vLLM-style argv (without node and script) into options. Prints help and exits on --help; throws an Error
 * with a usage message on invalid values.
 */
export function parseEngineArgs(argv: string[], opts: ParseEngineArgsOptions = {}): EngineOptions {
  const warn = opts.warn ?? ((m: string) => process.stderr.write(m + '\n'));
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
    maxModelLen: number;
    maxNumSeqs: number;
    maxNumBatchedTokens: number;
    blockSize: number;
    numGpuBlocks: number;
    seed: number;
    maxTokensDefault?: number;
    timeToFirstTokenMs: number;
    prefillTimePerTokenMs: number;
    interTokenLatencyMs: number;
    interTokenLatencyPerSeqMs: number;
    latencyJitter: number;
  }>();

  const positionals = [...program.args];
  if (positionals[0] === 'serve' && (positionals.length > 1 || o.model !== undefined)) positionals.shift();
  const model = positionals.shift() ?? o.model ?? DEFAULT_MODEL;
  if (positionals.length > 0) ignored.push(...positionals);
  if (ignored.length > 0) warn(`engine: ignoring arguments the simulator does not model: ${ignored.join(' ')}`);

  const engine: EngineKind = o.engine ?? (sawModelPath ? 'sglang' : 'vllm');
  const options: EngineOptions = {
    model,
    servedModelNames: o.servedModelName && o.servedModelName.length > 0 ? o.servedModelName : [model],
    host: o.host,
    port: o.port ?? DEFAULT_PORTS[engine],
    engine,
    maxModelLen: o.maxModelLen,
    maxNumSeqs: o.maxNumSeqs,
    maxNumBatchedTokens: o.maxNumBatchedTokens,
    blockSize: o.blockSize,
    numGpuBlocks: o.numGpuBlocks,
    seed: o.seed,
    maxTokensDefault: o.maxTokensDefault,
    latency: {
      timeToFirstTokenMs: o.timeToFirstTokenMs,
      prefillTimePerTokenMs: o.prefillTimePerTokenMs,
      interTokenLatencyMs: o.interTokenLatencyMs,
      interTokenLatencyPerSeqMs: o.interTokenLatencyPerSeqMs,
      jitter: o.latencyJitter,
    },
    ignoredArgs: ignored,
  };
  validateEngineOptions(options);
  return options;
}
