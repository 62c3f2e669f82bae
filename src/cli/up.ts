// `matrixinfer up`: the whole platform on this machine in one process tree. Each component runs as its own
// child process (as it would in its own pod), talks only to the API server, and is restarted if it dies.
// The supervisor itself stays light (it imports no Kubernetes client): manifests are applied by a short-lived
// `matrixinfer apply` child, and the children run with a small V8 young generation and a shared compile cache
// (bench/footprint.ts measures what that saves).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync, closeSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { localKubeconfigPath, loopbackKubeconfigYaml, matrixinferHome } from '../kube/home.ts';
import { endpointsDocument, endpointsPath, removeEndpoints, writeEndpoints } from './endpoints.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const CRD_DIR = fileURLToPath(new URL('../../deploy/crds/', import.meta.url));
/**
 * Node flags of every child. A 2 MiB semi-space (V8's default grows to 16) keeps a process from holding tens of
 * MiB of young generation it touched once while loading its modules; scavenges stay short either way.
 */
const NODE_FLAGS = ['--disable-warning=ExperimentalWarning', '--max-semi-space-size=2'];
/**
 * The gateway's young generation: the request path allocates per request, and a 2 MiB semi-space made it scavenge
 * so often that it spent about 40 % more CPU per request (overhead bench, small requests at 64 concurrent, mean of
 * 4 runs: 91 µs against 65 µs with V8's default and 70 µs at 4 MiB). 4 MiB costs 20 MiB less resident than the
 * default (gateway 161 against 182 MiB at rest).
 */
const GATEWAY_SEMI_SPACE_MIB = 4;
/**
 * The controller manager's metrics port: after the gateway's 8080 (HTTP, with the gateway's own /metrics) and 8081
 * (gRPC). Unlike the ports clients are configured with (API server, gateway) it only has to be found, and `up`
 * prints it: when taken, a free port is used instead.
 */
export const DEFAULT_METRICS_PORT = 8082;
/** The dashboard's port (the controller manager serves it); found like the metrics port. */
export const DEFAULT_DASHBOARD_PORT = 8090;
/** The gateway's gRPC port (the Open Inference Protocol's GRPCInferenceService; 8081 as in KServe's examples). */
export const DEFAULT_GRPC_PORT = 8081;

export interface UpOptions {
  files: string[];
  home?: string;
  gatewayPort: number;
  /** The gateway's HTTPS listener (ModelServers with tls.enabled); default 8443. */
  gatewayTlsPort?: number;
  /** The gateway's gRPC listener (cleartext and TLS); default DEFAULT_GRPC_PORT. */
  gatewayGrpcPort?: number;
  apiserverPort: number;
  /**
   * The controller manager's GET /metrics port (on 127.0.0.1). Default: DEFAULT_METRICS_PORT, or a free port when
   * something holds that one (an explicit port in use is an error, as for the others).
   */
  controllerManagerMetricsPort?: number;
  /** The web dashboard's port (on 127.0.0.1). Default: DEFAULT_DASHBOARD_PORT, or a free port when that one is taken. */
  dashboardPort?: number;
  /**
   * The node agent's /metrics and /stats/summary port (on 127.0.0.1). Default: a free port, fixed for the agent's
   * restarts (not the kubelet's 10250: two platforms starting at once would both take it); endpoints.json names it.
   */
  agentPort?: number;
  /** Return once the platform is up instead of running until a signal (used by tests). */
  log?: (line: string) => void;
}

interface Component {
  name: string;
  args: string[];
  /** Node flags after NODE_FLAGS (later flags win). */
  nodeFlags?: string[];
  child?: ChildProcess;
  restarts: number;
  stopping: boolean;
}

/** A port free on 127.0.0.1 now (the kernel's choice). */
async function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** Status of a GET, or 0 when nothing answers. node:http rather than fetch: fetch would load undici (≈ 17 MiB). */
function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const request = httpGet(url, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.setTimeout(2000, () => request.destroy());
    request.on('error', () => resolve(0));
  });
}

