/**
 * Leader election on a coordination.k8s.io/v1 Lease, following client-go's leaderelection:
 * - a holder renews every retryPeriod; a candidate takes the Lease only after it has seen the same Lease
 *   record (same resourceVersion) unchanged for leaseDuration by its own clock, so clock skew between
 *   machines cannot make two leaders;
 * - every write carries the resourceVersion read (optimistic concurrency): of two candidates racing for an
 *   expired Lease, one gets 409 and stays a follower;
 * - a leader that cannot renew within renewDeadline steps down; stopping releases the Lease (holderIdentity
 *   emptied) so a successor need not wait out the duration.
 */
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from './log.js';
import type { OperatorMetrics } from './metrics.js';
import { isConflict, isNotFound } from './kube.js';

/** The Lease both the chart's Role and the operator's flags default to. */
export const DEFAULT_LEASE_NAME = 'cachalot-operator-leader';

export interface LeaderElectionConfig {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export interface LeaderCallbacks {
  onStartedLeading: () => void | Promise<void>;
  onStoppedLeading: () => void | Promise<void>;
}

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly leaseDurationSeconds: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private leading = false;
  private stopped = true;
  private timer?: NodeJS.Timeout;
  private lastRenewMs = 0;
  private observedRv = '';
  private observedAtMs = 0;
  private ticking: Promise<void> = Promise.resolve();

  constructor(kc: KubeConfig, private readonly cfg: LeaderElectionConfig, private readonly cb: LeaderCallbacks, private readonly log: Logger, private readonly metrics?: OperatorMetrics) {
    this.api = kc.makeApiClient(CoordinationV1Api);
    this.leaseDurationSeconds = cfg.leaseDurationSeconds ?? 15;
    this.renewDeadlineMs = cfg.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = cfg.retryPeriodMs ?? 2_000;
    if (this.renewDeadlineMs >= this.leaseDurationSeconds * 1000) throw new Error(`leader election: renewDeadline (${this.renewDeadlineMs} ms) must be shorter than leaseDuration (${this.leaseDurationSeconds} s)`);
    if (this.retryPeriodMs >= this.renewDeadlineMs) throw new Error(`leader election: retryPeriod (${this.retryPeriodMs} ms) must be shorter than renewDeadline (${this.renewDeadlineMs} ms)`);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  get identity(): string {
    return this.cfg.identity;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** release=false simulates a crash: the Lease is left to expire. */
  async stop(release = true): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
    if (this.leading) {
      if (release) await this.release();
      await this.stepDown();
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick().finally(() => this.schedule(this.retryPeriodMs));
    }, ms);
  }

  private async tick(): Promise<void> {
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew();
    } catch (err) {
      this.log.warn({ lease: `${this.cfg.namespace}/${this.cfg.name}`, err: String(err).split('\n')[0] }, 'lease request failed');
    }
    if (this.stopped) return;
    const now = Date.now();
    if (ok) {
      this.lastRenewMs = now;
      if (!this.leading) {
        this.leading = true;
        this.metrics?.leader.set(1);
        this.metrics?.leaderTransitions.inc();
        this.log.info({ identity: this.cfg.identity, lease: `${this.cfg.namespace}/${this.cfg.name}` }, 'became leader');
        await this.cb.onStartedLeading();
      }
    } else if (this.leading && now - this.lastRenewMs > this.renewDeadlineMs) {
      this.log.warn({ identity: this.cfg.identity }, 'could not renew the lease within the renew deadline; stepping down');
      await this.stepDown();
    }
  }

  private async stepDown(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    this.metrics?.leader.set(0);
    await this.cb.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.cfg;
    const now = Date.now();
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await this.api.createNamespacedLease({
          namespace,
          body: { metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds: this.leaseDurationSeconds, acquireTime: new V1MicroTime(now), renewTime: new V1MicroTime(now), leaseTransitions: 0 } },
        });
        return true;
      } catch (createErr) {
        if (isConflict(createErr)) return false;
        throw createErr;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const rv = lease.metadata?.resourceVersion ?? '';
    if (rv !== this.observedRv) {
      this.observedRv = rv;
      this.observedAtMs = now;
    }
    const duration = (spec.leaseDurationSeconds ?? this.leaseDurationSeconds) * 1000;
    if (holder && holder !== identity && now < this.observedAtMs + duration) return false;
    const mine = holder === identity;
    const body: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: this.leaseDurationSeconds,
        renewTime: new V1MicroTime(now),
        // client-node 1.4 leaves MicroTime fields of a read Lease as strings despite the Date type.
        acquireTime: mine && spec.acquireTime ? new V1MicroTime(new Date(spec.acquireTime as unknown as string | Date).getTime()) : new V1MicroTime(now),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
      },
    };
    try {
      const out = await this.api.replaceNamespacedLease({ name, namespace, body });
      this.observedRv = out.metadata?.resourceVersion ?? '';
      this.observedAtMs = now;
      if (!mine) this.log.info({ identity, previous: holder || '(released)' }, 'acquired lease');
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  private async release(): Promise<void> {
    try {
      const lease = await this.api.readNamespacedLease({ name: this.cfg.name, namespace: this.cfg.namespace });
      if (lease.spec?.holderIdentity !== this.cfg.identity) return;
      await this.api.replaceNamespacedLease({
        name: this.cfg.name,
        namespace: this.cfg.namespace,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new V1MicroTime(Date.now()) } },
      });
      this.log.info({ identity: this.cfg.identity }, 'released lease');
    } catch (err) {
      this.log.warn({ err: String(err).split('\n')[0] }, 'could not release lease; successor waits for it to expire');
    }
  }
}
