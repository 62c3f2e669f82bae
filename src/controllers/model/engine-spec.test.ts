// The engine pods the Model controller generates are what vLLM and SGLang accept: each container's command line is
// parsed against the engine's documented command-line grammar (entrypoint, positional model, flags and their
// arity), and the ports, /health readiness, shared memory and GPU resources are checked against it. Then the same
// container goes through the node agent's runtime map, to the real engine's command and to the simulated engine's
// parser, so local runs and clusters run one spec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServedModel as Model } from '../../api/kinds/index.ts';
import { planContainer, type HostInfo } from '../../agent/runtime-map.ts';
import { parseEngineArgs } from '../../engine/options.ts';
import { desiredModelInfer, GPU_RESOURCE } from './desired.ts';

/** Where the download step puts the Hub repository on the node, and the engine opens it. */
const QWEN_PATH = '/var/lib/matrixinfer/models/Qwen2.5-7B-Instruct-05935d97e000';

// vLLM's OpenAI server (docs.vllm.ai, "vllm serve"): the vllm/vllm-openai images have ENTRYPOINT ["vllm", "serve"];
// usage `vllm serve <model_tag> [options]`; `--model` is rejected by `vllm serve` ("you should provide the model as a
// positional argument instead of via the `--model` option"). Flags used here and their value arity.
const VLLM_ENTRYPOINT = ['vllm', 'serve'];
const VLLM_FLAGS: Record<string, 'value' | 'values'> = {
  '--served-model-name': 'values',
  '--host': 'value',
  '--port': 'value',
  '--tensor-parallel-size': 'value',
  '--max-model-len': 'value',
  '--gpu-memory-utilization': 'value',
  '--dtype': 'value',
};
// SGLang (docs.sglang.ai, server arguments): `python3 -m sglang.launch_server --model-path MODEL --port P --host H
// --tp N`; no positional arguments. `--tp` is short for `--tp-size`; `--context-length` is its max length.
const SGLANG_COMMAND = ['python3', '-m', 'sglang.launch_server'];
const SGLANG_FLAGS: Record<string, 'value'> = {
  '--model-path': 'value',
  '--served-model-name': 'value',
  '--host': 'value',
  '--port': 'value',
  '--tp': 'value',
  '--tp-size': 'value',
  '--context-length': 'value',
  '--mem-fraction-static': 'value',
};

interface Parsed {
  positionals: string[];
  flags: Record<string, string[]>;
}

/** argparse-like: `--flag value`, `--flag=value`, `nargs='+'` flags take values up to the next flag. */
function parseCommandLine(args: string[], grammar: Record<string, 'value' | 'values'>): Parsed {
  const out: Parsed = { positionals: [], flags: {} };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('-')) {
      out.positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const arity = grammar[flag];
    assert.ok(arity, `${flag} is not a documented flag of this engine`);
    assert.ok(!(flag in out.flags), `${flag} given twice`);
    if (eq > 0) out.flags[flag] = [a.slice(eq + 1)];
    else if (arity === 'value') {
      assert.ok(i + 1 < args.length && !args[i + 1]!.startsWith('--'), `${flag} needs a value`);
      out.flags[flag] = [args[++i]!];
    } else {
      const values: string[] = [];
      while (i + 1 < args.length && !args[i + 1]!.startsWith('-')) values.push(args[++i]!);
      assert.ok(values.length > 0, `${flag} needs at least one value`);
      out.flags[flag] = values;
    }
  }
  return out;
}

function model(runtime: Partial<Model['spec']['runtime']>, name = 'qwen'): Model {
  return {
    apiVersion: 'registry.matrixinfer.ai/v1alpha1',
    kind: 'Model',
    metadata: { name, namespace: 'default', uid: 'u1' },
    spec: {
      modelSpec: { modelId: 'qwen', framework: 'pytorch', version: '1', source: { uri: 'huggingface://' + 'Qwen/Qwen2.5-7B-Instruct' } },
      runtime: { image: 'vllm/vllm-openai:v0.10.1', ...runtime },
    },
  } as Model;
}

function podOf(m: Model) {
  const template = desiredModelInfer(m).spec.roles[0]!.template;
  const spec = template.spec as { containers: any[]; volumes: any[] };
  assert.equal(spec.containers.length, 1);
  return { spec, container: spec.containers[0] };
}

