// Node registration and heartbeat, as the kubelet does it: create (or update) the core/v1 Node with its status,
// renew a coordination.k8s.io/v1 Lease named after the node in `kube-node-lease` every 10 s, and refresh the Node's
// conditions (lastHeartbeatTime) every minute.
import { arch, cpus, hostname, release, totalmem, type } from 'node:os';
import {
  type CoordinationV1Api,
  type CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1Lease,
  type V1Node,
} from '@kubernetes/client-node';
import { errCode, errMessage, retryable, sleep, wire } from './kube.ts';
import type { Logger } from './log.ts';
import { microTime, rfc3339 } from './types.ts';

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
export const LEASE_DURATION_SECONDS = 40;
export const LEASE_RENEW_MS = 10_000;
export const NODE_STATUS_MS = 60_000;
export const AGENT_VERSION = 'v1.34.0-matrixinfer';
export const NODE_IP = '127.0.0.1';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

function goArch(): string {
  const a = arch();
  return a === 'x64' ? 'amd64' : a === 'ia32' ? '386' : a;
}

export function nodeLabels(name: string): Record<string, string> {
  return {
    'kubernetes.io/hostname': name,
    'kubernetes.io/os': type().toLowerCase() === 'darwin' ? 'darwin' : 'linux',
    'kubernetes.io/arch': goArch(),
    'beta.kubernetes.io/os': type().toLowerCase() === 'darwin' ? 'darwin' : 'linux',
    'beta.kubernetes.io/arch': goArch(),
    'node.matrixinfer.ai/local': 'true',
  };
}

export function nodeStatus(now: string, previous?: Record<string, unknown>, nodeIP = NODE_IP) {
  const capacity = {
    cpu: String(cpus().length || 1),
    memory: `${Math.floor(totalmem() / 1024)}Ki`,
    pods: '110',
    'ephemeral-storage': '100Gi',
  };
  const prevConds = (previous?.conditions ?? []) as { type: string; status: string; lastTransitionTime?: string }[];
  const cond = (t: string, status: 'True' | 'False', reason: string, message: string) => {
    const p = prevConds.find((c) => c.type === t);
    return {
      type: t,
      status,
      reason,
      message,
      lastHeartbeatTime: now,
      lastTransitionTime: p && p.status === status && p.lastTransitionTime ? p.lastTransitionTime : now,
    };
  };
  return {
    capacity,
    allocatable: capacity,
    conditions: [
      cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'node agent has sufficient memory available'),
      cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'node agent has no disk pressure'),
      cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'node agent has sufficient PID available'),
      cond('Ready', 'True', 'KubeletReady', 'matrixinfer node agent is posting ready status'),
    ],
    addresses: [
      { type: 'InternalIP', address: nodeIP },
      { type: 'Hostname', address: hostname() },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
    nodeInfo: {
      machineID: '',
      systemUUID: '',
      bootID: '',
      kernelVersion: release(),
      osImage: `${type()} ${release()}`,
      containerRuntimeVersion: `process://node-${process.version}`,
      kubeletVersion: AGENT_VERSION,
      kubeProxyVersion: '',
      operatingSystem: type().toLowerCase() === 'darwin' ? 'darwin' : 'linux',
      architecture: goArch(),
    },
  };
}

export class NodeHeartbeat {
  private readonly core: CoreV1Api;
  private readonly coord: CoordinationV1Api;
  private readonly name: string;
  private readonly log: Logger;
  private nodeUid: string | undefined;
  private lastStatus: Record<string, unknown> | undefined;
  private lease: V1Lease | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  private readonly nodeIP: string;
  /** Set on the Node at registration; null removes one an earlier agent set. */
  private readonly annotations: Record<string, string | null>;

  constructor(core: CoreV1Api, coord: CoordinationV1Api, name: string, log: Logger, nodeIP = NODE_IP, annotations: Record<string, string | null> = {}) {
    this.core = core;
    this.coord = coord;
    this.name = name;
    this.log = log;
    this.nodeIP = nodeIP;
    this.annotations = annotations;
  }

