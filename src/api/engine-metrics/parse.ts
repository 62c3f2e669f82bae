// Reading the few engine metrics scheduling and autoscaling need out of a Prometheus text exposition, with names mapped per engine
// and version:
//
// | field       | vLLM (V1; older)                                         | SGLang                          |
// |-------------|----------------------------------------------------------|---------------------------------|
// | waiting     | vllm:num_requests_waiting                                | sglang:num_queue_reqs           |
// | running     | vllm:num_requests_running                                | sglang:num_running_reqs         |
// | kvUsage     | vllm:kv_cache_usage_perc (; vllm:gpu_cache_usage_perc)   | sglang:token_usage              |
// | cacheTokens | vllm:cache_config_info{num_gpu_blocks × block_size}      | sglang:max_total_num_tokens     |
// | loras       | vllm:lora_requests_info{running_lora_adapters, waiting_lora_adapters, max_lora} (latest series) | – |
// | queuedTokens | matrixinfer_engine_queued_prompt_tokens: the simulated engine's, in both modes (vLLM and SGLang export no count of queued prompt tokens) |
//
// Several series of one name (data-parallel `engine` labels, several model names) are summed for counts and
// maximised for usage. When the configured engine's names are absent but the other engine's are present (a
// ModelServer with the wrong inferenceEngine), the other mapping is used.
/** Which engine's names to prefer (the gateway's and the autoscaler's view of a ModelServer's inferenceEngine). */
export type EngineKind = 'vllm' | 'sglang';

export interface ParsedMetrics {
  waiting: number;
  running: number;
  kvUsage: number;
  cacheTokens: number;
  loras: Set<string> | null;
  maxLoras: number;
  /** Prompt tokens accepted and not yet prefilled (summed), NaN when the engine does not export them. */
  queuedTokens: number;
  /** Which mapping matched. */
  engine: EngineKind;
}

interface Acc {
  waiting: number;
  running: number;
  kv: number;
  kvOld: number;
  cacheTokens: number;
  seen: boolean;
}

function acc(): Acc {
  return { waiting: 0, running: 0, kv: NaN, kvOld: NaN, cacheTokens: 0, seen: false };
}

/** Label value from a `{a="x",b="y"}` block (no escapes in the labels we read). */
export function labelValue(labels: string, name: string): string | undefined {
  const key = `${name}="`;
  let i = labels.indexOf(key);
  while (i > 0 && labels[i - 1] !== '{' && labels[i - 1] !== ',' && labels[i - 1] !== ' ') i = labels.indexOf(key, i + 1);
  if (i < 0) return undefined;
  const start = i + key.length;
  const end = labels.indexOf('"', start);
  return end < 0 ? undefined : labels.slice(start, end);
}

/** The count series (summed; their presence is what tells which engine's names a server uses). */
const COUNTS = new Map<string, { engine: EngineKind; field: 'waiting' | 'running' }>([
  ['vllm:num_requests_waiting', { engine: 'vllm', field: 'waiting' }],
  ['vllm:num_requests_running', { engine: 'vllm', field: 'running' }],
  ['sglang:num_queue_reqs', { engine: 'sglang', field: 'waiting' }],
  ['sglang:num_running_reqs', { engine: 'sglang', field: 'running' }],
]);

function maxNaN(a: number, b: number): number {
  return Number.isNaN(a) ? b : b > a ? b : a;
}

/** The simulated engine's queued prompt tokens (src/engine/metrics.ts QUEUED_PROMPT_TOKENS). */
export const QUEUED_PROMPT_TOKENS = 'matrixinfer_engine_queued_prompt_tokens';

export function parseEngineMetrics(text: string, preferred: EngineKind): ParsedMetrics | null {
  const v = acc();
  const s = acc();
  let queuedTokens = NaN;
  let loraTs = -Infinity;
  let loraLabels = '';
  let start = 0;
  const len = text.length;
  while (start < len) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = len;
    const c = text.charCodeAt(start);
    // Only `vllm:` / `sglang:` sample lines (v = 118, s = 115), and `matrixinfer_engine_queued_prompt_tokens`.
    if (c === 118 || c === 115 || (c === 109 && text.startsWith(QUEUED_PROMPT_TOKENS, start))) {
      const line = text.slice(start, end);
      const brace = line.indexOf('{');
      const space = line.lastIndexOf(' ');
      let name: string;
      let labels = '';
      let valueStart: number;
      if (brace >= 0 && brace < space) {
        name = line.slice(0, brace);
        const close = line.lastIndexOf('}');
        labels = line.slice(brace, close + 1);
        valueStart = close + 1;
      } else {
        const sp = line.indexOf(' ');
        name = line.slice(0, sp);
        valueStart = sp;
      }
      // A sample may carry a timestamp after the value.
      const rest = line.slice(valueStart).trim();
      const sp2 = rest.indexOf(' ');
      const value = Number(sp2 < 0 ? rest : rest.slice(0, sp2));
      const count = COUNTS.get(name);
      if (count && !Number.isNaN(value)) {
        const a = count.engine === 'vllm' ? v : s;
        a[count.field] += value;
        a.seen = true;
      } else if (!Number.isNaN(value) || name.endsWith('_info')) {
        switch (name) {
          case 'vllm:kv_cache_usage_perc':
            v.kv = maxNaN(v.kv, value);
            break;
          case 'vllm:gpu_cache_usage_perc':
            v.kvOld = maxNaN(v.kvOld, value);
            break;
          case 'vllm:cache_config_info': {
            const blocks = Number(labelValue(labels, 'num_gpu_blocks'));
            const size = Number(labelValue(labels, 'block_size'));
            if (blocks > 0 && size > 0) v.cacheTokens = Math.max(v.cacheTokens, blocks * size);
            break;
          }
          case 'vllm:lora_requests_info':
            if (value >= loraTs) {
              loraTs = value;
              loraLabels = labels;
            }
            break;
          case 'sglang:token_usage':
            s.kv = maxNaN(s.kv, value);
            break;
          case QUEUED_PROMPT_TOKENS:
            if (!Number.isNaN(value)) queuedTokens = (Number.isNaN(queuedTokens) ? 0 : queuedTokens) + value;
            break;
          case 'sglang:max_total_num_tokens':
            if (value > 0) s.cacheTokens = Math.max(s.cacheTokens, value);
            break;
        }
      }
    }
    start = end + 1;
  }
  let engine: EngineKind = preferred;
  if (preferred === 'vllm' ? !v.seen && s.seen : !s.seen && v.seen) engine = preferred === 'vllm' ? 'sglang' : 'vllm';
  const a = engine === 'vllm' ? v : s;
  if (!a.seen) return null;
  let loras: Set<string> | null = null;
  let maxLoras = 0;
  if (engine === 'vllm' && loraLabels !== '') {
    loras = new Set();
    for (const key of ['running_lora_adapters', 'waiting_lora_adapters']) {
      const list = labelValue(loraLabels, key);
      if (list) for (const name of list.split(',')) if (name.trim()) loras.add(name.trim());
    }
    maxLoras = Number(labelValue(loraLabels, 'max_lora')) || 0;
  }
  return {
    waiting: a.waiting,
    running: a.running,
    kvUsage: Number.isNaN(a.kv) ? a.kvOld : a.kv,
    cacheTokens: a.cacheTokens,
    loras,
    maxLoras,
    queuedTokens,
    engine,
  };
}
