// Which engine pods publish KV events, and how to reproduce their block hashes — read from the engine container's
// own command line, so nothing is configured twice and real vLLM pods work as they are:
//   --kv-events-config '{"enable_kv_cache_events":true,"publisher":"zmq","endpoint":"tcp://*:5557",…}'
//       events on; the PUB port (and replay port) come from its endpoints; the host is the pod IP
//   --prefix-caching-hash-algo sha256_cbor | sha256_cbor_64bit   (absent: sha256_cbor, our engine's default; vLLM's
//       own default, pickle-based `sha256`, cannot be reproduced outside Python: such pods get no exact index)
//   env PYTHONHASHSEED (a literal value; absent: "0", our engine's default — vLLM's is then random, so real vLLM
//       pods must set it)
//   --tokenizer approx (our engine's regex tokenizer), otherwise the Llama-3 BPE; the model name (the positional
//       argument or --model) picks the chat template.
// The block size comes from the events themselves (BlockStored.block_size). Why not a ModelServer field: that would
// be an API change and a second place to keep in step with the engine's flags; why not an annotation: the same.
import { parseKvHashAlgo, type KvHashAlgo, KvBlockHasher } from '../../api/kv-block-hash.ts';
import { parseKvEventsConfig } from '../../api/kv-events-config.ts';

export interface KvEventsTarget {
  /** tcp://podIP:port of the PUB socket. */
  readonly endpoint: string;
  /** tcp://podIP:port of the replay ROUTER socket, or null. */
  readonly replayEndpoint: string | null;
  readonly topic: string;
  readonly algo: KvHashAlgo;
  readonly seed: string;
  readonly tokenizer: 'llama3' | 'approx';
  /** The engine's model name (chooses the chat template). */
  readonly model: string;
  /** Everything above in one string: a changed target means a new subscription. */
  readonly key: string;
  /** What the block keys depend on (algo, seed, tokenizer, model): pods alike share one hashing per request. */
  readonly hashKey: string;
  /** The block hasher for this configuration (created on first use). */
  hasher: KvBlockHasher | null;
}

export interface ContainerLike {
  name?: string;
  command?: string[] | null;
  args?: string[] | null;
  env?: Array<{ name?: string; value?: string | null; valueFrom?: unknown } | null> | null;
}

function flagValue(argv: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === flag) return argv[i + 1];
    if (a.startsWith(flag + '=')) return a.slice(flag.length + 1);
  }
  return undefined;
}

/** `tcp://*:5557` → `tcp://podIP:5557`. */
function onPod(endpoint: string, ip: string): string {
  const port = endpoint.slice(endpoint.lastIndexOf(':') + 1);
  return `tcp://${ip.includes(':') ? `[${ip}]` : ip}:${port}`;
}

/** The KV-events target of a pod at `ip`, or null (events off, or hashes we cannot reproduce: `problem` says why). */
export function kvEventsTarget(containers: readonly ContainerLike[] | null | undefined, ip: string, fallbackModel: string): { target: KvEventsTarget | null; problem?: string } {
  for (const c of containers ?? []) {
    const argv = [...(c.command ?? []), ...(c.args ?? [])].map(String);
    const raw = flagValue(argv, '--kv-events-config') ?? flagValue(argv, '--kv_events_config');
    if (raw === undefined) continue;
    let cfg;
    try {
      cfg = parseKvEventsConfig(raw);
    } catch (err) {
      return { target: null, problem: (err as Error).message };
    }
    if (!cfg.enableKvCacheEvents || cfg.publisher !== 'zmq') return { target: null };
    const algoFlag = flagValue(argv, '--prefix-caching-hash-algo') ?? flagValue(argv, '--prefix_caching_hash_algo');
    const algo = parseKvHashAlgo(algoFlag);
    if (algo === undefined) return { target: null, problem: `--prefix-caching-hash-algo ${algoFlag} cannot be reproduced (use sha256_cbor)` };
    const seedVar = (c.env ?? []).find((e) => e?.name === 'PYTHONHASHSEED');
    if (seedVar && (seedVar.value === undefined || seedVar.value === null)) return { target: null, problem: 'PYTHONHASHSEED is not a literal value' };
    const seed = seedVar?.value ?? '0';
    const tokenizer = flagValue(argv, '--tokenizer') === 'approx' ? 'approx' : 'llama3';
    const serve = argv.indexOf('serve');
    const positional = serve >= 0 ? argv[serve + 1] : argv[0] !== undefined && !argv[0].startsWith('-') && !argv[0].includes('/bin/') ? argv[0] : undefined;
    const model = flagValue(argv, '--model') ?? (positional !== undefined && !positional.startsWith('-') ? positional : fallbackModel);
    const endpoint = onPod(cfg.endpoint, ip);
    const replayEndpoint = cfg.replayEndpoint === null ? null : onPod(cfg.replayEndpoint, ip);
    const hashKey = [algo, seed, tokenizer, model].join('|');
    const key = [endpoint, replayEndpoint, cfg.topic, hashKey].join('|');
    return { target: { endpoint, replayEndpoint, topic: cfg.topic, algo, seed, tokenizer, model, key, hashKey, hasher: null } };
  }
  return { target: null };
}
