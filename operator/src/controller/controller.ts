/**
 * The CacheCluster controller: informers on CacheCluster and every kind it owns, one work queue keyed by
 * `namespace/name`, a few workers running the reconcile. An event on a child (found by its
 * app.kubernetes.io/instance label) enqueues its CacheCluster, so a deleted or edited child is put back.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION } from '../api/types.js';
import { CERTIFICATE_API_VERSION, LABEL_INSTANCE, LABEL_MANAGED_BY, SERVICE_MONITOR_API_VERSION, SERVICE_MONITOR_CRD } from '../builders/index.js';
import { FIELD_MANAGER } from '../api/types.js';
import { errorMessage, isConflict, Kube, statusCode } from '../kube.js';
import type { Logger } from '../log.js';
import type { OperatorMetrics } from '../metrics.js';
import type { EventRecorder } from './events.js';
import { Informer, objectKey, type KubeObject } from './informer.js';
import { reconcile, reportFailure, involved, ReconcileIncomplete, type ReconcileDeps } from './reconciler.js';
import { WorkQueue } from './workqueue.js';
import type { CacheCluster } from '../api/types.js';

export interface ControllerOptions {
  /** Watch one namespace; all namespaces when absent. */
  namespace?: string;
  /** false: never read cluster-scoped objects (Nodes, PersistentVolumes, CRDs), for installs without a
   * ClusterRole: no node-loss detection; whether ServiceMonitors exist is learnt by listing them. */
  clusterReads?: boolean;
  workers?: number;
  /** Every CacheCluster is re-enqueued this often, as a backstop for anything no watch reports (e.g. Node loss). */
  resyncMs?: number;
  stallTimeoutMs?: number;
  watchTimeoutSeconds?: number;
  queue?: { baseDelayMs?: number; maxDelayMs?: number };
  now?: () => Date;
  log: Logger;
  metrics: OperatorMetrics;
  recorder: EventRecorder;
}

const SERVICE_MONITOR_CHECK_MS = 30_000;

function collectionPath(apiVersion: string, plural: string, namespace?: string): string {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return namespace ? `${base}/namespaces/${namespace}/${plural}` : `${base}/${plural}`;
}

export class Controller {
  readonly queue: WorkQueue;
  readonly clusters: Informer<KubeObject>;
  private readonly owned: Informer<KubeObject>[];
  private readonly pods: Informer<KubeObject>;
  private readonly claims: Informer<KubeObject>;
  private readonly kube: Kube;
  private readonly deps: ReconcileDeps;
  private workers: Promise<void>[] = [];
  private resyncTimer?: NodeJS.Timeout;
  private smChecked = 0;
  private smAvailable = false;
  private certChecked = 0;
  private certAvailable = false;
  private running = false;

  constructor(kc: KubeConfig, private readonly opts: ControllerOptions) {
    const { log, metrics, namespace } = opts;
    this.kube = new Kube(kc);
    this.queue = new WorkQueue({ ...opts.queue, onDepth: (d) => metrics.queueDepth.set(d) });
    const common = { log, metrics, ...(namespace ? { namespace } : {}), ...(opts.stallTimeoutMs ? { stallTimeoutMs: opts.stallTimeoutMs } : {}), ...(opts.watchTimeoutSeconds ? { watchTimeoutSeconds: opts.watchTimeoutSeconds } : {}) };
    this.clusters = new Informer(kc, { ...common, apiVersion: API_VERSION, kind: KIND, path: collectionPath(`${GROUP}/${VERSION}`, PLURAL, namespace) });
    // Children are found by label, so the operator never lists every StatefulSet or Pod in the cluster.
    const labelSelector = `${LABEL_MANAGED_BY}=${FIELD_MANAGER}`;
    const child = (apiVersion: string, kind: string, plural: string) => new Informer<KubeObject>(kc, { ...common, apiVersion, kind, labelSelector, path: collectionPath(apiVersion, plural, namespace) });
    this.pods = child('v1', 'Pod', 'pods');
    // Claims made from the StatefulSet's template carry its labels: watched for Pending ones and their size.
    this.claims = child('v1', 'PersistentVolumeClaim', 'persistentvolumeclaims');
    // The router Deployment is watched so that its first available pod moves the client Service onto it
    // (controller/reconciler.ts, applyRouter). Its ServiceAccount, Role and RoleBinding are not: a resync
    // re-applies them if someone deletes one.
    this.owned = [child('apps/v1', 'StatefulSet', 'statefulsets'), child('apps/v1', 'Deployment', 'deployments'), child('v1', 'Service', 'services'), child('v1', 'ConfigMap', 'configmaps'), child('policy/v1', 'PodDisruptionBudget', 'poddisruptionbudgets'), this.pods, this.claims];
    // An edited or deleted NetworkPolicy is put back at once, not at the next resync.
    this.owned.push(child('networking.k8s.io/v1', 'NetworkPolicy', 'networkpolicies'));
    this.deps = {
      kube: this.kube,
      clusters: this.clusters,
      pods: this.pods,
      claims: this.claims,
      recorder: opts.recorder,
      log,
      now: opts.now ?? (() => new Date()),
      serviceMonitorAvailable: () => this.serviceMonitorAvailable(),
      certificatesAvailable: () => this.certificatesAvailable(),
      metrics,
      clusterReads: opts.clusterReads ?? true,
    };
    const enqueue = (o: KubeObject) => this.queue.add(objectKey(o));
    this.clusters.on({ add: enqueue, update: enqueue, delete: enqueue });
    const enqueueOwner = (o: KubeObject) => {
      const instance = o.metadata?.labels?.[LABEL_INSTANCE];
      if (instance && o.metadata?.namespace) this.queue.add(`${o.metadata.namespace}/${instance}`);
    };
    for (const inf of this.owned) inf.on({ add: enqueueOwner, update: enqueueOwner, delete: enqueueOwner });
  }

