import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import {
  componentOfImage,
  engineKindOfImage,
  expandVars,
  type HostInfo,
  imageRepository,
  mapPath,
  mountPaths,
  planContainer,
  shellWords,
} from './runtime-map.ts';

const IP = '127.0.3.4';
const engineCommand = (args: string[]) => ({ command: '/usr/bin/node', args: ['/repo/src/cli/main.ts', 'engine', ...args] });
const matrixinferCommand = (args: string[]) => ({ command: '/usr/bin/node', args: ['/repo/src/cli/main.ts', ...args] });

function host(exes: string[] = ['sh', 'python3'], sglang = false): HostInfo {
  return { hasExecutable: (n) => exes.includes(n), sglangAvailable: () => sglang };
}

function plan(container: Parameters<typeof planContainer>[0], h = host(), env?: Record<string, string>) {
  return planContainer(container, { podIP: IP, host: h, engineCommand, matrixinferCommand, ...(env ? { env } : {}) });
}

describe('image names', () => {
  it('strips registry, tag and digest', () => {
    assert.equal(imageRepository('vllm/vllm-openai:v0.8.5'), 'vllm/vllm-openai');
    assert.equal(imageRepository('ghcr.io/matrixinfer/pytorch-runtime:latest'), 'matrixinfer/pytorch-runtime');
    assert.equal(imageRepository('localhost:5000/busybox@sha256:abc'), 'busybox');
    assert.equal(imageRepository('busybox'), 'busybox');
  });
  it('classifies engine images', () => {
    assert.equal(engineKindOfImage('vllm/vllm-openai:latest'), 'vllm');
    assert.equal(engineKindOfImage('lmsysorg/sglang:v0.4.6'), 'sglang');
    assert.equal(engineKindOfImage('matrixinfer/pytorch-runtime:latest'), 'vllm');
    assert.equal(engineKindOfImage('docker.io/matrixinfer/onnx-runtime:latest'), 'vllm');
    assert.equal(engineKindOfImage('busybox'), undefined);
    assert.equal(engineKindOfImage('example.com/matrixinfer-runtime'), undefined);
    assert.equal(engineKindOfImage('matrixinfer/engine:0.1.0'), 'vllm');
  });
  it('classifies the component images, which are no engines', () => {
    assert.equal(componentOfImage('matrixinfer/gateway:0.1.0'), 'gateway');
    assert.equal(componentOfImage('registry.example.com/matrixinfer/controller-manager@sha256:abc'), 'controller-manager');
    assert.equal(componentOfImage('matrixinfer/engine:0.1.0'), undefined);
    assert.equal(componentOfImage('example.com/gateway'), undefined);
    assert.equal(engineKindOfImage('matrixinfer/gateway:0.1.0'), undefined);
    assert.equal(engineKindOfImage('matrixinfer/controller-manager'), undefined);
  });
});

