// Leader election over a coordination.k8s.io/v1 Lease, with client-go's algorithm (client-node has no
// LeaseLock): a candidate takes the lease when it is free (no holder, or released) or when the holder has not
// renewed it for leaseDuration as measured on the candidate's own clock since it last saw the record change
// (clock-skew safe); the leader renews every retryPeriod and steps down when it could not renew within
// renewDeadline. Writes are conditional on resourceVersion, so two candidates never both win a round.
// With `metrics`, it reports client-go's leader_election_master_status{name}: 1 while leading, 0 otherwise.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { apiStatus, isNotFound } from './client.ts';
import type { ControllerRuntimeMetrics } from './controller-metrics.ts';
import { createLogger, errorMessage, type Logger } from './log.ts';

export interface LeaderElectionOptions {
  kubeConfig: KubeConfig;
  /** Lease namespace and name. */
  namespace: string;
  name: string;
  /** Unique per process; default `<hostname>_<random>`. */
  identity?: string;
  /** Defaults are client-go's: 15 s, 10 s, 2 s. */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void | Promise<void>;
  onStoppedLeading: () => void | Promise<void>;
  onNewLeader?: (identity: string) => void;
  /** Where leader_election_master_status{name=<lease name>} is reported. */
  metrics?: ControllerRuntimeMetrics;
  logger?: Logger;
}

export function defaultIdentity(): string {
  return `${hostname()}_${randomBytes(4).toString('hex')}`;
}

export class LeaderElector {
  readonly identity: string;
  private readonly api: CoordinationV1Api;
  private readonly options: LeaderElectionOptions;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly log: Logger;
  private stopped = false;
  private leading = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private observedRecord = '';
  private observedTime = 0;
  /** After a failed campaign attempt: time until the holder's lease runs out (Infinity when unknown). */
  private untilExpiryMs = Number.POSITIVE_INFINITY;
  private lastLeader = '';

  constructor(options: LeaderElectionOptions) {
    this.options = options;
    this.identity = options.identity ?? defaultIdentity();
    this.api = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (this.renewDeadlineMs >= this.leaseDurationMs) throw new Error('leader election: renewDeadline must be shorter than leaseDuration');
    this.log = options.logger ?? createLogger('leader-election');
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    if (this.loop) return;
    this.stopped = false;
    this.options.metrics?.leading(this.options.name, false);
    this.loop = this.run();
  }

