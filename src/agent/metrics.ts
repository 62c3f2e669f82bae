// The node agent's Prometheus series under the kubelet's names (and kube-state-metrics' for restarts, so the
// KubePodCrashLooping alert reads ours), from a private prom-client registry with the default process metrics,
// served on GET /metrics of the agent's endpoint (usage.ts) beside /stats/summary, as the kubelet serves both.
//
//   kubelet_running_pods                                  pods with a running container (at scrape time)
//   kubelet_running_containers{container_state}           running | exited (at scrape time)
//   kubelet_pod_start_duration_seconds                    histogram: pod first seen → all its containers running
//   kubelet_pod_worker_duration_seconds{operation}        histogram: one sync of a pod (create | update | sync)
//   prober_probe_total{probe_type,result,container,pod,namespace}   Readiness | Liveness | Startup;
//                                                         successful | failed | unknown
//   kubelet_started_containers_total{container_type}      container | init_container
//   kubelet_started_containers_errors_total{container_type,code}   a start that failed (code Unknown, as a
//                                                         runtime's gRPC code; present at 0 from the start)
//   kube_pod_container_status_restarts_total{namespace,pod,container}   the restartCount in each pod's status (its
//                                                         containers; init containers are not counted, as there)
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ProbeKind } from './probe.ts';

/** The kubelet's pod start buckets (pkg/kubelet/metrics PodStartDuration). */
export const POD_START_BUCKETS = [0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600];
/** prometheus.DefBuckets, the kubelet's pod worker buckets. */
export const POD_WORKER_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type ContainerType = 'container' | 'init_container';
export type PodWorkerOperation = 'create' | 'update' | 'sync';

/** A container as the agent holds it, for the scrape-time series. */
export interface ContainerView {
  name: string;
  /** An init container (sidecars included): kube-state-metrics counts their restarts under another name. */
  init: boolean;
  /** `exited`: terminated, or waiting to restart after exiting (CrashLoopBackOff); `waiting`: never ran yet. */
  state: 'running' | 'exited' | 'waiting';
  restartCount: number;
}

export interface PodView {
  namespace: string;
  name: string;
  containers: ContainerView[];
}

const PROBE_TYPE: Record<ProbeKind, string> = { readiness: 'Readiness', liveness: 'Liveness', startup: 'Startup' };

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly podStart: Histogram<string>;
  private readonly podWorker: Histogram<string>;
  private readonly probes: Counter<string>;
  private readonly started: Counter<string>;
  private readonly startErrors: Counter<string>;

  /** `pods` lists the pods this agent runs now, read at each scrape. */
  constructor(pods: () => PodView[], options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'kubelet_running_pods',
      help: 'Number of pods that have a running pod sandbox',
      registers,
      collect() {
        this.set(pods().filter((p) => p.containers.some((c) => c.state === 'running')).length);
      },
    });
    new Gauge({
      name: 'kubelet_running_containers',
      help: 'Number of containers currently running',
      labelNames: ['container_state'],
      registers,
      collect() {
        const counts = { running: 0, exited: 0 };
        for (const p of pods()) for (const c of p.containers) if (c.state !== 'waiting') counts[c.state]++;
        for (const [state, n] of Object.entries(counts)) this.labels(state).set(n);
      },
    });
    new Counter({
      name: 'kube_pod_container_status_restarts_total',
      help: 'The number of container restarts per container (as kube-state-metrics reports it, from the pod status this agent writes).',
      labelNames: ['namespace', 'pod', 'container'],
      registers,
      collect() {
        this.reset();
        for (const p of pods()) for (const c of p.containers) if (!c.init) this.labels(p.namespace, p.name, c.name).inc(c.restartCount);
      },
    });
    this.podStart = new Histogram({ name: 'kubelet_pod_start_duration_seconds', help: 'Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run', buckets: POD_START_BUCKETS, registers });
    this.podWorker = new Histogram({ name: 'kubelet_pod_worker_duration_seconds', help: 'Duration in seconds to sync a single pod. Broken down by operation type: create, update, or sync', labelNames: ['operation'], buckets: POD_WORKER_BUCKETS, registers });
    this.probes = new Counter({ name: 'prober_probe_total', help: 'Cumulative number of a liveness, readiness or startup probe for a container by result.', labelNames: ['probe_type', 'result', 'container', 'pod', 'namespace'], registers });
    this.started = new Counter({ name: 'kubelet_started_containers_total', help: 'Cumulative number of containers started', labelNames: ['container_type'], registers });
    this.startErrors = new Counter({ name: 'kubelet_started_containers_errors_total', help: 'Cumulative number of errors when starting containers', labelNames: ['container_type', 'code'], registers });
    for (const type of ['container', 'init_container']) {
      this.started.labels(type).inc(0);
      this.startErrors.labels(type, 'Unknown').inc(0);
    }
  }

  podStarted(seconds: number): void {
    this.podStart.observe(seconds);
  }

  podSynced(operation: PodWorkerOperation, seconds: number): void {
    this.podWorker.labels(operation).observe(seconds);
  }

  probed(kind: ProbeKind, ok: boolean | undefined, pod: { namespace: string; name: string }, container: string): void {
    this.probes.labels(PROBE_TYPE[kind], ok === undefined ? 'unknown' : ok ? 'successful' : 'failed', container, pod.name, pod.namespace).inc();
  }

  containerStarted(type: ContainerType): void {
    this.started.labels(type).inc();
  }

  containerStartFailed(type: ContainerType, code = 'Unknown'): void {
    this.startErrors.labels(type, code).inc();
  }
}
