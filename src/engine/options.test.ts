import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { DEFAULT_LATENCY } from './latency.ts';
import { engineHelpText, parseEngineArgs } from './options.ts';

function parse(argv: string[]) {
  const warnings: string[] = [];
  const options = parseEngineArgs(argv, { warn: (m) => warnings.push(m) });
  return { options, warnings };
}

describe('parseEngineArgs', () => {
  it('parses a vLLM pod command line, ignoring what it does not model', () => {
    const { options, warnings } = parse(
      'serve meta-llama/Llama-2-7b-hf --served-model-name llama-7b --port 8000 --host 0.0.0.0 --max-model-len 4096 --gpu-memory-utilization 0.9 --tensor-parallel-size 1'.split(' '),
    );
    assert.equal(options.model, 'meta-llama/Llama-2-7b-hf');
    assert.deepEqual(options.servedModelNames, ['llama-7b']);
    assert.equal(options.port, 8000);
    assert.equal(options.host, '0.0.0.0');
    assert.equal(options.maxModelLen, 4096);
    assert.equal(options.engine, 'vllm');
    assert.deepEqual(options.ignoredArgs, ['--gpu-memory-utilization', '0.9', '--tensor-parallel-size', '1']);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /--gpu-memory-utilization 0\.9/);
  });

  it('applies defaults: model name as served name, 127.0.0.1:8000, published latency profile', () => {
    const { options, warnings } = parse(['my/model']);
    assert.deepEqual(options.servedModelNames, ['my/model']);
    assert.equal(options.host, '127.0.0.1');
    assert.equal(options.port, 8000);
    assert.equal(options.maxNumSeqs, 256);
    assert.equal(options.maxNumBatchedTokens, 8192);
    assert.equal(options.blockSize, 16);
    assert.equal(options.maxTokensDefault, undefined);
    assert.deepEqual(options.latency, DEFAULT_LATENCY);
    assert.deepEqual(warnings, []);
  });

  it('accepts --model, several served names, --flag=value, underscores and latency flags', () => {
    const { options } = parse([
      '--model=org/m',
      '--served-model-name', 'a', 'b',
      '--max_num_seqs', '4',
      '--max-num-batched-tokens=512',
      '--num-gpu-blocks', '1000',
      '--time-to-first-token-ms', '3',
      '--prefill-time-per-token-ms=0.1',
      '--inter-token-latency-ms', '2.5',
      '--inter-token-latency-per-seq-ms', '0',
      '--latency-jitter', '0.1',
      '--max-tokens-default', '64',
      '--seed', '7',
    ]);
    assert.equal(options.model, 'org/m');
    assert.deepEqual(options.servedModelNames, ['a', 'b']);
    assert.equal(options.maxNumSeqs, 4);
    assert.equal(options.maxNumBatchedTokens, 512);
    assert.equal(options.numGpuBlocks, 1000);
    const { prefillAttentionTimeMs, interTokenLatencyPerKvTokenMs, kvTransferLatencyMs, kvTransferTimePerTokenMs, ...given } = options.latency;
    assert.deepEqual(given, {
      timeToFirstTokenMs: 3,
      prefillTimePerTokenMs: 0.1,
      interTokenLatencyMs: 2.5,
      interTokenLatencyPerSeqMs: 0,
      jitter: 0.1,
    });
    // Terms not given scale with the base figure they share a bottleneck with; the rest keep the profile's values.
    assert.ok(Math.abs(prefillAttentionTimeMs - DEFAULT_LATENCY.prefillAttentionTimeMs * (0.1 / DEFAULT_LATENCY.prefillTimePerTokenMs)) < 1e-12);
    assert.ok(Math.abs(interTokenLatencyPerKvTokenMs - DEFAULT_LATENCY.interTokenLatencyPerKvTokenMs * (2.5 / DEFAULT_LATENCY.interTokenLatencyMs)) < 1e-12);
    assert.equal(kvTransferLatencyMs, DEFAULT_LATENCY.kvTransferLatencyMs);
    assert.equal(kvTransferTimePerTokenMs, DEFAULT_LATENCY.kvTransferTimePerTokenMs);
    assert.equal(options.maxModelLen, 16_000, 'not given: capped to what 1000 blocks of 16 hold');
    assert.equal(options.maxTokensDefault, 64);
    assert.equal(options.seed, 7);
  });

  it('profiles set the latency and KV defaults; LoRA, prefix caching, queue and P/D flags', () => {
    const big = parse(['--profile', 'llama-3.1-70b-h100-tp4']).options;
    assert.equal(big.profile, 'llama-3.1-70b-h100-tp4');
    assert.equal(big.model, 'meta-llama/Llama-3.1-70B-Instruct');
    assert.ok(big.latency.interTokenLatencyMs > DEFAULT_LATENCY.interTokenLatencyMs);
    assert.equal(big.maxModelLen, 131_072);
    const small = parse(['m', '--profile', 'llama-3.1-70b-h100-tp4', '--inter-token-latency-ms', '9']).options;
    assert.equal(small.latency.interTokenLatencyMs, 9, 'a flag beats the profile');
    const o = parse([
      'm', '--enable-lora', '--lora-modules', 'sql=/adapters/sql', '{"name":"chat","path":"/a/chat","base_model_name":"m"}',
      '--max-loras', '2', '--no-enable-prefix-caching', '--max-waiting-queue-length', '5', '--tokenizer', 'approx',
      '--kv-transfer-config', '{"kv_connector":"NixlConnector","kv_role":"kv_both"}',
    ]).options;
    assert.deepEqual(o.loraModules, [{ name: 'sql', path: '/adapters/sql' }, { name: 'chat', path: '/a/chat', baseModelName: 'm' }]);
    assert.equal(o.maxLoras, 2);
    assert.equal(o.enablePrefixCaching, false);
    assert.equal(o.maxWaitingQueueLength, 5);
    assert.equal(o.tokenizer, 'approx');
    assert.deepEqual(o.kvTransferConfig, { kv_connector: 'NixlConnector', kv_role: 'kv_both' });
    assert.equal(parse(['m', '--enable-prefix-caching']).options.enablePrefixCaching, true);
    const sg = parse(['--model-path', 'q', '--max-loras-per-batch', '3', '--disable-radix-cache', '--max-queued-requests', '7']).options;
    assert.equal(sg.maxLoras, 3);
    assert.equal(sg.enablePrefixCaching, false);
    assert.equal(sg.maxWaitingQueueLength, 7);
  });

  it('does not let an ignored boolean flag swallow the model', () => {
    const { options } = parse(['--enforce-eager', 'org/model', '--trust-remote-code', '--dtype', 'bfloat16', '-tp', '2']);
    assert.equal(options.model, 'org/model');
    assert.deepEqual(options.ignoredArgs, ['--enforce-eager', '--trust-remote-code', '--dtype', 'bfloat16', '-tp', '2']);
  });

  it('understands SGLang spellings and switches to SGLang (port 30000) on --model-path', () => {
    const { options } = parse(['--model-path', 'Qwen/Qwen2-7B', '--context-length', '8192', '--max-running-requests', '32', '--page-size', '32', '--mem-fraction-static', '0.8']);
    assert.equal(options.model, 'Qwen/Qwen2-7B');
    assert.equal(options.engine, 'sglang');
    assert.equal(options.port, 30000);
    assert.equal(options.maxModelLen, 8192);
    assert.equal(options.maxNumSeqs, 32);
    assert.equal(options.blockSize, 32);
    const explicit = parse(['m', '--engine', 'sglang', '--port', '0']).options;
    assert.equal(explicit.engine, 'sglang');
    assert.equal(explicit.port, 0);
  });

  it('rejects invalid values with a message', () => {
    assert.throws(() => parse(['m', '--port', 'eighty']), /--port must be an integer/);
    assert.throws(() => parse(['m', '--max-num-seqs', '0']), /--max-num-seqs must be an integer >= 1/);
    assert.throws(() => parse(['m', '--engine', 'tgi']), /tgi/);
    assert.throws(() => parse(['m', '--inter-token-latency-ms', '-1']), /must be a number >= 0/);
    assert.throws(() => parse(['m', '--max-num-seqs', '512', '--max-num-batched-tokens', '256']), /max-num-batched-tokens/);
    assert.throws(() => parse(['m', '--num-gpu-blocks', '10', '--max-model-len', '4096']), /KV cache/);
    assert.throws(() => parse(['m', '--profile', 'gpt-9-on-abacus']), /gpt-9-on-abacus/);
    assert.throws(() => parse(['m', '--lora-modules', 'no-path']), /name=path/);
    assert.throws(() => parse(['m', '--kv-transfer-config', '[1]']), /JSON object/);
    assert.throws(() => parse(['m', '--latency-jitter', '0.9']), /jitter/);
  });

  it('--help prints usage and exits 0 (it is not an ignored flag)', () => {
    const script = `import('${new URL('./options.ts', import.meta.url).href}').then((m) => m.parseEngineArgs(['--help']))`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Usage: matrixinfer engine/);
    assert.equal(r.stderr, '');
  });

  it('--help documents every flag', () => {
    const help = engineHelpText();
    for (const flag of [
      '--model', '--served-model-name', '--host', '--port', '--engine', '--max-model-len', '--max-num-seqs',
      '--max-num-batched-tokens', '--block-size', '--num-gpu-blocks', '--seed', '--max-tokens-default',
      '--time-to-first-token-ms', '--prefill-time-per-token-ms', '--inter-token-latency-ms',
      '--inter-token-latency-per-seq-ms', '--latency-jitter', '--profile', '--max-waiting-queue-length',
      '--enable-prefix-caching', '--no-enable-prefix-caching', '--lora-modules', '--max-loras', '--enable-lora',
      '--tokenizer', '--kv-transfer-config', '--prefill-attention-time-ms', '--inter-token-latency-per-kv-token-ms',
      '--kv-transfer-latency-ms', '--kv-transfer-time-per-token-ms', '--enable-prompt-tokens-details',
    ]) {
      assert.ok(help.includes(flag), flag);
    }
  });
});
