/**
 * The operator's own Prometheus metrics. Each Operator owns a Registry (not prom-client's global one) so that
 * two instances in one process, as in the leader-election tests, keep separate counts.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({ name: 'cachalot_operator_reconcile_total', help: 'Reconciles by result (success, error, conflict).', labelNames: ['result'], registers: [this.registry] });
  readonly reconcileErrors = new Counter({ name: 'cachalot_operator_reconcile_errors_total', help: 'Reconciles that failed, by reason.', labelNames: ['reason'], registers: [this.registry] });
  readonly reconcileDuration = new Histogram({
    name: 'cachalot_operator_reconcile_duration_seconds',
    help: 'Time spent in one reconcile.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({ name: 'cachalot_operator_workqueue_depth', help: 'Keys waiting in the work queue.', registers: [this.registry] });
  readonly queueRetries = new Counter({ name: 'cachalot_operator_workqueue_retries_total', help: 'Keys re-queued with backoff after a failure.', registers: [this.registry] });
  readonly watchRestarts = new Counter({ name: 'cachalot_operator_watch_restarts_total', help: 'Watches restarted, by resource and reason (closed, stalled, error).', labelNames: ['resource', 'reason'], registers: [this.registry] });
  readonly relists = new Counter({ name: 'cachalot_operator_relists_total', help: 'Full relists, by resource and reason (start, gone).', labelNames: ['resource', 'reason'], registers: [this.registry] });
  readonly leader = new Gauge({ name: 'cachalot_operator_leader', help: '1 while this instance holds the leader Lease.', registers: [this.registry] });
  readonly leaderTransitions = new Counter({ name: 'cachalot_operator_leader_transitions_total', help: 'Times this instance became leader.', registers: [this.registry] });
  /** Per cluster, so a dashboard can line hit-ratio dips up with ring changes (keys moving between servers).
   * The labels are not `namespace`/`cluster`: Prometheus' own target label `namespace` (the operator's) would
   * clash and be renamed to exported_namespace. */
  readonly ringVersion = new Gauge({ name: 'cachalot_operator_ring_version', help: 'Version of the ring document published for a CacheCluster.', labelNames: ['cachecluster_namespace', 'cachecluster'], registers: [this.registry] });
  readonly ringMembers = new Gauge({ name: 'cachalot_operator_ring_members', help: 'Ring members of a CacheCluster, by state (active, draining).', labelNames: ['cachecluster_namespace', 'cachecluster', 'state'], registers: [this.registry] });
  readonly events = new Counter({ name: 'cachalot_operator_events_total', help: 'Kubernetes Events recorded, by type and reason.', labelNames: ['type', 'reason'], registers: [this.registry] });

  forgetCluster(namespace: string, cluster: string): void {
    this.ringVersion.remove({ cachecluster_namespace: namespace, cachecluster: cluster });
    for (const state of ['active', 'draining']) this.ringMembers.remove({ cachecluster_namespace: namespace, cachecluster: cluster, state });
  }

  constructor(defaultMetrics = false) {
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
