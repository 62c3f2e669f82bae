// One pod on this node: its IP, its containers' processes, probes and restarts, its status, its deletion.
//
// Life cycle: `sync(pod)` on every watch event. The first one allocates the IP and starts the containers (init
// containers first, one at a time). A `deletionTimestamp` makes it terminate: not ready, SIGTERM, wait the grace
// period (capped), SIGKILL, DELETE with gracePeriodSeconds 0. `remove()` (the pod vanished from the API) kills at
// once. `shutdown()` (agent stopping) kills without touching the API.
//
// On a pod this agent has not run yet but that has container statuses (a previous agent ran it), containers that
// were running count as lost (exit 137) and restart per restartPolicy, incrementing restartCount; containers
// waiting in CrashLoopBackOff start at once; terminated ones stay terminated unless the policy restarts them.
//
// With tracing on (kube/tracing.ts), starting a container, writing the pod's status and terminating the pod are
// spans (`start container`, `write pod status`, `terminate pod`), and their API requests carry the span's context.
// With metrics (metrics.ts), it reports container starts and start errors, each probe's result, and the pod's start
// duration (first seen → every main container running); `views()` gives the scrape-time state of its containers.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Backoff } from './backoff.ts';
import type { IpAllocator } from './ip-alloc.ts';
import { errCode, errMessage, retryable, sleep } from './kube.ts';
import type { Logger } from './log.ts';
import type { AgentMetrics, ContainerView } from './metrics.ts';
import { buildPodStatus, podPhase, type PodSnapshot, statusPatch } from './pod-status.ts';
import { type ProbeKind, ProbeRunner } from './probe.ts';
import { type ContainerProcess, type ExitInfo, pidFilePath, startProcess } from './process.ts';
import { expandVars, type HostInfo, mapPath, mountPaths, type PathMapping, planContainer } from './runtime-map.ts';
import { inSpan, tracing } from '../kube/tracing.ts';
import {
  type Container,
  type ContainerState,
  type ContainerStateTerminated,
  type ContainerStatus,
  type Pod,
  type PodStatus,
  type RestartPolicy,
  rfc3339,
} from './types.ts';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/** The agent's spans each start a trace: a watch event, an exit or a probe started the work, not the caller. */
const ROOT = { root: true };

export interface WorkerContext {
  nodeName: string;
  nodeIP: string;
  podsDir: string;
  logsDir: string;
  /** $MATRIXINFER_HOME: hostPath volumes under /var/lib/matrixinfer/ live here (runtime-map.ts mountPaths). */
  home: string;
  /** Given to the download step as KUBECONFIG (agent.ts). */
  kubeconfigPath?: string;
  core: CoreV1Api;
  alloc: IpAllocator;
  host: HostInfo;
  engineCommand: (args: string[]) => { command: string; args: string[] };
  matrixinferCommand: (args: string[]) => { command: string; args: string[] };
  log: Logger;
  /** Upper bound on any termination grace period (local: 10 s). */
  maxGraceMs: number;
  /** Another live worker uses the same namespace/name (a recreated pod): do not remove shared paths. */
  nameInUse: (namespace: string, name: string, exceptUid: string) => boolean;
  onGone: (uid: string) => void;
  /** The kubelet's series (metrics.ts); none when unset. */
  metrics?: AgentMetrics;
}

const SIGNUM: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGSEGV: 11, SIGABRT: 6, SIGPIPE: 13 };

export function podDirName(namespace: string, name: string): string {
  return `${namespace}_${name}`;
}

/** The log file contract shared with the API server's pods/log: `<logsDir>/<namespace>_<pod>_<container>.log`. */
export function containerLogPath(logsDir: string, namespace: string, pod: string, container: string): string {
  return join(logsDir, `${namespace}_${pod}_${container}.log`);
}

export function shouldRestart(policy: RestartPolicy, exitCode: number): boolean {
  if (policy === 'Always') return true;
  if (policy === 'OnFailure') return exitCode !== 0;
  return false;
}