  async start(): Promise<void> {
    this.running = true;
    await Promise.all([this.clusters.start(), ...this.owned.map((i) => i.start())]);
    if (!this.running) return;
    const n = this.opts.workers ?? 2;
    for (let i = 0; i < n; i++) this.workers.push(this.work());
    const resync = this.opts.resyncMs ?? 5 * 60_000;
    this.resyncTimer = setInterval(() => {
      for (const o of this.clusters.list()) this.queue.add(objectKey(o));
    }, resync);
    this.resyncTimer.unref?.();
    this.opts.log.info({ namespace: this.opts.namespace ?? '(all)', workers: n }, 'controller started');
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.clusters.stop();
    for (const i of this.owned) i.stop();
    this.queue.shutdown();
    await Promise.all(this.workers);
    this.workers = [];
  }

  hasSynced(): boolean {
    return this.clusters.hasSynced() && this.owned.every((i) => i.hasSynced());
  }

  private async serviceMonitorAvailable(): Promise<boolean> {
    const now = Date.now();
    if (now - this.smChecked < SERVICE_MONITOR_CHECK_MS && this.smChecked > 0) return this.smAvailable;
    try {
      this.smAvailable = this.opts.clusterReads === false ? await this.serviceMonitorsListable() : (await this.kube.read('apiextensions.k8s.io/v1', 'CustomResourceDefinition', undefined, SERVICE_MONITOR_CRD)) !== undefined;
    } catch (err) {
      // Without RBAC to read CRDs (403) we cannot know; skipping the ServiceMonitor is the safe side.
      if (statusCode(err) !== 403) throw err;
      this.smAvailable = false;
    }
    this.smChecked = now;
    return this.smAvailable;
  }

  /** cert-manager installed (its group served), asked again at most every SERVICE_MONITOR_CHECK_MS. */
  private async certificatesAvailable(): Promise<boolean> {
    const now = Date.now();
    if (now - this.certChecked < SERVICE_MONITOR_CHECK_MS && this.certChecked > 0) return this.certAvailable;
    this.certAvailable = await this.kube.served(CERTIFICATE_API_VERSION);
    this.certChecked = now;
    return this.certAvailable;
  }

  /** Without cluster-scoped reads: the kind exists if its objects can be listed in the watched namespace (a
   * Role grants that); 404 means prometheus-operator is not installed. */
  private async serviceMonitorsListable(): Promise<boolean> {
    if (!this.opts.namespace) return false;
    try {
      await this.kube.objects.list(SERVICE_MONITOR_API_VERSION, 'ServiceMonitor', this.opts.namespace, undefined, undefined, undefined, undefined, undefined, 1);
      return true;
    } catch (err) {
      if (statusCode(err) === 404) return false;
      throw err;
    }
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.process(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  private async process(key: string): Promise<void> {
    const { metrics, log, recorder } = this.opts;
    const end = metrics.reconcileDuration.startTimer();
    try {
      const res = await reconcile(this.deps, key);
      this.queue.forget(key);
      metrics.reconciles.inc({ result: 'success' });
      if (res.requeueAfterMs !== undefined) this.queue.addAfter(key, res.requeueAfterMs);
    } catch (err) {
      metrics.queueRetries.inc();
      const delay = this.queue.addRateLimited(key);
      if (isConflict(err)) {
        // Someone wrote the object since our cache saw it: not a failure, just a retry on fresher data.
        metrics.reconciles.inc({ result: 'conflict' });
        log.debug({ key, delay }, 'conflict; retrying');
        return;
      }
      const message = errorMessage(err);
      metrics.reconciles.inc({ result: 'error' });
      metrics.reconcileErrors.inc({ reason: String(statusCode(err) ?? 'unknown') });
      log.warn({ key, err: message, delay }, 'reconcile failed; retrying with backoff');
      // Its steps that failed are already in status and Events; the rest of the reconcile went through.
      if (err instanceof ReconcileIncomplete) return;
      const cc = this.clusters.get(key) as CacheCluster | undefined;
      if (cc) {
        await recorder.record(involved(cc), 'Warning', 'ReconcileFailed', message);
        await reportFailure(this.deps, key, message);
      }
    } finally {
      end();
    }
  }
}