async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await httpStatus(url);
    if (status >= 200 && status < 300) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${url}`);
    await sleep(100);
  }
}

/** `matrixinfer apply -f <files>` as a child process; its output lines go to `out`, its error message is thrown. */
async function applyInChild(files: string[], kubeconfig: string, env: NodeJS.ProcessEnv, out: (line: string) => void): Promise<void> {
  const stdin = files.includes('-') ? 'inherit' : 'ignore';
  const child = spawn(process.execPath, [...NODE_FLAGS, MAIN, 'apply', '--kubeconfig', kubeconfig, '-f', ...files], { env, stdio: [stdin, 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    const lines = stdout.split('\n');
    stdout = lines.pop()!;
    for (const line of lines) out(line);
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (stdout) out(stdout);
  if (code !== 0) throw new Error(stderr.trim().replace(/^error: /, '') || `matrixinfer apply exited with ${code}`);
}

export interface RunningPlatform {
  gatewayUrl: string;
  gatewayTlsUrl: string;
  /** host:port of the gateway's gRPC listener, as gRPC clients take it. */
  gatewayGrpcAddress: string;
  /** The controller manager's Prometheus metrics. */
  metricsUrl: string;
  /** `$MATRIXINFER_HOME/endpoints.json`: every component's URLs (endpoints.ts). */
  endpointsFile: string;
  /** The web dashboard (served by the controller manager). */
  dashboardUrl: string;
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
  const gatewayGrpcPort = options.gatewayGrpcPort ?? DEFAULT_GRPC_PORT;
  const ports: [number, string, string][] = [
    [options.apiserverPort, 'API server', 'apiserver-port'],
    [options.gatewayPort, 'gateway', 'gateway-port'],
    [gatewayTlsPort, 'gateway (HTTPS)', 'gateway-tls-port'],
    [gatewayGrpcPort, 'gateway (gRPC)', 'gateway-grpc-port'],
  ];
  if (options.controllerManagerMetricsPort !== undefined) ports.push([options.controllerManagerMetricsPort, 'controller manager metrics', 'controller-manager-metrics-port']);
  if (options.dashboardPort !== undefined) ports.push([options.dashboardPort, 'dashboard', 'dashboard-port']);
  if (options.agentPort !== undefined) ports.push([options.agentPort, 'node agent', 'agent-port']);
  for (const [port, what, flag] of ports) {
    if (!(await portFree(port))) throw new Error(`port ${port} for the ${what} is in use: is MatrixInfer already running? (choose another with --${flag})`);
  }
  const metricsPort = options.controllerManagerMetricsPort ?? ((await portFree(DEFAULT_METRICS_PORT)) ? DEFAULT_METRICS_PORT : await anyFreePort());
  const dashboardPort = options.dashboardPort ?? ((await portFree(DEFAULT_DASHBOARD_PORT)) ? DEFAULT_DASHBOARD_PORT : await anyFreePort());
  const agentPort = options.agentPort ?? (await anyFreePort());
  const endpoints = endpointsDocument({
    host: '127.0.0.1',
    apiserver: options.apiserverPort,
    controllerManagerMetrics: metricsPort,
    dashboard: dashboardPort,
    agent: agentPort,
    agentStats: process.platform === 'linux',
    gateway: options.gatewayPort,
    gatewayTls: gatewayTlsPort,
    gatewayGrpc: gatewayGrpcPort,
  });
  const apiUrl = `http://127.0.0.1:${options.apiserverPort}`;
  const kubeconfig = localKubeconfigPath(home);
  // The compile cache keeps type-stripped sources: a child that hits it never loads the TypeScript stripper
  // (about 17 MiB per process). Engines inherit it through the node agent's environment, as they do the OTEL_*
  // variables: each component, engines included, exports its spans as matrixinfer-<component> unless OTEL_SERVICE_NAME
  // names one service for all (kube/tracing.ts).
  const env = { ...process.env, MATRIXINFER_HOME: home, NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE || join(home, 'cache', 'node') };

  const components: Component[] = [
    { name: 'apiserver', args: ['apiserver', '--data-dir', join(home, 'data'), '--port', String(options.apiserverPort)], restarts: 0, stopping: false },
    // The gateway is a process here, not a pod: ModelServer Services lead to its loopback address.
    {
      name: 'controller-manager',
      args: [
        'controller-manager',
        '--kubeconfig',
        kubeconfig,
        '--gateway-address',
        '127.0.0.1',
        '--gateway-port',
        String(options.gatewayPort),
        '--gateway-tls-port',
        String(gatewayTlsPort),
        '--metrics-host',
        '127.0.0.1',
        '--metrics-port',
        String(metricsPort),
        '--dashboard-port',
        String(dashboardPort),
      ],
      restarts: 0,
      stopping: false,
    },
    { name: 'agent', args: ['agent', '--kubeconfig', kubeconfig, '--port', String(agentPort)], restarts: 0, stopping: false },
    {
      name: 'gateway',
      nodeFlags: [`--max-semi-space-size=${GATEWAY_SEMI_SPACE_MIB}`],
      args: ['gateway', '--kubeconfig', kubeconfig, '--port', String(options.gatewayPort), '--tls-port', String(gatewayTlsPort), '--grpc-port', String(gatewayGrpcPort)],
      restarts: 0,
      stopping: false,
    },
  ];

  const start = (component: Component): void => {
    const logFd = openSync(join(logDir, `${component.name}.log`), 'a');
    const child = spawn(process.execPath, [...NODE_FLAGS, ...(component.nodeFlags ?? []), MAIN, ...component.args], { env, stdio: ['ignore', logFd, logFd] });
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
    removeEndpoints(home);
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
    await applyInChild([CRD_DIR], kubeconfig, env, () => {});
    for (const component of components.slice(1)) start(component);
    await waitForHttp(`http://127.0.0.1:${options.gatewayPort}/health`, 30_000);
    await Promise.all([endpoints['controller-manager'].metrics, endpoints.agent.metrics].map((url) => waitForHttp(url, 30_000)));
    writeEndpoints(home, endpoints);
    if (options.files.length > 0) {
      // The CRDs were just created: discovery must see them before manifests of those kinds resolve.
      await applyInChild(options.files, kubeconfig, env, log);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    gatewayUrl: `http://127.0.0.1:${options.gatewayPort}`,
    gatewayTlsUrl: `https://127.0.0.1:${gatewayTlsPort}`,
    gatewayGrpcAddress: `127.0.0.1:${gatewayGrpcPort}`,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    endpointsFile: endpointsPath(home),
    dashboardUrl: endpoints.dashboard.url,
    kubeconfig,
    home,
    stop,
  };
}