describe('component images', () => {
  it('the gateway runs `matrixinfer gateway` with the container args, listening on the pod IP', () => {
    const p = plan({ name: 'gateway', image: 'matrixinfer/gateway:0.1.0', args: ['gateway', '--host=0.0.0.0', '--port=8080', '--tls-port=8443', '--no-watch-secrets'] });
    assert.deepEqual(p, {
      runnable: true,
      kind: 'gateway',
      command: '/usr/bin/node',
      args: ['/repo/src/cli/main.ts', 'gateway', '--host=0.0.0.0', '--port=8080', '--tls-port=8443', '--no-watch-secrets', '--host', IP],
    });
  });
  it('the controller manager runs `matrixinfer controller-manager`, its webhooks and metrics on the pod IP', () => {
    const p = plan({ name: 'manager', image: 'matrixinfer/controller-manager:0.1.0', args: ['controller-manager', '--leader-elect', '--webhook-port=9443', '--gateway-port=8080'] });
    assert.deepEqual(p, {
      runnable: true,
      kind: 'controller-manager',
      command: '/usr/bin/node',
      args: ['/repo/src/cli/main.ts', 'controller-manager', '--leader-elect', '--webhook-port=9443', '--gateway-port=8080', '--webhook-host', IP, '--metrics-host', IP],
    });
  });
  it('no args: the image CMD; flags only: the subcommand in front; $(VAR) expanded', () => {
    const bare = plan({ name: 'g', image: 'matrixinfer/gateway' });
    assert.ok(bare.runnable);
    assert.deepEqual(bare.args.slice(1), ['gateway', '--host=0.0.0.0', '--port=8080', '--host', IP]);
    const cm = plan({ name: 'c', image: 'matrixinfer/controller-manager' });
    assert.ok(cm.runnable);
    assert.deepEqual(cm.args.slice(1), ['controller-manager', '--health-port=8081', '--webhook-host', IP, '--metrics-host', IP]);
    const flags = plan({ name: 'g', image: 'matrixinfer/gateway', args: ['--port=$(PORT)'] }, host(), { PORT: '9090' });
    assert.ok(flags.runnable);
    assert.deepEqual(flags.args.slice(1), ['gateway', '--port=9090', '--host', IP]);
  });
  it('a command replacing the entry point is followed from the subcommand on', () => {
    const p = plan({ name: 'g', image: 'matrixinfer/gateway', command: ['node', '--disable-warning=ExperimentalWarning', 'src/cli/main.ts'], args: ['gateway', '--port=8080'] });
    assert.ok(p.runnable && p.kind === 'gateway');
    assert.deepEqual(p.args.slice(1), ['gateway', '--port=8080', '--host', IP]);
    const none = plan({ name: 'g', image: 'matrixinfer/gateway', command: ['sleep', '3600'] });
    assert.ok(!none.runnable && none.reason === 'ImageNotRunnable' && none.message.includes('no matrixinfer component'));
  });
  it('are not runnable where no matrixinfer command is configured', () => {
    const p = planContainer({ name: 'g', image: 'matrixinfer/gateway' }, { podIP: IP, host: host(), engineCommand });
    assert.ok(!p.runnable && p.reason === 'ImageNotRunnable');
  });
  it("every container of the chart's Deployments runs its own component", () => {
    const manifests = readFileSync(new URL('../../deploy/manifests/matrixinfer.yaml', import.meta.url), 'utf8');
    type Deployment = { kind?: string; metadata: { labels: Record<string, string> }; spec: { template: { spec: { containers: { name: string; image: string; args?: string[] }[] } } } };
    const deployments = parseAllDocuments(manifests).map((d) => d.toJS() as Deployment | null).filter((d): d is Deployment => d?.kind === 'Deployment');
    assert.deepEqual(deployments.map((d) => d.metadata.labels['app.kubernetes.io/component']).sort(), ['controller-manager', 'gateway']);
    for (const d of deployments) {
      for (const c of d.spec.template.spec.containers) {
        const p = plan(c);
        assert.ok(p.runnable, c.image);
        assert.equal(p.kind, d.metadata.labels['app.kubernetes.io/component'], c.image);
        // The container's args, then the pod-IP listen flags (one for the gateway, two for the controller manager).
        const listen = p.kind === 'controller-manager' ? 4 : 2;
        assert.deepEqual(p.args.slice(1, -listen), c.args, c.image);
      }
    }
  });
});

