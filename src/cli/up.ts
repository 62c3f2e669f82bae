// `matrixinfer up`: the whole platform on this machine in one process tree. Each component runs as its own
// child process (as it would in its own pod), talks only to the API server, and is restarted if it dies.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { localKubeconfigPath, loopbackKubeconfigYaml, matrixinferHome } from '../kube/config.ts';
import { clientContext } from './context.ts';
import { apply } from './apply.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const CRD_DIR = fileURLToPath(new URL('../../deploy/crds/', import.meta.url));

export interface UpOptions {
  files: string[];
  home?: string;
  gatewayPort: number;
  /** The gateway's HTTPS listener (ModelServers with tls.enabled); default 8443. */
  gatewayTlsPort?: number;
  apiserverPort: number;
  /** Return once the platform is up instead of running until a signal (used by tests). */
  log?: (line: string) => void;
}

interface Component {
  name: string;
  args: string[];
  child?: ChildProcess;
  restarts: number;
  stopping: boolean;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${url}`);
    await sleep(100);
  }
}

export interface RunningPlatform {
  gatewayUrl: string;
  gatewayTlsUrl: string;
  kubeconfig: string;
  home: string;
  stop(): Promise<void>;
}

export async function up(options: UpOptions): Promise<RunningPlatform> {
  const log = options.log ?? ((line: string) => process.stdout.write(line + '\n'));
  const home = options.home ?? matrixinferHome();
  const logDir = join(home, 'logs');
  mkdirSync(logDir, { recursive: true });
  const gatewayTlsPort = options.gatewayTlsPort ?? 8443;
  const ports = [[options.apiserverPort, 'API server', 'apiserver-port'], [options.gatewayPort, 'gateway', 'gateway-port'], [gatewayTlsPort, 'gateway (HTTPS)', 'gateway-tls-port']] as const;
  for (const [port, what, flag] of ports) {
    if (!(await portFree(port))) throw new Error(`port ${port} for the ${what} is in use: is MatrixInfer already running? (choose another with --${flag})`);
  }
  const apiUrl = `http://127.0.0.1:${options.apiserverPort}`;
  const kubeconfig = localKubeconfigPath(home);
  const env = { ...process.env, MATRIXINFER_HOME: home };

  const components: Component[] = [
    { name: 'apiserver', args: ['apiserver', '--data-dir', join(home, 'data'), '--port', String(options.apiserverPort)], restarts: 0, stopping: false },
    // The gateway is a process here, not a pod: ModelServer Services lead to its loopback address.
    {
      name: 'controller-manager',
      args: ['controller-manager', '--kubeconfig', kubeconfig, '--gateway-address', '127.0.0.1', '--gateway-port', String(options.gatewayPort), '--gateway-tls-port', String(gatewayTlsPort)],
      restarts: 0,
      stopping: false,
    },
    { name: 'agent', args: ['agent', '--kubeconfig', kubeconfig], restarts: 0, stopping: false },
    { name: 'gateway', args: ['gateway', '--kubeconfig', kubeconfig, '--port', String(options.gatewayPort), '--tls-port', String(gatewayTlsPort)], restarts: 0, stopping: false },
  ];

  const start = (component: Component): void => {
    const logFd = openSync(join(logDir, `${component.name}.log`), 'a');
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN, ...component.args], { env, stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    component.child = child;
    child.on('exit', (code, signal) => {
      if (component.stopping) return;
      component.restarts++;
      const delay = Math.min(30_000, 500 * 2 ** Math.min(component.restarts, 6));
      log(`${component.name} exited (${signal ?? code}); restarting in ${delay} ms (see ${join(logDir, component.name + '.log')})`);
      setTimeout(() => component.stopping || start(component), delay).unref();
    });
  };

  const stop = async (): Promise<void> => {
    // Reverse order: the gateway first, the API server last, so components shut down while it still answers.
    for (const component of [...components].reverse()) {
      component.stopping = true;
      const child = component.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const killTimer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killTimer);
    }
  };

  try {
    start(components[0]!);
    await waitForHttp(`${apiUrl}/readyz`, 30_000);
    writeFileSync(kubeconfig, loopbackKubeconfigYaml(apiUrl), { mode: 0o600 });
    const ctx = clientContext({ kubeconfig });
    await apply(ctx, [CRD_DIR], () => {});
    for (const component of components.slice(1)) start(component);
    await waitForHttp(`http://127.0.0.1:${options.gatewayPort}/health`, 30_000);
    if (options.files.length > 0) {
      // The CRDs were just created: discovery must see them before manifests of those kinds resolve.
      await apply(clientContext({ kubeconfig }), options.files, log);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { gatewayUrl: `http://127.0.0.1:${options.gatewayPort}`, gatewayTlsUrl: `https://127.0.0.1:${gatewayTlsPort}`, kubeconfig, home, stop };
}