/** What every engine pod needs besides its command line. */
function assertPodBasics(m: Model, port: number, gpus: number | undefined) {
  const { spec, container } = podOf(m);
  assert.deepEqual(container.ports, [{ name: 'http', containerPort: port, protocol: 'TCP' }]);
  assert.equal(container.readinessProbe.httpGet.path, '/health', 'both engines serve GET /health');
  assert.equal(container.readinessProbe.httpGet.port, port);
  // Both engines listen only once the model is loaded: a startup probe on the same endpoint gates readiness.
  assert.deepEqual(container.startupProbe, { httpGet: { path: '/health', port }, periodSeconds: 10, failureThreshold: 60 });
  // PyTorch/NCCL need more shared memory than a container's default 64 MiB.
  assert.deepEqual(spec.volumes[0], { name: 'dshm', emptyDir: { medium: 'Memory' } });
  assert.deepEqual(container.volumeMounts[0], { name: 'dshm', mountPath: '/dev/shm' });
  if (gpus === undefined) {
    assert.equal(container.resources?.limits?.[GPU_RESOURCE], undefined);
  } else {
    // Extended resources: a request must have a limit, and they must be equal.
    assert.equal(container.resources.limits[GPU_RESOURCE], String(gpus));
    assert.equal(container.resources.requests[GPU_RESOURCE], String(gpus));
  }
}

test('vLLM: the image entrypoint `vllm serve` gets the model as positional model_tag and documented flags', () => {
  const m = model({ resources: { limits: { [GPU_RESOURCE]: '2', memory: '64Gi' }, requests: { cpu: '8' } }, args: ['--max-model-len', '8192'] });
  const { container } = podOf(m);
  assert.equal(container.command, undefined, 'keeps the image ENTRYPOINT ["vllm", "serve"]');
  const argv = [...VLLM_ENTRYPOINT, ...container.args];
  assert.deepEqual(argv.slice(0, 2), ['vllm', 'serve']);
  const parsed = parseCommandLine(argv.slice(2), VLLM_FLAGS);
  assert.deepEqual(parsed.positionals, [QWEN_PATH], 'exactly one positional: the model');
  assert.ok(!container.args.includes('--model'), '`vllm serve` rejects --model');
  assert.deepEqual(parsed.flags['--served-model-name'], ['qwen']);
  assert.deepEqual(parsed.flags['--host'], ['0.0.0.0'], 'reachable on the pod IP');
  assert.deepEqual(parsed.flags['--port'], ['8000']);
  assert.deepEqual(parsed.flags['--tensor-parallel-size'], ['2'], 'one tensor-parallel rank per GPU');
  assert.deepEqual(parsed.flags['--max-model-len'], ['8192']);
  assertPodBasics(m, 8000, 2);
  const { container: c } = podOf(m);
  assert.deepEqual(c.resources, { requests: { cpu: '8', [GPU_RESOURCE]: '2' }, limits: { [GPU_RESOURCE]: '2', memory: '64Gi' } });
});

test('vLLM: no GPUs means no tensor-parallel flag; a user-set one is kept, not doubled', () => {
  const cpu = podOf(model({})).container;
  assert.ok(!cpu.args.includes('--tensor-parallel-size'));
  assertPodBasics(model({}), 8000, undefined);
  const user = model({ resources: { requests: { [GPU_RESOURCE]: 4 } }, args: ['--tensor-parallel-size', '2'], port: 9000 });
  const parsed = parseCommandLine(podOf(user).container.args, VLLM_FLAGS);
  assert.deepEqual(parsed.flags['--tensor-parallel-size'], ['2']);
  assert.deepEqual(parsed.flags['--port'], ['9000']);
  // A GPU request alone becomes request and limit.
  assertPodBasics(user, 9000, 4);
});

