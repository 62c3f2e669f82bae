// The local node agent: the kubelet (and, in local mode, the scheduler) for one node, as a client of the Kubernetes
// API through @kubernetes/client-node only, so it runs the same against the embedded API server and a real
// kube-apiserver.
//
//   - registers the Node and keeps its Lease and Ready condition fresh (node.ts);
//   - binds Pods without spec.nodeName to this node with pods/binding (bindUnscheduled, local mode);
//   - watches Pods with spec.nodeName=<node> (the shared informer, kube/informer.ts; every relist is a resync) and
//     runs each as processes on its own loopback IP (pod-worker.ts);
//   - measures its pods' CPU and memory from /proc and serves them on /stats/summary (usage.ts; Linux only), which
//     the embedded API server serves as metrics.k8s.io (`kubectl top`);
//   - serves the kubelet's Prometheus series on /metrics of the same endpoint (metrics.ts; every platform).
//
// Files under $MATRIXINFER_HOME: pods/<ns>_<pod>/ (working directory and .agent/ pid files) and
// logs/pods/<ns>_<pod>_<container>.log (container stdout+stderr, read by the API server's pods/log).
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { LOCAL_NODE_NAME } from '../api/labels.ts';
import { NODE_STATS_ENDPOINT_ANNOTATION, NODE_STATS_PATH } from '../api/node-stats.ts';
import { KubeClient, PODS } from '../kube/client.ts';
import { matrixinferHome } from '../kube/config.ts';
import { type InformerOptions, SharedInformer } from '../kube/informer.ts';
import { lineLogger } from '../kube/log.ts';
import { defaultEngineCommand, defaultMatrixinferCommand, localHostInfo } from './host.ts';
import { IpAllocator } from './ip-alloc.ts';
import { errCode, errMessage, retryable } from './kube.ts';
import { type Logger, stderrLogger } from './log.ts';
import { AgentMetrics, type PodWorkerOperation } from './metrics.ts';
import { NODE_IP, NodeHeartbeat } from './node.ts';
import { podDirName, PodWorker, type WorkerContext } from './pod-worker.ts';
import { killStaleProcesses } from './process.ts';
import { type HostInfo, LOCAL_ENGINE_STARTUP_SECONDS, withEngineStartup } from './runtime-map.ts';
import type { Pod } from './types.ts';
import { startStatsEndpoint, type StatsEndpoint, usageSupported } from './usage.ts';

export interface NodeAgentOptions {
  kubeConfig: KubeConfig;
  /**
   * The kubeconfig file the agent was given: the download step (a `matrixinfer download` container) gets it as
   * KUBECONFIG to report progress on its Pod, since no service account token is mounted into host processes.
   */
  kubeconfigPath?: string;
  /** Default `matrixinfer-local`. */
  nodeName?: string;
  /** Default $MATRIXINFER_HOME (~/.matrixinfer). */
  home?: string;
  /** Bind Pods that have no spec.nodeName to this node (local mode has no scheduler). Default true. */
  bindUnscheduled?: boolean;
  /** Command line of the simulated engine from its CLI arguments. Default `<node> <repo>/src/cli/main.ts engine …`. */
  engineCommand?: (args: string[]) => { command: string; args: string[] };
  /**
   * Simulated model load of the simulated engines this agent runs (`--startup-seconds`, unless a pod's args set it):
   * seconds, or `profile` for the engine profile's estimated cold start (about a minute for the 8B). Default
   * LOCAL_ENGINE_STARTUP_SECONDS (2), so a local quickstart serves within seconds. Real vLLM/SGLang are not affected.
   */
  engineStartupSeconds?: number | 'profile';
  /** Command line of `matrixinfer <args>` (gateway and controller-manager images). Default `<node> <repo>/src/cli/main.ts …`. */
  matrixinferCommand?: (args: string[]) => { command: string; args: string[] };
  /**
   * The node's address (its InternalIP, pods' hostIP, the podIP of hostNetwork pods). Default 127.0.0.1; an address
   * of this machine that is not loopback lets a hostNetwork pod's IP stand in an EndpointSlice (real API servers
   * refuse 127.0.0.0/8 there).
   */
  nodeIP?: string;
  /** Upper bound on termination grace periods, seconds (tests). Default none: a pod's own grace period is honoured, as the kubelet does. */
  maxGracePeriodSeconds?: number;
  /** Seconds between two samples of the pods' CPU and memory, the window of their metrics.k8s.io usage. Default 10. */
  metricsWindowSeconds?: number;
  /** Port of the agent's endpoint (/metrics, and /stats/summary where supported), on nodeIP. Default 0: a free port. */
  port?: number;
  /** Keep the kubelet's metrics (default true); `process: false` leaves out the process metrics (tests). */
  metrics?: boolean | { process: boolean };
  /** Host capabilities for the runtime map (tests). */
  host?: HostInfo;
  log?: Logger;
}