  /** Stop campaigning; a leader steps down (onStoppedLeading) and releases the lease so a successor need not wait. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    this.loop = undefined;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      // Campaign.
      while (!this.stopped && !(await this.tryAcquireOrRenew())) {
        // Poll, but wake right when the current lease expires so a takeover doesn't wait for the next poll.
        await this.sleep(Math.min(jitter(this.retryPeriodMs), this.untilExpiryMs + 25));
        this.untilExpiryMs = Number.POSITIVE_INFINITY;
      }
      if (this.stopped) break;
      this.leading = true;
      this.options.metrics?.leading(this.options.name, true);
      this.log.info('became leader', { lease: `${this.options.namespace}/${this.options.name}`, identity: this.identity });
      await this.callback(this.options.onStartedLeading);
      // Renew until we cannot.
      let lastRenew = Date.now();
      while (!this.stopped) {
        await this.sleep(this.retryPeriodMs);
        if (this.stopped) break;
        if (await this.tryAcquireOrRenew()) {
          lastRenew = Date.now();
        } else if (Date.now() - lastRenew >= this.renewDeadlineMs) {
          this.log.warn('lost leadership: could not renew the lease', { identity: this.identity });
          break;
        }
      }
      this.leading = false;
      this.options.metrics?.leading(this.options.name, false);
      await this.callback(this.options.onStoppedLeading);
      if (this.stopped) await this.release();
    }
  }

  private async callback(fn: () => void | Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.log.error('leader election callback failed', { error: errorMessage(err) });
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  /** One round: take or renew the lease if we may. Never throws. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name } = this.options;
    const now = new Date();
    try {
      let lease: V1Lease;
      try {
        lease = await this.api.readNamespacedLease({ name, namespace });
      } catch (err) {
        if (!isNotFound(err)) throw err;
        await this.api.createNamespacedLease({
          namespace,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: {
              holderIdentity: this.identity,
              leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
              acquireTime: new V1MicroTime(now.getTime()),
              renewTime: new V1MicroTime(now.getTime()),
              leaseTransitions: 0,
            },
          },
        });
        this.observe(this.identity, now);
        return true;
      }
      const spec = lease.spec ?? {};
      const holder = spec.holderIdentity ?? '';
      const record = `${holder}|${String(spec.renewTime ?? '')}|${spec.leaseTransitions ?? 0}`;
      if (record !== this.observedRecord) {
        this.observedRecord = record;
        this.observedTime = now.getTime();
      }
      this.noteLeader(holder);
      const durationMs = (spec.leaseDurationSeconds ?? Math.ceil(this.leaseDurationMs / 1000)) * 1000;
      // The lease runs from the holder's last renewal. Its recorded renewTime is used when it is not later than
      // when we saw it (so a skewed-ahead holder clock cannot extend it); this lets a successor take over within
      // leaseDuration of the last renewal instead of up to one poll later. A holder clock behind ours by s makes
      // us early by s: the holder has stopped acting by then unless s > leaseDuration - renewDeadline.
      const recordedRenewal = spec.renewTime ? new Date(spec.renewTime).getTime() : Number.NaN;
      const renewedAt = Number.isNaN(recordedRenewal) ? this.observedTime : Math.min(this.observedTime, recordedRenewal);
      const expiresAt = renewedAt + durationMs;
      if (holder && holder !== this.identity && expiresAt > now.getTime()) {
        this.untilExpiryMs = expiresAt - now.getTime();
        return false;
      }
      const takeover = holder !== this.identity;
      const body: V1Lease = {
        ...lease,
        spec: {
          ...spec,
          holderIdentity: this.identity,
          leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
          renewTime: new V1MicroTime(now.getTime()),
          acquireTime: takeover ? new V1MicroTime(now.getTime()) : microTime(spec.acquireTime, now),
          leaseTransitions: takeover ? (spec.leaseTransitions ?? 0) + 1 : (spec.leaseTransitions ?? 0),
        },
      };
      const updated = await this.api.replaceNamespacedLease({ name, namespace, body });
      this.observedRecord = `${this.identity}|${String(updated.spec?.renewTime ?? '')}|${updated.spec?.leaseTransitions ?? 0}`;
      this.observedTime = now.getTime();
      this.noteLeader(this.identity);
      return true;
    } catch (err) {
      const level = apiStatus(err) === 409 ? 'debug' : 'warn';
      this.log[level]('lease update failed', { error: errorMessage(err) });
      return false;
    }
  }

  private observe(holder: string, now: Date): void {
    this.observedRecord = `${holder}|${now.toISOString()}|0`;
    this.observedTime = now.getTime();
    this.noteLeader(holder);
  }

  private noteLeader(holder: string): void {
    if (holder && holder !== this.lastLeader) {
      this.lastLeader = holder;
      this.options.onNewLeader?.(holder);
    }
  }

  /** Give the lease up (holder cleared, duration 1 s) if we still hold it. */
  private async release(): Promise<void> {
    const { namespace, name } = this.options;
    try {
      const lease = await this.api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== this.identity) return;
      const now = new V1MicroTime();
      await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          ...lease,
          spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: microTime(lease.spec.acquireTime, now) },
        },
      });
      this.log.info('released the lease', { identity: this.identity });
    } catch (err) {
      this.log.debug('lease release failed', { error: errorMessage(err) });
    }
  }
}

/** A MicroTime from the wire (string) or a model object, re-rendered with microsecond precision. */
function microTime(value: unknown, fallback: Date): V1MicroTime {
  const ms = value === undefined ? NaN : new Date(value as string | Date).getTime();
  return new V1MicroTime(Number.isNaN(ms) ? fallback.getTime() : ms);
}

function jitter(ms: number): number {
  return ms + Math.random() * ms * 0.2;
}