  /** Creates or updates the Node and its status; retries transient failures for up to `timeoutMs`. */
  async register(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.registerOnce();
        return;
      } catch (err) {
        if (!retryable(err) || Date.now() > deadline || this.stopped) throw err;
        if (attempt === 1 || attempt % 10 === 0) this.log.warn(`registering node ${this.name}: ${errMessage(err)}; retrying`, { kind: 'Node', name: this.name });
        await sleep(Math.min(200 * attempt, 2000));
      }
    }
  }

  private async registerOnce(): Promise<void> {
    const now = rfc3339();
    const status = nodeStatus(now, undefined, this.nodeIP);
    const annotations = Object.fromEntries(Object.entries(this.annotations).filter(([, v]) => v !== null));
    const body = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: this.name, labels: nodeLabels(this.name), ...(Object.keys(annotations).length ? { annotations } : {}) },
      spec: {},
      status,
    } as unknown as V1Node;
    let node: V1Node;
    try {
      node = await this.core.createNode({ body });
      this.log.info(`registered node ${this.name}`, { kind: 'Node', name: this.name });
    } catch (err) {
      if (errCode(err) !== 409) throw err;
      const metadata = { labels: nodeLabels(this.name), ...(Object.keys(this.annotations).length ? { annotations: this.annotations } : {}) };
      node = await this.core.patchNode({ name: this.name, body: { metadata } }, mergePatch);
    }
    this.nodeUid = node.metadata?.uid;
    // Status on create is dropped by servers that treat status as a subresource: always write it.
    const prev = wire<{ status?: Record<string, unknown> }>(node).status;
    await this.patchStatus(nodeStatus(now, prev, this.nodeIP));
  }

  private async patchStatus(status: Record<string, unknown>): Promise<void> {
    await this.core.patchNodeStatus({ name: this.name, body: { status } }, mergePatch);
    this.lastStatus = status;
  }

  /** Renews the lease once (awaited), then on a timer. */
  async start(): Promise<void> {
    await this.renewLease();
    if (this.stopped) return;
    this.leaseTimer = setInterval(() => void this.renewLease(), LEASE_RENEW_MS);
    this.statusTimer = setInterval(() => void this.refreshStatus(), NODE_STATUS_MS);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.leaseTimer);
    clearInterval(this.statusTimer);
  }

  private async refreshStatus(): Promise<void> {
    try {
      await this.patchStatus(nodeStatus(rfc3339(), this.lastStatus, this.nodeIP));
    } catch (err) {
      if (errCode(err) === 404) {
        this.log.warn(`node ${this.name} was deleted; registering it again`, { kind: 'Node', name: this.name });
        await this.register(5000).catch((e: unknown) => this.log.warn(`re-registering node: ${errMessage(e)}`));
      } else this.log.warn(`updating node status: ${errMessage(err)}`, { kind: 'Node', name: this.name });
    }
  }

  async renewLease(): Promise<void> {
    if (this.stopped) return;
    const now = microTime();
    try {
      if (this.lease) {
        const body = wire<V1Lease>(this.lease);
        body.spec = { ...body.spec, holderIdentity: this.name, leaseDurationSeconds: LEASE_DURATION_SECONDS, renewTime: now as unknown as Date };
        this.lease = await this.coord.replaceNamespacedLease({ name: this.name, namespace: NODE_LEASE_NAMESPACE, body });
        return;
      }
      await this.ensureLeaseNamespace();
      try {
        this.lease = await this.coord.readNamespacedLease({ name: this.name, namespace: NODE_LEASE_NAMESPACE });
        const body = wire<V1Lease>(this.lease);
        body.spec = { ...body.spec, holderIdentity: this.name, leaseDurationSeconds: LEASE_DURATION_SECONDS, renewTime: now as unknown as Date };
        this.lease = await this.coord.replaceNamespacedLease({ name: this.name, namespace: NODE_LEASE_NAMESPACE, body });
      } catch (err) {
        if (errCode(err) !== 404) throw err;
        const body = {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: {
            name: this.name,
            namespace: NODE_LEASE_NAMESPACE,
            ...(this.nodeUid
              ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: this.name, uid: this.nodeUid }] }
              : {}),
          },
          spec: { holderIdentity: this.name, leaseDurationSeconds: LEASE_DURATION_SECONDS, renewTime: now },
        } as unknown as V1Lease;
        this.lease = await this.coord.createNamespacedLease({ namespace: NODE_LEASE_NAMESPACE, body });
      }
    } catch (err) {
      // Conflict or deletion: read it again next time.
      this.lease = undefined;
      if (errCode(err) !== 409) this.log.warn(`renewing node lease: ${errMessage(err)}`, { kind: 'Node', name: this.name });
    }
  }

  private leaseNamespaceReady = false;

  private async ensureLeaseNamespace(): Promise<void> {
    if (this.leaseNamespaceReady) return;
    try {
      await this.core.readNamespace({ name: NODE_LEASE_NAMESPACE });
    } catch (err) {
      if (errCode(err) !== 404) throw err;
      try {
        await this.core.createNamespace({ body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NODE_LEASE_NAMESPACE } } });
      } catch (e) {
        if (errCode(e) !== 409) throw e;
      }
    }
    this.leaseNamespaceReady = true;
  }
}