export interface NodeAgent {
  nodeName: string;
  /** Its endpoint's URLs: `metrics` (unless metrics are off) and `stats` (where usage is measured). */
  urls: { metrics?: string; stats?: string };
  stop(): Promise<void>;
  /** Pod IP and running container pids of a pod this agent runs (diagnostics and tests). */
  inspect(namespace: string, name: string): { uid: string; podIP: string | undefined; pids: Record<string, number | undefined> } | undefined;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export async function startNodeAgent(opts: NodeAgentOptions): Promise<NodeAgent> {
  const nodeName = opts.nodeName ?? LOCAL_NODE_NAME;
  const home = opts.home ?? matrixinferHome();
  const log = opts.log ?? stderrLogger(nodeName);
  const podsDir = join(home, 'pods');
  const logsDir = join(home, 'logs', 'pods');
  mkdirSync(podsDir, { recursive: true });
  mkdirSync(logsDir, { recursive: true });

  const kc = opts.kubeConfig;
  const core = kc.makeApiClient(CoreV1Api);
  const coord = kc.makeApiClient(CoordinationV1Api);

  // Whatever an earlier agent left running holds ports on the pod IPs: kill it before anything starts.
  const killed = await killStaleProcesses(podsDir, nodeName);
  if (killed > 0) log.info(`killed ${killed} process group(s) left by a previous agent`);

  const nodeIP = opts.nodeIP ?? NODE_IP;
  const workers = new Map<string, PodWorker>();
  const metrics = opts.metrics === false
    ? undefined
    : new AgentMetrics(() => [...workers.values()].filter((w) => w.alive).map((w) => ({ namespace: w.namespace, name: w.name, containers: w.views() })), { processMetrics: typeof opts.metrics !== 'object' || opts.metrics.process });
  // Before registering: the Node names the endpoint (or drops the one an earlier agent named, where /proc is missing).
  const sampling = usageSupported();
  let endpoint: StatsEndpoint | undefined;
  if (sampling || metrics) {
    endpoint = await startStatsEndpoint({
      nodeName,
      host: nodeIP,
      ...(opts.port !== undefined ? { port: opts.port } : {}),
      windowMs: (opts.metricsWindowSeconds ?? 10) * 1000,
      ...(sampling
        ? {
            pods: () => [...workers.values()].filter((w) => w.alive).map((w) => ({
              namespace: w.namespace,
              name: w.name,
              uid: w.uid,
              containers: Object.entries(w.pids()).flatMap(([name, pid]) => (pid === undefined ? [] : [{ name, pid }])),
            })),
          }
        : {}),
      ...(metrics ? { metrics: metrics.registry } : {}),
      onError: (err) => log.warn(`sampling pod usage: ${(err as Error).message}`),
    });
  }
  const stats = sampling ? endpoint : undefined;
  const urls = { ...(endpoint && metrics ? { metrics: `${endpoint.url}/metrics` } : {}), ...(stats ? { stats: `${stats.url}${NODE_STATS_PATH}` } : {}) };
  const heartbeat = new NodeHeartbeat(core, coord, nodeName, log, nodeIP, { [NODE_STATS_ENDPOINT_ANNOTATION]: stats?.url ?? null });
  try {
    await heartbeat.register();
    await heartbeat.start();
  } catch (err) {
    await endpoint?.close();
    throw err;
  }

  const removals = new Set<Promise<void>>();
  const track = (p: Promise<void>) => {
    removals.add(p);
    void p.finally(() => removals.delete(p));
  };
  const ctx: WorkerContext = {
    nodeName,
    nodeIP,
    podsDir,
    logsDir,
    home,
    ...(opts.kubeconfigPath ? { kubeconfigPath: opts.kubeconfigPath } : {}),
    core,
    alloc: new IpAllocator(),
    host: opts.host ?? localHostInfo(),
    engineCommand: withEngineStartup(opts.engineCommand ?? defaultEngineCommand, opts.engineStartupSeconds ?? LOCAL_ENGINE_STARTUP_SECONDS),
    matrixinferCommand: opts.matrixinferCommand ?? defaultMatrixinferCommand,
    log,
    maxGraceMs: opts.maxGracePeriodSeconds === undefined ? Number.POSITIVE_INFINITY : opts.maxGracePeriodSeconds * 1000,
    nameInUse: (ns, name, exceptUid) =>
      [...workers.values()].some((w) => w.uid !== exceptUid && w.alive && w.namespace === ns && w.name === name),
    onGone: (uid) => workers.delete(uid),
    ...(metrics ? { metrics } : {}),
  };

  let stopped = false;
  /** One sync of a pod, timed as the kubelet's pod worker (create: first seen; update: an event; sync: a relist). */
  const handlePod = (pod: Pod, relist = false) => {
    if (!metrics) return syncPod(pod);
    const started = performance.now();
    const operation: PodWorkerOperation = relist ? 'sync' : workers.has(pod.metadata?.uid) ? 'update' : 'create';
    syncPod(pod);
    metrics.podSynced(operation, (performance.now() - started) / 1000);
  };
  const syncPod = (pod: Pod) => {
    const uid = pod.metadata?.uid;
    if (!uid || stopped) return;
    const existing = workers.get(uid);
    if (pod.spec?.nodeName !== nodeName) {
      if (existing) track(existing.remove());
      return;
    }
    if (existing) {
      existing.sync(pod);
      return;
    }
    const w = new PodWorker(pod, ctx);
    workers.set(uid, w);
    try {
      w.sync(pod);
    } catch (err) {
      log.error(`pod ${pod.metadata.namespace}/${pod.metadata.name}: ${(err as Error).stack ?? String(err)}`, { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name });
    }
  };

  // The pods bound to this node, through the shared informer (kube/informer.ts). Every complete (re)list is a resync:
  // each listed pod is synced again and a worker whose pod is not in the list is removed.
  const client = new KubeClient(kc);
  const pods = new SharedInformer<Pod>(client, PODS, { fieldSelector: `spec.nodeName=${nodeName}`, ...informerOptions(log, 'informer') });
  pods.addHandler((type, pod) => {
    if (type !== 'delete') return handlePod(pod);
    const w = workers.get(pod.metadata?.uid);
    if (w) track(w.remove());
  });
  let firstList = true;
  pods.addListHandler((items) => {
    const mine = items.filter((p) => p.spec?.nodeName === nodeName); // a server that ignores the field selector
    const seen = new Set(mine.map((p) => p.metadata.uid));
    for (const p of mine) handlePod(p, workers.has(p.metadata.uid));
    for (const [uid, w] of workers) if (!seen.has(uid)) track(w.remove());
    if (firstList) {
      firstList = false;
      collectGarbage(podsDir, logsDir, mine, log);
    }
  });
  pods.start();

  const binder = opts.bindUnscheduled === false ? undefined : startBinder(client, core, nodeName, log);

  await Promise.all([pods.waitForSync(), binder?.synced]);
  log.info(`node agent for ${nodeName} running (home ${home})`);

  let stopping: Promise<void> | undefined;
  return {
    nodeName,
    urls,
    inspect(namespace, name) {
      for (const w of workers.values()) {
        if (w.namespace === namespace && w.name === name && w.alive) return { uid: w.uid, podIP: w.podIP, pids: w.pids() };
      }
      return undefined;
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        pods.stop();
        binder?.stop();
        heartbeat.stop();
        await endpoint?.close();
        await Promise.all([...workers.values()].map((w) => w.shutdown(Math.min(5000, ctx.maxGraceMs))));
        await Promise.all([...removals]);
        workers.clear();
        log.info('node agent stopped');
      })();
      return stopping;
    },
  };
}