describe('vLLM images', () => {
  it('run the simulated engine with args only, --host appended', () => {
    const p = plan({ name: 'engine', image: 'vllm/vllm-openai:latest', args: ['--model', 'Qwen/Qwen2.5-0.5B', '--port', '8000'] });
    assert.deepEqual(p, {
      runnable: true,
      kind: 'simulated',
      command: '/usr/bin/node',
      args: ['/repo/src/cli/main.ts', 'engine', '--model', 'Qwen/Qwen2.5-0.5B', '--port', '8000', '--host', IP],
    });
  });
  it('strip `vllm serve` and `python3 -m vllm.entrypoints.openai.api_server`', () => {
    const a = plan({ name: 'e', image: 'vllm/vllm-openai', command: ['vllm', 'serve', 'meta-llama/X'], args: ['--port', '8001', '--host', '0.0.0.0'] });
    assert.ok(a.runnable);
    assert.deepEqual(a.args.slice(2), ['meta-llama/X', '--port', '8001', '--host', '0.0.0.0', '--host', IP]);
    const b = plan({ name: 'e', image: 'vllm/vllm-openai', command: ['python3', '-m', 'vllm.entrypoints.openai.api_server', '--model', 'm'] });
    assert.ok(b.runnable);
    assert.deepEqual(b.args.slice(2), ['--model', 'm', '--host', IP]);
    const c = plan({ name: 'e', image: 'vllm/vllm-openai', args: ['serve', 'm', '--port', '9000'] });
    assert.ok(c.runnable);
    assert.deepEqual(c.args.slice(2), ['m', '--port', '9000', '--host', IP]);
  });
  it('unwrap sh -c scripts', () => {
    const p = plan({
      name: 'e',
      image: 'vllm/vllm-openai',
      command: ['sh', '-c', 'pip install foo && exec vllm serve "my model" --port 8000'],
    });
    assert.ok(p.runnable);
    assert.deepEqual(p.args.slice(2), ['my model', '--port', '8000', '--host', IP]);
  });
  it('run the real vLLM when it is on PATH', () => {
    const p = plan({ name: 'e', image: 'vllm/vllm-openai', args: ['--model', 'm', '--port', '8000'] }, host(['vllm']));
    assert.deepEqual(p, { runnable: true, kind: 'vllm', command: 'vllm', args: ['serve', '--model', 'm', '--port', '8000', '--host', IP] });
  });
  it('stay simulated when forced', () => {
    const h = { ...host(['vllm']), forceSimulated: true };
    const p = plan({ name: 'e', image: 'vllm/vllm-openai', args: ['--model', 'm'] }, h);
    assert.ok(p.runnable && p.kind === 'simulated');
  });
  it('expand $(VAR) from the container env', () => {
    const p = plan({ name: 'e', image: 'vllm/vllm-openai', args: ['--served-model-name', '$(NAME)', '--x', '$$(NAME)', '$(MISSING)'] }, host(), { NAME: 'llama' });
    assert.ok(p.runnable);
    assert.deepEqual(p.args.slice(2), ['--served-model-name', 'llama', '--x', '$(NAME)', '$(MISSING)', '--host', IP]);
  });
});

describe('the seed image', () => {
  it('matrixinfer/pytorch-runtime runs the simulated engine', () => {
    const p = plan({
      name: 'runtime',
      image: 'matrixinfer/pytorch-runtime:latest',
      args: ['meta-llama/Llama-2-7b-hf', '--served-model-name', 'llama-7b', '--host', '0.0.0.0', '--port', '8000'],
    });
    assert.deepEqual(p, {
      runnable: true,
      kind: 'simulated',
      command: '/usr/bin/node',
      args: ['/repo/src/cli/main.ts', 'engine', 'meta-llama/Llama-2-7b-hf', '--served-model-name', 'llama-7b', '--host', '0.0.0.0', '--port', '8000', '--host', IP],
    });
  });
});

describe('SGLang images', () => {
  const c = {
    name: 'e',
    image: 'lmsysorg/sglang:latest',
    command: ['python3', '-m', 'sglang.launch_server'],
    args: ['--model-path', 'Qwen/Q', '--port', '30000', '--tp', '2', '--served-model-name=q'],
  };
  it('translate to the simulated engine', () => {
    const p = plan(c);
    assert.ok(p.runnable);
    assert.equal(p.kind, 'simulated');
    assert.deepEqual(p.args.slice(2), ['--model', 'Qwen/Q', '--port', '30000', '--tensor-parallel-size', '2', '--served-model-name=q', '--engine', 'sglang', '--host', IP]);
  });
  it('run the real SGLang when it imports', () => {
    const p = plan(c, host(['python3'], true));
    assert.deepEqual(p, {
      runnable: true,
      kind: 'sglang',
      command: 'python3',
      args: ['-m', 'sglang.launch_server', '--model-path', 'Qwen/Q', '--port', '30000', '--tp', '2', '--served-model-name=q', '--host', IP],
    });
  });
  it('a vLLM-named image running sglang.launch_server is SGLang', () => {
    const p = plan({ name: 'e', image: 'matrixinfer/runtime', command: ['python3', '-m', 'sglang.launch_server', '--model-path', 'm'] });
    assert.ok(p.runnable);
    assert.deepEqual(p.args.slice(2), ['--model', 'm', '--engine', 'sglang', '--host', IP]);
  });
});