function fmtDelay(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)}s`;
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}

class ContainerRt {
  readonly spec: Container;
  readonly init: boolean;
  readonly sidecar: boolean;
  restartCount = 0;
  state: ContainerState = { waiting: { reason: 'ContainerCreating' } };
  lastState: ContainerState = {};
  ready = false;
  started = false;
  pendingStart = true;
  starting = false;
  proc: ContainerProcess | undefined;
  containerID: string | undefined;
  gen = 0;
  readonly backoff = new Backoff();
  restartTimer: NodeJS.Timeout | undefined;
  probes: ProbeRunner[] = [];
  killMessage: string | undefined;

  constructor(spec: Container, init: boolean) {
    this.spec = spec;
    this.init = init;
    this.sidecar = init && spec.restartPolicy === 'Always';
  }

  get completed(): boolean {
    return this.state.terminated?.exitCode === 0;
  }

  status(): ContainerStatus {
    const s: ContainerStatus = {
      name: this.spec.name,
      image: this.spec.image ?? '',
      imageID: '',
      ready: this.ready || (this.init && !this.sidecar && this.completed),
      started: this.started,
      restartCount: this.restartCount,
      state: this.state,
      lastState: this.lastState,
    };
    if (this.containerID) s.containerID = this.containerID;
    return s;
  }

  stopProbes(): void {
    for (const p of this.probes) p.stop();
    this.probes = [];
  }

  clearTimer(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
  }
}

type WorkerPhase = 'new' | 'active' | 'done' | 'terminating' | 'gone';

export class PodWorker {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  private pod: Pod;
  private readonly ctx: WorkerContext;
  private phase: WorkerPhase = 'new';
  private ip: string | undefined;
  private startTime: string | undefined;
  private inits: ContainerRt[] = [];
  private mains: ContainerRt[] = [];
  private initialized = false;
  private initFailed = false;
  private lastWritten: PodStatus | undefined;
  private dirty = false;
  private flushing: Promise<void> | undefined;
  private terminating: Promise<void> | undefined;
  /** When this agent first saw the pod, and whether its start duration was recorded. */
  private readonly seenAt = performance.now();
  private startRecorded = false;

  constructor(pod: Pod, ctx: WorkerContext) {
    this.pod = pod;
    this.uid = pod.metadata.uid;
    this.namespace = pod.metadata.namespace;
    this.name = pod.metadata.name;
    this.ctx = ctx;
  }

  get podDir(): string {
    return join(this.ctx.podsDir, podDirName(this.namespace, this.name));
  }

  get podIP(): string | undefined {
    return this.ip;
  }

  get alive(): boolean {
    return this.phase !== 'gone';
  }

  /** Pids of running container processes (tests, diagnostics). */
  pids(): Record<string, number | undefined> {
    const out: Record<string, number | undefined> = {};
    for (const c of [...this.inits, ...this.mains]) if (c.proc?.running()) out[c.spec.name] = c.proc.pid;
    return out;
  }

  /** Its containers now, for the scrape-time series (metrics.ts). */
  views(): ContainerView[] {
    return [...this.inits, ...this.mains].map((c) => ({
      name: c.spec.name,
      init: c.init,
      state: c.state.running ? 'running' : c.state.terminated || c.lastState.terminated ? 'exited' : 'waiting',
      restartCount: c.restartCount,
    }));
  }

  private get restartPolicy(): RestartPolicy {
    return this.pod.spec.restartPolicy ?? 'Always';
  }

  private get label(): string {
    return `${this.namespace}/${this.name}`;
  }

  /** The object a log line concerns: this pod, or one of its containers. */
  private about(container?: string): Record<string, string> {
    const pod = { kind: 'Pod', namespace: this.namespace, name: this.name };
    return container === undefined ? pod : { ...pod, container };
  }

  sync(pod: Pod): void {
    if (this.phase === 'gone') return;
    this.pod = pod;
    if (this.phase === 'new') {
      if (pod.metadata.deletionTimestamp) {
        // Being deleted before it ever ran here: nothing to start, just confirm the deletion.
        this.lastWritten = pod.status ?? {};
        this.phase = 'done';
      } else this.start();
    }
    if (pod.metadata.deletionTimestamp && this.phase !== 'terminating') {
      this.terminating = this.terminate();
    }
  }

  // ---- start and adoption ------------------------------------------------------------------------------------

  private start(): void {
    const status = this.pod.status ?? {};
    this.lastWritten = status;
    if (status.phase === 'Succeeded' || status.phase === 'Failed') {
      this.phase = 'done';
      return;
    }
    this.phase = 'active';
    this.ip = this.pod.spec?.hostNetwork ? this.ctx.nodeIP : this.ctx.alloc.allocate(this.uid, status.podIP);
    this.startTime = status.startTime ?? rfc3339();
    mkdirSync(this.podDir, { recursive: true });
    mkdirSync(this.ctx.logsDir, { recursive: true });
    const prevInit = new Map((status.initContainerStatuses ?? []).map((s) => [s.name, s]));
    const prevMain = new Map((status.containerStatuses ?? []).map((s) => [s.name, s]));
    this.inits = (this.pod.spec.initContainers ?? []).map((c) => this.adopt(new ContainerRt(c, true), prevInit.get(c.name)));
    this.mains = (this.pod.spec.containers ?? []).map((c) => this.adopt(new ContainerRt(c, false), prevMain.get(c.name)));
    if (this.inits.length > 0) {
      for (const c of this.mains) if (c.state.waiting?.reason === 'ContainerCreating') c.state = { waiting: { reason: 'PodInitializing' } };
    }
    this.ctx.log.info(`pod ${this.label} (${this.uid}) starting on ${this.ip}`, this.about());
    // Pending (IP, start time, ContainerCreating) goes out before any process starts, as with the kubelet.
    this.markDirty();
    void this.flush().then(() => this.advance());
  }

  private adopt(c: ContainerRt, prev: ContainerStatus | undefined): ContainerRt {
    if (!prev) return c;
    c.restartCount = prev.restartCount ?? 0;
    if (prev.lastState?.terminated) c.lastState = { terminated: prev.lastState.terminated };
    const st = prev.state ?? {};
    let term: ContainerStateTerminated | undefined;
    if (st.running) {
      term = {
        exitCode: 137,
        reason: 'Error',
        message: 'container process lost: the node agent was restarted',
        finishedAt: rfc3339(),
      };
      if (st.running.startedAt) term.startedAt = st.running.startedAt;
      if (prev.containerID) term.containerID = prev.containerID;
    } else if (st.terminated) term = st.terminated;
    if (!term) return c; // waiting (creating, back-off, not runnable): start now with the same count
    const isRegularInit = c.init && !c.sidecar;
    const restart = isRegularInit ? term.exitCode !== 0 && this.restartPolicy !== 'Never' : c.sidecar || shouldRestart(this.restartPolicy, term.exitCode);
    if (restart) {
      c.restartCount++;
      c.lastState = { terminated: term };
      c.state = { waiting: { reason: 'ContainerCreating' } };
    } else {
      c.state = { terminated: term };
      c.pendingStart = false;
      if (isRegularInit && term.exitCode !== 0) this.initFailed = true;
    }
    return c;
  }

  private advance(): void {
    if (this.phase !== 'active') return;
    let initDone = !this.initFailed;
    if (initDone) {
      for (const c of this.inits) {
        if (c.sidecar) {
          if (c.pendingStart) void this.startContainer(c);
          continue;
        }
        if (c.completed) continue;
        initDone = false;
        if (c.pendingStart) void this.startContainer(c);
        break;
      }
    }
    this.initialized = initDone;
    if (initDone) for (const c of this.mains) if (c.pendingStart) void this.startContainer(c);
    this.markDirty();
    this.checkDone();
  }

  // ---- containers --------------------------------------------------------------------------------------------

  private startContainer(c: ContainerRt): Promise<void> {
    if (tracing() === null || c.starting || c.proc || this.phase !== 'active') return this.runContainer(c);
    return inSpan('start container', { 'k8s.namespace.name': this.namespace, 'k8s.pod.name': this.name, 'k8s.container.name': c.spec.name }, () => this.runContainer(c), ROOT);
  }

  private async runContainer(c: ContainerRt): Promise<void> {
    if (c.starting || c.proc || this.phase !== 'active') return;
    c.pendingStart = false;
    c.starting = true;
    const gen = ++c.gen;
    c.state = { waiting: { reason: 'ContainerCreating' } };
    let env: Record<string, string>;
    try {
      env = await this.containerEnv(c.spec);
    } catch (err) {
      c.starting = false;
      if (gen !== c.gen || this.phase !== 'active') return;
      c.state = { waiting: { reason: 'CreateContainerConfigError', message: (err as Error).message } };
      this.ctx.log.warn(`pod ${this.label} container ${c.spec.name}: ${(err as Error).message}`, this.about(c.spec.name));
      c.restartTimer = setTimeout(() => {
        c.restartTimer = undefined;
        c.pendingStart = true;
        this.advance();
      }, 10_000);
      this.markDirty();
      return;
    }
    c.starting = false;
    if (gen !== c.gen || this.phase !== 'active') return;
    const paths = this.pathsOf(c.spec);
    for (const [k, v] of Object.entries(env)) env[k] = mapPath(v, paths);
    // The simulated engine needs no weights: a download step that cannot fetch them must not keep it from starting.
    if (c.init && this.runsSimulatedEngine()) env.MATRIXINFER_ENGINE_SIMULATED = '1';
    const plan = planContainer(c.spec, {
      podIP: this.ip!,
      host: this.ctx.host,
      engineCommand: this.ctx.engineCommand,
      matrixinferCommand: this.ctx.matrixinferCommand,
      env,
      paths,
    });
    if (plan.runnable && plan.kind === 'download' && this.ctx.kubeconfigPath && env.KUBECONFIG === undefined) env.KUBECONFIG = this.ctx.kubeconfigPath;
    if (!plan.runnable) {
      c.state = { waiting: { reason: plan.reason, message: plan.message } };
      this.ctx.log.warn(`pod ${this.label} container ${c.spec.name}: ${plan.message}`, this.about(c.spec.name));
      this.markDirty();
      return;
    }
    const logPath = containerLogPath(this.ctx.logsDir, this.namespace, this.name, c.spec.name);
    const cmdline = [plan.command, ...plan.args].map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' ');
    this.ctx.log.info(`pod ${this.label} container ${c.spec.name} (${plan.kind}): ${cmdline.length > 300 ? `${cmdline.slice(0, 300)}…` : cmdline}`, this.about(c.spec.name));
    this.ctx.metrics?.containerStarted(c.init ? 'init_container' : 'container');
    const proc = startProcess({
      command: plan.command,
      args: plan.args,
      env: { ...process.env, ...env },
      cwd: this.podDir,
      logPath,
      pidFile: pidFilePath(this.podDir, c.spec.name),
      record: { node: this.ctx.nodeName, podUid: this.uid, container: c.spec.name },
    });
    c.proc = proc;
    c.containerID = proc.pid !== undefined ? `process://${proc.pid}` : undefined;
    c.state = { running: { startedAt: rfc3339(proc.startedAtMs) } };
    c.started = !c.spec.startupProbe;
    c.ready = c.started && !c.spec.readinessProbe;
    if (!c.init || c.sidecar) this.startProbes(c, gen, env);
    void proc.exited.then((info) => this.onExit(c, gen, info));
    if (!this.startRecorded && this.ctx.metrics && this.mains.every((m) => m.state.running)) {
      this.startRecorded = true;
      this.ctx.metrics.podStarted((performance.now() - this.seenAt) / 1000);
    }
    this.markDirty();
  }

  private startProbes(c: ContainerRt, gen: number, env: Record<string, string>): void {
    const ctx = { podIP: this.ip!, ports: c.spec.ports ?? [], env: { ...process.env, ...env }, cwd: this.podDir };
    const metrics = this.ctx.metrics;
    const observe = metrics ? (kind: ProbeKind) => (ok: boolean | undefined) => metrics.probed(kind, ok, this, c.spec.name) : () => undefined;
    const startedAtMs = c.proc?.startedAtMs ?? Date.now();
    const current = () => gen === c.gen && c.proc !== undefined && this.phase === 'active';
    const startMain = () => {
      if (c.spec.livenessProbe) {
        const r = new ProbeRunner({
          kind: 'liveness',
          observe: observe('liveness'),
          probe: c.spec.livenessProbe,
          ctx,
          startedAtMs,
          onResult: (ok, msg) => {
            if (current() && !ok) this.killContainer(c, `Liveness probe failed: ${msg}`);
          },
        });
        c.probes.push(r);
        r.start();
      }
      if (c.spec.readinessProbe) {
        const r = new ProbeRunner({
          kind: 'readiness',
          observe: observe('readiness'),
          probe: c.spec.readinessProbe,
          ctx,
          startedAtMs,
          onResult: (ok, msg) => {
            if (!current()) return;
            c.ready = ok;
            if (!ok) this.ctx.log.info(`pod ${this.label} container ${c.spec.name} not ready: ${msg}`, this.about(c.spec.name));
            this.markDirty();
          },
        });
        c.probes.push(r);
        r.start();
      }
    };
    if (c.spec.startupProbe) {
      const r = new ProbeRunner({
        kind: 'startup',
        observe: observe('startup'),
        probe: c.spec.startupProbe,
        ctx,
        startedAtMs,
        onResult: (ok, msg) => {
          if (!current()) return;
          if (ok) {
            c.started = true;
            c.ready = !c.spec.readinessProbe;
            startMain();
            this.markDirty();
          } else this.killContainer(c, `Startup probe failed: ${msg}`);
        },
      });
      c.probes.push(r);
      r.start();
    } else startMain();
  }

  private graceMs(): number {
    const secs = this.pod.metadata.deletionGracePeriodSeconds ?? this.pod.spec.terminationGracePeriodSeconds ?? 30;
    return Math.min(Math.max(0, secs) * 1000, this.ctx.maxGraceMs);
  }

  private killContainer(c: ContainerRt, message: string): void {
    if (!c.proc) return;
    this.ctx.log.info(`pod ${this.label} container ${c.spec.name}: ${message}; restarting`, this.about(c.spec.name));
    c.killMessage = message;
    c.ready = false;
    c.stopProbes();
    this.markDirty();
    void c.proc.stop(this.graceMs());
  }

  private onExit(c: ContainerRt, gen: number, info: ExitInfo): void {
    if (gen !== c.gen) return;
    const proc = c.proc;
    c.stopProbes();
    c.proc = undefined;
    c.ready = false;
    c.started = false;
    const now = Date.now();
    const term: ContainerStateTerminated = {
      exitCode: info.exitCode,
      reason: info.error ? 'StartError' : info.exitCode === 0 ? 'Completed' : 'Error',
      startedAt: rfc3339(proc?.startedAtMs ?? now),
      finishedAt: rfc3339(now),
    };
    if (info.signal && SIGNUM[info.signal]) term.signal = SIGNUM[info.signal];
    const message = info.error ?? c.killMessage;
    if (message) term.message = message;
    if (c.containerID) term.containerID = c.containerID;
    c.killMessage = undefined;
    if (info.error) this.ctx.metrics?.containerStartFailed(c.init ? 'init_container' : 'container');
    if (this.phase !== 'active') {
      c.state = { terminated: term };
      this.markDirty();
      return;
    }
    const ranMs = now - (proc?.startedAtMs ?? now);
    this.ctx.log.info(`pod ${this.label} container ${c.spec.name} exited with code ${info.exitCode}${info.error ? ` (${info.error})` : ''}`, this.about(c.spec.name));
    const isRegularInit = c.init && !c.sidecar;
    let restart: boolean;
    if (isRegularInit) {
      if (info.exitCode === 0) {
        c.state = { terminated: term };
        this.advance();
        return;
      }
      restart = this.restartPolicy !== 'Never';
      if (!restart) this.initFailed = true;
    } else restart = c.sidecar || shouldRestart(this.restartPolicy, info.exitCode);
    if (restart) {
      const delay = c.backoff.next(ranMs);
      c.restartCount++;
      c.lastState = { terminated: term };
      c.state = {
        waiting: {
          reason: 'CrashLoopBackOff',
          message: `back-off ${fmtDelay(delay)} restarting failed container=${c.spec.name} pod=${this.name}_${this.namespace}(${this.uid})`,
        },
      };
      c.restartTimer = setTimeout(() => {
        c.restartTimer = undefined;
        c.pendingStart = true;
        this.advance();
      }, delay);
    } else c.state = { terminated: term };
    this.markDirty();
    this.checkDone();
  }

  /** A pod whose containers all finished for good is terminal: stop its sidecars and free its IP. */
  private checkDone(): void {
    if (this.phase !== 'active') return;
    const phase = podPhase(this.snapshot());
    if (phase !== 'Succeeded' && phase !== 'Failed') return;
    const busy = this.mains.some((c) => c.proc || c.restartTimer || c.starting);
    if (busy) return;
    this.phase = 'done';
    for (const c of this.inits) {
      c.clearTimer();
      c.stopProbes();
      if (c.proc) void c.proc.stop(this.graceMs());
    }
    this.ctx.alloc.release(this.uid);
    this.ctx.log.info(`pod ${this.label} ${phase}`, this.about());
    this.markDirty();
  }

  // ---- environment -------------------------------------------------------------------------------------------

  private pathsOf(spec: Container): PathMapping[] {
    const volumes = (this.pod.spec as { volumes?: { name: string; hostPath?: { path: string } }[] }).volumes;
    return mountPaths(volumes, (spec as { volumeMounts?: { name: string; mountPath: string }[] }).volumeMounts, this.ctx.home);
  }

  /** Whether any main container of this pod runs as the project's simulated engine on this host. */
  private runsSimulatedEngine(): boolean {
    return this.mains.some((m) => {
      const plan = planContainer(m.spec, { podIP: this.ip ?? '127.0.0.1', host: this.ctx.host, engineCommand: this.ctx.engineCommand });
      return plan.runnable && plan.kind === 'simulated';
    });
  }

  private async containerEnv(spec: Container): Promise<Record<string, string>> {
    const pod = this.pod;
    const vars: Record<string, string> = {
      POD_IP: this.ip ?? '',
      POD_NAME: this.name,
      POD_NAMESPACE: this.namespace,
      NODE_NAME: this.ctx.nodeName,
    };
    const envFrom = (spec as { envFrom?: { prefix?: string; configMapRef?: { name: string; optional?: boolean }; secretRef?: { name: string; optional?: boolean } }[] }).envFrom ?? [];
    for (const src of envFrom) {
      const data = src.configMapRef
        ? await this.readConfigMap(src.configMapRef.name, src.configMapRef.optional)
        : src.secretRef
          ? await this.readSecret(src.secretRef.name, src.secretRef.optional)
          : undefined;
      for (const [k, v] of Object.entries(data ?? {})) vars[`${src.prefix ?? ''}${k}`] = v;
    }
    for (const e of spec.env ?? []) {
      if (e.value !== undefined) {
        vars[e.name] = expandVars(e.value, vars);
        continue;
      }
      const from = e.valueFrom;
      if (!from) {
        vars[e.name] = '';
        continue;
      }
      if (from.fieldRef) {
        const v = this.fieldRef(from.fieldRef.fieldPath);
        if (v !== undefined) vars[e.name] = v;
      } else if (from.configMapKeyRef) {
        const ref = from.configMapKeyRef as { name: string; key: string; optional?: boolean };
        const data = await this.readConfigMap(ref.name, ref.optional);
        const v = data?.[ref.key];
        if (v !== undefined) vars[e.name] = v;
        else if (data && !ref.optional) throw new Error(`couldn't find key ${ref.key} in ConfigMap ${this.namespace}/${ref.name}`);
      } else if (from.secretKeyRef) {
        const ref = from.secretKeyRef as { name: string; key: string; optional?: boolean };
        const data = await this.readSecret(ref.name, ref.optional);
        const v = data?.[ref.key];
        if (v !== undefined) vars[e.name] = v;
        else if (data && !ref.optional) throw new Error(`couldn't find key ${ref.key} in Secret ${this.namespace}/${ref.name}`);
      }
      // resourceFieldRef: resources are recorded, not enforced; left unset.
    }
    return vars;
  }

  private fieldRef(path: string): string | undefined {
    const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
    if (m) return (this.pod.metadata[m[1] as 'labels' | 'annotations'] ?? {})[m[2]!];
    switch (path) {
      case 'metadata.name':
        return this.name;
      case 'metadata.namespace':
        return this.namespace;
      case 'metadata.uid':
        return this.uid;
      case 'spec.nodeName':
        return this.ctx.nodeName;
      case 'spec.serviceAccountName':
        return this.pod.spec.serviceAccountName ?? 'default';
      case 'status.podIP':
      case 'status.podIPs':
        return this.ip;
      case 'status.hostIP':
      case 'status.hostIPs':
        return this.ctx.nodeIP;
      default:
        return undefined;
    }
  }

  private async readConfigMap(name: string, optional?: boolean): Promise<Record<string, string> | undefined> {
    try {
      const cm = await this.ctx.core.readNamespacedConfigMap({ name, namespace: this.namespace });
      return cm.data ?? {};
    } catch (err) {
      if (errCode(err) === 404) {
        if (optional) return undefined;
        throw new Error(`configmap "${name}" not found`);
      }
      throw new Error(`reading configmap "${name}": ${errMessage(err)}`);
    }
  }

  private async readSecret(name: string, optional?: boolean): Promise<Record<string, string> | undefined> {
    try {
      const s = await this.ctx.core.readNamespacedSecret({ name, namespace: this.namespace });
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
      for (const [k, v] of Object.entries(s.stringData ?? {})) out[k] = v;
      return out;
    } catch (err) {
      if (errCode(err) === 404) {
        if (optional) return undefined;
        throw new Error(`secret "${name}" not found`);
      }
      throw new Error(`reading secret "${name}": ${errMessage(err)}`);
    }
  }

  // ---- status ------------------------------------------------------------------------------------------------

  private snapshot(): PodSnapshot {
    const snap: PodSnapshot = {
      hostIP: this.ctx.nodeIP,
      restartPolicy: this.restartPolicy,
      initialized: this.initialized,
      initFailed: this.initFailed,
      initContainerStatuses: this.inits.map((c) => c.status()),
      containerStatuses: this.mains.map((c) => c.status()),
      sidecars: new Set(this.inits.filter((c) => c.sidecar).map((c) => c.spec.name)),
    };
    const ip = this.ip ?? this.pod.status?.podIP;
    if (ip) snap.podIP = ip;
    if (this.startTime) snap.startTime = this.startTime;
    return snap;
  }

  private markDirty(): void {
    if (this.phase === 'gone' || this.phase === 'new') return;
    this.dirty = true;
    if (!this.flushing) {
      this.flushing = (async () => {
        await new Promise<void>((r) => setImmediate(r));
        while (this.dirty && this.phase !== 'gone') {
          this.dirty = false;
          await this.writeStatus();
        }
        this.flushing = undefined;
      })();
    }
  }

  /** Waits until every status change so far has been written (or given up on). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private writeStatus(): Promise<void> {
    if (tracing() === null) return this.patchStatus();
    return inSpan('write pod status', { 'k8s.namespace.name': this.namespace, 'k8s.pod.name': this.name }, () => this.patchStatus(), ROOT);
  }

  private async patchStatus(): Promise<void> {
    for (let attempt = 0; this.phase !== 'gone'; attempt++) {
      const desired = buildPodStatus(this.snapshot(), this.lastWritten, rfc3339());
      const patch = statusPatch(desired, this.lastWritten);
      if (!patch) return;
      try {
        // metadata.uid makes the patch fail (422, uid is immutable) on a newer pod with the same name.
        await this.ctx.core.patchNamespacedPodStatus(
          { name: this.name, namespace: this.namespace, body: { metadata: { uid: this.uid }, ...patch } },
          mergePatch,
        );
        this.lastWritten = desired;
        this.ctx.log.debug(`pod ${this.label} status ${JSON.stringify(patch.status)}`, this.about());
        return;
      } catch (err) {
        const code = errCode(err);
        if (code === 404) return;
        // 409 on a patch without resourceVersion: the uid precondition failed (a newer pod by that name).
        if (code === 409 && /UID/i.test(errMessage(err))) return;
        if (!retryable(err) || attempt >= 20) {
          this.ctx.log.warn(`pod ${this.label}: writing status: ${errMessage(err)}`, this.about());
          return;
        }
        await sleep(Math.min(100 * 2 ** attempt, 5000));
      }
    }
  }

  // ---- termination -------------------------------------------------------------------------------------------

  private terminate(): Promise<void> {
    if (tracing() === null) return this.stopAndDelete();
    return inSpan('terminate pod', { 'k8s.namespace.name': this.namespace, 'k8s.pod.name': this.name }, () => this.stopAndDelete(), ROOT);
  }

  private async stopAndDelete(): Promise<void> {
    const wasRunning = this.phase === 'active';
    this.phase = 'terminating';
    const grace = this.graceMs();
    this.ctx.log.info(`pod ${this.label} deleted; stopping containers (grace ${grace} ms)`, this.about());
    const all = [...this.inits, ...this.mains];
    for (const c of all) {
      c.clearTimer();
      c.stopProbes();
      c.pendingStart = false;
      c.ready = false;
    }
    if (wasRunning) this.markDirty(); // not ready first, so traffic stops before SIGTERM
    await Promise.all(all.map((c) => c.proc?.stop(grace)));
    await this.flush(); // final container states
    for (let attempt = 0; attempt < 10 && this.phase === 'terminating'; attempt++) {
      try {
        await this.ctx.core.deleteNamespacedPod({
          name: this.name,
          namespace: this.namespace,
          gracePeriodSeconds: 0,
          body: { gracePeriodSeconds: 0, preconditions: { uid: this.uid } },
        });
        break;
      } catch (err) {
        const code = errCode(err);
        if (code === 404 || code === 409) break; // gone already, or a different pod by that name now
        if (!retryable(err)) {
          this.ctx.log.warn(`pod ${this.label}: delete failed: ${errMessage(err)}`, this.about());
          break;
        }
        await sleep(Math.min(200 * 2 ** attempt, 5000));
      }
    }
    this.cleanup();
  }

  /** The pod is gone from the API (or no longer bound here): kill everything now. */
  async remove(): Promise<void> {
    if (this.phase === 'gone') return;
    if (this.phase === 'terminating') {
      await this.terminating;
      return;
    }
    this.phase = 'gone';
    this.ctx.log.info(`pod ${this.label} (${this.uid}) removed; killing its processes`, this.about());
    const all = [...this.inits, ...this.mains];
    for (const c of all) {
      c.clearTimer();
      c.stopProbes();
    }
    await Promise.all(all.map((c) => c.proc?.stop(Math.min(2000, this.ctx.maxGraceMs))));
    this.cleanup();
  }

  /** Agent shutdown: stop processes, leave the API alone. */
  async shutdown(graceMs: number): Promise<void> {
    const prev = this.phase;
    this.phase = 'gone';
    const all = [...this.inits, ...this.mains];
    for (const c of all) {
      c.clearTimer();
      c.stopProbes();
    }
    await Promise.all(all.map((c) => c.proc?.stop(graceMs)));
    if (prev === 'terminating') await this.terminating?.catch(() => {});
  }

  private cleanup(): void {
    this.phase = 'gone';
    this.ctx.alloc.release(this.uid);
    if (!this.ctx.nameInUse(this.namespace, this.name, this.uid)) {
      rmSync(this.podDir, { recursive: true, force: true });
      for (const c of [...(this.pod.spec.initContainers ?? []), ...(this.pod.spec.containers ?? [])]) {
        rmSync(containerLogPath(this.ctx.logsDir, this.namespace, this.name, c.name), { force: true });
      }
    }
    this.ctx.onGone(this.uid);
  }
}