/** Pod directories and log files of pods that are no longer bound to this node (deleted while the agent was down). */
function collectGarbage(podsDir: string, logsDir: string, pods: Pod[], log: Logger): void {
  const live = new Set(pods.map((p) => podDirName(p.metadata.namespace, p.metadata.name)));
  try {
    for (const d of readdirSync(podsDir)) {
      if (!live.has(d) && /^[a-z0-9-]+_[a-z0-9.-]+$/.test(d)) rmSync(join(podsDir, d), { recursive: true, force: true });
    }
    for (const f of readdirSync(logsDir)) {
      const m = /^([a-z0-9-]+)_([a-z0-9.-]+)_([a-z0-9-]+)\.log$/.exec(f);
      if (m && !live.has(`${m[1]}_${m[2]}`)) rmSync(join(logsDir, f), { force: true });
    }
  } catch (err) {
    log.warn(`cleaning up old pod files: ${(err as Error).message}`);
  }
}

/** Options of the agent's pod informers: back-off capped at 5 s (a local API server restarts quickly), the agent's log. */
function informerOptions(log: Logger, name: string): InformerOptions {
  return { maxBackoffMs: 5000, logger: lineLogger(name, (level, line) => log[level](line)) };
}

/** Local-mode scheduler: every Pod without spec.nodeName is bound to this node. */
function startBinder(client: KubeClient, core: CoreV1Api, nodeName: string, log: Logger): { synced: Promise<void>; stop(): void } {
  const inflight = new Set<string>();
  const retries = new Map<string, NodeJS.Timeout>();
  let patchFallback = false;
  let stopped = false;

  const bind = async (pod: Pod): Promise<void> => {
    const { name, namespace, uid } = pod.metadata;
    if (inflight.has(uid) || stopped) return;
    inflight.add(uid);
    try {
      if (!patchFallback) {
        try {
          await core.createNamespacedPodBinding({
            name,
            namespace,
            body: {
              apiVersion: 'v1',
              kind: 'Binding',
              metadata: { name, namespace, uid },
              target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
            },
          });
          log.info(`bound pod ${namespace}/${name} to ${nodeName}`, { kind: 'Pod', namespace, name });
          return;
        } catch (err) {
          const code = errCode(err);
          if (code !== 404 && code !== 405) throw err;
        }
      }
      // No pods/binding on this server: set spec.nodeName directly.
      try {
        await core.patchNamespacedPod({ name, namespace, body: { metadata: { uid }, spec: { nodeName } } }, mergePatch);
        if (!patchFallback) log.info('pods/binding unavailable; binding pods by patching spec.nodeName');
        patchFallback = true;
        log.info(`bound pod ${namespace}/${name} to ${nodeName} (patch)`, { kind: 'Pod', namespace, name });
      } catch (err) {
        if (errCode(err) !== 404) throw err;
      }
    } catch (err) {
      const code = errCode(err);
      if (code === 409) return; // already bound, or a different pod now
      log.warn(`binding pod ${namespace}/${name}: ${errMessage(err)}`, { kind: 'Pod', namespace, name });
      if (retryable(err) && !stopped && !retries.has(uid)) {
        retries.set(uid, setTimeout(() => {
          retries.delete(uid);
          void bind(pod);
        }, 1000));
      }
    } finally {
      inflight.delete(uid);
    }
  };

  const consider = (pod: Pod) => {
    if (!pod.metadata?.uid || pod.spec?.nodeName) return;
    if (pod.metadata.deletionTimestamp) return;
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
    void bind(pod);
  };

  const unscheduled = new SharedInformer<Pod>(client, PODS, { fieldSelector: 'spec.nodeName=', ...informerOptions(log, 'binder informer') });
  unscheduled.addHandler((type, pod) => {
    if (type !== 'delete') consider(pod);
  });
  // A relist considers every unscheduled pod again, changed or not.
  unscheduled.addListHandler((items) => items.forEach(consider));
  unscheduled.start();
  return {
    synced: unscheduled.waitForSync(),
    stop() {
      stopped = true;
      for (const t of retries.values()) clearTimeout(t);
      unscheduled.stop();
    },
  };
}