describe('other images', () => {
  it('busybox with sh -c runs as a host process', () => {
    const p = plan({ name: 'c', image: 'busybox', command: ['sh', '-c', 'echo hi; sleep 1'] });
    assert.deepEqual(p, { runnable: true, kind: 'host', command: 'sh', args: ['-c', 'echo hi; sleep 1'] });
  });
  it('command and args are concatenated', () => {
    const p = plan({ name: 'c', image: 'busybox', command: ['sh'], args: ['-c', 'exit 3'] });
    assert.deepEqual(p, { runnable: true, kind: 'host', command: 'sh', args: ['-c', 'exit 3'] });
  });
  it('an image without command is not runnable', () => {
    const p = plan({ name: 'c', image: 'nginx:1.27' });
    assert.equal(p.runnable, false);
    assert.ok(!p.runnable && p.reason === 'ImageNotRunnable' && p.message.includes('nginx'));
  });
  it('an unknown executable is not runnable', () => {
    const p = plan({ name: 'c', image: 'redis', command: ['redis-server'] });
    assert.ok(!p.runnable && p.reason === 'ImageNotRunnable' && p.message.includes('redis-server'));
  });
});

describe('helpers', () => {
  it('shellWords', () => {
    assert.deepEqual(shellWords(`a 'b c' "d \\"e\\"" f\\ g`), ['a', 'b c', 'd "e"', 'f g']);
  });
  it('expandVars', () => {
    assert.equal(expandVars('$(A)-$(B)-$$(A)-$(', { A: '1' }), '1-$(B)-$(A)-$(');
  });
});

it('the model cache hostPath maps to $MATRIXINFER_HOME, in args and flags, and the download image runs `matrixinfer download`', () => {
  const volumes = [
    { name: 'model-cache', hostPath: { path: '/var/lib/matrixinfer/models' } },
    { name: 'etc', hostPath: { path: '/etc/ssl' } },
  ];
  const paths = mountPaths(volumes, [{ name: 'model-cache', mountPath: '/var/lib/matrixinfer/models' }, { name: 'etc', mountPath: '/etc/ssl' }], '/home/u/.matrixinfer');
  assert.deepEqual(paths, [{ container: '/var/lib/matrixinfer/models', host: '/home/u/.matrixinfer/models' }], 'only the project\'s own hostPaths are emulated');
  assert.equal(mapPath('/var/lib/matrixinfer/models/m-1', paths), '/home/u/.matrixinfer/models/m-1');
  assert.equal(mapPath('--cache-dir=/var/lib/matrixinfer/models', paths), '--cache-dir=/home/u/.matrixinfer/models');
  assert.equal(mapPath('/var/lib/matrixinfer/models2', paths), '/var/lib/matrixinfer/models2', 'a longer name is another path');
  assert.equal(mapPath('x/var/lib/matrixinfer/models', paths), 'x/var/lib/matrixinfer/models');
  const plan = planContainer(
    { name: 'model-download', image: 'matrixinfer/downloader:0.1.0', args: ['download', '--uri', 'hf://a/b', '--cache-dir', '/var/lib/matrixinfer/models'] },
    { podIP: '10.0.0.5', host: host(), engineCommand: (a) => ({ command: 'engine', args: a }), matrixinferCommand: (a) => ({ command: 'mi', args: a }), paths },
  );
  assert.deepEqual(plan, { runnable: true, kind: 'download', command: 'mi', args: ['download', '--uri', 'hf://a/b', '--cache-dir', '/home/u/.matrixinfer/models'] });
});