test('SGLang: `python3 -m sglang.launch_server` with --model-path, --host 0.0.0.0, --port and --tp from the GPUs', () => {
  const m = model({ image: 'lmsysorg/sglang:v0.5.2-cu126', port: 30000, resources: { limits: { [GPU_RESOURCE]: '4' } }, args: ['--context-length', '32768'] });
  const { container } = podOf(m);
  assert.deepEqual(container.command, SGLANG_COMMAND);
  const parsed = parseCommandLine(container.args, SGLANG_FLAGS);
  assert.deepEqual(parsed.positionals, [], 'launch_server takes no positional arguments');
  assert.deepEqual(parsed.flags['--model-path'], [QWEN_PATH]);
  assert.deepEqual(parsed.flags['--served-model-name'], ['qwen']);
  assert.deepEqual(parsed.flags['--host'], ['0.0.0.0']);
  assert.deepEqual(parsed.flags['--port'], ['30000']);
  assert.deepEqual(parsed.flags['--tp'], ['4']);
  assert.deepEqual(parsed.flags['--context-length'], ['32768']);
  assertPodBasics(m, 30000, 4);
  const userTp = model({ image: 'lmsysorg/sglang:latest', engine: 'SGLang', resources: { limits: { [GPU_RESOURCE]: '2' } }, args: ['--tp-size', '2'] });
  const p = parseCommandLine(podOf(userTp).container.args, SGLANG_FLAGS);
  assert.equal(p.flags['--tp'], undefined);
  assert.deepEqual(p.flags['--tp-size'], ['2']);
});

const IP = '127.0.9.9';
const engineCommand = (args: string[]) => ({ command: 'node', args: ['src/cli/main.ts', 'engine', ...args] });
const hostWith = (exes: string[], sglang = false): HostInfo => ({ hasExecutable: (n) => exes.includes(n), sglangAvailable: () => sglang });

test('the node agent runs the same containers: real engines get the documented command line, the simulator parses it', () => {
  // vLLM image with vllm installed: exactly `vllm serve <args> --host <podIP>` (the later --host wins in argparse).
  const v = podOf(model({ resources: { limits: { [GPU_RESOURCE]: '2' } } })).container;
  const real = planContainer(v, { podIP: IP, host: hostWith(['vllm']), engineCommand });
  assert.deepEqual(real, { runnable: true, kind: 'vllm', command: 'vllm', args: ['serve', ...v.args, '--host', IP] });
  const sim = planContainer(v, { podIP: IP, host: hostWith([]), engineCommand });
  assert.ok(sim.runnable && sim.kind === 'simulated');
  const opts = parseEngineArgs(sim.args.slice(2), { warn: () => {} });
  assert.equal(opts.model, QWEN_PATH);
  assert.deepEqual(opts.servedModelNames, ['qwen']);
  assert.equal(opts.port, 8000);
  assert.equal(opts.host, IP);
  assert.equal(opts.engine, 'vllm');

  // SGLang image: the real launcher when it imports, else the simulator impersonating SGLang.
  const s = podOf(model({ image: 'lmsysorg/sglang:latest', port: 30000, resources: { limits: { [GPU_RESOURCE]: '2' } } })).container;
  const realS = planContainer(s, { podIP: IP, host: hostWith(['python3'], true), engineCommand });
  assert.deepEqual(realS, { runnable: true, kind: 'sglang', command: 'python3', args: ['-m', 'sglang.launch_server', ...s.args, '--host', IP] });
  const simS = planContainer(s, { podIP: IP, host: hostWith(['python3'], false), engineCommand });
  assert.ok(simS.runnable && simS.kind === 'simulated');
  const o = parseEngineArgs(simS.args.slice(2), { warn: () => {} });
  assert.equal(o.model, QWEN_PATH);
  assert.deepEqual(o.servedModelNames, ['qwen']);
  assert.equal(o.port, 30000);
  assert.equal(o.host, IP);
  assert.equal(o.engine, 'sglang');
});

test('every resource that cannot be overcommitted gets its limit from its request, not only nvidia.com/gpu', () => {
  const { container } = podOf(model({ resources: { requests: { cpu: '2', 'amd.com/gpu': '1', 'hugepages-2Mi': '1Gi' }, limits: { memory: '8Gi' } } }));
  assert.deepEqual(container.resources, {
    requests: { cpu: '2', 'amd.com/gpu': '1', 'hugepages-2Mi': '1Gi' },
    limits: { memory: '8Gi', 'amd.com/gpu': '1', 'hugepages-2Mi': '1Gi' },
  });
});
